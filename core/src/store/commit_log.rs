//! The CommitLog: one sequential log of every message of every topic, in RocketMQ's stored
//! record layout (see `message::record`), kept in equal-sized files named by start offset.
//!
//! On-disk invariants:
//! - records follow each other with no gap; a record's PHYSICALOFFSET field is its own position;
//! - a record (or a batch of records) never spans two files: when it does not fit with at least
//!   `BLANK_RECORD_MIN_BYTES` to spare, the rest of the file is filled with one blank record
//!   (TOTALSIZE = rest, MAGIC = BLANK) and the record starts the next file, so every file ends
//!   with a blank record;
//! - past the write position every byte is zero (TOTALSIZE 0 reads as "nothing here yet").

use bytes::Bytes;

use crate::message::record::{
    check_record, encode_blank, encode_record, record_len, RecordCheck, RecordMeta, BLANK_RECORD_MIN_BYTES,
    RECORD_SIZE_MAX_BYTES,
};
use crate::message::{MessageToStore, RecordError};
use crate::store::disk::DiskRef;
use crate::store::error::StoreError;
use crate::store::mapped_file::{MappedFileQueue, SyncPlan};
use crate::store::offset::{CommitLogOffset, QueueOffset};
use crate::store::record_crc::{self, RECORD_CRC_BYTES};

/// The CommitLog's directory on its disk.
pub const COMMIT_LOG_DIR: &str = "commitlog";

/// Where one appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedRecord {
    /// Position of the record's first byte.
    pub offset: CommitLogOffset,
    /// The record's TOTALSIZE.
    pub size: u32,
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanStop {
    /// Zero bytes where the next record would start: the clean end of the log.
    End,
    /// No file holds the next position.
    NoFile,
    /// The bytes at the stop position are not a valid record (a torn tail or corruption).
    Invalid { file: String, file_offset: u64, reason: String },
}

/// The result of scanning the log forward.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutcome {
    /// Position just past the last valid record (where the next record belongs).
    pub end: u64,
    /// Why the scan stopped there.
    pub stop: ScanStop,
}

pub struct CommitLog {
    /// The log's files.
    files: MappedFileQueue,
    /// Where the next record goes.
    write_offset: u64,
    /// Everything below this is durable (synced).
    flushed_offset: u64,
    /// Largest record (or batch) accepted.
    message_size_max_bytes: usize,
    /// Reused buffer records are encoded into before they are copied into the file.
    encode_buf: Vec<u8>,
}

impl CommitLog {
    /// Opens the log's files. Positions are unknown until recovery calls [`CommitLog::recovered`].
    pub fn open(disk: DiskRef, file_size: u64, message_size_max_bytes: usize) -> Result<Self, StoreError> {
        assert!(file_size > BLANK_RECORD_MIN_BYTES as u64 * 2);
        let files = MappedFileQueue::load(disk, COMMIT_LOG_DIR, file_size)?;
        Ok(CommitLog { files, write_offset: 0, flushed_offset: 0, message_size_max_bytes, encode_buf: Vec::new() })
    }

    /// Sets the positions found by recovery: the log ends at `end`. After a crash (`torn`) the
    /// bytes past `end` may hold a torn record and are zeroed; after a clean shutdown they are
    /// known to be zero already. Bytes from `durable_from` to `end` survived in the page cache
    /// but may never have been synced: they are synced now, before anything counts on them.
    pub fn recovered(&mut self, end: u64, torn: bool, durable_from: u64) -> Result<(), StoreError> {
        if torn {
            self.files.truncate(end)?;
        }
        self.write_offset = end.max(self.files.min_offset());
        let from = durable_from.min(self.write_offset).max(self.files.min_offset());
        self.files.sync(from, self.write_offset)?;
        self.flushed_offset = self.write_offset;
        Ok(())
    }

