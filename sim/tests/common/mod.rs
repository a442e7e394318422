//! Helpers shared by the simulated-disk store tests.

use bytes::Bytes;
use petrel_core::message::properties::keys;
use petrel_core::message::{MessageToStore, Properties};

/// Message `n` of `topic`-`queue_id`: tag `tag`, key `k{n}`, a body of `body_len` bytes of `n`.
pub fn message(topic: &str, queue_id: i32, n: u64, tag: &str, body_len: usize) -> MessageToStore {
    let mut properties = Properties::new();
    properties.set(keys::TAGS, tag);
    properties.set(keys::KEYS, format!("k{n}"));
    let host = "10.0.0.7:10911".parse().expect("address");
    MessageToStore {
        topic: topic.into(),
        queue_id,
        flag: 0,
        body: Bytes::from(vec![n as u8; body_len]),
        properties,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}
