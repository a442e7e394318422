//! Scenario files: what cluster to build, what workload to run on it, which faults to inject
//! and which guarantees the configuration claims. One TOML file per scenario in `scenarios/`;
//! [`Scenario::parse`] reads and validates one, with an error that names the field at fault.
//!
//! Times are simulated seconds (fractions allowed). Node names are fixed by the topology:
//! `namesrv-0..`, the brokers' names as written, `producer-0..`, and `<group>-c0..` for
//! consumers. A fault's `target` names a node or a role (`brokers`, `namesrvs`, `producers`,
//! `consumers`, `servers` = namesrvs and brokers, `clients`, `any`); the nemesis draws one
//! node of the role.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checkers::GroupModel;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (the file's stem by convention).
    pub name: String,
    /// One paragraph: what it proves.
    #[serde(default)]
    pub description: String,
    /// How long the workload runs with faults, in simulated seconds.
    pub duration_s: f64,
    /// After the faults are healed, how long producers keep sending before they stop.
    #[serde(default = "default_tail_s")]
    pub tail_s: f64,
    /// The liveness window: after the faults are healed, every acknowledged message must be
    /// consumed within this many seconds.
    #[serde(default = "default_liveness_window_s")]
    pub liveness_window_s: f64,
    /// Sends invoked this long after the heal must all succeed (clients need a route refresh
    /// and brokers a registration before they can).
    #[serde(default = "default_liveness_settle_s")]
    pub liveness_settle_s: f64,
    /// The servers and the topic.
    pub cluster: ClusterSpec,
    /// Producer sets.
    #[serde(default)]
    pub producers: Vec<ProducerSpec>,
    /// Consumer groups.
    #[serde(default)]
    pub consumers: Vec<ConsumerSpec>,
    /// The fault schedule.
    #[serde(default)]
    pub faults: FaultSpec,
    /// Which checkers' verdicts decide the run (all by default).
    #[serde(default)]
    pub guarantees: Guarantees,
}

fn default_tail_s() -> f64 {
    40.0
}

fn default_liveness_window_s() -> f64 {
    90.0
}

fn default_liveness_settle_s() -> f64 {
    35.0
}

/// NameServers, brokers and the topic the workload uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// How many NameServers (independent, as in RocketMQ).
    #[serde(default = "one")]
    pub namesrvs: u32,
    /// The brokers (each a master of its own broker group).
    pub brokers: Vec<BrokerSpec>,
    /// The topic every producer sends to and every group subscribes to.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Read and write queues of the topic on each broker.
    #[serde(default = "default_queues")]
    pub queues: u32,
}

fn one() -> u32 {
    1
}

fn default_topic() -> String {
    "ChaosTopic".to_owned()
}

fn default_queues() -> u32 {
    4
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSpec {
    /// Its broker name (and node name).
    pub name: String,
    /// Its flush mode.
    #[serde(default)]
    pub flush: FlushSpec,
    /// Its role; only `master` runs today.
    #[serde(default)]
    pub role: BrokerRole,
}

/// A broker's flush mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushSpec {
    /// ASYNC_FLUSH: acknowledged in the page cache.
    #[default]
    Async,
    /// SYNC_FLUSH: acknowledged after the group commit's sync.
    Sync,
}

/// A broker's role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerRole {
    /// A master (ASYNC_MASTER without slaves).
    #[default]
    Master,
    /// A slave: not implemented yet (replication is roadmap step 5).
    Slave,
}

/// `count` producers with the same settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerSpec {
    /// How many.
    #[serde(default = "one")]
    pub count: u32,
    /// Messages per simulated second, per producer.
    pub rate: f64,
    /// Body size in bytes (at least large enough for the message id).
    #[serde(default = "default_message_size")]
    pub message_size: usize,
    /// Give every message a key (`KEYS`), drawn from `key_space` keys.
    #[serde(default)]
    pub keys: bool,
    /// How many distinct keys.
    #[serde(default = "default_key_space")]
    pub key_space: u32,
    /// How sends are made.
    #[serde(default)]
    pub send_mode: SendMode,
    /// The client's retries (`retryTimesWhenSendFailed`).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Async sends in flight at most (ignored for other modes).
    #[serde(default = "default_in_flight")]
    pub in_flight_max: u32,
}

