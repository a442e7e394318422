//! `MessageStore`: the storage engine as one synchronous object (RocketMQ's DefaultMessageStore
//! without its threads). It owns the CommitLog, the ConsumeQueues and the IndexFiles, assigns
//! queue offsets, dispatches every appended record to the indexes, and recovers after a crash.
//! Flushing is split into a plan taken under the owner's lock and executed outside it, so an
//! async host (see `store::service`) can group-commit while appends continue.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::message::record::RecordMeta;
use crate::message::MessageToStore;
use crate::store::checkpoint::Checkpoint;
use crate::store::commit_log::{CommitLog, ScanStop, COMMIT_LOG_DIR};
use crate::store::config::StoreConfig;
use crate::store::consume_queue::{ConsumeQueue, CqUnit};
use crate::store::disk::{DiskError, DiskRef};
use crate::store::dispatch::{
    drop_deleted_queues, load_deleted_topics, open_queues, queue_entry, store_deleted_topics, takes_queue_offset,
    DispatchRequest, Indexes,
};
use crate::store::error::StoreError;
use crate::store::flush::FlushMode;
use crate::store::index::IndexService;
use crate::store::mapped_file::SyncPlan;
use crate::store::offset::{file_name_for, CommitLogOffset, QueueOffset};
use crate::store::retention::{files_to_delete, RetentionInput};

/// Where the background allocator prepares CommitLog files before publishing them.
pub const COMMIT_LOG_STAGING_DIR: &str = "commitlog-staging";

/// Most messages one `get_messages` returns (RocketMQ's pull batch ceiling).
pub const GET_MESSAGES_COUNT_MAX: usize = 32 * 16;
/// Most bytes one `get_messages` returns (RocketMQ `maxTransferBytesOnMessageInMemory`).
pub const GET_MESSAGES_BYTES_MAX: usize = 256 * 1024;

/// Where one stored message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessage {
    /// Position of its record in the CommitLog.
    pub offset: CommitLogOffset,
    /// Its record's size.
    pub size: u32,
    /// Its offset in its queue (0 for transaction half messages, which are not in a queue).
    pub queue_offset: QueueOffset,
}

/// The result of a put: every record of the batch, and where the log ends after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// One entry per message, in order.
    pub messages: Vec<StoredMessage>,
    /// The CommitLog offset that must be durable for the whole put to be durable.
    pub end: CommitLogOffset,
}

/// RocketMQ's GetMessageStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

/// The answer to a pull from one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct GetResult {
    pub status: GetStatus,
    /// Whole stored records, shared with the CommitLog where the disk allows.
    pub records: Vec<Bytes>,
    /// Queue offset of each record, parallel to `records`.
    pub queue_offsets: Vec<QueueOffset>,
    /// Where the next pull of this queue should start.
    pub next_begin_offset: QueueOffset,
    pub min_offset: QueueOffset,
    pub max_offset: QueueOffset,
}

/// What recovery found, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The previous shutdown was clean.
    pub clean: bool,
    /// Where the CommitLog ends now.
    pub end: u64,
    /// Records dispatched again to the indexes during recovery.
    pub redispatched: u64,
    /// Why the scan stopped, if not at a clean end.
    pub tail: Option<String>,
}

pub struct MessageStore {
    /// The device every file lives on.
    disk: DiskRef,
    /// Settings.
    config: StoreConfig,
    /// The log of every message.
    commit_log: CommitLog,
    /// ConsumeQueues, IndexFiles and deleted topics: what the dispatcher maintains.
    indexes: Indexes,
    /// The checkpoint as last written.
    checkpoint: Checkpoint,
    /// Why the store stopped accepting writes, if it did. A write or sync that fails half-way
    /// leaves memory ahead of the disk (a CommitLog record without its ConsumeQueue unit, pages
    /// a failed fsync may have dropped): going on could assign a queue offset twice or record a
    /// checkpoint over lost data. Reads go on; a restart recovers from the disk.
    failed: Option<String>,
}

