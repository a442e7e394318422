//! The Disk seam: every byte the storage engine keeps goes through these two traits.
//!
//! Two backends implement them: `petrel_net::disk::MmapDisk` (memmap2 over preallocated real
//! files) and `petrel_sim::disk::SimDisk` (deterministic, in memory, with a page cache and a
//! crash model). The storage engine never learns which one it has.
//!
//! Model the store relies on:
//! - A disk is a flat namespace of paths such as `commitlog/00000000000000000000`; `/` separates
//!   directories, which exist implicitly (creating a file creates its parents).
//! - Data files have a fixed length chosen at creation (RocketMQ's mapped files are
//!   preallocated). `write_at` lands in the page cache: it survives a process kill but not a
//!   power loss until a `sync_range`/`sync_all` covering it has returned `Ok`.
//! - `read_at` returns `Bytes`; a backend that can share its pages (mmap) does so without a copy.
//! - Small metadata files (checkpoint, consumer offsets, topic configs) are written whole with
//!   `replace_atomic`: after it returns `Ok` the new content is durable, and a crash at any
//!   moment leaves either the old or the new content, never a mix.
//! - Creating and removing files is durable when the call returns (the backends sync the
//!   directory).
//! - A simulated device may ask its caller to wait (a slow fsync): the async host drains that with
//!   [`Disk::take_stall`] after its I/O and sleeps for it on the runtime's clock. Real devices take
//!   their time themselves and always report zero.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// The operation that failed, for error messages and for targeted fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiskOp {
    Create,
    Open,
    Read,
    Write,
    Sync,
    Remove,
    List,
    Replace,
    Rename,
}

impl std::fmt::Display for DiskOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            DiskOp::Create => "create",
            DiskOp::Open => "open",
            DiskOp::Read => "read",
            DiskOp::Write => "write",
            DiskOp::Sync => "sync",
            DiskOp::Remove => "remove",
            DiskOp::List => "list",
            DiskOp::Replace => "replace",
            DiskOp::Rename => "rename",
        };
        f.write_str(name)
    }
}

/// Every way a disk operation can fail. Each variant names the path, so that an error that
/// reaches an operator says which file was involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{path}: already exists")]
    AlreadyExists { path: String },
    #[error("{path}: no space left on device during {op}")]
    NoSpace { path: String, op: DiskOp },
    #[error("{path}: {op} of {len} bytes at offset {offset} is outside the file ({file_len} bytes)")]
    OutOfBounds { path: String, op: DiskOp, offset: u64, len: u64, file_len: u64 },
    #[error("{path}: I/O error during {op}: {detail}")]
    Io { path: String, op: DiskOp, detail: String },
}

impl DiskError {
    /// The path the failed operation was about.
    pub fn path(&self) -> &str {
        match self {
            DiskError::NotFound { path }
            | DiskError::AlreadyExists { path }
            | DiskError::NoSpace { path, .. }
            | DiskError::OutOfBounds { path, .. }
            | DiskError::Io { path, .. } => path,
        }
    }
}

/// A shared handle to a disk.
pub type DiskRef = Arc<dyn Disk>;
/// A shared handle to one open file of a disk.
pub type FileRef = Arc<dyn DiskFile>;

/// A device holding named files. Implementations are cheap to share (`Arc`) and safe to use
/// from several tasks at once.
pub trait Disk: Send + Sync + 'static {
    /// Creates a file of exactly `len` zero bytes, creating parent directories. Fails with
    /// `AlreadyExists` if the path exists and `NoSpace` if the device cannot hold it.
    fn create(&self, path: &str, len: u64) -> Result<FileRef, DiskError>;

    /// Like [`Disk::create`], for a file that will be written heavily right away (the next
    /// CommitLog file): a backend may pre-touch its pages (`MmapDisk`'s warm-up option).
    /// Call it outside any lock that appends wait for: warming a 1 GiB file takes seconds.
    fn create_warm(&self, path: &str, len: u64) -> Result<FileRef, DiskError> {
        self.create(path, len)
    }

    /// Opens an existing file; its length is the length it was created with.
    fn open(&self, path: &str) -> Result<FileRef, DiskError>;

    /// Names (not paths) of the entries directly inside `dir`: files and subdirectories (a
    /// subdirectory exists while some file below it does), sorted bytewise, without duplicates.
    /// A directory that does not exist lists as empty. The ConsumeQueue tree
    /// (`consumequeue/<topic>/<queueId>/<file>`) is discovered this way.
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError>;

    /// Removes a file. Open handles to it stay readable until dropped, as with an unlinked mmap.
    fn remove(&self, path: &str) -> Result<(), DiskError>;

    /// Renames a file atomically and durably; fails with `AlreadyExists` if `to` exists (never
    /// replaces). Open handles stay valid and keep working on the renamed file. Used to
    /// prepare a file out of sight (created and warmed up elsewhere) and then publish it.
    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError>;

    /// Reads a whole small file written by [`Disk::replace_atomic`]; `None` if it does not exist.
    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError>;

    /// Replaces a small file's whole content atomically and durably (write a temporary file,
    /// sync it, rename it over the old one, sync the directory).
    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError>;

    /// Time the device asked its callers to wait since the last call (simulated slow I/O);
    /// always zero for a real device.
    fn take_stall(&self) -> Duration {
        Duration::ZERO
    }
}

