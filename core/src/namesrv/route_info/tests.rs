//! `RouteInfoManager` fed inputs, its outputs compared exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::namesrv::{ExpiredBroker, BROKER_EXPIRE_MS};
use crate::protocol::{perm, TopicConfigSerializeWrapper};
use crate::remoting::UnregisterBrokerRequestHeader;

const CLUSTER: &str = "DefaultCluster";
const A_MASTER: &str = "10.0.0.1:10911";
const A_SLAVE: &str = "10.0.0.2:10911";
const B_MASTER: &str = "10.0.1.1:10911";

/// The header a broker registers with; its HA address is its address with port 10912.
fn header(broker_name: &str, broker_addr: &str, broker_id: i64) -> RegisterBrokerRequestHeader {
    RegisterBrokerRequestHeader {
        broker_name: broker_name.into(),
        broker_addr: broker_addr.into(),
        cluster_name: CLUSTER.into(),
        ha_server_addr: ha(broker_addr),
        broker_id,
        compressed: false,
        body_crc32: None,
    }
}

fn ha(broker_addr: &str) -> String {
    broker_addr.replace(":10911", ":10912")
}

/// A body with data version `counter` (timestamp 1) and the given topics and queue counts.
fn body(counter: i64, topics: &[(&str, i32)]) -> RegisterBrokerBody {
    let topic_config_table =
        topics.iter().map(|(topic, queues)| ((*topic).to_owned(), TopicConfig::new(*topic, *queues))).collect();
    RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table,
            data_version: DataVersion { timestamp: 1, counter },
        },
        filter_server_list: Vec::new(),
    }
}

fn queue(broker_name: &str, queues: i32) -> QueueData {
    QueueData {
        broker_name: broker_name.into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: perm::READ_WRITE,
        topic_sys_flag: 0,
    }
}

fn group(broker_name: &str, addrs: &[(i64, &str)]) -> BrokerData {
    BrokerData {
        cluster: CLUSTER.into(),
        broker_name: broker_name.into(),
        broker_addrs: addrs.iter().map(|(id, a)| (*id, (*a).to_owned())).collect(),
    }
}

fn route(queue_datas: Vec<QueueData>, broker_datas: Vec<BrokerData>) -> TopicRouteData {
    TopicRouteData { order_topic_conf: None, queue_datas, broker_datas, filter_server_table: BTreeMap::new() }
}

fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Routes with broker-a master (T: 4 queues) on connection 1 at t=1000 and, when `with_b`,
/// broker-b master (T: 8 queues, U: 2) on connection 2 at t=2000.
fn registered(with_b: bool) -> RouteInfoManager {
    let mut routes = RouteInfoManager::new();
    let result = routes.register_broker(1000, ConnectionId(1), &header("broker-a", A_MASTER, 0), body(1, &[("T", 4)]));
    assert_eq!(result, RegisterBrokerResult::default());
    if with_b {
        let b_body = body(1, &[("T", 8), ("U", 2)]);
        routes.register_broker(2000, ConnectionId(2), &header("broker-b", B_MASTER, 0), b_body);
    }
    routes
}

/// A registered master's topic routes to it with its queue counts and address; everything
/// else the manager reports agrees.
#[test]
fn route_after_registration() {
    let routes = registered(false);
    let expected = route(vec![queue("broker-a", 4)], vec![group("broker-a", &[(0, A_MASTER)])]);
    assert_eq!(routes.route("T"), Some(expected));
    assert_eq!(routes.route("unknown"), None);
    assert_eq!(routes.topics().topic_list, names(&["T"]));
    let info = routes.cluster_info();
    assert_eq!(info.broker_addr_table, BTreeMap::from([("broker-a".to_owned(), group("broker-a", &[(0, A_MASTER)]))]));
    assert_eq!(info.cluster_addr_table, BTreeMap::from([(CLUSTER.to_owned(), names(&["broker-a"]))]));
    let live = routes.broker_live_info(A_MASTER).cloned();
    let expected_live = BrokerLiveInfo {
        last_update_ms: 1000,
        data_version: DataVersion { timestamp: 1, counter: 1 },
        conn: ConnectionId(1),
        ha_server_addr: ha(A_MASTER),
    };
    assert_eq!(live, Some(expected_live));
}