fn default_message_size() -> usize {
    256
}

fn default_key_space() -> u32 {
    100
}

fn default_retries() -> u32 {
    2
}

fn default_in_flight() -> u32 {
    64
}

/// How a producer sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// One synchronous send at a time.
    #[default]
    Sync,
    /// Asynchronous sends, up to `in_flight_max` at once.
    Async,
    /// One-way sends: no acknowledgement, so every outcome is unknown.
    Oneway,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// The group's name.
    pub group: String,
    /// Clustering or broadcasting.
    #[serde(default = "default_model")]
    pub model: GroupModel,
    /// How many members.
    #[serde(default = "one")]
    pub count: u32,
    /// Simulated processing time per message, drawn uniformly in [min, max] ms.
    #[serde(default)]
    pub processing_ms: [u64; 2],
    /// Chance in [0, 1] that the listener answers RECONSUME_LATER.
    #[serde(default)]
    pub failure_rate: f64,
}

fn default_model() -> GroupModel {
    GroupModel::Clustering
}

/// The fault schedule: an explicit timeline, a random nemesis, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Faults at fixed times.
    #[serde(default)]
    pub timeline: Vec<TimedFault>,
    /// Faults drawn from the seed.
    pub nemesis: Option<NemesisSpec>,
}

/// A fault at a fixed time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedFault {
    /// When it starts, simulated seconds after the workload starts.
    pub at_s: f64,
    /// What.
    pub fault: FaultKind,
    /// Which node or role (see the module docs); `any` by default.
    #[serde(default = "default_target")]
    pub target: String,
    /// How long until it is healed (a crashed node restarts then).
    pub for_s: f64,
}

fn default_target() -> String {
    "any".to_owned()
}

/// Random faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    /// Pause between one fault's heal and the next fault, drawn in [min, max] seconds.
    pub interval_s: [f64; 2],
    /// How long each fault lasts, drawn in [min, max] seconds.
    pub duration_s: [f64; 2],
    /// The faults to draw from (uniformly), unless `swarm` draws a subset.
    pub kinds: Vec<FaultKind>,
    /// Which node or role each fault targets.
    #[serde(default = "default_target")]
    pub target: String,
    /// Swarm testing: the seed picks a non-empty subset of `kinds`, and scales the interval.
    #[serde(default)]
    pub swarm: bool,
}

/// The fault menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The process is killed (the page cache survives), restarted at the heal.
    Kill,
    /// The machine loses power (unsynced pages lost or torn), restarted at the heal.
    PowerLoss,
    /// The node is paused (no task runs), resumed at the heal.
    Pause,
    /// The nodes are split into two halves that cannot talk.
    PartitionHalves,
    /// One node is cut off from every other.
    Isolate,
    /// One node cannot send to one other (the other direction works).
    OneWay,
    /// Two halves plus one bridge node that talks to both.
    Bridge,
    /// One node's links are clogged in both directions.
    Clog,
    /// Every link gets 10-200 ms latency.
    Latency,
    /// Every link loses 10% of packets (TCP turns this into delay).
    PacketLoss,
    /// Disk reads fail with EIO (5%).
    DiskReadEio,
    /// Disk writes fail with EIO (5%).
    DiskWriteEio,
    /// Disk syncs fail with EIO (20%).
    DiskSyncEio,
    /// The disk is full.
    DiskFull,
    /// Syncs take 50-500 ms.
    SlowFsync,
}

