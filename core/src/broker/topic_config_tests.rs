//! Exact-output tests of `TopicConfigManager` (persistence is tested against the simulated disk
//! in `sim/tests/broker_topics.rs`).

use super::*;
use crate::protocol::TopicFilterType;

fn manager() -> TopicConfigManager {
    TopicConfigManager::new(&BrokerConfig::default(), 1_000)
}

/// The start-up table is RocketMQ 4.9's constructor's, for the default configuration.
#[test]
fn system_topics_match_rocketmq_constructor() {
    let topics = manager();
    let summary: Vec<(&str, i32, i32, i32)> = topics
        .table()
        .values()
        .map(|t| (t.topic_name.as_str(), t.read_queue_nums, t.write_queue_nums, t.perm))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("BenchmarkTest", 1024, 1024, 6),
            ("DefaultCluster", 16, 16, 7),
            ("DefaultCluster_REPLY_TOPIC", 1, 1, 6),
            ("OFFSET_MOVED_EVENT", 1, 1, 6),
            ("SCHEDULE_TOPIC_XXXX", 18, 18, 6),
            ("SELF_TEST_TOPIC", 1, 1, 6),
            ("TBW102", 8, 8, 7),
            ("broker-a", 1, 1, 7),
        ]
    );
    assert_eq!(topics.data_version(), DataVersion { timestamp: 1_000, counter: 0 });
    assert!(!topics.needs_persist());
}

/// Without auto-creation there is no TBW102; disabled cluster and broker topics keep only
/// INHERIT; an enabled trace topic is created and counts as a system topic.
#[test]
fn system_topics_follow_the_switches() {
    let config = BrokerConfig {
        auto_create_topic_enable: false,
        cluster_topic_enable: false,
        broker_topic_enable: false,
        trace_topic_enable: true,
        ..BrokerConfig::default()
    };
    let topics = TopicConfigManager::new(&config, 0);
    assert_eq!(topics.get(AUTO_CREATE_TOPIC_KEY_TOPIC), None);
    assert_eq!(topics.get("DefaultCluster").map(|t| t.perm), Some(perm::INHERIT));
    assert_eq!(topics.get("broker-a").map(|t| t.perm), Some(perm::INHERIT));
    assert_eq!(topics.get(TRACE_TOPIC).map(|t| t.write_queue_nums), Some(1));
    for system in ["TBW102", "broker-a", "DefaultCluster_REPLY_TOPIC", TRACE_TOPIC, "rmq_sys_x"] {
        assert!(topics.is_system_topic(system), "{system}");
    }
    assert!(!topics.is_system_topic("TopicTest"));
}

