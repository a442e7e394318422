//! ConsumeQueue: the per-(topic, queue) index of the CommitLog. Unit `n` of the queue says where
//! the message with queue offset `n` is in the CommitLog.
//!
//! On-disk format (RocketMQ's): units of 20 bytes, big-endian `{i64 commit log offset, i32 size,
//! i64 tag hash code}`, 300,000 units per file by default, files named by the byte offset of
//! their first unit in 20 digits, under `consumequeue/<topic>/<queueId>/`.
//!
//! Invariants: units are written in queue-offset order with strictly increasing CommitLog
//! offsets and a non-zero size; an all-zero unit marks the end. A unit whose record ends at or
//! before the checkpoint's dispatched offset is durable; later units are rebuilt from the
//! CommitLog after a crash, never trusted.

use crate::store::disk::DiskRef;
use crate::store::error::StoreError;
use crate::store::mapped_file::{MappedFileQueue, SyncPlan};
use crate::store::offset::{CommitLogOffset, QueueOffset};

/// Bytes per unit.
pub const CQ_UNIT_SIZE_BYTES: u64 = 20;
const _: () = assert!(CQ_UNIT_SIZE_BYTES == 8 + 4 + 8);

/// The ConsumeQueues' root directory.
pub const CONSUME_QUEUE_DIR: &str = "consumequeue";

/// One unit: where a message is and the hash of its tag for filtering without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    /// The message's position in the CommitLog.
    pub commit_log_offset: CommitLogOffset,
    /// The message's TOTALSIZE.
    pub size: u32,
    /// Java `String.hashCode` of the TAGS property (0 without tags).
    pub tags_code: i64,
}

impl CqUnit {
    fn encode(&self) -> [u8; CQ_UNIT_SIZE_BYTES as usize] {
        let mut out = [0u8; CQ_UNIT_SIZE_BYTES as usize];
        out[0..8].copy_from_slice(&(self.commit_log_offset.0 as i64).to_be_bytes());
        out[8..12].copy_from_slice(&(self.size as i32).to_be_bytes());
        out[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        out
    }

    /// Decodes a unit; `None` for an empty (all-zero size) or impossible unit.
    fn decode(bytes: &[u8]) -> Option<CqUnit> {
        let offset = i64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
        let size = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let tags_code = i64::from_be_bytes(bytes.get(12..20)?.try_into().ok()?);
        if offset < 0 || size <= 0 {
            return None;
        }
        Some(CqUnit { commit_log_offset: CommitLogOffset(offset as u64), size: size as u32, tags_code })
    }

    /// Position just past the message's record.
    pub fn end(&self) -> u64 {
        self.commit_log_offset.0 + self.size as u64
    }
}

pub struct ConsumeQueue {
    /// The topic this queue belongs to.
    topic: String,
    /// The queue's id inside the topic.
    queue_id: i32,
    /// The unit files.
    files: MappedFileQueue,
    /// Queue offset of the next unit to write (the queue's max offset).
    next_offset: u64,
    /// The first queue offset whose message is still kept.
    min_offset: u64,
    /// End of the last unit's record in the CommitLog (0 when empty).
    last_end: u64,
    /// Units below this queue offset are durable.
    flushed_offset: u64,
}

impl ConsumeQueue {
    pub fn dir(topic: &str, queue_id: i32) -> String {
        format!("{CONSUME_QUEUE_DIR}/{topic}/{queue_id}")
    }

