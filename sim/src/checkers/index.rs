//! The facts every checker reads, gathered from a history once: sends and their outcomes,
//! acknowledgements, deliveries, offset commits, brokers' power losses (`power_loss`), who
//! held which queue (`ownership`), and where the disruptions (crashes, starts, failed starts,
//! stops, faults) fall.
//!
//! Message ids, queues, consumers and groups are numbered (`tables`): per-message facts are
//! vectors indexed by message number (ids in id order), and records carry ranks, which sort
//! as the names do, instead of names. [`Index::build`] numbers the ids and counts each kind of
//! record first, so that every vector is allocated once at its size; then it gathers the
//! records in one pass over the history, ranks the names, and derives the rest from the
//! records.

mod power_loss;

use std::collections::BTreeMap;
use std::fmt;

use power_loss::Broker;

use super::ownership::{Ownership, Ranked};
use super::tables::{rank_in, Grouped, Messages, Names};
use super::{CheckConfig, GroupModel};
use crate::history::{AckStatus, CrashKind, Event, History, MsgId, Op, Processing, QueueRef, Role};

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

/// How one message's sends ended, as far as the checkers ask.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendEnds {
    /// When its first outcome came, if any came.
    pub(super) first_ms: Option<u64>,
    /// Whether every outcome was `SendFailed` (true before the first).
    pub(super) all_failed: bool,
    /// Its first outcome after its first `SendInvoke`: when, and which.
    pub(super) after_invoke: Option<(u64, Outcome)>,
}

impl SendEnds {
    /// Before any outcome.
    const NONE: SendEnds = SendEnds { first_ms: None, all_failed: true, after_invoke: None };

    /// Whether the message has outcomes and every one is `SendFailed`.
    pub(super) fn failed(&self) -> bool {
        self.first_ms.is_some() && self.all_failed
    }
}

/// A `SendOk` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack {
    /// The message's number (see `Index::id`).
    pub(super) message: u32,
    /// When it was acknowledged.
    pub(super) stamp: Stamp,
    /// The rank of the queue it was stored in (see `Index::queue`).
    pub(super) queue: u32,
    /// Its queue offset.
    pub(super) offset: i64,
    /// The acknowledgement's status.
    pub(super) status: AckStatus,
}

/// A `Consumed` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivery {
    /// When the listener answered.
    pub(super) stamp: Stamp,
    /// The message's number, when the body carried an id.
    pub(super) message: Option<u32>,
    /// The consumer node's rank (see `Index::consumer`).
    pub(super) consumer: u32,
    /// Its group's rank (see `Index::group`).
    pub(super) group: u32,
    /// The rank of the queue it came from.
    pub(super) queue: u32,
    /// Its queue offset.
    pub(super) offset: i64,
    /// When the listener was handed it (the event's time is when it answered).
    pub(super) received_ms: u64,
    /// The listener's answer.
    pub(super) result: Processing,
}

/// An `OffsetCommitted` record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Commit {
    /// When it was committed.
    pub(super) stamp: Stamp,
    /// The consumer node's rank.
    pub(super) consumer: u32,
    /// Its group's rank.
    pub(super) group: u32,
    /// The queue's rank.
    pub(super) queue: u32,
    /// The committed offset.
    pub(super) offset: i64,
}

/// Whether an acknowledged message must be consumed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Promise {
    /// It must: this acknowledgement is not excused by any power loss.
    Kept(Ack),
    /// Every acknowledgement of it is excused by a power loss.
    Excused,
}

/// Whose deliveries and offsets are judged together: a clustering group, or one consumer of a
/// broadcasting group. Ranks, so scopes sort as their names would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Scope {
    /// The group's rank.
    pub(super) group: u32,
    /// The consumer's rank, for a broadcasting group.
    pub(super) consumer: Option<u32>,
}

/// A scope with its names, to print.
pub(super) struct ScopeNames<'a> {
    /// The group.
    group: &'a str,
    /// The consumer, for a broadcasting group.
    consumer: Option<&'a str>,
}

