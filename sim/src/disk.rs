//! `SimDisk`: the simulated backend of the storage engine's `Disk` seam. Deterministic, in
//! memory, with a page cache and a crash model; usable from plain unit tests and from madsim.
//!
//! # Model
//! - Each file has two sparse images of fixed-size pages (absent pages are zeros, so a 1 GiB
//!   file costs only the pages written): the *page cache*, which reads see and writes change,
//!   and the *durable* image, which survives a power loss. Pages written since their last sync
//!   are *dirty*. `sync_range` makes every page overlapping the range durable (whole pages, as
//!   msync does). All maps are `BTreeMap`/`BTreeSet`: no hash order can leak into behaviour.
//! - [`CrashKind::ProcessKill`]: the process dies, the OS survives. The page cache is kept
//!   (dirty pages stay dirty: the OS writes them back later, and a power loss before that can
//!   still lose them). [`CrashKind::PowerLoss`]: each dirty page is, by a draw from the disk's
//!   seeded RNG weighted by [`PowerLossWeights`], written back whole, lost (the durable content
//!   stays) or torn (each sector independently old or new); then cache = durable = that result.
//! - Every crash bumps an *epoch*. A handle opened before it fails every later operation with
//!   `DiskError::Io { detail: "stale handle: ..." }`: a dead process cannot write, and a store
//!   that forgets to reopen its files after a restart is caught. Files removed while open
//!   disappear at the crash (the dead process's descriptors closed).
//! - Directories exist implicitly: `list` shows a subdirectory while some file lives below it.
//! - Creating and removing files is durable immediately (the real backend fsyncs the
//!   directory). `replace_atomic` is atomic and durable on return; if an injected fault fails
//!   it, the old content is intact and nothing changed.
//! - `read_at` returns a copy: pages are mutable and shared between images, so a `Bytes` cannot
//!   borrow them. Reads longer than `SimDiskConfig::read_len_max_bytes` fail with `Io`.
//!
//! # Faults
//! - Probabilistic EIO on reads, writes and syncs ([`FaultConfig`], changeable at run time with
//!   [`SimDisk::set_faults`]), one-shot EIO on any operation and path prefix
//!   ([`SimDisk::fail_next`]), a capacity (`NoSpace` from `create` and `replace_atomic`; data
//!   files are preallocated, so writes never run out of space), and bit flips in both images
//!   ([`SimDisk::corrupt`]). A failed write changes nothing; a failed sync leaves its pages
//!   dirty; a failed read returns only the error.
//! - Faults are drawn only for operations that would otherwise succeed: bad paths, missing
//!   files, out-of-range accesses and stale handles fail first, without touching the RNG.
//! - Latency is not slept here: each operation adds its latency to a stall that the async host
//!   drains with [`Disk::take_stall`] and sleeps on the simulated clock. `create`, `remove` and
//!   `replace_atomic` pay a sync latency (they sync a directory); `replace_atomic` also a write.
//!
//! Everything random comes from one `StdRng` seeded with `SimDiskConfig::seed`: the same seed
//! and the same sequence of calls give the same faults, tears and stalls.

mod config;
mod image;
mod path;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use petrel_core::store::disk::{check_range, Disk, DiskError, DiskFile, DiskOp, FileRef};
use rand::Rng;

pub use config::{FaultConfig, PowerLossWeights, SimDiskConfig, SimDiskConfigError};
pub use image::PowerLossPages;

use image::FileImage;
use path::{check_path, PathKind};
use state::{DiskState, NodeId};

/// How the simulated machine fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashKind {
    /// The process dies; the OS and its page cache survive.
    ProcessKill,
    /// The machine loses power; unsynced pages are written back, lost or torn.
    PowerLoss,
}

/// Media corruption for [`SimDisk::corrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// XOR the byte at the offset with `mask`.
    FlipBits { mask: u8 },
    /// XOR each of `len` bytes from the offset with a seeded non-zero value: every byte changes.
    Garbage { len: u64 },
}

/// What a disk has done, for tests and reports. An operation counts once it passed validation,
/// whether or not an injected fault then failed it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCounters {
    /// Files created with `create`.
    pub creates: u64,
    /// Files opened with `open`.
    pub opens: u64,
    /// Directory listings.
    pub lists: u64,
    /// Files removed.
    pub removes: u64,
    /// `replace_atomic` calls.
    pub replaces: u64,
    /// `rename` calls.
    pub renames: u64,
    /// `read_at` and `read_all` calls.
    pub reads: u64,
    /// Bytes returned by successful reads.
    pub read_bytes: u64,
    /// `write_at` calls.
    pub writes: u64,
    /// Bytes written by successful `write_at` calls.
    pub written_bytes: u64,
    /// `sync_range`/`sync_all` calls.
    pub syncs: u64,
    /// Dirty pages made durable by successful syncs.
    pub synced_pages: u64,
    /// Operations failed by an injected EIO.
    pub injected_faults: u64,
    /// Process kills.
    pub process_kills: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Dirty pages written back whole at a power loss.
    pub pages_written_back: u64,
    /// Dirty pages lost at a power loss.
    pub pages_lost: u64,
    /// Dirty pages torn at a power loss.
    pub pages_torn: u64,
    /// Total stall requested from hosts.
    pub stalled: Duration,
}

