//! The IndexService: the run of IndexFiles, rolled when one is full, and queries across them.

use crate::store::disk::{DiskRef, FileRef};
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
    // Built by hand: `format!` costs several times as much, and this runs per stored key.
    let mut text = String::with_capacity(topic.len() + 1 + key.len());
    text.push_str(topic);
    text.push('#');
    text.push_str(key);
    text
}

/// What recovery must do to the index files before trusting them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRepair {
    /// Paths of files to remove: they may hold entries that never became durable.
    pub remove: Vec<String>,
    /// Where a reput must start to rebuild what the removed files held (`trusted_end` when
    /// nothing is removed).
    pub rebuild_from: u64,
}

impl IndexService {
    /// Decides which index files recovery cannot trust, without changing anything. The
    /// caller lowers the checkpoint to `rebuild_from` durably *before* removing the files, so
    /// an attempt that fails half-way leaves a checkpoint that still covers the rebuild.
    ///
    /// A file is untrusted when it starts at or after `trusted_end` (the CommitLog offset up
    /// to which indexes were durable), when its header says it indexed a record at or after
    /// it, when no entry of it is durable (empty), or, after an unclean shutdown, when it is
    /// the last file and one of its slots points past its durable entries (the slot page was
    /// written back, the header was not: the chain that slot headed is lost).
    pub fn plan_repair(
        disk: &DiskRef,
        slots: u32,
        entries: u32,
        trusted_end: u64,
        clean: bool,
    ) -> Result<IndexRepair, StoreError> {
        let listed = list_index_files(disk)?;
        let mut repair = IndexRepair { remove: Vec::new(), rebuild_from: trusted_end };
        for (position, (first_offset, name)) in listed.iter().enumerate() {
            let file = IndexFile::open(disk, name, slots, entries)?;
            let header = *file.header();
            let is_last = position + 1 == listed.len();
            let untrusted = *first_offset >= trusted_end
                || header.index_count <= 1
                || header.end_phy_offset as u64 >= trusted_end
                || (!clean && is_last && file.has_stale_slots()?);
            if untrusted {
                repair.rebuild_from = repair.rebuild_from.min(*first_offset);
                repair.remove.push(file.path().to_string());
            }
        }
        Ok(repair)
    }

    /// Opens every index file (after [`IndexService::plan_repair`]'s removals).
    pub fn open(disk: DiskRef, slots: u32, entries: u32) -> Result<Self, StoreError> {
        let mut files = Vec::new();
        for (_, name) in list_index_files(&disk)? {
            files.push(IndexFile::open(&disk, &name, slots, entries)?);
        }
        let dirty_from = files.len();
        Ok(IndexService { disk, slots, entries, files, dirty_from })
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
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Result<Vec<u64>, StoreError> {
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
        for file in self.take_sync_plan() {
            file.sync_all()?;
        }
        Ok(())
    }

    /// The files to sync so that every entry written so far is durable, to sync without
    /// holding the store. The last file stays marked dirty: entries may keep arriving in it.
    pub fn take_sync_plan(&mut self) -> Vec<FileRef> {
        let files = self.files.iter().skip(self.dirty_from).map(|f| f.file().clone()).collect();
        self.dirty_from = self.files.len().saturating_sub(1);
        files
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
