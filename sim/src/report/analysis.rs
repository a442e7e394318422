//! One pass over a history: the counts, publish and delivery latency percentiles, throughput
//! series, fault intervals and phase marks that every report file is rendered from.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::history::{AckStatus, CrashKind, History, Op, Processing};

use super::RunMeta;

/// At most this many throughput buckets: past this many simulated seconds, a bucket spans a
/// whole number of seconds instead of one, so the series (and the plot) stay bounded.
pub(super) const MAX_BUCKETS: u64 = 10_000;

/// Significant decimal digits kept by the latency histogram: exact up to 32.768 ms, within
/// 0.01% above.
const LATENCY_SIGFIG: u8 = 4;

/// What a report says about a run, derived from its meta and history.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Analysis {
    /// The end of the run in simulated ms: `RunMeta::sim_ms`, or the latest event if later.
    pub end_ms: u64,
    /// Event counts.
    pub counts: Counts,
    /// Publish latency percentiles; `None` when no send was acknowledged.
    pub latency: Option<Latency>,
    /// Delivery latency percentiles: from the broker's store time of a message to the moment a
    /// consumer's listener was handed it, over the deliveries answered `Success`; `None`
    /// without such a delivery or without `RunStarted` (which places store times in the run).
    pub delivery_latency: Option<Latency>,
    /// Acknowledgements and successful deliveries per bucket of simulated time.
    pub throughput: Throughput,
    /// Fault, crash and stop intervals, by start time (then history order).
    pub intervals: Vec<Interval>,
    /// Every crash, in history order.
    pub crashes: Vec<CrashMark>,
    /// When `FaultsHealed` was recorded (normally once).
    pub healed_ms: Vec<u64>,
    /// When `ProducersStopped` was recorded (normally once).
    pub producers_stopped_ms: Vec<u64>,
}

/// Event counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct Counts {
    /// Sends and their outcomes.
    pub sends: SendCounts,
    /// Deliveries to consumers' listeners.
    pub deliveries: DeliveryCounts,
    /// `OffsetCommitted` events.
    pub offset_commits: u64,
    /// Rebalances that changed a consumer's queues.
    pub rebalances: u64,
    /// Faults, crashes and clean stops.
    pub faults: FaultCounts,
}

/// Sends and their outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct SendCounts {
    /// `SendInvoke` events.
    pub invoked: u64,
    /// `SendOk` events.
    pub ok: u64,
    /// `SendOk` events by acknowledgement status.
    pub ok_by_status: OkByStatus,
    /// `SendFailed` events.
    pub failed: u64,
    /// `SendUnknown` events.
    pub unknown: u64,
    /// Distinct invoked messages with no result at all (still in flight when the history ends).
    pub unanswered: u64,
}

/// Acknowledged sends by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct OkByStatus {
    /// `AckStatus::SendOk`.
    pub send_ok: u64,
    /// `AckStatus::FlushDiskTimeout`.
    pub flush_disk_timeout: u64,
    /// `AckStatus::Other`.
    pub other: u64,
}

/// Deliveries to consumers' listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct DeliveryCounts {
    /// `Consumed` events.
    pub total: u64,
    /// Those the listener answered `Success`.
    pub success: u64,
    /// Those the listener answered `Later`.
    pub later: u64,
    /// Those whose body carried no message id (not written by the workload).
    pub foreign: u64,
    /// Distinct message ids consumed successfully at least once (by any consumer).
    pub distinct_consumed: u64,
}

/// Faults, crashes and clean stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct FaultCounts {
    /// `FaultStarted` events.
    pub started: u64,
    /// `FaultEnded` events.
    pub ended: u64,
    /// `FaultStarted` events by fault name.
    pub by_name: BTreeMap<String, u64>,
    /// `NodeCrashed` events.
    pub crashes: u64,
    /// Crashes by kind (`kill`, `power_loss`).
    pub crashes_by_kind: CrashesByKind,
    /// `NodeStopped` events.
    pub clean_stops: u64,
    /// `NodeStarted` events (first starts and restarts).
    pub node_starts: u64,
    /// `NodeStartFailed` events.
    pub start_failures: u64,
}