impl MessageStore {
    /// Opens a store (a new one on an empty disk), recovering from a crash if the last
    /// shutdown was not clean. Corrupt data below the durable watermark is an error, not a
    /// truncation: it was acknowledged.
    pub fn open(disk: DiskRef, config: StoreConfig) -> Result<(Self, RecoveryReport), StoreError> {
        let previous = Checkpoint::load(&disk)?;
        for leftover in disk.list(COMMIT_LOG_STAGING_DIR)? {
            disk.remove(&format!("{COMMIT_LOG_STAGING_DIR}/{leftover}"))?;
        }
        let clean = previous.is_none_or(|c| c.clean);
        let previous = previous.unwrap_or_default();
        let trusted = previous.dispatched;
        let commit_log =
            CommitLog::open(disk.clone(), config.commit_log_file_size_bytes, config.message_size_max_bytes)?;
        if trusted > commit_log.files().end_offset() {
            return Err(StoreError::corrupt(
                "checkpoint",
                0,
                format!(
                    "says {trusted} bytes are indexed but the CommitLog ends at {}",
                    commit_log.files().end_offset()
                ),
            ));
        }
        let (slots, entries) = (config.index_slots_per_file, config.index_entries_per_file);
        let repair = IndexService::plan_repair(&disk, slots, entries, previous.indexed, clean)?;
        let mut previous = previous;
        if repair.rebuild_from < previous.indexed {
            // Durable before any file goes, so that a later attempt still rebuilds them.
            previous.indexed = repair.rebuild_from;
            previous.store(&disk)?;
        }
        for path in &repair.remove {
            disk.remove(path)?;
        }
        let queues = open_queues(&disk, &config, trusted)?;
        let index = IndexService::open(disk.clone(), slots, entries)?;
        let deleted_topics = load_deleted_topics(&disk)?;
        let queues = drop_deleted_queues(queues, &deleted_topics)?;
        let indexes = Indexes { queues, index, deleted_topics };
        let mut store = MessageStore { disk, config, commit_log, indexes, checkpoint: previous, failed: None };
        let report = store.recover(previous, clean)?;
        let commit_log_min = store.commit_log.min_offset().0;
        for queue in store.indexes.queues.values_mut().flat_map(BTreeMap::values_mut) {
            queue.drop_below(commit_log_min)?;
        }
        store.checkpoint(false)?;
        Ok((store, report))
    }

    fn recover(&mut self, previous: Checkpoint, clean: bool) -> Result<RecoveryReport, StoreError> {
        // ConsumeQueue units are trusted below `dispatched`, index entries below `indexed`; a
        // reput from the lower one redoes both (ConsumeQueue units it finds are skipped).
        let start = previous.indexed.min(previous.dispatched).max(self.commit_log.min_offset().0);
        let mut redispatched = 0;
        let log = &self.commit_log;
        let (indexes, config, disk) = (&mut self.indexes, &self.config, &self.disk);
        let skip_from = match config.planted {
            Some(crate::planted::PlantedBug::SkipConsumeQueueOnRecovery) => previous.dispatched,
            _ => u64::MAX,
        };
        let outcome = log.scan(start, |meta| {
            if u64::try_from(meta.physical_offset).unwrap_or(0) >= skip_from {
                return Ok(());
            }
            redispatched += 1;
            let request = DispatchRequest::from_meta(meta);
            indexes.dispatch(config, disk, &request)
        })?;
        let mut tail = None;
        if let ScanStop::Invalid { file, file_offset, reason } = &outcome.stop {
            if clean || outcome.end < previous.commit_log_flushed {
                return Err(StoreError::Corrupt { file: file.clone(), offset: *file_offset, reason: reason.clone() });
            }
            tail = Some(format!("{file} at {file_offset}: {reason}"));
        }
        // Whatever stopped the scan (an empty record, a missing file), the log may not end
        // below what was synced: that data was acknowledged.
        if outcome.end < previous.commit_log_flushed {
            let base = self.commit_log.files().file_base_for(outcome.end);
            let file = format!("{}/{}", COMMIT_LOG_DIR, file_name_for(base));
            return Err(StoreError::corrupt(
                &file,
                outcome.end - base,
                format!("the log ends here but {} bytes were synced", previous.commit_log_flushed),
            ));
        }
        let end = outcome.end;
        self.commit_log.recovered(end, !clean, previous.commit_log_flushed)?;
        Ok(RecoveryReport { clean, end, redispatched, tail })
    }

