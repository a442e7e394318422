//! Routing data the name server hands out: `TopicRouteData` (which brokers serve a topic, with
//! how many queues, at which addresses), its parts `QueueData` and `BrokerData`, and
//! `ClusterInfo`. Field names are Java's (RocketMQ 4.9.x), as fastjson writes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::body::{null_as_default, JsonBody};

/// The broker id of a master (`MixAll.MASTER_ID`); slaves have ids > 0.
pub const MASTER_ID: i64 = 0;

/// One broker group's queues of one topic (`QueueData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    /// The broker group (master and slaves share the name) holding the queues.
    pub broker_name: String,
    /// Queues consumers read from on that broker.
    pub read_queue_nums: i32,
    /// Queues producers write to on that broker.
    pub write_queue_nums: i32,
    /// `perm` bits of the topic on that broker; producers skip brokers without WRITE.
    pub perm: i32,
    /// `TopicSysFlag` bits of the topic on that broker.
    pub topic_sys_flag: i32,
}

/// One broker group's addresses (`BrokerData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Cluster the group registered in first.
    pub cluster: String,
    /// The group's name, the key that `QueueData::broker_name` refers to.
    pub broker_name: String,
    /// Broker id (0 = master) -> `ip:port`. Java keys a `HashMap<Long, String>`, which fastjson
    /// writes with unquoted keys; Petrel writes them quoted.
    #[serde(deserialize_with = "null_as_default")]
    pub broker_addrs: BTreeMap<i64, String>,
}

impl BrokerData {
    /// The master's address, if the master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    /// The address to send to: the master's, else the lowest-id slave's. (Java picks a random
    /// slave; Petrel stays deterministic and lets the caller choose if it wants spread.)
    pub fn select_broker_addr(&self) -> Option<&str> {
        self.master_addr().or_else(|| self.broker_addrs.values().next().map(String::as_str))
    }
}

/// A topic's route (`TopicRouteData.java`): the body of GET_ROUTEINFO_BY_TOPIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    /// Order configuration from the name server's KV store (`brokerName:queueNums;...`), set
    /// only when the name server enables ordered messages; omitted when absent, as fastjson
    /// omits nulls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// The topic's queues, one entry per broker group serving it.
    #[serde(deserialize_with = "null_as_default")]
    pub queue_datas: Vec<QueueData>,
    /// Addresses of the broker groups named in `queue_datas`.
    #[serde(deserialize_with = "null_as_default")]
    pub broker_datas: Vec<BrokerData>,
    /// Broker address -> its filter servers (RocketMQ's class-filter feature; usually empty).
    #[serde(deserialize_with = "null_as_default")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}

impl JsonBody for TopicRouteData {
    const JAVA_NAME: &'static str = "TopicRouteData";
}

