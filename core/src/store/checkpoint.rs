//! The checkpoint: how far the CommitLog and its indexes are known durable, and whether the
//! last shutdown was clean. Recovery trusts nothing past it.
//!
//! Format (big-endian, 40 bytes, written whole with `replace_atomic`): `u32 magic "PCKP",
//! u32 version, u32 clean (0/1), u64 commit log flushed offset, u64 dispatched offset,
//! u64 indexed offset, u32 CRC32 of the preceding 36 bytes`.

use crate::store::disk::DiskRef;
use crate::store::error::StoreError;

/// Where the checkpoint lives.
pub const CHECKPOINT_PATH: &str = "checkpoint";
const CHECKPOINT_MAGIC: u32 = u32::from_be_bytes(*b"PCKP");
const CHECKPOINT_VERSION: u32 = 1;
const CHECKPOINT_BYTES: usize = 40;
const _: () = assert!(CHECKPOINT_BYTES == 4 + 4 + 4 + 8 + 8 + 8 + 4);
/// Bytes the CRC covers.
const CRC_COVERS_BYTES: usize = CHECKPOINT_BYTES - 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// The store was shut down cleanly: everything is flushed and no tail can be torn.
    pub clean: bool,
    /// Every CommitLog byte below this is durable.
    pub commit_log_flushed: u64,
    /// ConsumeQueues are durable for every record below this (never above
    /// `commit_log_flushed`).
    pub dispatched: u64,
    /// IndexFiles are durable for every record below this (never above `dispatched`). Lower
    /// than `dispatched` only while recovery rebuilds index files it could not trust.
    pub indexed: u64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        let mut out = [0u8; CHECKPOINT_BYTES];
        out[0..4].copy_from_slice(&CHECKPOINT_MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&CHECKPOINT_VERSION.to_be_bytes());
        out[8..12].copy_from_slice(&u32::from(self.clean).to_be_bytes());
        out[12..20].copy_from_slice(&self.commit_log_flushed.to_be_bytes());
        out[20..28].copy_from_slice(&self.dispatched.to_be_bytes());
        out[28..36].copy_from_slice(&self.indexed.to_be_bytes());
        let crc = crc32fast::hash(&out[..CRC_COVERS_BYTES]);
        out[CRC_COVERS_BYTES..].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        if bytes.len() != CHECKPOINT_BYTES {
            return Err(format!("{} bytes, expected {CHECKPOINT_BYTES}", bytes.len()));
        }
        let u32_at = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        if u32_at(CRC_COVERS_BYTES) != crc32fast::hash(&bytes[..CRC_COVERS_BYTES]) {
            return Err("CRC mismatch".into());
        }
        if u32_at(0) != CHECKPOINT_MAGIC || u32_at(4) != CHECKPOINT_VERSION {
            return Err("unknown magic or version".into());
        }
        let checkpoint = Checkpoint {
            clean: u32_at(8) == 1,
            commit_log_flushed: u64_at(12),
            dispatched: u64_at(20),
            indexed: u64_at(28),
        };
        if checkpoint.dispatched > checkpoint.commit_log_flushed || checkpoint.indexed > checkpoint.dispatched {
            return Err("offsets out of order (indexed <= dispatched <= flushed)".into());
        }
        Ok(checkpoint)
    }

    /// Reads the checkpoint; `None` for a store that never wrote one (new).
    pub fn load(disk: &DiskRef) -> Result<Option<Checkpoint>, StoreError> {
        let Some(bytes) = disk.read_all(CHECKPOINT_PATH)? else { return Ok(None) };
        Checkpoint::decode(&bytes)
            .map(Some)
            .map_err(|reason| StoreError::Metadata { file: CHECKPOINT_PATH.into(), reason })
    }

    /// Writes the checkpoint atomically and durably.
    pub fn store(&self, disk: &DiskRef) -> Result<(), StoreError> {
        assert!(self.indexed <= self.dispatched && self.dispatched <= self.commit_log_flushed);
        let bytes = self.encode();
        debug_assert_eq!(Checkpoint::decode(&bytes), Ok(*self));
        Ok(disk.replace_atomic(CHECKPOINT_PATH, &bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_rejects_each_corruption() {
        let checkpoint = Checkpoint { clean: true, commit_log_flushed: 1 << 33, dispatched: 12_345, indexed: 12_000 };
        let bytes = checkpoint.encode();
        assert_eq!(Checkpoint::decode(&bytes), Ok(checkpoint));
        for at in 0..CHECKPOINT_BYTES {
            let mut flipped = bytes;
            flipped[at] ^= 0x40;
            assert!(Checkpoint::decode(&flipped).is_err(), "a flip at byte {at} must be caught");
        }
        assert!(Checkpoint::decode(&bytes[..CHECKPOINT_BYTES - 1]).is_err());
    }
}
