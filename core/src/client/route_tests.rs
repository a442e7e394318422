use std::collections::BTreeMap;

use super::*;
use crate::protocol::{BrokerData, QueueData, MASTER_ID};

fn queue_data(broker: &str, write: i32, perm: i32) -> QueueData {
    QueueData { broker_name: broker.into(), read_queue_nums: 8, write_queue_nums: write, perm, topic_sys_flag: 0 }
}

fn broker_data(broker: &str, ids: &[i64]) -> BrokerData {
    BrokerData {
        cluster: "DefaultCluster".into(),
        broker_name: broker.into(),
        broker_addrs: ids.iter().map(|id| (*id, format!("{broker}-{id}:10911"))).collect(),
    }
}

/// broker-b (2 queues) listed before broker-a (3 queues), a read-only broker-c, and broker-d
/// without a master.
fn route() -> TopicRouteData {
    TopicRouteData {
        order_topic_conf: None,
        queue_datas: vec![
            queue_data("broker-b", 2, perm::READ_WRITE),
            queue_data("broker-a", 3, perm::READ_WRITE),
            queue_data("broker-c", 4, perm::READ),
            queue_data("broker-d", 4, perm::READ_WRITE),
        ],
        broker_datas: vec![
            broker_data("broker-a", &[MASTER_ID, 1]),
            broker_data("broker-b", &[MASTER_ID]),
            broker_data("broker-c", &[MASTER_ID]),
            broker_data("broker-d", &[1]),
        ],
        filter_server_table: BTreeMap::new(),
    }
}

fn names(queues: &[MessageQueue]) -> Vec<(String, i32)> {
    queues.iter().map(|q| (q.broker_name.clone(), q.queue_id)).collect()
}

fn pairs(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|(b, q)| ((*b).to_owned(), *q)).collect()
}

/// Only writable queues of groups with a master, sorted by broker name, ids ascending.
#[test]
fn queues_follow_rocketmq_order() {
    let info = TopicPublishInfo::from_route("T", &route());
    assert!(info.ok() && !info.is_order_topic());
    assert_eq!(
        names(info.message_queues()),
        pairs(&[("broker-a", 0), ("broker-a", 1), ("broker-a", 2), ("broker-b", 0), ("broker-b", 1)])
    );
    assert!(info.message_queues().iter().all(|q| q.topic == "T"));
    assert_eq!(info.master_addr("broker-a"), Some("broker-a-0:10911"));
    assert_eq!(info.master_addr("broker-d"), None);
    assert_eq!(info.write_queue_nums("broker-b"), 2);
    assert_eq!(info.write_queue_nums("broker-x"), -1);
}

/// An `orderTopicConf` lists the queues itself; malformed items are skipped.
#[test]
fn order_topic_conf_lists_queues() {
    let mut route = route();
    route.order_topic_conf = Some("broker-b:2;bad;broker-a:1;broker-c:x".into());
    let info = TopicPublishInfo::from_route("T", &route);
    assert!(info.is_order_topic());
    assert_eq!(names(info.message_queues()), pairs(&[("broker-b", 0), ("broker-b", 1), ("broker-a", 0)]));
}

/// Round robin walks the queues in order and wraps.
#[test]
fn round_robin_walks_every_queue() {
    let mut info = TopicPublishInfo::from_route("T", &route());
    let picked: Vec<_> = (0..6).map(|_| info.select_one_message_queue(None).expect("queues exist")).collect();
    assert_eq!(
        names(&picked),
        pairs(&[("broker-a", 0), ("broker-a", 1), ("broker-a", 2), ("broker-b", 0), ("broker-b", 1), ("broker-a", 0)])
    );
}

/// After a failure on broker-a the next pick skips broker-a's queues; with only one broker,
/// its queue is still picked.
#[test]
fn selection_avoids_the_last_failed_broker() {
    let mut info = TopicPublishInfo::from_route("T", &route());
    let first = info.select_one_message_queue(None).expect("queues exist");
    assert_eq!(first.broker_name, "broker-a");
    let retry = info.select_one_message_queue(Some("broker-a")).expect("queues exist");
    assert_eq!((retry.broker_name.as_str(), retry.queue_id), ("broker-b", 0));

    let mut single = route();
    single.queue_datas.retain(|q| q.broker_name == "broker-a");
    let mut info = TopicPublishInfo::from_route("T", &single);
    let retry = info.select_one_message_queue(Some("broker-a"));
    assert_eq!(retry.map(|q| q.broker_name), Some("broker-a".to_owned()));
}

/// An empty route gives no queue and no selection.
#[test]
fn empty_route_selects_nothing() {
    let mut info = TopicPublishInfo::from_route("T", &TopicRouteData::default());
    assert!(!info.ok());
    assert_eq!(info.select_one_message_queue(None), None);
    assert_eq!(info.select_one_message_queue(Some("broker-a")), None);
}

/// The TBW102 route is cut to the producer's default queue count, never above the broker's.
#[test]
fn default_route_cuts_queue_counts() {
    let mut tbw102 = route();
    tbw102.queue_datas[0].read_queue_nums = 2;
    let route = default_route(&tbw102, DEFAULT_TOPIC_QUEUE_NUMS);
    let counts: Vec<(i32, i32)> = route.queue_datas.iter().map(|q| (q.read_queue_nums, q.write_queue_nums)).collect();
    assert_eq!(counts, [(2, 2), (4, 4), (4, 4), (4, 4)]);
}
