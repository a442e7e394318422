//! What a rebalance changes: the queues a consumer starts and stops pulling when its
//! assignment for a topic goes from `old` to `new` (`RebalanceImpl.updateProcessQueueTableInRebalance`).

use std::collections::BTreeSet;

use super::queue::MessageQueue;

/// The queues to start and to stop, each in queue order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebalanceDiff {
    /// Newly assigned: compute their first offset and start pulling.
    pub added: Vec<MessageQueue>,
    /// No longer assigned: stop pulling, commit their offset, forget them.
    pub removed: Vec<MessageQueue>,
}

impl RebalanceDiff {
    /// Whether the assignment is unchanged.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The change from `old` to `new` for `topic`: only queues of `topic` in `old` are considered,
/// so one topic's rebalance never stops another topic's queues.
pub fn diff_assignment(topic: &str, old: &BTreeSet<MessageQueue>, new: &[MessageQueue]) -> RebalanceDiff {
    let new: BTreeSet<&MessageQueue> = new.iter().collect();
    let removed = old.iter().filter(|queue| queue.topic == topic && !new.contains(queue)).cloned().collect();
    let added = new.into_iter().filter(|queue| !old.contains(*queue)).cloned().collect();
    RebalanceDiff { added, removed }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Added and removed queues are exact, and other topics' queues are left alone.
    #[test]
    fn diff_is_per_topic() {
        let q = |t: &str, id| MessageQueue::new(t, "b", id);
        let old: BTreeSet<MessageQueue> = [q("T", 0), q("T", 1), q("U", 0)].into();
        let diff = diff_assignment("T", &old, &[q("T", 1), q("T", 2)]);
        assert_eq!(diff, RebalanceDiff { added: vec![q("T", 2)], removed: vec![q("T", 0)] });
        assert!(diff_assignment("T", &old, &[q("T", 0), q("T", 1)]).is_empty());
    }
}
