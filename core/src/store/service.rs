//! `StoreService`: the async host of a [`MessageStore`]. It owns the store behind a lock and
//! runs the background work RocketMQ runs on threads, as tasks on the runtime (real tokio or
//! madsim):
//! - SYNC_FLUSH group commit: a put appends under the lock, registers for the sync covering
//!   it and waits; one flusher task syncs everything appended so far (outside the lock, so
//!   appends continue) and releases every put it covered. A put not covered within
//!   `sync_flush_timeout_ms` is answered with a flush timeout, never as durable.
//! - ASYNC_FLUSH: a flusher wakes every `interval_ms` and syncs per [`AsyncFlushPolicy`].
//! - A checkpointer syncs ConsumeQueues and IndexFiles and writes the checkpoint every
//!   `flush_consume_queue_interval_ms`.
//!
//! A simulated disk may ask for stalls (slow fsync); the tasks sleep for them on the runtime's
//! clock after the I/O that caused them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use crate::clock;
use crate::message::MessageToStore;
use crate::planted::PlantedBug;
use crate::store::error::StoreError;
use crate::store::flush::{AsyncFlushPolicy, Durability, FlushMode, GroupCommit};
use crate::store::message_store::{MessageStore, PutResult};

/// Most puts that may wait for one group commit. A put appended beyond it does not wait: it
/// is answered at once as stored but not known durable (FLUSH_DISK_TIMEOUT), so the table
/// never grows without bound.
pub const GROUP_COMMIT_WAITERS_MAX: usize = 64 * 1024;

/// How a put ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Where the messages landed.
    pub result: PutResult,
    /// What the acknowledgement may promise.
    pub durability: Durability,
    /// SYNC_FLUSH only: the sync did not complete in time (RocketMQ's FLUSH_DISK_TIMEOUT).
    /// The messages are stored but not known durable.
    pub flush_timed_out: bool,
}

/// Most yields the group-commit flusher spends letting a group grow before syncing it.
pub const GROUP_GATHER_YIELDS_MAX: usize = 64;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

struct Shared {
    /// The store's flush mode, fixed at start.
    mode: FlushMode,
    /// A deliberate defect for checker tests (`None` normally).
    planted: Option<PlantedBug>,
    /// How long a SYNC_FLUSH put waits for its sync.
    sync_timeout: Duration,
    /// The store; never held across an await or a sync.
    store: Mutex<MessageStore>,
    /// SYNC_FLUSH puts waiting for a sync.
    waiting: Mutex<GroupCommit<Waiter>>,
    /// Wakes the group-commit flusher.
    wake_flusher: Notify,
    /// Set once shutdown begins; tasks stop at their next wake-up.
    closing: std::sync::atomic::AtomicBool,
    /// Serialises checkpoints (the checkpointer's and shutdown's).
    checkpointing: Mutex<()>,
    /// Group commits done, for [`StoreService::group_commit_stats`].
    group_syncs: AtomicU64,
    /// Puts released by group commits.
    group_puts: AtomicU64,
}

/// What group commit has done so far: the mean group is `puts / syncs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCommitStats {
    /// Syncs that released at least one put.
    pub syncs: u64,
    /// Puts those syncs released.
    pub puts: u64,
}

/// A running store. Cheap to clone.
#[derive(Clone)]
pub struct StoreService {
    shared: Arc<Shared>,
}

impl StoreService {
    /// Starts the background tasks for `store` on the current runtime.
    pub fn start(store: MessageStore) -> StoreService {
        let mode = store.config().flush_mode;
        let checkpoint_every = Duration::from_millis(store.config().flush_consume_queue_interval_ms.max(1));
        let sync_timeout = Duration::from_millis(store.config().sync_flush_timeout_ms);
        let shared = Arc::new(Shared {
            mode,
            planted: store.config().planted,
            sync_timeout,
            store: Mutex::new(store),
            waiting: Mutex::new(GroupCommit::default()),
            wake_flusher: Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            checkpointing: Mutex::new(()),
            group_syncs: AtomicU64::new(0),
            group_puts: AtomicU64::new(0),
        });
        match mode {
            FlushMode::Sync => drop(tokio::spawn(group_commit_flusher(shared.clone()))),
            FlushMode::Async(policy) => drop(tokio::spawn(async_flusher(shared.clone(), policy))),
        }
        tokio::spawn(checkpointer(shared.clone(), checkpoint_every));
        tokio::spawn(file_allocator(shared.clone()));
        StoreService { shared }
    }