/// Crashes by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct CrashesByKind {
    /// Process kills.
    pub kill: u64,
    /// Power losses.
    pub power_loss: u64,
}

/// Latency percentiles (nearest rank, from an HDR histogram), in simulated µs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Latency {
    /// How many samples (acknowledged sends, or successful deliveries) were measured.
    pub samples: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// The largest latency (exact).
    pub max: u64,
}

/// Acknowledgements and successful deliveries per bucket of simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Throughput {
    /// Width of a bucket, simulated ms (1000 unless the run is longer than `MAX_BUCKETS` s).
    pub bucket_ms: u64,
    /// The buckets from time 0, back to back, up to the end of the run.
    pub buckets: Vec<Bucket>,
}

/// One bucket of the throughput series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Bucket {
    /// Its start, simulated ms.
    pub start_ms: u64,
    /// `SendOk` events in it.
    pub acks: u64,
    /// `Consumed` events answered `Success` in it.
    pub deliveries: u64,
}

/// What kind of trouble an interval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum IntervalKind {
    /// A `FaultStarted` until the matching `FaultEnded`.
    Fault,
    /// A `NodeCrashed` until the node's next `NodeStarted`.
    Crash,
    /// A `NodeStopped` until the node's next `NodeStarted`.
    Stop,
    /// A `NodeStartFailed` of a node that was not already down after a crash or stop, until
    /// its next `NodeStarted`.
    StartFailed,
}

/// A stretch of simulated time during which a fault was active or a node was down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Interval {
    /// What it is.
    pub kind: IntervalKind,
    /// The fault's name; `kill` or `power_loss` for a crash; `stop` for a clean stop;
    /// `start_failed` for a failed start.
    pub name: String,
    /// The nodes affected.
    pub nodes: Vec<String>,
    /// When it began, simulated ms.
    pub start_ms: u64,
    /// When it ended, simulated ms; `None` when it was still open at the end of the history.
    pub end_ms: Option<u64>,
    /// Index of its start event in the history (orders intervals that start together).
    #[serde(skip)]
    pub order: usize,
}

/// A crash instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CrashMark {
    /// When, simulated ms.
    pub at_ms: u64,
    /// The node.
    pub node: String,
    /// How it went down.
    pub kind: CrashKind,
}

/// The name of a crash kind as written in reports (the history's serde name).
pub(super) fn crash_kind_name(kind: CrashKind) -> &'static str {
    match kind {
        CrashKind::Kill => "kill",
        CrashKind::PowerLoss => "power_loss",
    }
}

