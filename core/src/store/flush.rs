//! Flush modes and their decision logic, free of I/O: when an async flush is due, and the
//! group-commit queue that lets many SYNC_FLUSH puts share one sync.

use std::collections::BTreeMap;

/// Size of a page for counting dirty pages (RocketMQ `OS_PAGE_SIZE`).
pub const PAGE_SIZE_BYTES: u64 = 4096;

/// How the CommitLog reaches the disk (RocketMQ `flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// SYNC_FLUSH: a put is acknowledged only after a sync covering it (group commit).
    Sync,
    /// ASYNC_FLUSH: a put is acknowledged once in the page cache; a background flush follows.
    Async(AsyncFlushPolicy),
}

/// What an acknowledgement promises about a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// In the page cache: survives a process kill, not a power loss.
    PageCache,
    /// Synced: survives a power loss.
    Disk,
}

/// RocketMQ's FlushRealTimeService policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncFlushPolicy {
    /// How often the flusher wakes up (`flushIntervalCommitLog`, 500 ms).
    pub interval_ms: u64,
    /// Dirty pages needed before a regular flush (`flushCommitLogLeastPages`, 4).
    pub least_pages: u64,
    /// A flush of whatever is dirty happens at least this often (`flushCommitLogThoroughInterval`,
    /// 10 s).
    pub thorough_interval_ms: u64,
}

impl Default for AsyncFlushPolicy {
    fn default() -> Self {
        AsyncFlushPolicy { interval_ms: 500, least_pages: 4, thorough_interval_ms: 10_000 }
    }
}

impl AsyncFlushPolicy {
    /// Whether a flusher that woke at `now_ms` should sync `dirty_bytes`, given when it last
    /// flushed everything (`last_thorough_ms`).
    pub fn flush_due(&self, now_ms: i64, dirty_bytes: u64, last_thorough_ms: i64) -> bool {
        if dirty_bytes == 0 {
            return false;
        }
        let thorough_due = now_ms.saturating_sub(last_thorough_ms) >= self.thorough_interval_ms as i64;
        thorough_due || dirty_bytes.div_ceil(PAGE_SIZE_BYTES) >= self.least_pages
    }
}

/// Puts waiting for a sync, by the CommitLog offset that must be durable for each.
/// `T` is whatever the driver uses to wake a waiter (a oneshot sender).
#[derive(Debug)]
pub struct GroupCommit<T> {
    /// Waiters by the offset their put ends at.
    waiting: BTreeMap<u64, Vec<T>>,
    /// Number of waiters, bounded by the driver.
    count: usize,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit { waiting: BTreeMap::new(), count: 0 }
    }
}

impl<T> GroupCommit<T> {
    /// Registers a put that is acknowledged once everything below `end` is durable.
    pub fn push(&mut self, end: u64, waiter: T) {
        self.waiting.entry(end).or_default().push(waiter);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes every waiter whose put is covered by a sync up to `durable`.
    pub fn complete(&mut self, durable: u64) -> Vec<T> {
        let pending = self.waiting.split_off(&(durable + 1));
        let done: Vec<T> = std::mem::replace(&mut self.waiting, pending).into_values().flatten().collect();
        self.count -= done.len();
        done
    }

    /// Takes every waiter (the sync failed or the store is closing).
    pub fn drain(&mut self) -> Vec<T> {
        self.count = 0;
        std::mem::take(&mut self.waiting).into_values().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_flush_waits_for_four_pages_or_the_thorough_interval() {
        let policy = AsyncFlushPolicy::default();
        assert!(!policy.flush_due(1_000, 0, 0), "nothing dirty: nothing to do");
        assert!(!policy.flush_due(1_000, 3 * 4096, 0), "three pages are not enough");
        assert!(policy.flush_due(1_000, 3 * 4096 + 1, 0), "a fourth partial page is");
        assert!(policy.flush_due(10_000, 1, 0), "after 10 s any dirty byte is flushed");
        assert!(!policy.flush_due(9_999, 1, 0));
    }

    #[test]
    fn group_commit_releases_exactly_the_covered_waiters() {
        let mut group = GroupCommit::default();
        group.push(100, "a");
        group.push(250, "b");
        group.push(100, "c");
        group.push(400, "d");
        assert_eq!(group.len(), 4);
        assert_eq!(group.complete(99), Vec::<&str>::new());
        assert_eq!(group.complete(250), vec!["a", "c", "b"]);
        assert_eq!(group.len(), 1);
        assert_eq!(group.drain(), vec!["d"]);
        assert!(group.is_empty());
    }
}
