//! Exact-output tests of topic administration's steps (DELETE_TOPIC_IN_BROKER through a real
//! message store is tested on the simulated disk in `sim/tests/broker_topics.rs`).

use std::sync::Arc;

use super::*;
use crate::broker::test_disk::MetadataDisk;
use crate::broker::topic_config::TOPIC_CONFIG_PATH;
use crate::protocol::{perm, TopicConfigSerializeWrapper};

/// A table, a metadata disk and a persister writing to it.
fn broker() -> (BrokerConfig, TopicConfigManager, Arc<MetadataDisk>, TopicPersister) {
    let config = BrokerConfig::default();
    let topics = TopicConfigManager::new(&config, 0);
    let disk = Arc::new(MetadataDisk::default());
    let persister = TopicPersister::new(disk.clone());
    (config, topics, disk, persister)
}

/// Runs a request through the three steps as the shell does, where no queues may be deleted
/// (these tests never delete a topic that has queues).
fn admin(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    persister: &TopicPersister,
    now_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    run_admin(config, topics, persister, now_ms, request, |_| Ok(()))
}

fn delete_request(topic: &str) -> RemotingCommand {
    let header = DeleteTopicRequestHeader { topic: topic.to_owned() };
    RemotingCommand::request(RequestCode::DeleteTopicInBroker, &header).with_opaque(4)
}

fn create_request(topic: &str, queue_nums: i32, perm: i32, filter: &str) -> RemotingCommand {
    let header = CreateTopicRequestHeader {
        topic: topic.to_owned(),
        default_topic: "TBW102".to_owned(),
        read_queue_nums: queue_nums,
        write_queue_nums: queue_nums,
        perm,
        topic_filter_type: filter.to_owned(),
        topic_sys_flag: Some(0),
        order: true,
    };
    RemotingCommand::request(RequestCode::UpdateAndCreateTopic, &header).with_opaque(3)
}

fn code_and_remark(response: &RemotingCommand) -> (i32, Option<&str>) {
    (response.code, response.remark.as_deref())
}

