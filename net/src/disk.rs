//! `MmapDisk`: the real backend of the storage engine's [`Disk`] seam, memmap2 over preallocated
//! files under one root directory.
//!
//! # Files
//! - `create` makes the file with `create_new`, sets its length with `set_len` (sparse: the
//!   filesystem allocates blocks only when pages are first written), fsyncs the file (its length
//!   is metadata) and its parent directory, and maps it with [`MmapRaw`]. Parent directories are
//!   created as needed, each one fsynced into its own parent. The root itself is created with
//!   `create_dir_all` and not fsynced: it belongs to whoever configured the broker.
//! - `remove` unlinks and fsyncs the parent directory, then removes the directories it leaves
//!   empty (each fsynced out of its parent; best effort), because the seam says a directory
//!   exists only while some file lives below it. A map stays valid after its file is unlinked,
//!   so handles and `Bytes` obtained earlier stay readable until dropped.
//! - `list` returns files and subdirectories, skipping `.tmp` files, symlinks and names that
//!   are not UTF-8. A directory that holds nothing but a crash's `.tmp` leftover still lists.
//! - `replace_atomic` writes `<path>.tmp`, fsyncs it, renames it over `<path>` and fsyncs the
//!   parent directory.
//! - Namespace changes (the directory and file creation of `create`, `remove` with its pruning,
//!   all of `replace_atomic`) are serialized by one lock: a `remove` cannot prune a directory
//!   that a concurrent `create` has just made, and two tasks replacing one file cannot trample
//!   one temporary file. Warm-up runs outside the lock. `.tmp` is therefore a reserved suffix: paths whose last
//!   component ends with it are rejected, and `list` skips such files. A `.tmp` left by a crash
//!   is *not* removed by `list` (a listing must not change the disk, and it could race with a
//!   replacement in progress); the next `replace_atomic` of the same file truncates it, and it
//!   costs nothing meanwhile.
//! - Paths are relative, `/`-separated, without empty, `.` or `..` components: a path can never
//!   leave the root. A bad path fails with `DiskError::Io` whose detail starts with
//!   `invalid path` (the seam has no dedicated variant).
//!
//! # Warm-up ([`MmapOptions::warm_up`])
//! The first touch of a page of a sparse file costs a page fault plus a filesystem block
//! allocation (about 10x a warm write on the reference machine). With `warm_up` on,
//! `create_warm` (the CommitLog's allocator calls it, off the append path; plain `create` never
//! warms) first writes zeros through the file descriptor in 1 MiB chunks (this allocates every block,
//! so a full filesystem shows up as `DiskError::NoSpace` from `create` instead of a SIGBUS
//! on a later write through the map), then writes one byte to every 4 KiB page through the map
//! (so the page tables are populated and the first appends do not fault). Cost: roughly one
//! memset plus one minor fault per page of the file at creation, i.e. a few hundred
//! milliseconds for a 1 GiB CommitLog file; the zeros are written back by the kernel later.
//! Without warm-up `create` is cheap, but a full filesystem is only discovered when a page is
//! first written through the map, which the kernel reports as SIGBUS (as in RocketMQ): a known
//! gap until files are preallocated without dirtying their pages. Measured: warmed files make
//! SYNC_FLUSH's msyncs about twice as slow (writeback of the warm-up's zeros), so a SYNC_FLUSH
//! broker should run with warm-up off (`reports/storage-bench.md`).
//!
//! # Safety of writes through `&self` and zero-copy reads
//! [`MmapRaw`] hands out raw pointers only; this module turns them into slices in two places:
//! - `write_at` copies into `[offset, offset + len)` through the raw pointer;
//! - `read_at` returns `Bytes::from_owner` over a `MapSlice`, which holds an `Arc` of the
//!   map and exposes `&[u8]` of its range for as long as the `Bytes` lives.
//!
//! Both are sound because of three facts:
//! 1. *Validity*: every range is checked with [`check_range`] against the file length, which
//!    equals the map length; the map is unmapped only when the last handle and the last `Bytes`
//!    drop it (they share one `Arc`). Petrel never truncates a file (lengths are fixed at
//!    creation; `remove` unlinks, which keeps mapped pages alive). Truncation by another process
//!    would raise SIGBUS, as with any mmap; that is outside this program's control.
//! 2. *No concurrent access to the same bytes*: the storage engine writes append-only, each
//!    file from one writer at a time, and reads only ranges whose writes have returned and that
//!    will not be written again while anything (including a `Bytes`) still refers to them. So a
//!    `&[u8]` from `read_at` never aliases a write. The backend cannot check this: it is the
//!    store's side of the contract, and breaking it would be a data race.
//! 3. *Sync*: msync (`flush_range`) only reads the memory.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use memmap2::MmapRaw;
use petrel_core::store::disk::{
    check_path, check_range, Disk, DiskError, DiskFile, DiskOp, FileRef, PathKind, TMP_SUFFIX,
};

