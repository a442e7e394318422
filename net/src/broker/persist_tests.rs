//! The broker writes its topic table with neither of its locks held: a disk that looks at the
//! broker's state lock whenever `config/topics.json` is written finds it free, for each path
//! that changes topics (a send that auto-creates one, a heartbeat's `%RETRY%` topic, topic
//! creation and deletion), and each request is answered only after its write.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use petrel_core::broker::topic_config::{TopicConfigManager, TOPIC_CONFIG_PATH};
use petrel_core::protocol::heartbeat::{ConsumerData, HeartbeatData};
use petrel_core::protocol::{JsonBody, AUTO_CREATE_TOPIC_KEY_TOPIC};
use petrel_core::remoting::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, EmptyHeader, RemotingCommand, RequestCode, ResponseCode,
    SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use petrel_core::store::disk::{Disk, DiskError, DiskRef, FileRef};
use petrel_core::store::StoreConfig;

use super::handler::BrokerCore;
use super::{BrokerNode, BrokerNodeConfig};
use crate::disk::{MmapDisk, MmapOptions};
use crate::remoting::{ClientConfig, RemotingClient, CALL_TIMEOUT_MAX};

/// A disk that, on every write of the topic table, records whether the broker's state lock
/// was free, and what the table held.
struct LockProbeDisk {
    /// Where the bytes go.
    inner: DiskRef,
    /// The broker whose lock is looked at, once it runs.
    core: OnceLock<Weak<BrokerCore>>,
    /// One entry per topic table write: was the state lock free, and the topics written.
    writes: Mutex<Vec<(bool, Vec<String>)>>,
}

impl Disk for LockProbeDisk {
    fn create(&self, path: &str, len: u64) -> Result<FileRef, DiskError> {
        self.inner.create(path, len)
    }

    fn open(&self, path: &str) -> Result<FileRef, DiskError> {
        self.inner.open(path)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        self.inner.list(dir)
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        self.inner.remove(path)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        self.inner.rename(from, to)
    }

    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError> {
        self.inner.read_all(path)
    }

    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        if path == TOPIC_CONFIG_PATH {
            if let Some(core) = self.core.get().and_then(Weak::upgrade) {
                // On a current-thread runtime only the code on this stack can hold the lock.
                let lock_free = core.state.try_lock().is_ok();
                let wrapper = petrel_core::protocol::TopicConfigSerializeWrapper::decode_json(data).expect("JSON");
                let topics = wrapper.topic_config_table.into_keys().collect();
                self.writes.lock().expect("unpoisoned").push((lock_free, topics));
            }
        }
        self.inner.replace_atomic(path, data)
    }
}

fn send_request(topic: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        born_timestamp: 1,
        ..SendMessageRequestHeader::default()
    };
    RemotingCommand::request(RequestCode::SendMessageV2, &SendMessageRequestHeaderV2::from(header))
        .with_body(Bytes::from_static(b"payload"))
}

fn heartbeat_request(group: &str) -> RemotingCommand {
    let heartbeat = HeartbeatData {
        client_id: "c1".into(),
        producer_data_set: Vec::new(),
        consumer_data_set: vec![ConsumerData { group_name: group.into(), ..ConsumerData::default() }],
    };
    RemotingCommand::request(RequestCode::HeartBeat, &EmptyHeader).with_body(heartbeat.encode_json())
}

fn create_request(topic: &str) -> RemotingCommand {
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
    };
    RemotingCommand::request(RequestCode::UpdateAndCreateTopic, &header)
}

fn delete_request(topic: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::DeleteTopicInBroker, &DeleteTopicRequestHeader { topic: topic.into() })
}

/// Each path that changes topics writes the table once, with the state lock free, before it
/// answers SUCCESS: the table written holds the change the answer confirms.
#[tokio::test]
async fn topic_table_is_written_outside_the_state_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mmap: DiskRef = Arc::new(MmapDisk::new(dir.path().to_path_buf(), MmapOptions { warm_up: false }));
    let probe = Arc::new(LockProbeDisk { inner: mmap, core: OnceLock::new(), writes: Mutex::new(Vec::new()) });
    let mut config = BrokerNodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), Vec::new());
    config.store = StoreConfig::small_for_tests();
    let disk: DiskRef = probe.clone();
    let node = BrokerNode::start(config, disk).await.expect("the broker starts");
    assert!(probe.core.set(Arc::downgrade(&node.core)).is_ok());
    let client = RemotingClient::new(ClientConfig::default(), None);
    let steps = [
        (send_request("Auto"), "Auto", true),
        (heartbeat_request("G"), "%RETRY%G", true),
        (create_request("Made"), "Made", true),
        (delete_request("Made"), "Made", false),
    ];
    for (n, (request, topic, present)) in steps.into_iter().enumerate() {
        let response = client.invoke(node.local_addr(), request, CALL_TIMEOUT_MAX).await.expect("answered");
        assert_eq!(response.code, ResponseCode::Success.as_i32(), "step {n}: {response:?}");
        let writes = probe.writes.lock().expect("unpoisoned").clone();
        assert_eq!(writes.len(), n + 1, "step {n} wrote the table once, before its answer");
        let (lock_free, written) = &writes[n];
        assert!(*lock_free, "step {n} wrote the table holding the state lock");
        assert_eq!(written.iter().any(|name| name == topic), present, "step {n}: {written:?}");
    }
    client.close_all().await;
    node.shutdown().await.expect("clean shutdown");
    assert_eq!(probe.writes.lock().expect("unpoisoned").len(), 4, "nothing left to write at shutdown");
    let reloaded = TopicConfigManager::load(&Default::default(), probe.as_ref(), 0).expect("loads");
    assert!(reloaded.get("Auto").is_some() && reloaded.get("%RETRY%G").is_some() && reloaded.get("Made").is_none());
}
