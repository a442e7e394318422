use std::collections::BTreeMap;

use super::*;
use crate::protocol::{perm, BrokerData, QueueData, TopicRouteData, MASTER_ID};

fn two_broker_info() -> TopicPublishInfo {
    let queue_data = |broker: &str| QueueData {
        broker_name: broker.into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: perm::READ_WRITE,
        topic_sys_flag: 0,
    };
    let broker_data = |broker: &str| BrokerData {
        cluster: "c".into(),
        broker_name: broker.into(),
        broker_addrs: BTreeMap::from([(MASTER_ID, format!("{broker}:10911"))]),
    };
    let route = TopicRouteData {
        order_topic_conf: None,
        queue_datas: vec![queue_data("a"), queue_data("b")],
        broker_datas: vec![broker_data("a"), broker_data("b")],
        filter_server_table: BTreeMap::new(),
    };
    TopicPublishInfo::from_route("T", &route)
}

/// Each threshold maps to its avoidance, for both tables, as `computeNotAvailableDuration`.
#[test]
fn durations_follow_the_thresholds() {
    let reference = FaultThresholds::REFERENCE;
    let cases = [
        (0, 0),
        (49, 0),
        (50, 0),
        (100, 0),
        (549, 0),
        (550, 2_000),
        (1_800, 5_000),
        (2_999, 5_000),
        (3_000, 6_000),
        (5_000, 10_000),
        (15_000, 30_000),
        (i64::MAX, 30_000),
    ];
    for (latency, duration) in cases {
        assert_eq!(reference.not_available_duration_ms(latency), duration, "latency {latency}");
    }
    let java = FaultThresholds::ROCKETMQ_4_9;
    let cases = [(549, 0), (550, 30_000), (1_000, 60_000), (2_000, 120_000), (3_000, 180_000), (15_000, 600_000)];
    for (latency, duration) in cases {
        assert_eq!(java.not_available_duration_ms(latency), duration, "latency {latency}");
    }
}

/// A slow send avoids the broker for its level's duration, a failure for the isolation one.
#[test]
fn update_and_availability() {
    let mut tolerance = LatencyFaultTolerance::new(FaultThresholds::REFERENCE);
    assert!(tolerance.is_available("a", 0));
    tolerance.update("a", 600, false, 1_000);
    assert!(!tolerance.is_available("a", 2_999));
    assert!(tolerance.is_available("a", 3_000));
    tolerance.update("b", 5, true, 1_000);
    assert!(!tolerance.is_available("b", 30_999));
    assert!(tolerance.is_available("b", 31_000));
    tolerance.update("b", 5, false, 1_000);
    assert!(tolerance.is_available("b", 1_000), "a fast send clears the avoidance");
    tolerance.remove("a");
    assert!(tolerance.is_available("a", 0));
}

/// The least-bad pick prefers available, then faster, then sooner-recovering brokers, and
/// turns over the better half.
#[test]
fn pick_one_at_least_order() {
    let mut tolerance = LatencyFaultTolerance::new(FaultThresholds::REFERENCE);
    assert_eq!(tolerance.pick_one_at_least(0), None);
    tolerance.update("slow", 4_000, false, 0);
    assert_eq!(tolerance.pick_one_at_least(0).as_deref(), Some("slow"));
    tolerance.update("failed", 10, true, 0);
    tolerance.update("fast", 600, false, 0);
    tolerance.update("worst", 20_000, false, 0);
    // Sorted: failed (10 ms), fast (600), slow (4000), worst (20000); half = 2.
    let picks: Vec<_> = (0..4).map(|_| tolerance.pick_one_at_least(0).expect("items exist")).collect();
    assert_eq!(picks, ["fast", "failed", "fast", "failed"]);
    // At 6 s "fast" and "slow" are available again and make the better half.
    assert_eq!(tolerance.pick_one_at_least(6_000).as_deref(), Some("slow"));
    assert_eq!(tolerance.pick_one_at_least(6_000).as_deref(), Some("fast"));
}

/// Disabled: plain round robin avoiding the last broker; updates are ignored.
#[test]
fn disabled_strategy_is_round_robin() {
    let mut strategy = MqFaultStrategy::new(false, FaultThresholds::REFERENCE);
    let mut info = two_broker_info();
    strategy.update_fault_item("a", 0, true, 0);
    assert!(strategy.tolerance().is_available("a", 0));
    let first = strategy.select_one_message_queue(&mut info, None, 0);
    assert_eq!(first, Some(MessageQueue::new("T", "a", 0)));
    let retry = strategy.select_one_message_queue(&mut info, Some("b"), 0);
    assert_eq!(retry, Some(MessageQueue::new("T", "a", 1)));
    let retry = strategy.select_one_message_queue(&mut info, Some("a"), 0);
    assert_eq!(retry, Some(MessageQueue::new("T", "b", 0)));
}

/// Enabled: an isolated broker is skipped until it recovers; when every broker is avoided a
/// queue of the least-bad one is used.
#[test]
fn enabled_strategy_skips_isolated_brokers() {
    let mut strategy = MqFaultStrategy::new(true, FaultThresholds::REFERENCE);
    let mut info = two_broker_info();
    strategy.update_fault_item("a", 0, true, 0);
    let picks: Vec<_> =
        (0..3).map(|_| strategy.select_one_message_queue(&mut info, None, 10).expect("queue")).collect();
    assert!(picks.iter().all(|q| q.broker_name == "b"), "{picks:?}");
    let after = strategy.select_one_message_queue(&mut info, None, 30_000);
    assert_eq!(after, Some(MessageQueue::new("T", "b", 1)), "index 3 is b/1");
    let next = strategy.select_one_message_queue(&mut info, None, 30_000);
    assert_eq!(next, Some(MessageQueue::new("T", "a", 0)), "a is back");

    strategy.update_fault_item("b", 20_000, false, 0);
    let forced = strategy.select_one_message_queue(&mut info, None, 10).expect("queue");
    assert_eq!(forced.topic, "T");
    assert!(forced.queue_id >= 0 && forced.queue_id < 2, "{forced:?}");
}