impl Analysis {
    /// Analyses `history` (one pass, in history order).
    pub(super) fn of(meta: &RunMeta, history: &History) -> Analysis {
        let end_ms = history.events.iter().map(|event| event.at_ms).fold(meta.sim_ms, u64::max);
        let mut counts = Counts::default();
        let mut invoked = BTreeSet::new();
        let mut answered = BTreeSet::new();
        let mut consumed = BTreeSet::new();
        let mut latencies = Vec::new();
        // (store timestamp, received ms) of each successful delivery, and the run's epoch.
        let (mut stored_received, mut epoch_ms) = (Vec::new(), None);
        let mut acks_at = Vec::new();
        let mut deliveries_at = Vec::new();
        let mut tracker = IntervalTracker::default();
        let mut crashes = Vec::new();
        let mut healed_ms = Vec::new();
        let mut producers_stopped_ms = Vec::new();

        for (index, event) in history.events.iter().enumerate() {
            let at_ms = event.at_ms;
            match &event.op {
                Op::RunStarted { epoch_ms: epoch } => epoch_ms = Some(*epoch),
                Op::SendInvoke { id, .. } => {
                    counts.sends.invoked += 1;
                    invoked.insert(*id);
                }
                Op::SendOk { id, status, latency_us, .. } => {
                    counts.sends.ok += 1;
                    let by_status = &mut counts.sends.ok_by_status;
                    match status {
                        AckStatus::SendOk => by_status.send_ok += 1,
                        AckStatus::FlushDiskTimeout => by_status.flush_disk_timeout += 1,
                        AckStatus::Other => by_status.other += 1,
                    }
                    answered.insert(*id);
                    latencies.push(*latency_us);
                    acks_at.push(at_ms);
                }
                Op::SendFailed { id, .. } => {
                    counts.sends.failed += 1;
                    answered.insert(*id);
                }
                Op::SendUnknown { id, .. } => {
                    counts.sends.unknown += 1;
                    answered.insert(*id);
                }
                Op::Consumed { id, result, store_timestamp, received_ms, .. } => {
                    let deliveries = &mut counts.deliveries;
                    deliveries.total += 1;
                    match result {
                        Processing::Success => {
                            deliveries.success += 1;
                            deliveries_at.push(at_ms);
                            stored_received.push((*store_timestamp, *received_ms));
                            if let Some(id) = id {
                                consumed.insert(*id);
                            }
                        }
                        Processing::Later => deliveries.later += 1,
                    }
                    if id.is_none() {
                        deliveries.foreign += 1;
                    }
                }
                Op::OffsetCommitted { .. } => counts.offset_commits += 1,
                Op::Rebalanced { .. } => counts.rebalances += 1,
                Op::NodeStarted { node, .. } => {
                    counts.faults.node_starts += 1;
                    tracker.node_started(node, at_ms);
                }
                Op::NodeStartFailed { node, .. } => {
                    counts.faults.start_failures += 1;
                    tracker.node_start_failed(node, at_ms, index);
                }
                Op::NodeStopped { node, .. } => {
                    counts.faults.clean_stops += 1;
                    tracker.node_stopped(node, at_ms, index);
                }
                Op::NodeCrashed { node, kind, .. } => {
                    let faults = &mut counts.faults;
                    faults.crashes += 1;
                    match kind {
                        CrashKind::Kill => faults.crashes_by_kind.kill += 1,
                        CrashKind::PowerLoss => faults.crashes_by_kind.power_loss += 1,
                    }
                    tracker.node_crashed(node, *kind, at_ms, index);
                    crashes.push(CrashMark { at_ms, node: node.clone(), kind: *kind });
                }
                Op::FaultStarted { fault, nodes } => {
                    counts.faults.started += 1;
                    *counts.faults.by_name.entry(fault.clone()).or_insert(0) += 1;
                    tracker.fault_started(fault, nodes, at_ms, index);
                }
                Op::FaultEnded { fault, nodes } => {
                    counts.faults.ended += 1;
                    tracker.fault_ended(fault, nodes, at_ms);
                }
                Op::FaultsHealed => healed_ms.push(at_ms),
                Op::ProducersStopped => producers_stopped_ms.push(at_ms),
                Op::RunEnded => {}
            }
        }

        counts.sends.unanswered = count(invoked.difference(&answered).count());
        counts.deliveries.distinct_consumed = count(consumed.len());
        Analysis {
            end_ms,
            counts,
            latency: latency(&latencies),
            delivery_latency: epoch_ms.and_then(|epoch_ms| latency(&delivery_latencies_us(epoch_ms, &stored_received))),
            throughput: throughput(end_ms, &acks_at, &deliveries_at),
            intervals: tracker.finish(),
            crashes,
            healed_ms,
            producers_stopped_ms,
        }
    }
}

