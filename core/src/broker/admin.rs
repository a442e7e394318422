//! Topic administration requests, after RocketMQ 4.9's `AdminBrokerProcessor`:
//! UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21).
//!
//! A change runs in steps, so that the slow write of `config/topics.json` happens outside the
//! broker's locks:
//! 1. [`begin_admin`], under the locks: checks the request and changes the table in memory,
//!    or answers at once (a refusal, a read).
//! 2. The shell persists the table (`TopicConfigManager::snapshot_to_persist`, then
//!    `TopicPersister::persist`) with no lock held.
//! 3. [`finish_admin`], under the locks again, with the persist's outcome: if it failed, the
//!    change is undone (unless a later change to the topic overtook it) and SYSTEM_ERROR
//!    answered; a delete then removes the topic's ConsumeQueues; SUCCESS. So a SUCCESS is
//!    only ever answered once the change is durable, and it survives a crash.
//!
//! [`process_admin`] runs all three for a caller that holds the table and the store anyway.
//! After a change the topic table asks for a re-registration
//! (`TopicConfigManager::take_register_needed`) and, once a delete is durable, names the topic
//! in `take_deleted_topics` so the shell drops its consumer offsets. Slaves refuse changes, as
//! RocketMQ's do.

use super::config::BrokerConfig;
use super::topic_config::{check_topic_name, TopicConfigManager, TopicError, TopicUndo};
use super::topic_persist::TopicPersister;
use crate::protocol::{JsonBody, TopicConfig, TopicFilterType};
use crate::remoting::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, HeaderError, RemotingCommand, RequestCode, ResponseCode,
};
use crate::store::{MessageStore, StoreError};

/// RocketMQ's remark when a slave is asked to change topics (`validateSlave`).
pub const SLAVE_REFUSES_REMARK: &str =
    "Can't modify topic or subscription group from slave broker, please execute it from master broker.";

/// What an administration request leaves to do after its first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminStep {
    /// Answer this now; the table did not change.
    Respond(RemotingCommand),
    /// Persist the table, then call [`finish_admin`] with this and the outcome.
    Continue(AdminChange),
}

/// A change made by [`begin_admin`] and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    /// How to take the change back if the persist fails (`None`: the table did not change, as
    /// for the delete of an unknown topic).
    undo: Option<TopicUndo>,
    /// A delete's topic, whose ConsumeQueues go once its removal from the table is durable.
    clear_queues_of: Option<String>,
}

impl AdminChange {
    /// True if the request changed the table, which must then be persisted before the answer;
    /// otherwise [`finish_admin`] is called with `Ok(())` without persisting.
    pub fn changed_table(&self) -> bool {
        self.undo.is_some()
    }
}

/// Step 1, under the broker's locks: checks the request and changes the table in memory.
/// Any other code than the three is answered REQUEST_CODE_NOT_SUPPORTED.
pub fn begin_admin(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    now_ms: i64,
    request: &RemotingCommand,
) -> AdminStep {
    match request.request_code() {
        Some(RequestCode::UpdateAndCreateTopic) => update_and_create_topic(config, topics, now_ms, request),
        Some(RequestCode::DeleteTopicInBroker) => delete_topic_in_broker(config, topics, now_ms, request),
        Some(RequestCode::GetAllTopicConfig) => AdminStep::Respond(get_all_topic_config(topics, request)),
        _ => AdminStep::Respond(RemotingCommand::response_to(
            request,
            ResponseCode::RequestCodeNotSupported,
            Some(format!("request type {} not supported", request.code)),
        )),
    }
}

