//! `key-order`: each consumer receives the messages of one key from a sequential producer,
//! within one queue, in the order the producer sent them.
//!
//! A sequential producer's acknowledged messages in one queue take increasing offsets (the
//! `order` checker), and a consumer pulls a queue in offset order, so it receives a key's
//! messages in send order. What the history can see of "receives" is the instant the listener
//! was handed a message (`received_ms`): the simulated consumers never make a listener call
//! wait for a slot, so that is the instant the pull bringing the message was answered. The
//! messages of one pull run concurrently (RocketMQ's concurrent consumption hands them to the
//! listener in any order), so they are not ordered among themselves; they are handed over
//! within a millisecond (the simulator advances its clock by 50-100 ns per task it polls, so
//! one pull's listener calls can straddle a millisecond boundary). A consumer's next pull of
//! the queue is answered at least a network round trip later, two of madsim's least latency
//! of 1 ms: receptions [`PULL_GAP_MS`] or more apart came with different pulls, in pull order.
//!
//! Per (consumer, queue, sequential producer, key), a delivery of message A is out of order
//! when the consumer received a later message B of that key with an earlier pull. It is
//! judged only on the consumer's first reception of A: receiving A again is a redelivery,
//! which `duplicates` classifies. It is explained (RocketMQ's redelivery after a rebalance or a
//! crash, as `duplicates` and `offsets` explain repeats and regressions) by a disruption (a
//! node crashing, starting, failing to start or stopping, a fault starting or ending, the
//! heal) between the consumer's latest reception of a later message and A, or by the queue
//! changing hands in the group near that span (`Index::queue_moved_near`).
//!
//! Only deliveries from the position the broker acknowledged for the message count: a copy
//! stored by an attempt the producer gave up on (a timed-out send that reached the broker
//! later) is not ordered by the producer's sequence. Messages without a key, and those of
//! producers that are not sequential, are not checked.

use std::collections::BTreeMap;

use super::index::{Delivery, Index};
use super::{count, verdict, CheckResult, Violation};
use crate::history::MsgId;

/// Receptions of one queue by one consumer at least this many milliseconds apart came with
/// different pulls (see the module docs); closer ones may have come with one.
const PULL_GAP_MS: u64 = 2;

/// One consumer's receptions of one key's messages from one producer in one queue.
/// (consumer rank, queue rank, producer, key): the ranks sort as the names do (`Index`).
type StreamKey<'a> = (u32, u32, u32, &'a str);

/// What the walk over the streams found.
#[derive(Debug, Default)]
struct Tally {
    /// First receptions judged.
    judged: usize,
    /// Receptions of a message the consumer had received before (left to `duplicates`).
    repeats: usize,
    /// First receptions after a later message, explained by a disruption or a handover.
    explained: usize,
}

/// Runs the `key-order` checker.
pub(super) fn key_order(ix: &Index<'_>) -> CheckResult {
    let mut streams: BTreeMap<StreamKey<'_>, Vec<&Delivery<'_>>> = BTreeMap::new();
    for delivery in &ix.deliveries {
        let Some(id) = delivery.id else { continue };
        if !ix.config.sequential_producers.contains(&id.producer) || !acknowledged_at(ix, id, delivery) {
            continue;
        }
        let Some(key) = ix.keys.get(&id) else { continue };
        let stream = (delivery.consumer_rank, delivery.queue_rank, id.producer, *key);
        streams.entry(stream).or_default().push(delivery);
    }
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    let stream_count = streams.len();
    for ((_, _, _, key), mut receptions) in streams {
        receptions.sort_by_key(|d| (d.received_ms, d.stamp.index));
        judge_stream(ix, key, &receptions, &mut tally, &mut violations);
    }
    let summary = format!(
        "{} in {}, {} repeats left to duplicates, {} reorders explained by a rebalance, crash or fault, {} out \
         of order",
        count(tally.judged, "first reception", "first receptions"),
        count(stream_count, "(consumer, queue, key) stream", "(consumer, queue, key) streams"),
        tally.repeats,
        tally.explained,
        violations.len()
    );
    verdict("key-order", summary, violations)
}

/// Whether `delivery` came from a position the broker acknowledged for `id`.
fn acknowledged_at(ix: &Index<'_>, id: MsgId, delivery: &Delivery<'_>) -> bool {
    ix.acks_of(id).any(|ack| ack.queue == delivery.queue && ack.offset == delivery.offset)
}