/// A simulated disk. Clones share one device: keep a clone across a node's restarts.
#[derive(Clone)]
pub struct SimDisk {
    /// The device, shared with every clone and every open file.
    shared: Arc<Mutex<DiskState>>,
}

impl std::fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("SimDisk")
            .field("epoch", &state.epoch)
            .field("files", &state.names.len())
            .field("counters", &state.counters)
            .finish()
    }
}

impl SimDisk {
    /// A fresh, empty disk.
    pub fn new(config: SimDiskConfig) -> Result<SimDisk, SimDiskConfigError> {
        config.validate()?;
        Ok(SimDisk { shared: Arc::new(Mutex::new(DiskState::new(config))) })
    }

    /// A fresh disk with the default geometry, no faults and the given seed.
    pub fn with_seed(seed: u64) -> SimDisk {
        let config = SimDiskConfig { seed, ..SimDiskConfig::default() };
        SimDisk { shared: Arc::new(Mutex::new(DiskState::new(config))) }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        lock(&self.shared)
    }

    /// Crashes the process (and with `PowerLoss` the machine); see the module docs. Returns the
    /// fates of the dirty pages (all zero for a process kill).
    pub fn crash(&self, kind: CrashKind) -> PowerLossPages {
        self.lock().crash(kind)
    }

    /// Number of crashes so far; handles carry the epoch they were opened in.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Replaces the probabilistic faults and latencies from now on.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), SimDiskConfigError> {
        faults.validate()?;
        self.lock().config.faults = faults;
        Ok(())
    }

    /// The probabilistic faults and latencies in force.
    pub fn faults(&self) -> FaultConfig {
        self.lock().config.faults.clone()
    }

    /// Makes the next `count` operations `op` on paths starting with `path_prefix` (any path if
    /// `None`) fail with EIO, before any probabilistic fault is drawn. `replace_atomic` consults
    /// `Replace`, then `Write`, then `Sync` faults.
    pub fn fail_next(&self, op: DiskOp, path_prefix: Option<String>, count: u32) {
        self.lock().arm(op, path_prefix, count);
    }

    /// Sets the device size (`None` = unlimited); a capacity below what files already take
    /// makes the disk full without touching them.
    pub fn set_capacity(&self, capacity_bytes: Option<u64>) {
        self.lock().config.capacity_bytes = capacity_bytes;
    }

    /// Corrupts `path` at `offset` in both images (media damage: a sync cannot repair it).
    pub fn corrupt(&self, path: &str, offset: u64, corruption: Corruption) -> Result<(), DiskError> {
        let op = DiskOp::Write;
        check_path(path, op, PathKind::File)?;
        let mut guard = self.lock();
        let state = &mut *guard;
        let id = state.lookup(path).ok_or_else(|| not_found(path))?;
        let node = state.nodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        let len = match corruption {
            Corruption::FlipBits { .. } => 1,
            Corruption::Garbage { len } => len,
        };
        check_range(path, op, offset, len, node.image.len())?;
        let rng = &mut state.rng;
        match corruption {
            Corruption::FlipBits { mask } => node.image.corrupt(offset, len, || mask),
            Corruption::Garbage { .. } => node.image.corrupt(offset, len, || rng.gen_range(1..=u8::MAX)),
        }
        Ok(())
    }

    /// Bytes in dirty pages (written, not yet durable), over every file.
    pub fn dirty_bytes(&self) -> u64 {
        let state = self.lock();
        let pages = state.nodes.values().map(|node| node.image.dirty_pages()).sum::<u64>();
        pages.saturating_mul(state.config.page_size_bytes)
    }

    /// Memory held by pages, over every file (a page shared by both images counts once).
    pub fn resident_bytes(&self) -> u64 {
        let state = self.lock();
        let pages = state.nodes.values().map(|node| node.image.resident_pages()).sum::<u64>();
        pages.saturating_mul(state.config.page_size_bytes)
    }

    /// Space taken by files (their lengths), as counted against the capacity.
    pub fn allocated_bytes(&self) -> u64 {
        self.lock().allocated_bytes()
    }

    /// Every file's path, sorted.
    pub fn file_names(&self) -> Vec<String> {
        self.lock().names.keys().cloned().collect()
    }

    /// What a power loss would certainly leave of `path` (the durable image). Meant for small
    /// files: `None` if the file does not exist or is longer than `read_len_max_bytes`.
    pub fn durable_snapshot(&self, path: &str) -> Option<Vec<u8>> {
        self.snapshot(path, FileImage::read_durable)
    }

    /// What reads of `path` see now (the page cache). Same limits as `durable_snapshot`.
    pub fn cache_snapshot(&self, path: &str) -> Option<Vec<u8>> {
        self.snapshot(path, FileImage::read_cache)
    }

    fn snapshot(&self, path: &str, read: fn(&FileImage, u64, u64, &mut Vec<u8>)) -> Option<Vec<u8>> {
        let state = self.lock();
        let image = &state.nodes.get(&state.lookup(path)?)?.image;
        if image.len() > state.config.read_len_max_bytes {
            return None;
        }
        let mut out = reserve(path, DiskOp::Read, image.len()).ok()?;
        read(image, 0, image.len(), &mut out);
        Some(out)
    }

    /// What has happened so far.
    pub fn counters(&self) -> DiskCounters {
        self.lock().counters
    }

    /// The page size this disk was made with.
    pub fn page_size_bytes(&self) -> u64 {
        self.lock().config.page_size_bytes
    }
}

