//! Where messages were stored: `queue-offset` (one message per queue position) and `order` (a
//! sequential producer's messages take increasing offsets in each queue).
//!
//! Both allow one exception: a broker that lost power lost the tail of its queues and reuses
//! those offsets, so an earlier message whose loss a power loss excuses (see the `checkers`
//! module docs) may be followed, after that power loss, by another message at its offset or
//! below it.

use super::index::{Index, Stamp};
use super::tables::Grouped;
use super::{count, verdict, CheckResult, Violation};
use crate::history::{AckStatus, MsgId};

/// What was seen of one message at one queue position.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The first record of it there (acknowledgement or delivery).
    first: Stamp,
    /// Its first acknowledgement there, if any.
    ack: Option<(Stamp, AckStatus)>,
}

impl Seen {
    /// A message first seen at `stamp`.
    fn new(stamp: Stamp) -> Seen {
        Seen { first: stamp, ack: None }
    }

    /// Notes another record of it at `stamp`.
    fn record(&mut self, stamp: Stamp) {
        self.first = self.first.min(stamp);
    }
}

/// One message seen at one queue position.
#[derive(Debug, Clone, Copy)]
struct Placed {
    /// The queue's rank.
    queue: u32,
    /// The queue offset.
    offset: i64,
    /// The message's number.
    message: u32,
    /// What was seen of it there.
    seen: Seen,
}

/// Every (message, queue position) pair the acknowledgements and deliveries show, in
/// message order.
fn placements(ix: &Index<'_>) -> Vec<Placed> {
    let mut placed = Vec::with_capacity(ix.acks.len());
    for message in ix.messages.numbers() {
        let from = placed.len();
        // A message sits at one position or a few (a retry's other copies): a scan finds it.
        let at = |placed: &mut Vec<Placed>, queue: u32, offset: i64, stamp: Stamp| -> usize {
            let known = placed[from..].iter().position(|p| (p.queue, p.offset) == (queue, offset));
            known.map_or_else(
                || {
                    placed.push(Placed { queue, offset, message, seen: Seen::new(stamp) });
                    placed.len() - 1
                },
                |known| from + known,
            )
        };
        for (_, ack) in ix.acks_of(message) {
            let here = at(&mut placed, ack.queue, ack.offset, ack.stamp);
            let seen = &mut placed[here].seen;
            seen.record(ack.stamp);
            seen.ack.get_or_insert((ack.stamp, ack.status));
        }
        for delivery in ix.deliveries_of(message).iter().map(|d| &ix.deliveries[*d as usize]) {
            let here = at(&mut placed, delivery.queue, delivery.offset, delivery.stamp);
            placed[here].seen.record(delivery.stamp);
        }
    }
    placed
}

/// The places in `placed` (in message order) sorted by queue (rank), offset and message
/// (number): the ids at each position, in id order. First by queue, with a counting sort
/// that keeps message order; then each queue's placements are a few runs of rising offsets
/// (one per producer), which a stable sort merges without comparing much.
fn by_position(ix: &Index<'_>, placed: &[Placed]) -> Vec<u32> {
    let queues = placed.iter().map(|p| Some(p.queue));
    let mut order = Grouped::by_key(ix.queue_count(), (0u32..).zip(queues)).into_items();
    order.sort_by_key(|at| {
        let p = &placed[*at as usize];
        (p.queue, p.offset)
    });
    order
}

/// `queue-offset`: every (queue, offset) holds one message id for the whole run, as seen by
/// acknowledgements and deliveries. Different ids at one position are allowed in the order they
/// appeared when the loss of each but the last is excused by a power loss of the broker that
/// happened before the next one appeared. A message with no acknowledgement at that position
/// (a send with an unknown outcome, or a retry's other copy) was never promised: any power loss
/// after it was first seen excuses it. One violation per position.
pub(super) fn queue_offset(ix: &Index<'_>) -> CheckResult {
    let placed = placements(ix);
    let (mut positions, mut reused) = (0usize, 0usize);
    let mut violations = Vec::new();
    let position_of = |at: &u32| (placed[*at as usize].queue, placed[*at as usize].offset);
    for ids in by_position(ix, &placed).chunk_by(|a, b| position_of(a) == position_of(b)) {
        positions += 1;
        if ids.len() < 2 {
            continue;
        }
        let (queue, offset) = position_of(&ids[0]);
        let ids = ids.iter().map(|at| &placed[*at as usize]);
        let mut appeared: Vec<(MsgId, u32, Seen)> = ids.map(|p| (ix.id(p.message), p.message, p.seen)).collect();
        appeared.sort_by_key(|(id, _, seen)| (seen.first, *id));
        let unexcused = appeared.windows(2).find_map(|pair| {
            let [(earlier, message, seen), (later, _, next)] = pair else { return None };
            let (stamp, status) = seen.ack.unwrap_or((seen.first, AckStatus::Other));
            let sent_ms = ix.sent_ms(*message, stamp.at_ms);
            let excused = ix
                .excusing_power_loss_sent(queue, status, stamp, sent_ms)
                .is_some_and(|loss| loss.index < next.first.index);
            (!excused).then_some((*earlier, stamp, *later, next.first))
        });
        let Some((earlier, earlier_at, later, later_at)) = unexcused else {
            reused += 1;
            continue;
        };
        let order: Vec<String> = appeared.iter().map(|(id, _, _)| id.to_string()).collect();
        let queue = ix.queue(queue);
        violations.push(Violation {
            ids: appeared.iter().map(|(id, _, _)| *id).collect(),
            detail: format!(
                "{queue} offset {offset} holds {} (in the order seen): {later} appeared at {} ms while {earlier} \
                 (stored by {} ms) was not lost to a power loss of {}",
                order.join(", "),
                later_at.at_ms,
                earlier_at.at_ms,
                queue.broker
            ),
        });
    }
    let summary = format!(
        "{}, {reused} reused after power loss, {} conflicting",
        count(positions, "queue position", "queue positions"),
        violations.len()
    );
    verdict("queue-offset", summary, violations)
}