/// Distance between the bytes warm-up writes through the map: the smallest page size Petrel
/// runs on.
const WARM_UP_PAGE_BYTES: usize = 4096;
/// Size of each zero-filled `pwrite` warm-up uses to allocate a file's blocks.
const WARM_UP_CHUNK_BYTES: usize = 1 << 20;
/// `ENOSPC` on Linux, for errors whose `ErrorKind` does not say "storage full".
const ENOSPC: i32 = 28;
/// `EDQUOT` on Linux: a quota is as full as a full disk for the store.
const EDQUOT: i32 = 122;

/// How an [`MmapDisk`] prepares new files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmapOptions {
    /// Pre-touch every page of a newly created file (see the module docs for what it costs and
    /// buys). Off by default: tests and small deployments do not need it.
    pub warm_up: bool,
}

/// The real disk: files under `root`, mapped with memmap2.
#[derive(Debug)]
pub struct MmapDisk {
    /// Directory that holds every file of this disk; no path can leave it.
    root: PathBuf,
    /// How new files are prepared.
    options: MmapOptions,
    /// Serializes namespace changes (see the module docs).
    namespace_lock: Mutex<()>,
}

impl MmapDisk {
    /// A disk whose files live under `root` (created on first use if it does not exist).
    pub fn new(root: PathBuf, options: MmapOptions) -> MmapDisk {
        MmapDisk { root, options, namespace_lock: Mutex::new(()) }
    }

    /// The directory this disk keeps its files in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options this disk was made with.
    pub fn options(&self) -> MmapOptions {
        self.options
    }

