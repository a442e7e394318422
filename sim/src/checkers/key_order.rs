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
use super::tables::{number, Grouped};
use super::{count, verdict, CheckResult, Violation};

/// Receptions of one queue by one consumer at least this many milliseconds apart came with
/// different pulls (see the module docs); closer ones may have come with one.
const PULL_GAP_MS: u64 = 2;

/// A number no stream has: a message outside every stream.
const UNSTREAMED: u32 = u32::MAX;

/// One consumer's receptions of one key's messages from one producer in one queue:
/// (consumer rank, queue rank, producer place, key rank). Ranks sort as the names do
/// (`Index`), and producers' places as the producers do.
type StreamKey = (u32, u32, u32, u32);

/// One delivery in its stream.
#[derive(Debug, Clone, Copy)]
struct Reception<'i> {
    /// Its stream.
    stream: StreamKey,
    /// When the listener was handed it.
    received_ms: u64,
    /// The delivery.
    delivery: &'i Delivery,
    /// The message's number.
    message: u32,
}

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

/// Per message: its first reception in the stream being judged, marked with that stream's
/// number so that no table needs clearing between streams.
#[derive(Debug)]
struct FirstReceptions {
    /// Per message: the number of the stream `first_ms` was noted for.
    stream: Vec<u32>,
    /// Per message: its first instant in that stream.
    first_ms: Vec<u64>,
}

/// The messages that have streams: a sequential producer's messages sent with a key.
#[derive(Debug)]
struct Streamed {
    /// Per message: (its producer's place among the sequential producers, its key's rank
    /// among their keys), `UNSTREAMED` for a message outside every stream.
    places: Vec<(u32, u32)>,
    /// How many producers have places.
    producer_count: usize,
    /// How many keys have ranks.
    key_count: usize,
}

/// Runs the `key-order` checker.
pub(super) fn key_order(ix: &Index<'_>) -> CheckResult {
    let streamed = Streamed::of(ix);
    let mut receptions: Vec<Reception<'_>> = Vec::with_capacity(ix.deliveries.len());
    for delivery in &ix.deliveries {
        let Some(message) = delivery.message else { continue };
        let (producer, key) = streamed.places[message as usize];
        if key == UNSTREAMED || !acknowledged_at(ix, message, delivery) {
            continue;
        }
        let stream = (delivery.consumer, delivery.queue, producer, key);
        receptions.push(Reception { stream, received_ms: delivery.received_ms, delivery, message });
    }
    let sorted: Vec<Reception<'_>> =
        stream_order(ix, &streamed, &receptions).into_iter().map(|at| receptions[at as usize]).collect();
    let mut firsts =
        FirstReceptions { stream: vec![UNSTREAMED; ix.messages.len()], first_ms: vec![0; ix.messages.len()] };
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    let mut stream_count = 0u32;
    for stream in sorted.chunk_by(|a, b| a.stream == b.stream) {
        judge_stream(ix, stream, stream_count, &mut firsts, &mut tally, &mut violations);
        stream_count += 1;
    }
    let summary = format!(
        "{} in {}, {} repeats left to duplicates, {} reorders explained by a rebalance, crash or fault, {} out \
         of order",
        count(tally.judged, "first reception", "first receptions"),
        count(stream_count as usize, "(consumer, queue, key) stream", "(consumer, queue, key) streams"),
        tally.repeats,
        tally.explained,
        violations.len()
    );
    verdict("key-order", summary, violations)
}

/// The places in `receptions` (which are in history order) sorted by stream, and within a
/// stream by instant, then history order: a radix sort on the stream's parts, least
/// significant first (each pass keeps the order of the one before), then a sort of each
/// stream (a handful of receptions, nearly in order) by instant.
fn stream_order(ix: &Index<'_>, streamed: &Streamed, receptions: &[Reception<'_>]) -> Vec<u32> {
    let stream_of = |at: u32| receptions[at as usize].stream;
    let mut order: Vec<u32> = (0..number(receptions.len())).collect();
    order = Grouped::reorder(&order, streamed.key_count, |at| stream_of(at).3);
    order = Grouped::reorder(&order, streamed.producer_count, |at| stream_of(at).2);
    order = Grouped::reorder(&order, ix.queue_count(), |at| stream_of(at).1);
    order = Grouped::reorder(&order, ix.consumer_count(), |at| stream_of(at).0);
    for run in order.chunk_by_mut(|a, b| stream_of(*a) == stream_of(*b)) {
        // Stable: receptions of one instant stay in history order.
        run.sort_by_key(|at| receptions[*at as usize].received_ms);
    }
    order
}

