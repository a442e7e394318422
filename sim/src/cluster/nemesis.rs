//! The nemesis: applies the scenario's faults (its timeline and its random schedule) and heals
//! them, recording each in the history.
//!
//! Faults may overlap. Each one remembers exactly what it did (the links it clogged, the node
//! it paused or crashed, the disk it configured) and its heal undoes only that: links are
//! reference-counted, so a link two partitions clog opens when both have healed. A fault whose
//! target is already down or paused is skipped. The network-wide faults (latency, loss) set
//! madsim's network configuration and restore it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::nodes::{BrokerProbe, Cluster};
use crate::disk::{CrashKind as DiskCrash, FaultConfig};
use crate::history::{CrashKind, Op, Role};
use crate::scenario::{FaultKind, NemesisSpec, Scenario, TimedFault};

/// How long the final heal waits, after clearing the disks' faults, before it asks which
/// brokers' stores failed: longer than the slowest injected sync stall (500 ms), which is slept
/// before a failed sync's result reaches the store.
const STORE_SETTLE: Duration = Duration::from_secs(1);

/// A fault in force, with what its heal must undo.
#[derive(Debug, Clone)]
enum Active {
    /// A crashed node, restarted at the heal.
    Crashed { node: usize },
    /// A paused node.
    Paused { node: usize },
    /// Clogged links (src, dst) by node index.
    Links { links: Vec<(usize, usize)> },
    /// The network's latency or loss was changed.
    Network,
    /// A node's disk has injected faults.
    Disk { node: usize },
}

/// A fault in force: its record name, nodes, and what to undo.
#[derive(Debug, Clone)]
struct Applied {
    name: String,
    nodes: Vec<String>,
    active: Active,
    kind: FaultKind,
}

/// Applies and heals faults.
pub struct Nemesis {
    cluster: Arc<Cluster>,
    rng: StdRng,
    timeline: Vec<TimedFault>,
    random: Option<NemesisSpec>,
    clogged: BTreeMap<(usize, usize), u32>,
    down: Vec<bool>,
    paused: Vec<bool>,
    /// Brokers that had a disk fault: at the final heal, those whose store stopped taking
    /// writes (it stops itself on a failed write or sync) or whose start failed are restarted,
    /// as an operator would after fixing the disk.
    disk_faulted: Vec<bool>,
    net_default: madsim::net::Config,
    scenario: Scenario,
}