    /// Takes the lock that serializes namespace changes.
    fn lock_namespace(&self) -> MutexGuard<'_, ()> {
        self.namespace_lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the directories between `removed` (a file just removed) and the root that are
    /// now empty, fsyncing each one's parent. Best effort: a failure leaves an empty directory,
    /// which only costs a stray `list` entry, so it is logged rather than returned.
    fn prune_empty_dirs(&self, removed: &Path) {
        let mut dir = removed.parent();
        while let Some(current) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
            if fs::remove_dir(current).is_err() {
                return; // Not empty (the usual case), or gone already.
            }
            if let Err(err) = sync_parent(current) {
                tracing::warn!(dir = %current.display(), %err, "directory removal may not be durable");
                return;
            }
            dir = current.parent();
        }
    }

    /// The real path of a validated file path.
    fn file_path(&self, path: &str, op: DiskOp) -> Result<PathBuf, DiskError> {
        check_path(path, op, PathKind::File)?;
        Ok(self.root.join(path))
    }

    /// Creates the parent directories of `path` below the root, fsyncing each new directory
    /// into its parent so that the file's own entry is reachable after a crash.
    fn ensure_parent_dirs(&self, path: &str, op: DiskOp) -> Result<(), DiskError> {
        fs::create_dir_all(&self.root).map_err(|e| map_io(path, op, &e))?;
        let mut dir = self.root.clone();
        let parents = path.split('/').collect::<Vec<_>>();
        let parent_count = parents.len().saturating_sub(1);
        for component in &parents[..parent_count] {
            let parent = dir.clone();
            dir.push(component);
            match fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => return Err(io_detail(path, op, "a parent of the path is a file")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(map_io(path, op, &e)),
            }
            match fs::create_dir(&dir) {
                Ok(()) => sync_dir(&parent).map_err(|e| map_io(path, op, &e))?,
                // Another task created it between our look and our mkdir.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(map_io(path, op, &e)),
            }
        }
        Ok(())
    }

    /// Creates a file of `len` zero bytes, warming it up if `warm`.
    fn create_file(&self, path: &str, len: u64, warm: bool) -> Result<FileRef, DiskError> {
        let op = DiskOp::Create;
        let full = self.file_path(path, op)?;
        map_len(path, op, len)?;
        let file = {
            let _guard = self.lock_namespace();
            self.ensure_parent_dirs(path, op)?;
            OpenOptions::new().read(true).write(true).create_new(true).open(&full).map_err(|e| map_io(path, op, &e))?
        };
        match self.prepare_new(path, &full, &file, len, warm) {
            Ok(map) => Ok(Arc::new(MmapFile { path: path.to_string(), map, len })),
            Err(err) => {
                // Undo the half-made file (e.g. ENOSPC during warm-up) so that a failed create
                // leaves nothing behind.
                let _guard = self.lock_namespace();
                if fs::remove_file(&full).is_ok() {
                    let _ = sync_parent(&full);
                    self.prune_empty_dirs(&full);
                }
                Err(err)
            }
        }
    }

    /// Sizes, syncs and maps a file `create` has just made; `create` removes it again if this
    /// fails.
    fn prepare_new(
        &self,
        path: &str,
        full: &Path,
        file: &File,
        len: u64,
        warm: bool,
    ) -> Result<Arc<MmapRaw>, DiskError> {
        let op = DiskOp::Create;
        file.set_len(len).map_err(|e| map_io(path, op, &e))?;
        file.sync_all().map_err(|e| map_io(path, op, &e))?;
        sync_parent(full).map_err(|e| map_io(path, op, &e))?;
        let map = map_file(path, op, file, len)?;
        if warm {
            warm_up(path, file, &map)?;
        }
        Ok(map)
    }

    /// `replace_atomic`'s work once the lock is held: write and sync the temporary file, rename
    /// it into place, sync the directory.
    fn replace_locked(&self, path: &str, full: &Path, data: &[u8]) -> Result<(), DiskError> {
        let op = DiskOp::Replace;
        let mut tmp = OsString::from(full.as_os_str());
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let written = write_synced(&tmp, data).and_then(|()| fs::rename(&tmp, full));
        if let Err(e) = written {
            // Best effort: the old content is intact either way; a leftover is truncated by
            // the next replacement and skipped by `list`.
            let _ = fs::remove_file(&tmp);
            return Err(map_io(path, op, &e));
        }
        sync_parent(full).map_err(|e| map_io(path, op, &e))
    }
}

impl Disk for MmapDisk {
    fn create(&self, path: &str, len: u64) -> Result<FileRef, DiskError> {
        self.create_file(path, len, false)
    }

    fn create_warm(&self, path: &str, len: u64) -> Result<FileRef, DiskError> {
        self.create_file(path, len, self.options.warm_up)
    }

