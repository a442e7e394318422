//! Topic configuration as brokers hold it and report it to name servers: `TopicConfig`,
//! `DataVersion`, `TopicConfigSerializeWrapper`, and `TopicList`, the name server's answer to
//! "which topics exist". Field names are Java's (RocketMQ 4.9.x), as fastjson writes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::body::{null_as_default, JsonBody};
use super::perm;

/// The template topic a broker with `autoCreateTopicEnable` registers; producers sending to an
/// unknown topic use its route (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";

/// Read and write queue count of a `TopicConfig` that does not say (`TopicConfig.java`).
pub const TOPIC_QUEUE_NUMS_DEFAULT: i32 = 16;

/// `TopicSysFlag` bit: the topic is a unit topic.
pub const TOPIC_SYS_FLAG_UNIT: i32 = 1;
/// `TopicSysFlag` bit: the topic has unit subscriptions.
pub const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 1 << 1;

/// How a topic's messages carry tags (`TopicFilterType.java`); informational in RocketMQ 4.x.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TopicFilterType {
    /// One tag per message (the default).
    #[default]
    SingleTag,
    /// Several tags per message.
    MultiTag,
}

/// One topic's configuration on one broker (`TopicConfig.java`). Absent fields read as Java's
/// field initialisers: 16 queues each way, read-write, single tag, not ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// The topic's name; the name server files the topic's queue data under it.
    pub topic_name: String,
    /// Queues consumers read from; a route offers this many per broker.
    pub read_queue_nums: i32,
    /// Queues producers write to; a route offers this many per broker.
    pub write_queue_nums: i32,
    /// `perm` bits (READ 4, WRITE 2, INHERIT 1): what clients may do with the topic here.
    pub perm: i32,
    /// Tag layout; kept because Java peers send and expect it.
    pub topic_filter_type: TopicFilterType,
    /// `TopicSysFlag` bits (unit topic, unit subscription).
    pub topic_sys_flag: i32,
    /// Ordered topic: clients keep per-queue order (Java's `isOrder`, written as `order`).
    pub order: bool,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: TOPIC_QUEUE_NUMS_DEFAULT,
            write_queue_nums: TOPIC_QUEUE_NUMS_DEFAULT,
            perm: perm::READ_WRITE,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
        }
    }
}

impl TopicConfig {
    /// A read-write topic with `queue_nums` read and write queues and defaults otherwise.
    pub fn new(topic_name: impl Into<String>, queue_nums: i32) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            read_queue_nums: queue_nums,
            write_queue_nums: queue_nums,
            ..TopicConfig::default()
        }
    }
}

/// The version of a broker's topic configuration (`DataVersion.java`). A broker bumps it on every
/// change; the name server rebuilds a broker's queue data only when it differs from the last
/// registration's, so an unchanged heartbeat costs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// Milliseconds when the version was made; part of the identity, so a restarted broker
    /// whose counter starts over still differs from its previous life.
    pub timestamp: i64,
    /// Incremented on each change (a Java `AtomicLong`, written as a plain number).
    pub counter: i64,
}

impl DataVersion {
    /// The next version, made at `now_ms` (Java's `nextVersion`).
    pub fn next(self, now_ms: i64) -> Self {
        DataVersion { timestamp: now_ms, counter: self.counter.wrapping_add(1) }
    }
}

impl JsonBody for DataVersion {
    const JAVA_NAME: &'static str = "DataVersion";
}

/// A broker's whole topic configuration with its version (`TopicConfigSerializeWrapper.java`):
/// the payload of broker registration and of GET_ALL_TOPIC_CONFIG.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// Topic name -> configuration.
    #[serde(deserialize_with = "null_as_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of this table, compared by the name server to skip unchanged registrations.
    pub data_version: DataVersion,
}

impl JsonBody for TopicConfigSerializeWrapper {
    const JAVA_NAME: &'static str = "TopicConfigSerializeWrapper";
}

/// A set of topic names (`TopicList.java`): the body of GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
/// GET_TOPICS_BY_CLUSTER and the system-topic queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// The topic names (a Java `Set`, written as an array).
    #[serde(deserialize_with = "null_as_default")]
    pub topic_list: BTreeSet<String>,
    /// A broker to ask about them; set only by GET_SYSTEM_TOPIC_LIST_FROM_NS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