/// Names are checked with the store's rule and refused with RocketMQ's remark for the reason.
#[test]
fn topic_names_are_refused_with_rocketmq_remarks() {
    assert_eq!(check_topic_name("Topic-1_%|"), Ok(()));
    assert_eq!(check_topic_name(""), Err(TopicError::Blank));
    assert_eq!(check_topic_name("  "), Err(TopicError::Blank));
    assert_eq!(check_topic_name("a b"), Err(TopicError::IllegalCharacters));
    assert_eq!(check_topic_name("é"), Err(TopicError::IllegalCharacters));
    let long = "t".repeat(128);
    assert_eq!(check_topic_name(&long), Err(TopicError::TooLong { len: 128 }));
    assert_eq!(check_topic_name(&long[..127]), Ok(()));
    assert_eq!(
        TopicError::IllegalCharacters.to_string(),
        "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    );
}

/// Create, update and delete each bump the version and ask for a persist and a registration;
/// a delete of an unknown topic changes nothing.
#[test]
fn changes_bump_the_version_and_raise_the_flags() {
    let mut topics = manager();
    assert_eq!(topics.create_or_update(TopicConfig::new("T", 4), 2_000), Ok(None));
    assert_eq!(topics.data_version(), DataVersion { timestamp: 2_000, counter: 1 });
    assert!(topics.needs_persist());
    assert!(topics.take_register_needed());
    assert!(!topics.take_register_needed());

    let updated = TopicConfig { perm: perm::READ, ..TopicConfig::new("T", 2) };
    let old = topics.create_or_update(updated.clone(), 3_000);
    assert_eq!(old, Ok(Some(TopicConfig::new("T", 4))));
    assert_eq!(topics.get("T"), Some(&updated));
    assert_eq!(topics.data_version().counter, 2);

    assert_eq!(topics.delete("T", 4_000), Some(updated));
    assert_eq!(topics.delete("T", 5_000), None);
    assert_eq!(topics.data_version(), DataVersion { timestamp: 4_000, counter: 3 });
    assert!(topics.take_deleted_topics().is_empty(), "the delete is not durable yet");
    topics.mark_persisted(topics.revision());
    assert_eq!(topics.take_deleted_topics(), vec!["T".to_owned()]);
    assert!(topics.take_deleted_topics().is_empty());
}

/// Each change is a revision; the table needs a persist until its newest revision is marked
/// durable, and an older mark never takes a newer one back. Snapshots carry the revision.
#[test]
fn revisions_order_snapshots_and_persists() {
    let mut topics = manager();
    assert_eq!((topics.revision(), topics.snapshot_to_persist()), (0, None));
    topics.create_or_update(TopicConfig::new("A", 1), 2_000).expect("valid");
    topics.create_or_update(TopicConfig::new("B", 1), 3_000).expect("valid");
    let snapshot = topics.snapshot_to_persist().expect("changes to write");
    assert_eq!(snapshot.revision(), 2);
    topics.mark_persisted(1);
    assert!(topics.needs_persist());
    topics.mark_persisted(2);
    topics.mark_persisted(1);
    assert!(!topics.needs_persist());
    assert_eq!(topics.snapshot_to_persist(), None);
}

/// An undo restores the topic as it was when nothing changed it since (a create is removed,
/// an update reverted, a delete put back and no longer handed out), as a change of its own;
/// a topic changed since is left alone.
#[test]
fn undo_takes_back_only_an_unchanged_topic() {
    let mut topics = manager();
    let created = TopicConfig::new("T", 4);
    topics.create_or_update(created.clone(), 2_000).expect("valid");
    let undo_create = TopicUndo { topic: "T".into(), before: None, after: Some(created.clone()) };
    let changed = TopicConfig::new("T", 2);
    topics.create_or_update(changed.clone(), 3_000).expect("valid");
    assert!(!topics.undo(&undo_create, 4_000));
    assert_eq!(topics.get("T"), Some(&changed));
    let undo_update = TopicUndo { topic: "T".into(), before: Some(created.clone()), after: Some(changed) };
    assert!(topics.undo(&undo_update, 5_000));
    assert_eq!(topics.get("T"), Some(&created));
    assert!(topics.undo(&undo_create, 6_000));
    assert_eq!(topics.get("T"), None);
    assert_eq!(topics.revision(), 4);

    topics.create_or_update(created.clone(), 7_000).expect("valid");
    topics.delete("T", 8_000).expect("exists");
    let undo_delete = TopicUndo { topic: "T".into(), before: Some(created.clone()), after: None };
    assert!(topics.undo(&undo_delete, 9_000));
    assert_eq!(topics.get("T"), Some(&created));
    topics.mark_persisted(topics.revision());
    assert!(topics.take_deleted_topics().is_empty(), "an undone delete drops no offsets");
}

/// Bad names and queue counts are refused without changing anything.
#[test]
fn create_refuses_bad_configs() {
    let mut topics = manager();
    let before = topics.clone();
    assert_eq!(topics.create_or_update(TopicConfig::new("a/b", 4), 1), Err(TopicError::IllegalCharacters));
    let too_many = TopicConfig { read_queue_nums: 1025, ..TopicConfig::new("T", 4) };
    assert_eq!(
        topics.create_or_update(too_many, 1),
        Err(TopicError::QueueNums { topic: "T".into(), read: 1025, write: 4, max: 1024 })
    );
    assert!(topics.create_or_update(TopicConfig::new("T", -1), 1).is_err());
    assert_eq!(topics, before);
}

/// A send to an unknown topic creates it from TBW102: min(client, template) queues, the
/// template's perm without INHERIT and its filter type; a second send finds it.
#[test]
fn auto_create_from_tbw102() {
    let mut topics = manager();
    let created = topics.select_or_auto_create("New", "TBW102", 4, 0, 7_000);
    let expected = TopicConfig { perm: perm::READ_WRITE, ..TopicConfig::new("New", 4) };
    assert_eq!(created, Ok(SelectedTopic { config: expected.clone(), created: true }));
    assert_eq!(topics.data_version().counter, 1);
    assert!(topics.needs_persist() && topics.take_register_needed());
    let again = topics.select_or_auto_create("New", "TBW102", 4, 0, 8_000);
    assert_eq!(again, Ok(SelectedTopic { config: expected, created: false }));
    assert_eq!(topics.data_version().counter, 1);

    let capped = topics.select_or_auto_create("Big", "TBW102", 100, 1, 9_000);
    assert_eq!(capped.map(|s| (s.config.write_queue_nums, s.config.topic_sys_flag)), Ok((8, 1)));
}

/// A template with MULTI_TAG and INHERIT|READ passes both on (without INHERIT).
#[test]
fn auto_create_inherits_perm_and_filter_type() {
    let mut topics = manager();
    let template = TopicConfig {
        perm: perm::INHERIT | perm::READ,
        topic_filter_type: TopicFilterType::MultiTag,
        ..TopicConfig::new("Template", 2)
    };
    topics.create_or_update(template, 1).expect("valid");
    let created = topics.select_or_auto_create("Child", "Template", 4, 0, 2).expect("inheritable");
    assert_eq!(
        created.config,
        TopicConfig { perm: perm::READ, topic_filter_type: TopicFilterType::MultiTag, ..TopicConfig::new("Child", 2) }
    );
}

/// No auto-creation when it is disabled (even if TBW102 was loaded from a file), when the
/// template is missing or not inheritable, when no queue would result, or for a bad name.
#[test]
fn auto_create_refusals() {
    let config = BrokerConfig { auto_create_topic_enable: false, ..BrokerConfig::default() };
    let mut disabled = TopicConfigManager::new(&config, 0);
    let missing = disabled.select_or_auto_create("New", "TBW102", 4, 0, 1);
    assert_eq!(missing, Err(AutoCreateRefused::DefaultTopicMissing { default_topic: "TBW102".into() }));
    let tbw = TopicConfig { perm: 7, ..TopicConfig::new("TBW102", 8) };
    disabled.create_or_update(tbw, 1).expect("valid");
    assert_eq!(
        disabled.select_or_auto_create("New", "TBW102", 4, 0, 1),
        Err(AutoCreateRefused::NotInheritable { default_topic: "TBW102".into() })
    );
    assert_eq!(disabled.get("New"), None);

    let mut topics = manager();
    assert_eq!(
        topics.select_or_auto_create("New", "SELF_TEST_TOPIC", 4, 0, 1),
        Err(AutoCreateRefused::NotInheritable { default_topic: "SELF_TEST_TOPIC".into() })
    );
    assert_eq!(
        topics.select_or_auto_create("New", "TBW102", 0, 0, 1),
        Err(AutoCreateRefused::NoQueues { queue_nums: 0 })
    );
    assert_eq!(
        topics.select_or_auto_create("a b", "TBW102", 4, 0, 1),
        Err(AutoCreateRefused::InvalidTopic(TopicError::IllegalCharacters))
    );
    assert!(!topics.needs_persist());
}

/// The registration wrapper is the table and version, and encodes to RocketMQ's JSON shape.
#[test]
fn register_wrapper_is_the_table() {
    let mut topics = manager();
    topics.create_or_update(TopicConfig::new("T", 2), 5).expect("valid");
    let wrapper = topics.register_wrapper();
    assert_eq!(&wrapper.topic_config_table, topics.table());
    assert_eq!(wrapper.data_version, topics.data_version());
    let json = wrapper.to_json();
    assert!(json.starts_with(r#"{"topicConfigTable":{"BenchmarkTest":{"topicName":"BenchmarkTest""#));
    assert!(json.ends_with(r#""dataVersion":{"timestamp":5,"counter":1}}"#));
}
