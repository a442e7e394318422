//! What was delivered against what was sent: `lost` (a promised message never consumed),
//! `unexpected` (a delivery of something never sent) and `aborted` (a delivery of something
//! whose send certainly failed).

use super::index::{Delivery, Index, Promise};
use super::{count, verdict, CheckResult, Violation};

/// Who in `group` lacks a message: the group itself (clustering, `missing` empty) or the listed
/// members (broadcasting).
pub(super) fn who(group: &str, missing: &[&str]) -> String {
    if missing.is_empty() {
        format!("group {group}")
    } else {
        format!("{} of broadcasting group {group}", missing.join(", "))
    }
}

/// `lost`: every acknowledged message that no power loss excuses was consumed with `Success`
/// by every configured group (any member of a clustering group, every member of a
/// broadcasting group). One violation per message and group.
pub(super) fn lost(ix: &Index<'_>) -> CheckResult {
    let (mut acknowledged, mut excused) = (0usize, 0usize);
    let mut violations = Vec::new();
    // One message's groups that lack it, with the members that do.
    let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
    for message in ix.messages.numbers() {
        let Some(promise) = ix.promise(message) else { continue };
        acknowledged += 1;
        for group in &ix.group_specs {
            if let Err(members) = ix.consumed_by(message, group) {
                missing.push((group.name, members));
            }
        }
        if missing.is_empty() {
            continue;
        }
        match promise {
            Promise::Excused => {
                excused += 1;
                missing.clear();
            }
            Promise::Kept(ack) => {
                let id = ix.id(message);
                for (group, members) in missing.drain(..) {
                    violations.push(Violation {
                        ids: vec![id],
                        detail: format!(
                            "{id} acknowledged ({:?}) at {} ms as {} offset {} was never consumed by {}",
                            ack.status,
                            ack.stamp.at_ms,
                            ix.queue(ack.queue),
                            ack.offset,
                            who(group, &members)
                        ),
                    });
                }
            }
        }
    }
    let summary = format!("{acknowledged} acknowledged, {excused} excused by power loss, {} lost", violations.len());
    verdict("lost", summary, violations)
}

/// `unexpected`: every delivery carries the id of a message some producer sent.
pub(super) fn unexpected(ix: &Index<'_>) -> CheckResult {
    let (mut unreadable, mut never_sent) = (0usize, 0usize);
    let mut violations = Vec::new();
    for delivery in &ix.deliveries {
        let Delivery { offset, stamp, .. } = delivery;
        let (consumer, group, queue) =
            (ix.consumer(delivery.consumer), ix.group(delivery.group), ix.queue(delivery.queue));
        match delivery.message {
            None => {
                unreadable += 1;
                violations.push(Violation {
                    ids: Vec::new(),
                    detail: format!(
                        "{consumer} of group {group} received a body without a message id from {queue} offset \
                         {offset} at {} ms",
                        stamp.at_ms
                    ),
                });
            }
            Some(message) if ix.invoked[message as usize].is_none() => {
                never_sent += 1;
                let id = ix.id(message);
                violations.push(Violation {
                    ids: vec![id],
                    detail: format!(
                        "{id} was never sent but {consumer} of group {group} received it from {queue} offset \
                         {offset} at {} ms",
                        stamp.at_ms
                    ),
                });
            }
            Some(_) => {}
        }
    }
    let summary = format!(
        "{}, {unreadable} without a message id, {never_sent} of never-sent messages",
        count(ix.deliveries.len(), "delivery", "deliveries")
    );
    verdict("unexpected", summary, violations)
}