/// Judges one stream's receptions, sorted by instant (then history order).
fn judge_stream(
    ix: &Index<'_>,
    key: &str,
    receptions: &[&Delivery<'_>],
    tally: &mut Tally,
    violations: &mut Vec<Violation>,
) {
    // Each message's first instant in this stream.
    let mut first: BTreeMap<MsgId, u64> = BTreeMap::new();
    for delivery in receptions {
        if let Some(id) = delivery.id {
            first.entry(id).or_insert(delivery.received_ms);
        }
    }
    // `receptions[..earlier]` are those that came with pulls before the current one's.
    let mut earlier = 0usize;
    let mut highest_earlier: Option<u64> = None;
    for (position, delivery) in receptions.iter().enumerate() {
        while receptions[earlier].received_ms.saturating_add(PULL_GAP_MS) <= delivery.received_ms {
            highest_earlier = highest_earlier.max(receptions[earlier].id.map(|id| id.seq));
            earlier += 1;
        }
        debug_assert!(earlier <= position);
        let Some(id) = delivery.id else { continue };
        if first.get(&id).is_some_and(|at| *at < delivery.received_ms) {
            tally.repeats += 1;
            continue;
        }
        tally.judged += 1;
        if highest_earlier.is_none_or(|highest| highest < id.seq) {
            continue;
        }
        // The latest earlier reception of a later message: the span to explain starts there.
        let Some(later) = receptions[..earlier].iter().rev().find(|d| d.id.is_some_and(|b| b.seq > id.seq)) else {
            continue;
        };
        let (from, to) = (later.received_ms, delivery.received_ms);
        if ix.disrupted_during(from, to) || ix.queue_moved_near(delivery.group, delivery.queue, from, to) {
            tally.explained += 1;
            continue;
        }
        let later_id = later.id.unwrap_or(id);
        violations.push(Violation {
            ids: vec![id, later_id],
            detail: format!(
                "{} received {id} (key {key}) from {} offset {} at {to} ms after {later_id} from offset {} at \
                 {from} ms, though {id} was sent first, with no rebalance, crash, restart or fault between",
                delivery.consumer, delivery.queue, delivery.offset, later.offset
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::super::fixture::{clustering, id, queue, verdict_of, Run};
    use super::super::CheckConfig;
    use crate::history::{CrashKind, Op, Processing};

    /// One clustering group (`g1-c0`, `g1-c1`) and producer 0 sequential.
    fn sequential() -> CheckConfig {
        let mut cfg = clustering(&[]);
        cfg.sequential_producers.insert(0);
        cfg
    }

    /// Producer 0 sends p0-`seq` with key `keys[seq]` to b1#0 at offset `seq`.
    fn sent_with(keys: &[&str]) -> Run {
        let mut run = Run::new();
        for (seq, key) in (0u64..).zip(keys) {
            run.push(seq, Op::SendInvoke { id: id(0, seq), key: Some((*key).into()) });
            run.ack(seq, id(0, seq), "b1", 0, seq as i64, crate::history::AckStatus::SendOk);
        }
        run
    }

    /// Producer 0 sends p0-0..p0-3 with key `k` to b1#0 at offsets 0..3 and p0-4 with key `j` at 4.
    fn sent() -> Run {
        sent_with(&["k", "k", "k", "k", "j"])
    }

    /// `consumer` is handed p0-`seq` (from its acknowledged position) at `received_ms`; the
    /// listener answers `Success` 5 ms later.
    fn receive(run: &mut Run, consumer: &str, seq: u64, received_ms: u64) {
        let (group, position) = ("g1", ("b1", 0, seq as i64));
        run.deliver_received(
            (received_ms + 5, received_ms),
            consumer,
            group,
            Some(id(0, seq)),
            position,
            Processing::Success,
        );
    }

    #[test]
    fn receptions_in_send_order_pass_and_one_pull_is_unordered() {
        let mut run = sent();
        // One pull brings p0-0 and p0-1 at 100 ms; the listener answers p0-1 first.
        receive(&mut run, "g1-c0", 1, 100);
        receive(&mut run, "g1-c0", 0, 100);
        receive(&mut run, "g1-c0", 2, 110);
        // Another key's message may come at any point; another consumer is its own stream.
        receive(&mut run, "g1-c0", 4, 105);
        receive(&mut run, "g1-c1", 3, 50);
        let verdict = verdict_of("key-order", &run.history, &sequential());
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(
            verdict.summary,
            "5 first receptions in 3 (consumer, queue, key) streams, 0 repeats left to duplicates, 0 reorders \
             explained by a rebalance, crash or fault, 0 out of order"
        );
    }

    #[test]
    fn one_pull_may_straddle_a_millisecond_but_the_next_pull_is_ordered() {
        let mut together = sent();
        receive(&mut together, "g1-c0", 1, 100);
        receive(&mut together, "g1-c0", 0, 101);
        assert!(verdict_of("key-order", &together.history, &sequential()).pass);
        let mut apart = sent();
        receive(&mut apart, "g1-c0", 1, 100);
        receive(&mut apart, "g1-c0", 0, 102);
        let verdict = verdict_of("key-order", &apart.history, &sequential());
        assert_eq!(verdict.violations.iter().map(|v| v.ids.clone()).collect::<Vec<_>>(), [vec![id(0, 0), id(0, 1)]]);
    }

    #[test]
    fn an_earlier_message_received_after_a_later_one_fails() {
        let mut run = sent();
        receive(&mut run, "g1-c0", 0, 100);
        receive(&mut run, "g1-c0", 2, 110);
        receive(&mut run, "g1-c0", 1, 120);
        receive(&mut run, "g1-c0", 3, 130);
        let verdict = verdict_of("key-order", &run.history, &sequential());
        assert!(!verdict.pass);
        assert_eq!(
            verdict.summary,
            "4 first receptions in 1 (consumer, queue, key) stream, 0 repeats left to duplicates, 0 reorders \
             explained by a rebalance, crash or fault, 1 out of order (showing 1)"
        );
        assert_eq!(verdict.violations[0].ids, vec![id(0, 1), id(0, 2)]);
        assert_eq!(
            verdict.violations[0].detail,
            "g1-c0 received p0-1 (key k) from t@b1#0 offset 1 at 120 ms after p0-2 from offset 2 at 110 ms, though \
             p0-1 was sent first, with no rebalance, crash, restart or fault between"
        );
        // Not for producers that are not sequential.
        assert!(verdict_of("key-order", &run.history, &clustering(&[])).pass);
    }

    #[test]
    fn a_redelivery_is_left_to_duplicates_and_a_crash_or_handover_explains_a_reorder() {
        // p0-1 again after p0-2: a repeat, not judged here.
        let mut repeat = sent();
        receive(&mut repeat, "g1-c0", 1, 100);
        receive(&mut repeat, "g1-c0", 2, 110);
        receive(&mut repeat, "g1-c0", 1, 120);
        let verdict = verdict_of("key-order", &repeat.history, &sequential());
        assert!(verdict.pass, "{verdict:?}");
        assert!(verdict.summary.starts_with("2 first receptions in 1 (consumer, queue, key) stream, 1 repeats"));

        // A crash of any node between the later message and the earlier one explains it.
        let mut crashed = sent();
        receive(&mut crashed, "g1-c0", 2, 100);
        crashed.crash(110, "b1", CrashKind::Kill);
        receive(&mut crashed, "g1-c0", 1, 120);
        let verdict = verdict_of("key-order", &crashed.history, &sequential());
        assert!(verdict.pass, "{verdict:?}");
        assert!(verdict.summary.contains("1 reorders explained by a rebalance"), "{}", verdict.summary);

        // So does the queue changing hands in the group within the rebalance interval.
        let mut moved = sent();
        moved.push(90, Op::Rebalanced { consumer: "g1-c1".into(), group: "g1".into(), queues: vec![queue("b1", 0)] });
        receive(&mut moved, "g1-c0", 2, 100);
        receive(&mut moved, "g1-c0", 1, 120);
        assert!(verdict_of("key-order", &moved.history, &sequential()).pass);
    }

    #[test]
    fn a_copy_at_an_unacknowledged_position_is_not_ordered() {
        let mut run = sent();
        receive(&mut run, "g1-c0", 2, 100);
        // p0-1 stored again at offset 9 by an attempt the producer gave up on.
        run.deliver_received((125, 120), "g1-c0", "g1", Some(id(0, 1)), ("b1", 0, 9), Processing::Success);
        let verdict = verdict_of("key-order", &run.history, &sequential());
        assert!(verdict.pass, "{verdict:?}");
        assert!(verdict.summary.starts_with("1 first reception in"), "{}", verdict.summary);
    }

    /// Random receptions of eight messages of one key by one consumer, some at one instant (one
    /// pull), some twice, with nothing to explain a reorder: the checker fails exactly when
    /// some message's first reception comes with a later pull than a later message's, and
    /// names exactly those messages.
    #[test]
    fn random_receptions_fail_exactly_when_a_key_goes_back() {
        let (mut passed, mut failed) = (0, 0);
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut run = sent_with(&["k"; 8]);
            let mut receptions: Vec<(u64, u64)> = Vec::new();
            for seq in 0..8u64 {
                for _ in 0..rng.gen_range(1..=2) {
                    receptions.push((100 + 10 * (seq + rng.gen_range(0..3)), seq));
                }
            }
            receptions.shuffle(&mut rng);
            for (received_ms, seq) in &receptions {
                receive(&mut run, "g1-c0", *seq, *received_ms);
            }
            let mut first: BTreeMap<u64, u64> = BTreeMap::new();
            for (received_ms, seq) in &receptions {
                let at = first.entry(*seq).or_insert(*received_ms);
                *at = (*at).min(*received_ms);
            }
            let behind: BTreeSet<u64> = first
                .iter()
                .filter(|(seq, at)| first.iter().any(|(later, later_at)| later > seq && later_at < at))
                .map(|(seq, _)| *seq)
                .collect();
            let verdict = verdict_of("key-order", &run.history, &sequential());
            let flagged: BTreeSet<u64> = verdict.violations.iter().map(|v| v.ids[0].seq).collect();
            assert_eq!(flagged, behind, "seed {seed}: {receptions:?}");
            assert_eq!(verdict.pass, behind.is_empty());
            if verdict.pass {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        assert!(passed > 20 && failed > 20, "{passed} passed, {failed} failed");
    }
}
