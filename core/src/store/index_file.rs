//! IndexFile: a hash index from message keys (and UNIQ_KEY ids) to CommitLog offsets, in
//! RocketMQ's layout, so messages can be queried by key and time range.
//!
//! On-disk format (big-endian), one fixed-size file:
//! - header, 40 bytes: `i64 beginTimestamp, i64 endTimestamp, i64 beginPhyOffset,
//!   i64 endPhyOffset, i32 hashSlotCount, i32 indexCount`;
//! - `slots` i32 hash slots, each holding the number of the newest entry for that slot (0 = none);
//! - `entries` entries of 20 bytes: `i32 keyHash, i64 phyOffset, i32 timeDiff (seconds since
//!   beginTimestamp), i32 prevIndex` (the entry the slot held before: a chain per slot).
//!   Entry numbers start at 1 (`indexCount` starts at 1), so 0 means "no entry".
//!
//! The header is rewritten with every entry, so after a process kill the header agrees with the
//! entries. The indexed key is `topic#key`, hashed with Java's `String.hashCode` made positive.

use crate::message::tags::java_string_hash;
use crate::store::disk::{DiskRef, FileRef};
use crate::store::error::StoreError;
use crate::store::offset::{file_name_for, parse_file_name};

/// Size of the header.
pub const INDEX_HEADER_BYTES: u64 = 40;
/// Size of one hash slot.
pub const INDEX_SLOT_BYTES: u64 = 4;
/// Size of one entry.
pub const INDEX_ENTRY_BYTES: u64 = 20;
const _: () = assert!(INDEX_HEADER_BYTES == 4 * 8 + 2 * 4);
const _: () = assert!(INDEX_ENTRY_BYTES == 4 + 8 + 4 + 4);

/// The IndexFiles' directory.
pub const INDEX_DIR: &str = "index";

/// The header's fields, kept in memory and written with every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    /// Store time of the first indexed message (ms).
    pub begin_timestamp: i64,
    /// Store time of the last indexed message (ms).
    pub end_timestamp: i64,
    /// CommitLog offset of the first indexed message.
    pub begin_phy_offset: i64,
    /// CommitLog offset of the last indexed message.
    pub end_phy_offset: i64,
    /// Slots in use.
    pub hash_slot_count: i32,
    /// Number the next entry gets (starts at 1).
    pub index_count: i32,
}

