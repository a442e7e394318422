//! Exact-output tests of topic administration (DELETE_TOPIC_IN_BROKER, which needs a message
//! store, is tested on the simulated disk in `sim/tests/broker_topics.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use super::*;
use crate::protocol::{perm, TopicConfigSerializeWrapper};
use crate::store::disk::{DiskError, DiskOp, FileRef};

/// Just enough of a disk for the topic table: whole small files, and a switch that makes
/// every `replace_atomic` fail.
#[derive(Default)]
struct MetadataDisk {
    /// Path -> content of every file written.
    files: Mutex<BTreeMap<String, Bytes>>,
    /// When true, `replace_atomic` fails as a full device would.
    full: Mutex<bool>,
}

impl MetadataDisk {
    fn unsupported(path: &str, op: DiskOp) -> DiskError {
        DiskError::Io { path: path.to_owned(), op, detail: "not supported by the metadata test disk".to_owned() }
    }

    fn file(&self, path: &str) -> Option<Bytes> {
        self.files.lock().expect("unpoisoned").get(path).cloned()
    }
}

impl Disk for MetadataDisk {
    fn create(&self, path: &str, _len: u64) -> Result<FileRef, DiskError> {
        Err(Self::unsupported(path, DiskOp::Create))
    }

    fn open(&self, path: &str) -> Result<FileRef, DiskError> {
        Err(Self::unsupported(path, DiskOp::Open))
    }

    fn list(&self, _dir: &str) -> Result<Vec<String>, DiskError> {
        Ok(Vec::new())
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        Err(Self::unsupported(path, DiskOp::Remove))
    }

    fn rename(&self, from: &str, _to: &str) -> Result<(), DiskError> {
        Err(Self::unsupported(from, DiskOp::Rename))
    }

    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError> {
        Ok(self.file(path))
    }

    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        if *self.full.lock().expect("unpoisoned") {
            return Err(DiskError::NoSpace { path: path.to_owned(), op: DiskOp::Replace });
        }
        let mut files = self.files.lock().expect("unpoisoned");
        files.insert(path.to_owned(), Bytes::copy_from_slice(data));
        Ok(())
    }
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
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::new(&config, 0);
    let disk = MetadataDisk::default();
    let response = update_and_create_topic(&config, &mut topics, &disk, 10, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(code_and_remark(&response), (0, None));
    assert_eq!((response.opaque, response.is_response()), (3, true));
    let expected = TopicConfig { order: true, ..TopicConfig::new("T", 8) };
    assert_eq!(topics.get("T"), Some(&expected));
    assert!(topics.take_register_needed() && !topics.needs_persist());
    let persisted = disk.file(super::super::topic_config::TOPIC_CONFIG_PATH).expect("written");
    let wrapper = TopicConfigSerializeWrapper::decode_json(&persisted).expect("valid JSON");
    assert_eq!(wrapper, topics.register_wrapper());

    let update = create_request("T", 2, perm::READ, "MULTI_TAG");
    let response = update_and_create_topic(&config, &mut topics, &disk, 20, &update);
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
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::new(&config, 0);
    let before = topics.clone();
    let disk = MetadataDisk::default();
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
        let response = update_and_create_topic(&config, &mut topics, &disk, 1, &request);
        assert_eq!(code_and_remark(&response), (1, Some(remark)));
    }
    let slave = BrokerConfig { broker_id: 1, ..BrokerConfig::default() };
    let response = update_and_create_topic(&slave, &mut topics, &disk, 1, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(code_and_remark(&response), (1, Some(SLAVE_REFUSES_REMARK)));
    let mut no_header = create_request("T", 8, 6, "SINGLE_TAG");
    no_header.ext_fields.remove("perm");
    let response = update_and_create_topic(&config, &mut topics, &disk, 1, &no_header);
    assert_eq!(response.code, 1);
    assert_eq!(topics, before);
    assert_eq!(disk.file(super::super::topic_config::TOPIC_CONFIG_PATH), None);
}

/// A create that cannot be persisted is undone and answered SYSTEM_ERROR.
#[test]
fn failed_persist_undoes_the_change() {
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::new(&config, 0);
    let before = topics.clone();
    let disk = MetadataDisk::default();
    *disk.full.lock().expect("unpoisoned") = true;
    let response = update_and_create_topic(&config, &mut topics, &disk, 1, &create_request("T", 8, 6, "SINGLE_TAG"));
    assert_eq!(
        code_and_remark(&response),
        (1, Some("cannot persist topic configs: disk: config/topics.json: no space left on device during replace"))
    );
    assert_eq!(topics, before);
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
    let body = response.body.expect("a body");
    assert_eq!(TopicConfigSerializeWrapper::decode_json(&body), Ok(topics.register_wrapper()));
}