impl Streamed {
    /// Places the sequential producers' messages sent with a key.
    fn of(ix: &Index<'_>) -> Streamed {
        let mut places = vec![(UNSTREAMED, UNSTREAMED); ix.messages.len()];
        // The keys, numbered in order of first appearance, then ranked.
        let mut keys: BTreeMap<&str, u32> = BTreeMap::new();
        let mut producer_count = 0usize;
        for producer in &ix.config.sequential_producers {
            let messages = ix.messages.of_producer(*producer);
            if messages.is_empty() {
                continue;
            }
            let place = number(producer_count);
            producer_count += 1;
            for message in messages {
                if let Some(key) = ix.keys[message as usize] {
                    let arrival = number(keys.len());
                    places[message as usize] = (place, *keys.entry(key).or_insert(arrival));
                }
            }
        }
        let mut rank_of = vec![0u32; keys.len()];
        for (rank, arrival) in keys.values().enumerate() {
            rank_of[*arrival as usize] = number(rank);
        }
        for (_, key) in places.iter_mut().filter(|(_, key)| *key != UNSTREAMED) {
            *key = rank_of[*key as usize];
        }
        Streamed { places, producer_count, key_count: keys.len() }
    }
}

/// Whether `delivery` came from a position the broker acknowledged for message `message`.
fn acknowledged_at(ix: &Index<'_>, message: u32, delivery: &Delivery) -> bool {
    ix.acks_of(message).any(|(_, ack)| ack.queue == delivery.queue && ack.offset == delivery.offset)
}

/// Judges one stream's receptions (numbered `stream`), sorted by instant (then history order).
fn judge_stream(
    ix: &Index<'_>,
    receptions: &[Reception<'_>],
    stream: u32,
    firsts: &mut FirstReceptions,
    tally: &mut Tally,
    violations: &mut Vec<Violation>,
) {
    // Each message's first instant in this stream.
    for reception in receptions {
        let message = reception.message as usize;
        if firsts.stream[message] != stream {
            firsts.stream[message] = stream;
            firsts.first_ms[message] = reception.received_ms;
        }
    }
    // `receptions[..earlier]` are those that came with pulls before the current one's.
    let mut earlier = 0usize;
    let mut highest_earlier: Option<u64> = None;
    for (position, reception) in receptions.iter().enumerate() {
        // Sorted by instant: `receptions[earlier]` is never later than this one, and this one
        // is no gap away from itself, so `earlier` stops at `position` at the latest.
        while reception.received_ms - receptions[earlier].received_ms >= PULL_GAP_MS {
            highest_earlier = highest_earlier.max(Some(ix.id(receptions[earlier].message).seq));
            earlier += 1;
        }
        debug_assert!(earlier <= position);
        if firsts.first_ms[reception.message as usize] < reception.received_ms {
            tally.repeats += 1;
            continue;
        }
        tally.judged += 1;
        let id = ix.id(reception.message);
        if highest_earlier.is_none_or(|highest| highest < id.seq) {
            continue;
        }
        // The latest earlier reception of a later message: the span to explain starts there.
        let Some(later) = receptions[..earlier].iter().rev().find(|r| ix.id(r.message).seq > id.seq) else {
            continue;
        };
        let (from, to) = (later.received_ms, reception.received_ms);
        let delivery = reception.delivery;
        if ix.disrupted_during(from, to) || ix.queue_moved_near(delivery.group, delivery.queue, from, to) {
            tally.explained += 1;
            continue;
        }
        let later_id = ix.id(later.message);
        let key = ix.keys[reception.message as usize].unwrap_or_default();
        violations.push(Violation {
            ids: vec![id, later_id],
            detail: format!(
                "{} received {id} (key {key}) from {} offset {} at {to} ms after {later_id} from offset {} at \
                 {from} ms, though {id} was sent first, with no rebalance, crash, restart or fault between",
                ix.consumer(delivery.consumer),
                ix.queue(delivery.queue),
                delivery.offset,
                later.delivery.offset
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
    fn receptions_at_the_end_of_time_are_judged_like_any_others() {
        let at_end = |first_ms: u64| {
            let mut run = sent();
            for (seq, received_ms) in [(1, first_ms), (0, u64::MAX)] {
                let (position, result) = (("b1", 0, seq as i64), Processing::Success);
                run.deliver_received((u64::MAX, received_ms), "g1-c0", "g1", Some(id(0, seq)), position, result);
            }
            verdict_of("key-order", &run.history, &sequential())
        };
        assert!(at_end(u64::MAX - 1).pass, "one pull");
        assert!(!at_end(u64::MAX - 2).pass, "two pulls");
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
