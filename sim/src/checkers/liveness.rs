//! `liveness`: once the faults are healed (the last `FaultsHealed`, at `h`), the cluster
//! recovers.
//! - (a) Every acknowledged message that `lost` requires (promised, not excused by a power loss)
//!   is consumed with `Success` by every group, as `lost` counts it, within
//!   [`CheckConfig::liveness_window_ms`](super::CheckConfig::liveness_window_ms) of
//!   `max(h, its acknowledgement)`: by `h + window` for a message acknowledged before the heal,
//!   and within the window of its acknowledgement for one sent afterwards. A message never
//!   consumed in a run that ended before its deadline is counted as undecided, not failed
//!   (`lost` judges it).
//! - (b) Every send invoked at or after `h + liveness_settle_ms` ends in `SendOk`: a
//!   `SendFailed`, a `SendUnknown` or no outcome at all fails.
//!
//! A history without `FaultsHealed` has no liveness phase and passes.

use super::delivery::who;
use super::index::{Index, Outcome, Promise};
use super::{count, verdict, CheckResult, Violation};

/// Runs the `liveness` checker.
pub(super) fn liveness(ix: &Index<'_>) -> CheckResult {
    let Some(healed) = ix.healed_ms else {
        return verdict("liveness", "no liveness phase".to_string(), Vec::new());
    };
    let mut violations = Vec::new();

    let (mut due, mut late, mut missing, mut undecided) = (0usize, 0usize, 0usize, 0usize);
    for message in ix.messages.numbers() {
        let Some(Promise::Kept(ack)) = ix.promise(message) else { continue };
        let id = ix.id(message);
        let deadline = healed.max(ack.stamp.at_ms).saturating_add(ix.config.liveness_window_ms);
        for group in &ix.group_specs {
            due += 1;
            let detail = match ix.consumed_by(message, group) {
                Ok(at_ms) if at_ms <= deadline => continue,
                Ok(at_ms) => {
                    late += 1;
                    format!("{id} was consumed by {} at {at_ms} ms", who(group.name, &[]))
                }
                Err(_) if ix.end_ms < deadline => {
                    undecided += 1;
                    continue;
                }
                Err(members) => {
                    missing += 1;
                    format!("{id} was never consumed by {}", who(group.name, &members))
                }
            };
            violations.push(Violation {
                ids: vec![id],
                detail: format!(
                    "{detail}, after its deadline {deadline} ms (acknowledged at {} ms, healed at {healed} ms)",
                    ack.stamp.at_ms
                ),
            });
        }
    }

    let settled = healed.saturating_add(ix.config.liveness_settle_ms);
    let (mut sends, mut not_ok) = (0usize, 0usize);
    for message in ix.messages.numbers() {
        let Some(invoke) = ix.invoked[message as usize].filter(|invoke| invoke.at_ms >= settled) else { continue };
        sends += 1;
        let ended = match ix.ends[message as usize].after_invoke {
            Some((_, Outcome::Ok)) => continue,
            Some((at_ms, Outcome::Failed)) => format!("failed at {at_ms} ms"),
            Some((at_ms, Outcome::Unknown)) => format!("ended unknown at {at_ms} ms"),
            None => "never ended".to_string(),
        };
        not_ok += 1;
        let id = ix.id(message);
        violations.push(Violation {
            ids: vec![id],
            detail: format!(
                "{id} was sent at {} ms, after the cluster settled at {settled} ms, but {ended}",
                invoke.at_ms
            ),
        });
    }

    let summary = format!(
        "healed at {healed} ms: {} due, {late} late, {missing} never consumed, {undecided} undecided at run end; \
         {} after settling, {not_ok} not acknowledged",
        count(due, "delivery", "deliveries"),
        count(sends, "send", "sends")
    );
    verdict("liveness", summary, violations)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, id, verdict_of, Run};
    use super::super::GroupModel;
    use crate::history::{CrashKind, Op};

    #[test]
    fn without_a_heal_there_is_no_liveness_phase() {
        let mut run = Run::new();
        run.send(1, id(0, 0), "b1", 0, 0).invoke(2, id(0, 1)).failed(3, id(0, 1));
        run.push(100_000, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(verdict.pass);
        assert_eq!(verdict.summary, "no liveness phase");
    }

    #[test]
    fn consumption_by_the_deadline_passes_and_after_it_fails() {
        // Window 1000 ms after the heal at 200 ms: the deadline is 1200 ms.
        let mut run = Run::new();
        run.send(100, id(0, 0), "b1", 0, 0).send(101, id(0, 1), "b1", 0, 1);
        run.push(200, Op::FaultsHealed);
        run.consume(1_200, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        run.consume(1_201, "g1-c1", "g1", id(0, 1), "b1", 0, 1);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(
            verdict.summary,
            "healed at 200 ms: 2 deliveries due, 1 late, 0 never consumed, 0 undecided at run end; 0 sends after \
             settling, 0 not acknowledged (showing 1)"
        );
        assert_eq!(verdict.violations[0].ids, vec![id(0, 1)]);
        assert_eq!(
            verdict.violations[0].detail,
            "p0-1 was consumed by group g1 at 1201 ms, after its deadline 1200 ms (acknowledged at 101 ms, healed \
             at 200 ms)"
        );
    }

    #[test]
    fn a_message_sent_after_the_heal_has_the_window_from_its_ack() {
        let mut run = Run::new();
        run.push(200, Op::FaultsHealed);
        run.send(5_000, id(0, 0), "b1", 0, 0);
        run.consume(6_000, "g1-c0", "g1", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
    }

    #[test]
    fn a_message_never_consumed_fails_once_the_run_outlives_its_deadline() {
        let mut run = Run::new();
        run.send(100, id(0, 0), "b1", 0, 0);
        run.push(200, Op::FaultsHealed);
        run.push(1_100, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(verdict.pass, "the run ended before the deadline: {verdict:?}");
        assert!(verdict.summary.contains("1 undecided at run end"), "{}", verdict.summary);

        run.push(1_200, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert!(verdict.violations[0].detail.starts_with("p0-0 was never consumed by group g1, after its deadline"));
    }

    #[test]
    fn excused_messages_are_not_required() {
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 0).crash(1_000, "b1", CrashKind::PowerLoss);
        run.push(1_100, Op::FaultsHealed).push(10_000, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[("b1", Some(100))]));
        assert!(verdict.pass, "{verdict:?}");
        assert!(verdict.summary.contains("0 deliveries due"), "{}", verdict.summary);
    }

    #[test]
    fn every_broadcasting_member_must_be_in_time() {
        let cfg = config(&[("bc", GroupModel::Broadcasting, &["bc-0", "bc-1"])], &[]);
        let mut run = Run::new();
        run.send(100, id(0, 0), "b1", 0, 0);
        run.push(200, Op::FaultsHealed);
        run.consume(300, "bc-0", "bc", id(0, 0), "b1", 0, 0);
        run.push(5_000, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &cfg);
        assert!(verdict.violations[0].detail.starts_with("p0-0 was never consumed by bc-1 of broadcasting group bc"));
        run.consume(5_001, "bc-1", "bc", id(0, 0), "b1", 0, 0);
        let verdict = verdict_of("liveness", &run.history, &cfg);
        assert!(verdict.violations[0].detail.starts_with("p0-0 was consumed by group bc at 5001 ms"));
    }

    #[test]
    fn sends_after_settling_must_all_be_acknowledged() {
        // Settle is 100 ms after the heal at 200 ms.
        let mut run = Run::new();
        run.push(200, Op::FaultsHealed);
        run.invoke(299, id(0, 0)).failed(300, id(0, 0));
        run.invoke(300, id(0, 1)).failed(301, id(0, 1));
        run.invoke(302, id(0, 2)).unknown(400, id(0, 2));
        run.send(303, id(0, 3), "b1", 0, 0).consume(304, "g1-c0", "g1", id(0, 3), "b1", 0, 0);
        run.invoke(305, id(0, 4));
        run.push(500, Op::RunEnded);
        let verdict = verdict_of("liveness", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(
            verdict.summary,
            "healed at 200 ms: 1 delivery due, 0 late, 0 never consumed, 0 undecided at run end; 4 sends after \
             settling, 3 not acknowledged (showing 3)"
        );
        let details: Vec<&str> = verdict.violations.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "p0-1 was sent at 300 ms, after the cluster settled at 300 ms, but failed at 301 ms",
                "p0-2 was sent at 302 ms, after the cluster settled at 300 ms, but ended unknown at 400 ms",
                "p0-4 was sent at 305 ms, after the cluster settled at 300 ms, but never ended",
            ]
        );
    }
}
