//! Checkers over a run's [`History`]: each returns a typed verdict with the message ids that
//! violate it.
//!
//! [`check_all`] runs nine checkers over one `index::Index` (the history gathered once, its
//! message ids and names numbered by `tables`), always in this order:
//! 1. `lost` (`delivery`): every promised acknowledgement is consumed with `Success` by every
//!    group (by any member of a clustering group, by every member of a broadcasting group).
//! 2. `unexpected` (`delivery`): nothing is consumed that was never sent.
//! 3. `aborted` (`delivery`): nothing is consumed whose send certainly failed.
//! 4. `duplicates` (`duplicates`): repeated deliveries are explained by a producer retry or by
//!    a redelivery after a `Later`, a crash, a restart or a fault.
//! 5. `queue-offset` (`positions`): one message per queue offset, except offsets reused after
//!    a power loss that lost the earlier message.
//! 6. `order` (`positions`): a sequential producer's messages take increasing offsets in a queue.
//! 7. `key-order` (`key_order`): each consumer receives a sequential producer's messages of one
//!    key, within one queue, in send order, unless a rebalance, crash or fault explains it.
//! 8. `offsets` (`offsets`): committed consumer offsets do not go back without a disruption.
//! 9. `liveness` (`liveness`): once faults are healed, messages are consumed in time and new
//!    sends succeed.
//!
//! # Power-loss excuses
//! An acknowledgement with status `SendOk` from a broker whose
//! [`CheckConfig::power_loss_window_ms`] is `Some(w)` is excused when that broker lost power at
//! `t` with the acknowledgement in `(t - w, t]` (ASYNC_FLUSH's unflushed tail). An
//! acknowledgement with status `FlushDiskTimeout` or `Other` promised durability only against
//! process kills: any power loss of its broker after it excuses it. Kills excuse nothing.
//!
//! # Disruptions
//! A node crashing, starting, failing to start or stopping, a fault starting or ending, and the
//! faults healing are disruptions: one between two deliveries of a message from one position
//! explains the redelivery, and one between two offset commits explains a regression.
//!
//! # Verdicts
//! Violations are sorted by their (sorted) ids, and at most [`MAX_VIOLATIONS_SHOWN`] are listed;
//! the summary counts them all. Every iteration is over sorted maps, tables numbered in id or
//! name order, or the history's order, so the same history always gives the same verdicts. No
//! input makes a checker panic.

mod delivery;
mod duplicates;
#[cfg(test)]
mod fixture;
mod index;
mod key_order;
mod liveness;
mod offsets;
mod ownership;
mod positions;
mod tables;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::history::{History, MsgId};

use index::Index;

/// How a consumer group consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupModel {
    /// Members share the queues: the group as a whole must consume every message.
    Clustering,
    /// Every member must consume every message.
    Broadcasting,
}

/// What the scenario's configuration promises, and what the checkers need to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// Consumer groups: name -> (model, member consumer node names).
    pub groups: BTreeMap<String, (GroupModel, Vec<String>)>,
    /// Per broker name: `None` when a SEND_OK acknowledgement survives a power loss (SYNC_FLUSH);
    /// `Some(w)` when messages acknowledged by that broker within `w` ms before one of its power
    /// losses may be lost (ASYNC_FLUSH's flush window). Process kills never excuse a loss.
    pub power_loss_window_ms: BTreeMap<String, Option<u64>>,
    /// Producers (by index) that send one message at a time, so their acknowledged messages in
    /// one queue must have increasing offsets in send order.
    pub sequential_producers: BTreeSet<u32>,
    /// After `FaultsHealed`, every acknowledged message (not excused by a power-loss window) must
    /// be consumed by every group within this many ms.
    pub liveness_window_ms: u64,
    /// Sends invoked at least this many ms after `FaultsHealed` must all succeed.
    pub liveness_settle_ms: u64,
}

/// One checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The checker's name (one of [`CHECKER_NAMES`]).
    pub checker: String,
    /// Whether it passed.
    pub pass: bool,
    /// One line of counts (e.g. `1200 acknowledged, 3 excused by power loss, 0 lost`).
    pub summary: String,
    /// The violations (empty when it passed).
    pub violations: Vec<Violation>,
}

/// One violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The messages involved.
    pub ids: Vec<MsgId>,
    /// What is wrong, in one line.
    pub detail: String,
}

/// The most violations one verdict lists; its summary counts all of them.
pub const MAX_VIOLATIONS_SHOWN: usize = 50;

/// The checkers' names, in the order [`check_all`] returns their verdicts.
pub const CHECKER_NAMES: [&str; 9] =
    ["lost", "unexpected", "aborted", "duplicates", "queue-offset", "order", "key-order", "offsets", "liveness"];

