//! Latency fault avoidance (`MQFaultStrategy` and `LatencyFaultToleranceImpl`): after a slow or
//! failed send, the producer avoids that broker for a while, longer the slower it was.
//!
//! Time is an argument (`now_ms`, any monotonic millisecond count), never read here. Where Java
//! shuffles the fault items before sorting them, Petrel sorts them from name order, so the
//! choice of a least-bad broker is the same on every run.

use std::collections::BTreeMap;

use super::queue::MessageQueue;
use super::route::TopicPublishInfo;

/// Latency levels and how long a broker is avoided at each level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultThresholds {
    /// Send latency levels, ascending (ms): a send at least this slow reaches the level.
    pub latency_max_ms: [i64; 7],
    /// How long a broker is avoided after a send at the matching level (ms).
    pub not_available_ms: [i64; 7],
    /// The latency a failed send (isolation) counts as (ms).
    pub isolation_latency_ms: i64,
}

impl FaultThresholds {
    /// The values of Petrel's protocol reference (section 6): {50, 100, 550, 1800, 3000, 5000,
    /// 15000} ms -> avoid {0, 0, 2000, 5000, 6000, 10000, 30000} ms. (They are the values of
    /// RocketMQ 5's client.) A failure counts as 30 s, so it isolates the broker for 30 s.
    pub const REFERENCE: FaultThresholds = FaultThresholds {
        latency_max_ms: [50, 100, 550, 1_800, 3_000, 5_000, 15_000],
        not_available_ms: [0, 0, 2_000, 5_000, 6_000, 10_000, 30_000],
        isolation_latency_ms: 30_000,
    };

    /// RocketMQ 4.9's `MQFaultStrategy`: {50, 100, 550, 1000, 2000, 3000, 15000} ms -> avoid
    /// {0, 0, 30000, 60000, 120000, 180000, 600000} ms; a failure counts as 30 s (10 minutes).
    pub const ROCKETMQ_4_9: FaultThresholds = FaultThresholds {
        latency_max_ms: [50, 100, 550, 1_000, 2_000, 3_000, 15_000],
        not_available_ms: [0, 0, 30_000, 60_000, 120_000, 180_000, 600_000],
        isolation_latency_ms: 30_000,
    };

    /// How long to avoid a broker after a send that took `latency_ms`
    /// (`computeNotAvailableDuration`): the duration of the highest level reached, else 0.
    pub fn not_available_duration_ms(&self, latency_ms: i64) -> i64 {
        self.latency_max_ms
            .iter()
            .zip(self.not_available_ms.iter())
            .rev()
            .find(|(max, _)| latency_ms >= **max)
            .map_or(0, |(_, duration)| *duration)
    }
}

/// RocketMQ 4.9's values: Petrel behaves like the 4.x clients it stands beside (the protocol
/// reference's table is RocketMQ 5's).
impl Default for FaultThresholds {
    fn default() -> Self {
        FaultThresholds::ROCKETMQ_4_9
    }
}

const _: () = assert!(FaultThresholds::REFERENCE.latency_max_ms[0] == 50);

/// What is known about one broker's recent sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FaultItem {
    /// Latency of the last send to it (ms); a failure counts as the isolation latency.
    current_latency_ms: i64,
    /// The broker is available again from this time (ms, the caller's clock).
    available_from_ms: i64,
}

impl FaultItem {
    fn is_available(&self, now_ms: i64) -> bool {
        now_ms >= self.available_from_ms
    }
}

/// Brokers to avoid (`LatencyFaultToleranceImpl`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyFaultTolerance {
    /// Latency levels and avoidance durations.
    thresholds: FaultThresholds,
    /// Broker name -> its last send's latency and when it is available again.
    items: BTreeMap<String, FaultItem>,
    /// Counter that spreads `pick_one_at_least` over the better half (Java's `whichItemWorst`).
    which_item_worst: u32,
}

impl LatencyFaultTolerance {
    /// A tolerance with no fault recorded.
    pub fn new(thresholds: FaultThresholds) -> Self {
        LatencyFaultTolerance { thresholds, items: BTreeMap::new(), which_item_worst: 0 }
    }