impl Disk for SimDisk {
    fn create(&self, path: &str, len: u64) -> Result<FileRef, DiskError> {
        let op = DiskOp::Create;
        check_path(path, op, PathKind::File)?;
        let (node, epoch) = {
            let mut state = self.lock();
            state.check_free(path, op)?;
            state.check_capacity(path, op, len)?;
            state.counters.creates += 1;
            state.add_stall(op);
            state.inject(path, op)?;
            let image = FileImage::zeroed(len, state.config.page_size_bytes);
            (state.link_new(path, image, true), state.epoch)
        };
        Ok(self.handle(path, node, epoch, len))
    }

    fn open(&self, path: &str) -> Result<FileRef, DiskError> {
        let op = DiskOp::Open;
        check_path(path, op, PathKind::File)?;
        let (node, epoch, len) = {
            let mut state = self.lock();
            let id = state.lookup(path).ok_or_else(|| not_found(path))?;
            let len = state.nodes.get(&id).ok_or_else(|| not_found(path))?.image.len();
            state.counters.opens += 1;
            state.add_stall(op);
            state.inject(path, op)?;
            state.retain_handle(id);
            (id, state.epoch, len)
        };
        Ok(self.handle(path, node, epoch, len))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let op = DiskOp::List;
        check_path(dir, op, PathKind::Dir)?;
        let mut state = self.lock();
        state.counters.lists += 1;
        state.add_stall(op);
        state.inject(dir, op)?;
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let names = state
            .names
            .range(prefix.clone()..)
            .map(|(name, _)| name)
            .take_while(|name| name.starts_with(&prefix))
            .map(|name| &name[prefix.len()..])
            // A file deeper down makes its first path component a subdirectory entry.
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect();
        Ok(names)
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        let op = DiskOp::Remove;
        check_path(path, op, PathKind::File)?;
        let mut state = self.lock();
        state.lookup(path).ok_or_else(|| not_found(path))?;
        state.counters.removes += 1;
        state.add_stall(op);
        state.inject(path, op)?;
        state.unlink(path);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        let op = DiskOp::Rename;
        check_path(from, op, PathKind::File)?;
        check_path(to, op, PathKind::File)?;
        let mut state = self.lock();
        let id = state.lookup(from).ok_or_else(|| not_found(from))?;
        state.check_free(to, op)?;
        state.counters.renames += 1;
        state.add_stall(op);
        state.inject(from, op)?;
        state.relink(from, to, id);
        Ok(())
    }

    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError> {
        let op = DiskOp::Read;
        check_path(path, op, PathKind::File)?;
        let mut state = self.lock();
        let Some(id) = state.lookup(path) else { return Ok(None) };
        let len = state.nodes.get(&id).ok_or_else(|| not_found(path))?.image.len();
        check_read_len(&state, path, len)?;
        state.counters.reads += 1;
        state.add_stall(op);
        state.inject(path, op)?;
        let mut out = reserve(path, op, len)?;
        let node = state.nodes.get(&id).ok_or_else(|| not_found(path))?;
        node.image.read_cache(0, len, &mut out);
        state.counters.read_bytes += len;
        Ok(Some(Bytes::from(out)))
    }

    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        let op = DiskOp::Replace;
        check_path(path, op, PathKind::File)?;
        let mut state = self.lock();
        if state.is_dir(path) {
            return Err(DiskError::Io { path: path.to_string(), op, detail: "is a directory".to_string() });
        }
        if state.lookup(path).is_none() {
            state.check_free(path, op)?;
        }
        // The temporary file coexists with the old one until the rename.
        state.check_capacity(path, op, data.len() as u64)?;
        state.counters.replaces += 1;
        state.add_stall(op);
        state.inject(path, DiskOp::Replace)?;
        state.inject(path, DiskOp::Write)?;
        state.inject(path, DiskOp::Sync)?;
        let image = FileImage::durable_from(data, state.config.page_size_bytes);
        state.link_new(path, image, false);
        Ok(())
    }

    fn take_stall(&self) -> Duration {
        std::mem::take(&mut self.lock().stall)
    }
}

