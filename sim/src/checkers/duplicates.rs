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

use std::collections::{BTreeMap, BTreeSet};

use super::index::{Delivery, Index, Scope};
use super::{count, verdict, CheckResult, Violation};
use crate::history::{MsgId, Processing, QueueRef};

/// Runs the `duplicates` checker.
pub(super) fn duplicates(ix: &Index<'_>) -> CheckResult {
    let mut successes: BTreeMap<(MsgId, Scope<'_>), Vec<&Delivery<'_>>> = BTreeMap::new();
    let mut laters: BTreeMap<(MsgId, &str), BTreeSet<usize>> = BTreeMap::new();
    for delivery in &ix.deliveries {
        let Some(id) = delivery.id else { continue };
        match delivery.result {
            Processing::Later => {
                laters.entry((id, delivery.group)).or_default().insert(delivery.stamp.index);
            }
            Processing::Success => {
                successes.entry((id, ix.scope(delivery.group, delivery.consumer))).or_default().push(delivery);
            }
        }
    }
    let later_between = |id: MsgId, group: &str, first: usize, second: usize| {
        first.saturating_add(1) < second
            && laters.get(&(id, group)).is_some_and(|indices| indices.range(first + 1..second).next().is_some())
    };

    let mut repeated = BTreeSet::new();
    let (mut retry, mut redelivery) = (0usize, 0usize);
    let mut violations = Vec::new();
    for ((id, scope), deliveries) in &successes {
        if deliveries.len() < 2 {
            continue;
        }
        repeated.insert(*id);
        let mut last_from: BTreeMap<(&QueueRef, i64), &Delivery<'_>> = BTreeMap::new();
        for (nth, delivery) in deliveries.iter().enumerate() {
            match last_from.insert((delivery.queue, delivery.offset), delivery) {
                None if nth == 0 => {}
                None => retry += 1,
                Some(previous) => {
                    let (first, second) = (previous.stamp.index, delivery.stamp.index);
                    let moved =
                        ix.queue_moved_near(scope.group, delivery.queue, previous.stamp.at_ms, delivery.stamp.at_ms);
                    if ix.disrupted_between(first, second) || later_between(*id, scope.group, first, second) || moved {
                        redelivery += 1;
                    } else {
                        violations.push(Violation {
                            ids: vec![*id],
                            detail: format!(
                                "{id} delivered to {scope} from {} offset {} at {} ms and again at {} ms (to {}) \
                                 with no Later, rebalance, crash, restart or fault between",
                                delivery.queue,
                                delivery.offset,
                                previous.stamp.at_ms,
                                delivery.stamp.at_ms,
                                delivery.consumer
                            ),
                        });
                    }
                }
            }
        }
    }
    let summary = format!(
        "{} delivered more than once: {retry} retry, {redelivery} redelivery, {} unexplained",
        count(repeated.len(), "message", "messages"),
        violations.len()
    );
    verdict("duplicates", summary, violations)
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