/// One open, fixed-length file.
pub trait DiskFile: Send + Sync {
    /// The path this file was opened by.
    fn path(&self) -> &str;

    /// Length in bytes, fixed at creation.
    fn len(&self) -> u64;

    /// Whether the file has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `data` into the file at `offset` (into the page cache: not yet durable).
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError>;

    /// Returns `len` bytes starting at `offset`, sharing the backend's memory where it can.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, DiskError>;

    /// Makes `[offset, offset + len)` durable (msync / fdatasync of that range).
    fn sync_range(&self, offset: u64, len: u64) -> Result<(), DiskError>;

    /// Makes the whole file durable.
    fn sync_all(&self) -> Result<(), DiskError> {
        self.sync_range(0, self.len())
    }
}

/// Checks that `[offset, offset + len)` lies inside a file of `file_len` bytes; the error it
/// returns is the one every backend reports for an out-of-range access.
pub fn check_range(path: &str, op: DiskOp, offset: u64, len: u64, file_len: u64) -> Result<(), DiskError> {
    match offset.checked_add(len) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(DiskError::OutOfBounds { path: path.to_string(), op, offset, len, file_len }),
    }
}

/// Suffix reserved for the real backend's `replace_atomic` temporary files.
pub const TMP_SUFFIX: &str = ".tmp";
/// Longest path accepted, in bytes.
pub const PATH_LEN_MAX_BYTES: usize = 1024;
/// Longest path component accepted, in bytes.
pub const NAME_LEN_MAX_BYTES: usize = 250;

/// Which kind of path [`check_path`] validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A file: non-empty, last component not ending in `.tmp`.
    File,
    /// A directory to list: may be empty (the root).
    Dir,
}

/// The path rules every backend applies, so that a bad path fails in simulation exactly as in
/// production: no absolute paths, no `.`/`..`/empty components, no NUL bytes, bounded lengths,
/// and the `.tmp` suffix reserved. Fails with `DiskError::Io` whose detail starts with
/// `invalid path`.
pub fn check_path(path: &str, op: DiskOp, kind: PathKind) -> Result<(), DiskError> {
    let invalid = |why: &str| Err(DiskError::Io { path: path.to_string(), op, detail: format!("invalid path: {why}") });
    if path.is_empty() {
        return if kind == PathKind::Dir { Ok(()) } else { invalid("empty") };
    }
    if path.len() > PATH_LEN_MAX_BYTES {
        return invalid("longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return invalid("absolute paths are not allowed");
    }
    for component in path.split('/') {
        match component {
            "" => return invalid("empty component"),
            "." | ".." => return invalid("`.` and `..` components are not allowed"),
            c if c.len() > NAME_LEN_MAX_BYTES => return invalid("component longer than 250 bytes"),
            c if c.contains('\0') => return invalid("NUL byte"),
            _ => {}
        }
    }
    if kind == PathKind::File && path.ends_with(TMP_SUFFIX) {
        return invalid("the `.tmp` suffix is reserved for replace_atomic");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_range_accepts_inside_and_rejects_overflowing_ranges() {
        assert!(check_range("f", DiskOp::Read, 0, 10, 10).is_ok());
        assert!(check_range("f", DiskOp::Read, 10, 0, 10).is_ok());
        let err = check_range("f", DiskOp::Write, 5, 6, 10).unwrap_err();
        assert_eq!(
            err,
            DiskError::OutOfBounds { path: "f".into(), op: DiskOp::Write, offset: 5, len: 6, file_len: 10 }
        );
        assert!(check_range("f", DiskOp::Read, u64::MAX, 2, 10).is_err());
    }
}
