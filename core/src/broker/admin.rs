//! Topic administration requests, after RocketMQ 4.9's `AdminBrokerProcessor`:
//! UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21).
//!
//! Each is a request in, a response out, over the managers it needs. A change is persisted
//! (`config/topics.json`) before SUCCESS is answered; if the persist fails the change is undone
//! and SYSTEM_ERROR answered, so a SUCCESS always survives a crash. After a change the topic
//! table asks for a re-registration (`TopicConfigManager::take_register_needed`) and, after a
//! delete, names the topic in `take_deleted_topics` so the shell drops its consumer offsets.
//! Slaves refuse changes, as RocketMQ's do.

use super::config::BrokerConfig;
use super::topic_config::{check_topic_name, TopicConfigManager, TopicError};
use crate::protocol::{JsonBody, TopicConfig, TopicFilterType};
use crate::remoting::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, HeaderError, RemotingCommand, RequestCode, ResponseCode,
};
use crate::store::disk::Disk;
use crate::store::MessageStore;

/// RocketMQ's remark when a slave is asked to change topics (`validateSlave`).
pub const SLAVE_REFUSES_REMARK: &str =
    "Can't modify topic or subscription group from slave broker, please execute it from master broker.";

/// Answers the topic administration requests; any other code is REQUEST_CODE_NOT_SUPPORTED.
/// `store` is the broker's message store; the topic table is persisted on its disk.
pub fn process_admin(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    store: &mut MessageStore,
    now_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    match request.request_code() {
        Some(RequestCode::UpdateAndCreateTopic) => {
            let disk = store.disk().clone();
            update_and_create_topic(config, topics, disk.as_ref(), now_ms, request)
        }
        Some(RequestCode::DeleteTopicInBroker) => delete_topic_in_broker(config, topics, store, now_ms, request),
        Some(RequestCode::GetAllTopicConfig) => get_all_topic_config(topics, request),
        _ => RemotingCommand::response_to(
            request,
            ResponseCode::RequestCodeNotSupported,
            Some(format!("request type {} not supported", request.code)),
        ),
    }
}

/// UPDATE_AND_CREATE_TOPIC: creates the topic or replaces its configuration.
pub fn update_and_create_topic(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    disk: &dyn Disk,
    now_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    let header: CreateTopicRequestHeader = match request.read_header() {
        Ok(header) => header,
        Err(error) => return header_error(request, &error),
    };
    if let Err(remark) = check_admin_topic(config, topics, &header.topic) {
        return system_error(request, remark);
    }
    let Some(topic_filter_type) = filter_type(&header.topic_filter_type) else {
        let remark = format!("unknown topicFilterType {:?}", header.topic_filter_type);
        return system_error(request, remark);
    };
    let topic = TopicConfig {
        topic_name: header.topic,
        read_queue_nums: header.read_queue_nums,
        write_queue_nums: header.write_queue_nums,
        perm: header.perm,
        topic_filter_type,
        topic_sys_flag: header.topic_sys_flag.unwrap_or(0),
        order: header.order,
    };
    let before = topics.clone();
    if let Err(error) = topics.create_or_update(topic, now_ms) {
        return system_error(request, error.to_string());
    }
    if let Err(error) = topics.persist(disk) {
        *topics = before;
        return system_error(request, format!("cannot persist topic configs: {error}"));
    }
    RemotingCommand::response_to(request, ResponseCode::Success, None)
}

/// DELETE_TOPIC_IN_BROKER: removes the topic's configuration and its ConsumeQueues (its
/// messages stay in the CommitLog until retention). Deleting an unknown topic succeeds, and
/// still clears any queues it left, as RocketMQ's does.
pub fn delete_topic_in_broker(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    store: &mut MessageStore,
    now_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    let header: DeleteTopicRequestHeader = match request.read_header() {
        Ok(header) => header,
        Err(error) => return header_error(request, &error),
    };
    if let Err(remark) = check_admin_topic(config, topics, &header.topic) {
        return system_error(request, remark);
    }
    let before = topics.clone();
    if topics.delete(&header.topic, now_ms).is_some() {
        if let Err(error) = topics.persist(store.disk().as_ref()) {
            *topics = before;
            return system_error(request, format!("cannot persist topic configs: {error}"));
        }
    }
    if let Err(error) = store.delete_topic(&header.topic) {
        return system_error(request, format!("cannot delete the topic's queues: {error}"));
    }
    RemotingCommand::response_to(request, ResponseCode::Success, None)
}

/// GET_ALL_TOPIC_CONFIG: the whole table and its version as `TopicConfigSerializeWrapper` JSON.
pub fn get_all_topic_config(topics: &TopicConfigManager, request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success, None)
        .with_body(topics.register_wrapper().encode_json())
}

/// RocketMQ's checks before a topic change, in its order: not on a slave, a valid name, not a
/// system topic. The error is the remark.
fn check_admin_topic(config: &BrokerConfig, topics: &TopicConfigManager, topic: &str) -> Result<(), String> {
    if config.is_slave() {
        return Err(SLAVE_REFUSES_REMARK.to_owned());
    }
    check_topic_name(topic).map_err(|e| e.to_string())?;
    if topics.is_system_topic(topic) {
        let error = TopicError::SystemTopic { topic: topic.to_owned() };
        return Err(error.to_string());
    }
    Ok(())
}

/// `TopicFilterType.valueOf`: the enum's Java name.
fn filter_type(name: &str) -> Option<TopicFilterType> {
    match name {
        "SINGLE_TAG" => Some(TopicFilterType::SingleTag),
        "MULTI_TAG" => Some(TopicFilterType::MultiTag),
        _ => None,
    }
}

fn header_error(request: &RemotingCommand, error: &HeaderError) -> RemotingCommand {
    system_error(request, format!("invalid request header: {error}"))
}

fn system_error(request: &RemotingCommand, remark: String) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError, Some(remark))
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