    pub fn write_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.write_offset)
    }

    pub fn flushed_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.flushed_offset)
    }

    /// The first position still kept (moves forward as retention removes files; 0 without
    /// files). Valid before recovery too: recovery starts its scan no lower than this.
    pub fn min_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.files.min_offset())
    }

    pub fn files(&self) -> &MappedFileQueue {
        &self.files
    }

    pub fn files_mut(&mut self) -> &mut MappedFileQueue {
        &mut self.files
    }

    /// Appends records as one contiguous block (a batch never spans files). Each message comes
    /// with the queue offset the store assigned it. Not durable until flushed.
    pub fn append(
        &mut self,
        messages: &[(&MessageToStore, QueueOffset)],
        store_timestamp: i64,
    ) -> Result<Vec<AppendedRecord>, StoreError> {
        let sizes: Vec<usize> = messages.iter().map(|(m, _)| record_len(m) + RECORD_CRC_BYTES).collect();
        let total: usize = sizes.iter().sum();
        if total > self.message_size_max_bytes || (total + BLANK_RECORD_MIN_BYTES) as u64 > self.files.file_size() {
            return Err(StoreError::MessageTooLarge { size: total, limit: self.message_size_max_bytes });
        }
        self.roll_if_needed(total)?;
        let start = self.write_offset;
        self.encode_buf.clear();
        let mut appended = Vec::with_capacity(messages.len());
        for ((message, queue_offset), size) in messages.iter().zip(&sizes) {
            let offset = start + self.encode_buf.len() as u64;
            let record_start = self.encode_buf.len();
            encode_record(message, queue_offset.0 as i64, offset as i64, store_timestamp, &mut self.encode_buf)
                .map_err(StoreError::Encode)?;
            record_crc::seal(&mut self.encode_buf, record_start, message.properties.encoded_len())
                .map_err(|len| StoreError::Encode(RecordError::PropertiesTooLong { len }))?;
            let written = self.encode_buf.len() - record_start;
            assert_eq!(written, *size, "record_len and encode_record disagree");
            appended.push(AppendedRecord { offset: CommitLogOffset(offset), size: written as u32 });
        }
        let file = self.files.file_for_write(start)?;
        file.file.write_at(start - file.base, &self.encode_buf)?;
        self.write_offset = start + total as u64;
        Ok(appended)
    }

    /// Fills the current file with a blank record and moves to the next one when `len` more
    /// bytes would leave less than a blank record's minimum at the end of the file.
    fn roll_if_needed(&mut self, len: usize) -> Result<(), StoreError> {
        let file_size = self.files.file_size();
        let inside = self.write_offset % file_size;
        let remaining = file_size - inside;
        if (len + BLANK_RECORD_MIN_BYTES) as u64 <= remaining {
            return Ok(());
        }
        let file = self.files.file_for_write(self.write_offset)?;
        self.encode_buf.clear();
        encode_blank(remaining as usize, &mut self.encode_buf);
        file.file.write_at(inside, &self.encode_buf)?;
        self.write_offset += remaining;
        Ok(())
    }

    /// Reads `size` bytes at `offset` (one record or a run of records inside one file).
    pub fn read(&self, offset: CommitLogOffset, size: usize) -> Result<Option<Bytes>, StoreError> {
        if offset.0.checked_add(size as u64).is_none_or(|end| end > self.write_offset) {
            return Ok(None);
        }
        self.files.read(offset.0, size)
    }

    /// Reads the whole record that starts at `offset`, checking it; `None` if no record starts
    /// there (out of range, blank or retention removed it).
    pub fn read_record(&self, offset: CommitLogOffset) -> Result<Option<(Bytes, RecordMeta)>, StoreError> {
        let Some(head) = self.read(offset, 4)? else { return Ok(None) };
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if size <= 0 {
            return Ok(None);
        }
        if size as usize > RECORD_SIZE_MAX_BYTES.max(self.message_size_max_bytes) {
            return Err(self.corrupt_at(offset.0, format!("TOTALSIZE {size} exceeds any record")));
        }
        let Some(record) = self.read(offset, size as usize)? else { return Ok(None) };
        match check_record(&record) {
            Ok(RecordCheck::Message(meta)) if meta.physical_offset == offset.0 as i64 => {
                match record_crc::verify(&record) {
                    Ok(()) => Ok(Some((record, meta))),
                    Err(reason) => Err(self.corrupt_at(offset.0, reason)),
                }
            }
            Ok(_) => Ok(None),
            Err(error) => Err(self.corrupt_at(offset.0, error)),
        }
    }

    fn corrupt_at(&self, offset: u64, reason: impl std::fmt::Display) -> StoreError {
        let base = self.files.file_base_for(offset);
        let file = self.files.file_for(offset).map_or_else(|| self.files.dir().to_string(), |f| f.path().to_string());
        StoreError::corrupt(&file, offset - base, reason)
    }

    /// Syncing everything written so far, to run without holding the store.
    pub fn flush_plan(&self) -> SyncPlan {
        self.files.sync_plan(self.flushed_offset, self.write_offset)
    }

    /// Records that a flush plan's sync succeeded.
    pub fn flushed(&mut self, to: u64) {
        assert!(to <= self.write_offset, "flushed past the write position");
        self.flushed_offset = self.flushed_offset.max(to);
    }

    /// Walks valid records from `from` (a record boundary), calling `visit` for each message,
    /// and reports where the valid log ends and why.
    pub fn scan(
        &self,
        from: u64,
        mut visit: impl FnMut(&RecordMeta) -> Result<(), StoreError>,
    ) -> Result<ScanOutcome, StoreError> {
        let file_size = self.files.file_size();
        let mut pos = from;
        loop {
            let Some(file) = self.files.file_for(pos).cloned() else {
                return Ok(ScanOutcome { end: pos, stop: ScanStop::NoFile });
            };
            let inside = pos - file.base;
            let invalid = |reason: String| ScanOutcome {
                end: pos,
                stop: ScanStop::Invalid { file: file.path().to_string(), file_offset: inside, reason },
            };
            let remaining = file_size - inside;
            let head = file.file.read_at(inside, 4.min(remaining as usize))?;
            if head.len() < 4 {
                return Ok(invalid(format!("{remaining} bytes left in the file, too few for a record")));
            }
            let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            if size == 0 {
                return Ok(ScanOutcome { end: pos, stop: ScanStop::End });
            }
            if size < 0 || size as u64 > remaining {
                return Ok(invalid(format!("TOTALSIZE {size} does not fit the {remaining} bytes left in the file")));
            }
            let record = file.file.read_at(inside, size as usize)?;
            match check_record(&record) {
                Ok(RecordCheck::Message(meta)) if meta.physical_offset == pos as i64 => {
                    if let Err(reason) = record_crc::verify(&record) {
                        return Ok(invalid(reason));
                    }
                    visit(&meta)?;
                    pos += size as u64;
                }
                Ok(RecordCheck::Message(meta)) => {
                    return Ok(invalid(format!("record claims position {}", meta.physical_offset)));
                }
                Ok(RecordCheck::Blank { len }) if len as u64 == remaining => pos = file.base + file_size,
                Ok(RecordCheck::Blank { len }) => {
                    return Ok(invalid(format!("blank record of {len} bytes does not end the file")));
                }
                Ok(RecordCheck::End) => return Ok(ScanOutcome { end: pos, stop: ScanStop::End }),
                Err(error) => return Ok(invalid(error.to_string())),
            }
        }
    }
}
