//! `MappedFileQueue`: a log kept as a run of equal-sized files, each named by the global offset
//! of its first byte (RocketMQ's MappedFileQueue). The CommitLog and every ConsumeQueue use one.
//!
//! Invariants (checked when a queue is loaded, kept by every method):
//! - every file is exactly `file_size` bytes and its name is its start offset in 20 digits;
//! - start offsets are multiples of `file_size` and contiguous: file i+1 starts where file i
//!   ends, so the file holding offset `x` is found by arithmetic;
//! - bytes past the logical end of the queue are zero (truncation zeroes them), so a scan that
//!   stops at the first empty record never resurrects stale data.

use bytes::Bytes;

use crate::store::disk::{DiskError, DiskRef, FileRef};
use crate::store::error::StoreError;
use crate::store::offset::{file_name_for, parse_file_name};

/// Bytes checked (and zeroed if dirty) per step when truncating a file's tail.
const ZERO_CHUNK_BYTES: u64 = 1 << 20;

/// One file of the queue.
#[derive(Clone)]
pub struct MappedFile {
    /// Global offset of the file's first byte.
    pub base: u64,
    /// The open file.
    pub file: FileRef,
}

impl MappedFile {
    /// The file's path on its disk, for error messages.
    pub fn path(&self) -> &str {
        self.file.path()
    }
}

pub struct MappedFileQueue {
    /// Where the files live.
    disk: DiskRef,
    /// Directory of the files, e.g. `commitlog` or `consumequeue/T/0`.
    dir: String,
    /// Size of every file in bytes.
    file_size: u64,
    /// The files, ascending and contiguous.
    files: Vec<MappedFile>,
}