impl FaultKind {
    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Pause => "pause",
            FaultKind::PartitionHalves => "partition-halves",
            FaultKind::Isolate => "isolate",
            FaultKind::OneWay => "one-way",
            FaultKind::Bridge => "bridge",
            FaultKind::Clog => "clog",
            FaultKind::Latency => "latency",
            FaultKind::PacketLoss => "packet-loss",
            FaultKind::DiskReadEio => "disk-read-eio",
            FaultKind::DiskWriteEio => "disk-write-eio",
            FaultKind::DiskSyncEio => "disk-sync-eio",
            FaultKind::DiskFull => "disk-full",
            FaultKind::SlowFsync => "slow-fsync",
        }
    }

    /// Whether the fault acts on a node's disk (brokers and broadcasting consumers have one).
    pub fn is_disk(self) -> bool {
        matches!(
            self,
            FaultKind::DiskReadEio
                | FaultKind::DiskWriteEio
                | FaultKind::DiskSyncEio
                | FaultKind::DiskFull
                | FaultKind::SlowFsync
        )
    }

    /// Whether the fault acts on the whole network rather than a chosen node.
    pub fn is_network_wide(self) -> bool {
        matches!(self, FaultKind::Latency | FaultKind::PacketLoss | FaultKind::PartitionHalves | FaultKind::Bridge)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The checkers whose verdicts decide a run. A checker left out still runs and is reported,
/// but its failure does not fail the run (for configurations that do not claim it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guarantees {
    /// Checker names (`lost`, `unexpected`, `aborted`, `duplicates`, `queue-offset`, `order`,
    /// `key-order`, `offsets`, `liveness`).
    pub claimed: BTreeSet<String>,
}

/// Every checker's name, in report order.
pub const CHECKERS: [&str; 9] = crate::checkers::CHECKER_NAMES;

impl Default for Guarantees {
    fn default() -> Self {
        Guarantees { claimed: CHECKERS.iter().map(|name| (*name).to_owned()).collect() }
    }
}

/// Why a scenario file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML for a scenario (syntax, an unknown or missing field, a wrong type).
    #[error("{0}")]
    Toml(String),
    /// A value out of range or inconsistent with the rest.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, as a path (e.g. `producers[0].rate`).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid { field: field.into(), problem: problem.into() }
}

/// The role names a target may use.
const ROLE_TARGETS: [&str; 7] = ["any", "brokers", "namesrvs", "producers", "consumers", "servers", "clients"];

/// Shortest body that holds the message id (`petrel-sim p4294967295-18446744073709551615;`).
pub const MESSAGE_SIZE_MIN: usize = 48;

/// Largest body the simulation sends (the store's 4 MiB limit is not what it is for).
pub const MESSAGE_SIZE_MAX: usize = 64 * 1024;

