//! The facts every checker reads, gathered from a history in one pass: sends and their
//! outcomes, acknowledgements, deliveries, offset commits, brokers' power losses, and where the
//! disruptions (crashes, starts, failed starts, stops, faults) fall.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{CheckConfig, GroupModel};
use crate::history::{AckStatus, CrashKind, History, MsgId, Op, Processing, QueueRef, Role};

/// How long after a queue changes hands its old owner may still hold it: the push consumer's
/// rebalance interval (20 s), after which every member has rebalanced again.
const HANDOVER_MS: u64 = 20_000;

/// A power loss and how far consumers had got in each queue of its broker before it.
type ReuseMark<'a> = (Stamp, BTreeMap<&'a QueueRef, i64>);

/// From when two or more consumers held a queue, to when that ended (`None`: still at the end).
type SharedInterval = (u64, Option<u64>);

/// Where an event sits in the history: its position in the event list and its simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stamp {
    /// Index in `History::events`.
    pub(super) index: usize,
    /// Simulated milliseconds since the run began.
    pub(super) at_ms: u64,
}

/// How a send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `SendOk`.
    Ok,
    /// `SendFailed`: certainly not stored.
    Failed,
    /// `SendUnknown`: maybe stored.
    Unknown,
}

/// A `SendOk` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack<'a> {
    /// The message.
    pub(super) id: MsgId,
    /// When it was acknowledged.
    pub(super) stamp: Stamp,
    /// Where it was stored.
    pub(super) queue: &'a QueueRef,
    /// `queue`'s place among the history's queues (see `Ranks`).
    pub(super) queue_rank: u32,
    /// Its queue offset.
    pub(super) offset: i64,
    /// The acknowledgement's status.
    pub(super) status: AckStatus,
}

/// A `Consumed` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivery<'a> {
    /// When the listener answered.
    pub(super) stamp: Stamp,
    /// The consumer node.
    pub(super) consumer: &'a str,
    /// Its group.
    pub(super) group: &'a str,
    /// The message, when the body carried an id.
    pub(super) id: Option<MsgId>,
    /// The queue it came from.
    pub(super) queue: &'a QueueRef,
    /// `queue`'s place among the history's queues (see `Ranks`).
    pub(super) queue_rank: u32,
    /// `consumer`'s place among the history's consumers (see `Ranks`).
    pub(super) consumer_rank: u32,
    /// Its queue offset.
    pub(super) offset: i64,
    /// When the listener was handed it (the event's time is when it answered).
    pub(super) received_ms: u64,
    /// The listener's answer.
    pub(super) result: Processing,
}

/// An `OffsetCommitted` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Commit<'a> {
    /// When it was committed.
    pub(super) stamp: Stamp,
    /// The consumer node.
    pub(super) consumer: &'a str,
    /// Its group.
    pub(super) group: &'a str,
    /// The queue.
    pub(super) queue: &'a QueueRef,
    /// The committed offset.
    pub(super) offset: i64,
}

/// Whether an acknowledged message must be consumed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Promise<'a> {
    /// It must: this acknowledgement is not excused by any power loss.
    Kept(Ack<'a>),
    /// Every acknowledgement of it is excused by a power loss.
    Excused,
}

/// Whose deliveries and offsets are judged together: a clustering group, or one consumer of a
/// broadcasting group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Scope<'a> {
    /// The group.
    pub(super) group: &'a str,
    /// The consumer, for a broadcasting group.
    pub(super) consumer: Option<&'a str>,
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.consumer {
            None => write!(f, "group {}", self.group),
            Some(consumer) => write!(f, "consumer {consumer} of broadcasting group {}", self.group),
        }
    }
}

/// Small numbers for the history's queues and consumers, given in their own order: keys made
/// of them sort as keys made of the names would, and compare without comparing strings (the
/// checkers' maps are keyed per delivery).
struct Ranks<'a> {
    /// Sorted; a queue's rank is its place here.
    queues: Vec<&'a QueueRef>,
    /// Sorted; a consumer's rank is its place here.
    consumers: Vec<&'a str>,
}

