//! `TopicConfigManager`: the topics this broker serves, their queue counts and permissions,
//! after RocketMQ 4.9's `TopicConfigManager`. Pure state: the caller passes `now_ms`; `load`
//! reads through the `Disk` seam, and the table is written from a snapshot by a
//! `TopicPersister` (`topic_persist.rs`), outside the broker's locks.
//!
//! Persistence invariants:
//! - The table lives in `config/topics.json` as RocketMQ's `TopicConfigSerializeWrapper` JSON
//!   (`{"topicConfigTable":{name: TopicConfig, ...},"dataVersion":{...}}`), the same shape a
//!   Java broker writes to `store/config/topics.json`, written whole with `replace_atomic`: a
//!   crash leaves the old table or the new one.
//! - Every entry's key equals its `topicName` and is a valid topic name; a file breaking that
//!   is refused at load, not half-used.
//! - The system topics are made at start from the `BrokerConfig` and the file's entries are laid
//!   over them (Java's constructor, then `decode`'s `putAll`), so a file may change a system
//!   topic but never removes one.
//!
//! Every change bumps the `DataVersion` (the NameServer compares it to skip unchanged
//! registrations) and the table's revision (changes made in this process, which orders the
//! snapshots), and asks for a persist and a re-registration, which the shell reads with
//! `snapshot_to_persist` and `take_register_needed`. The shell reports each write back with
//! `mark_persisted`; a deleted topic is handed out by `take_deleted_topics` (to drop its
//! consumer offsets) only once its deletion is durable.

use std::collections::{BTreeMap, BTreeSet};

use super::config::BrokerConfig;
use super::topic_persist::TopicSnapshot;
use crate::protocol::{
    perm, DataVersion, JsonBody, TopicConfig, TopicConfigSerializeWrapper, AUTO_CREATE_TOPIC_KEY_TOPIC,
};
use crate::store::disk::Disk;
use crate::store::message_store::{validate_topic, TOPIC_LEN_MAX_BYTES};
use crate::store::StoreError;

/// Where the table is persisted on the broker's disk.
pub const TOPIC_CONFIG_PATH: &str = "config/topics.json";
/// Most read or write queues one topic may have on one broker (RocketMQ's largest built-in,
/// `BenchmarkTest`, has 1024).
pub const TOPIC_QUEUE_NUMS_MAX: i32 = 1024;