    /// Runs `f` with the store locked (reads, lookups, admin). Keep it short: puts wait.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut MessageStore) -> R) -> R {
        f(&mut self.shared.lock_store())
    }

    /// Stores messages of one queue and waits for what the flush mode promises.
    pub async fn put_messages(&self, messages: &[MessageToStore]) -> Result<PutOutcome, StoreError> {
        if self.shared.is_closing() {
            return Err(StoreError::NotWritable { reason: "shutting down".into() });
        }
        let result = self.shared.lock_store().put_messages(messages, clock::epoch_ms())?;
        if let FlushMode::Async(_) = self.shared.mode {
            return Ok(PutOutcome { result, durability: Durability::PageCache, flush_timed_out: false });
        }
        if self.shared.planted == Some(PlantedBug::AckBeforeFlush) {
            return Ok(PutOutcome { result, durability: Durability::Disk, flush_timed_out: false });
        }
        let (sender, receiver) = oneshot::channel();
        {
            let mut waiting = self.shared.lock_waiting();
            if waiting.len() >= GROUP_COMMIT_WAITERS_MAX {
                return Ok(PutOutcome { result, durability: Durability::PageCache, flush_timed_out: true });
            }
            waiting.push(result.end.0, sender);
        }
        self.shared.wake_flusher.notify_one();
        match tokio::time::timeout(self.shared.sync_timeout, receiver).await {
            Ok(Ok(Ok(()))) => Ok(PutOutcome { result, durability: Durability::Disk, flush_timed_out: false }),
            // The sync failed after the append: the message is in the CommitLog (a restart after
            // a kill keeps it), so "not stored" would be a lie and a producer retry a duplicate.
            // Like a late sync, it is answered as stored but not known durable.
            Ok(Ok(Err(_))) | Ok(Err(_)) | Err(_) => {
                Ok(PutOutcome { result, durability: Durability::PageCache, flush_timed_out: true })
            }
        }
    }

    /// Counts of the SYNC_FLUSH group commits so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            syncs: self.shared.group_syncs.load(Ordering::Relaxed),
            puts: self.shared.group_puts.load(Ordering::Relaxed),
        }
    }

    /// Stops the background tasks, flushes everything and marks the shutdown clean.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.shared.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake_flusher.notify_one();
        let _checkpointing = self.shared.lock_checkpointing();
        let mut store = self.shared.lock_store();
        let closed = store.close();
        let durable = store.flushed_offset().0;
        drop(store);
        for waiter in self.shared.lock_waiting().complete(durable) {
            let _ = waiter.send(Ok(()));
        }
        for waiter in self.shared.lock_waiting().drain() {
            let _ = waiter.send(Err(StoreError::NotWritable { reason: "shut down before the sync".into() }));
        }
        closed
    }
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, MessageStore> {
        self.store.lock().expect("store lock poisoned by an earlier panic")
    }

    fn lock_checkpointing(&self) -> MutexGuard<'_, ()> {
        self.checkpointing.lock().expect("checkpoint lock poisoned by an earlier panic")
    }

    fn lock_waiting(&self) -> MutexGuard<'_, GroupCommit<Waiter>> {
        self.waiting.lock().expect("group-commit lock poisoned by an earlier panic")
    }

    fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Syncs everything appended so far, outside the store lock; returns the durable offset.
    async fn flush_once(&self) -> Result<u64, StoreError> {
        let plan = {
            let store = self.lock_store();
            if let Some(reason) = store.failed() {
                return Err(StoreError::NotWritable { reason: reason.to_string() });
            }
            store.flush_plan()
        };
        let synced = plan.execute();
        self.sleep_stall().await;
        let mut store = self.lock_store();
        match synced {
            Ok(()) => store.flushed(plan.to),
            Err(error) => {
                store.flush_failed(&error);
                return Err(error);
            }
        }
        Ok(store.flushed_offset().0)
    }

    /// Lets the group grow before its sync: yields to the runtime while puts keep arriving,
    /// so that appenders released by the last sync can join this one instead of waiting for
    /// the next (without it, N appenders settle into two alternating groups of N/2).
    /// Bounded by `GROUP_GATHER_YIELDS_MAX`; no timer, so it costs no latency when nobody
    /// else is running.
    async fn gather_group(&self) {
        let mut seen = self.lock_waiting().len();
        for _ in 0..GROUP_GATHER_YIELDS_MAX {
            tokio::task::yield_now().await;
            let now = self.lock_waiting().len();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    async fn sleep_stall(&self) {
        let stall = self.lock_store().disk().take_stall();
        if !stall.is_zero() {
            tokio::time::sleep(stall).await;
        }
    }
}

/// SYNC_FLUSH: syncs whenever puts wait, releasing all that each sync covers.
async fn group_commit_flusher(shared: Arc<Shared>) {
    loop {
        shared.wake_flusher.notified().await;
        while !shared.lock_waiting().is_empty() {
            if shared.is_closing() {
                return;
            }
            shared.gather_group().await;
            match shared.flush_once().await {
                Ok(durable) => {
                    let released = shared.lock_waiting().complete(durable);
                    if !released.is_empty() {
                        shared.group_syncs.fetch_add(1, Ordering::Relaxed);
                        shared.group_puts.fetch_add(released.len() as u64, Ordering::Relaxed);
                    }
                    for waiter in released {
                        let _ = waiter.send(Ok(()));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "group commit sync failed");
                    for waiter in shared.lock_waiting().drain() {
                        let _ = waiter.send(Err(error.clone()));
                    }
                }
            }
        }
        if shared.is_closing() {
            return;
        }
    }
}

/// ASYNC_FLUSH: wakes every interval and syncs when the policy says so.
async fn async_flusher(shared: Arc<Shared>, policy: AsyncFlushPolicy) {
    let started = clock::monotonic();
    let mut last_thorough_ms = 0i64;
    loop {
        tokio::time::sleep(Duration::from_millis(policy.interval_ms.max(1))).await;
        if shared.is_closing() {
            return;
        }
        let now_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let dirty = shared.lock_store().dirty_bytes();
        if !policy.flush_due(now_ms, dirty, last_thorough_ms) {
            continue;
        }
        if now_ms - last_thorough_ms >= policy.thorough_interval_ms as i64 {
            last_thorough_ms = now_ms;
        }
        if let Err(error) = shared.flush_once().await {
            tracing::error!(%error, "async flush failed");
        }
    }
}

/// Syncs queues and indexes and writes the checkpoint at a fixed interval.
async fn checkpointer(shared: Arc<Shared>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if shared.is_closing() {
            return;
        }
        let result = {
            // Held across the syncs so that shutdown's clean checkpoint cannot be overwritten
            // by this older one; the store itself is locked only to plan and to record.
            let _checkpointing = shared.lock_checkpointing();
            let planned = shared.lock_store().checkpoint_plan(false);
            planned.and_then(|plan| {
                let executed = plan.execute();
                shared.lock_store().checkpoint_done(&plan, executed)
            })
        };
        shared.sleep_stall().await;
        if let Err(error) = result {
            tracing::error!(%error, "checkpoint failed");
        }
    }
}

/// How often the allocator looks whether the next CommitLog file is needed.
const ALLOCATOR_INTERVAL: Duration = Duration::from_millis(100);

/// Creates the next CommitLog file before the current one fills up, outside the store lock.
async fn file_allocator(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(ALLOCATOR_INTERVAL).await;
        if shared.is_closing() {
            return;
        }
        let (wanted, disk) = {
            let store = shared.lock_store();
            (store.commit_log_file_wanted(), store.disk().clone())
        };
        let Some((base, staged, size)) = wanted else { continue };
        let published = match disk.create_warm(&staged, size) {
            Ok(file) => {
                drop(file);
                shared.lock_store().publish_commit_log_file(base, &staged)
            }
            Err(error) => Err(error.into()),
        };
        if let Err(error) = published {
            tracing::warn!(%error, "could not prepare the next CommitLog file ahead of need");
        }
        shared.sleep_stall().await;
    }
}