impl MappedFileQueue {
    /// Opens every file in `dir`, checking names, sizes and contiguity.
    pub fn load(disk: DiskRef, dir: &str, file_size: u64) -> Result<Self, StoreError> {
        assert!(file_size > 0);
        let layout = |reason: String| StoreError::Layout { dir: dir.to_string(), reason };
        let mut files = Vec::new();
        for name in disk.list(dir)? {
            let Some(base) = parse_file_name(&name) else {
                return Err(layout(format!("unexpected file {name}")));
            };
            let file = disk.open(&format!("{dir}/{name}"))?;
            if file.len() != file_size {
                return Err(layout(format!("{name} is {} bytes, expected {file_size}", file.len())));
            }
            if base % file_size != 0 {
                return Err(layout(format!("{name} does not start on a file boundary")));
            }
            if let Some(prev) = files.last().map(|f: &MappedFile| f.base) {
                if base != prev + file_size {
                    return Err(layout(format!("gap before {name}")));
                }
            }
            files.push(MappedFile { base, file });
        }
        Ok(MappedFileQueue { disk, dir: dir.to_string(), file_size, files })
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub fn files(&self) -> &[MappedFile] {
        &self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Offset of the first byte still kept (0 when there are no files).
    pub fn min_offset(&self) -> u64 {
        self.files.first().map_or(0, |f| f.base)
    }

    /// Offset just past the last file (0 when there are no files).
    pub fn end_offset(&self) -> u64 {
        self.files.last().map_or(0, |f| f.base + self.file_size)
    }

    /// The start offset of the file that holds `offset`.
    pub fn file_base_for(&self, offset: u64) -> u64 {
        offset - offset % self.file_size
    }

    /// The file that holds `offset`, if it is kept.
    pub fn file_for(&self, offset: u64) -> Option<&MappedFile> {
        let first = self.files.first()?.base;
        if offset < first {
            return None;
        }
        let index = usize::try_from((offset - first) / self.file_size).ok()?;
        self.files.get(index)
    }

    /// The file that holds `offset`, creating it (and only it) if it is the next one.
    pub fn file_for_write(&mut self, offset: u64) -> Result<MappedFile, StoreError> {
        if let Some(file) = self.file_for(offset) {
            return Ok(file.clone());
        }
        let base = self.file_base_for(offset);
        let expected = if self.files.is_empty() { base } else { self.end_offset() };
        assert_eq!(base, expected, "{}: a write may only open the next file", self.dir);
        let path = format!("{}/{}", self.dir, file_name_for(base));
        let file = match self.disk.create(&path, self.file_size) {
            // A background allocator created it ahead of need: use it.
            Err(DiskError::AlreadyExists { .. }) => self.disk.open(&path)?,
            created => created?,
        };
        if file.len() != self.file_size {
            return Err(StoreError::Layout {
                dir: self.dir.clone(),
                reason: format!("{path} is {} bytes, expected {}", file.len(), self.file_size),
            });
        }
        let mapped = MappedFile { base, file };
        self.files.push(mapped.clone());
        Ok(mapped)
    }

    /// Where the next file starts, and its path: what a background allocator creates ahead
    /// of need (RocketMQ's AllocateMappedFileService), so that appends never wait for a file
    /// to be created and warmed up.
    pub fn next_file(&self) -> (u64, String) {
        let base = self.end_offset();
        (base, format!("{}/{}", self.dir, file_name_for(base)))
    }

    /// Adds a file created ahead of need. Returns false (and changes nothing) if the queue has
    /// moved on meanwhile and `base` is no longer the next file.
    pub fn adopt_next(&mut self, base: u64, file: FileRef) -> bool {
        if base != self.end_offset() || self.files.is_empty() || file.len() != self.file_size {
            return false;
        }
        self.files.push(MappedFile { base, file });
        true
    }

    /// Reads `len` bytes at global `offset`; the range must lie inside one kept file.
    pub fn read(&self, offset: u64, len: usize) -> Result<Option<Bytes>, StoreError> {
        let Some(file) = self.file_for(offset) else { return Ok(None) };
        let inside = offset - file.base;
        if inside + len as u64 > self.file_size {
            return Ok(None);
        }
        Ok(Some(file.file.read_at(inside, len)?))
    }

    /// Makes `[from, to)` durable, file by file.
    pub fn sync(&self, from: u64, to: u64) -> Result<(), StoreError> {
        self.sync_plan(from, to).execute()
    }

    /// What syncing `[from, to)` takes, detached from the queue so that it can run while
    /// appends go on (group commit: the store lock is not held during the fsync).
    pub fn sync_plan(&self, from: u64, to: u64) -> SyncPlan {
        let mut ranges = Vec::new();
        for file in &self.files {
            let (start, end) = (from.max(file.base), to.min(file.base + self.file_size));
            if start < end {
                ranges.push((file.file.clone(), start - file.base, end - start));
            }
        }
        SyncPlan { ranges, to }
    }

    /// Cuts the queue at `offset`: later files are removed and the rest of the file holding
    /// `offset` is zeroed and synced, so nothing past `offset` can be read back. A file that
    /// starts exactly at `offset` stays (empty): it keeps the queue's start where it was even
    /// when retention has removed every earlier file.
    pub fn truncate(&mut self, offset: u64) -> Result<(), StoreError> {
        while let Some(last) = self.files.last() {
            if last.base <= offset {
                break;
            }
            let path = last.path().to_string();
            self.disk.remove(&path)?;
            self.files.pop();
        }
        if let Some(file) = self.file_for(offset).cloned() {
            zero_tail(&file, offset - file.base, self.file_size)?;
        }
        Ok(())
    }

    /// Removes the first file (retention). Its handles stay readable until dropped.
    pub fn remove_first(&mut self) -> Result<Option<MappedFile>, StoreError> {
        if self.files.is_empty() {
            return Ok(None);
        }
        self.disk.remove(self.files[0].path())?;
        Ok(Some(self.files.remove(0)))
    }

    /// Removes every file (used when a whole queue is dropped).
    pub fn remove_all(&mut self) -> Result<(), StoreError> {
        while self.remove_first()?.is_some() {}
        Ok(())
    }
}

/// Ranges of files to make durable, and the offset that is durable once they are.
pub struct SyncPlan {
    /// (file, offset inside it, length) for each file the range touches.
    ranges: Vec<(FileRef, u64, u64)>,
    /// Global offset up to which everything is durable after `execute` returns `Ok`.
    pub to: u64,
}

impl SyncPlan {
    /// Runs the syncs; blocking (msync/fdatasync). The first failure stops it.
    pub fn execute(&self) -> Result<(), StoreError> {
        for (file, offset, len) in &self.ranges {
            file.sync_range(*offset, *len)?;
        }
        Ok(())
    }
}

/// Zeroes `[from, file_size)` of one file where it is not zero already, then syncs it.
fn zero_tail(file: &MappedFile, from: u64, file_size: u64) -> Result<(), StoreError> {
    let mut at = from;
    while at < file_size {
        let len = ZERO_CHUNK_BYTES.min(file_size - at);
        let chunk = file.file.read_at(at, len as usize)?;
        if chunk.iter().any(|&b| b != 0) {
            file.file.write_at(at, &vec![0u8; len as usize])?;
        }
        at += len;
    }
    file.file.sync_range(from, file_size - from)?;
    Ok(())
}