impl SimDisk {
    /// A handle to `node`; built after the lock is released (dropping one takes the lock).
    fn handle(&self, path: &str, node: NodeId, epoch: u64, len: u64) -> FileRef {
        Arc::new(SimFile { shared: Arc::clone(&self.shared), path: path.to_string(), node, epoch, len })
    }
}

/// An open file of a [`SimDisk`].
struct SimFile {
    /// The device the file lives on.
    shared: Arc<Mutex<DiskState>>,
    /// The path it was opened by, for errors and [`DiskFile::path`].
    path: String,
    /// Its content, which outlives a `remove` while this handle lives.
    node: NodeId,
    /// The crash epoch it was opened in; after a crash it is stale.
    epoch: u64,
    /// Its length, fixed at creation.
    len: u64,
}

impl DiskFile for SimFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let op = DiskOp::Write;
        let mut state = lock(&self.shared);
        state.live_node(&self.path, op, self.node, self.epoch)?;
        check_range(&self.path, op, offset, data.len() as u64, self.len)?;
        state.counters.writes += 1;
        state.add_stall(op);
        state.inject(&self.path, op)?;
        state.live_node(&self.path, op, self.node, self.epoch)?.image.write(offset, data);
        state.counters.written_bytes += data.len() as u64;
        Ok(())
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, DiskError> {
        let (op, len) = (DiskOp::Read, len as u64);
        let mut state = lock(&self.shared);
        state.live_node(&self.path, op, self.node, self.epoch)?;
        check_range(&self.path, op, offset, len, self.len)?;
        check_read_len(&state, &self.path, len)?;
        state.counters.reads += 1;
        state.add_stall(op);
        state.inject(&self.path, op)?;
        let mut out = reserve(&self.path, op, len)?;
        state.live_node(&self.path, op, self.node, self.epoch)?.image.read_cache(offset, len, &mut out);
        state.counters.read_bytes += len;
        Ok(Bytes::from(out))
    }

    fn sync_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        let op = DiskOp::Sync;
        let mut state = lock(&self.shared);
        state.live_node(&self.path, op, self.node, self.epoch)?;
        check_range(&self.path, op, offset, len, self.len)?;
        state.counters.syncs += 1;
        state.add_stall(op);
        state.inject(&self.path, op)?;
        let pages = state.live_node(&self.path, op, self.node, self.epoch)?.image.sync(offset, len);
        state.counters.synced_pages += pages;
        Ok(())
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        lock(&self.shared).release_handle(self.node, self.epoch);
    }
}

/// Locks the state; a panic elsewhere while it was held cannot leave it half-updated in a way
/// that matters more than stopping the simulation, so poisoning is ignored.
fn lock(shared: &Mutex<DiskState>) -> MutexGuard<'_, DiskState> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_found(path: &str) -> DiskError {
    DiskError::NotFound { path: path.to_string() }
}

/// Fails a read longer than the configured maximum.
fn check_read_len(state: &DiskState, path: &str, len: u64) -> Result<(), DiskError> {
    let max = state.config.read_len_max_bytes;
    if len > max {
        let detail = format!("read of {len} bytes exceeds the simulated disk's limit of {max}");
        return Err(DiskError::Io { path: path.to_string(), op: DiskOp::Read, detail });
    }
    Ok(())
}

/// An empty buffer with room for `len` bytes, or an error if memory cannot be had.
fn reserve(path: &str, op: DiskOp, len: u64) -> Result<Vec<u8>, DiskError> {
    let mut out = Vec::new();
    let reserved = usize::try_from(len).ok().and_then(|len| out.try_reserve_exact(len).ok());
    match reserved {
        Some(()) => Ok(out),
        None => Err(DiskError::Io { path: path.to_string(), op, detail: format!("cannot allocate {len} bytes") }),
    }
}