/// Topic every broker answers on, for connectivity checks (`RMQ_SYS_SELF_TEST_TOPIC`).
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
/// The benchmark tool's topic, 1024 queues (`RMQ_SYS_BENCHMARK_TOPIC`).
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
/// Events about consumer offsets moved by the broker (`RMQ_SYS_OFFSET_MOVED_EVENT`).
pub const OFFSET_MOVED_EVENT_TOPIC: &str = "OFFSET_MOVED_EVENT";
/// Delayed messages wait here, one queue per delay level (`RMQ_SYS_SCHEDULE_TOPIC`).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Queues of `SCHEDULE_TOPIC`: one per delay level (`SCHEDULE_TOPIC_QUEUE_NUM`).
pub const SCHEDULE_TOPIC_QUEUE_NUMS: i32 = 18;
/// Default message-trace topic (`RMQ_SYS_TRACE_TOPIC`).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Transaction half messages (`RMQ_SYS_TRANS_HALF_TOPIC`).
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Transaction op records (`RMQ_SYS_TRANS_OP_HALF_TOPIC`).
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Half messages checked too often (`RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC`).
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Any topic starting with this is a system topic (`SYSTEM_TOPIC_PREFIX`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// `<cluster>_REPLY_TOPIC` carries request-reply answers (`MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";
/// Retry topics are `%RETRY%<consumer group>` (`MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Dead-letter topics are `%DLQ%<consumer group>` (`MixAll.DLQ_GROUP_TOPIC_PREFIX`).
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";

/// The names `TopicValidator.SYSTEM_TOPIC_SET` starts with; each broker adds its cluster,
/// broker, reply and (when enabled) trace topic.
const STATIC_SYSTEM_TOPICS: [&str; 9] = [
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    SCHEDULE_TOPIC,
    BENCHMARK_TOPIC,
    TRANS_HALF_TOPIC,
    TRACE_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// Topics no producer may send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
const NOT_ALLOWED_SEND_TOPICS: [&str; 6] = [
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// True for topics producers may not send to (`TopicValidator.isNotAllowedSendTopic`).
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    NOT_ALLOWED_SEND_TOPICS.contains(&topic)
}

/// Why a topic name or configuration is refused. The `Display` texts of the name errors are
/// RocketMQ's remarks word for word (`TopicValidator`), so they go into responses unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty or only whitespace.
    #[error("The specified topic is blank.")]
    Blank,
    /// A character outside `[%|a-zA-Z0-9_-]`.
    #[error("The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$")]
    IllegalCharacters,
    /// Longer than `TOPIC_LEN_MAX_BYTES`.
    #[error("The specified topic is longer than topic max length.")]
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// A system topic, which administration may not create, change or delete.
    #[error("The topic[{topic}] is conflict with system topic.")]
    SystemTopic {
        /// The topic named.
        topic: String,
    },
    /// A read or write queue count outside `0..=TOPIC_QUEUE_NUMS_MAX`.
    #[error("queue nums of topic[{topic}] must be within 0..={max}: read {read}, write {write}")]
    QueueNums {
        /// The topic named.
        topic: String,
        /// Read queues asked for.
        read: i32,
        /// Write queues asked for.
        write: i32,
        /// `TOPIC_QUEUE_NUMS_MAX`.
        max: i32,
    },
}

/// Checks a topic name with the store's rule (`validate_topic`) and, when it fails, says why
/// in RocketMQ's order: blank, then illegal characters, then too long.
pub fn check_topic_name(topic: &str) -> Result<(), TopicError> {
    if validate_topic(topic).is_ok() {
        return Ok(());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-');
    if topic.trim().is_empty() {
        Err(TopicError::Blank)
    } else if !topic.chars().all(allowed) {
        Err(TopicError::IllegalCharacters)
    } else {
        debug_assert!(topic.len() > TOPIC_LEN_MAX_BYTES);
        Err(TopicError::TooLong { len: topic.len() })
    }
}

/// Why `select_or_auto_create` found no topic and made none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutoCreateRefused {
    /// The topic's name is not valid.
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// The template topic the producer named does not exist here.
    #[error("the default topic[{default_topic}] does not exist")]
    DefaultTopicMissing {
        /// The template topic named by the producer.
        default_topic: String,
    },
    /// The template topic lacks PERM_INHERIT, or it is TBW102 and auto-creation is disabled.
    #[error("the default topic[{default_topic}] does not allow inheriting")]
    NotInheritable {
        /// The template topic named by the producer.
        default_topic: String,
    },
    /// min(requested, template's write queues) is not positive.
    #[error("an auto-created topic would have {queue_nums} queues")]
    NoQueues {
        /// The queue count the rule gave.
        queue_nums: i32,
    },
}

/// A topic found or created by `select_or_auto_create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedTopic {
    /// The topic's configuration.
    pub config: TopicConfig,
    /// True if this call created it.
    pub created: bool,
}

/// The broker's topic table and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigManager {
    /// Topic name -> configuration; a `BTreeMap` so the JSON and registrations are stable.
    table: BTreeMap<String, TopicConfig>,
    /// Version of the table, bumped on every change.
    data_version: DataVersion,
    /// Names RocketMQ treats as system topics on this broker (administration refuses them).
    system_topics: BTreeSet<String>,
    /// `autoCreateTopicEnable`: when false, TBW102 is never inherited from.
    auto_create_topic_enable: bool,
    /// Changes made in this process: 0 is the table as loaded, each change adds one. Orders
    /// the snapshots, so an older table is never written over a newer one.
    revision: u64,
    /// The newest revision known to be on disk (`mark_persisted`); the table needs a persist
    /// while `revision` is ahead of it.
    persisted_revision: u64,
    /// The table changed since the shell last registered it with the NameServers.
    register_needed: bool,
    /// Topics deleted and not yet handed to the shell, with the revision of their deletion, so
    /// the shell can drop their state kept elsewhere (consumer offsets) once it is durable.
    deleted_topics: Vec<(String, u64)>,
}

