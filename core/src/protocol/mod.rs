//! The JSON bodies every role shares: what brokers register with name servers, what name servers
//! answer clients, with RocketMQ 4.x's exact field names, so Java peers read Petrel's bodies and
//! Petrel reads theirs.
//!
//! Files and their jobs:
//! - `body.rs`: the `JsonBody` trait (encode to valid JSON; decode Java's fastjson text, whose
//!   integer map keys are unquoted, ignoring unknown fields) and `BodyError`.
//! - `route.rs`: `TopicRouteData`, `QueueData`, `BrokerData`, `ClusterInfo`, `MASTER_ID`.
//! - `topic.rs`: `TopicConfig`, `TopicFilterType`, `DataVersion`,
//!   `TopicConfigSerializeWrapper`, `TopicList`, the template topic `TBW102`, `TopicSysFlag`.
//! - `register.rs`: `RegisterBrokerBody`, `RegisterBrokerResult`, `KvTable`.
//! - `perm.rs`: `PermName`'s permission bits (READ 4, WRITE 2, INHERIT 1).
//!
//! Every map is a `BTreeMap` and every set a `BTreeSet`, so a value always encodes to the same
//! bytes. Integer-keyed maps are written with quoted keys, which Java's fastjson reads.

pub mod body;
pub mod heartbeat;
pub mod perm;
pub mod register;
pub mod route;
pub mod topic;

pub use body::{BodyError, JsonBody, BODY_ERROR_REASON_CHARS_MAX};
pub use register::{KvTable, RegisterBrokerBody, RegisterBrokerResult};
pub use route::{BrokerData, ClusterInfo, QueueData, TopicRouteData, MASTER_ID};
pub use topic::{
    DataVersion, TopicConfig, TopicConfigSerializeWrapper, TopicFilterType, TopicList, AUTO_CREATE_TOPIC_KEY_TOPIC,
    TOPIC_QUEUE_NUMS_DEFAULT, TOPIC_SYS_FLAG_UNIT, TOPIC_SYS_FLAG_UNIT_SUB,
};