/// A create is applied, persisted in RocketMQ's shape and flagged for re-registration; an
/// update replaces it.
#[test]
fn create_then_update_is_persisted() {
    let (config, mut topics, disk, persister) = broker();
    let response = admin(&config, &mut topics, &persister, 10, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(code_and_remark(&response), (0, None));
    assert_eq!((response.opaque, response.is_response()), (3, true));
    let expected = TopicConfig { order: true, ..TopicConfig::new("T", 8) };
    assert_eq!(topics.get("T"), Some(&expected));
    assert!(topics.take_register_needed() && !topics.needs_persist());
    let persisted = disk.file(TOPIC_CONFIG_PATH).expect("written");
    let wrapper = TopicConfigSerializeWrapper::decode_json(&persisted).expect("valid JSON");
    assert_eq!(wrapper, topics.register_wrapper());

    let update = create_request("T", 2, perm::READ, "MULTI_TAG");
    let response = admin(&config, &mut topics, &persister, 20, &update);
    assert_eq!(code_and_remark(&response), (0, None));
    assert_eq!(
        topics.get("T").map(|t| (t.write_queue_nums, t.perm, t.topic_filter_type)),
        Some((2, perm::READ, TopicFilterType::MultiTag))
    );
    assert_eq!(topics.data_version().counter, 2);
}

/// Names, system topics, filter types, queue counts and slaves are refused with RocketMQ's
/// remarks, and nothing changes.
#[test]
fn create_refusals() {
    let (config, mut topics, disk, persister) = broker();
    let before = topics.clone();
    let cases = [
        (
            create_request("a b", 8, 6, "SINGLE_TAG"),
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ),
        (create_request("TBW102", 8, 7, "SINGLE_TAG"), "The topic[TBW102] is conflict with system topic."),
        (create_request("broker-a", 1, 6, "SINGLE_TAG"), "The topic[broker-a] is conflict with system topic."),
        (create_request("rmq_sys_x", 1, 6, "SINGLE_TAG"), "The topic[rmq_sys_x] is conflict with system topic."),
        (create_request("T", 8, 6, "NONE"), "unknown topicFilterType \"NONE\""),
        (
            create_request("T", 2000, 6, "SINGLE_TAG"),
            "queue nums of topic[T] must be within 0..=1024: read 2000, write 2000",
        ),
    ];
    for (request, remark) in cases {
        let response = admin(&config, &mut topics, &persister, 1, &request);
        assert_eq!(code_and_remark(&response), (1, Some(remark)));
    }
    let slave = BrokerConfig { broker_id: 1, ..BrokerConfig::default() };
    let response = admin(&slave, &mut topics, &persister, 1, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(code_and_remark(&response), (1, Some(SLAVE_REFUSES_REMARK)));
    let mut no_header = create_request("T", 8, 6, "SINGLE_TAG");
    no_header.ext_fields.remove("perm");
    let response = admin(&config, &mut topics, &persister, 1, &no_header);
    assert_eq!(response.code, 1);
    assert_eq!(topics, before);
    assert_eq!(disk.file(TOPIC_CONFIG_PATH), None);
}

/// A create that cannot be persisted is undone (the undo is a change of its own, to be
/// written by the next persist) and answered SYSTEM_ERROR.
#[test]
fn failed_persist_undoes_the_change() {
    let (config, mut topics, disk, persister) = broker();
    let before = topics.clone();
    disk.set_full(true);
    let response = admin(&config, &mut topics, &persister, 1, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(
        code_and_remark(&response),
        (1, Some("cannot persist topic configs: disk: config/topics.json: no space left on device during replace"))
    );
    assert_eq!(topics.table(), before.table());
    assert_eq!(topics.data_version().counter, 2, "the create and its undo");
    assert!(topics.needs_persist());
    disk.set_full(false);
    assert_eq!(persister.persist_if_needed(&mut topics), Ok(true));
    let persisted = disk.file(TOPIC_CONFIG_PATH).expect("written");
    assert_eq!(TopicConfigSerializeWrapper::decode_json(&persisted), Ok(topics.register_wrapper()));
}

/// A failed persist does not undo what a later change made of the topic: that change wins.
#[test]
fn failed_persist_keeps_a_later_change() {
    let (config, mut topics, _disk, _persister) = broker();
    let AdminStep::Continue(change) = begin_admin(&config, &mut topics, 1, &create_request("T", 8, 6, "SINGLE_TAG"))
    else {
        panic!("a create changes the table");
    };
    let later = TopicConfig::new("T", 2);
    topics.create_or_update(later.clone(), 2).expect("valid");
    let failed = Err(StoreError::NotWritable { reason: "disk gone".into() });
    let response = finish_admin(&mut topics, change, failed, 3, &create_request("T", 8, 6, "SINGLE_TAG"), |_| Ok(()));
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert_eq!(topics.get("T"), Some(&later));
}

/// A delete is answered only after its persist; then the topic's queues are deleted, unless a
/// send created the topic again in between; and only a durable delete hands the topic out for
/// its offsets to be dropped.
#[test]
fn delete_clears_queues_once_durable_and_only_if_still_gone() {
    let (config, mut topics, _disk, persister) = broker();
    topics.create_or_update(TopicConfig::new("T", 4), 1).expect("valid");
    persister.persist_if_needed(&mut topics).expect("written");
    let AdminStep::Continue(change) = begin_admin(&config, &mut topics, 2, &delete_request("T")) else {
        panic!("a delete changes the table");
    };
    assert!(change.changed_table());
    assert!(topics.take_deleted_topics().is_empty(), "not durable yet");
    let snapshot = topics.snapshot_to_persist().expect("the delete to write");
    let persisted = persister.persist(&snapshot).expect("written");
    topics.mark_persisted(persisted.durable_revision());
    assert_eq!(topics.take_deleted_topics(), vec!["T".to_owned()]);
    let mut cleared = Vec::new();
    let response = finish_admin(&mut topics, change.clone(), Ok(()), 3, &delete_request("T"), |topic| {
        cleared.push(topic.to_owned());
        Ok(())
    });
    assert_eq!((response.code, cleared), (0, vec!["T".to_owned()]));

    topics.select_or_auto_create("T", "TBW102", 4, 0, 4).expect("created again by a send");
    let response = finish_admin(&mut topics, change, Ok(()), 5, &delete_request("T"), |topic| {
        panic!("the queues of {topic}, created again, must stay")
    });
    assert_eq!(response.code, 0);
}

/// Deleting an unknown topic changes nothing, needs no persist, and still clears its queues.
#[test]
fn delete_of_an_unknown_topic_only_clears_queues() {
    let (config, mut topics, _disk, _persister) = broker();
    let AdminStep::Continue(change) = begin_admin(&config, &mut topics, 2, &delete_request("Never")) else {
        panic!("a delete continues");
    };
    assert!(!change.changed_table() && !topics.needs_persist());
    let mut cleared = Vec::new();
    let response = finish_admin(&mut topics, change, Ok(()), 3, &delete_request("Never"), |topic| {
        cleared.push(topic.to_owned());
        Ok(())
    });
    assert_eq!((response.code, cleared), (0, vec!["Never".to_owned()]));
}

/// GET_ALL_TOPIC_CONFIG answers the table and version as wrapper JSON.
#[test]
fn get_all_topic_config_body() {
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::new(&config, 0);
    topics.create_or_update(TopicConfig::new("T", 2), 9).expect("valid");
    let request =
        RemotingCommand::request(RequestCode::GetAllTopicConfig, &crate::remoting::EmptyHeader).with_opaque(5);
    let response = get_all_topic_config(&topics, &request);
    assert_eq!((response.code, response.opaque), (0, 5));
    let body = response.body_bytes().expect("a body");
    assert_eq!(TopicConfigSerializeWrapper::decode_json(&body), Ok(topics.register_wrapper()));
}