/// Two masters of one cluster: a shared topic routes to both, ordered by broker name; each
/// topic lists exactly its brokers; the cluster lists both.
#[test]
fn two_brokers_one_cluster() {
    let routes = registered(true);
    let both = route(
        vec![queue("broker-a", 4), queue("broker-b", 8)],
        vec![group("broker-a", &[(0, A_MASTER)]), group("broker-b", &[(0, B_MASTER)])],
    );
    assert_eq!(routes.route("T"), Some(both));
    let only_b = route(vec![queue("broker-b", 2)], vec![group("broker-b", &[(0, B_MASTER)])]);
    assert_eq!(routes.route("U"), Some(only_b));
    assert_eq!(routes.topics().topic_list, names(&["T", "U"]));
    assert_eq!(routes.topics_by_cluster(CLUSTER).topic_list, names(&["T", "U"]));
    assert_eq!(routes.topics_by_cluster("other").topic_list, names(&[]));
    assert_eq!(
        routes.cluster_info().cluster_addr_table,
        BTreeMap::from([(CLUSTER.to_owned(), names(&["broker-a", "broker-b"]))])
    );
}

/// A slave joins its master's group; its registration returns the master's address and HA
/// address; its own topic configuration does not change routes.
#[test]
fn master_and_slave() {
    let mut routes = registered(false);
    let slave_body = body(9, &[("T", 1), ("SLAVE_ONLY", 1)]);
    let result = routes.register_broker(1500, ConnectionId(3), &header("broker-a", A_SLAVE, 1), slave_body);
    let expected = RegisterBrokerResult {
        ha_server_addr: Some(ha(A_MASTER)),
        master_addr: Some(A_MASTER.to_owned()),
        kv_table: None,
    };
    assert_eq!(result, expected);
    let both_addrs = group("broker-a", &[(0, A_MASTER), (1, A_SLAVE)]);
    assert_eq!(routes.route("T"), Some(route(vec![queue("broker-a", 4)], vec![both_addrs])));
    assert_eq!(routes.route("SLAVE_ONLY"), None);
}

/// A slave registering before its master learns no master; the master's topics appear when
/// it registers.
#[test]
fn slave_before_master_gets_no_master() {
    let mut routes = RouteInfoManager::new();
    let result = routes.register_broker(0, ConnectionId(3), &header("broker-a", A_SLAVE, 1), body(1, &[("T", 4)]));
    assert_eq!(result, RegisterBrokerResult::default());
    assert_eq!(routes.route("T"), None);
    assert_eq!(routes.cluster_info().broker_addr_table.len(), 1);
    routes.register_broker(0, ConnectionId(1), &header("broker-a", A_MASTER, 0), body(1, &[("T", 4)]));
    let both_addrs = group("broker-a", &[(0, A_MASTER), (1, A_SLAVE)]);
    assert_eq!(routes.route("T"), Some(route(vec![queue("broker-a", 4)], vec![both_addrs])));
}

/// A heartbeat with an unchanged data version refreshes liveness but not the queues; a new
/// version rebuilds them. Topics the broker dropped stay, as in Java.
#[test]
fn unchanged_data_version_skips_queue_update() {
    let mut routes = registered(false);
    let a = header("broker-a", A_MASTER, 0);
    routes.register_broker(31_000, ConnectionId(1), &a, body(1, &[("T", 16)]));
    assert_eq!(routes.route("T").map(|r| r.queue_datas), Some(vec![queue("broker-a", 4)]));
    assert_eq!(routes.broker_live_info(A_MASTER).map(|l| l.last_update_ms), Some(31_000));
    routes.register_broker(61_000, ConnectionId(1), &a, body(2, &[("V", 16)]));
    assert_eq!(routes.route("V").map(|r| r.queue_datas), Some(vec![queue("broker-a", 16)]));
    assert_eq!(routes.route("T").map(|r| r.queue_datas), Some(vec![queue("broker-a", 4)]));
}