/// Runs every checker.
pub fn check_all(history: &History, config: &CheckConfig) -> Vec<CheckResult> {
    let index = Index::build(history, config);
    vec![
        delivery::lost(&index),
        delivery::unexpected(&index),
        delivery::aborted(&index),
        duplicates::duplicates(&index),
        positions::queue_offset(&index),
        positions::order(&index),
        key_order::key_order(&index),
        offsets::offsets(&index),
        liveness::liveness(&index),
    ]
}

/// Builds a verdict: sorts the violations by their ids (keeping the checker's order among equal
/// ids), keeps the first [`MAX_VIOLATIONS_SHOWN`], and notes in the summary how many are shown.
/// It passes exactly when there is no violation.
fn verdict(checker: &str, summary: String, mut violations: Vec<Violation>) -> CheckResult {
    for violation in &mut violations {
        violation.ids.sort();
    }
    violations.sort_by(|a, b| a.ids.cmp(&b.ids));
    let total = violations.len();
    violations.truncate(MAX_VIOLATIONS_SHOWN);
    let summary = if total == 0 { summary } else { format!("{summary} (showing {})", violations.len()) };
    CheckResult { checker: checker.to_string(), pass: total == 0, summary, violations }
}

/// "1 delivery" / "3 deliveries": a count with its noun, `many` when it is not one.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::fixture::{config, id, Run};
    use super::*;
    use crate::history::{AckStatus, CrashKind, Op, Processing, QueueRef, Role};

    #[test]
    fn check_all_returns_every_checker_in_order_and_an_empty_history_passes() {
        let verdicts = check_all(&History::default(), &config(&[], &[]));
        let names: Vec<&str> = verdicts.iter().map(|v| v.checker.as_str()).collect();
        assert_eq!(names, CHECKER_NAMES);
        for verdict in &verdicts {
            assert!(verdict.pass, "{verdict:?}");
            assert!(verdict.violations.is_empty());
        }
        assert_eq!(verdicts[8].summary, "no liveness phase");
    }

    #[test]
    fn a_clean_run_passes_every_checker() {
        let cfg = config(&[("g1", GroupModel::Clustering, &["g1-c0", "g1-c1"])], &[("b1", Some(500))]);
        let mut run = Run::new();
        for seq in 0..20 {
            let t = 10 * seq;
            run.send(t, id(0, seq), "b1", 0, seq as i64);
            run.consume(t + 5, "g1-c0", "g1", id(0, seq), "b1", 0, seq as i64);
            run.commit(t + 6, "g1-c0", "g1", "b1", 0, seq as i64 + 1);
        }
        run.push(300, Op::FaultsHealed);
        run.send(1_000, id(0, 20), "b1", 0, 20);
        run.consume(1_001, "g1-c1", "g1", id(0, 20), "b1", 0, 20);
        run.push(2_000, Op::RunEnded);
        let verdicts = check_all(&run.history, &cfg);
        for verdict in &verdicts {
            assert!(verdict.pass, "{verdict:?}");
        }
        assert_eq!(verdicts[0].summary, "21 acknowledged, 0 excused by power loss, 0 lost");
    }

    #[test]
    fn verdicts_cap_the_list_but_count_everything() {
        let cfg = config(&[("g1", GroupModel::Clustering, &["g1-c0"])], &[]);
        let mut run = Run::new();
        for seq in (0..60).rev() {
            run.send(100 - seq, id(1, seq), "b1", 0, seq as i64);
        }
        let lost = &check_all(&run.history, &cfg)[0];
        assert!(!lost.pass);
        assert_eq!(lost.violations.len(), MAX_VIOLATIONS_SHOWN);
        assert_eq!(lost.summary, "60 acknowledged, 0 excused by power loss, 60 lost (showing 50)");
        let shown: Vec<MsgId> = lost.violations.iter().flat_map(|v| v.ids.clone()).collect();
        let expected: Vec<MsgId> = (0..50).map(|seq| id(1, seq)).collect();
        assert_eq!(shown, expected, "sorted by id, lowest first");
    }

    #[test]
    fn count_pluralises() {
        assert_eq!(count(1, "delivery", "deliveries"), "1 delivery");
        assert_eq!(count(0, "delivery", "deliveries"), "0 deliveries");
        assert_eq!(count(2, "send", "sends"), "2 sends");
    }

    /// A random op over a small alphabet of ids, nodes, queues and offsets, so collisions (and
    /// every checker's interesting cases) are frequent. Keys and reception times come from
    /// `extra`, so that `rng` draws the same ops as before they were recorded.
    fn random_op(rng: &mut StdRng, extra: &mut StdRng) -> Op {
        let msg = id(rng.gen_range(0..3), rng.gen_range(0..6));
        let queue = QueueRef {
            topic: "t".into(),
            broker: ["b1", "b2", "b3"][rng.gen_range(0..3)].into(),
            queue_id: rng.gen_range(-1..2),
        };
        let offset = rng.gen_range(-2..6);
        let consumer = ["g1-c0", "g1-c1", "g2-c0", "x"][rng.gen_range(0..4)].to_string();
        let group = ["g1", "g2", "gx"][rng.gen_range(0..3)].to_string();
        let status = [AckStatus::SendOk, AckStatus::FlushDiskTimeout, AckStatus::Other][rng.gen_range(0..3)];
        let role = [Role::Namesrv, Role::Broker, Role::Producer, Role::Consumer][rng.gen_range(0..4)];
        let node = ["b1", "b2", "g1-c0", "n0"][rng.gen_range(0..4)].to_string();
        let (store_host, commit_log_offset) = (None, None);
        match rng.gen_range(0..14) {
            0 | 1 => {
                Op::SendInvoke { id: msg, key: extra.gen_bool(0.7).then(|| ["k", "j"][extra.gen_range(0..2)].into()) }
            }
            2 | 3 => Op::SendOk { id: msg, queue, offset, status, latency_us: 3, store_host, commit_log_offset },
            4 => Op::SendFailed { id: msg, error: "refused".into() },
            5 => Op::SendUnknown { id: msg, error: "timeout".into() },
            6 | 7 => {
                let result = if rng.gen_bool(0.8) { Processing::Success } else { Processing::Later };
                let id = if rng.gen_bool(0.9) { Some(msg) } else { None };
                // Set by the caller, near the event's time.
                let received_ms = 0;
                Op::Consumed {
                    consumer,
                    group,
                    id,
                    queue,
                    offset,
                    store_timestamp: 0,
                    reconsume_times: 0,
                    received_ms,
                    result,
                }
            }
            8 => Op::OffsetCommitted { consumer, group, queue, offset },
            9 => {
                let kind = if rng.gen_bool(0.5) { CrashKind::Kill } else { CrashKind::PowerLoss };
                Op::NodeCrashed { node, role, kind }
            }
            10 => Op::NodeStarted { node, role },
            11 => Op::FaultStarted { fault: "partition".into(), nodes: vec![node] },
            12 => Op::FaultsHealed,
            _ => Op::FaultEnded { fault: "partition".into(), nodes: vec![node] },
        }
    }

    #[test]
    fn random_histories_never_panic_and_replay_identically() {
        let cfg = CheckConfig {
            groups: BTreeMap::from([
                ("g1".to_string(), (GroupModel::Clustering, vec!["g1-c0".to_string(), "g1-c1".to_string()])),
                ("g2".to_string(), (GroupModel::Broadcasting, vec!["g2-c0".to_string(), "x".to_string()])),
            ]),
            power_loss_window_ms: BTreeMap::from([("b1".to_string(), Some(u64::MAX)), ("b2".to_string(), None)]),
            sequential_producers: BTreeSet::from([0, 1]),
            liveness_window_ms: u64::MAX,
            liveness_settle_ms: u64::MAX - 1,
        };
        let mut failures = [0usize; CHECKER_NAMES.len()];
        for seed in 0..300 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut extra = StdRng::seed_from_u64(!seed);
            let mut history = History::default();
            let mut at_ms = 0u64;
            for _ in 0..rng.gen_range(0..80) {
                // Mostly forward in time, sometimes backwards: checkers must not rely on it.
                at_ms = if rng.gen_bool(0.95) {
                    at_ms.saturating_add(rng.gen_range(0..40))
                } else {
                    rng.gen_range(0..=at_ms)
                };
                if rng.gen_bool(0.02) {
                    at_ms = u64::MAX - rng.gen_range(0..3);
                }
                let mut op = random_op(&mut rng, &mut extra);
                if let Op::Consumed { received_ms, .. } = &mut op {
                    // Handed to the listener a little before it answered.
                    *received_ms = at_ms.saturating_sub(extra.gen_range(0..30));
                }
                history.push(at_ms, op);
            }
            let verdicts = check_all(&history, &cfg);
            assert_eq!(verdicts.len(), CHECKER_NAMES.len());
            for verdict in &verdicts {
                assert!(verdict.violations.len() <= MAX_VIOLATIONS_SHOWN);
                assert_eq!(verdict.pass, verdict.violations.is_empty(), "{verdict:?}");
                assert!(!verdict.summary.is_empty());
                for pair in verdict.violations.windows(2) {
                    assert!(pair[0].ids <= pair[1].ids, "sorted: {verdict:?}");
                }
            }
            assert_eq!(verdicts, check_all(&history, &cfg), "seed {seed}");
            for (failed, verdict) in failures.iter_mut().zip(&verdicts) {
                *failed += usize::from(!verdict.pass);
            }
        }
        // The alphabet is small enough that every checker both passes and fails sometimes, but
        // for `key-order`: it judges two first receptions of one (consumer, queue, key) stream
        // from acknowledged positions, which this alphabet seldom makes; its own random test
        // (`key_order::tests::random_receptions_fail_exactly_when_a_key_goes_back`) fails it.
        for (name, failed) in CHECKER_NAMES.iter().zip(failures) {
            let fails_sometimes = failed > 0 || *name == "key-order";
            assert!(fails_sometimes && failed < 300, "{name} failed {failed} of 300 runs");
        }
    }
}