/// `aborted`: nothing whose every send outcome is `SendFailed` is ever delivered (with any
/// answer). One violation per message.
pub(super) fn aborted(ix: &Index<'_>) -> CheckResult {
    let mut failed = 0usize;
    let mut violations = Vec::new();
    for message in ix.messages.numbers() {
        let ends = &ix.ends[message as usize];
        if !ends.failed() {
            continue;
        }
        failed += 1;
        let deliveries = ix.deliveries_of(message);
        let Some(first) = deliveries.first().map(|at| &ix.deliveries[*at as usize]) else { continue };
        let id = ix.id(message);
        violations.push(Violation {
            ids: vec![id],
            detail: format!(
                "{id}'s send failed at {} ms but it was delivered {}, first to {} of group {} from {} offset {} at \
                 {} ms",
                ends.first_ms.unwrap_or_default(),
                count(deliveries.len(), "time", "times"),
                ix.consumer(first.consumer),
                ix.group(first.group),
                ix.queue(first.queue),
                first.offset,
                first.stamp.at_ms
            ),
        });
    }
    let summary = format!("{}, {} delivered anyway", count(failed, "failed send", "failed sends"), violations.len());
    verdict("aborted", summary, violations)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, id, verdict_of, Run};
    use super::super::GroupModel;
    use crate::history::{AckStatus, CrashKind, Processing};

    #[test]
    fn lost_passes_when_any_member_of_a_clustering_group_consumed() {
        let cfg = clustering(&[]);
        let mut run = Run::new();
        run.send(10, id(0, 0), "b1", 0, 0).send(11, id(0, 1), "b1", 1, 0);
        run.consume(20, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(21, "g1-c1", "g1", id(0, 1), "b1", 1, 0);
        let verdict = verdict_of("lost", &run.history, &cfg);
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "2 acknowledged, 0 excused by power loss, 0 lost");
    }

    #[test]
    fn lost_fails_for_a_message_never_consumed_or_only_answered_later() {
        let cfg = clustering(&[]);
        let mut run = Run::new();
        run.send(10, id(0, 0), "b1", 0, 7);
        run.send(12, id(0, 1), "b1", 0, 8);
        run.later(20, "g1-c0", "g1", id(0, 1), "b1", 0, 8);
        let verdict = verdict_of("lost", &run.history, &cfg);
        assert!(!verdict.pass);
        assert_eq!(verdict.summary, "2 acknowledged, 0 excused by power loss, 2 lost (showing 2)");
        assert_eq!(verdict.violations[0].ids, vec![id(0, 0)]);
        assert_eq!(
            verdict.violations[0].detail,
            "p0-0 acknowledged (SendOk) at 10 ms as t@b1#0 offset 7 was never consumed by group g1"
        );
        assert_eq!(verdict.violations[1].ids, vec![id(0, 1)]);
    }

    #[test]
    fn loss_inside_the_window_is_excused_and_just_outside_it_is_not() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut inside = Run::new();
        inside.send(901, id(0, 0), "b1", 0, 0).crash(1_000, "b1", CrashKind::PowerLoss);
        let verdict = verdict_of("lost", &inside.history, &cfg);
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 acknowledged, 1 excused by power loss, 0 lost");

        let mut outside = Run::new();
        outside.send(900, id(0, 0), "b1", 0, 0).crash(1_000, "b1", CrashKind::PowerLoss);
        let verdict = verdict_of("lost", &outside.history, &cfg);
        assert!(!verdict.pass);
        assert_eq!(verdict.summary, "1 acknowledged, 0 excused by power loss, 1 lost (showing 1)");
    }

    #[test]
    fn an_excused_message_that_was_consumed_anyway_is_not_counted() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 0).consume(960, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        let verdict = verdict_of("lost", &run.history, &cfg);
        assert_eq!(verdict.summary, "1 acknowledged, 0 excused by power loss, 0 lost");
    }

    #[test]
    fn loss_on_a_sync_broker_after_a_power_loss_is_a_violation() {
        let cfg = clustering(&[("b1", None)]);
        let mut run = Run::new();
        run.send(999, id(0, 0), "b1", 0, 0).crash(1_000, "b1", CrashKind::PowerLoss);
        let verdict = verdict_of("lost", &run.history, &cfg);
        assert!(!verdict.pass);
        assert_eq!(verdict.violations[0].ids, vec![id(0, 0)]);
    }

    #[test]
    fn a_kill_excuses_nothing_even_on_an_async_broker() {
        let cfg = clustering(&[("b1", Some(1_000))]);
        let mut run = Run::new();
        run.send(999, id(0, 0), "b1", 0, 0).crash(1_000, "b1", CrashKind::Kill);
        assert!(!verdict_of("lost", &run.history, &cfg).pass);
    }

    #[test]
    fn a_flush_timeout_ack_is_excused_by_a_later_power_loss_but_not_by_a_kill() {
        let cfg = clustering(&[("b1", None)]);
        let mut powered_off = Run::new();
        powered_off.invoke(10, id(0, 0)).ack(10, id(0, 0), "b1", 0, 0, AckStatus::FlushDiskTimeout);
        powered_off.crash(60_000, "b1", CrashKind::PowerLoss);
        let verdict = verdict_of("lost", &powered_off.history, &cfg);
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 acknowledged, 1 excused by power loss, 0 lost");

        let mut killed = Run::new();
        killed.invoke(10, id(0, 0)).ack(10, id(0, 0), "b1", 0, 0, AckStatus::Other);
        killed.crash(60_000, "b1", CrashKind::Kill);
        let verdict = verdict_of("lost", &killed.history, &cfg);
        assert!(!verdict.pass);
        assert!(verdict.violations[0].detail.contains("acknowledged (Other) at 10 ms"), "{verdict:?}");
    }

    #[test]
    fn a_power_loss_of_another_broker_excuses_nothing() {
        let cfg = clustering(&[("b1", Some(100)), ("b2", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 0).crash(1_000, "b2", CrashKind::PowerLoss);
        assert!(!verdict_of("lost", &run.history, &cfg).pass);
    }

    #[test]
    fn broadcasting_needs_every_member_and_each_group_is_checked() {
        let cfg = config(
            &[("bc", GroupModel::Broadcasting, &["bc-0", "bc-1", "bc-2"]), ("cl", GroupModel::Clustering, &["cl-0"])],
            &[],
        );
        let mut run = Run::new();
        run.send(10, id(2, 5), "b1", 3, 40);
        run.consume(20, "bc-1", "bc", id(2, 5), "b1", 3, 40);
        let verdict = verdict_of("lost", &run.history, &cfg);
        assert!(!verdict.pass);
        let details: Vec<&str> = verdict.violations.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "p2-5 acknowledged (SendOk) at 10 ms as t@b1#3 offset 40 was never consumed by bc-0, bc-2 of \
                 broadcasting group bc",
                "p2-5 acknowledged (SendOk) at 10 ms as t@b1#3 offset 40 was never consumed by group cl",
            ]
        );
        run.consume(21, "bc-0", "bc", id(2, 5), "b1", 3, 40);
        run.consume(22, "bc-2", "bc", id(2, 5), "b1", 3, 40);
        run.consume(23, "cl-0", "cl", id(2, 5), "b1", 3, 40);
        assert!(verdict_of("lost", &run.history, &cfg).pass);
    }

    #[test]
    fn unexpected_passes_for_sent_messages() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0)).unknown(5, id(0, 0));
        run.consume(10, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("unexpected", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 delivery, 0 without a message id, 0 of never-sent messages");
    }

    #[test]
    fn unexpected_fails_for_unreadable_bodies_and_never_sent_ids() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0));
        run.deliver(10, "g1-c0", "g1", None, ("b1", 0, 3), Processing::Later);
        run.consume(11, "g1-c1", "g1", id(4, 4), "b1", 0, 4);
        run.consume(12, "g1-c1", "g1", id(0, 0), "b1", 0, 5);
        let verdict = verdict_of("unexpected", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(verdict.summary, "3 deliveries, 1 without a message id, 1 of never-sent messages (showing 2)");
        assert!(verdict.violations[0].ids.is_empty());
        assert_eq!(
            verdict.violations[0].detail,
            "g1-c0 of group g1 received a body without a message id from t@b1#0 offset 3 at 10 ms"
        );
        assert_eq!(verdict.violations[1].ids, vec![id(4, 4)]);
    }

    #[test]
    fn aborted_passes_when_failed_sends_stay_undelivered() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0)).failed(2, id(0, 0));
        run.invoke(3, id(0, 1)).unknown(4, id(0, 1));
        run.consume(10, "g1-c0", "g1", id(0, 1), "b1", 0, 0);
        let verdict = verdict_of("aborted", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "1 failed send, 0 delivered anyway");
    }

    #[test]
    fn aborted_fails_for_a_delivered_failed_send_whatever_the_answer() {
        let mut run = Run::new();
        run.invoke(1, id(0, 0)).failed(2, id(0, 0));
        run.later(10, "g1-c0", "g1", id(0, 0), "b1", 0, 9);
        run.consume(11, "g1-c0", "g1", id(0, 0), "b1", 0, 9);
        let verdict = verdict_of("aborted", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(verdict.summary, "1 failed send, 1 delivered anyway (showing 1)");
        assert_eq!(verdict.violations[0].ids, vec![id(0, 0)]);
        assert_eq!(
            verdict.violations[0].detail,
            "p0-0's send failed at 2 ms but it was delivered 2 times, first to g1-c0 of group g1 from t@b1#0 \
             offset 9 at 10 ms"
        );
    }
}
