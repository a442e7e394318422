//! A scenario as a madsim cluster: NameServers, brokers, producers and consumers run as
//! simulated nodes (the same `petrel-net` code as production), each with fixed addresses and,
//! for brokers and consumers, a simulated disk that survives restarts. A supervisor task drives
//! the run through its phases and the nemesis (`nemesis.rs`) injects the scenario's faults:
//!
//! 1. start the servers, create the topic on every broker, start consumers then producers;
//! 2. run the workload for `duration_s` while faults come and go;
//! 3. heal everything (`FaultsHealed`), let producers go on for `tail_s`, stop them;
//! 4. wait until every acknowledged message is consumed by every group, or the liveness
//!    window passes; stop the consumers cleanly (`RunEnded`).
//!
//! The run's history is then judged by `crate::checkers`. Everything random comes from the
//! seed: madsim's scheduler and network, the nemesis's RNG, each node's RNG and each disk's.

mod nemesis;
mod nodes;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use petrel_core::planted::PlantedBug;
use petrel_core::protocol::{TopicConfig, TopicRouteData};
use petrel_net::client::admin::{AdminClient, TopicTarget};
use tokio::sync::watch;

use crate::checkers::{check_all, CheckConfig, CheckResult, GroupModel};
use crate::history::{History, MsgId, Op, Processing, Recorder};
use crate::scenario::{FlushSpec, Scenario, SendMode};

use self::nodes::{Clock, Cluster};

/// Port of every NameServer.
const NAMESRV_PORT: u16 = 9876;
/// Port of every broker.
const BROKER_PORT: u16 = 10911;
/// How long an ASYNC_FLUSH broker may hold acknowledged data unsynced: the flusher's thorough
/// interval (10 s) plus its wake-up interval and a margin for a flush in progress.
const ASYNC_LOSS_WINDOW_MS: u64 = 12_000;

/// Options a test or the command line adds to a scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A deliberate defect to plant (checker tests only).
    pub planted: Option<PlantedBug>,
}

/// What one seed of a scenario did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Everything recorded.
    pub history: History,
    /// Every checker's verdict.
    pub verdicts: Vec<CheckResult>,
    /// Whether every claimed guarantee held and nothing panicked.
    pub pass: bool,
    /// The panic message, if the simulation panicked.
    pub panic: Option<String>,
    /// Simulated milliseconds the run took.
    pub sim_ms: u64,
}

/// Runs `scenario` with `seed` in a fresh madsim runtime.
///
/// Run one seed per process when runs must be comparable: a second run in the same process
/// does not replay the first process's run of that seed (some state of madsim or std survives
/// a runtime, even across threads), so `petrel-sim` starts a process per seed.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunOutcome {
    let recorder = Recorder::new();
    let mut runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let limit = scenario.duration_s + scenario.tail_s + scenario.liveness_window_s + 300.0;
    runtime.set_time_limit(Duration::from_secs_f64(limit));
    let supervisor = supervise(scenario.clone(), seed, options.clone(), recorder.clone());
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(supervisor)));
    drop(runtime);
    let panic = result.err().map(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panic with a non-text payload".to_owned())
    });
    let history = recorder.snapshot();
    let verdicts = check_all(&history, &check_config(scenario));
    let claimed = |name: &str| scenario.guarantees.claimed.contains(name);
    let pass = panic.is_none() && verdicts.iter().all(|v| v.pass || !claimed(&v.checker));
    let sim_ms = history.events.last().map_or(0, |e| e.at_ms);
    RunOutcome { history, verdicts, pass, panic, sim_ms }
}