/// A broker is kept while at most `BROKER_EXPIRE_MS` have passed since its last registration
/// (at 119.999 s and at exactly 120 s, as Java's `last + 120000 < now`), and removed with its
/// connection reported one millisecond later.
#[test]
fn expiry_boundary() {
    let mut routes = registered(false);
    assert_eq!(routes.scan_expired(1000 + BROKER_EXPIRE_MS - 1), vec![]);
    assert_eq!(routes.scan_expired(1000 + BROKER_EXPIRE_MS), vec![]);
    assert!(routes.route("T").is_some());
    let expired = routes.scan_expired(1000 + BROKER_EXPIRE_MS + 1);
    let expected = ExpiredBroker { broker_addr: A_MASTER.to_owned(), conn: ConnectionId(1) };
    assert_eq!(expired, vec![expected]);
    assert_eq!(routes, RouteInfoManager::new());
}

/// Expiry removes only the brokers that are late: broker-b, registered later, stays.
#[test]
fn expiry_removes_only_late_brokers() {
    let mut routes = registered(true);
    let expired = routes.scan_expired(1001 + BROKER_EXPIRE_MS);
    assert_eq!(expired.iter().map(|e| e.broker_addr.as_str()).collect::<Vec<_>>(), [A_MASTER]);
    let only_b = route(vec![queue("broker-b", 8)], vec![group("broker-b", &[(0, B_MASTER)])]);
    assert_eq!(routes.route("T"), Some(only_b));
}

/// Closing a connection removes exactly the brokers that registered over it.
#[test]
fn connection_close_removes_only_its_brokers() {
    let mut routes = registered(true);
    assert_eq!(routes.on_connection_closed(ConnectionId(99)), Vec::<String>::new());
    assert_eq!(routes.on_connection_closed(ConnectionId(1)), vec![A_MASTER.to_owned()]);
    let only_b = route(vec![queue("broker-b", 8)], vec![group("broker-b", &[(0, B_MASTER)])]);
    assert_eq!(routes.route("T"), Some(only_b));
    assert_eq!(routes.cluster_info().cluster_addr_table, BTreeMap::from([(CLUSTER.to_owned(), names(&["broker-b"]))]));
    assert_eq!(routes.on_connection_closed(ConnectionId(2)), vec![B_MASTER.to_owned()]);
    assert_eq!(routes, RouteInfoManager::new());
}

/// A broker that re-registered over a new connection survives the close of its old one.
#[test]
fn reconnected_broker_survives_old_connection_close() {
    let mut routes = registered(false);
    routes.register_broker(5000, ConnectionId(7), &header("broker-a", A_MASTER, 0), body(1, &[("T", 4)]));
    assert_eq!(routes.on_connection_closed(ConnectionId(1)), Vec::<String>::new());
    assert!(routes.route("T").is_some());
}

/// When a master goes but its slave stays, the group keeps its queue data: routes list the
/// slave alone, so consumers can still read.
#[test]
fn slave_keeps_routes_when_master_goes() {
    let mut routes = registered(false);
    routes.register_broker(1000, ConnectionId(3), &header("broker-a", A_SLAVE, 1), body(1, &[]));
    routes.on_connection_closed(ConnectionId(1));
    let slave_only = route(vec![queue("broker-a", 4)], vec![group("broker-a", &[(1, A_SLAVE)])]);
    assert_eq!(routes.route("T"), Some(slave_only));
    let result = routes.register_broker(2000, ConnectionId(3), &header("broker-a", A_SLAVE, 1), body(1, &[]));
    assert_eq!(result, RegisterBrokerResult::default());
}

