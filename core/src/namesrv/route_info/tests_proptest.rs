//! Random sequences of registrations, unregistrations, connection closes, expiry scans and
//! topic deletions keep `RouteInfoManager`'s invariants, and routes stay usable.

use proptest::prelude::*;

use super::*;
use crate::namesrv::BROKER_EXPIRE_MS;
use crate::protocol::TopicConfigSerializeWrapper;
use crate::remoting::UnregisterBrokerRequestHeader;

/// Small pools, so that operations collide on names, addresses and connections often.
const BROKER_NAMES: [&str; 3] = ["broker-a", "broker-b", "broker-c"];
const BROKER_ADDRS: [&str; 4] = ["10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911", "10.0.0.4:10911"];
const CLUSTERS: [&str; 2] = ["DefaultCluster", "OtherCluster"];
const TOPICS: [&str; 4] = ["T0", "T1", "T2", "TBW102"];
/// Upper bound of one step of time, so that runs cross the expiry boundary now and then.
const STEP_MS_MAX: i64 = 50_000;

#[derive(Debug, Clone)]
enum Op {
    Register {
        name: usize,
        addr: usize,
        broker_id: i64,
        cluster: usize,
        conn: u64,
        topics: Vec<(usize, i32)>,
        version: i64,
    },
    Unregister {
        name: usize,
        addr: usize,
        broker_id: i64,
        cluster: usize,
    },
    Close {
        conn: u64,
    },
    Scan,
    DeleteTopic {
        topic: usize,
        cluster: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let topics = proptest::collection::vec((0..TOPICS.len(), 1..9i32), 0..4);
    prop_oneof![
        4 => (0..BROKER_NAMES.len(), 0..BROKER_ADDRS.len(), 0..3i64, 0..CLUSTERS.len(), 0..4u64, topics, 0..3i64)
            .prop_map(|(name, addr, broker_id, cluster, conn, topics, version)| Op::Register {
                name, addr, broker_id, cluster, conn, topics, version,
            }),
        1 => (0..BROKER_NAMES.len(), 0..BROKER_ADDRS.len(), 0..3i64, 0..CLUSTERS.len())
            .prop_map(|(name, addr, broker_id, cluster)| Op::Unregister { name, addr, broker_id, cluster }),
        1 => (0..4u64).prop_map(|conn| Op::Close { conn }),
        2 => Just(Op::Scan),
        1 => (0..TOPICS.len(), proptest::option::of(0..CLUSTERS.len()))
            .prop_map(|(topic, cluster)| Op::DeleteTopic { topic, cluster }),
    ]
}

fn register(routes: &mut RouteInfoManager, now_ms: i64, op: &Op) {
    let Op::Register { name, addr, broker_id, cluster, conn, topics, version } = op else {
        return;
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: BROKER_NAMES[*name].into(),
        broker_addr: BROKER_ADDRS[*addr].into(),
        cluster_name: CLUSTERS[*cluster].into(),
        ha_server_addr: format!("ha-{addr}"),
        broker_id: *broker_id,
        compressed: false,
        body_crc32: None,
    };
    let topic_config_table = topics
        .iter()
        .map(|(topic, queues)| (TOPICS[*topic].to_owned(), TopicConfig::new(TOPICS[*topic], *queues)))
        .collect();
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table,
            data_version: DataVersion { timestamp: 0, counter: *version },
        },
        filter_server_list: Vec::new(),
    };
    routes.register_broker(now_ms, ConnectionId(*conn), &header, body);
}

fn apply(routes: &mut RouteInfoManager, now_ms: i64, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Register { .. } => register(routes, now_ms, op),
        Op::Unregister { name, addr, broker_id, cluster } => {
            routes.unregister_broker(&UnregisterBrokerRequestHeader {
                broker_name: BROKER_NAMES[*name].into(),
                broker_addr: BROKER_ADDRS[*addr].into(),
                cluster_name: CLUSTERS[*cluster].into(),
                broker_id: *broker_id,
            });
            prop_assert!(routes.broker_live_info(BROKER_ADDRS[*addr]).is_none());
        }
        Op::Close { conn } => {
            routes.on_connection_closed(ConnectionId(*conn));
            prop_assert!(routes.live_brokers().all(|(_, live)| live.conn != ConnectionId(*conn)));
        }
        Op::Scan => {
            routes.scan_expired(now_ms);
            let late = |live: &BrokerLiveInfo| live.last_update_ms + BROKER_EXPIRE_MS < now_ms;
            prop_assert!(!routes.live_brokers().any(|(_, live)| late(live)));
        }
        Op::DeleteTopic { topic, cluster: None } => {
            routes.delete_topic(TOPICS[*topic]);
            prop_assert_eq!(routes.route(TOPICS[*topic]), None);
        }
        Op::DeleteTopic { topic, cluster: Some(cluster) } => {
            routes.delete_topic_in_cluster(TOPICS[*topic], CLUSTERS[*cluster]);
        }
    }
    Ok(())
}

/// Every listed topic has a route whose queue data each name a broker group listed in it,
/// with at least one address; every unlisted topic has none.
fn check_routes(routes: &RouteInfoManager) -> Result<(), TestCaseError> {
    let listed = routes.topics().topic_list;
    for topic in TOPICS {
        let route = routes.route(topic);
        prop_assert_eq!(route.is_some(), listed.contains(topic), "{}", topic);
        let Some(route) = route else { continue };
        prop_assert!(!route.queue_datas.is_empty());
        for queue_data in &route.queue_datas {
            let group = route.broker_datas.iter().find(|b| b.broker_name == queue_data.broker_name);
            prop_assert!(group.is_some(), "{} names missing group {}", topic, queue_data.broker_name);
        }
        for group in &route.broker_datas {
            prop_assert!(!group.broker_addrs.is_empty(), "{} lists empty {:?}", topic, group);
            for addr in group.broker_addrs.values() {
                prop_assert!(routes.broker_live_info(addr).is_some(), "{} lists dead {}", topic, addr);
            }
        }
    }
    let info = routes.cluster_info();
    for names in info.cluster_addr_table.values() {
        prop_assert!(names.iter().all(|name| info.broker_addr_table.contains_key(name)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of operations at increasing times keeps every invariant after every step.
    #[test]
    fn random_operations_keep_invariants(
        steps in proptest::collection::vec((0..STEP_MS_MAX, op()), 1..60),
    ) {
        let mut routes = RouteInfoManager::new();
        let mut now_ms = 0;
        for (step_ms, op) in &steps {
            now_ms += step_ms;
            apply(&mut routes, now_ms, op)?;
            prop_assert_eq!(routes.check_invariants(), Ok(()), "after {:?}", op);
            check_routes(&routes)?;
        }
    }
}