impl fmt::Display for ScopeNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.consumer {
            None => write!(f, "group {}", self.group),
            Some(consumer) => write!(f, "consumer {consumer} of broadcasting group {}", self.group),
        }
    }
}

/// A configured consumer group, its names resolved to the history's ranks.
#[derive(Debug)]
pub(super) struct GroupSpec<'a> {
    /// Its name.
    pub(super) name: &'a str,
    /// Its rank among the history's groups (`None`: no record names it).
    rank: Option<u32>,
    /// How it consumes.
    model: GroupModel,
    /// Its members in configuration order, each with its rank among the history's consumers.
    members: Vec<(&'a str, Option<u32>)>,
}

/// A message's first `Success` delivery to one consumer of one group.
#[derive(Debug, Clone, Copy)]
struct FirstSuccess {
    /// The group's rank.
    group: u32,
    /// The consumer's rank.
    consumer: u32,
    /// When the listener answered.
    at_ms: u64,
}

/// The history's names, numbered in order of first appearance while it is gathered.
struct Arrivals<'a> {
    /// Queues.
    queues: Names<'a, QueueRef>,
    /// Consumer nodes.
    consumers: Names<'a, str>,
    /// Consumer groups.
    groups: Names<'a, str>,
}

/// A history gathered for the checkers.
#[derive(Debug)]
pub(super) struct Index<'a> {
    /// The scenario's promises.
    pub(super) config: &'a CheckConfig,
    /// The message ids the history names, numbered in id order.
    pub(super) messages: Messages,
    /// The queues the history names, sorted: a queue's rank is its place.
    queues: Vec<&'a QueueRef>,
    /// The consumer nodes the history names, sorted.
    consumers: Vec<&'a str>,
    /// The consumer groups the history names, sorted.
    groups: Vec<&'a str>,
    /// Per group rank: how it consumes (clustering when the configuration does not name it).
    models: Vec<GroupModel>,
    /// The configured groups, in name order.
    pub(super) group_specs: Vec<GroupSpec<'a>>,
    /// Per message: its first `SendInvoke`.
    pub(super) invoked: Vec<Option<Stamp>>,
    /// Per message: the KEYS of its first `SendInvoke`, when it had one.
    pub(super) keys: Vec<Option<&'a str>>,
    /// Per message: how its sends ended.
    pub(super) ends: Vec<SendEnds>,
    /// Every `SendOk`, in history order.
    pub(super) acks: Vec<Ack>,
    /// Per message: indices into `acks`, in history order.
    acks_by_message: Grouped,
    /// Per acknowledgement: the earliest power loss that excuses losing it.
    ack_excuses: Vec<Option<Stamp>>,
    /// Every `Consumed`, in history order.
    pub(super) deliveries: Vec<Delivery>,
    /// Per message: indices into `deliveries`, in history order.
    deliveries_by_message: Grouped,
    /// Per message: the first `Success` delivery to each (group, consumer), in history order
    /// (a message reaches a handful of consumers).
    first_successes: Grouped<FirstSuccess>,
    /// Every `OffsetCommitted`, in history order.
    pub(super) commits: Vec<Commit>,
    /// The time of the last `FaultsHealed`, if any.
    pub(super) healed_ms: Option<u64>,
    /// The latest time in the history (0 when it is empty).
    pub(super) end_ms: u64,
    /// How many events the history has.
    event_count: usize,
    /// The indices of the disruptions (crashes, starts, failed starts, stops, fault starts
    /// and ends, heals), ascending.
    disruption_indices: Vec<usize>,
    /// The times of the disruptions, ascending.
    disruption_ms: Vec<u64>,
    /// Each broker's power losses (crashes of its broker node), in history order.
    power_losses: BTreeMap<&'a str, Vec<Stamp>>,
    /// Each node's starts, in history order.
    starts: BTreeMap<&'a str, Vec<Stamp>>,
    /// The brokers of the history's queues.
    brokers: Vec<Broker>,
    /// Per queue rank: its broker's place in `brokers`.
    queue_brokers: Vec<u32>,
    /// When queues changed hands.
    ownership: Ownership,
}