impl JsonBody for TopicList {
    const JAVA_NAME: &'static str = "TopicList";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BodyError;

    /// A topic config as fastjson writes it (fields sorted by name, enum by name) decodes to
    /// the same values, and Petrel's encoding reads back unchanged.
    #[test]
    fn topic_config_from_java_json() {
        let java = r#"{"order":true,"perm":4,"readQueueNums":8,"topicFilterType":"MULTI_TAG",
            "topicName":"T","topicSysFlag":1,"writeQueueNums":2}"#;
        let expected = TopicConfig {
            topic_name: "T".into(),
            read_queue_nums: 8,
            write_queue_nums: 2,
            perm: perm::READ,
            topic_filter_type: TopicFilterType::MultiTag,
            topic_sys_flag: TOPIC_SYS_FLAG_UNIT,
            order: true,
        };
        let decoded: TopicConfig = serde_json::from_str(java).expect("valid sample");
        assert_eq!(decoded, expected);
        let json = serde_json::to_string(&expected).expect("serializable");
        assert_eq!(
            json,
            r#"{"topicName":"T","readQueueNums":8,"writeQueueNums":2,"perm":4,"topicFilterType":"MULTI_TAG","topicSysFlag":1,"order":true}"#
        );
    }

    /// Absent fields take Java's initial values; unknown ones (RocketMQ 5's `attributes`)
    /// are ignored.
    #[test]
    fn topic_config_defaults_match_java() {
        let decoded: TopicConfig =
            serde_json::from_str(r#"{"topicName":"T","attributes":{"+a":"b"}}"#).expect("valid sample");
        assert_eq!(decoded, TopicConfig::new("T", 16));
        assert_eq!(decoded.perm, 6);
        assert_eq!(decoded.topic_filter_type, TopicFilterType::SingleTag);
    }

    /// The wrapper a Java broker registers with decodes, and round-trips through Petrel's JSON.
    #[test]
    fn wrapper_from_java_json() {
        let java = r#"{"dataVersion":{"counter":3,"timestamp":1700000000000},
            "topicConfigTable":{"TBW102":{"order":false,"perm":7,"readQueueNums":8,
            "topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,
            "writeQueueNums":8}}}"#;
        let decoded = TopicConfigSerializeWrapper::from_json(java);
        let expected = TopicConfigSerializeWrapper {
            topic_config_table: BTreeMap::from([(
                AUTO_CREATE_TOPIC_KEY_TOPIC.to_owned(),
                TopicConfig {
                    perm: perm::READ_WRITE | perm::INHERIT,
                    ..TopicConfig::new(AUTO_CREATE_TOPIC_KEY_TOPIC, 8)
                },
            )]),
            data_version: DataVersion { timestamp: 1_700_000_000_000, counter: 3 },
        };
        assert_eq!(decoded.as_ref(), Ok(&expected));
        assert_eq!(TopicConfigSerializeWrapper::decode_json(&expected.encode_json()), Ok(expected));
    }

    /// `next` stamps the time and bumps the counter, so the name server sees a change.
    #[test]
    fn data_version_next_differs() {
        let first = DataVersion { timestamp: 5, counter: 1 };
        let next = first.next(5);
        assert_eq!(next, DataVersion { timestamp: 5, counter: 2 });
        assert_ne!(next, first);
        assert_eq!(DataVersion::from_json(r#"{"counter":2,"timestamp":5}"#), Ok(next));
    }

    /// A topic list encodes as a sorted array, omits an unset broker address, and reads Java's
    /// form with one; an unknown filter type is an error, not a silent default.
    #[test]
    fn topic_list_round_trips() {
        let list = TopicList { topic_list: BTreeSet::from(["b".to_owned(), "a".to_owned()]), broker_addr: None };
        assert_eq!(list.to_json(), r#"{"topicList":["a","b"]}"#);
        assert_eq!(TopicList::decode_json(&list.encode_json()), Ok(list));
        let java = TopicList::from_json(r#"{"brokerAddr":"1.2.3.4:10911","topicList":["x"]}"#);
        assert_eq!(java.map(|l| l.broker_addr), Ok(Some("1.2.3.4:10911".to_owned())));
        assert!(matches!(
            TopicConfigSerializeWrapper::from_json(r#"{"topicConfigTable":{"T":{"topicFilterType":"NONE"}}}"#),
            Err(BodyError::InvalidJson { .. })
        ));
    }
}