/// How to take back one change to the table (a topic administration whose persist failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicUndo {
    /// The topic changed.
    pub topic: String,
    /// Its configuration before the change (`None`: the change created it).
    pub before: Option<TopicConfig>,
    /// Its configuration after the change (`None`: the change deleted it).
    pub after: Option<TopicConfig>,
}

impl TopicConfigManager {
    /// The system topics RocketMQ's constructor makes for `config`, version `now_ms`/0.
    pub fn new(config: &BrokerConfig, now_ms: i64) -> Self {
        let mut table = BTreeMap::new();
        for topic in system_topic_configs(config) {
            table.insert(topic.topic_name.clone(), topic);
        }
        let mut system_topics: BTreeSet<String> = STATIC_SYSTEM_TOPICS.iter().map(|t| (*t).to_owned()).collect();
        system_topics.extend([
            config.cluster_name.clone(),
            config.broker_name.clone(),
            reply_topic(&config.cluster_name),
        ]);
        if config.trace_topic_enable {
            system_topics.insert(config.msg_trace_topic_name.clone());
        }
        TopicConfigManager {
            table,
            data_version: DataVersion { timestamp: now_ms, counter: 0 },
            system_topics,
            auto_create_topic_enable: config.auto_create_topic_enable,
            revision: 0,
            persisted_revision: 0,
            register_needed: false,
            deleted_topics: Vec::new(),
        }
    }

    /// `new`, then the persisted table laid over it with its version, if the file exists.
    pub fn load(config: &BrokerConfig, disk: &dyn Disk, now_ms: i64) -> Result<Self, StoreError> {
        let mut manager = Self::new(config, now_ms);
        let Some(bytes) = disk.read_all(TOPIC_CONFIG_PATH)? else {
            return Ok(manager);
        };
        let corrupt = |reason: String| StoreError::Metadata { file: TOPIC_CONFIG_PATH.to_owned(), reason };
        let wrapper = TopicConfigSerializeWrapper::decode_json(&bytes).map_err(|e| corrupt(e.to_string()))?;
        for (name, topic) in wrapper.topic_config_table {
            if name != topic.topic_name || check_topic_name(&name).is_err() {
                return Err(corrupt(format!("entry {name:?} names topic {:?}", topic.topic_name)));
            }
            manager.table.insert(name, topic);
        }
        manager.data_version = wrapper.data_version;
        Ok(manager)
    }

    /// True if the table has changes not known to be on disk.
    pub fn needs_persist(&self) -> bool {
        self.revision > self.persisted_revision
    }

    /// A copy of the table to write (with `TopicPersister::persist`, outside the broker's
    /// locks), if it has changes not known to be on disk. Every call while a change is not yet
    /// durable returns a copy, so a request that relies on a change another request is still
    /// writing waits for that write (or writes the table itself).
    pub fn snapshot_to_persist(&self) -> Option<TopicSnapshot> {
        self.needs_persist().then(|| TopicSnapshot { revision: self.revision, wrapper: self.register_wrapper() })
    }

    /// Records that the table as of `revision` (from a snapshot of this table) is on disk.
    pub fn mark_persisted(&mut self, revision: u64) {
        assert!(revision <= self.revision, "persisted revision {revision} is ahead of the table's {}", self.revision);
        self.persisted_revision = self.persisted_revision.max(revision);
    }

