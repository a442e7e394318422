//! The simulated disk's state behind its lock: the namespace, the files, the RNG, the faults and
//! the counters. Every method runs with the lock held and never calls back into the disk.

use std::collections::BTreeMap;
use std::time::Duration;

use petrel_core::store::disk::{DiskError, DiskOp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::SimDiskConfig;
use super::image::{FileImage, PowerLossPages};
use super::path::ancestors;
use super::{CrashKind, DiskCounters};

/// Identifies a file's content independently of its name (an inode): a removed file lives on
/// while handles to it are open.
pub(super) type NodeId = u64;

/// One file's content and how it is referenced.
#[derive(Debug)]
pub(super) struct Node {
    /// The bytes, cached and durable.
    pub(super) image: FileImage,
    /// Handles of the current epoch that refer to this node; an unlinked node is freed at zero.
    open_handles: u64,
    /// Whether a name in the namespace refers to this node.
    linked: bool,
}

/// A fault armed by `fail_next`: the next `remaining` matching operations fail with EIO.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OneShotFault {
    /// The operation it fails.
    op: DiskOp,
    /// Only paths starting with this fail; `None` matches every path.
    path_prefix: Option<String>,
    /// How many more matching operations fail.
    remaining: u32,
}

/// Everything a simulated disk holds.
#[derive(Debug)]
pub(super) struct DiskState {
    /// Geometry, capacity, current faults and power-loss weights.
    pub(super) config: SimDiskConfig,
    /// The disk's only source of randomness, seeded from `config.seed`.
    pub(super) rng: StdRng,
    /// Path -> node: what `open` and `list` see.
    pub(super) names: BTreeMap<String, NodeId>,
    /// Every live node, linked or held open after removal.
    pub(super) nodes: BTreeMap<NodeId, Node>,
    /// Next node id; ids are never reused, so a stale handle cannot reach a newer file.
    next_node: NodeId,
    /// Bumped by every crash; handles from an earlier epoch are stale.
    pub(super) epoch: u64,
    /// Stall accumulated since the host last drained it.
    pub(super) stall: Duration,
    /// Armed one-shot faults, in the order they were armed.
    one_shots: Vec<OneShotFault>,
    /// What happened so far, for tests and reports.
    pub(super) counters: DiskCounters,
}

impl DiskState {
    /// A fresh, empty disk. The caller has validated `config`.
    pub(super) fn new(config: SimDiskConfig) -> DiskState {
        DiskState {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            names: BTreeMap::new(),
            nodes: BTreeMap::new(),
            next_node: 0,
            epoch: 0,
            stall: Duration::ZERO,
            one_shots: Vec::new(),
            counters: DiskCounters::default(),
        }
    }

    /// The node a handle refers to, if the handle is of the current epoch.
    pub(super) fn live_node(
        &mut self,
        path: &str,
        op: DiskOp,
        node: NodeId,
        epoch: u64,
    ) -> Result<&mut Node, DiskError> {
        if epoch != self.epoch {
            let detail =
                format!("stale handle: opened in epoch {epoch}, the disk crashed since (now epoch {})", self.epoch);
            return Err(DiskError::Io { path: path.to_string(), op, detail });
        }
        self.nodes.get_mut(&node).ok_or_else(|| DiskError::Io {
            path: path.to_string(),
            op,
            detail: "stale handle: its file no longer exists".to_string(),
        })
    }

    /// The node `path` names now, if any.
    pub(super) fn lookup(&self, path: &str) -> Option<NodeId> {
        self.names.get(path).copied()
    }

    /// Adds the latency `op` costs to the stall; syncs draw theirs from the configured range.
    pub(super) fn add_stall(&mut self, op: DiskOp) {
        let faults = &self.config.faults;
        let (min, max) = (faults.sync_latency_min, faults.sync_latency_max);
        let latency = match op {
            DiskOp::Read => faults.read_latency,
            DiskOp::Write => faults.write_latency,
            DiskOp::Sync | DiskOp::Create | DiskOp::Remove | DiskOp::Rename => draw_latency(&mut self.rng, min, max),
            DiskOp::Replace => faults.write_latency.saturating_add(draw_latency(&mut self.rng, min, max)),
            DiskOp::Open | DiskOp::List => Duration::ZERO,
        };
        self.stall = self.stall.saturating_add(latency);
        self.counters.stalled = self.counters.stalled.saturating_add(latency);
    }