/// A collection size as a count.
fn count(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Microseconds from each store time (`store_timestamp`, epoch ms) to its reception
/// (`received_ms`, run ms), with the run's time 0 at `epoch_ms`. A store time after the
/// reception (a broker clock ahead of the run's) counts as 0.
pub(super) fn delivery_latencies_us(epoch_ms: i64, stored_received: &[(i64, u64)]) -> Vec<u64> {
    stored_received
        .iter()
        .map(|(store_timestamp, received_ms)| {
            let stored_ms = i128::from(*store_timestamp) - i128::from(epoch_ms);
            let ms = (i128::from(*received_ms) - stored_ms).max(0);
            u64::try_from(ms.saturating_mul(1000)).unwrap_or(u64::MAX)
        })
        .collect()
}

/// Percentiles of `latencies_us`; `None` when there are none.
///
/// Nearest rank over an HDR histogram with [`LATENCY_SIGFIG`] digits, reporting the highest
/// value equivalent to the rank's bucket, never above the exact maximum.
pub(super) fn latency(latencies_us: &[u64]) -> Option<Latency> {
    let max = latencies_us.iter().copied().max()?;
    // The histogram's bounds: it must track at least [1, 2] and at most u64::MAX / 2.
    let high = max.clamp(2, u64::MAX / 2);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, high, LATENCY_SIGFIG).ok()?;
    for &value in latencies_us {
        // Within bounds by construction; anything above `high` is counted at `high`.
        histogram.saturating_record(value);
    }
    let at = |quantile: f64| histogram.value_at_quantile(quantile).min(max);
    Some(Latency {
        samples: count(latencies_us.len()),
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p99_9: at(0.999),
        max,
    })
}

/// The throughput series: buckets of one simulated second from 0 (wider when the run is longer
/// than [`MAX_BUCKETS`] seconds) covering the run up to `end_ms` and every given event time.
pub(super) fn throughput(end_ms: u64, acks_at: &[u64], deliveries_at: &[u64]) -> Throughput {
    let latest = acks_at.iter().chain(deliveries_at).copied().fold(end_ms, u64::max);
    let seconds = latest / 1000 + 1;
    let bucket_ms = seconds.div_ceil(MAX_BUCKETS).max(1).saturating_mul(1000);
    let mut len = end_ms.div_ceil(bucket_ms);
    for &at_ms in acks_at.iter().chain(deliveries_at) {
        len = len.max(at_ms / bucket_ms + 1);
    }
    // `len` is at most MAX_BUCKETS + 1 by the choice of `bucket_ms`.
    let mut buckets: Vec<Bucket> =
        (0..len).map(|index| Bucket { start_ms: index.saturating_mul(bucket_ms), acks: 0, deliveries: 0 }).collect();
    for &at_ms in acks_at {
        if let Some(bucket) = usize::try_from(at_ms / bucket_ms).ok().and_then(|index| buckets.get_mut(index)) {
            bucket.acks += 1;
        }
    }
    for &at_ms in deliveries_at {
        if let Some(bucket) = usize::try_from(at_ms / bucket_ms).ok().and_then(|index| buckets.get_mut(index)) {
            bucket.deliveries += 1;
        }
    }
    Throughput { bucket_ms, buckets }
}

/// A fault's identity for pairing its start with its end: its name and nodes.
type FaultKey = (String, Vec<String>);

/// Where an interval opened: simulated ms and the index of the event in the history.
type Opened = (u64, usize);

/// Pairs starts with ends while the history is read.
#[derive(Debug, Default)]
struct IntervalTracker {
    /// Faults started and not yet ended, by (name, nodes), oldest first.
    open_faults: BTreeMap<FaultKey, VecDeque<Opened>>,
    /// Crashed nodes not yet restarted: when, the event's index, and how.
    open_crashes: BTreeMap<String, (u64, usize, CrashKind)>,
    /// Cleanly stopped nodes not yet restarted: when and the event's index.
    open_stops: BTreeMap<String, Opened>,
    /// Nodes whose start failed while up (not after a crash or stop), not yet started: when
    /// and the event's index.
    open_failed_starts: BTreeMap<String, Opened>,
    /// Intervals closed so far.
    closed: Vec<Interval>,
}

impl IntervalTracker {
    /// A fault began.
    fn fault_started(&mut self, fault: &str, nodes: &[String], at_ms: u64, index: usize) {
        self.open_faults.entry((fault.to_owned(), nodes.to_vec())).or_default().push_back((at_ms, index));
    }