/// Every broker group and cluster the name server knows (`ClusterInfo.java`): the body of
/// GET_BROKER_CLUSTER_INFO, which admin tools and brokers use to find their peers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker name -> the group's addresses.
    #[serde(deserialize_with = "null_as_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name -> names of the broker groups in it (a Java `Set`, written as an array).
    #[serde(deserialize_with = "null_as_default")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl JsonBody for ClusterInfo {
    const JAVA_NAME: &'static str = "ClusterInfo";
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::perm;

    fn broker_a() -> BrokerData {
        BrokerData {
            cluster: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_addrs: BTreeMap::from([(0, "10.0.0.1:10911".to_owned()), (1, "10.0.0.2:10911".to_owned())]),
        }
    }

    fn route() -> TopicRouteData {
        TopicRouteData {
            order_topic_conf: None,
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                perm: perm::READ_WRITE,
                topic_sys_flag: 0,
            }],
            broker_datas: vec![broker_a()],
            filter_server_table: BTreeMap::new(),
        }
    }

    /// A route as a pre-4.9.4 Java name server writes it (fastjson: fields sorted, integer map
    /// keys unquoted, null orderTopicConf omitted) decodes to the expected value.
    #[test]
    fn route_from_fastjson_text() {
        let java = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},
            "brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},
            "queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,
            "topicSysFlag":0,"writeQueueNums":4}]}"#;
        assert_eq!(TopicRouteData::from_json(java), Ok(route()));
    }

    /// A route from a 4.9.4+ name server (standard JSON, quoted keys) and with fields Petrel
    /// does not know (RocketMQ 5's `enableActingMaster`, `zoneName`) decodes too.
    #[test]
    fn route_from_standard_json_with_unknown_fields() {
        let java = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},
            "brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false,
            "zoneName":null}],"filterServerTable":{},"orderTopicConf":"broker-a:4",
            "queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,
            "topicSysFlag":0,"writeQueueNums":4}],"topicQueueMappingByBroker":null}"#;
        let expected = TopicRouteData { order_topic_conf: Some("broker-a:4".into()), ..route() };
        assert_eq!(TopicRouteData::from_json(java), Ok(expected));
    }

    /// Petrel's encoding is exact, valid JSON with quoted keys, and reads back unchanged.
    #[test]
    fn route_encoding_is_exact_and_round_trips() {
        let json = route().to_json();
        assert_eq!(
            json,
            concat!(
                r#"{"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"#,
                r#""perm":6,"topicSysFlag":0}],"brokerDatas":[{"cluster":"DefaultCluster","#,
                r#""brokerName":"broker-a","brokerAddrs":{"0":"10.0.0.1:10911","#,
                r#""1":"10.0.0.2:10911"}}],"filterServerTable":{}}"#
            )
        );
        assert_eq!(TopicRouteData::decode_json(json.as_bytes()), Ok(route()));
    }

    /// Cluster info as fastjson writes it decodes, and round-trips through Petrel's JSON.
    #[test]
    fn cluster_info_round_trips() {
        let java = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",
            1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},
            "clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        let expected = ClusterInfo {
            broker_addr_table: BTreeMap::from([("broker-a".to_owned(), broker_a())]),
            cluster_addr_table: BTreeMap::from([(
                "DefaultCluster".to_owned(),
                BTreeSet::from(["broker-a".to_owned()]),
            )]),
        };
        assert_eq!(ClusterInfo::from_json(java).as_ref(), Ok(&expected));
        assert_eq!(ClusterInfo::decode_json(&expected.encode_json()), Ok(expected));
    }

    fn queue_data() -> impl Strategy<Value = QueueData> {
        (any::<String>(), any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()).prop_map(
            |(broker_name, read_queue_nums, write_queue_nums, perm, topic_sys_flag)| QueueData {
                broker_name,
                read_queue_nums,
                write_queue_nums,
                perm,
                topic_sys_flag,
            },
        )
    }

    fn broker_data() -> impl Strategy<Value = BrokerData> {
        let addrs = proptest::collection::btree_map(any::<i64>(), any::<String>(), 0..4);
        (any::<String>(), any::<String>(), addrs).prop_map(|(cluster, broker_name, broker_addrs)| BrokerData {
            cluster,
            broker_name,
            broker_addrs,
        })
    }

    proptest! {
        /// Any route and any cluster info, with arbitrary strings and ids (negative ones too),
        /// read back from Petrel's encoding unchanged, and the encoding is valid JSON as is.
        #[test]
        fn route_bodies_round_trip(
            order_topic_conf in proptest::option::of(any::<String>()),
            queue_datas in proptest::collection::vec(queue_data(), 0..4),
            broker_datas in proptest::collection::vec(broker_data(), 0..4),
            filter_server_table in proptest::collection::btree_map(
                any::<String>(), proptest::collection::vec(any::<String>(), 0..3), 0..3),
            clusters in proptest::collection::btree_map(
                any::<String>(), proptest::collection::btree_set(any::<String>(), 0..3), 0..3),
        ) {
            let route = TopicRouteData { order_topic_conf, queue_datas, broker_datas, filter_server_table };
            let json = route.to_json();
            prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            prop_assert_eq!(TopicRouteData::decode_json(json.as_bytes()), Ok(route.clone()));
            let info = ClusterInfo {
                broker_addr_table: route.broker_datas.iter().map(|b| (b.broker_name.clone(), b.clone())).collect(),
                cluster_addr_table: clusters,
            };
            prop_assert_eq!(ClusterInfo::decode_json(&info.encode_json()), Ok(info));
        }
    }

    /// The master is preferred; without it, the lowest-id slave; with nothing, none.
    #[test]
    fn select_broker_addr_prefers_master() {
        let mut data = broker_a();
        assert_eq!(data.select_broker_addr(), Some("10.0.0.1:10911"));
        data.broker_addrs.remove(&MASTER_ID);
        assert_eq!(data.master_addr(), None);
        assert_eq!(data.select_broker_addr(), Some("10.0.0.2:10911"));
        data.broker_addrs.clear();
        assert_eq!(data.select_broker_addr(), None);
    }
}