    /// Records a send to `broker` that took `latency_ms` (`MQFaultStrategy.updateFaultItem`);
    /// `isolation` marks a failed send, which counts as the isolation latency.
    pub fn update(&mut self, broker: &str, latency_ms: i64, isolation: bool, now_ms: i64) {
        let level_latency_ms = if isolation { self.thresholds.isolation_latency_ms } else { latency_ms };
        let duration_ms = self.thresholds.not_available_duration_ms(level_latency_ms);
        let item = FaultItem { current_latency_ms: latency_ms, available_from_ms: now_ms.saturating_add(duration_ms) };
        self.items.insert(broker.to_owned(), item);
    }

    /// True unless `broker` is inside an avoidance period at `now_ms`.
    pub fn is_available(&self, broker: &str, now_ms: i64) -> bool {
        self.items.get(broker).is_none_or(|item| item.is_available(now_ms))
    }

    /// Forgets `broker`.
    pub fn remove(&mut self, broker: &str) {
        self.items.remove(broker);
    }

    /// A broker to use when every one is avoided (`pickOneAtLeast`): the items sorted available
    /// first, then by lower latency, then by earlier recovery; one of the better half, in turn.
    pub fn pick_one_at_least(&mut self, now_ms: i64) -> Option<String> {
        let mut items: Vec<(&String, &FaultItem)> = self.items.iter().collect();
        items.sort_by_key(|(_, item)| (!item.is_available(now_ms), item.current_latency_ms, item.available_from_ms));
        let half = items.len() / 2;
        if half == 0 {
            return items.first().map(|(name, _)| (*name).clone());
        }
        self.which_item_worst = self.which_item_worst.wrapping_add(1);
        let index = (self.which_item_worst & 0x7FFF_FFFF) as usize % half;
        Some(items[index].0.clone())
    }
}

/// The producer's queue selection with optional latency fault avoidance (`MQFaultStrategy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqFaultStrategy {
    /// Avoid slow and failed brokers (`sendLatencyFaultEnable`, off by default as in Java).
    enabled: bool,
    /// The brokers to avoid.
    tolerance: LatencyFaultTolerance,
}

impl MqFaultStrategy {
    /// A strategy; with `enabled` false it is plain round robin avoiding the last failed broker.
    pub fn new(enabled: bool, thresholds: FaultThresholds) -> Self {
        MqFaultStrategy { enabled, tolerance: LatencyFaultTolerance::new(thresholds) }
    }

    /// Whether fault avoidance is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The fault records.
    pub fn tolerance(&self) -> &LatencyFaultTolerance {
        &self.tolerance
    }

    /// Records a send's latency (and failure) when avoidance is on.
    pub fn update_fault_item(&mut self, broker: &str, latency_ms: i64, isolation: bool, now_ms: i64) {
        if self.enabled {
            self.tolerance.update(broker, latency_ms, isolation, now_ms);
        }
    }

    /// The queue for the next attempt (`MQFaultStrategy.selectOneMessageQueue`, RocketMQ 4.9).
    /// Off: round robin avoiding `last_broker`. On: the next queue in round robin on an
    /// available broker; if none is, a queue of the least-bad broker; failing that, round robin.
    pub fn select_one_message_queue(
        &mut self,
        info: &mut TopicPublishInfo,
        last_broker: Option<&str>,
        now_ms: i64,
    ) -> Option<MessageQueue> {
        if !self.enabled {
            return info.select_one_message_queue(last_broker);
        }
        let count = info.message_queues().len();
        if count == 0 {
            return None;
        }
        let start = info.next_index();
        for step in 0..count {
            let queue = info.queue_at(start.wrapping_add(step as u32) & 0x7FFF_FFFF);
            if self.tolerance.is_available(&queue.broker_name, now_ms) {
                return Some(queue);
            }
        }
        self.least_bad_queue(info, now_ms).or_else(|| info.select_one_message_queue(None))
    }

    fn least_bad_queue(&mut self, info: &mut TopicPublishInfo, now_ms: i64) -> Option<MessageQueue> {
        let broker = self.tolerance.pick_one_at_least(now_ms)?;
        let write_queue_nums = info.write_queue_nums(&broker);
        if write_queue_nums <= 0 {
            self.tolerance.remove(&broker);
            return None;
        }
        // Java takes the next queue and renames its broker; the queue id comes from the counter.
        info.select_one_message_queue(None)?;
        let queue_id = (info.next_index() % write_queue_nums.unsigned_abs()) as i32;
        Some(MessageQueue::new(info.topic(), broker, queue_id))
    }
}

#[cfg(test)]
#[path = "fault_tests.rs"]
mod tests;