/// The id a send or delivery names, if any.
fn named_id(op: &Op) -> Option<MsgId> {
    match op {
        Op::SendInvoke { id, .. } | Op::SendOk { id, .. } | Op::SendFailed { id, .. } | Op::SendUnknown { id, .. } => {
            Some(*id)
        }
        Op::Consumed { id, .. } => *id,
        _ => None,
    }
}

impl<'a> Index<'a> {
    /// Gathers `history`.
    pub(super) fn build(history: &'a History, config: &'a CheckConfig) -> Index<'a> {
        let events = &history.events;
        let ids = events.iter().filter_map(|event| named_id(&event.op));
        let messages = Messages::of(ids, u64::try_from(events.len()).unwrap_or(u64::MAX));
        let mut index = Index::sized(history, config, messages);
        let mut arrivals = Arrivals { queues: Names::new(), consumers: Names::new(), groups: Names::new() };
        let mut ownership_events = Vec::new();
        for (position, event) in events.iter().enumerate() {
            if index.gather(&mut arrivals, position, event) {
                ownership_events.push(event);
            }
        }
        index.disruption_ms.sort_unstable();
        index.rank(arrivals);
        let message_count = index.messages.len();
        let acks = index.acks.iter().map(|ack| Some(ack.message));
        index.acks_by_message = Grouped::by_key(message_count, (0u32..).zip(acks));
        let deliveries = index.deliveries.iter().map(|delivery| delivery.message);
        index.deliveries_by_message = Grouped::by_key(message_count, (0u32..).zip(deliveries));
        index.first_successes = index.first_successes();
        let ranked = Ranked { queues: &index.queues, consumers: &index.consumers, groups: &index.groups };
        index.ownership = Ownership::of(ownership_events.into_iter(), &ranked);
        index.note_brokers();
        index.ack_excuses = index.acks.iter().map(|ack| index.ack_excused_by(ack)).collect();
        index
    }

    /// An index with room for `history`'s records (counted first, so that no vector grows
    /// by copying), and none gathered yet.
    fn sized(history: &'a History, config: &'a CheckConfig, messages: Messages) -> Index<'a> {
        let (mut acks, mut deliveries, mut commits) = (0usize, 0usize, 0usize);
        for event in &history.events {
            match event.op {
                Op::SendOk { .. } => acks += 1,
                Op::Consumed { .. } => deliveries += 1,
                Op::OffsetCommitted { .. } => commits += 1,
                _ => {}
            }
        }
        let message_count = messages.len();
        Index {
            config,
            messages,
            queues: Vec::new(),
            consumers: Vec::new(),
            groups: Vec::new(),
            models: Vec::new(),
            group_specs: Vec::new(),
            invoked: vec![None; message_count],
            keys: vec![None; message_count],
            ends: vec![SendEnds::NONE; message_count],
            acks: Vec::with_capacity(acks),
            acks_by_message: Grouped::default(),
            ack_excuses: Vec::new(),
            deliveries: Vec::with_capacity(deliveries),
            deliveries_by_message: Grouped::default(),
            first_successes: Grouped::default(),
            commits: Vec::with_capacity(commits),
            healed_ms: None,
            end_ms: 0,
            event_count: history.events.len(),
            disruption_indices: Vec::new(),
            disruption_ms: Vec::new(),
            power_losses: BTreeMap::new(),
            starts: BTreeMap::new(),
            brokers: Vec::new(),
            queue_brokers: Vec::new(),
            ownership: Ownership::default(),
        }
    }

    /// Gathers one event, numbering the names it carries by arrival. Returns whether the
    /// event changes who owns which queue (a rebalance or a crash), for `Ownership`.
    fn gather(&mut self, arrivals: &mut Arrivals<'a>, position: usize, event: &'a Event) -> bool {
        let stamp = Stamp { index: position, at_ms: event.at_ms };
        self.end_ms = self.end_ms.max(event.at_ms);
        match &event.op {
            Op::SendInvoke { id, key } => {
                let message = self.number(*id) as usize;
                if self.invoked[message].is_none() {
                    self.invoked[message] = Some(stamp);
                    self.keys[message] = key.as_deref();
                }
            }
            Op::SendOk { id, queue, offset, status, .. } => {
                let message = self.number(*id);
                self.note_outcome(message, stamp, Outcome::Ok);
                let queue = arrivals.queues.intern(queue);
                self.acks.push(Ack { message, stamp, queue, offset: *offset, status: *status });
            }
            Op::SendFailed { id, .. } => self.note_outcome(self.number(*id), stamp, Outcome::Failed),
            Op::SendUnknown { id, .. } => self.note_outcome(self.number(*id), stamp, Outcome::Unknown),
            Op::Consumed { consumer, group, id, queue, offset, received_ms, result, .. } => {
                self.deliveries.push(Delivery {
                    stamp,
                    message: id.map(|id| self.number(id)),
                    consumer: arrivals.consumers.intern(consumer),
                    group: arrivals.groups.intern(group),
                    queue: arrivals.queues.intern(queue),
                    offset: *offset,
                    received_ms: *received_ms,
                    result: *result,
                });
            }
            Op::OffsetCommitted { consumer, group, queue, offset } => {
                let (consumer, group) = (arrivals.consumers.intern(consumer), arrivals.groups.intern(group));
                let queue = arrivals.queues.intern(queue);
                self.commits.push(Commit { stamp, consumer, group, queue, offset: *offset });
            }
            Op::Rebalanced { consumer, group, queues } => {
                arrivals.consumers.intern(consumer);
                arrivals.groups.intern(group);
                for queue in queues {
                    arrivals.queues.intern(queue);
                }
                return true;
            }
            Op::NodeCrashed { node, role, kind } => {
                self.disrupted(stamp);
                if (*role, *kind) == (Role::Broker, CrashKind::PowerLoss) {
                    self.power_losses.entry(node.as_str()).or_default().push(stamp);
                }
                return true;
            }
            Op::NodeStarted { node, .. } => {
                self.disrupted(stamp);
                self.starts.entry(node.as_str()).or_default().push(stamp);
            }
            Op::NodeStartFailed { .. } | Op::NodeStopped { .. } | Op::FaultStarted { .. } | Op::FaultEnded { .. } => {
                self.disrupted(stamp);
            }
            Op::FaultsHealed => {
                self.disrupted(stamp);
                self.healed_ms = Some(event.at_ms);
            }
            Op::RunStarted { .. } | Op::ProducersStopped | Op::RunEnded => {}
        }
        false
    }

    /// `id`'s message number: `Messages::of` numbered every id the history names.
    fn number(&self, id: MsgId) -> u32 {
        self.messages.number(id).expect("every id of the history is numbered")
    }

    /// Notes a send's outcome of `message`.
    fn note_outcome(&mut self, message: u32, stamp: Stamp, outcome: Outcome) {
        let invoked = self.invoked[message as usize].is_some();
        let ends = &mut self.ends[message as usize];
        ends.first_ms.get_or_insert(stamp.at_ms);
        ends.all_failed &= outcome == Outcome::Failed;
        if invoked && ends.after_invoke.is_none() {
            ends.after_invoke = Some((stamp.at_ms, outcome));
        }
    }

    /// Notes a disruption.
    fn disrupted(&mut self, stamp: Stamp) {
        self.disruption_indices.push(stamp.index);
        self.disruption_ms.push(stamp.at_ms);
    }

    /// Sorts the names gathered and turns the records' arrival numbers into ranks.
    fn rank(&mut self, arrivals: Arrivals<'a>) {
        let (queues, queue_rank) = arrivals.queues.rank();
        let (consumers, consumer_rank) = arrivals.consumers.rank();
        let (groups, group_rank) = arrivals.groups.rank();
        for ack in &mut self.acks {
            ack.queue = queue_rank[ack.queue as usize];
        }
        for delivery in &mut self.deliveries {
            delivery.queue = queue_rank[delivery.queue as usize];
            delivery.consumer = consumer_rank[delivery.consumer as usize];
            delivery.group = group_rank[delivery.group as usize];
        }
        for commit in &mut self.commits {
            commit.queue = queue_rank[commit.queue as usize];
            commit.consumer = consumer_rank[commit.consumer as usize];
            commit.group = group_rank[commit.group as usize];
        }
        let config = self.config;
        self.models = groups
            .iter()
            .map(|group| config.groups.get(*group).map_or(GroupModel::Clustering, |(model, _)| *model))
            .collect();
        self.group_specs = config
            .groups
            .iter()
            .map(|(name, (model, members))| GroupSpec {
                name,
                rank: rank_in(&groups, name.as_str()),
                model: *model,
                members: members.iter().map(|member| (member.as_str(), rank_in(&consumers, member.as_str()))).collect(),
            })
            .collect();
        (self.queues, self.consumers, self.groups) = (queues, consumers, groups);
    }

    /// Per message, its first `Success` delivery to each (group, consumer).
    fn first_successes(&self) -> Grouped<FirstSuccess> {
        let mut firsts = Grouped::with_capacity(self.messages.len(), self.messages.len());
        for message in self.messages.numbers() {
            for delivery in self.deliveries_by_message.of(message) {
                let d = &self.deliveries[*delivery as usize];
                if d.result != Processing::Success {
                    continue;
                }
                let seen = firsts
                    .open()
                    .iter()
                    .any(|first: &FirstSuccess| (first.group, first.consumer) == (d.group, d.consumer));
                if !seen {
                    firsts.push(FirstSuccess { group: d.group, consumer: d.consumer, at_ms: d.stamp.at_ms });
                }
            }
            firsts.close();
        }
        firsts
    }

    /// The id of message `message`.
    pub(super) fn id(&self, message: u32) -> MsgId {
        self.messages.id(message)
    }

    /// The queue of rank `queue`.
    pub(super) fn queue(&self, queue: u32) -> &'a QueueRef {
        self.queues[queue as usize]
    }

    /// How many queues the history names.
    pub(super) fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// How many consumers the history names.
    pub(super) fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// The consumer of rank `consumer`.
    pub(super) fn consumer(&self, consumer: u32) -> &'a str {
        self.consumers[consumer as usize]
    }

    /// The group of rank `group`.
    pub(super) fn group(&self, group: u32) -> &'a str {
        self.groups[group as usize]
    }

    /// The scope of `consumer`'s deliveries and commits in `group` (ranks); a group the
    /// configuration does not name is taken as clustering.
    pub(super) fn scope(&self, group: u32, consumer: u32) -> Scope {
        match self.models[group as usize] {
            GroupModel::Clustering => Scope { group, consumer: None },
            GroupModel::Broadcasting => Scope { group, consumer: Some(consumer) },
        }
    }

    /// `scope` with its names, to print.
    pub(super) fn scope_names(&self, scope: Scope) -> ScopeNames<'a> {
        ScopeNames { group: self.group(scope.group), consumer: scope.consumer.map(|consumer| self.consumer(consumer)) }
    }

    /// When message `message`'s send began (its first invoke), else `fallback`.
    pub(super) fn sent_ms(&self, message: u32, fallback: u64) -> u64 {
        self.invoked[message as usize].map_or(fallback, |stamp| stamp.at_ms)
    }

    /// The acknowledgements of message `message` with their indices in `acks`, in history order.
    pub(super) fn acks_of(&self, message: u32) -> impl Iterator<Item = (usize, &Ack)> + '_ {
        self.acks_by_message.of(message).iter().map(|at| (*at as usize, &self.acks[*at as usize]))
    }

    /// The earliest power loss that excuses losing acknowledgement `acks[ack]`, if any.
    pub(super) fn ack_excuse(&self, ack: usize) -> Option<Stamp> {
        self.ack_excuses[ack]
    }

    /// Indices into `deliveries` of message `message`'s deliveries, in history order.
    pub(super) fn deliveries_of(&self, message: u32) -> &[u32] {
        self.deliveries_by_message.of(message)
    }

    /// Whether message `message`, if acknowledged, must be consumed: `Kept` with its first
    /// acknowledgement that no power loss excuses, else `Excused`; `None` when it was never
    /// acknowledged.
    pub(super) fn promise(&self, message: u32) -> Option<Promise> {
        let mut promise = None;
        for (at, ack) in self.acks_of(message) {
            if self.ack_excuses[at].is_none() {
                return Some(Promise::Kept(*ack));
            }
            promise = Some(Promise::Excused);
        }
        promise
    }

    /// When `group` had consumed message `message` with `Success` as its model requires: the
    /// first such delivery to any consumer of a clustering group, or the latest of every
    /// member's first for a broadcasting group. `Err` lists the members still missing it
    /// (empty for a clustering group that never consumed it).
    pub(super) fn consumed_by(&self, message: u32, group: &GroupSpec<'a>) -> Result<u64, Vec<&'a str>> {
        let of_group = self.first_successes.of(message).iter().filter(|first| Some(first.group) == group.rank);
        match group.model {
            GroupModel::Broadcasting => {
                let mut latest = 0u64;
                let mut missing = Vec::new();
                for (member, rank) in &group.members {
                    match of_group.clone().find(|first| Some(first.consumer) == *rank) {
                        Some(first) => latest = latest.max(first.at_ms),
                        None => missing.push(*member),
                    }
                }
                if missing.is_empty() {
                    Ok(latest)
                } else {
                    Err(missing)
                }
            }
            GroupModel::Clustering => of_group.map(|first| first.at_ms).min().ok_or_else(Vec::new),
        }
    }

    /// Whether any disruption happened at a time in `[from_ms, to_ms]` (both ends included:
    /// events of one millisecond are not ordered by time).
    pub(super) fn disrupted_during(&self, from_ms: u64, to_ms: u64) -> bool {
        let first = self.disruption_ms.partition_point(|at| *at < from_ms);
        self.disruption_ms.get(first).is_some_and(|at| *at <= to_ms)
    }

    /// Whether any disruption (a node crashing, starting, failing to start or stopping, a fault
    /// starting or ending, the faults healing) happened strictly between events `first` and
    /// `second` (false when `second` is past the history's end).
    pub(super) fn disrupted_between(&self, first: usize, second: usize) -> bool {
        if second > self.event_count {
            return false;
        }
        let after_first = self.disruption_indices.partition_point(|at| *at <= first);
        self.disruption_indices.get(after_first).is_some_and(|at| *at < second)
    }

    /// Whether queue `queue` changed hands in group `group` near `[from_ms, to_ms]` (ranks;
    /// see `Ownership::moved_near`).
    pub(super) fn queue_moved_near(&self, group: u32, queue: u32, from_ms: u64, to_ms: u64) -> bool {
        self.ownership.moved_near(group, queue, from_ms, to_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, id, queue, verdict_of, Run};
    use super::*;

    /// `Index::consumed_by` of `id` by the group named `group` (clustering if it is not
    /// configured).
    fn consumed_by<'a>(ix: &Index<'a>, id: MsgId, group: &'a str) -> Result<u64, Vec<&'a str>> {
        let unconfigured = GroupSpec {
            name: group,
            rank: rank_in(&ix.groups, group),
            model: GroupModel::Clustering,
            members: Vec::new(),
        };
        let spec = ix.group_specs.iter().find(|spec| spec.name == group).unwrap_or(&unconfigured);
        match ix.messages.number(id) {
            Some(message) => ix.consumed_by(message, spec),
            None if spec.model == GroupModel::Clustering => Err(Vec::new()),
            None => Err(spec.members.iter().map(|(member, _)| *member).collect()),
        }
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
        assert_eq!(consumed_by(&ix, id(0, 0), "c"), Ok(10));
        assert_eq!(consumed_by(&ix, id(0, 0), "b"), Err(vec!["b-0"]));
        assert_eq!(consumed_by(&ix, id(0, 0), "unconfigured"), Ok(40));
        assert_eq!(consumed_by(&ix, id(0, 1), "c"), Err(vec![]));
        run.consume(50, "b-0", "b", id(0, 0), "b1", 0, 0);
        let ix = Index::build(&run.history, &cfg);
        assert_eq!(consumed_by(&ix, id(0, 0), "b"), Ok(50));
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