/// What the checkers need to know about the scenario.
pub fn check_config(scenario: &Scenario) -> CheckConfig {
    let mut groups: BTreeMap<String, (GroupModel, Vec<String>)> = BTreeMap::new();
    for (g, name) in scenario.consumer_names() {
        let spec = &scenario.consumers[g];
        groups.entry(spec.group.clone()).or_insert_with(|| (spec.model, Vec::new())).1.push(name);
    }
    let power_loss_window_ms = scenario
        .cluster
        .brokers
        .iter()
        .map(|b| (b.name.clone(), (b.flush == FlushSpec::Async).then_some(ASYNC_LOSS_WINDOW_MS)))
        .collect();
    let mut sequential_producers = BTreeSet::new();
    let mut index = 0u32;
    for spec in &scenario.producers {
        for _ in 0..spec.count {
            if spec.send_mode == SendMode::Sync {
                sequential_producers.insert(index);
            }
            index += 1;
        }
    }
    CheckConfig {
        groups,
        power_loss_window_ms,
        sequential_producers,
        liveness_window_ms: secs_to_ms(scenario.liveness_window_s),
        liveness_settle_ms: secs_to_ms(scenario.liveness_settle_s),
    }
}

fn secs_to_ms(seconds: f64) -> u64 {
    (seconds * 1000.0).round() as u64
}

/// Fixed addresses: 10.0.<role>.<index + 10>.
fn node_ip(role: u8, index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, role, 10 + index as u8))
}

/// The supervisor: builds the cluster, drives the phases, and records them.
async fn supervise(scenario: Scenario, seed: u64, options: RunOptions, recorder: Recorder) {
    let clock = Clock::start();
    recorder.record(0, Op::RunStarted { epoch_ms: clock.epoch_ms() });
    let (producers_stop, producers_stop_rx) = watch::channel(false);
    let (consumers_stop, consumers_stop_rx) = watch::channel(false);
    let cluster = Arc::new(Cluster::build(
        &scenario,
        seed,
        &options,
        recorder.clone(),
        clock,
        producers_stop_rx,
        consumers_stop_rx,
    ));
    cluster.start_servers();
    // Let brokers register before the topic is created through a NameServer's cluster view.
    tokio::time::sleep(Duration::from_secs(2)).await;
    create_topic(&scenario, &cluster).await;
    cluster.start_consumers();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_producers();

    let mut nemesis = nemesis::Nemesis::new(&scenario, seed, cluster.clone());
    nemesis.run(Duration::from_secs_f64(scenario.duration_s)).await;
    nemesis.heal_all().await;
    let healed_ms = clock.now_ms();
    recorder.record(healed_ms, Op::FaultsHealed);

    tokio::time::sleep(Duration::from_secs_f64(scenario.tail_s)).await;
    producers_stop.send_replace(true);
    cluster.wait_producers().await;
    recorder.record(clock.now_ms(), Op::ProducersStopped);

    let deadline_ms = healed_ms + secs_to_ms(scenario.liveness_window_s);
    let config = check_config(&scenario);
    while clock.now_ms() < deadline_ms && !recorder.read(|history| drained(history, &config)) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    consumers_stop.send_replace(true);
    cluster.wait_consumers().await;
    recorder.record(clock.now_ms(), Op::RunEnded);
}