impl<'a> Ranks<'a> {
    fn of(history: &'a History) -> Ranks<'a> {
        let (mut queues, mut consumers) = (BTreeSet::new(), BTreeSet::new());
        for event in &history.events {
            match &event.op {
                Op::SendOk { queue, .. } => {
                    queues.insert(queue);
                }
                Op::Consumed { consumer, queue, .. } => {
                    queues.insert(queue);
                    consumers.insert(consumer.as_str());
                }
                _ => {}
            }
        }
        Ranks { queues: queues.into_iter().collect(), consumers: consumers.into_iter().collect() }
    }

    /// A run has a few dozen queues and consumers at most: a scan that tests the queue id
    /// first finds one faster than a search that compares names.
    fn queue(&self, queue: &QueueRef) -> u32 {
        let at = self.queues.iter().position(|known| {
            known.queue_id == queue.queue_id && known.broker == queue.broker && known.topic == queue.topic
        });
        at.and_then(|at| u32::try_from(at).ok()).unwrap_or(u32::MAX)
    }

    fn consumer(&self, consumer: &str) -> u32 {
        let at = self.consumers.iter().position(|known| *known == consumer);
        at.and_then(|at| u32::try_from(at).ok()).unwrap_or(u32::MAX)
    }
}

/// A history gathered for the checkers.
#[derive(Debug)]
pub(super) struct Index<'a> {
    /// The scenario's promises.
    pub(super) config: &'a CheckConfig,
    /// The first `SendInvoke` of each id.
    pub(super) invoked: BTreeMap<MsgId, Stamp>,
    /// The KEYS of each id's first `SendInvoke`, for the ids sent with one.
    pub(super) keys: BTreeMap<MsgId, &'a str>,
    /// The outcomes of each id's sends, in history order.
    pub(super) outcomes: BTreeMap<MsgId, Vec<(Stamp, Outcome)>>,
    /// Every `SendOk`, in history order.
    pub(super) acks: Vec<Ack<'a>>,
    /// Indices into `acks` of each id's acknowledgements, in history order.
    pub(super) acks_by_id: BTreeMap<MsgId, Vec<usize>>,
    /// Every `Consumed`, in history order.
    pub(super) deliveries: Vec<Delivery<'a>>,
    /// Every `OffsetCommitted`, in history order.
    pub(super) commits: Vec<Commit<'a>>,
    /// The time of the last `FaultsHealed`, if any.
    pub(super) healed_ms: Option<u64>,
    /// The latest time in the history (0 when it is empty).
    pub(super) end_ms: u64,
    /// Each broker's power losses, in history order.
    power_losses: BTreeMap<&'a str, Vec<Stamp>>,
    /// Each node's starts, in history order.
    starts: BTreeMap<&'a str, Vec<Stamp>>,
    /// `disruptions_before[i]`: how many disruptions (crashes, starts, failed starts, stops,
    /// fault starts and ends, heals) precede event `i`; one entry more than there are events.
    disruptions_before: Vec<usize>,
    /// The times of the disruptions, ascending.
    disruption_ms: Vec<u64>,
    /// Per windowed (ASYNC_FLUSH) broker, per power loss: how far consumers had got in each of
    /// its queues before it (the highest delivered offset + 1 or committed offset). A message
    /// stored below that mark after the power loss sits at a reused offset the consumers had
    /// already passed, so they skip it: the loss of ASYNC_FLUSH's unsynced tail shows up as
    /// later messages being passed over, and is excused like the tail itself.
    reuse_marks: BTreeMap<&'a str, Vec<ReuseMark<'a>>>,
    /// Per (group, queue): when a rebalance gave it to or took it from a consumer of the group,
    /// or an owner crashed or stopped.
    queue_moves: BTreeMap<(&'a str, &'a QueueRef), Vec<u64>>,
    /// Per (group, queue): the intervals in which two or more consumers of the group held it
    /// at once by their latest rebalances (their views of the group or the route differed);
    /// an open interval lasts to the end of the run.
    shared_ownership: BTreeMap<(&'a str, &'a QueueRef), Vec<SharedInterval>>,
    /// Per id, per group, per consumer: the time of its first `Success` delivery.
    /// A flat list per id (a message reaches a handful of consumers): (group, consumer, time).
    first_success: BTreeMap<MsgId, Vec<(&'a str, &'a str, u64)>>,
}

