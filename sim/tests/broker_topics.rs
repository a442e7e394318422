//! The broker's topic table on the simulated disk: it survives restarts and crashes in
//! RocketMQ's `topics.json` shape, reads what a Java broker wrote, and refuses a damaged file;
//! topic deletion through the admin request; and a send stored through a real `MessageStore`,
//! whose response names the record it stored.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use petrel_core::broker::admin::process_admin;
use petrel_core::broker::config::BrokerConfig;
use petrel_core::broker::send::{prepare_send, send_response, QueuePicker};
use petrel_core::broker::topic_config::{TopicConfigManager, TOPIC_CONFIG_PATH};
use petrel_core::broker::topic_persist::TopicPersister;
use petrel_core::message::id::parse_offset_msg_id;
use petrel_core::message::record::decode_record;
use petrel_core::protocol::{perm, DataVersion, TopicConfig, TopicFilterType};
use petrel_core::remoting::{
    DeleteTopicRequestHeader, RemotingCommand, RequestCode, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use petrel_core::store::disk::{Disk, DiskRef};
use petrel_core::store::service::PutOutcome;
use petrel_core::store::{CommitLogOffset, Durability, MessageStore, QueueOffset, StoreConfig, StoreError};
use petrel_sim::disk::{CrashKind, SimDisk};

/// A table with a created, an updated, an auto-created and a deleted topic.
fn changed_table(disk: &SimDisk) -> TopicConfigManager {
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::load(&config, disk, 1_000).expect("empty disk loads");
    topics.create_or_update(TopicConfig::new("Orders", 4), 2_000).expect("valid");
    let ordered = TopicConfig {
        perm: perm::READ,
        order: true,
        topic_filter_type: TopicFilterType::MultiTag,
        ..TopicConfig::new("Orders", 2)
    };
    topics.create_or_update(ordered, 3_000).expect("valid");
    topics.select_or_auto_create("Auto", "TBW102", 4, 0, 4_000).expect("auto-created");
    topics.create_or_update(TopicConfig::new("Gone", 1), 5_000).expect("valid");
    topics.delete("Gone", 6_000).expect("existed");
    topics
}

/// A persister writing to `disk`.
fn persister_on(disk: &SimDisk) -> TopicPersister {
    TopicPersister::new(Arc::new(disk.clone()))
}

/// What was persisted is exactly what loads after a power loss, version included.
#[test]
fn persisted_table_survives_power_loss() {
    let disk = SimDisk::with_seed(11);
    let mut topics = changed_table(&disk);
    let persister = persister_on(&disk);
    assert_eq!(persister.persist_if_needed(&mut topics), Ok(true));
    assert_eq!(persister.persist_if_needed(&mut topics), Ok(false));
    disk.crash(CrashKind::PowerLoss);

    let loaded = TopicConfigManager::load(&BrokerConfig::default(), &disk, 99_000).expect("loads");
    assert_eq!(loaded.table(), topics.table());
    assert_eq!(loaded.data_version(), DataVersion { timestamp: 6_000, counter: 5 });
    assert_eq!(loaded.get("Orders").map(|t| (t.perm, t.order)), Some((perm::READ, true)));
    assert_eq!(loaded.get("Gone"), None);
    assert!(!loaded.needs_persist());
}

/// A change never persisted is gone after a restart; the previous file is intact.
#[test]
fn unpersisted_change_is_lost_whole() {
    let disk = SimDisk::with_seed(12);
    let mut topics = changed_table(&disk);
    persister_on(&disk).persist_if_needed(&mut topics).expect("persist");
    topics.create_or_update(TopicConfig::new("Late", 1), 7_000).expect("valid");
    disk.crash(CrashKind::PowerLoss);
    let loaded = TopicConfigManager::load(&BrokerConfig::default(), &disk, 8_000).expect("loads");
    assert_eq!(loaded.get("Late"), None);
    assert!(loaded.get("Auto").is_some());
    assert_eq!(loaded.data_version().counter, 5);
}

/// A `topics.json` as a Java broker writes it (fastjson field order) loads over the system
/// topics; its version is kept and system topics it lacks are still there.
#[test]
fn reads_java_topics_json() {
    let disk = SimDisk::with_seed(13);
    let java = br#"{"dataVersion":{"counter":7,"timestamp":1700000000000},
        "topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,
        "topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,
        "writeQueueNums":4},"TBW102":{"order":false,"perm":7,"readQueueNums":16,
        "topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,
        "writeQueueNums":16}}}"#;
    disk.replace_atomic(TOPIC_CONFIG_PATH, java).expect("write");
    let loaded = TopicConfigManager::load(&BrokerConfig::default(), &disk, 0).expect("loads");
    assert_eq!(loaded.get("TopicTest"), Some(&TopicConfig::new("TopicTest", 4)));
    assert_eq!(loaded.get("TBW102").map(|t| t.write_queue_nums), Some(16));
    assert!(loaded.get("SCHEDULE_TOPIC_XXXX").is_some());
    assert_eq!(loaded.data_version(), DataVersion { timestamp: 1_700_000_000_000, counter: 7 });
}

/// A damaged file, or one whose key and topic name disagree, is refused with a typed error.
#[test]
fn damaged_file_is_refused() {
    let disk = SimDisk::with_seed(14);
    let config = BrokerConfig::default();
    disk.replace_atomic(TOPIC_CONFIG_PATH, b"{\"topicConfigTable\":").expect("write");
    assert!(matches!(TopicConfigManager::load(&config, &disk, 0), Err(StoreError::Metadata { .. })));
    let mismatched = br#"{"topicConfigTable":{"A":{"topicName":"B"}}}"#;
    disk.replace_atomic(TOPIC_CONFIG_PATH, mismatched).expect("write");
    assert!(matches!(TopicConfigManager::load(&config, &disk, 0), Err(StoreError::Metadata { .. })));
}

