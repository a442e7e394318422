//! Who held which queue: from a history's rebalances and crashes, when each queue changed
//! hands in each group, and when two or more consumers of a group held it at once. A queue
//! changing hands explains a redelivery, a reorder and an offset regression near it
//! ([`Ownership::moved_near`]).

use std::collections::{BTreeMap, BTreeSet};

use super::tables::rank_in;
use crate::history::{Event, Op, QueueRef};

/// How long after a queue changes hands its old owner may still hold it: the push consumer's
/// rebalance interval (20 s), after which every member has rebalanced again.
const HANDOVER_MS: u64 = 20_000;

/// From when two or more consumers held a queue, to when that ended (`None`: still at the end).
type SharedInterval = (u64, Option<u64>);

/// Each consumer's queues by its latest rebalance: (group rank, consumer rank) -> queue ranks.
type Owned = BTreeMap<(u32, u32), BTreeSet<u32>>;

/// The history's queues, consumers and groups, each sorted (their ranks are their places).
pub(super) struct Ranked<'r, 'a> {
    /// The queues.
    pub(super) queues: &'r [&'a QueueRef],
    /// The consumers.
    pub(super) consumers: &'r [&'a str],
    /// The groups.
    pub(super) groups: &'r [&'a str],
}

/// The queues' changes of hands, per (group rank, queue rank).
#[derive(Debug, Default)]
pub(super) struct Ownership {
    /// When a rebalance gave the queue to or took it from a consumer of the group, or an
    /// owner crashed.
    moves: BTreeMap<(u32, u32), Vec<u64>>,
    /// The intervals in which two or more consumers of the group held the queue at once by
    /// their latest rebalances (their views of the group or the route differed); an open
    /// interval lasts to the end of the run.
    shared: BTreeMap<(u32, u32), Vec<SharedInterval>>,
}

impl Ownership {
    /// Follows `events` (the history's rebalances and crashes, in history order); every
    /// queue, consumer and group they name is in `ranked`.
    pub(super) fn of<'e>(events: impl Iterator<Item = &'e Event>, ranked: &Ranked<'_, '_>) -> Ownership {
        let mut ownership = Ownership::default();
        let mut owned = Owned::new();
        for event in events {
            match &event.op {
                Op::NodeCrashed { node, .. } => {
                    if let Some(consumer) = rank_in(ranked.consumers, node.as_str()) {
                        ownership.release_all(&mut owned, consumer, event.at_ms);
                    }
                }
                Op::Rebalanced { consumer, group, queues } => {
                    let ranks = (rank_in(ranked.groups, group.as_str()), rank_in(ranked.consumers, consumer.as_str()));
                    let (Some(group), Some(consumer)) = ranks else { continue };
                    let new: BTreeSet<u32> = queues.iter().filter_map(|queue| rank_in(ranked.queues, queue)).collect();
                    let old = owned.insert((group, consumer), new.clone()).unwrap_or_default();
                    for queue in old.symmetric_difference(&new) {
                        ownership.moves.entry((group, *queue)).or_default().push(event.at_ms);
                        ownership.note_owners(&owned, group, *queue, event.at_ms);
                    }
                }
                _ => {}
            }
        }
        ownership
    }

    /// Records that every queue `consumer` owned moved at `at_ms` (it crashed).
    fn release_all(&mut self, owned: &mut Owned, consumer: u32, at_ms: u64) {
        let mut released = Vec::new();
        for ((group, owner), queues) in owned.iter_mut() {
            if *owner == consumer {
                released.extend(std::mem::take(queues).into_iter().map(|queue| (*group, queue)));
            }
        }
        for (group, queue) in released {
            self.moves.entry((group, queue)).or_default().push(at_ms);
            self.note_owners(owned, group, queue, at_ms);
        }
    }

    /// Opens or closes `queue`'s shared-ownership interval in `group` after its owners changed.
    fn note_owners(&mut self, owned: &Owned, group: u32, queue: u32, at_ms: u64) {
        let owners = owned.iter().filter(|((g, _), queues)| *g == group && queues.contains(&queue)).count();
        let intervals = self.shared.entry((group, queue)).or_default();
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
    pub(super) fn moved_near(&self, group: u32, queue: u32, from_ms: u64, to_ms: u64) -> bool {
        let from = from_ms.saturating_sub(HANDOVER_MS);
        let moved =
            self.moves.get(&(group, queue)).is_some_and(|moves| moves.iter().any(|at| (from..=to_ms).contains(at)));
        let shared = self.shared.get(&(group, queue)).is_some_and(|intervals| {
            intervals.iter().any(|(start, end)| *start <= to_ms && end.is_none_or(|end| end >= from_ms))
        });
        moved || shared
    }
}