impl<'a> Index<'a> {
    /// Gathers `history` in one pass.
    pub(super) fn build(history: &'a History, config: &'a CheckConfig) -> Index<'a> {
        let mut index = Index {
            config,
            invoked: BTreeMap::new(),
            keys: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            acks: Vec::new(),
            acks_by_id: BTreeMap::new(),
            deliveries: Vec::new(),
            commits: Vec::new(),
            healed_ms: None,
            end_ms: 0,
            power_losses: BTreeMap::new(),
            starts: BTreeMap::new(),
            disruptions_before: Vec::with_capacity(history.events.len() + 1),
            disruption_ms: Vec::new(),
            reuse_marks: BTreeMap::new(),
            queue_moves: BTreeMap::new(),
            shared_ownership: BTreeMap::new(),
            first_success: BTreeMap::new(),
        };
        let ranks = Ranks::of(history);
        let mut disruptions = 0usize;
        // Each consumer's queues by its latest rebalance: (group, consumer) -> queues.
        let mut owned: BTreeMap<(&'a str, &'a str), BTreeSet<&'a QueueRef>> = BTreeMap::new();
        for (position, event) in history.events.iter().enumerate() {
            index.disruptions_before.push(disruptions);
            let stamp = Stamp { index: position, at_ms: event.at_ms };
            index.end_ms = index.end_ms.max(event.at_ms);
            match &event.op {
                Op::SendInvoke { id, key } => {
                    if !index.invoked.contains_key(id) {
                        index.invoked.insert(*id, stamp);
                        if let Some(key) = key {
                            index.keys.insert(*id, key.as_str());
                        }
                    }
                }
                Op::SendOk { id, queue, offset, status, .. } => {
                    index.outcomes.entry(*id).or_default().push((stamp, Outcome::Ok));
                    index.acks_by_id.entry(*id).or_default().push(index.acks.len());
                    let queue_rank = ranks.queue(queue);
                    index.acks.push(Ack { id: *id, stamp, queue, queue_rank, offset: *offset, status: *status });
                }
                Op::SendFailed { id, .. } => index.outcomes.entry(*id).or_default().push((stamp, Outcome::Failed)),
                Op::SendUnknown { id, .. } => index.outcomes.entry(*id).or_default().push((stamp, Outcome::Unknown)),
                Op::Consumed { consumer, group, id, queue, offset, received_ms, result, .. } => {
                    if let (Some(id), Processing::Success) = (id, result) {
                        let firsts = index.first_success.entry(*id).or_default();
                        if !firsts.iter().any(|(g, c, _)| *g == group.as_str() && *c == consumer.as_str()) {
                            firsts.push((group.as_str(), consumer.as_str(), event.at_ms));
                        }
                    }
                    index.deliveries.push(Delivery {
                        stamp,
                        consumer,
                        group,
                        id: *id,
                        queue,
                        queue_rank: ranks.queue(queue),
                        consumer_rank: ranks.consumer(consumer),
                        offset: *offset,
                        received_ms: *received_ms,
                        result: *result,
                    });
                }
                Op::OffsetCommitted { consumer, group, queue, offset } => {
                    index.commits.push(Commit { stamp, consumer, group, queue, offset: *offset });
                }
                Op::NodeCrashed { node, role, kind } => {
                    disruptions += 1;
                    index.disruption_ms.push(event.at_ms);
                    index.release_all(&mut owned, node, event.at_ms);
                    if (*role, *kind) == (Role::Broker, CrashKind::PowerLoss) {
                        index.power_losses.entry(node.as_str()).or_default().push(stamp);
                    }
                }
                Op::Rebalanced { consumer, group, queues } => {
                    let new: BTreeSet<&'a QueueRef> = queues.iter().collect();
                    let old = owned.insert((group.as_str(), consumer.as_str()), new.clone()).unwrap_or_default();
                    for queue in old.symmetric_difference(&new) {
                        index.queue_moves.entry((group.as_str(), *queue)).or_default().push(event.at_ms);
                        index.note_owners(&owned, group, queue, event.at_ms);
                    }
                }
                Op::NodeStarted { node, .. } => {
                    disruptions += 1;
                    index.disruption_ms.push(event.at_ms);
                    index.starts.entry(node.as_str()).or_default().push(stamp);
                }
                Op::NodeStartFailed { .. }
                | Op::NodeStopped { .. }
                | Op::FaultStarted { .. }
                | Op::FaultEnded { .. } => {
                    disruptions += 1;
                    index.disruption_ms.push(event.at_ms);
                }
                Op::FaultsHealed => {
                    disruptions += 1;
                    index.disruption_ms.push(event.at_ms);
                    index.healed_ms = Some(event.at_ms);
                }
                Op::RunStarted { .. } | Op::ProducersStopped | Op::RunEnded => {}
            }
        }
        index.disruptions_before.push(disruptions);
        index.disruption_ms.sort_unstable();
        index.reuse_marks = index.reuse_marks();
        index
    }

    /// Records that every queue `node` owned moved at `at_ms` (it crashed or stopped).
    fn release_all(
        &mut self,
        owned: &mut BTreeMap<(&'a str, &'a str), BTreeSet<&'a QueueRef>>,
        node: &str,
        at_ms: u64,
    ) {
        let mut released = Vec::new();
        for ((group, consumer), queues) in owned.iter_mut() {
            if *consumer == node {
                released.extend(std::mem::take(queues).into_iter().map(|queue| (*group, queue)));
            }
        }
        for (group, queue) in released {
            self.queue_moves.entry((group, queue)).or_default().push(at_ms);
            self.note_owners(owned, group, queue, at_ms);
        }
    }

    /// Opens or closes `queue`'s shared-ownership interval in `group` after its owners changed.
    fn note_owners(
        &mut self,
        owned: &BTreeMap<(&'a str, &'a str), BTreeSet<&'a QueueRef>>,
        group: &'a str,
        queue: &'a QueueRef,
        at_ms: u64,
    ) {
        let owners = owned.iter().filter(|((g, _), queues)| *g == group && queues.contains(queue)).count();
        let intervals = self.shared_ownership.entry((group, queue)).or_default();
        let open = intervals.last().is_some_and(|(_, end)| end.is_none());
        if owners >= 2 && !open {
            intervals.push((at_ms, None));
        } else if owners < 2 && open {
            if let Some(last) = intervals.last_mut() {
                last.1 = Some(at_ms);
            }
        }
    }

    /// Whether `queue` changed hands in `group` between `from_ms - HANDOVER_MS` and `to_ms`, or
    /// two consumers held it at once at some point between `from_ms` and `to_ms`: then both may
    /// pull it (an old owner keeps it until its own next rebalance; members whose views of the
    /// group or route differ keep overlapping until the views agree), and a new owner may start
    /// from an offset read before the old one's last commit. Either repeats deliveries and moves
    /// the committed offset back: RocketMQ's redelivery after rebalance.
    pub(super) fn queue_moved_near(&self, group: &str, queue: &QueueRef, from_ms: u64, to_ms: u64) -> bool {
        let from = from_ms.saturating_sub(HANDOVER_MS);
        let moved = self
            .queue_moves
            .get(&(group, queue))
            .is_some_and(|moves| moves.iter().any(|at| (from..=to_ms).contains(at)));
        let shared = self.shared_ownership.get(&(group, queue)).is_some_and(|intervals| {
            intervals.iter().any(|(start, end)| *start <= to_ms && end.is_none_or(|end| end >= from_ms))
        });
        moved || shared
    }

    /// Computes `reuse_marks` from the deliveries, commits and power losses.
    fn reuse_marks(&self) -> BTreeMap<&'a str, Vec<ReuseMark<'a>>> {
        let mut marks = BTreeMap::new();
        for (broker, losses) in &self.power_losses {
            if self.config.power_loss_window_ms.get(*broker).copied().flatten().is_none() {
                continue;
            }
            let per_loss = losses
                .iter()
                .map(|loss| {
                    let mut reached: BTreeMap<&'a QueueRef, i64> = BTreeMap::new();
                    // A delivery counts, whenever it came, if it is of a message stored before the
                    // loss (consumers pull ahead of what they have consumed), or if the broker
                    // served it before it came back (a pull answered just before the loss and
                    // delivered after it, of a message whose acknowledgement was also in flight);
                    // a commit counts if it came before the loss.
                    let stored_before = |d: &Delivery<'_>| {
                        d.id.is_some_and(|id| {
                            self.acks_of(id).any(|ack| {
                                ack.queue == d.queue && ack.offset == d.offset && ack.stamp.index < loss.index
                            })
                        })
                    };
                    let restart =
                        self.starts.get(*broker).and_then(|starts| starts.iter().find(|s| s.index > loss.index));
                    let served_before_restart = |d: &Delivery<'_>| {
                        restart.is_none_or(|restart| d.stamp.index < restart.index || d.received_ms < restart.at_ms)
                    };
                    let deliveries = self
                        .deliveries
                        .iter()
                        .filter(|d| served_before_restart(d) || stored_before(d))
                        .map(|d| (d.queue, d.offset.saturating_add(1)));
                    let commits =
                        self.commits.iter().filter(|c| c.stamp.index < loss.index).map(|c| (c.queue, c.offset));
                    for (queue, position) in deliveries.chain(commits).filter(|(queue, _)| queue.broker == *broker) {
                        let mark = reached.entry(queue).or_insert(position);
                        *mark = (*mark).max(position);
                    }
                    (*loss, reached)
                })
                .collect();
            marks.insert(*broker, per_loss);
        }
        marks
    }

    /// The power loss before `ack` whose reused offsets the consumers had already passed at
    /// `ack`'s position (see `reuse_marks`), if any.
    fn offset_reuse_excuse(&self, ack: &Ack<'_>) -> Option<Stamp> {
        let marks = self.reuse_marks.get(ack.queue.broker.as_str())?;
        marks
            .iter()
            .filter(|(loss, _)| loss.index < ack.stamp.index)
            .find(|(_, reached)| reached.get(ack.queue).is_some_and(|mark| ack.offset < *mark))
            .map(|(loss, _)| *loss)
    }

    /// The consumption model of `group`; a group the configuration does not name is taken as
    /// clustering.
    pub(super) fn model(&self, group: &str) -> GroupModel {
        self.config.groups.get(group).map_or(GroupModel::Clustering, |(model, _)| *model)
    }

    /// The scope of `consumer`'s deliveries and commits in `group`.
    pub(super) fn scope(&self, group: &'a str, consumer: &'a str) -> Scope<'a> {
        match self.model(group) {
            GroupModel::Clustering => Scope { group, consumer: None },
            GroupModel::Broadcasting => Scope { group, consumer: Some(consumer) },
        }
    }

    /// The earliest power loss that excuses losing a message stored on `broker` and
    /// acknowledged with `status` at `at` (see the module docs of `checkers`), if any.
    #[cfg(test)]
    pub(super) fn excusing_power_loss(&self, broker: &str, status: AckStatus, at: Stamp) -> Option<Stamp> {
        self.excusing_power_loss_sent(broker, status, at, at.at_ms)
    }

    /// As `excusing_power_loss`, for a message whose send began at `sent_ms`: a power loss
    /// after the send began and before its acknowledgement arrived also excuses it (the broker
    /// stored and answered it, and lost it while the answer was on its way).
    pub(super) fn excusing_power_loss_sent(
        &self,
        broker: &str,
        status: AckStatus,
        at: Stamp,
        sent_ms: u64,
    ) -> Option<Stamp> {
        let losses = self.power_losses.get(broker)?;
        let window = self.config.power_loss_window_ms.get(broker).copied().flatten();
        let sent_ms = sent_ms.min(at.at_ms);
        losses.iter().copied().find(|loss| {
            let in_window = window.is_some_and(|w| loss.at_ms >= sent_ms && loss.at_ms < at.at_ms.saturating_add(w));
            let after_weak_ack = status != AckStatus::SendOk && loss.index > at.index;
            in_window || after_weak_ack
        })
    }

    /// When `id`'s send began (its first invoke), else `fallback`.
    pub(super) fn sent_ms(&self, id: MsgId, fallback: u64) -> u64 {
        self.invoked.get(&id).map_or(fallback, |stamp| stamp.at_ms)
    }

    /// The earliest power loss that excuses losing this acknowledged message, if any.
    pub(super) fn ack_excused_by(&self, ack: &Ack<'_>) -> Option<Stamp> {
        let sent_ms = self.sent_ms(ack.id, ack.stamp.at_ms);
        self.excusing_power_loss_sent(&ack.queue.broker, ack.status, ack.stamp, sent_ms)
            .or_else(|| self.offset_reuse_excuse(ack))
    }

    /// The acknowledgements of `id`, in history order.
    pub(super) fn acks_of(&self, id: MsgId) -> impl Iterator<Item = &Ack<'a>> + '_ {
        self.acks_by_id.get(&id).into_iter().flatten().filter_map(|i| self.acks.get(*i))
    }

    /// Whether `id`, if acknowledged, must be consumed: `Kept` with its first acknowledgement
    /// that no power loss excuses, else `Excused`; `None` when it was never acknowledged.
    pub(super) fn promise(&self, id: MsgId) -> Option<Promise<'a>> {
        let mut promise = None;
        for ack in self.acks_of(id) {
            if self.ack_excused_by(ack).is_none() {
                return Some(Promise::Kept(*ack));
            }
            promise = Some(Promise::Excused);
        }
        promise
    }

    /// When `group` had consumed `id` with `Success` as its model requires: the first such
    /// delivery to any consumer of a clustering group, or the latest of every member's first
    /// for a broadcasting group. `Err` lists the members still missing it (empty for a
    /// clustering group that never consumed it).
    pub(super) fn consumed_by(&self, id: MsgId, group: &str) -> Result<u64, Vec<&'a str>> {
        let firsts = self.first_success.get(&id).map_or(&[][..], Vec::as_slice);
        let of_group = || firsts.iter().filter(move |(g, _, _)| *g == group);
        match self.config.groups.get(group) {
            Some((GroupModel::Broadcasting, members)) => {
                let mut latest = 0u64;
                let mut missing = Vec::new();
                for member in members {
                    match of_group().find(|(_, consumer, _)| *consumer == member.as_str()) {
                        Some((_, _, at_ms)) => latest = latest.max(*at_ms),
                        None => missing.push(member.as_str()),
                    }
                }
                if missing.is_empty() {
                    Ok(latest)
                } else {
                    Err(missing)
                }
            }
            _ => of_group().map(|(_, _, at_ms)| *at_ms).min().ok_or_else(Vec::new),
        }
    }

    /// Whether any disruption happened at a time in `[from_ms, to_ms]` (both ends included:
    /// events of one millisecond are not ordered by time).
    pub(super) fn disrupted_during(&self, from_ms: u64, to_ms: u64) -> bool {
        let first = self.disruption_ms.partition_point(|at| *at < from_ms);
        self.disruption_ms.get(first).is_some_and(|at| *at <= to_ms)
    }

    /// Whether any disruption (a node crashing, starting, failing to start or stopping, a fault
    /// starting or ending, the faults healing) happened strictly between events `first` and `second`.
    pub(super) fn disrupted_between(&self, first: usize, second: usize) -> bool {
        if second <= first.saturating_add(1) {
            return false;
        }
        let before_second = self.disruptions_before.get(second).copied().unwrap_or(0);
        let through_first = self.disruptions_before.get(first + 1).copied().unwrap_or(before_second);
        before_second > through_first
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, id, queue, verdict_of, Run};
    use super::*;

    /// The stamp of the last event of `run`.
    fn last(run: &Run) -> Stamp {
        let index = run.history.events.len() - 1;
        Stamp { index, at_ms: run.history.events[index].at_ms }
    }

    #[test]
    fn the_window_is_open_before_and_closed_at_the_power_loss() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        let loss = Some(last(&run));
        let at = |at_ms| Stamp { index: 0, at_ms };
        assert_eq!(ix.excusing_power_loss("b1", AckStatus::SendOk, at(900)), None, "t - w is outside");
        assert_eq!(ix.excusing_power_loss("b1", AckStatus::SendOk, at(901)), loss);
        assert_eq!(ix.excusing_power_loss("b1", AckStatus::SendOk, at(1_000)), loss, "t itself is inside");
        assert_eq!(ix.excusing_power_loss("b1", AckStatus::SendOk, at(1_001)), None, "after the loss");
        assert_eq!(ix.excusing_power_loss("b2", AckStatus::SendOk, at(950)), None, "another broker");
    }

    #[test]
    fn sync_brokers_kills_and_unknown_brokers_excuse_nothing() {
        let cfg = clustering(&[("sync", None), ("async", Some(100))]);
        let mut run = Run::new();
        run.crash(1_000, "sync", CrashKind::PowerLoss);
        run.crash(1_000, "async", CrashKind::Kill);
        run.crash(1_000, "absent", CrashKind::PowerLoss);
        run.push(1_000, Op::NodeCrashed { node: "async".into(), role: Role::Consumer, kind: CrashKind::PowerLoss });
        let ix = Index::build(&run.history, &cfg);
        let at = Stamp { index: 0, at_ms: 990 };
        for broker in ["sync", "async", "absent"] {
            assert_eq!(ix.excusing_power_loss(broker, AckStatus::SendOk, at), None, "{broker}");
        }
    }

    #[test]
    fn weak_acks_are_excused_by_any_later_power_loss_of_their_broker() {
        let cfg = clustering(&[("sync", None)]);
        let mut run = Run::new();
        run.crash(10, "sync", CrashKind::PowerLoss);
        run.send(20, id(0, 0), "sync", 0, 0);
        run.crash(5_000, "sync", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        let ack = Stamp { index: 2, at_ms: 20 };
        assert_eq!(ix.excusing_power_loss("sync", AckStatus::SendOk, ack), None);
        let later_loss = Some(Stamp { index: 3, at_ms: 5_000 });
        assert_eq!(ix.excusing_power_loss("sync", AckStatus::FlushDiskTimeout, ack), later_loss);
        assert_eq!(ix.excusing_power_loss("sync", AckStatus::Other, ack), later_loss);
    }

    #[test]
    fn messages_at_offsets_consumers_had_passed_before_a_power_loss_are_excused() {
        let cfg = clustering(&[("async", Some(100)), ("sync", None)]);
        let mut run = Run::new();
        // Offsets 0..=5 consumed on both brokers; the unsynced tail 3..=5 is lost at 10 s.
        for offset in 0..6 {
            run.send(10 * offset as u64, id(0, offset as u64), "async", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(0, offset as u64), "async", 0, offset);
            run.send(10 * offset as u64, id(1, offset as u64), "sync", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(1, offset as u64), "sync", 0, offset);
        }
        run.crash(10_000, "async", CrashKind::PowerLoss);
        run.crash(10_000, "sync", CrashKind::PowerLoss);
        // After the restart offsets 3, 4, 5 and 6 are handed out again; the consumer, at 6, passes
        // over 3..=5 but reads 6.
        for (seq, offset) in [(10, 3), (11, 4), (12, 5), (13, 6)] {
            run.send(20_000 + seq, id(0, seq), "async", 0, offset);
            run.send(20_000 + seq, id(1, seq), "sync", 0, offset);
        }
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(ix.promise(id(0, 10)), Some(Promise::Excused)), "offset 3 was passed before the loss");
        assert!(matches!(ix.promise(id(0, 12)), Some(Promise::Excused)), "offset 5 was passed before the loss");
        assert!(matches!(ix.promise(id(0, 13)), Some(Promise::Kept(_))), "offset 6 was never reached");
        assert!(matches!(ix.promise(id(1, 10)), Some(Promise::Kept(_))), "a SYNC_FLUSH broker reuses nothing");
        let lost = verdict_of("lost", &run.history, &cfg);
        assert!(!lost.pass);
        let lost_ids: Vec<MsgId> = lost.violations.iter().flat_map(|v| v.ids.clone()).collect();
        assert_eq!(lost_ids, [id(0, 13), id(1, 10), id(1, 11), id(1, 12), id(1, 13)]);
    }

    #[test]
    fn a_delivery_served_before_the_restart_marks_the_offsets_passed() {
        // Offsets 0..=2 consumed; offset 3's acknowledgement and its pull answer were both in
        // flight when the broker lost power at 1 s, so both arrive after the loss.
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        for offset in 0..3 {
            run.send(10 * offset as u64, id(0, offset as u64), "b1", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(0, offset as u64), "b1", 0, offset);
        }
        run.invoke(990, id(0, 3));
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.ack(1_001, id(0, 3), "b1", 0, 3, AckStatus::SendOk);
        run.consume(1_001, "g1-c0", "g1", id(0, 3), "b1", 0, 3);
        run.push(5_000, Op::NodeStarted { node: "b1".into(), role: Role::Broker });
        // The restarted broker hands out offsets 2, 3 and 4 again; the consumer, at 4, passes
        // over 2 and 3. A delivery of offset 4 after the restart marks nothing.
        for (seq, offset) in [(10, 2), (11, 3), (12, 4)] {
            run.send(6_000 + seq, id(0, seq), "b1", 0, offset);
        }
        run.consume(6_100, "g1-c0", "g1", id(0, 12), "b1", 0, 4);
        run.send(6_200, id(0, 13), "b1", 0, 5);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(ix.promise(id(0, 10)), Some(Promise::Excused)), "offset 2 was passed before the loss");
        assert!(matches!(ix.promise(id(0, 11)), Some(Promise::Excused)), "offset 3 was served before the restart");
        assert!(matches!(ix.promise(id(0, 13)), Some(Promise::Kept(_))), "offset 5 was never reached before");
    }

    #[test]
    fn disruptions_count_inside_a_closed_time_span() {
        let mut run = Run::new();
        run.crash(100, "b1", CrashKind::Kill);
        run.push(300, Op::FaultStarted { fault: "clog".into(), nodes: Vec::new() });
        run.push(200, Op::RunEnded);
        let cfg = clustering(&[]);
        let ix = Index::build(&run.history, &cfg);
        assert!(ix.disrupted_during(100, 100) && ix.disrupted_during(0, 100) && ix.disrupted_during(300, 400));
        assert!(ix.disrupted_during(150, 350));
        assert!(!ix.disrupted_during(101, 299), "a phase change is no disruption");
        assert!(!ix.disrupted_during(301, u64::MAX) && !ix.disrupted_during(0, 99));
        assert!(!ix.disrupted_during(300, 100), "an empty span");
    }

    #[test]
    fn an_acknowledgement_in_flight_at_the_power_loss_is_inside_the_window() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.invoke(990, id(0, 0));
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.ack(1_003, id(0, 0), "b1", 0, 0, AckStatus::SendOk);
        run.invoke(1_001, id(0, 1));
        run.ack(1_004, id(0, 1), "b1", 0, 0, AckStatus::SendOk);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(ix.promise(id(0, 0)), Some(Promise::Excused)), "sent before the loss, answered after it");
        assert!(matches!(ix.promise(id(0, 1)), Some(Promise::Kept(_))), "sent after the loss");
    }

    #[test]
    fn a_rebalance_explains_a_redelivery() {
        let cfg = clustering(&[]);
        let mut plain = Run::new();
        plain.send(0, id(0, 0), "b", 0, 0);
        plain.consume(1, "g1-c0", "g1", id(0, 0), "b", 0, 0);
        plain.consume(2, "g1-c1", "g1", id(0, 0), "b", 0, 0);
        assert!(!verdict_of("duplicates", &plain.history, &cfg).pass);
        let mut moved = Run::new();
        moved.send(0, id(0, 0), "b", 0, 0);
        moved.consume(1, "g1-c0", "g1", id(0, 0), "b", 0, 0);
        moved.push(2, Op::Rebalanced { consumer: "g1-c1".into(), group: "g1".into(), queues: vec![queue("b", 0)] });
        moved.consume(3, "g1-c1", "g1", id(0, 0), "b", 0, 0);
        assert!(verdict_of("duplicates", &moved.history, &cfg).pass);
    }

    #[test]
    fn promise_is_kept_when_any_ack_is_not_excused() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 0);
        run.send(950, id(0, 1), "b1", 0, 1);
        run.ack(960, id(0, 1), "b2", 0, 0, AckStatus::SendOk);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(ix.promise(id(0, 0)), Some(Promise::Excused)));
        assert!(matches!(ix.promise(id(0, 1)), Some(Promise::Kept(ack)) if ack.queue.broker == "b2"));
        assert!(ix.promise(id(0, 2)).is_none());
    }

    #[test]
    fn consumed_by_follows_the_group_model() {
        let cfg = config(
            &[("c", GroupModel::Clustering, &["c-0", "c-1"]), ("b", GroupModel::Broadcasting, &["b-0", "b-1"])],
            &[],
        );
        let mut run = Run::new();
        run.later(5, "c-0", "c", id(0, 0), "b1", 0, 0);
        run.consume(10, "c-1", "c", id(0, 0), "b1", 0, 0);
        run.consume(20, "c-0", "c", id(0, 0), "b1", 0, 0);
        run.consume(30, "b-1", "b", id(0, 0), "b1", 0, 0);
        run.consume(40, "b-1", "unconfigured", id(0, 0), "b1", 0, 0);
        let ix = Index::build(&run.history, &cfg);
        assert_eq!(ix.consumed_by(id(0, 0), "c"), Ok(10));
        assert_eq!(ix.consumed_by(id(0, 0), "b"), Err(vec!["b-0"]));
        assert_eq!(ix.consumed_by(id(0, 0), "unconfigured"), Ok(40));
        assert_eq!(ix.consumed_by(id(0, 1), "c"), Err(vec![]));
        run.consume(50, "b-0", "b", id(0, 0), "b1", 0, 0);
        let ix = Index::build(&run.history, &cfg);
        assert_eq!(ix.consumed_by(id(0, 0), "b"), Ok(50));
    }

    #[test]
    fn disruptions_count_strictly_between() {
        let cfg = clustering(&[]);
        let mut run = Run::new();
        run.invoke(0, id(0, 0));
        run.crash(1, "b1", CrashKind::Kill);
        run.invoke(2, id(0, 1));
        run.invoke(3, id(0, 2));
        let ix = Index::build(&run.history, &cfg);
        assert!(ix.disrupted_between(0, 2));
        assert!(!ix.disrupted_between(1, 3), "the first event itself does not count");
        assert!(!ix.disrupted_between(0, 1), "nor the second");
        assert!(!ix.disrupted_between(2, 0));
        assert!(!ix.disrupted_between(usize::MAX, usize::MAX));
        assert!(!ix.disrupted_between(0, usize::MAX), "out of range is no disruption, not a panic");
    }
}