    fn queue(&self, topic: &str, queue_id: i32) -> Option<&ConsumeQueue> {
        self.indexes.queues.get(topic)?.get(&queue_id)
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn disk(&self) -> &DiskRef {
        &self.disk
    }

    /// Appends messages to one (topic, queue) as one contiguous block and indexes them.
    /// The result is in the page cache: durable only after a flush covers `end`.
    pub fn put_messages(&mut self, messages: &[MessageToStore], store_timestamp: i64) -> Result<PutResult, StoreError> {
        self.check_writable()?;
        let Some(first) = messages.first() else {
            return Ok(PutResult { messages: Vec::new(), end: self.commit_log.write_offset() });
        };
        if !messages.iter().all(|m| m.topic == first.topic && m.queue_id == first.queue_id) {
            return Err(StoreError::MixedBatch);
        }
        validate_topic(&first.topic)?;
        let mut next = self.queue_mut(&first.topic, first.queue_id)?.max_offset();
        let mut assigned = Vec::with_capacity(messages.len());
        for message in messages {
            if takes_queue_offset(message.sys_flag) {
                assigned.push((message, next));
                next = next.next();
            } else {
                assigned.push((message, QueueOffset(0)));
            }
        }
        let appended = self.commit_log.append(&assigned, store_timestamp)?;
        let mut stored = Vec::with_capacity(appended.len());
        for ((message, queue_offset), record) in assigned.iter().zip(&appended) {
            let request =
                DispatchRequest::from_put(message, *queue_offset, record.offset, record.size, store_timestamp);
            if let Err(error) = self.indexes.dispatch(&self.config, &self.disk, &request) {
                self.fail(&error);
                return Err(error);
            }
            stored.push(StoredMessage { offset: record.offset, size: record.size, queue_offset: *queue_offset });
        }
        Ok(PutResult { messages: stored, end: self.commit_log.write_offset() })
    }

    fn queue_mut(&mut self, topic: &str, queue_id: i32) -> Result<&mut ConsumeQueue, StoreError> {
        queue_entry(&mut self.indexes.queues, &self.disk, &self.config, topic, queue_id)
    }

    /// Up to `count_max` messages of one queue from `offset` whose tag hash passes `filter`.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: QueueOffset,
        count_max: usize,
        filter: &dyn Fn(i64) -> bool,
    ) -> Result<GetResult, StoreError> {
        let Some(queue) = self.queue(topic, queue_id) else {
            return Ok(empty_get(GetStatus::NoMatchedLogicQueue, QueueOffset(0), QueueOffset(0), QueueOffset(0)));
        };
        let (min, max) = (queue.min_offset(), queue.max_offset());
        let outside = match offset {
            _ if max.0 == 0 => Some((GetStatus::NoMessageInQueue, QueueOffset(0))),
            o if o < min => Some((GetStatus::OffsetTooSmall, min)),
            o if o == max => Some((GetStatus::OffsetOverflowOne, o)),
            o if o > max => Some((GetStatus::OffsetOverflowBadly, if min.0 == 0 { min } else { max })),
            _ => None,
        };
        if let Some((status, next)) = outside {
            return Ok(empty_get(status, next, min, max));
        }
        let count_max = count_max.clamp(1, GET_MESSAGES_COUNT_MAX);
        let mut result = empty_get(GetStatus::NoMatchedMessage, offset, min, max);
        // Sized for what the queue holds past `offset` (at most `count_max`): grown once.
        let available = usize::try_from(max.0 - offset.0).unwrap_or(usize::MAX).min(count_max);
        result.records.reserve_exact(available);
        result.queue_offsets.reserve_exact(available);
        let mut bytes = 0usize;
        let mut next = offset;
        // SYNC_FLUSH serves only what is synced: a consumer must never see a message that a
        // power loss could take back and whose offset could then name another message.
        let visible_end = match self.config.flush_mode {
            FlushMode::Sync => self.commit_log.flushed_offset().0,
            FlushMode::Async(_) => self.commit_log.write_offset().0,
        };
        'scan: while next < max && result.records.len() < count_max {
            let units = queue.read_units(next, count_max - result.records.len())?;
            if units.is_empty() {
                break;
            }
            for unit in units {
                let too_big = bytes + unit.size as usize > GET_MESSAGES_BYTES_MAX && !result.records.is_empty();
                if too_big || unit.end() > visible_end {
                    break 'scan;
                }
                let here = next;
                next = next.next();
                if unit.commit_log_offset < self.commit_log.min_offset() || !filter(unit.tags_code) {
                    continue;
                }
                if let Some(record) = self.commit_log.read(unit.commit_log_offset, unit.size as usize)? {
                    check_unit_matches(queue, here, &unit, &record)?;
                    bytes += record.len();
                    result.records.push(record);
                    result.queue_offsets.push(here);
                }
                if result.records.len() >= count_max {
                    break 'scan;
                }
            }
        }
        result.next_begin_offset = next;
        if !result.records.is_empty() {
            result.status = GetStatus::Found;
        } else if next == offset {
            // Nothing readable yet at `offset` (not synced under SYNC_FLUSH): like the end of
            // the queue, a long poll waits here.
            result.status = GetStatus::OffsetOverflowOne;
        }
        Ok(result)
    }

    /// The CommitLog file to create ahead of need, if the file being written is past half full
    /// and is the last one: `(base, staging path, size)`. Create and warm it at the staging
    /// path without holding the store (appends go on meanwhile, and nobody else can see it),
    /// then publish it with [`MessageStore::publish_commit_log_file`].
    pub fn commit_log_file_wanted(&self) -> Option<(u64, String, u64)> {
        let files = self.commit_log.files();
        let size = files.file_size();
        let write = self.commit_log.write_offset().0;
        let last = files.files().last()?;
        let past_half = write >= last.base && write - last.base >= size / 2;
        past_half.then(|| {
            let (base, _) = files.next_file();
            (base, format!("{COMMIT_LOG_STAGING_DIR}/{}", file_name_for(base)), size)
        })
    }

    /// Moves a file prepared at `staged` into the CommitLog as the file starting at `base`.
    /// Returns false, and removes the staged file, if it is no longer wanted (the appender
    /// got there first).
    pub fn publish_commit_log_file(&mut self, base: u64, staged: &str) -> Result<bool, StoreError> {
        let (next, path) = self.commit_log.files().next_file();
        if next != base {
            self.disk.remove(staged)?;
            return Ok(false);
        }
        match self.disk.rename(staged, &path) {
            Ok(()) => {}
            Err(DiskError::AlreadyExists { .. }) => {
                self.disk.remove(staged)?;
                return Ok(false);
            }
            Err(error) => return Err(error.into()),
        }
        let file = self.disk.open(&path)?;
        Ok(self.commit_log.files_mut().adopt_next(base, file))
    }

    /// Queue offset the next message of a queue gets (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> QueueOffset {
        self.queue(topic, queue_id).map_or(QueueOffset(0), |q| q.max_offset())
    }

    /// The end of what a pull of the queue can see now: `max_offset` under ASYNC_FLUSH; under
    /// SYNC_FLUSH only up to the last synced message (pulls serve nothing beyond it). Long
    /// polling holds against this, or it would wake for messages it cannot serve yet.
    pub fn visible_max_offset(&self, topic: &str, queue_id: i32) -> Result<QueueOffset, StoreError> {
        let Some(queue) = self.queue(topic, queue_id) else { return Ok(QueueOffset(0)) };
        let mut end = queue.max_offset();
        if let FlushMode::Sync = self.config.flush_mode {
            let flushed = self.commit_log.flushed_offset().0;
            while end > queue.min_offset() {
                match queue.get(QueueOffset(end.0 - 1))? {
                    Some(unit) if unit.end() > flushed => end = QueueOffset(end.0 - 1),
                    _ => break,
                }
            }
        }
        Ok(end)
    }

    /// First queue offset still kept (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> QueueOffset {
        self.queue(topic, queue_id).map_or(QueueOffset(0), |q| q.min_offset())
    }

    /// The record at a CommitLog offset (lookup by offsetMsgId).
    pub fn message_at(&self, offset: CommitLogOffset) -> Result<Option<(Bytes, RecordMeta)>, StoreError> {
        if offset < self.commit_log.min_offset() {
            return Ok(None);
        }
        self.commit_log.read_record(offset)
    }

    /// Store time of the message at a queue offset.
    pub fn store_time_at(&self, topic: &str, queue_id: i32, offset: QueueOffset) -> Result<Option<i64>, StoreError> {
        let Some(queue) = self.queue(topic, queue_id) else { return Ok(None) };
        let Some(unit) = queue.get(offset)? else { return Ok(None) };
        Ok(self.message_at(unit.commit_log_offset)?.map(|(_, meta)| meta.store_timestamp))
    }

    /// The first queue offset whose message was stored at or after `timestamp_ms` (binary
    /// search over store times; RocketMQ's getOffsetInQueueByTime). Past the end: the max offset.
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64) -> Result<QueueOffset, StoreError> {
        let (mut low, mut high) = (self.min_offset(topic, queue_id).0, self.max_offset(topic, queue_id).0);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.store_time_at(topic, queue_id, QueueOffset(middle))? {
                Some(time) if time < timestamp_ms => low = middle + 1,
                Some(_) => high = middle,
                None => low = middle + 1,
            }
        }
        Ok(QueueOffset(low))
    }

    /// Messages indexed under `key` in `topic` stored within `[begin_ms, end_ms]`, newest first,
    /// checked against the actual record's keys (hash collisions are filtered out).
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(Bytes, RecordMeta)>, StoreError> {
        let mut found = Vec::new();
        for offset in self.indexes.index.query(topic, key, begin_ms, end_ms, max)? {
            if let Some((record, meta)) = self.message_at(CommitLogOffset(offset))? {
                let matches = meta.topic == topic
                    && (meta.keys.iter().any(|k| k == key) || meta.uniq_key.as_deref() == Some(key));
                if matches {
                    found.push((record, meta));
                }
            }
        }
        Ok(found)
    }

    /// Every (topic, queue id) with a ConsumeQueue.
    pub fn queue_ids(&self) -> Vec<(String, i32)> {
        self.indexes.queues.iter().flat_map(|(topic, ids)| ids.keys().map(move |id| (topic.clone(), *id))).collect()
    }

    pub fn commit_log_min_offset(&self) -> CommitLogOffset {
        self.commit_log.min_offset()
    }

    pub fn commit_log_max_offset(&self) -> CommitLogOffset {
        self.commit_log.write_offset()
    }

    pub fn flushed_offset(&self) -> CommitLogOffset {
        self.commit_log.flushed_offset()
    }

    /// Bytes appended but not yet durable.
    pub fn dirty_bytes(&self) -> u64 {
        self.commit_log.write_offset().0 - self.commit_log.flushed_offset().0
    }

    /// The sync that makes everything appended so far durable; run it without the store, then
    /// report it with [`MessageStore::flushed`].
    pub fn flush_plan(&self) -> SyncPlan {
        self.commit_log.flush_plan()
    }

    pub fn flushed(&mut self, plan_to: u64) {
        self.commit_log.flushed(plan_to);
    }

    /// Reports that a flush plan's sync failed: after a failed fsync the kernel may have
    /// dropped the pages, so the store stops taking writes.
    pub fn flush_failed(&mut self, error: &StoreError) {
        self.fail(error);
    }

    /// Why the store refuses writes, if it does.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn fail(&mut self, error: &StoreError) {
        if self.failed.is_none() {
            tracing::error!(%error, "store stops accepting writes");
            self.failed = Some(error.to_string());
        }
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        match &self.failed {
            None => Ok(()),
            Some(reason) => Err(StoreError::NotWritable { reason: format!("an earlier write failed: {reason}") }),
        }
    }

    /// Syncs the CommitLog up to the write position, holding the store (shutdown, tests).
    fn sync_commit_log(&mut self) -> Result<(), StoreError> {
        self.check_writable()?;
        let plan = self.flush_plan();
        if let Err(error) = plan.execute() {
            self.fail(&error);
            return Err(error);
        }
        self.flushed(plan.to);
        Ok(())
    }

    /// Flushes everything now (CommitLog, queues, indexes) and writes the checkpoint.
    pub fn flush_all(&mut self) -> Result<(), StoreError> {
        self.sync_commit_log()?;
        self.checkpoint(false)
    }

    /// Syncs ConsumeQueues and IndexFiles and records, in the checkpoint, how far they and the
    /// CommitLog are durable. `clean` marks a shutdown. A failure stops writes (a failed sync
    /// of a queue must never be followed by a checkpoint that trusts it).
    pub fn checkpoint(&mut self, clean: bool) -> Result<(), StoreError> {
        self.check_writable()?;
        let result = self.write_checkpoint(clean);
        if let Err(error) = &result {
            self.fail(error);
        }
        result
    }

    fn write_checkpoint(&mut self, clean: bool) -> Result<(), StoreError> {
        let plan = self.checkpoint_plan(clean)?;
        let executed = plan.execute();
        self.checkpoint_done(&plan, executed)
    }

    /// First step of a checkpoint: what to sync and what to record, taken under the store's
    /// owner's lock. Run [`CheckpointPlan::execute`] without it, then report the result with
    /// [`MessageStore::checkpoint_done`]. Puts go on meanwhile; the checkpoint claims only
    /// what was dispatched when the plan was taken.
    pub fn checkpoint_plan(&mut self, clean: bool) -> Result<CheckpointPlan, StoreError> {
        self.check_writable()?;
        let flushed = self.commit_log.flushed_offset().0;
        let dispatched = self.commit_log.write_offset().0.min(flushed);
        let mut queue_syncs = Vec::new();
        for queue in self.indexes.queues.values().flat_map(BTreeMap::values) {
            queue_syncs.push((queue.topic().to_string(), queue.queue_id(), queue.flush_plan()));
        }
        Ok(CheckpointPlan {
            queue_syncs,
            index_files: self.indexes.index.take_sync_plan(),
            checkpoint: Checkpoint { clean, commit_log_flushed: flushed, dispatched, indexed: dispatched },
            disk: self.disk.clone(),
        })
    }

    /// Last step of a checkpoint: records what the plan made durable, or stops writes if it
    /// failed (a failed sync of a queue must never be followed by a checkpoint trusting it).
    pub fn checkpoint_done(
        &mut self,
        plan: &CheckpointPlan,
        executed: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Err(error) = executed {
            self.fail(&error);
            return Err(error);
        }
        for (topic, queue_id, sync) in &plan.queue_syncs {
            if let Some(queue) = self.indexes.queues.get_mut(topic).and_then(|ids| ids.get_mut(queue_id)) {
                queue.flushed(sync.to);
            }
        }
        self.checkpoint = plan.checkpoint;
        Ok(())
    }

    /// Flushes everything and marks the shutdown clean; refused (nothing marked clean) if the
    /// store failed earlier, so the next start recovers.
    pub fn close(&mut self) -> Result<(), StoreError> {
        self.sync_commit_log()?;
        self.checkpoint(true)?;
        // Nothing may be written after the clean mark: it promises the tail is intact.
        self.failed = Some("the store was closed".into());
        Ok(())
    }

    /// [`MessageStore::close`], consuming the store.
    pub fn shutdown(mut self) -> Result<(), StoreError> {
        self.close()
    }

    /// Removes a topic's ConsumeQueues; its messages stay in the CommitLog until retention.
    /// The deletion is remembered durably first (with the log synced up to it, so that no
    /// later record can land below the mark), so a reput after a crash does not bring the
    /// topic back, and a crash half-way through is finished at the next start.
    pub fn delete_topic(&mut self, topic: &str) -> Result<(), StoreError> {
        self.sync_commit_log()?;
        let result = self.forget_topic(topic);
        if let Err(error) = &result {
            self.fail(error);
        }
        result
    }

    fn forget_topic(&mut self, topic: &str) -> Result<(), StoreError> {
        let mut deleted = self.indexes.deleted_topics.clone();
        deleted.insert(topic.to_string(), self.commit_log.write_offset().0);
        store_deleted_topics(&self.disk, &deleted)?;
        self.indexes.deleted_topics = deleted;
        for (_, queue) in self.indexes.queues.remove(topic).unwrap_or_default() {
            queue.destroy()?;
        }
        Ok(())
    }

    /// Deletes expired CommitLog files (and the queue and index files that only point into
    /// them) per the retention policy, only below the checkpoint. Returns the number of
    /// CommitLog files deleted.
    pub fn delete_expired(&mut self, now_ms: i64, disk_used_percent: Option<u64>) -> Result<usize, StoreError> {
        self.check_writable()?;
        let result = self.delete_expired_files(now_ms, disk_used_percent);
        if let Err(error) = &result {
            self.fail(error);
        }
        result
    }

    fn delete_expired_files(&mut self, now_ms: i64, disk_used_percent: Option<u64>) -> Result<usize, StoreError> {
        let input = RetentionInput { now_ms, file_last_store_ms: self.file_last_store_times()?, disk_used_percent };
        // Never delete a file whose records are not yet durably indexed: recovery trusts
        // ConsumeQueue units only up to the checkpoint and rebuilds the rest from the
        // CommitLog, which needs those records.
        let size = self.commit_log.files().file_size();
        let indexed =
            self.commit_log.files().files().iter().take_while(|f| f.base + size <= self.checkpoint.dispatched).count();
        let count = files_to_delete(&self.config, &input).min(indexed);
        for _ in 0..count {
            self.commit_log.files_mut().remove_first()?;
        }
        if count > 0 {
            let min = self.commit_log.min_offset().0;
            for queue in self.indexes.queues.values_mut().flat_map(BTreeMap::values_mut) {
                queue.drop_below(min)?;
            }
            self.indexes.index.drop_below(min)?;
            if self.indexes.deleted_topics.values().any(|&at| at <= min) {
                let mut deleted = self.indexes.deleted_topics.clone();
                deleted.retain(|_, at| *at > min);
                store_deleted_topics(&self.disk, &deleted)?;
                self.indexes.deleted_topics = deleted;
            }
        }
        Ok(count)
    }

    /// For each CommitLog file, an upper bound of its newest message's store time: the store
    /// time of the first message of the next file (the last file: `i64::MAX`, never expired).
    fn file_last_store_times(&self) -> Result<Vec<i64>, StoreError> {
        let files = self.commit_log.files().files();
        let mut times = Vec::with_capacity(files.len());
        for next in files.iter().skip(1) {
            let time =
                self.commit_log.read_record(CommitLogOffset(next.base))?.map_or(i64::MAX, |(_, m)| m.store_timestamp);
            times.push(time);
        }
        if !files.is_empty() {
            times.push(i64::MAX);
        }
        Ok(times)
    }
}