/// `order`: each sequential producer's acknowledgements (any status) in one queue, in sequence
/// order, have strictly increasing offsets. A later message may take an offset at or below an
/// earlier one's only when the earlier one's loss is excused by a power loss that happened
/// before the later one was acknowledged; every earlier message at or above that offset is
/// checked, not only the previous one, so a reused tail cannot hide an offset that went below
/// a durable message. One violation per out-of-order pair.
pub(super) fn order(ix: &Index<'_>) -> CheckResult {
    let (mut acknowledged, mut reused) = (0usize, 0usize);
    let mut violations = Vec::new();
    // Per queue (rank): indices into `acks` of one producer's acknowledgements there, in
    // sequence order (then history order).
    let mut per_queue: Vec<Vec<usize>> = vec![Vec::new(); ix.queue_count()];
    // The earlier acknowledgements not yet overtaken, offsets strictly increasing upwards.
    let mut stack: Vec<usize> = Vec::new();
    for producer in &ix.config.sequential_producers {
        for message in ix.messages.of_producer(*producer) {
            for (at, ack) in ix.acks_of(message) {
                per_queue[ack.queue as usize].push(at);
            }
        }
        for acks in per_queue.iter_mut().filter(|acks| !acks.is_empty()) {
            acknowledged += acks.len();
            stack.clear();
            for at in acks.drain(..) {
                let ack = &ix.acks[at];
                while let Some(top_at) = stack.last().copied() {
                    let top = &ix.acks[top_at];
                    if top.offset < ack.offset {
                        break;
                    }
                    stack.pop();
                    if ix.ack_excuse(top_at).is_some_and(|loss| loss.index < ack.stamp.index) {
                        reused += 1;
                        continue;
                    }
                    let (top_id, id, queue) = (ix.id(top.message), ix.id(ack.message), ix.queue(ack.queue));
                    violations.push(Violation {
                        ids: vec![top_id, id],
                        detail: format!(
                            "{id} was stored in {queue} at offset {} (acknowledged at {} ms), not after {top_id} at \
                             offset {} (acknowledged at {} ms), and no power loss of {} between excuses losing {top_id}",
                            ack.offset,
                            ack.stamp.at_ms,
                            top.offset,
                            top.stamp.at_ms,
                            queue.broker,
                        ),
                    });
                }
                stack.push(at);
            }
        }
    }
    let summary = format!(
        "{} from {}, {reused} offsets reused after power loss, {} out of order",
        count(acknowledged, "acknowledgement", "acknowledgements"),
        count(ix.config.sequential_producers.len(), "sequential producer", "sequential producers"),
        violations.len()
    );
    verdict("order", summary, violations)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, id, verdict_of, Run};
    use super::super::CheckConfig;
    use crate::history::{AckStatus, CrashKind};

    /// One clustering group, these windows, and producer 0 sequential.
    fn sequential(windows: &[(&str, Option<u64>)]) -> CheckConfig {
        let mut cfg = clustering(windows);
        cfg.sequential_producers.insert(0);
        cfg
    }

    #[test]
    fn one_message_per_position_passes() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 5).send(2, id(0, 1), "b1", 0, 6).send(3, id(1, 0), "b1", 1, 5);
        run.consume(4, "g1-c0", "g1", id(0, 0), "b1", 0, 5).consume(5, "g1-c0", "g1", id(0, 0), "b1", 0, 5);
        let verdict = verdict_of("queue-offset", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "3 queue positions, 0 reused after power loss, 0 conflicting");
    }

    #[test]
    fn two_ids_at_one_position_conflict() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 5);
        run.invoke(2, id(0, 1));
        run.consume(3, "g1-c0", "g1", id(0, 1), "b1", 0, 5);
        let verdict = verdict_of("queue-offset", &run.history, &clustering(&[("b1", Some(100))]));
        assert!(!verdict.pass);
        assert_eq!(verdict.summary, "1 queue position, 0 reused after power loss, 1 conflicting (showing 1)");
        assert_eq!(verdict.violations[0].ids, vec![id(0, 0), id(0, 1)]);
        assert_eq!(
            verdict.violations[0].detail,
            "t@b1#0 offset 5 holds p0-0, p0-1 (in the order seen): p0-1 appeared at 3 ms while p0-0 (stored by 1 \
             ms) was not lost to a power loss of b1"
        );
    }

    #[test]
    fn an_offset_reused_after_an_excused_power_loss_is_counted_not_failed() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 5);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.send(1_100, id(0, 1), "b1", 0, 5);
        let verdict = verdict_of("queue-offset", &run.history, &cfg);
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 queue position, 1 reused after power loss, 0 conflicting");
    }

    #[test]
    fn an_offset_reused_after_a_power_loss_outside_the_window_conflicts() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(900, id(0, 0), "b1", 0, 5);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.send(1_100, id(0, 1), "b1", 0, 5);
        assert!(!verdict_of("queue-offset", &run.history, &cfg).pass);
    }

    #[test]
    fn two_ids_seen_together_before_the_power_loss_conflict() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 5);
        run.send(960, id(0, 1), "b1", 0, 5);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        assert!(!verdict_of("queue-offset", &run.history, &cfg).pass);
    }

    #[test]
    fn unacknowledged_or_weakly_acknowledged_messages_may_be_lost_to_any_later_power_loss() {
        let cfg = clustering(&[("b1", None)]);
        let mut run = Run::new();
        run.invoke(10, id(0, 0));
        run.consume(15, "g1-c0", "g1", id(0, 0), "b1", 0, 5);
        run.unknown(20, id(0, 0));
        run.invoke(30, id(0, 1)).ack(31, id(0, 1), "b1", 0, 6, AckStatus::FlushDiskTimeout);
        run.crash(60_000, "b1", CrashKind::PowerLoss);
        run.send(60_100, id(0, 2), "b1", 0, 5).send(60_101, id(0, 3), "b1", 0, 6);
        let verdict = verdict_of("queue-offset", &run.history, &cfg);
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "2 queue positions, 2 reused after power loss, 0 conflicting");
    }

    #[test]
    fn sequential_acks_with_increasing_offsets_pass() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 5).send(2, id(0, 1), "b1", 1, 0).send(3, id(0, 2), "b1", 0, 9);
        // Producer 1 is not sequential: its order is not checked.
        run.send(4, id(1, 0), "b1", 0, 20).send(5, id(1, 1), "b1", 0, 10);
        let verdict = verdict_of("order", &run.history, &sequential(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(
            verdict.summary,
            "3 acknowledgements from 1 sequential producer, 0 offsets reused after power loss, 0 out of order"
        );
    }

    #[test]
    fn a_lower_or_equal_offset_later_in_sequence_is_out_of_order() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 5).send(2, id(0, 1), "b1", 0, 5).send(3, id(0, 2), "b1", 0, 4);
        let verdict = verdict_of("order", &run.history, &sequential(&[]));
        assert!(!verdict.pass);
        let pairs: Vec<_> = verdict.violations.iter().map(|v| v.ids.clone()).collect();
        assert_eq!(pairs, [vec![id(0, 0), id(0, 1)], vec![id(0, 1), id(0, 2)]]);
        assert_eq!(
            verdict.violations[0].detail,
            "p0-1 was stored in t@b1#0 at offset 5 (acknowledged at 2 ms), not after p0-0 at offset 5 \
             (acknowledged at 1 ms), and no power loss of b1 between excuses losing p0-0"
        );
    }

    #[test]
    fn offsets_reused_after_a_power_loss_that_excuses_the_tail_pass() {
        let mut run = Run::new();
        run.send(800, id(0, 0), "b1", 0, 9);
        run.send(950, id(0, 1), "b1", 0, 10).send(960, id(0, 2), "b1", 0, 11);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.send(1_100, id(0, 3), "b1", 0, 10);
        let verdict = verdict_of("order", &run.history, &sequential(&[("b1", Some(100))]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(
            verdict.summary,
            "4 acknowledgements from 1 sequential producer, 2 offsets reused after power loss, 0 out of order"
        );
    }

    #[test]
    fn a_reused_tail_does_not_hide_an_offset_below_a_durable_message() {
        let mut run = Run::new();
        run.send(800, id(0, 0), "b1", 0, 9);
        run.send(950, id(0, 1), "b1", 0, 10);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.send(1_100, id(0, 2), "b1", 0, 9);
        let verdict = verdict_of("order", &run.history, &sequential(&[("b1", Some(100))]));
        assert!(!verdict.pass);
        assert_eq!(verdict.violations[0].ids, vec![id(0, 0), id(0, 2)]);
        assert!(verdict.summary.starts_with("3 acknowledgements from 1 sequential producer, 1 offsets reused"));
    }

    #[test]
    fn a_power_loss_after_the_lower_offset_excuses_nothing() {
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 10).send(960, id(0, 1), "b1", 0, 9);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        assert!(!verdict_of("order", &run.history, &sequential(&[("b1", Some(100))])).pass);
    }
}