impl Scenario {
    /// Parses and validates a scenario file's text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| ScenarioError::Toml(error.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The node names in start order: namesrvs, brokers, producers, consumers.
    pub fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.cluster.namesrvs).map(|i| format!("namesrv-{i}")).collect();
        names.extend(self.cluster.brokers.iter().map(|b| b.name.clone()));
        names.extend(self.producer_names());
        names.extend(self.consumer_names().into_iter().map(|(_, name)| name));
        names
    }

    /// Producer node names, `producer-0..` across every producer set.
    pub fn producer_names(&self) -> Vec<String> {
        let total: u32 = self.producers.iter().map(|p| p.count).sum();
        (0..total).map(|i| format!("producer-{i}")).collect()
    }

    /// (group index, consumer node name) for every consumer.
    pub fn consumer_names(&self) -> Vec<(usize, String)> {
        self.consumers
            .iter()
            .enumerate()
            .flat_map(|(g, spec)| (0..spec.count).map(move |i| (g, format!("{}-c{i}", spec.group))))
            .collect()
    }

    /// Checks every value; the error names the first field at fault.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid("name", "must be non-empty letters, digits, '-' or '_'"));
        }
        positive("duration_s", self.duration_s)?;
        non_negative("tail_s", self.tail_s)?;
        positive("liveness_window_s", self.liveness_window_s)?;
        non_negative("liveness_settle_s", self.liveness_settle_s)?;
        if self.liveness_settle_s > self.tail_s {
            return Err(invalid("liveness_settle_s", "must not exceed tail_s (no send would be checked)"));
        }
        self.validate_cluster()?;
        self.validate_clients()?;
        self.validate_faults()?;
        for name in &self.guarantees.claimed {
            if !CHECKERS.contains(&name.as_str()) {
                return Err(invalid("guarantees.claimed", format!("unknown checker {name:?}; known: {CHECKERS:?}")));
            }
        }
        Ok(())
    }

    fn validate_cluster(&self) -> Result<(), ScenarioError> {
        let cluster = &self.cluster;
        if !(1..=8).contains(&cluster.namesrvs) {
            return Err(invalid("cluster.namesrvs", "must be 1 to 8"));
        }
        if cluster.brokers.is_empty() || cluster.brokers.len() > 16 {
            return Err(invalid("cluster.brokers", "must list 1 to 16 brokers"));
        }
        if !(1..=64).contains(&cluster.queues) {
            return Err(invalid("cluster.queues", "must be 1 to 64"));
        }
        if cluster.topic.is_empty() || cluster.topic.len() > 127 || cluster.topic.starts_with('%') {
            return Err(invalid("cluster.topic", "must be 1 to 127 characters and not a system topic"));
        }
        for (i, broker) in cluster.brokers.iter().enumerate() {
            if broker.role == BrokerRole::Slave {
                return Err(invalid(
                    format!("cluster.brokers[{i}].role"),
                    "slave is not supported yet: replication is not implemented",
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for name in self.node_names() {
            if !valid_node_name(&name) {
                return Err(invalid("node names", format!("{name:?} must be letters, digits, '-' or '_'")));
            }
            if ROLE_TARGETS.contains(&name.as_str()) || !seen.insert(name.clone()) {
                return Err(invalid("node names", format!("{name:?} is used twice or is a role name")));
            }
        }
        Ok(())
    }

    fn validate_clients(&self) -> Result<(), ScenarioError> {
        if self.producers.iter().map(|p| p.count).sum::<u32>() > 64 {
            return Err(invalid("producers", "at most 64 producers"));
        }
        for (i, p) in self.producers.iter().enumerate() {
            let field = |name: &str| format!("producers[{i}].{name}");
            if p.count == 0 {
                return Err(invalid(field("count"), "must be at least 1"));
            }
            if !(p.rate > 0.0 && p.rate <= 10_000.0) {
                return Err(invalid(field("rate"), "must be in (0, 10000] messages per second"));
            }
            if !(MESSAGE_SIZE_MIN..=MESSAGE_SIZE_MAX).contains(&p.message_size) {
                return Err(invalid(
                    field("message_size"),
                    format!("must be {MESSAGE_SIZE_MIN} to {MESSAGE_SIZE_MAX}"),
                ));
            }
            if p.key_space == 0 {
                return Err(invalid(field("key_space"), "must be at least 1"));
            }
            if p.retries > 16 {
                return Err(invalid(field("retries"), "at most 16"));
            }
            if p.in_flight_max == 0 {
                return Err(invalid(field("in_flight_max"), "must be at least 1"));
            }
        }
        if self.consumers.iter().map(|c| c.count).sum::<u32>() > 64 {
            return Err(invalid("consumers", "at most 64 consumers"));
        }
        let mut groups = BTreeSet::new();
        for (i, c) in self.consumers.iter().enumerate() {
            let field = |name: &str| format!("consumers[{i}].{name}");
            if c.group.is_empty() || !valid_node_name(&c.group) || !groups.insert(c.group.clone()) {
                return Err(invalid(field("group"), "must be a unique name of letters, digits, '-' or '_'"));
            }
            if c.count == 0 {
                return Err(invalid(field("count"), "must be at least 1"));
            }
            if c.processing_ms[0] > c.processing_ms[1] || c.processing_ms[1] > 60_000 {
                return Err(invalid(field("processing_ms"), "must be [min, max] with min <= max <= 60000"));
            }
            if !(0.0..=0.9).contains(&c.failure_rate) {
                return Err(invalid(field("failure_rate"), "must be in [0, 0.9]"));
            }
        }
        Ok(())
    }

    fn validate_faults(&self) -> Result<(), ScenarioError> {
        for (i, fault) in self.faults.timeline.iter().enumerate() {
            let field = |name: &str| format!("faults.timeline[{i}].{name}");
            non_negative(&field("at_s"), fault.at_s)?;
            if fault.at_s >= self.duration_s {
                return Err(invalid(field("at_s"), "must be before duration_s"));
            }
            positive(&field("for_s"), fault.for_s)?;
            self.validate_target(&field("target"), &fault.target, fault.fault)?;
        }
        if let Some(nemesis) = &self.faults.nemesis {
            range("faults.nemesis.interval_s", nemesis.interval_s)?;
            range("faults.nemesis.duration_s", nemesis.duration_s)?;
            if nemesis.duration_s[0] <= 0.0 {
                return Err(invalid("faults.nemesis.duration_s", "faults must last more than 0 s"));
            }
            if nemesis.kinds.is_empty() {
                return Err(invalid("faults.nemesis.kinds", "must name at least one fault"));
            }
            for kind in &nemesis.kinds {
                self.validate_target("faults.nemesis.target", &nemesis.target, *kind)?;
            }
        }
        Ok(())
    }

    /// A target must name a node or a role with at least one node, and a disk fault needs a
    /// node with a disk (a broker or a consumer).
    fn validate_target(&self, field: &str, target: &str, kind: FaultKind) -> Result<(), ScenarioError> {
        if kind.is_network_wide() {
            return Ok(());
        }
        let nodes = self.target_nodes(target, kind);
        match nodes {
            None => Err(invalid(field, format!("unknown target {target:?}: a node name or one of {ROLE_TARGETS:?}"))),
            Some(nodes) if nodes.is_empty() => {
                Err(invalid(field, format!("no node of {target:?} can take a {kind} fault")))
            }
            Some(_) => Ok(()),
        }
    }

    /// The nodes `target` names that can take `kind` (`None` for an unknown target).
    pub fn target_nodes(&self, target: &str, kind: FaultKind) -> Option<Vec<String>> {
        let namesrvs: Vec<String> = (0..self.cluster.namesrvs).map(|i| format!("namesrv-{i}")).collect();
        let brokers: Vec<String> = self.cluster.brokers.iter().map(|b| b.name.clone()).collect();
        let producers = self.producer_names();
        let consumers: Vec<String> = self.consumer_names().into_iter().map(|(_, name)| name).collect();
        let mut nodes: Vec<String> = match target {
            "any" => self.node_names(),
            "brokers" => brokers.clone(),
            "namesrvs" => namesrvs,
            "producers" => producers,
            "consumers" => consumers.clone(),
            "servers" => namesrvs.into_iter().chain(brokers.clone()).collect(),
            "clients" => producers.into_iter().chain(consumers.clone()).collect(),
            name if self.node_names().iter().any(|n| n == name) => vec![name.to_owned()],
            _ => return None,
        };
        if kind.is_disk() {
            // Disk faults act on the nodes that keep files: brokers and consumers of broadcasting
            // groups (their offsets).
            let broadcast: BTreeSet<String> = self
                .consumer_names()
                .into_iter()
                .filter(|(g, _)| self.consumers[*g].model == GroupModel::Broadcasting)
                .map(|(_, name)| name)
                .collect();
            nodes.retain(|n| brokers.contains(n) || broadcast.contains(n));
        }
        Some(nodes)
    }
}

fn valid_node_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 48 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn positive(field: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(())
    } else {
        Err(invalid(field, "must be a number of seconds in (0, 86400]"))
    }
}

fn non_negative(field: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() && (0.0..=86_400.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, "must be a number of seconds in [0, 86400]"))
    }
}