    /// Opens a queue's files (creating nothing); call [`ConsumeQueue::recover`] next.
    pub fn open(disk: DiskRef, topic: &str, queue_id: i32, units_per_file: u64) -> Result<Self, StoreError> {
        let files = MappedFileQueue::load(disk, &Self::dir(topic, queue_id), units_per_file * CQ_UNIT_SIZE_BYTES)?;
        let min_offset = files.min_offset() / CQ_UNIT_SIZE_BYTES;
        Ok(ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            files,
            next_offset: min_offset,
            min_offset,
            last_end: 0,
            flushed_offset: min_offset,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    /// Queue offset of the next message (RocketMQ's max offset).
    pub fn max_offset(&self) -> QueueOffset {
        QueueOffset(self.next_offset)
    }

    pub fn min_offset(&self) -> QueueOffset {
        QueueOffset(self.min_offset)
    }

    /// End of the last indexed record in the CommitLog.
    pub fn last_end(&self) -> u64 {
        self.last_end
    }

    /// Finds the end of the valid units: the first empty unit, a unit out of CommitLog order,
    /// or one whose record ends past `trusted_end` (not durable before the crash). Everything
    /// from there on is cut off.
    pub fn recover(&mut self, trusted_end: u64) -> Result<(), StoreError> {
        let unit_bytes = CQ_UNIT_SIZE_BYTES as usize;
        let files: Vec<_> = self.files.files().to_vec();
        let mut end = self.files.min_offset();
        let mut last_end = 0;
        // Walk files from the newest back to the first whose first unit is trustworthy.
        for file in files.iter().rev() {
            let data = file.file.read_at(0, self.files.file_size() as usize)?;
            let first = CqUnit::decode(&data[..unit_bytes]);
            if first.is_none_or(|u| u.end() > trusted_end) {
                continue;
            }
            let mut previous_offset = None;
            let mut at = 0;
            while at + unit_bytes <= data.len() {
                match CqUnit::decode(&data[at..at + unit_bytes]) {
                    Some(unit)
                        if unit.end() <= trusted_end
                            && previous_offset.is_none_or(|p| unit.commit_log_offset.0 > p) =>
                    {
                        previous_offset = Some(unit.commit_log_offset.0);
                        last_end = unit.end();
                        at += unit_bytes;
                    }
                    _ => break,
                }
            }
            end = file.base + at as u64;
            break;
        }
        self.files.truncate(end)?;
        self.next_offset = end / CQ_UNIT_SIZE_BYTES;
        self.flushed_offset = self.next_offset;
        self.last_end = last_end;
        self.min_offset = self.min_offset.min(self.next_offset);
        Ok(())
    }

    /// Writes the unit for queue offset `offset`. Rewriting an existing identical unit is a
    /// no-op (a reput after recovery); anything else that is not the next offset is corruption.
    pub fn put(&mut self, offset: QueueOffset, unit: CqUnit) -> Result<(), StoreError> {
        if offset.0 < self.next_offset {
            return match self.get(offset)? {
                Some(existing) if existing == unit => Ok(()),
                existing => Err(self.corrupt(offset, format!("reput of {unit:?} finds {existing:?}"))),
            };
        }
        if offset.0 > self.next_offset {
            return Err(self.corrupt(offset, format!("gap: the next unit is {}", self.next_offset)));
        }
        let position = offset.0 * CQ_UNIT_SIZE_BYTES;
        let file = self.files.file_for_write(position)?;
        file.file.write_at(position - file.base, &unit.encode())?;
        self.next_offset += 1;
        self.last_end = unit.end();
        Ok(())
    }

    fn corrupt(&self, offset: QueueOffset, reason: String) -> StoreError {
        StoreError::corrupt(&Self::dir(&self.topic, self.queue_id), offset.0 * CQ_UNIT_SIZE_BYTES, reason)
    }

    /// The unit at `offset`, if it is inside `[min_offset, max_offset)`.
    pub fn get(&self, offset: QueueOffset) -> Result<Option<CqUnit>, StoreError> {
        Ok(self.read_units(offset, 1)?.into_iter().next())
    }

    /// Up to `count_max` consecutive units from `from`, stopping at the end of a file.
    pub fn read_units(&self, from: QueueOffset, count_max: usize) -> Result<Vec<CqUnit>, StoreError> {
        if from.0 < self.min_offset || from.0 >= self.next_offset || count_max == 0 {
            return Ok(Vec::new());
        }
        let position = from.0 * CQ_UNIT_SIZE_BYTES;
        let file_end = self.files.file_base_for(position) + self.files.file_size();
        let readable = (self.next_offset * CQ_UNIT_SIZE_BYTES).min(file_end) - position;
        let count = (readable / CQ_UNIT_SIZE_BYTES).min(count_max as u64) as usize;
        let Some(bytes) = self.files.read(position, count * CQ_UNIT_SIZE_BYTES as usize)? else {
            return Ok(Vec::new());
        };
        let mut units = Vec::with_capacity(count);
        for (index, chunk) in bytes.chunks_exact(CQ_UNIT_SIZE_BYTES as usize).enumerate() {
            let Some(unit) = CqUnit::decode(chunk) else {
                return Err(self.corrupt(QueueOffset(from.0 + index as u64), "empty unit below the max offset".into()));
            };
            units.push(unit);
        }
        Ok(units)
    }

    /// Syncing the units written since the last flush.
    pub fn flush_plan(&self) -> SyncPlan {
        self.files.sync_plan(self.flushed_offset * CQ_UNIT_SIZE_BYTES, self.next_offset * CQ_UNIT_SIZE_BYTES)
    }

    pub fn flushed(&mut self, plan_to: u64) {
        self.flushed_offset = self.flushed_offset.max(plan_to / CQ_UNIT_SIZE_BYTES);
    }

    /// Retention: drops whole files whose messages all lie below `commit_log_min`, and moves
    /// the min offset to the first unit whose message is still kept.
    pub fn drop_below(&mut self, commit_log_min: u64) -> Result<(), StoreError> {
        let units_per_file = self.files.file_size() / CQ_UNIT_SIZE_BYTES;
        while self.files.files().len() > 1 {
            let first_base = self.files.min_offset() / CQ_UNIT_SIZE_BYTES;
            let last_in_first = QueueOffset(first_base + units_per_file - 1);
            match self.get(last_in_first)? {
                Some(unit) if unit.end() <= commit_log_min => {
                    self.files.remove_first()?;
                }
                _ => break,
            }
        }
        let mut min = self.min_offset.max(self.files.min_offset() / CQ_UNIT_SIZE_BYTES);
        while min < self.next_offset {
            match self.get(QueueOffset(min))? {
                Some(unit) if unit.commit_log_offset.0 < commit_log_min => min += 1,
                _ => break,
            }
        }
        self.min_offset = min;
        Ok(())
    }

    /// Removes the queue's files (topic deletion).
    pub fn destroy(mut self) -> Result<(), StoreError> {
        self.files.remove_all()
    }
}