    /// A fault ended: closes the oldest open fault with the same name and nodes (an end with
    /// no start is ignored here; it is still counted and shown in the timeline).
    fn fault_ended(&mut self, fault: &str, nodes: &[String], at_ms: u64) {
        let key = (fault.to_owned(), nodes.to_vec());
        let Some(open) = self.open_faults.get_mut(&key) else {
            return;
        };
        if let Some((start_ms, order)) = open.pop_front() {
            self.closed.push(Interval {
                kind: IntervalKind::Fault,
                name: key.0.clone(),
                nodes: key.1.clone(),
                start_ms,
                end_ms: Some(at_ms),
                order,
            });
        }
        if open.is_empty() {
            self.open_faults.remove(&key);
        }
    }

    /// A node crashed; a crash of a node already down keeps the earlier interval open.
    fn node_crashed(&mut self, node: &str, kind: CrashKind, at_ms: u64, index: usize) {
        self.open_crashes.entry(node.to_owned()).or_insert((at_ms, index, kind));
    }

    /// A node stopped cleanly; a stop of a node already stopped keeps the earlier interval.
    fn node_stopped(&mut self, node: &str, at_ms: u64, index: usize) {
        self.open_stops.entry(node.to_owned()).or_insert((at_ms, index));
    }

    /// A node's start failed: it stays down. After a crash or a stop its open interval already
    /// covers this; otherwise a `StartFailed` interval opens.
    fn node_start_failed(&mut self, node: &str, at_ms: u64, index: usize) {
        if !self.open_crashes.contains_key(node) && !self.open_stops.contains_key(node) {
            self.open_failed_starts.entry(node.to_owned()).or_insert((at_ms, index));
        }
    }

    /// A node started: closes its crash, stop and failed-start intervals.
    fn node_started(&mut self, node: &str, at_ms: u64) {
        if let Some((start_ms, order, kind)) = self.open_crashes.remove(node) {
            self.closed.push(crash_interval(node, kind, start_ms, Some(at_ms), order));
        }
        if let Some((start_ms, order)) = self.open_stops.remove(node) {
            self.closed.push(stop_interval(node, start_ms, Some(at_ms), order));
        }
        if let Some((start_ms, order)) = self.open_failed_starts.remove(node) {
            self.closed.push(failed_start_interval(node, start_ms, Some(at_ms), order));
        }
    }

    /// Every interval, the open ones running to the end, ordered by start then history order.
    fn finish(self) -> Vec<Interval> {
        let mut intervals = self.closed;
        for ((fault, nodes), open) in self.open_faults {
            for (start_ms, order) in open {
                intervals.push(Interval {
                    kind: IntervalKind::Fault,
                    name: fault.clone(),
                    nodes: nodes.clone(),
                    start_ms,
                    end_ms: None,
                    order,
                });
            }
        }
        for (node, (start_ms, order, kind)) in self.open_crashes {
            intervals.push(crash_interval(&node, kind, start_ms, None, order));
        }
        for (node, (start_ms, order)) in self.open_stops {
            intervals.push(stop_interval(&node, start_ms, None, order));
        }
        for (node, (start_ms, order)) in self.open_failed_starts {
            intervals.push(failed_start_interval(&node, start_ms, None, order));
        }
        intervals.sort_by_key(|interval| (interval.start_ms, interval.order));
        intervals
    }
}

/// The interval a node spent down after a crash.
fn crash_interval(node: &str, kind: CrashKind, start_ms: u64, end_ms: Option<u64>, order: usize) -> Interval {
    Interval {
        kind: IntervalKind::Crash,
        name: crash_kind_name(kind).to_owned(),
        nodes: vec![node.to_owned()],
        start_ms,
        end_ms,
        order,
    }
}

/// The interval a node spent down after a clean stop.
fn stop_interval(node: &str, start_ms: u64, end_ms: Option<u64>, order: usize) -> Interval {
    Interval {
        kind: IntervalKind::Stop,
        name: "stop".to_owned(),
        nodes: vec![node.to_owned()],
        start_ms,
        end_ms,
        order,
    }
}

/// The interval a node spent down after a failed start.
fn failed_start_interval(node: &str, start_ms: u64, end_ms: Option<u64>, order: usize) -> Interval {
    Interval {
        kind: IntervalKind::StartFailed,
        name: "start_failed".to_owned(),
        nodes: vec![node.to_owned()],
        start_ms,
        end_ms,
        order,
    }
}