    /// The table's revision: changes made in this process.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The configuration of `topic`, if it exists here.
    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.table.get(topic)
    }

    /// The whole table, by name.
    pub fn table(&self) -> &BTreeMap<String, TopicConfig> {
        &self.table
    }

    /// The table's current version.
    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// True for RocketMQ's system topics on this broker (`TopicValidator.isSystemTopic`).
    pub fn is_system_topic(&self, topic: &str) -> bool {
        self.system_topics.contains(topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
    }

    /// Creates `config.topic_name` or replaces its configuration (Java's `updateTopicConfig`);
    /// returns the previous configuration.
    pub fn create_or_update(&mut self, config: TopicConfig, now_ms: i64) -> Result<Option<TopicConfig>, TopicError> {
        check_topic_name(&config.topic_name)?;
        let queue_nums = 0..=TOPIC_QUEUE_NUMS_MAX;
        if !queue_nums.contains(&config.read_queue_nums) || !queue_nums.contains(&config.write_queue_nums) {
            return Err(TopicError::QueueNums {
                topic: config.topic_name,
                read: config.read_queue_nums,
                write: config.write_queue_nums,
                max: TOPIC_QUEUE_NUMS_MAX,
            });
        }
        let old = self.table.insert(config.topic_name.clone(), config);
        self.changed(now_ms);
        Ok(old)
    }

    /// Creates the consumer group's retry topic `%RETRY%<group>` if it does not exist, as a
    /// Java broker does when a consumer heartbeats (`createTopicInSendMessageBackMethod`: one
    /// read and one write queue, read and write permission), so that clients find its route.
    /// Returns whether it was created.
    pub fn ensure_retry_topic(&mut self, group: &str, now_ms: i64) -> Result<bool, TopicError> {
        let topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{group}");
        if self.table.contains_key(&topic) {
            return Ok(false);
        }
        let config = TopicConfig {
            topic_name: topic,
            read_queue_nums: 1,
            write_queue_nums: 1,
            perm: perm::READ | perm::WRITE,
            ..TopicConfig::default()
        };
        self.create_or_update(config, now_ms)?;
        Ok(true)
    }

    /// Removes `topic`; returns its configuration if it existed (only then is it a change).
    pub fn delete(&mut self, topic: &str, now_ms: i64) -> Option<TopicConfig> {
        let old = self.table.remove(topic)?;
        self.changed(now_ms);
        self.deleted_topics.push((topic.to_owned(), self.revision));
        Some(old)
    }

    /// Takes back a change whose persist failed, if the topic is still as the change left it
    /// (a later change to it wins and is kept); the undo is a change of its own. Returns
    /// whether it undid anything.
    pub fn undo(&mut self, undo: &TopicUndo, now_ms: i64) -> bool {
        if self.table.get(&undo.topic) != undo.after.as_ref() {
            return false;
        }
        match &undo.before {
            Some(before) => {
                self.table.insert(undo.topic.clone(), before.clone());
            }
            None => {
                self.table.remove(&undo.topic);
            }
        }
        if undo.after.is_none() {
            self.deleted_topics.retain(|(topic, _)| *topic != undo.topic);
        }
        self.changed(now_ms);
        true
    }

    /// The topic a send names, created from `default_topic` if it does not exist, by RocketMQ's
    /// `createTopicInSendMessageMethod` rules: the template must exist and carry PERM_INHERIT
    /// (TBW102 never counts as inheritable when auto-creation is off; Java resets its perm in
    /// memory to the same effect), the new topic gets min(`client_queue_nums`, the template's
    /// write queues) read and write queues, the template's perm without INHERIT, its filter
    /// type, and `topic_sys_flag`.
    pub fn select_or_auto_create(
        &mut self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
        now_ms: i64,
    ) -> Result<SelectedTopic, AutoCreateRefused> {
        if let Some(config) = self.table.get(topic) {
            return Ok(SelectedTopic { config: config.clone(), created: false });
        }
        check_topic_name(topic)?;
        let template = self
            .table
            .get(default_topic)
            .ok_or_else(|| AutoCreateRefused::DefaultTopicMissing { default_topic: default_topic.to_owned() })?;
        let disabled = default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC && !self.auto_create_topic_enable;
        if disabled || !perm::is_inherited(template.perm) {
            return Err(AutoCreateRefused::NotInheritable { default_topic: default_topic.to_owned() });
        }
        let queue_nums = client_queue_nums.min(template.write_queue_nums);
        if queue_nums <= 0 {
            return Err(AutoCreateRefused::NoQueues { queue_nums });
        }
        let config = TopicConfig {
            topic_name: topic.to_owned(),
            read_queue_nums: queue_nums,
            write_queue_nums: queue_nums,
            perm: template.perm & !perm::INHERIT,
            topic_filter_type: template.topic_filter_type,
            topic_sys_flag,
            order: false,
        };
        self.table.insert(topic.to_owned(), config.clone());
        self.changed(now_ms);
        Ok(SelectedTopic { config, created: true })
    }

    /// The table and version as REGISTER_BROKER and GET_ALL_TOPIC_CONFIG carry them.
    pub fn register_wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper { topic_config_table: self.table.clone(), data_version: self.data_version }
    }

    /// True (once) if the table changed since the last call: the shell should register with
    /// the NameServers now instead of waiting for the next period.
    pub fn take_register_needed(&mut self) -> bool {
        std::mem::take(&mut self.register_needed)
    }

    /// The topics whose deletion is on disk and that were not handed out yet, oldest first,
    /// so the shell can drop their consumer offsets.
    pub fn take_deleted_topics(&mut self) -> Vec<String> {
        let durable = self.persisted_revision;
        let (taken, pending) = std::mem::take(&mut self.deleted_topics)
            .into_iter()
            .partition::<Vec<_>, _>(|(_, revision)| *revision <= durable);
        self.deleted_topics = pending;
        taken.into_iter().map(|(topic, _)| topic).collect()
    }

    fn changed(&mut self, now_ms: i64) {
        self.data_version = self.data_version.next(now_ms);
        self.revision += 1;
        self.register_needed = true;
    }
}