impl Nemesis {
    /// A nemesis for `scenario`'s faults, its randomness drawn from `seed`.
    pub fn new(scenario: &Scenario, seed: u64, cluster: Arc<Cluster>) -> Nemesis {
        let count = cluster.nodes.len();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x4E45_4D45_5349_5300);
        let random = scenario.faults.nemesis.clone().map(|mut spec| {
            if spec.swarm {
                // Swarm testing: a seed-chosen non-empty subset of the kinds, and a rate scaled
                // by a factor in [0.5, 2].
                let mut kinds: Vec<FaultKind> = spec.kinds.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
                if kinds.is_empty() {
                    kinds.push(spec.kinds[rng.gen_range(0..spec.kinds.len())]);
                }
                let scale = rng.gen_range(0.5..=2.0);
                spec.kinds = kinds;
                spec.interval_s = [spec.interval_s[0] * scale, spec.interval_s[1] * scale];
            }
            spec
        });
        let mut timeline = scenario.faults.timeline.clone();
        timeline.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        Nemesis {
            cluster,
            rng,
            timeline,
            random,
            clogged: BTreeMap::new(),
            down: vec![false; count],
            paused: vec![false; count],
            disk_faulted: vec![false; count],
            net_default: madsim::net::Config::default(),
            scenario: scenario.clone(),
        }
    }

    /// Runs the schedule for `duration` of simulated time; faults still in force at the end
    /// stay for `heal_all`.
    pub async fn run(&mut self, duration: Duration) {
        let start = petrel_core::clock::monotonic();
        let end = start + duration;
        // (heal time, fault) of the faults in force.
        let mut active: Vec<(tokio::time::Instant, Applied)> = Vec::new();
        let mut timeline = std::mem::take(&mut self.timeline).into_iter().peekable();
        let mut next_random = self.random.as_ref().map(|spec| start + draw(&mut self.rng, spec.interval_s));
        loop {
            let next_timed = timeline.peek().map(|f| start + Duration::from_secs_f64(f.at_s));
            let next_heal = active.iter().map(|(at, _)| *at).min();
            let next = [next_timed, next_heal, next_random].into_iter().flatten().min();
            let Some(next) = next.filter(|next| *next < end) else { break };
            tokio::time::sleep_until(next).await;
            let now = petrel_core::clock::monotonic();
            // Heals first, then new faults.
            let mut i = 0;
            while i < active.len() {
                if active[i].0 <= now {
                    let (_, fault) = active.remove(i);
                    self.heal(fault);
                } else {
                    i += 1;
                }
            }
            while timeline.peek().is_some_and(|f| start + Duration::from_secs_f64(f.at_s) <= now) {
                let Some(fault) = timeline.next() else { break };
                if let Some(applied) = self.apply(fault.fault, &fault.target) {
                    active.push((now + Duration::from_secs_f64(fault.for_s), applied));
                }
            }
            if next_random.is_some_and(|at| at <= now) {
                let spec = self.random.clone();
                if let Some(spec) = spec {
                    let kind = spec.kinds[self.rng.gen_range(0..spec.kinds.len())];
                    let lasts = draw(&mut self.rng, spec.duration_s);
                    if let Some(applied) = self.apply(kind, &spec.target) {
                        active.push((now + lasts, applied));
                    }
                    next_random = Some(now + lasts + draw(&mut self.rng, spec.interval_s));
                }
            }
        }
        tokio::time::sleep_until(end).await;
        for (_, fault) in active {
            self.heal(fault);
        }
    }

    /// Heals everything still wrong: resumes paused nodes, opens every link, restores the
    /// network, clears every disk's faults, restarts the brokers that had disk faults and cannot
    /// take writes without a restart (their store failed, or their start did), and restarts
    /// crashed nodes. Waits briefly for restarts.
    pub async fn heal_all(&mut self) {
        let net = NetSim::current();
        net.update_config(|config| *config = self.net_default.clone());
        for ((a, b), _) in std::mem::take(&mut self.clogged) {
            net.unclog_link(self.id(a), self.id(b));
        }
        let handle = Handle::current();
        for node in 0..self.cluster.nodes.len() {
            if self.paused[node] {
                self.paused[node] = false;
                handle.resume(self.id(node));
            }
            if let Some(disk) = &self.cluster.nodes[node].disk {
                disk.set_capacity(None);
                let _ = disk.set_faults(FaultConfig::default());
            }
        }
        self.restart_failed_stores().await;
        for node in 0..self.cluster.nodes.len() {
            if self.down[node] {
                self.down[node] = false;
                handle.restart(self.id(node));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Kills (for `heal_all` to restart) every running broker that had a disk fault and cannot
    /// take writes until it restarts. First waits `STORE_SETTLE`, so that I/O begun under the
    /// faults has finished and its failures are recorded (a sync's stall is slept before its
    /// result reaches the store). A broker whose disk faults did it no harm keeps running.
    async fn restart_failed_stores(&mut self) {
        let candidates: Vec<usize> =
            (0..self.cluster.nodes.len()).filter(|node| self.disk_faulted[*node] && !self.down[*node]).collect();
        self.disk_faulted.iter_mut().for_each(|faulted| *faulted = false);
        if candidates.is_empty() {
            return;
        }
        tokio::time::sleep(STORE_SETTLE).await;
        for node in candidates {
            let probe = self.cluster.nodes[node].broker.as_ref();
            if !self.down[node] && probe.and_then(BrokerProbe::restart_reason).is_some() {
                self.crash(node, CrashKind::Kill);
            }
        }
    }

    fn id(&self, node: usize) -> NodeId {
        self.cluster.nodes[node].id()
    }

    fn name(&self, node: usize) -> String {
        self.cluster.nodes[node].name.clone()
    }

    fn record(&self, op: Op) {
        self.cluster.record(op);
    }

    /// Picks the node a fault on `target` hits: one not down or paused, drawn from the seed.
    fn pick(&mut self, target: &str, kind: FaultKind) -> Option<usize> {
        let names = self.scenario.target_nodes(target, kind)?;
        let candidates: Vec<usize> = names
            .iter()
            .filter_map(|name| self.cluster.nodes.iter().position(|n| &n.name == name))
            .filter(|i| !self.down[*i] && !self.paused[*i])
            .collect();
        candidates.choose(&mut self.rng).copied()
    }

    /// Applies one fault; `None` when there was nothing to apply it to.
    fn apply(&mut self, kind: FaultKind, target: &str) -> Option<Applied> {
        let count = self.cluster.nodes.len();
        let (active, nodes) = match kind {
            FaultKind::Kill | FaultKind::PowerLoss => {
                let node = self.pick(target, kind)?;
                let crash = if kind == FaultKind::Kill { CrashKind::Kill } else { CrashKind::PowerLoss };
                self.crash(node, crash);
                return Some(Applied {
                    name: kind.name().to_owned(),
                    nodes: vec![self.name(node)],
                    active: Active::Crashed { node },
                    kind,
                });
            }
            FaultKind::Pause => {
                let node = self.pick(target, kind)?;
                self.paused[node] = true;
                Handle::current().pause(self.id(node));
                (Active::Paused { node }, vec![self.name(node)])
            }
            FaultKind::Isolate => {
                let node = self.pick(target, kind)?;
                let links = (0..count).filter(|o| *o != node).flat_map(|o| [(node, o), (o, node)]).collect();
                (Active::Links { links }, vec![self.name(node)])
            }
            FaultKind::Clog | FaultKind::OneWay => {
                let node = self.pick(target, kind)?;
                let others: Vec<usize> = (0..count).filter(|o| *o != node).collect();
                let other = *others.choose(&mut self.rng)?;
                let links =
                    if kind == FaultKind::OneWay { vec![(node, other)] } else { vec![(node, other), (other, node)] };
                (Active::Links { links }, vec![self.name(node), self.name(other)])
            }
            FaultKind::PartitionHalves | FaultKind::Bridge => {
                let mut order: Vec<usize> = (0..count).collect();
                order.shuffle(&mut self.rng);
                let bridge = (kind == FaultKind::Bridge).then(|| order.pop()).flatten();
                let half = order.len() / 2;
                let (a, b) = order.split_at(half);
                let links = a.iter().flat_map(|x| b.iter().flat_map(move |y| [(*x, *y), (*y, *x)])).collect();
                let mut nodes: Vec<String> = a.iter().map(|i| self.name(*i)).collect();
                nodes.push("|".to_owned());
                nodes.extend(b.iter().map(|i| self.name(*i)));
                if let Some(bridge) = bridge {
                    nodes.push(format!("bridge {}", self.name(bridge)));
                }
                (Active::Links { links }, nodes)
            }
            FaultKind::Latency | FaultKind::PacketLoss => {
                NetSim::current().update_config(|config| {
                    if kind == FaultKind::Latency {
                        config.send_latency = Duration::from_millis(10)..Duration::from_millis(200);
                    } else {
                        config.packet_loss_rate = 0.1;
                    }
                });
                (Active::Network, Vec::new())
            }
            FaultKind::DiskReadEio
            | FaultKind::DiskWriteEio
            | FaultKind::DiskSyncEio
            | FaultKind::DiskFull
            | FaultKind::SlowFsync => {
                let node = self.pick(target, kind)?;
                let disk = self.cluster.nodes[node].disk.clone()?;
                let mut faults = disk.faults();
                match kind {
                    FaultKind::DiskReadEio => faults.read_eio_probability = 0.05,
                    FaultKind::DiskWriteEio => faults.write_eio_probability = 0.05,
                    FaultKind::DiskSyncEio => faults.sync_eio_probability = 0.2,
                    FaultKind::SlowFsync => {
                        faults.sync_latency_min = Duration::from_millis(50);
                        faults.sync_latency_max = Duration::from_millis(500);
                    }
                    _ => {}
                }
                let _ = disk.set_faults(faults);
                if kind == FaultKind::DiskFull {
                    disk.set_capacity(Some(disk.allocated_bytes()));
                }
                if self.cluster.nodes[node].role == Role::Broker {
                    self.disk_faulted[node] = true;
                }
                (Active::Disk { node }, vec![self.name(node)])
            }
        };
        if let Active::Links { links } = &active {
            let net = NetSim::current();
            for (a, b) in links {
                let (ida, idb) = (self.id(*a), self.id(*b));
                let count = self.clogged.entry((*a, *b)).or_insert(0);
                if *count == 0 {
                    net.clog_link(ida, idb);
                }
                *count += 1;
            }
        }
        let name = kind.name().to_owned();
        self.record(Op::FaultStarted { fault: name.clone(), nodes: nodes.clone() });
        Some(Applied { name, nodes, active, kind })
    }

    /// Kills `node` (and crashes its disk the same way), recording it.
    fn crash(&mut self, node: usize, kind: CrashKind) {
        let entry = &self.cluster.nodes[node];
        Handle::current().kill(entry.id());
        if let Some(disk) = &entry.disk {
            disk.crash(match kind {
                CrashKind::Kill => DiskCrash::ProcessKill,
                CrashKind::PowerLoss => DiskCrash::PowerLoss,
            });
        }
        self.down[node] = true;
        self.paused[node] = false;
        self.record(Op::NodeCrashed { node: entry.name.clone(), role: entry.role, kind });
    }

    /// Undoes one fault.
    fn heal(&mut self, fault: Applied) {
        match fault.active {
            Active::Crashed { node } => {
                if self.down[node] {
                    self.down[node] = false;
                    Handle::current().restart(self.id(node));
                }
                return;
            }
            Active::Paused { node } => {
                if self.paused[node] {
                    self.paused[node] = false;
                    Handle::current().resume(self.id(node));
                }
            }
            Active::Links { links } => {
                let net = NetSim::current();
                for link in links {
                    if let Some(count) = self.clogged.get_mut(&link) {
                        *count -= 1;
                        if *count == 0 {
                            self.clogged.remove(&link);
                            net.unclog_link(self.id(link.0), self.id(link.1));
                        }
                    }
                }
            }
            Active::Network => {
                let default = self.net_default.clone();
                NetSim::current().update_config(|config| {
                    if fault.kind == FaultKind::Latency {
                        config.send_latency = default.send_latency;
                    } else {
                        config.packet_loss_rate = default.packet_loss_rate;
                    }
                });
            }
            Active::Disk { node } => {
                if let Some(disk) = &self.cluster.nodes[node].disk {
                    disk.set_capacity(None);
                    let _ = disk.set_faults(FaultConfig::default());
                }
            }
        }
        self.record(Op::FaultEnded { fault: fault.name, nodes: fault.nodes });
    }
}

/// A duration drawn uniformly in [min, max] seconds.
fn draw(rng: &mut StdRng, [min, max]: [f64; 2]) -> Duration {
    Duration::from_secs_f64(if max > min { rng.gen_range(min..=max) } else { min })
}
