//! The store crash chaos: a seeded run of random puts, flushes, restarts, process kills, power
//! losses and disk faults (EIO on write, sync, create or replace; a full disk) against a
//! `MessageStore` on a `SimDisk`, checked step by step against a plain
//! model (a list of messages per queue). Used by the `petrel-sim run store-crash` command (the
//! main job until the cluster simulation lands) and by the model-based property tests.
//!
//! What is checked after every step:
//! - every synced message reads back identical after any crash;
//! - after a kill nothing put is lost (the page cache survives), in either flush mode;
//! - after a power loss what survives is a prefix of the put order containing everything synced:
//!   never a partial or phantom record;
//! - each (topic, queue, offset) names the same message for as long as it exists;
//! - the ConsumeQueue agrees with the CommitLog (the record found through the queue carries that
//!   queue id and queue offset), and key lookups find the messages with that key;
//! - a disk fault gives a typed error and loses nothing acknowledged: a put that failed
//!   half-way was never acknowledged and may or may not be there after the next restart (the
//!   model accepts either, in order), and the store refuses writes until it is restarted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use petrel_core::message::properties::keys;
use petrel_core::message::record::decode_record;
use petrel_core::message::{MessageToStore, Properties};
use petrel_core::store::disk::{DiskOp, DiskRef};
use petrel_core::store::{FlushMode, MessageStore, QueueOffset, StoreConfig, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::disk::{CrashKind, SimDisk};

/// A broken invariant, described for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Returns a violation from the enclosing function when `cond` is false.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}

pub const TOPICS: [&str; 3] = ["TopicA", "TopicB", "%RETRY%group"];
pub const QUEUES: i32 = 3;
pub const TAGS: [&str; 3] = ["TagA", "TagB", "TagC"];

/// One step of a chaos run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Put a batch of `count` messages into one queue.
    Put { topic: usize, queue: i32, count: usize, body_len: usize, tag: Option<usize>, key: Option<u8> },
    /// Sync the CommitLog, queues and indexes and write the checkpoint.
    Flush,
    /// Shut down cleanly and reopen.
    Restart,
    /// The process dies; the page cache survives.
    Kill,
    /// The machine loses power; unsynced pages are lost or torn.
    PowerLoss,
    /// Read a queue from a chosen offset.
    Read { topic: usize, queue: i32, from: usize },
    /// Inject a disk fault that hits the next matching operation.
    Fault(FaultKind),
    /// Run retention at the delete hour, long after every message: every checkpointed file
    /// but the one being written goes.
    Retention,
    /// Delete a topic's queues.
    DeleteTopic { topic: usize },
}

/// Disk faults the chaos injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The next write fails with EIO.
    WriteError,
    /// The next sync fails with EIO.
    SyncError,
    /// The next file creation fails with EIO.
    CreateError,
    /// The next atomic replace (checkpoint) fails with EIO.
    ReplaceError,
    /// The disk is full: creating any new file fails with ENOSPC.
    DiskFull,
    /// Space is freed again.
    DiskFreed,
}

impl FaultKind {
    /// Every fault, for drawing one.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::WriteError,
        FaultKind::SyncError,
        FaultKind::CreateError,
        FaultKind::ReplaceError,
        FaultKind::DiskFull,
        FaultKind::DiskFreed,
    ];
}

/// What the model remembers of one message.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    /// Put order across the whole store (the CommitLog order).
    seq: u64,
    body: Bytes,
    tag: Option<&'static str>,
    key: Option<String>,
}

/// The store under test, its disk, and the model it is checked against.
pub struct Harness {
    disk: SimDisk,
    config: StoreConfig,
    store: Option<MessageStore>,
    /// Messages per (topic, queue), by queue offset.
    queues: BTreeMap<(usize, i32), Vec<Expected>>,
    /// Every message with seq below this is durable.
    synced_seq: u64,
    next_seq: u64,
    puts: u64,
    lost_unsynced: u64,
    restarts: u64,
    kills: u64,
    power_losses: u64,
    reads: u64,
    /// Messages whose put or sync failed half-way: each may or may not be in the store after
    /// the next restart (never acknowledged, so either is correct), in put order.
    uncertain: Vec<((usize, i32), Expected)>,
    faults: u64,
    refused_puts: u64,
    /// The lowest readable queue offset seen per queue; retention only ever raises it.
    mins: BTreeMap<(usize, i32), u64>,
    files_deleted: u64,
    /// A topic whose deletion failed half-way: after the next restart it is either gone or
    /// intact.
    pending_delete: Option<usize>,
    topics_deleted: u64,
}