/// `<cluster>_REPLY_TOPIC` (`MixAll.getReplyTopic`).
pub fn reply_topic(cluster_name: &str) -> String {
    format!("{cluster_name}_{REPLY_TOPIC_POSTFIX}")
}

/// The topics RocketMQ 4.9's `TopicConfigManager` constructor creates, in its order.
fn system_topic_configs(config: &BrokerConfig) -> Vec<TopicConfig> {
    let inherit_rw = |enabled: bool| {
        if enabled {
            perm::INHERIT | perm::READ_WRITE
        } else {
            perm::INHERIT
        }
    };
    let mut topics = vec![TopicConfig::new(SELF_TEST_TOPIC, 1)];
    if config.auto_create_topic_enable {
        topics.push(TopicConfig {
            perm: perm::INHERIT | perm::READ_WRITE,
            ..TopicConfig::new(AUTO_CREATE_TOPIC_KEY_TOPIC, config.default_topic_queue_nums)
        });
    }
    topics.push(TopicConfig::new(BENCHMARK_TOPIC, 1024));
    topics.push(TopicConfig {
        perm: inherit_rw(config.cluster_topic_enable),
        ..TopicConfig::new(config.cluster_name.clone(), 16)
    });
    topics.push(TopicConfig {
        perm: inherit_rw(config.broker_topic_enable),
        ..TopicConfig::new(config.broker_name.clone(), 1)
    });
    topics.push(TopicConfig::new(OFFSET_MOVED_EVENT_TOPIC, 1));
    topics.push(TopicConfig::new(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUMS));
    if config.trace_topic_enable {
        topics.push(TopicConfig::new(config.msg_trace_topic_name.clone(), 1));
    }
    topics.push(TopicConfig::new(reply_topic(&config.cluster_name), 1));
    topics
}

#[cfg(test)]
#[path = "topic_config_tests.rs"]
mod tests;