/// Longest topic name (RocketMQ `TOPIC_MAX_LENGTH`; the record stores it in one byte).
pub const TOPIC_LEN_MAX_BYTES: usize = 127;

/// RocketMQ's topic rule: 1 to 127 characters of `[%|a-zA-Z0-9_-]`. The name becomes a
/// directory of the ConsumeQueue tree, so nothing else may pass.
pub fn validate_topic(topic: &str) -> Result<(), StoreError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-');
    if topic.is_empty() || topic.len() > TOPIC_LEN_MAX_BYTES || !topic.chars().all(allowed) {
        return Err(StoreError::InvalidTopic { topic: topic.chars().take(TOPIC_LEN_MAX_BYTES + 1).collect() });
    }
    Ok(())
}

/// The cheap agreement check between a ConsumeQueue unit and the record it points at (size
/// and magic, 8 bytes): a damaged unit must produce an error, never a pull body of garbage.
fn check_unit_matches(
    queue: &ConsumeQueue,
    offset: QueueOffset,
    unit: &CqUnit,
    record: &Bytes,
) -> Result<(), StoreError> {
    let size = record.get(0..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let magic = record.get(4..8).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if size == Some(unit.size as i32) && magic == Some(crate::message::record::MESSAGE_MAGIC_CODE) {
        return Ok(());
    }
    let file = ConsumeQueue::dir(queue.topic(), queue.queue_id());
    Err(StoreError::corrupt(
        &file,
        offset.0 * crate::store::consume_queue::CQ_UNIT_SIZE_BYTES,
        format!("unit {unit:?} does not point at a record of that size"),
    ))
}

fn empty_get(status: GetStatus, next: QueueOffset, min: QueueOffset, max: QueueOffset) -> GetResult {
    GetResult {
        status,
        records: Vec::new(),
        queue_offsets: Vec::new(),
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
    }
}

/// A checkpoint's I/O, detached from the store (see [`MessageStore::checkpoint_plan`]).
pub struct CheckpointPlan {
    /// Each ConsumeQueue's unsynced units.
    queue_syncs: Vec<(String, i32, SyncPlan)>,
    /// IndexFiles written since the last checkpoint.
    index_files: Vec<crate::store::disk::FileRef>,
    /// What to record once those are durable.
    checkpoint: Checkpoint,
    /// Where to record it.
    disk: DiskRef,
}

impl CheckpointPlan {
    /// Syncs the queues and index files, then writes the checkpoint. Blocking.
    pub fn execute(&self) -> Result<(), StoreError> {
        for (_, _, sync) in &self.queue_syncs {
            sync.execute()?;
        }
        for file in &self.index_files {
            file.sync_all()?;
        }
        self.checkpoint.store(&self.disk)
    }
}