fn host(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn body_for(seq: u64, len: usize) -> Bytes {
    let mut body = seq.to_be_bytes().to_vec();
    body.extend((0..len).map(|i| (seq as usize * 31 + i) as u8));
    Bytes::from(body)
}

impl Harness {
    pub fn new(seed: u64, flush_mode: FlushMode) -> Result<Harness, Violation> {
        let disk = SimDisk::with_seed(seed);
        let config = StoreConfig { flush_mode, ..StoreConfig::small_for_tests() };
        let mut harness = Harness {
            disk,
            config,
            store: None,
            queues: BTreeMap::new(),
            synced_seq: 0,
            next_seq: 0,
            puts: 0,
            lost_unsynced: 0,
            restarts: 0,
            kills: 0,
            power_losses: 0,
            reads: 0,
            uncertain: Vec::new(),
            faults: 0,
            refused_puts: 0,
            mins: BTreeMap::new(),
            files_deleted: 0,
            pending_delete: None,
            topics_deleted: 0,
        };
        harness.reopen()?;
        Ok(harness)
    }

    fn disk_ref(&self) -> DiskRef {
        Arc::new(self.disk.clone())
    }

    /// Opens the store, as an operator would: each pending injected one-shot disk fault may
    /// fail one attempt with a typed disk error, so one attempt per fault injected so far (plus
    /// one) is allowed; anything else is a violation.
    fn reopen(&mut self) -> Result<(), Violation> {
        let attempts = self.faults as usize + 2;
        let mut last_error = None;
        for _ in 0..attempts {
            match MessageStore::open(self.disk_ref(), self.config.clone()) {
                Ok((store, _report)) => {
                    self.store = Some(store);
                    self.settle_pending_delete();
                    return self.adopt_uncertain();
                }
                // A full disk stays full across a restart: the operator frees space and retries.
                Err(StoreError::Disk(error)) => {
                    self.disk.set_capacity(None);
                    last_error = Some(error);
                }
                Err(error) => return Err(Violation(format!("store does not open: {error}"))),
            }
        }
        Err(Violation(format!("store does not open after {attempts} attempts: {last_error:?}")))
    }

    /// A deletion cut short is either done or not after a restart; the model follows.
    fn settle_pending_delete(&mut self) {
        let Some(topic) = self.pending_delete.take() else { return };
        let store = self.store.as_ref().expect("just opened");
        if !store.queue_ids().iter().any(|(name, _)| name == TOPICS[topic]) {
            self.forget_topic(topic);
        }
    }

    /// The model's side of a topic deletion: its queues start again from offset 0.
    fn forget_topic(&mut self, topic: usize) {
        self.queues.retain(|(t, _), _| *t != topic);
        self.mins.retain(|(t, _), _| *t != topic);
        self.uncertain.retain(|((t, _), _)| *t != topic);
        self.topics_deleted += 1;
    }

    /// After a restart, each uncertain message is either in the store (right after the certain
    /// ones of its queue, in order) or gone; the ones that are in become certain.
    fn adopt_uncertain(&mut self) -> Result<(), Violation> {
        for ((topic, queue), message) in std::mem::take(&mut self.uncertain) {
            let kept = self.store()?.max_offset(TOPICS[topic], queue).0 as usize;
            let list = self.queues.entry((topic, queue)).or_default();
            if kept > list.len() {
                list.push(message);
            }
        }
        Ok(())
    }

    fn store(&mut self) -> Result<&mut MessageStore, Violation> {
        self.store.as_mut().ok_or_else(|| Violation("store is not open".into()))
    }

    fn put(
        &mut self,
        topic: usize,
        queue: i32,
        count: usize,
        body_len: usize,
        tag: Option<usize>,
        key: Option<u8>,
    ) -> Result<(), Violation> {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..count {
            let seq = self.next_seq;
            self.next_seq += 1;
            let tag = tag.map(|t| TAGS[t]);
            let key = key.map(|k| format!("key-{k}"));
            let body = body_for(seq, body_len);
            batch.push(message(seq, topic, queue, tag, key.as_deref(), body.clone()));
            expected.push(Expected { seq, body, tag, key });
        }
        let now = 2_000 + self.next_seq as i64;
        let result = match self.store()?.put_messages(&batch, now) {
            Ok(result) => result,
            Err(error) => return self.put_refused(topic, queue, expected, error),
        };
        self.puts += count as u64;
        let list = self.queues.entry((topic, queue)).or_default();
        for (stored, expected) in result.messages.iter().zip(expected) {
            check!(
                stored.queue_offset == QueueOffset(list.len() as u64),
                "queue offsets are not dense: got {:?}",
                stored.queue_offset
            );
            list.push(expected);
        }
        if self.config.flush_mode == FlushMode::Sync && !self.flush_log()? {
            // SYNC_FLUSH acknowledges only after the sync covering the put; it failed, so the
            // put was never acknowledged and may or may not survive.
            let list = self.queues.entry((topic, queue)).or_default();
            let unacknowledged = list.split_off(list.len() - count);
            self.uncertain.extend(unacknowledged.into_iter().map(|m| ((topic, queue), m)));
        }
        Ok(())
    }

    /// A put returned an error: a typed disk error or a refusal of a failed store. If the store
    /// failed during the put, its messages may have reached the CommitLog.
    fn put_refused(
        &mut self,
        topic: usize,
        queue: i32,
        expected: Vec<Expected>,
        error: StoreError,
    ) -> Result<(), Violation> {
        check!(
            matches!(error, StoreError::Disk(_) | StoreError::NotWritable { .. }),
            "put failed without an injected fault: {error}"
        );
        self.refused_puts += 1;
        if self.store()?.failed().is_some() && !matches!(error, StoreError::NotWritable { .. }) {
            self.uncertain.extend(expected.into_iter().map(|m| ((topic, queue), m)));
        }
        Ok(())
    }

    /// Syncs the CommitLog as the flush service does; false if the sync failed (the store then
    /// refuses writes until restarted).
    fn flush_log(&mut self) -> Result<bool, Violation> {
        let store = self.store()?;
        if store.failed().is_some() {
            return Ok(false);
        }
        let plan = store.flush_plan();
        match plan.execute() {
            Ok(()) => store.flushed(plan.to),
            Err(StoreError::Disk(error)) => {
                store.flush_failed(&StoreError::Disk(error));
                return Ok(false);
            }
            Err(error) => return Err(Violation(format!("sync failed without a disk error: {error}"))),
        }
        self.synced_seq = self.next_seq;
        Ok(true)
    }

    fn crash(&mut self, kind: CrashKind) -> Result<(), Violation> {
        self.store = None;
        self.disk.crash(kind);
        self.reopen()?;
        if kind == CrashKind::PowerLoss {
            self.keep_surviving_prefix()?;
        }
        self.synced_seq = self.next_seq;
        Ok(())
    }

    /// After a power loss the store keeps a prefix of the put order that includes every synced
    /// message; the model drops what the store lost and checks that shape.
    fn keep_surviving_prefix(&mut self) -> Result<(), Violation> {
        let mut survived_max = None::<u64>;
        let mut lost_min = None::<u64>;
        let keys: Vec<_> = self.queues.keys().copied().collect();
        for (topic, queue) in keys {
            let kept = self.store()?.max_offset(TOPICS[topic], queue).0 as usize;
            let synced_seq = self.synced_seq;
            let Some(list) = self.queues.get_mut(&(topic, queue)) else { continue };
            check!(kept <= list.len(), "phantom messages in {}-{queue}: {kept} > {}", TOPICS[topic], list.len());
            if let Some(last) = list[..kept].last() {
                survived_max = survived_max.max(Some(last.seq));
            }
            if let Some(first_lost) = list.get(kept) {
                check!(
                    first_lost.seq >= synced_seq,
                    "synced message seq {} lost from {}-{queue}",
                    first_lost.seq,
                    TOPICS[topic]
                );
                lost_min = Some(lost_min.map_or(first_lost.seq, |m: u64| m.min(first_lost.seq)));
            }
            self.lost_unsynced += (list.len() - kept) as u64;
            list.truncate(kept);
        }
        if let (Some(survived), Some(lost)) = (survived_max, lost_min) {
            check!(survived < lost, "not a prefix of the log: seq {survived} survived but seq {lost} was lost");
        }
        Ok(())
    }

    /// Reads a queue from `from` and compares every record with the model.
    fn check_read(&mut self, topic: usize, queue: i32, from: usize) -> Result<(), Violation> {
        let name = TOPICS[topic];
        let certain = self.queues.get(&(topic, queue)).cloned().unwrap_or_default();
        let certain_len = certain.len();
        let mut expected = certain;
        expected.extend(self.uncertain.iter().filter(|(k, _)| *k == (topic, queue)).map(|(_, m)| m.clone()));
        let min = self.store()?.min_offset(name, queue).0;
        let seen_min = self.mins.get(&(topic, queue)).copied().unwrap_or(0);
        check!(
            min >= seen_min,
            "min offset of {name}-{queue} went back from {seen_min} to {min} (max {})",
            self.store()?.max_offset(name, queue).0
        );
        self.mins.insert((topic, queue), min);
        let from = from.max(min as usize).min(certain_len);
        let store = self.store()?;
        let result = store
            .get_messages(name, queue, QueueOffset(from as u64), 32, &|_| true)
            .map_err(|e| Violation(format!("read of {name}-{queue}@{from} failed: {e}")))?;
        let max = result.max_offset.0 as usize;
        check!(
            max >= certain_len && max <= expected.len(),
            "max offset of {name}-{queue} is {max}, expected {certain_len}..={}",
            expected.len()
        );
        for (record, offset) in result.records.iter().zip(&result.queue_offsets) {
            let at = format!("{name}-{queue}@{}", offset.0);
            let message =
                decode_record(record.clone()).map_err(|e| Violation(format!("record at {at} does not decode: {e}")))?;
            let Some(want) = expected.get(offset.0 as usize) else {
                return Err(Violation(format!("phantom record at {at}")));
            };
            check!(
                message.topic == name && message.queue_id == queue,
                "ConsumeQueue {at} points at a record of {}-{}",
                message.topic,
                message.queue_id
            );
            check!(
                message.queue_offset == offset.0 as i64,
                "ConsumeQueue {at} points at a record with queue offset {}",
                message.queue_offset
            );
            check!(message.body == want.body, "message at {at} changed");
            check!(message.tags() == want.tag, "tags at {at} changed");
        }
        if from < certain_len {
            check!(
                result.queue_offsets.first().map(|o| o.0 as usize) == Some(from),
                "read of {name}-{queue}@{from} did not start there"
            );
        }
        self.reads += 1;
        Ok(())
    }

    /// Every queue, every message, plus one key lookup per queue.
    fn check_everything(&mut self) -> Result<(), Violation> {
        let keys: Vec<_> = self.queues.keys().copied().collect();
        for (topic, queue) in keys {
            let len = self.queues.get(&(topic, queue)).map_or(0, Vec::len);
            for from in (0..len).step_by(32) {
                self.check_read(topic, queue, from)?;
            }
            self.check_key_lookup(topic, queue)?;
        }
        Ok(())
    }

    fn check_key_lookup(&mut self, topic: usize, queue: i32) -> Result<(), Violation> {
        let list = self.queues.get(&(topic, queue)).cloned().unwrap_or_default();
        let Some((index, want)) = list.iter().enumerate().rev().find(|(_, m)| m.key.is_some()) else { return Ok(()) };
        if (index as u64) < self.mins.get(&(topic, queue)).copied().unwrap_or(0) {
            return Ok(()); // deleted by retention
        }
        let key = want.key.clone().unwrap_or_default();
        let found = self
            .store()?
            .query_by_key(TOPICS[topic], &key, 64, 0, i64::MAX)
            .map_err(|e| Violation(format!("query by key failed: {e}")))?;
        let hit = found.iter().any(|(record, _)| decode_record(record.clone()).is_ok_and(|m| m.body == want.body));
        check!(hit, "key {key} does not find its newest message in {}-{queue}", TOPICS[topic]);
        Ok(())
    }

    /// Runs one step and checks what it promises.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        match *op {
            Op::Put { topic, queue, count, body_len, tag, key } => self.put(topic, queue, count, body_len, tag, key),
            Op::Flush => {
                if self.flush_log()? {
                    match self.store()?.checkpoint(false) {
                        Ok(()) | Err(StoreError::Disk(_)) => {}
                        Err(error) => {
                            return Err(Violation(format!("checkpoint failed without a disk error: {error}")))
                        }
                    }
                }
                Ok(())
            }
            Op::Restart => {
                self.restarts += 1;
                let mut store = self.store.take().ok_or_else(|| Violation("store is not open".into()))?;
                match store.close() {
                    Ok(()) => {
                        self.synced_seq = self.next_seq;
                        drop(store);
                        self.reopen()?;
                    }
                    // A failed store cannot shut down cleanly: the operator kills and restarts it.
                    Err(StoreError::Disk(_) | StoreError::NotWritable { .. }) => {
                        drop(store);
                        self.crash(CrashKind::ProcessKill)?;
                    }
                    Err(error) => return Err(Violation(format!("clean shutdown failed: {error}"))),
                }
                self.check_everything()
            }
            Op::Retention => {
                let delete_hour_long_after = 400 * 86_400_000 + 4 * 3_600_000;
                match self.store()?.delete_expired(delete_hour_long_after, None) {
                    Ok(deleted) => self.files_deleted += deleted as u64,
                    Err(StoreError::Disk(_) | StoreError::NotWritable { .. }) => {}
                    Err(error) => return Err(Violation(format!("retention failed without a disk error: {error}"))),
                }
                self.check_everything()
            }
            Op::DeleteTopic { topic } => {
                match self.store()?.delete_topic(TOPICS[topic]) {
                    Ok(()) => self.forget_topic(topic),
                    Err(StoreError::Disk(_)) => self.pending_delete = Some(topic),
                    Err(StoreError::NotWritable { .. }) => {}
                    Err(error) => {
                        return Err(Violation(format!("topic deletion failed without a disk error: {error}")))
                    }
                }
                self.check_everything()
            }
            Op::Fault(kind) => {
                self.faults += 1;
                self.inject(kind);
                Ok(())
            }
            Op::Kill => {
                self.kills += 1;
                self.crash(CrashKind::ProcessKill)?;
                self.check_everything()
            }
            Op::PowerLoss => {
                self.power_losses += 1;
                self.crash(CrashKind::PowerLoss)?;
                self.check_everything()
            }
            Op::Read { topic, queue, from } => self.check_read(topic, queue, from),
        }
    }

    fn inject(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::WriteError => self.disk.fail_next(DiskOp::Write, None, 1),
            FaultKind::SyncError => self.disk.fail_next(DiskOp::Sync, None, 1),
            FaultKind::CreateError => self.disk.fail_next(DiskOp::Create, None, 1),
            FaultKind::ReplaceError => self.disk.fail_next(DiskOp::Replace, None, 1),
            FaultKind::DiskFull => self.disk.set_capacity(Some(self.disk.allocated_bytes())),
            FaultKind::DiskFreed => self.disk.set_capacity(None),
        }
    }

    /// Ends a run: a final power loss, then a check of everything.
    pub fn finish(&mut self) -> Result<(), Violation> {
        self.power_losses += 1;
        self.disk.set_capacity(None);
        self.crash(CrashKind::PowerLoss)?;
        self.check_everything()
    }

    /// The disk's counters and the store's CommitLog range: what a divergent run would change.
    fn fingerprint(&self) -> String {
        let log = self.store.as_ref().map(|s| (s.commit_log_min_offset().0, s.commit_log_max_offset().0));
        format!("{log:?} {:?}", self.disk.counters())
    }

    /// What happened so far.
    pub fn summary(&self) -> ChaosSummary {
        ChaosSummary {
            messages_put: self.puts,
            messages_kept: self.queues.values().map(|l| l.len() as u64).sum(),
            lost_unsynced: self.lost_unsynced,
            restarts: self.restarts,
            kills: self.kills,
            power_losses: self.power_losses,
            reads: self.reads,
            faults: self.faults,
            refused_puts: self.refused_puts,
            files_deleted: self.files_deleted,
            topics_deleted: self.topics_deleted,
        }
    }
}

