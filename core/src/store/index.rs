//! The IndexService: the run of IndexFiles, rolled when one is full, and queries across them.

use crate::store::disk::DiskRef;
use crate::store::error::StoreError;
use crate::store::index_file::{list_index_files, IndexFile};

pub struct IndexService {
    /// Where index files live.
    disk: DiskRef,
    /// Slots per file.
    slots: u32,
    /// Entries per file.
    entries: u32,
    /// The files, oldest first; only the last one takes new entries.
    files: Vec<IndexFile>,
    /// Index into `files` of the first file written since the last sync.
    dirty_from: usize,
}

/// The key RocketMQ indexes for a message key: `topic#key`.
pub fn index_key(topic: &str, key: &str) -> String {
    format!("{topic}#{key}")
}

impl IndexService {
    /// Opens the index files. Files that may hold entries past `trusted_end` (the CommitLog
    /// offset up to which indexes were durable) are removed. The returned offset is where a
    /// reput must start so that every record is indexed: the end of what the kept files cover,
    /// never past `trusted_end`. Deriving it from the files rather than from what this call
    /// removed keeps recovery correct when an earlier attempt removed files and then failed.
    pub fn open(disk: DiskRef, slots: u32, entries: u32, trusted_end: u64) -> Result<(Self, u64), StoreError> {
        let mut files = Vec::new();
        for (first_offset, name) in list_index_files(&disk)? {
            let file = IndexFile::open(&disk, &name, slots, entries)?;
            let header = *file.header();
            // An empty file (created, no entry durable) is dropped too: the reput refills
            // whatever it should have held, and a kept empty file would take older entries.
            let untrusted = first_offset >= trusted_end
                || header.index_count <= 1
                || header.end_phy_offset as u64 >= trusted_end;
            if untrusted {
                let path = file.path().to_string();
                drop(file);
                disk.remove(&path)?;
                continue;
            }
            files.push(file);
        }
        // Kept files are complete up to `trusted_end`, except where a later file was removed
        // (now or by an earlier attempt that then failed). A later file exists only once the
        // last kept one is full, so: a last file that is not full covers everything up to
        // `trusted_end`; a full one only up to its last entry; no file at all, nothing.
        let covered_to = match files.last() {
            None => 0,
            Some(last) if last.is_full() => last.header().end_phy_offset.max(0) as u64,
            Some(_) => trusted_end,
        };
        let dirty_from = files.len();
        Ok((IndexService { disk, slots, entries, files, dirty_from }, covered_to.min(trusted_end)))
    }

    /// Indexes a message's keys (KEYS split on spaces, then UNIQ_KEY). Records already indexed
    /// (a reput) are skipped.
    pub fn put(&mut self, topic: &str, keys: &[&str], phy: u64, store_timestamp: i64) -> Result<(), StoreError> {
        if let Some(last) = self.files.last() {
            let header = last.header();
            if header.index_count > 1 && phy <= header.end_phy_offset as u64 {
                return Ok(());
            }
        }
        for key in keys {
            if key.is_empty() {
                continue;
            }
            self.writable_file(phy)?;
            self.dirty_from = self.dirty_from.min(self.files.len() - 1);
            let file = self.files.last_mut().expect("writable_file made one");
            file.put(&index_key(topic, key), phy, store_timestamp)?;
        }
        Ok(())
    }

    fn writable_file(&mut self, phy: u64) -> Result<(), StoreError> {
        if self.files.last().is_none_or(|f| f.is_full()) {
            let file = IndexFile::create(&self.disk, phy, self.slots, self.entries)?;
            self.files.push(file);
        }
        Ok(())
    }

    /// CommitLog offsets of messages indexed under `topic#key` stored in `[begin_ms, end_ms]`,
    /// newest first, at most `max`.
    pub fn query(&self, topic: &str, key: &str, begin_ms: i64, end_ms: i64, max: usize) -> Result<Vec<u64>, StoreError> {
        let key = index_key(topic, key);
        let mut found = Vec::new();
        for file in self.files.iter().rev() {
            let header = file.header();
            if header.index_count <= 1 || header.end_timestamp < begin_ms || header.begin_timestamp > end_ms {
                continue;
            }
            file.lookup(&key, begin_ms, end_ms, max, &mut found)?;
            if found.len() >= max {
                break;
            }
        }
        Ok(found)
    }

    /// Syncs every file written since the last sync.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        for file in self.files.iter().skip(self.dirty_from) {
            file.sync()?;
        }
        self.dirty_from = self.files.len();
        Ok(())
    }

    /// Retention: removes files whose every entry points below `commit_log_min`.
    pub fn drop_below(&mut self, commit_log_min: u64) -> Result<(), StoreError> {
        while self.files.len() > 1 && (self.files[0].header().end_phy_offset as u64) < commit_log_min {
            let file = self.files.remove(0);
            self.disk.remove(file.path())?;
            self.dirty_from = self.dirty_from.saturating_sub(1);
        }
        Ok(())
    }

    /// The CommitLog offset of the last indexed message, if any.
    pub fn last_indexed(&self) -> Option<u64> {
        self.files.last().filter(|f| f.header().index_count > 1).map(|f| f.header().end_phy_offset as u64)
    }
}