/// Step 3, under the broker's locks (store, then state), after the table was persisted with
/// `persisted` as the outcome: undoes the change if that failed, else has a deleted topic's
/// queues removed (`delete_queues`: `MessageStore::delete_topic`), and answers.
pub fn finish_admin(
    topics: &mut TopicConfigManager,
    change: AdminChange,
    persisted: Result<(), StoreError>,
    now_ms: i64,
    request: &RemotingCommand,
    delete_queues: impl FnOnce(&str) -> Result<(), StoreError>,
) -> RemotingCommand {
    if let Err(error) = persisted {
        if let Some(undo) = &change.undo {
            topics.undo(undo, now_ms);
        }
        return system_error(request, format!("cannot persist topic configs: {error}"));
    }
    // A send may have created the topic again since the delete: its queues hold its messages.
    if let Some(topic) = change.clear_queues_of.filter(|topic| topics.get(topic).is_none()) {
        if let Err(error) = delete_queues(&topic) {
            return system_error(request, format!("cannot delete the topic's queues: {error}"));
        }
    }
    RemotingCommand::response_to(request, ResponseCode::Success, None)
}

/// All three steps for a caller that holds the table and the store throughout (tests, tools);
/// the broker's shell runs them itself so that the write happens outside its locks.
pub fn process_admin(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    store: &mut MessageStore,
    persister: &TopicPersister,
    now_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    run_admin(config, topics, persister, now_ms, request, |topic| store.delete_topic(topic))
}

/// The three steps in a row, deleting a deleted topic's queues with `delete_queues`.
pub(crate) fn run_admin(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    persister: &TopicPersister,
    now_ms: i64,
    request: &RemotingCommand,
    delete_queues: impl FnOnce(&str) -> Result<(), StoreError>,
) -> RemotingCommand {
    let change = match begin_admin(config, topics, now_ms, request) {
        AdminStep::Respond(response) => return response,
        AdminStep::Continue(change) => change,
    };
    let persisted = if change.changed_table() { persister.persist_if_needed(topics).map(drop) } else { Ok(()) };
    finish_admin(topics, change, persisted, now_ms, request, delete_queues)
}

/// UPDATE_AND_CREATE_TOPIC: creates the topic or replaces its configuration.
fn update_and_create_topic(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    now_ms: i64,
    request: &RemotingCommand,
) -> AdminStep {
    let header: CreateTopicRequestHeader = match request.read_header() {
        Ok(header) => header,
        Err(error) => return AdminStep::Respond(header_error(request, &error)),
    };
    if let Err(remark) = check_admin_topic(config, topics, &header.topic) {
        return AdminStep::Respond(system_error(request, remark));
    }
    let Some(topic_filter_type) = filter_type(&header.topic_filter_type) else {
        let remark = format!("unknown topicFilterType {:?}", header.topic_filter_type);
        return AdminStep::Respond(system_error(request, remark));
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
    let after = topic.clone();
    match topics.create_or_update(topic, now_ms) {
        Ok(before) => {
            let undo = TopicUndo { topic: after.topic_name.clone(), before, after: Some(after) };
            AdminStep::Continue(AdminChange { undo: Some(undo), clear_queues_of: None })
        }
        Err(error) => AdminStep::Respond(system_error(request, error.to_string())),
    }
}

/// DELETE_TOPIC_IN_BROKER: removes the topic's configuration and, once that is durable, its
/// ConsumeQueues (its messages stay in the CommitLog until retention). Deleting an unknown
/// topic succeeds, and still clears any queues it left, as RocketMQ's does.
fn delete_topic_in_broker(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    now_ms: i64,
    request: &RemotingCommand,
) -> AdminStep {
    let header: DeleteTopicRequestHeader = match request.read_header() {
        Ok(header) => header,
        Err(error) => return AdminStep::Respond(header_error(request, &error)),
    };
    if let Err(remark) = check_admin_topic(config, topics, &header.topic) {
        return AdminStep::Respond(system_error(request, remark));
    }
    let undo = topics.delete(&header.topic, now_ms).map(|before| TopicUndo {
        topic: header.topic.clone(),
        before: Some(before),
        after: None,
    });
    AdminStep::Continue(AdminChange { undo, clear_queues_of: Some(header.topic) })
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