/// Counts of one run, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosSummary {
    pub messages_put: u64,
    pub messages_kept: u64,
    /// Messages acknowledged only as far as the page cache and lost to a power loss (allowed
    /// in ASYNC_FLUSH, inside the flush window).
    pub lost_unsynced: u64,
    pub restarts: u64,
    pub kills: u64,
    pub power_losses: u64,
    pub reads: u64,
    /// Disk faults injected.
    pub faults: u64,
    /// Puts that returned a typed error (a fault, a full disk, or a store that stopped writes).
    pub refused_puts: u64,
    /// CommitLog files deleted by retention.
    pub files_deleted: u64,
    /// Topics deleted.
    pub topics_deleted: u64,
}

fn message(seq: u64, topic: usize, queue: i32, tag: Option<&str>, key: Option<&str>, body: Bytes) -> MessageToStore {
    let mut properties = Properties::new();
    if let Some(tag) = tag {
        properties.set(keys::TAGS, tag);
    }
    if let Some(key) = key {
        properties.set(keys::KEYS, key);
    }
    properties.set(keys::UNIQ_KEY, format!("{seq:032X}"));
    MessageToStore {
        topic: TOPICS[topic].to_string(),
        queue_id: queue,
        flag: 0,
        body,
        properties,
        sys_flag: 0,
        born_timestamp: 1_000 + seq as i64,
        born_host: host(5000),
        store_host: host(10911),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

impl Op {
    /// Draws a step with the same mix as the property tests.
    pub fn random(rng: &mut StdRng) -> Op {
        let topic = rng.gen_range(0..TOPICS.len());
        let queue = rng.gen_range(0..QUEUES);
        match rng.gen_range(0..23) {
            0..=9 => Op::Put {
                topic,
                queue,
                count: rng.gen_range(1..4),
                body_len: rng.gen_range(0..3000),
                tag: rng.gen_bool(0.5).then(|| rng.gen_range(0..TAGS.len())),
                key: rng.gen_bool(0.5).then(|| rng.gen_range(0..6)),
            },
            10..=11 => Op::Flush,
            12 => Op::Restart,
            13 => Op::Kill,
            14..=15 => Op::PowerLoss,
            16..=18 => Op::Read { topic, queue, from: rng.gen_range(0..64) },
            19 => Op::Retention,
            20 => Op::DeleteTopic { topic },
            _ => Op::Fault(FaultKind::ALL[rng.gen_range(0..FaultKind::ALL.len())]),
        }
    }
}

/// The outcome of one seeded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosRun {
    pub seed: u64,
    pub steps: usize,
    pub summary: ChaosSummary,
    /// The first broken invariant, with the step it broke at.
    pub violation: Option<(usize, Violation)>,
    /// One line per step: the step, its outcome, and a fingerprint of the disk and the store
    /// after it. Two runs of one seed must produce the same trace, line for line.
    pub trace: Vec<String>,
}

impl ChaosRun {
    /// The first step at which two runs' traces differ (`None`: identical).
    pub fn first_difference(&self, other: &ChaosRun) -> Option<(usize, String, String)> {
        let longest = self.trace.len().max(other.trace.len());
        (0..longest).find_map(|step| {
            let (a, b) = (self.trace.get(step), other.trace.get(step));
            (a != b).then(|| (step, a.cloned().unwrap_or_default(), b.cloned().unwrap_or_default()))
        })
    }
}

/// Runs `steps` random steps drawn from `seed`, then a final power loss and full check.
pub fn run_seed(seed: u64, flush_mode: FlushMode, steps: usize) -> ChaosRun {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut harness = match Harness::new(seed, flush_mode) {
        Ok(harness) => harness,
        Err(violation) => {
            return ChaosRun {
                seed,
                steps,
                summary: ChaosSummary::default(),
                violation: Some((0, violation)),
                trace: Vec::new(),
            }
        }
    };
    let mut violation = None;
    let mut trace = Vec::with_capacity(steps);
    for step in 0..steps {
        let op = Op::random(&mut rng);
        let outcome = harness.apply(&op);
        trace.push(format!(
            "{step} {op:?} {} {}",
            if outcome.is_ok() { "ok" } else { "violation" },
            harness.fingerprint()
        ));
        if let Err(v) = outcome {
            violation = Some((step, Violation(format!("{v} (after {op:?})"))));
            break;
        }
    }
    if violation.is_none() {
        if let Err(v) = harness.finish() {
            violation = Some((steps, v));
        }
    }
    ChaosRun { seed, steps, summary: harness.summary(), violation, trace }
}