fn open_store(disk: &SimDisk) -> MessageStore {
    let disk: DiskRef = Arc::new(disk.clone());
    MessageStore::open(disk, StoreConfig::small_for_tests()).expect("store opens").0
}

/// A SEND_MESSAGE_V2 to `topic`, queue chosen by the broker, with a UNIQ_KEY.
fn send_request(topic: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: -1,
        born_timestamp: 77,
        properties: Some("UNIQ_KEY\u{1}ID-1\u{2}TAGS\u{1}A\u{2}".into()),
        ..SendMessageRequestHeader::default()
    };
    RemotingCommand::request(RequestCode::SendMessageV2, &SendMessageRequestHeaderV2::from(header))
        .with_opaque(1)
        .with_body(Bytes::from_static(b"payload"))
}

/// Prepares, stores and answers one send, as the shell does (persisting an auto-created topic
/// before storing).
fn send(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    persister: &TopicPersister,
    store: &mut MessageStore,
    topic: &str,
) -> RemotingCommand {
    let producer: SocketAddr = "10.1.2.3:40000".parse().expect("address");
    let request = send_request(topic);
    let prepared =
        prepare_send(config, topics, &mut QueuePicker::new(), 1_000, producer, &request).expect("send accepted");
    persister.persist_if_needed(topics).expect("persisted");
    let result = store.put_messages(&prepared.messages, 2_000).expect("stored");
    let outcome = PutOutcome { result, durability: Durability::PageCache, flush_timed_out: false };
    send_response(config, &request, &prepared, Ok(&outcome))
}

/// The response's msgId is the offsetMsgId of the record stored: looked up, the record has the
/// topic, queue, offsets, hosts and properties (CLUSTER added) the send asked for.
#[test]
fn send_response_names_the_stored_record() {
    let disk = SimDisk::with_seed(21);
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::load(&config, &disk, 0).expect("loads");
    let mut store = open_store(&disk);
    let response = send(&config, &mut topics, &persister_on(&disk), &mut store, "Fresh");
    assert_eq!(response.code, 0);
    let header: SendMessageResponseHeader = response.read_header().expect("header");
    assert_eq!((header.queue_id, header.queue_offset), (0, 0));
    let (store_host, offset) = parse_offset_msg_id(&header.msg_id).expect("an offsetMsgId");
    assert_eq!(store_host, config.store_host);
    let offset = u64::try_from(offset).expect("non-negative");
    let (record, _) = store.message_at(CommitLogOffset(offset)).expect("readable").expect("there");
    let stored = decode_record(record).expect("decodes");
    assert_eq!((stored.topic.as_str(), stored.queue_id, stored.queue_offset), ("Fresh", 0, 0));
    assert_eq!(stored.msg_id, header.msg_id);
    assert_eq!(stored.properties.uniq_key(), Some("ID-1"));
    assert_eq!(stored.properties.get("CLUSTER"), Some("DefaultCluster"));
    assert_eq!((stored.born_timestamp, &stored.body[..]), (77, &b"payload"[..]));
    assert_eq!(stored.born_host, "10.1.2.3:40000".parse::<SocketAddr>().expect("address"));

    let reloaded = TopicConfigManager::load(&config, &disk, 0).expect("loads");
    assert_eq!(reloaded.get("Fresh").map(|t| t.write_queue_nums), Some(4));
}

fn delete_request(topic: &str) -> RemotingCommand {
    let header = DeleteTopicRequestHeader { topic: topic.into() };
    RemotingCommand::request(RequestCode::DeleteTopicInBroker, &header).with_opaque(2)
}

/// DELETE_TOPIC_IN_BROKER removes the config (durably) and the topic's queues, names the topic
/// for the shell to drop its offsets, and refuses system topics.
#[test]
fn delete_topic_removes_config_and_queues() {
    let disk = SimDisk::with_seed(22);
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::load(&config, &disk, 0).expect("loads");
    let mut store = open_store(&disk);
    let persister = persister_on(&disk);
    assert_eq!(send(&config, &mut topics, &persister, &mut store, "Doomed").code, 0);
    assert_eq!(store.max_offset("Doomed", 0), QueueOffset(1));
    topics.take_register_needed();

    let response = process_admin(&config, &mut topics, &mut store, &persister, 5_000, &delete_request("Doomed"));
    assert_eq!((response.code, response.remark.as_deref(), response.opaque), (0, None, 2));
    assert_eq!(topics.get("Doomed"), None);
    assert_eq!(topics.take_deleted_topics(), vec!["Doomed".to_owned()]);
    assert!(topics.take_register_needed());
    assert_eq!(store.max_offset("Doomed", 0), QueueOffset(0));
    disk.crash(CrashKind::PowerLoss);
    let reloaded = TopicConfigManager::load(&config, &disk, 0).expect("loads");
    assert_eq!(reloaded.get("Doomed"), None);

    let mut store = open_store(&disk);
    let refused = process_admin(&config, &mut topics, &mut store, &persister, 6_000, &delete_request("TBW102"));
    assert_eq!(
        (refused.code, refused.remark.as_deref()),
        (1, Some("The topic[TBW102] is conflict with system topic."))
    );
    let unknown = process_admin(&config, &mut topics, &mut store, &persister, 6_000, &delete_request("Never"));
    assert_eq!(unknown.code, 0);
    assert!(topics.take_deleted_topics().is_empty());
}