fn range(field: &str, [min, max]: [f64; 2]) -> Result<(), ScenarioError> {
    non_negative(field, min)?;
    non_negative(field, max)?;
    if min > max {
        return Err(invalid(field, "must be [min, max] with min <= max"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
duration_s = 10
[cluster]
brokers = [{ name = "broker-a", flush = "sync" }]
[[producers]]
rate = 10
[[consumers]]
group = "g1"
count = 2
"#;

    #[test]
    fn minimal_file_gets_defaults() {
        let s = Scenario::parse(MINIMAL).expect("valid");
        assert_eq!(s.cluster.namesrvs, 1);
        assert_eq!(s.cluster.queues, 4);
        assert_eq!(s.cluster.brokers[0].flush, FlushSpec::Sync);
        assert_eq!(s.producers[0].send_mode, SendMode::Sync);
        assert_eq!(s.consumers[0].model, GroupModel::Clustering);
        assert_eq!(s.node_names(), ["namesrv-0", "broker-a", "producer-0", "g1-c0", "g1-c1"]);
        assert_eq!(s.guarantees.claimed.len(), CHECKERS.len());
    }

    fn error_of(text: &str) -> ScenarioError {
        Scenario::parse(text).expect_err("should be refused")
    }

    #[test]
    fn errors_name_the_field() {
        let bad_rate = MINIMAL.replace("rate = 10", "rate = 0");
        assert_eq!(error_of(&bad_rate), invalid("producers[0].rate", "must be in (0, 10000] messages per second"));
        let slave = MINIMAL.replace("flush = \"sync\"", "role = \"slave\"");
        assert!(matches!(error_of(&slave), ScenarioError::Invalid { field, .. } if field == "cluster.brokers[0].role"));
        let unknown = MINIMAL.replace("count = 2", "count = 2\ncolour = 3");
        assert!(matches!(error_of(&unknown), ScenarioError::Toml(text) if text.contains("colour")));
        let fault =
            format!("{MINIMAL}\n[[faults.timeline]]\nat_s = 1\nfault = \"kill\"\ntarget = \"nobody\"\nfor_s = 2\n");
        assert!(
            matches!(error_of(&fault), ScenarioError::Invalid { field, .. } if field == "faults.timeline[0].target")
        );
        let late = fault.replace("\"nobody\"", "\"brokers\"").replace("at_s = 1", "at_s = 10");
        assert!(matches!(error_of(&late), ScenarioError::Invalid { field, .. } if field == "faults.timeline[0].at_s"));
        let claimed = format!("{MINIMAL}\n[guarantees]\nclaimed = [\"lost\", \"magic\"]\n");
        assert!(matches!(error_of(&claimed), ScenarioError::Invalid { field, .. } if field == "guarantees.claimed"));
        let twice = MINIMAL.replace("group = \"g1\"", "group = \"broker-a\"").replace("count = 2", "count = 1");
        assert!(Scenario::parse(&twice).is_ok(), "consumer nodes are broker-a-c0, not broker-a");
        let dup = MINIMAL.replace(
            "brokers = [{ name = \"broker-a\", flush = \"sync\" }]",
            "brokers = [{ name = \"b\" }, { name = \"b\" }]",
        );
        assert!(matches!(error_of(&dup), ScenarioError::Invalid { field, .. } if field == "node names"));
    }

    #[test]
    fn disk_faults_target_only_nodes_with_disks() {
        let s = Scenario::parse(MINIMAL).expect("valid");
        assert_eq!(s.target_nodes("any", FaultKind::DiskFull), Some(vec!["broker-a".to_owned()]));
        assert_eq!(s.target_nodes("clients", FaultKind::Kill).map(|n| n.len()), Some(3));
        assert_eq!(s.target_nodes("g1-c1", FaultKind::Pause), Some(vec!["g1-c1".to_owned()]));
        assert_eq!(s.target_nodes("zzz", FaultKind::Pause), None);
        let disk_on_clients = format!(
            "{MINIMAL}\n[faults.nemesis]\ninterval_s = [1, 2]\nduration_s = [1, 2]\nkinds = [\"disk-full\"]\ntarget = \"producers\"\n"
        );
        assert!(
            matches!(error_of(&disk_on_clients), ScenarioError::Invalid { field, .. } if field == "faults.nemesis.target")
        );
    }
}
