//! Consumer offsets: the next queue offset each consumer group will read, per (topic, queue),
//! persisted atomically in RocketMQ's `consumerOffset.json` shape:
//! `{"offsetTable":{"<topic>@<group>":{"<queueId>":<offset>,...},...}}`.
//! Java writes the queue ids unquoted; both forms are read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::disk::DiskRef;
use crate::store::error::StoreError;

/// Where the offsets live.
pub const CONSUMER_OFFSET_PATH: &str = "config/consumerOffset.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerOffsets {
    /// `topic@group` -> queue id -> next offset to consume.
    #[serde(rename = "offsetTable")]
    table: BTreeMap<String, BTreeMap<i32, i64>>,
}

fn table_key(topic: &str, group: &str) -> String {
    // Built by hand: `format!` costs several times as much, and this runs per pull and commit.
    let mut key = String::with_capacity(topic.len() + 1 + group.len());
    key.push_str(topic);
    key.push('@');
    key.push_str(group);
    key
}

impl ConsumerOffsets {
    /// Loads the offsets; an absent file is an empty table.
    pub fn load(disk: &DiskRef) -> Result<Self, StoreError> {
        let Some(bytes) = disk.read_all(CONSUMER_OFFSET_PATH)? else { return Ok(Self::default()) };
        let metadata = |reason: String| StoreError::Metadata { file: CONSUMER_OFFSET_PATH.into(), reason };
        let text = std::str::from_utf8(&bytes).map_err(|e| metadata(e.to_string()))?;
        let valid = crate::remoting::java_json_to_valid(text);
        serde_json::from_str(&valid).map_err(|e| metadata(e.to_string()))
    }

    /// Writes the offsets atomically and durably.
    pub fn persist(&self, disk: &DiskRef) -> Result<(), StoreError> {
        let json = serde_json::to_vec(self)
            .map_err(|e| StoreError::Metadata { file: CONSUMER_OFFSET_PATH.into(), reason: e.to_string() })?;
        Ok(disk.replace_atomic(CONSUMER_OFFSET_PATH, &json)?)
    }

    /// Records a group's committed offset for a queue.
    pub fn commit(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.table.entry(table_key(topic, group)).or_default().insert(queue_id, offset);
    }

    /// A group's committed offset for a queue, if it ever committed one.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table.get(&table_key(topic, group))?.get(&queue_id).copied()
    }

    /// All queues' offsets of a group for a topic.
    pub fn queues(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        self.table.get(&table_key(topic, group)).cloned().unwrap_or_default()
    }

    /// Every (topic, group) pair with offsets.
    pub fn topic_groups(&self) -> Vec<(String, String)> {
        self.table.keys().filter_map(|key| key.split_once('@').map(|(t, g)| (t.to_string(), g.to_string()))).collect()
    }

    /// Forgets a topic's offsets (topic deletion).
    pub fn remove_topic(&mut self, topic: &str) {
        self.table.retain(|key, _| key.split_once('@').is_none_or(|(t, _)| t != topic));
    }
}