    fn open(&self, path: &str) -> Result<FileRef, DiskError> {
        let op = DiskOp::Open;
        let full = self.file_path(path, op)?;
        if !is_file(&full).map_err(|e| map_io(path, op, &e))? {
            return Err(DiskError::NotFound { path: path.to_string() });
        }
        let file = OpenOptions::new().read(true).write(true).open(&full).map_err(|e| map_io(path, op, &e))?;
        let len = file.metadata().map_err(|e| map_io(path, op, &e))?.len();
        let map = map_file(path, op, &file, len)?;
        Ok(Arc::new(MmapFile { path: path.to_string(), map, len }))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let op = DiskOp::List;
        check_path(dir, op, PathKind::Dir)?;
        let full = self.root.join(dir);
        let entries = match fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(map_io(dir, op, &e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| map_io(dir, op, &e))?;
            let kind = entry.file_type().map_err(|e| map_io(dir, op, &e))?;
            if !kind.is_file() && !kind.is_dir() {
                continue;
            }
            match entry.file_name().into_string() {
                Ok(name) if kind.is_file() && name.ends_with(TMP_SUFFIX) => {}
                Ok(name) => names.push(name),
                Err(name) => tracing::warn!(dir, ?name, "skipping a file whose name is not UTF-8"),
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        let op = DiskOp::Remove;
        let full = self.file_path(path, op)?;
        if !is_file(&full).map_err(|e| map_io(path, op, &e))? {
            return Err(DiskError::NotFound { path: path.to_string() });
        }
        let _guard = self.lock_namespace();
        fs::remove_file(&full).map_err(|e| map_io(path, op, &e))?;
        sync_parent(&full).map_err(|e| map_io(path, op, &e))?;
        self.prune_empty_dirs(&full);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        let op = DiskOp::Rename;
        let source = self.file_path(from, op)?;
        let target = self.file_path(to, op)?;
        let _guard = self.lock_namespace();
        if !is_file(&source).map_err(|e| map_io(from, op, &e))? {
            return Err(DiskError::NotFound { path: from.to_string() });
        }
        if target.exists() {
            return Err(DiskError::AlreadyExists { path: to.to_string() });
        }
        self.ensure_parent_dirs(to, op)?;
        fs::rename(&source, &target).map_err(|e| map_io(to, op, &e))?;
        sync_parent(&target).map_err(|e| map_io(to, op, &e))?;
        sync_parent(&source).map_err(|e| map_io(from, op, &e))?;
        self.prune_empty_dirs(&source);
        Ok(())
    }

    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError> {
        let op = DiskOp::Read;
        let full = self.file_path(path, op)?;
        if !is_file(&full).map_err(|e| map_io(path, op, &e))? {
            return Ok(None);
        }
        match fs::read(&full) {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(map_io(path, op, &e)),
        }
    }

    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        let op = DiskOp::Replace;
        let full = self.file_path(path, op)?;
        let _guard = self.lock_namespace();
        self.ensure_parent_dirs(path, op)?;
        self.replace_locked(path, &full, data)
    }
}

/// One mapped file. Clones of its map live on in the `Bytes` it hands out.
#[derive(Debug)]
pub struct MmapFile {
    /// The path the file was opened by, for errors and [`DiskFile::path`].
    path: String,
    /// The whole file, mapped shared and writable; shared with every `Bytes` read from it.
    map: Arc<MmapRaw>,
    /// The file's length, fixed at creation; equals the map's length.
    len: u64,
}

impl DiskFile for MmapFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let op = DiskOp::Write;
        check_range(&self.path, op, offset, data.len() as u64, self.len)?;
        if data.is_empty() {
            return Ok(());
        }
        let start = map_len(&self.path, op, offset)?;
        // SAFETY: `[start, start + data.len())` lies inside the map (checked above against
        // `len`, which is the map's length), the map is alive (we hold an `Arc`), and by the
        // store's contract (module docs, fact 2) nobody reads or writes these bytes meanwhile.
        // `ptr::copy` (memmove) stays correct even if `data` was itself read from this map.
        unsafe {
            std::ptr::copy(data.as_ptr(), self.map.as_mut_ptr().add(start), data.len());
        }
        Ok(())
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, DiskError> {
        check_range(&self.path, DiskOp::Read, offset, len as u64, self.len)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let start = map_len(&self.path, DiskOp::Read, offset)?;
        Ok(Bytes::from_owner(MapSlice { map: Arc::clone(&self.map), start, len }))
    }

    fn sync_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        let op = DiskOp::Sync;
        check_range(&self.path, op, offset, len, self.len)?;
        if len == 0 {
            return Ok(());
        }
        let start = map_len(&self.path, op, offset)?;
        let len = map_len(&self.path, op, len)?;
        // memmap2 rounds `start` down to the page boundary itself before calling msync.
        self.map.flush_range(start, len).map_err(|e| map_io(&self.path, op, &e))
    }
}

/// A range of a map, kept alive by an `Arc`: the owner behind a zero-copy `Bytes`.
struct MapSlice {
    /// Keeps the mapping alive while any `Bytes` points into it.
    map: Arc<MmapRaw>,
    /// Offset of the first byte within the map; `start + len <= map.len()`.
    start: usize,
    /// Number of bytes exposed.
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        debug_assert!(self.start.checked_add(self.len).is_some_and(|end| end <= self.map.len()));
        // SAFETY: the range was checked against the file (= map) length when this slice was
        // made, and `self.map` keeps the mapping alive for the returned lifetime. The store
        // never writes a range while a `Bytes` over it lives (module docs, fact 2).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.start), self.len) }
    }
}