impl IndexHeader {
    fn encode(&self) -> [u8; INDEX_HEADER_BYTES as usize] {
        let mut out = [0u8; INDEX_HEADER_BYTES as usize];
        out[0..8].copy_from_slice(&self.begin_timestamp.to_be_bytes());
        out[8..16].copy_from_slice(&self.end_timestamp.to_be_bytes());
        out[16..24].copy_from_slice(&self.begin_phy_offset.to_be_bytes());
        out[24..32].copy_from_slice(&self.end_phy_offset.to_be_bytes());
        out[32..36].copy_from_slice(&self.hash_slot_count.to_be_bytes());
        out[36..40].copy_from_slice(&self.index_count.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> IndexHeader {
        let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let i32_at = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
        IndexHeader {
            begin_timestamp: i64_at(0),
            end_timestamp: i64_at(8),
            begin_phy_offset: i64_at(16),
            end_phy_offset: i64_at(24),
            hash_slot_count: i32_at(32),
            index_count: i32_at(36),
        }
    }
}

/// RocketMQ's key hash: `String.hashCode`, made non-negative.
pub fn index_key_hash(key: &str) -> i32 {
    java_string_hash(key).checked_abs().unwrap_or(0)
}

/// One IndexFile.
pub struct IndexFile {
    /// The open file.
    file: FileRef,
    /// Number of hash slots.
    slots: u32,
    /// Maximum number of entries.
    entries: u32,
    /// The header as last written.
    header: IndexHeader,
}

impl IndexFile {
    /// File size for a geometry.
    pub fn file_size(slots: u32, entries: u32) -> u64 {
        INDEX_HEADER_BYTES + slots as u64 * INDEX_SLOT_BYTES + entries as u64 * INDEX_ENTRY_BYTES
    }

    /// Creates an empty index file named by the CommitLog offset of its first message.
    pub fn create(disk: &DiskRef, first_phy_offset: u64, slots: u32, entries: u32) -> Result<Self, StoreError> {
        assert!(slots > 0 && entries > 1);
        let path = format!("{INDEX_DIR}/{}", file_name_for(first_phy_offset));
        let file = disk.create(&path, Self::file_size(slots, entries))?;
        let header = IndexHeader { index_count: 1, ..IndexHeader::default() };
        file.write_at(0, &header.encode())?;
        Ok(IndexFile { file, slots, entries, header })
    }

    /// Opens an existing index file, checking its header against its size.
    pub fn open(disk: &DiskRef, name: &str, slots: u32, entries: u32) -> Result<Self, StoreError> {
        let path = format!("{INDEX_DIR}/{name}");
        let file = disk.open(&path)?;
        if file.len() != Self::file_size(slots, entries) {
            return Err(StoreError::Layout { dir: INDEX_DIR.into(), reason: format!("{name} has the wrong size") });
        }
        let header = IndexHeader::decode(&file.read_at(0, INDEX_HEADER_BYTES as usize)?);
        if header == IndexHeader::default() {
            // Created but its first header never reached the disk (power loss): empty.
            let header = IndexHeader { index_count: 1, ..IndexHeader::default() };
            return Ok(IndexFile { file, slots, entries, header });
        }
        if header.index_count < 1 || header.index_count as u64 > entries as u64 + 1 || header.hash_slot_count < 0 {
            return Err(StoreError::corrupt(&path, 0, format!("impossible header {header:?}")));
        }
        Ok(IndexFile { file, slots, entries, header })
    }

    pub fn header(&self) -> &IndexHeader {
        &self.header
    }

    pub fn path(&self) -> &str {
        self.file.path()
    }

    /// The open file, for syncing it without the store.
    pub fn file(&self) -> &FileRef {
        &self.file
    }

    pub fn is_full(&self) -> bool {
        self.header.index_count as u64 > self.entries as u64 - 1
    }

    fn slot_position(&self, key_hash: i32) -> u64 {
        INDEX_HEADER_BYTES + (key_hash as u64 % self.slots as u64) * INDEX_SLOT_BYTES
    }

    fn entry_position(&self, number: i32) -> u64 {
        INDEX_HEADER_BYTES + self.slots as u64 * INDEX_SLOT_BYTES + number as u64 * INDEX_ENTRY_BYTES
    }

    fn read_i32(&self, at: u64) -> Result<i32, StoreError> {
        let bytes = self.file.read_at(at, 4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Adds one entry for `key` (already `topic#key`); the caller checks [`IndexFile::is_full`].
    pub fn put(&mut self, key: &str, phy_offset: u64, store_timestamp: i64) -> Result<(), StoreError> {
        assert!(!self.is_full());
        let key_hash = index_key_hash(key);
        let slot_at = self.slot_position(key_hash);
        let previous = self.read_i32(slot_at)?;
        let previous = if previous <= 0 || previous >= self.header.index_count { 0 } else { previous };
        if self.header.index_count == 1 {
            self.header.begin_timestamp = store_timestamp;
            self.header.begin_phy_offset = phy_offset as i64;
        }
        let seconds = store_timestamp.saturating_sub(self.header.begin_timestamp) / 1000;
        let time_diff = seconds.clamp(0, i32::MAX as i64) as i32;
        let number = self.header.index_count;
        let mut entry = [0u8; INDEX_ENTRY_BYTES as usize];
        entry[0..4].copy_from_slice(&key_hash.to_be_bytes());
        entry[4..12].copy_from_slice(&(phy_offset as i64).to_be_bytes());
        entry[12..16].copy_from_slice(&time_diff.to_be_bytes());
        entry[16..20].copy_from_slice(&previous.to_be_bytes());
        self.file.write_at(self.entry_position(number), &entry)?;
        self.file.write_at(slot_at, &number.to_be_bytes())?;
        if previous == 0 {
            self.header.hash_slot_count += 1;
        }
        self.header.index_count += 1;
        self.header.end_phy_offset = phy_offset as i64;
        self.header.end_timestamp = store_timestamp;
        self.file.write_at(0, &self.header.encode())?;
        Ok(())
    }

    /// CommitLog offsets of entries for `key` stored within `[begin_ms, end_ms]`, newest first,
    /// at most `max`. Hash collisions are possible: the caller checks the records' keys.
    pub fn lookup(
        &self,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        out: &mut Vec<u64>,
    ) -> Result<(), StoreError> {
        let key_hash = index_key_hash(key);
        let mut number = self.read_i32(self.slot_position(key_hash))?;
        let mut steps = 0;
        while number > 0 && number < self.header.index_count && out.len() < max && steps < self.entries {
            let entry = self.file.read_at(self.entry_position(number), INDEX_ENTRY_BYTES as usize)?;
            let hash = i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let phy = i64::from_be_bytes(entry[4..12].try_into().unwrap_or([0; 8]));
            let time_diff = i32::from_be_bytes([entry[12], entry[13], entry[14], entry[15]]);
            let previous = i32::from_be_bytes([entry[16], entry[17], entry[18], entry[19]]);
            let stored_at = self.header.begin_timestamp.saturating_add(time_diff as i64 * 1000);
            // Entries keep whole seconds: a message stored up to 999 ms before `begin_ms` may
            // round down below it.
            let earliest = begin_ms.saturating_sub(999);
            if hash == key_hash && stored_at >= earliest && stored_at <= end_ms && phy >= 0 {
                out.push(phy as u64);
            }
            if previous >= number || stored_at < earliest {
                break;
            }
            number = previous;
            steps += 1;
        }
        Ok(())
    }

    /// Whether a slot points at an entry the header does not count: written after the last
    /// durable header, its previous value (the older chain) may be lost.
    pub fn has_stale_slots(&self) -> Result<bool, StoreError> {
        let slots = self.file.read_at(INDEX_HEADER_BYTES, self.slots as usize * INDEX_SLOT_BYTES as usize)?;
        let count = self.header.index_count;
        Ok(slots.chunks_exact(INDEX_SLOT_BYTES as usize).any(|slot| {
            let number = i32::from_be_bytes([slot[0], slot[1], slot[2], slot[3]]);
            number < 0 || number >= count
        }))
    }

    pub fn sync(&self) -> Result<(), StoreError> {
        Ok(self.file.sync_all()?)
    }
}

/// Lists the index files in order of the CommitLog offset they start at.
pub fn list_index_files(disk: &DiskRef) -> Result<Vec<(u64, String)>, StoreError> {
    let mut found = Vec::new();
    for name in disk.list(INDEX_DIR)? {
        match parse_file_name(&name) {
            Some(offset) => found.push((offset, name)),
            None => {
                return Err(StoreError::Layout { dir: INDEX_DIR.into(), reason: format!("unexpected file {name}") })
            }
        }
    }
    found.sort();
    Ok(found)
}
