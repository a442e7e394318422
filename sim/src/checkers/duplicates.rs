//! `duplicates`: a message delivered with `Success` more than once to one clustering group (or
//! to one consumer of a broadcasting group), each repeat classified:
//! - `retry`: delivered from a queue position this scope had not delivered it from yet (the
//!   producer's internal retry stored it twice, at different positions);
//! - `redelivery`: the same position delivered again, with a `Later` answer for the message in
//!   the same group, or a disruption (crash, start, failed start, stop, fault start or end, heal), between
//!   that delivery and the previous one from that position;
//! - `unexplained`: the same position delivered again with nothing of the sort between. Only
//!   these fail the check.
//!
//! A retry explains one more copy per position, never a second delivery of one position, so a
//! message stored twice and delivered three times from two positions still needs a reason for
//! the third delivery.

use std::collections::BTreeMap;

use super::index::{Index, Scope};
use super::{count, verdict, CheckResult, Violation};
use crate::history::Processing;

/// Counts of the repeats classified so far.
#[derive(Debug, Default)]
struct Tally {
    /// Messages delivered more than once to one scope.
    repeated: usize,
    /// Repeats from another position (a producer retry).
    retry: usize,
    /// Repeats from one position, explained.
    redelivery: usize,
}

/// Runs the `duplicates` checker.
pub(super) fn duplicates(ix: &Index<'_>) -> CheckResult {
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    // One message's `Success` deliveries: (scope, place in the message's deliveries).
    let mut successes: Vec<(Scope, usize)> = Vec::new();
    for message in ix.messages.numbers() {
        let deliveries = ix.deliveries_of(message);
        successes.clear();
        for (nth, at) in deliveries.iter().enumerate() {
            let delivery = &ix.deliveries[*at as usize];
            if delivery.result == Processing::Success {
                successes.push((ix.scope(delivery.group, delivery.consumer), nth));
            }
        }
        if successes.len() < 2 {
            continue;
        }
        // Stable: each scope's deliveries stay in history order.
        successes.sort_by_key(|(scope, _)| *scope);
        let mut repeated = false;
        for run in successes.chunk_by(|a, b| a.0 == b.0) {
            if run.len() < 2 {
                continue;
            }
            repeated = true;
            judge_scope(ix, message, deliveries, run, &mut tally, &mut violations);
        }
        tally.repeated += usize::from(repeated);
    }
    let summary = format!(
        "{} delivered more than once: {} retry, {} redelivery, {} unexplained",
        count(tally.repeated, "message", "messages"),
        tally.retry,
        tally.redelivery,
        violations.len()
    );
    verdict("duplicates", summary, violations)
}

