//! `offsets`: committed consumer offsets never go back, per (group, queue) for a clustering
//! group and per (consumer, queue) for a broadcasting group, except across a disruption (a node
//! crashing, starting, failing to start or stopping, a fault starting or ending, the faults
//! healing) between the two commits, which may legitimately rewind a group (a rebalance to a
//! consumer that had not seen the latest commit, a broker that lost its offset table). Those
//! are counted.

use std::collections::BTreeMap;

use super::index::{Index, Scope};
use super::{count, verdict, CheckResult, Violation};

/// Runs the `offsets` checker.
pub(super) fn offsets(ix: &Index<'_>) -> CheckResult {
    // Per (scope, queue rank): the latest commit, by its index in `Index::commits`.
    let mut last: BTreeMap<(Scope, u32), usize> = BTreeMap::new();
    let mut explained = 0usize;
    let mut violations = Vec::new();
    for (at, commit) in ix.commits.iter().enumerate() {
        let scope = ix.scope(commit.group, commit.consumer);
        let Some(previous) = last.insert((scope, commit.queue), at).map(|previous| &ix.commits[previous]) else {
            continue;
        };
        if commit.offset >= previous.offset {
            continue;
        }
        let moved = ix.queue_moved_near(commit.group, commit.queue, previous.stamp.at_ms, commit.stamp.at_ms);
        if ix.disrupted_between(previous.stamp.index, commit.stamp.index) || moved {
            explained += 1;
            continue;
        }
        violations.push(Violation {
            ids: Vec::new(),
            detail: format!(
                "{} committed {} offset {} at {} ms (by {}) after {} at {} ms (by {}) with no rebalance, crash, \
                 restart or fault between",
                ix.scope_names(scope),
                ix.queue(commit.queue),
                commit.offset,
                commit.stamp.at_ms,
                ix.consumer(commit.consumer),
                previous.offset,
                previous.stamp.at_ms,
                ix.consumer(previous.consumer)
            ),
        });
    }
    let summary = format!(
        "{} in {}, {explained} explained regressions, {} unexplained regressions",
        count(ix.commits.len(), "commit", "commits"),
        count(last.len(), "stream", "streams"),
        violations.len()
    );
    verdict("offsets", summary, violations)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{clustering, config, queue, verdict_of, Run};
    use super::super::GroupModel;
    use crate::history::{CrashKind, Op};

    #[test]
    fn monotonic_commits_pass() {
        let mut run = Run::new();
        run.commit(1, "g1-c0", "g1", "b1", 0, -1).commit(2, "g1-c0", "g1", "b1", 0, 3);
        run.commit(3, "g1-c1", "g1", "b1", 0, 3).commit(4, "g1-c1", "g1", "b1", 1, 0);
        let verdict = verdict_of("offsets", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "4 commits in 2 streams, 0 explained regressions, 0 unexplained regressions");
    }

    #[test]
    fn a_regression_with_nothing_between_fails() {
        let mut run = Run::new();
        run.commit(1, "g1-c0", "g1", "b1", 0, 10);
        run.commit(2, "g1-c1", "g1", "b1", 0, 8);
        let verdict = verdict_of("offsets", &run.history, &clustering(&[]));
        assert!(!verdict.pass);
        assert_eq!(
            verdict.summary,
            "2 commits in 1 stream, 0 explained regressions, 1 unexplained regressions (showing 1)"
        );
        assert!(verdict.violations[0].ids.is_empty());
        assert_eq!(
            verdict.violations[0].detail,
            "group g1 committed t@b1#0 offset 8 at 2 ms (by g1-c1) after 10 at 1 ms (by g1-c0) with no rebalance, \
             crash, restart or fault between"
        );
    }

    #[test]
    fn a_regression_at_a_handover_is_explained_only_near_the_move() {
        let moved = || Op::Rebalanced { consumer: "g1-c1".into(), group: "g1".into(), queues: vec![queue("b1", 0)] };
        let mut near = Run::new();
        near.push(0, moved());
        near.commit(15_000, "g1-c0", "g1", "b1", 0, 10);
        near.commit(15_001, "g1-c1", "g1", "b1", 0, 8);
        assert!(verdict_of("offsets", &near.history, &clustering(&[])).pass, "within the handover");
        let mut far = Run::new();
        far.push(0, moved());
        far.commit(25_000, "g1-c0", "g1", "b1", 0, 10);
        far.commit(25_001, "g1-c1", "g1", "b1", 0, 8);
        assert!(!verdict_of("offsets", &far.history, &clustering(&[])).pass, "20 s after the move");
    }

    #[test]
    fn a_regression_after_a_crash_or_fault_is_explained() {
        let mut run = Run::new();
        run.commit(1, "g1-c0", "g1", "b1", 0, 10);
        run.crash(2, "b1", CrashKind::Kill);
        run.commit(3, "g1-c0", "g1", "b1", 0, 8);
        run.push(4, Op::FaultStarted { fault: "partition".into(), nodes: vec!["g1-c0".into()] });
        run.commit(5, "g1-c0", "g1", "b1", 0, 7);
        let verdict = verdict_of("offsets", &run.history, &clustering(&[]));
        assert!(verdict.pass, "{verdict:?}");
        assert_eq!(verdict.summary, "3 commits in 1 stream, 2 explained regressions, 0 unexplained regressions");
    }

    #[test]
    fn broadcasting_members_commit_independently() {
        let cfg = config(&[("bc", GroupModel::Broadcasting, &["bc-0", "bc-1"])], &[]);
        let mut run = Run::new();
        run.commit(1, "bc-0", "bc", "b1", 0, 10).commit(2, "bc-1", "bc", "b1", 0, 2);
        assert!(verdict_of("offsets", &run.history, &cfg).pass);
        run.commit(3, "bc-1", "bc", "b1", 0, 1);
        let verdict = verdict_of("offsets", &run.history, &cfg);
        assert!(!verdict.pass);
        assert!(verdict.violations[0].detail.starts_with("consumer bc-1 of broadcasting group bc committed"));
    }
}