/// Creates the scenario's topic on every broker (retrying while brokers start), then waits
/// until every NameServer routes it to every broker.
///
/// A broker answers the topic update before its registration carrying the topic reaches the
/// NameServers (RocketMQ's broker does the same), and a client keeps the route it fetched at
/// start for a whole route refresh interval (30 s). Clients started on the update's answer
/// alone could route to only the brokers registered so far: consumers of one group then
/// allocate from different queue sets (one member seeing 16 queues, another 8) and overlap
/// or leave queues unowned until their next refresh. The scenario means to start its clients
/// once the topic exists, so the run waits for the routes (at most `ROUTE_WAIT_POLLS` polls).
async fn create_topic(scenario: &Scenario, cluster: &Cluster) {
    let handle = madsim::runtime::Handle::current();
    let node = handle.create_node().name("admin").ip(node_ip(9, 0)).build();
    let namesrvs = cluster.namesrv_addrs();
    let brokers: Vec<SocketAddr> = cluster.broker_addrs();
    let mut config = TopicConfig::new(&scenario.cluster.topic, scenario.cluster.queues as i32);
    config.write_queue_nums = scenario.cluster.queues as i32;
    let names: Vec<String> = scenario.cluster.brokers.iter().map(|b| b.name.clone()).collect();
    let task = node.spawn(async move {
        let admin = AdminClient::new(namesrvs.clone(), Duration::from_secs(3));
        for addr in brokers {
            for _ in 0..30 {
                if admin.update_topic(&TopicTarget::Broker(addr), &config).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        admin.shutdown().await;
        for namesrv in namesrvs {
            let admin = AdminClient::new(vec![namesrv], Duration::from_secs(3));
            for _ in 0..ROUTE_WAIT_POLLS {
                let route = admin.topic_route(&config.topic_name).await;
                if route.is_ok_and(|route| routes_everywhere(&route, &names, &config)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            admin.shutdown().await;
        }
    });
    // The admin node's task ends on its own; a panic inside it is the simulation's panic.
    let _ = task.await;
}

/// Most polls of one NameServer's route while waiting for the topic (100 ms apart).
const ROUTE_WAIT_POLLS: u32 = 100;

/// Whether `route` has every broker in `names`, with its master's address and `config`'s
/// queue counts.
fn routes_everywhere(route: &TopicRouteData, names: &[String], config: &TopicConfig) -> bool {
    names.iter().all(|name| {
        let queues = route.queue_datas.iter().any(|q| {
            &q.broker_name == name
                && q.read_queue_nums == config.read_queue_nums
                && q.write_queue_nums == config.write_queue_nums
        });
        let master = route.broker_datas.iter().any(|b| &b.broker_name == name && b.master_addr().is_some());
        queues && master
    })
}

/// Whether every acknowledged message has been consumed successfully by every group (every
/// member, for broadcasting). The acknowledged ids are numbered densely (per producer, by
/// sequence number) and each member's successes kept as a bitset over those numbers: this
/// reads the whole history, once per second of the drain.
fn drained(history: &History, config: &CheckConfig) -> bool {
    // Per producer: one past the highest acknowledged sequence number.
    let mut seq_ends: Vec<u64> = Vec::new();
    for event in &history.events {
        if let Op::SendOk { id, .. } = &event.op {
            let producer = id.producer as usize;
            if producer >= seq_ends.len() {
                seq_ends.resize(producer + 1, 0);
            }
            seq_ends[producer] = seq_ends[producer].max(id.seq.saturating_add(1));
        }
    }
    // Dense numbers: producer p's sequence numbers start at `starts[p]`.
    let mut starts = Vec::with_capacity(seq_ends.len() + 1);
    let mut total = 0u64;
    for end in &seq_ends {
        starts.push(total);
        total = total.saturating_add(*end);
    }
    let number = |id: &MsgId| -> Option<usize> {
        let producer = id.producer as usize;
        (id.seq < *seq_ends.get(producer)?).then(|| usize::try_from(starts[producer] + id.seq).ok())?
    };
    let words = usize::try_from(total.div_ceil(64)).unwrap_or(usize::MAX);
    let mut acked = vec![0u64; words];
    let mut consumed: Vec<((&str, &str), Vec<u64>)> = Vec::new();
    for event in &history.events {
        match &event.op {
            Op::SendOk { id, .. } => set_bit(&mut acked, number(id)),
            Op::Consumed { consumer, group, id: Some(id), result: Processing::Success, .. } => {
                let key = (group.as_str(), consumer.as_str());
                let at = match consumed.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        consumed.push((key, vec![0u64; words]));
                        consumed.len() - 1
                    }
                };
                set_bit(&mut consumed[at].1, number(id));
            }
            _ => {}
        }
    }
    let none = vec![0u64; words];
    let has = |group: &str, member: &str| -> &[u64] {
        consumed.iter().find(|((g, m), _)| *g == group && *m == member).map_or(&none, |(_, bits)| bits)
    };
    config.groups.iter().all(|(group, (model, members))| {
        let sets: Vec<&[u64]> = members.iter().map(|m| has(group, m)).collect();
        acked.iter().enumerate().all(|(word, acked)| {
            let covered = match model {
                // Each acknowledged message by some member.
                GroupModel::Clustering => sets.iter().fold(0u64, |any, set| any | set[word]),
                // Each by every member.
                GroupModel::Broadcasting => sets.iter().fold(u64::MAX, |all, set| all & set[word]),
            };
            acked & !covered == 0
        })
    })
}

/// Sets bit `at` of `bits` (nothing for `None`).
fn set_bit(bits: &mut [u64], at: Option<usize>) {
    if let Some(at) = at {
        bits[at / 64] |= 1 << (at % 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::QueueRef;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The definition `drained` implements, over sets.
    fn drained_by_sets(history: &History, config: &CheckConfig) -> bool {
        let mut acked = BTreeSet::new();
        let mut consumed: BTreeMap<(String, String), BTreeSet<MsgId>> = BTreeMap::new();
        for event in &history.events {
            match &event.op {
                Op::SendOk { id, .. } => {
                    acked.insert(*id);
                }
                Op::Consumed { consumer, group, id: Some(id), result: Processing::Success, .. } => {
                    consumed.entry((group.clone(), consumer.clone())).or_default().insert(*id);
                }
                _ => {}
            }
        }
        config.groups.iter().all(|(group, (model, members))| {
            let set = |m: &String| consumed.get(&(group.clone(), m.clone()));
            match model {
                GroupModel::Clustering => {
                    acked.iter().all(|id| members.iter().any(|m| set(m).is_some_and(|s| s.contains(id))))
                }
                GroupModel::Broadcasting => {
                    members.iter().all(|m| set(m).map_or(acked.is_empty(), |s| acked.is_subset(s)))
                }
            }
        })
    }

    fn queue() -> QueueRef {
        QueueRef { topic: "t".into(), broker: "b".into(), queue_id: 0 }
    }

    fn sent(id: MsgId) -> Op {
        Op::SendOk {
            id,
            queue: queue(),
            offset: 0,
            status: crate::history::AckStatus::SendOk,
            latency_us: 0,
            store_host: None,
            commit_log_offset: None,
        }
    }

    fn consumed(consumer: &str, group: &str, id: MsgId, result: Processing) -> Op {
        Op::Consumed {
            consumer: consumer.into(),
            group: group.into(),
            id: Some(id),
            queue: queue(),
            offset: 0,
            store_timestamp: 0,
            reconsume_times: 0,
            received_ms: 0,
            result,
        }
    }

    /// Random small histories over two groups (one of each model, two members each): the
    /// sorted-vector walk agrees with the set definition, and both outcomes occur.
    #[test]
    fn drained_agrees_with_the_set_definition() {
        let mut groups = BTreeMap::new();
        groups.insert("c".to_string(), (GroupModel::Clustering, vec!["c0".to_string(), "c1".to_string()]));
        groups.insert("b".to_string(), (GroupModel::Broadcasting, vec!["b0".to_string(), "b1".to_string()]));
        let config = CheckConfig {
            groups,
            power_loss_window_ms: BTreeMap::new(),
            sequential_producers: BTreeSet::new(),
            liveness_window_ms: 0,
            liveness_settle_ms: 0,
        };
        let mut outcomes = BTreeSet::new();
        for seed in 0..400u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut history = History::default();
            for at_ms in 0..rng.gen_range(0..12u64) {
                let id = MsgId { producer: rng.gen_range(0..2), seq: rng.gen_range(0..3) };
                let result = if rng.gen_bool(0.8) { Processing::Success } else { Processing::Later };
                let op = match rng.gen_range(0..5) {
                    0 => sent(id),
                    1 => consumed("c0", "c", id, result),
                    2 => consumed("c1", "c", id, result),
                    3 => consumed("b0", "b", id, result),
                    _ => consumed("b1", "b", id, result),
                };
                history.push(at_ms, op);
            }
            let expected = drained_by_sets(&history, &config);
            assert_eq!(drained(&history, &config), expected, "seed {seed}: {history:?}");
            outcomes.insert(expected);
        }
        assert_eq!(outcomes.len(), 2, "both drained and not drained histories were drawn");
    }
}