/// Classifies the repeats of `message` to one scope: `deliveries` are the message's
/// deliveries (indices into `Index::deliveries`, in history order) and `run` the `Success`
/// ones to the scope, two or more, each with its place among them, in history order.
fn judge_scope(
    ix: &Index<'_>,
    message: u32,
    deliveries: &[u32],
    run: &[(Scope, usize)],
    tally: &mut Tally,
    violations: &mut Vec<Violation>,
) {
    let scope = run[0].0;
    let delivery_at = |nth: usize| &ix.deliveries[deliveries[nth] as usize];
    // A `Later` answer for the message in the scope's group between two of its deliveries
    // (the message's deliveries between them in its list are exactly those between them in
    // the history).
    let later_between = |first: usize, second: usize| {
        (first + 1..second).any(|nth| {
            let delivery = delivery_at(nth);
            delivery.result == Processing::Later && delivery.group == scope.group
        })
    };
    let mut last_from: BTreeMap<(u32, i64), usize> = BTreeMap::new();
    for (k, (_, nth)) in run.iter().enumerate() {
        let delivery = delivery_at(*nth);
        match last_from.insert((delivery.queue, delivery.offset), *nth) {
            None if k == 0 => {}
            None => tally.retry += 1,
            Some(previous_nth) => {
                let previous = delivery_at(previous_nth);
                let (first, second) = (previous.stamp.index, delivery.stamp.index);
                let moved =
                    ix.queue_moved_near(scope.group, delivery.queue, previous.stamp.at_ms, delivery.stamp.at_ms);
                if ix.disrupted_between(first, second) || later_between(previous_nth, *nth) || moved {
                    tally.redelivery += 1;
                    continue;
                }
                let id = ix.id(message);
                violations.push(Violation {
                    ids: vec![id],
                    detail: format!(
                        "{id} delivered to {} from {} offset {} at {} ms and again at {} ms (to {}) with no Later, \
                         rebalance, crash, restart or fault between",
                        ix.scope_names(scope),
                        ix.queue(delivery.queue),
                        delivery.offset,
                        previous.stamp.at_ms,
                        delivery.stamp.at_ms,
                        ix.consumer(delivery.consumer)
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, id, verdict_of, Run};
    use super::super::GroupModel;
    use crate::history::{CrashKind, Op, Role};

    #[test]
    fn single_deliveries_pass() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0).send(2, id(0, 1), "b1", 0, 1);
        run.consume(3, "g1-c0", "g1", id(0, 0), "b1", 0, 0).consume(4, "g1-c1", "g1", id(0, 1), "b1", 0, 1);
        let verdict = verdict_of("duplicates", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "0 messages delivered more than once: 0 retry, 0 redelivery, 0 unexplained");
    }

    #[test]
    fn a_message_stored_twice_by_a_retry_may_be_delivered_from_both_positions() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0)).ack(9, id(0, 0), "b2", 1, 0, crate::history::AckStatus::SendOk);
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 4);
        run.consume(11, "g1-c1", "g1", id(0, 0), "b2", 1, 0);
        let verdict = verdict_of("duplicates", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 message delivered more than once: 1 retry, 0 redelivery, 0 unexplained");
    }

    #[test]
    fn the_same_position_again_with_nothing_between_is_unexplained() {
        let mut run = Run::new();
        run.send(1, id(0, 3), "b1", 2, 17);
        run.consume(10, "g1-c0", "g1", id(0, 3), "b1", 2, 17);
        run.commit(11, "g1-c0", "g1", "b1", 2, 18);
        run.consume(20, "g1-c1", "g1", id(0, 3), "b1", 2, 17);
        let verdict = verdict_of("duplicates", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(
            verdict.summary,
            "1 message delivered more than once: 0 retry, 0 redelivery, 1 unexplained (showing 1)"
        );
        assert_eq!(verdict.violations[0].ids, vec![id(0, 3)]);
        assert_eq!(
            verdict.violations[0].detail,
            "p0-3 delivered to group g1 from t@b1#2 offset 17 at 10 ms and again at 20 ms (to g1-c1) with no \
             Later, rebalance, crash, restart or fault between"
        );
    }

    #[test]
    fn a_later_answer_between_explains_a_redelivery_in_its_group_only() {
        let cfg =
            config(&[("g1", GroupModel::Clustering, &["g1-c0"]), ("g2", GroupModel::Clustering, &["g2-c0"])], &[]);
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0);
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(10, "g2-c0", "g2", id(0, 0), "b1", 0, 0);
        run.later(15, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(20, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(20, "g2-c0", "g2", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("duplicates", &run.history, &cfg);
        assert_eq!(
            verdict.summary,
            "1 message delivered more than once: 0 retry, 1 redelivery, 1 unexplained (showing 1)"
        );
        assert!(verdict.violations[0].detail.contains("group g2"), "{verdict:?}");
    }

    #[test]
    fn a_crash_restart_or_fault_of_any_node_between_explains_a_redelivery() {
        let disruptions = [
            Op::NodeCrashed { node: "n0".into(), role: Role::Namesrv, kind: CrashKind::Kill },
            Op::NodeStarted { node: "g1-c1".into(), role: Role::Consumer },
            Op::NodeStartFailed { node: "b1".into(), role: Role::Broker, error: "store did not recover".into() },
            Op::NodeStopped { node: "p0".into(), role: Role::Producer },
            Op::FaultStarted { fault: "partition halves".into(), nodes: vec!["b1".into()] },
            Op::FaultEnded { fault: "clog".into(), nodes: vec![] },
        ];
        for disruption in disruptions {
            let mut run = Run::new();
            run.send(1, id(0, 0), "b1", 0, 0);
            run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
            run.push(12, disruption.clone());
            run.consume(20, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
            let verdict = verdict_of("duplicates", &run.history, &clustering(&[]));
            assert!(verdict.pass, "{disruption:?}: {verdict:?}");
            assert_eq!(verdict.summary, "1 message delivered more than once: 0 retry, 1 redelivery, 0 unexplained");
        }
    }

    #[test]
    fn a_disruption_before_both_deliveries_explains_nothing() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0);
        run.crash(5, "b1", CrashKind::PowerLoss);
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(20, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.crash(25, "b1", CrashKind::Kill);
        assert!(!verdict_of("duplicates", &run.history, &clustering(&[])).pass);
    }

    #[test]
    fn a_retry_does_not_excuse_a_second_delivery_of_one_position() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0)).ack(2, id(0, 0), "b1", 0, 1, crate::history::AckStatus::SendOk);
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(11, "g1-c0", "g1", id(0, 0), "b1", 0, 1);
        run.consume(12, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("duplicates", &run.history, &clustering(&[]));
        assert_eq!(
            verdict.summary,
            "1 message delivered more than once: 1 retry, 0 redelivery, 1 unexplained (showing 1)"
        );
    }

    #[test]
    fn broadcasting_members_each_get_a_copy_but_one_member_twice_is_a_duplicate() {
        let cfg = config(&[("bc", GroupModel::Broadcasting, &["bc-0", "bc-1"])], &[]);
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0);
        run.consume(10, "bc-0", "bc", id(0, 0), "b1", 0, 0);
        run.consume(10, "bc-1", "bc", id(0, 0), "b1", 0, 0);
        assert!(verdict_of("duplicates", &run.history, &cfg).pass);
        run.consume(11, "bc-1", "bc", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("duplicates", &run.history, &cfg);
        assert!(!verdict.pass);
        assert!(verdict.violations[0].detail.contains("consumer bc-1 of broadcasting group bc"), "{verdict:?}");
    }

    #[test]
    fn a_clustering_group_counts_deliveries_to_all_its_members_together() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0);
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(10, "g1-c1", "g1", id(0, 0), "b1", 0, 0);
        assert!(!verdict_of("duplicates", &run.history, &clustering(&[])).pass);
    }
}