/// A slave promoted to master (same address, id 0) holds one id only; its old master's
/// displaced address expires without touching the group.
#[test]
fn slave_switching_to_master_holds_one_id() {
    let mut routes = registered(false);
    routes.register_broker(1000, ConnectionId(3), &header("broker-a", A_SLAVE, 1), body(1, &[]));
    routes.register_broker(2000, ConnectionId(3), &header("broker-a", A_SLAVE, 0), body(5, &[("T", 4)]));
    let promoted = group("broker-a", &[(0, A_SLAVE)]);
    assert_eq!(routes.route("T").map(|r| r.broker_datas), Some(vec![promoted.clone()]));
    let expired = routes.scan_expired(1500 + BROKER_EXPIRE_MS);
    assert_eq!(expired.iter().map(|e| e.broker_addr.as_str()).collect::<Vec<_>>(), [A_MASTER]);
    assert_eq!(routes.route("T").map(|r| r.broker_datas), Some(vec![promoted]));
}

/// Unregistration removes the named broker; a late one from a replaced master leaves the new
/// master's route alone.
#[test]
fn unregister_broker() {
    let mut routes = registered(true);
    let unregister = |addr: &str, name: &str| UnregisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.into(),
        cluster_name: CLUSTER.into(),
        broker_id: 0,
    };
    assert!(routes.unregister_broker(&unregister(B_MASTER, "broker-b")));
    assert_eq!(routes.route("U"), None);
    routes.register_broker(3000, ConnectionId(4), &header("broker-a", A_SLAVE, 0), body(1, &[("T", 4)]));
    assert!(routes.unregister_broker(&unregister(A_MASTER, "broker-a")));
    let new_master = route(vec![queue("broker-a", 4)], vec![group("broker-a", &[(0, A_SLAVE)])]);
    assert_eq!(routes.route("T"), Some(new_master));
    assert!(!routes.unregister_broker(&unregister(A_MASTER, "broker-a")));
}

/// Deleting a topic removes its route everywhere; deleting it in one cluster removes only
/// that cluster's queues; unknown topics and clusters change nothing.
#[test]
fn delete_topic() {
    let mut routes = registered(true);
    let mut other = header("broker-c", "10.0.2.1:10911", 0);
    other.cluster_name = "OtherCluster".into();
    routes.register_broker(0, ConnectionId(5), &other, body(1, &[("T", 1)]));
    assert!(routes.delete_topic_in_cluster("T", "OtherCluster"));
    assert_eq!(routes.route("T").map(|r| r.queue_datas.len()), Some(2));
    assert!(!routes.delete_topic_in_cluster("T", "NoSuchCluster"));
    assert!(routes.delete_topic_in_cluster("U", CLUSTER));
    assert_eq!(routes.route("U"), None);
    assert!(routes.delete_topic("T"));
    assert!(!routes.delete_topic("T"));
    assert_eq!(routes.route("T"), None);
    assert_eq!(routes.topics().topic_list, names(&[]));
    assert_eq!(routes.cluster_info().broker_addr_table.len(), 3);
}

/// Filter servers a broker reports appear in its topics' routes; an empty list clears them.
#[test]
fn filter_servers_in_route() {
    let mut routes = registered(false);
    let a = header("broker-a", A_MASTER, 0);
    let mut with_filters = body(1, &[]);
    with_filters.filter_server_list = vec!["10.0.0.1:30000".into()];
    routes.register_broker(2000, ConnectionId(1), &a, with_filters);
    let table = BTreeMap::from([(A_MASTER.to_owned(), vec!["10.0.0.1:30000".to_owned()])]);
    assert_eq!(routes.route("T").map(|r| r.filter_server_table), Some(table));
    routes.register_broker(3000, ConnectionId(1), &a, body(1, &[]));
    assert_eq!(routes.route("T").map(|r| r.filter_server_table), Some(BTreeMap::new()));
}

/// A topic config whose `topicName` is empty is filed under its table key.
#[test]
fn empty_topic_name_uses_table_key() {
    let mut routes = RouteInfoManager::new();
    let mut nameless = body(1, &[]);
    let config = TopicConfig::new("", 2);
    nameless.topic_config_serialize_wrapper.topic_config_table.insert("K".into(), config);
    routes.register_broker(0, ConnectionId(1), &header("broker-a", A_MASTER, 0), nameless);
    assert_eq!(routes.topics().topic_list, names(&["K"]));
}