/// An `Io` error with a fixed explanation.
fn io_detail(path: &str, op: DiskOp, detail: &str) -> DiskError {
    DiskError::Io { path: path.to_string(), op, detail: detail.to_string() }
}

/// Maps a std error to the seam's error: full disk and missing files are typed, everything
/// else keeps the OS's message.
fn map_io(path: &str, op: DiskOp, err: &io::Error) -> DiskError {
    let path = path.to_string();
    match err.kind() {
        io::ErrorKind::NotFound => DiskError::NotFound { path },
        io::ErrorKind::AlreadyExists => DiskError::AlreadyExists { path },
        io::ErrorKind::StorageFull => DiskError::NoSpace { path, op },
        _ if matches!(err.raw_os_error(), Some(ENOSPC | EDQUOT)) => DiskError::NoSpace { path, op },
        _ => DiskError::Io { path, op, detail: err.to_string() },
    }
}

/// A file length or offset as a `usize` index into a map.
fn map_len(path: &str, op: DiskOp, value: u64) -> Result<usize, DiskError> {
    usize::try_from(value).map_err(|_| io_detail(path, op, "larger than the address space"))
}

/// Maps the whole of `file` (`len` bytes) shared and writable.
fn map_file(path: &str, op: DiskOp, file: &File, len: u64) -> Result<Arc<MmapRaw>, DiskError> {
    let len_bytes = map_len(path, op, len)?;
    let map = memmap2::MmapOptions::new().len(len_bytes).map_raw(file).map_err(|e| map_io(path, op, &e))?;
    Ok(Arc::new(map))
}

/// Allocates every block of a new file and touches every page of its map (module docs).
fn warm_up(path: &str, file: &File, map: &MmapRaw) -> Result<(), DiskError> {
    let op = DiskOp::Create;
    let len = map.len();
    let zeros = vec![0u8; WARM_UP_CHUNK_BYTES.min(len)];
    let mut offset = 0usize;
    while offset < len {
        let chunk = (len - offset).min(zeros.len());
        file.write_all_at(&zeros[..chunk], offset as u64).map_err(|e| map_io(path, op, &e))?;
        offset += chunk;
    }
    for page_start in (0..len).step_by(WARM_UP_PAGE_BYTES) {
        // SAFETY: `page_start < len`, the map is `len` bytes long and alive, and nobody else
        // can see this map yet: it was created by this `create` call.
        unsafe { std::ptr::write_volatile(map.as_mut_ptr().add(page_start), 0) };
    }
    Ok(())
}

/// Writes `data` to a new or truncated file at `path` and fsyncs it.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Whether `path` names a regular file (`false` if missing or a directory).
fn is_file(path: &Path) -> io::Result<bool> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Fsyncs a directory, making the entries created or removed in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fsyncs the directory holding `path`.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_path_rejects_escapes_and_reserved_names() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/", "x.tmp", "a\0b"] {
            let err = check_path(bad, DiskOp::Create, PathKind::File).expect_err(bad);
            assert!(matches!(&err, DiskError::Io { detail, .. } if detail.starts_with("invalid path")), "{bad}: {err}");
        }
        for good in ["a", "commitlog/00000000000000000000", "config/topics.json", "x.tmp.bak"] {
            assert!(check_path(good, DiskOp::Create, PathKind::File).is_ok(), "{good}");
        }
        assert!(check_path("", DiskOp::List, PathKind::Dir).is_ok());
        assert!(check_path("..", DiskOp::List, PathKind::Dir).is_err());
    }

    #[test]
    fn map_io_types_full_disk_and_missing_files() {
        let full = io::Error::from_raw_os_error(ENOSPC);
        assert_eq!(map_io("f", DiskOp::Write, &full), DiskError::NoSpace { path: "f".into(), op: DiskOp::Write });
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(map_io("f", DiskOp::Open, &missing), DiskError::NotFound { path: "f".into() });
        let other = io::Error::other("boom");
        assert!(matches!(map_io("f", DiskOp::Sync, &other), DiskError::Io { detail, .. } if detail == "boom"));
    }
}