    /// Fails `op` on `path` if an armed one-shot fault matches it, or by the configured
    /// probability for reads, writes and syncs.
    pub(super) fn inject(&mut self, path: &str, op: DiskOp) -> Result<(), DiskError> {
        let armed = self.one_shots.iter().position(|fault| {
            fault.op == op && fault.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix))
        });
        let cause = if let Some(at) = armed {
            self.one_shots[at].remaining -= 1;
            if self.one_shots[at].remaining == 0 {
                self.one_shots.remove(at);
            }
            "injected EIO (fail_next)"
        } else {
            let faults = &self.config.faults;
            let probability = match op {
                DiskOp::Read => faults.read_eio_probability,
                DiskOp::Write => faults.write_eio_probability,
                DiskOp::Sync => faults.sync_eio_probability,
                _ => 0.0,
            };
            if !chance(&mut self.rng, probability) {
                return Ok(());
            }
            "injected EIO (probability)"
        };
        self.counters.injected_faults += 1;
        Err(DiskError::Io { path: path.to_string(), op, detail: cause.to_string() })
    }

    /// Arms `count` failures of `op` on paths starting with `path_prefix`; arming the same
    /// `(op, prefix)` again adds to its count, so the list stays bounded by distinct targets.
    pub(super) fn arm(&mut self, op: DiskOp, path_prefix: Option<String>, count: u32) {
        if count == 0 {
            return;
        }
        match self.one_shots.iter_mut().find(|f| f.op == op && f.path_prefix == path_prefix) {
            Some(fault) => fault.remaining = fault.remaining.saturating_add(count),
            None => self.one_shots.push(OneShotFault { op, path_prefix, remaining: count }),
        }
    }

    /// Checks that a new file may be created at `path`: not existing, not a directory, no
    /// ancestor a file.
    pub(super) fn check_free(&self, path: &str, op: DiskOp) -> Result<(), DiskError> {
        if self.names.contains_key(path) || self.is_dir(path) {
            return Err(DiskError::AlreadyExists { path: path.to_string() });
        }
        if ancestors(path).any(|dir| self.names.contains_key(dir)) {
            let detail = "a parent of the path is a file".to_string();
            return Err(DiskError::Io { path: path.to_string(), op, detail });
        }
        Ok(())
    }

    /// Whether some file lives below `path`, making it a directory.
    pub(super) fn is_dir(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.names.range(prefix.clone()..).next().is_some_and(|(name, _)| name.starts_with(&prefix))
    }

    /// Bytes taken by every live node, linked or held open.
    pub(super) fn allocated_bytes(&self) -> u64 {
        self.nodes.values().fold(0u64, |sum, node| sum.saturating_add(node.image.len()))
    }

    /// Fails with `NoSpace` if `extra` more bytes do not fit.
    pub(super) fn check_capacity(&self, path: &str, op: DiskOp, extra: u64) -> Result<(), DiskError> {
        match self.config.capacity_bytes {
            Some(capacity) if self.allocated_bytes().saturating_add(extra) > capacity => {
                Err(DiskError::NoSpace { path: path.to_string(), op })
            }
            _ => Ok(()),
        }
    }

    /// Gives `path` a new node holding `image` (replacing any old one) and returns its id,
    /// with one open handle if `opened`.
    pub(super) fn link_new(&mut self, path: &str, image: FileImage, opened: bool) -> NodeId {
        self.unlink(path);
        let id = self.next_node;
        self.next_node += 1;
        self.nodes.insert(id, Node { image, open_handles: u64::from(opened), linked: true });
        self.names.insert(path.to_string(), id);
        id
    }

    /// Moves node `id` from `from` to `to` (the caller checked that `to` is free).
    pub(super) fn relink(&mut self, from: &str, to: &str, id: NodeId) {
        self.names.remove(from);
        self.names.insert(to.to_string(), id);
    }

    /// Removes `path` from the namespace; its node lives on while handles hold it.
    pub(super) fn unlink(&mut self, path: &str) {
        let Some(id) = self.names.remove(path) else { return };
        if let Some(node) = self.nodes.get_mut(&id) {
            node.linked = false;
            if node.open_handles == 0 {
                self.nodes.remove(&id);
            }
        }
    }

    /// Counts one more open handle of `id`.
    pub(super) fn retain_handle(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.open_handles += 1;
        }
    }

    /// A handle of `epoch` to `id` was dropped; frees an unlinked node nobody holds.
    pub(super) fn release_handle(&mut self, id: NodeId, epoch: u64) {
        if epoch != self.epoch {
            return; // The crash already forgot every handle of that epoch.
        }
        if let Some(node) = self.nodes.get_mut(&id) {
            node.open_handles = node.open_handles.saturating_sub(1);
            if node.open_handles == 0 && !node.linked {
                self.nodes.remove(&id);
            }
        }
    }

    /// The process dies, and with `PowerLoss` the machine too (see the module docs).
    pub(super) fn crash(&mut self, kind: CrashKind) -> PowerLossPages {
        self.epoch += 1;
        self.stall = Duration::ZERO;
        // The dead process's descriptors close: removed files go, counts restart.
        self.nodes.retain(|_, node| node.linked);
        for node in self.nodes.values_mut() {
            node.open_handles = 0;
        }
        if kind == CrashKind::ProcessKill {
            self.counters.process_kills += 1;
            return PowerLossPages::default();
        }
        self.counters.power_losses += 1;
        let mut fates = PowerLossPages::default();
        let (weights, sector) = (self.config.power_loss, self.config.sector_size_bytes);
        for id in self.names.values() {
            if let Some(node) = self.nodes.get_mut(id) {
                let pages = node.image.power_loss(&mut self.rng, weights, sector);
                fates.written_back += pages.written_back;
                fates.lost += pages.lost;
                fates.torn += pages.torn;
            }
        }
        self.counters.pages_written_back += fates.written_back;
        self.counters.pages_lost += fates.lost;
        self.counters.pages_torn += fates.torn;
        fates
    }
}

/// A fair draw of `probability` that never panics (out-of-range values clamp; NaN is never).
fn chance(rng: &mut StdRng, probability: f64) -> bool {
    if probability.is_nan() || probability <= 0.0 {
        false
    } else if probability >= 1.0 {
        true
    } else {
        rng.gen_bool(probability)
    }
}

/// A latency drawn uniformly from `[min, max]` (nanosecond resolution); no draw if fixed.
fn draw_latency(rng: &mut StdRng, min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let min_ns = u64::try_from(min.as_nanos()).unwrap_or(u64::MAX);
    let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(min_ns..=max_ns))
}
