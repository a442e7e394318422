//! The cluster's nodes: each role's start-up as a madsim node's init task (rerun on every
//! restart), its simulated disk, and the workload the clients run.
//!
//! Clients wait for the supervisor's go signal before they start, so that servers and the topic
//! exist first; a restarted client finds the signal already given. Producers keep their
//! sequence counters outside the node (the application's durable state), so a restarted
//! producer never reuses a message id.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use petrel_core::client::send::SendStatus;
use petrel_core::client::MessageQueue;
use petrel_core::clock;
use petrel_core::message::id::parse_offset_msg_id;
use petrel_core::message::{Message, MessageExt};
use petrel_core::protocol::heartbeat::MessageModel;
use petrel_core::store::config::StoreConfig;
use petrel_core::store::FlushMode;
use petrel_net::broker::{BrokerNode, BrokerNodeConfig};
use petrel_net::client::{
    ConsumeFrom, ConsumeResult, ConsumerConfig, ConsumerObserver, MessageListener, OffsetFileConfig, Producer,
    ProducerConfig, ProducerError, PushConsumer,
};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{watch, Semaphore};

use super::{node_ip, RunOptions, BROKER_PORT, NAMESRV_PORT};
use crate::checkers::GroupModel;
use crate::disk::SimDisk;
use crate::history::{AckStatus, MsgId, Op, Processing, QueueRef, Recorder, Role};
use crate::scenario::{ConsumerSpec, FlushSpec, ProducerSpec, Scenario, SendMode};

/// Simulated time since the run began.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    /// The wall clock at `start`, milliseconds since the Unix epoch (simulated, from the seed).
    epoch_ms: i64,
}

impl Clock {
    /// Starts counting now.
    pub fn start() -> Clock {
        Clock { start: clock::monotonic(), epoch_ms: clock::epoch_ms() }
    }

    /// The wall clock at the start, milliseconds since the Unix epoch: the time base of the
    /// brokers' store timestamps.
    pub fn epoch_ms(&self) -> i64 {
        self.epoch_ms
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(clock::monotonic().duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    /// Microseconds since `since`.
    fn micros_since(since: tokio::time::Instant) -> u64 {
        u64::try_from(clock::monotonic().duration_since(since).as_micros()).unwrap_or(u64::MAX)
    }
}

/// One simulated machine.
pub struct SimNode {
    /// Its name (unique in the scenario).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// madsim's handle.
    pub handle: NodeHandle,
    /// Its disk, when the role keeps files (brokers, consumers).
    pub disk: Option<SimDisk>,
    /// What the simulation sees of a broker's current run (brokers only).
    pub broker: Option<BrokerProbe>,
}

impl SimNode {
    /// madsim's id of the node.
    pub fn id(&self) -> NodeId {
        self.handle.id()
    }
}

/// Where a broker node's current run is.
#[derive(Debug, Default)]
enum BrokerRun {
    /// Its process is starting (or waits for the go signal).
    #[default]
    Starting,
    /// The broker runs; the node owns it, so the reference dies with the process.
    Running(Weak<BrokerNode>),
    /// The broker did not start: its process is up, serving nothing.
    StartFailed(String),
}

/// A broker node's run as the nemesis sees it: whether it started, and whether its store has
/// stopped taking writes. Shared by the node's init task (which updates it on every start)
/// and the nemesis.
#[derive(Debug, Clone, Default)]
pub struct BrokerProbe {
    run: Arc<Mutex<BrokerRun>>,
}

impl BrokerProbe {
    fn set(&self, run: BrokerRun) {
        *self.run.lock().unwrap_or_else(PoisonError::into_inner) = run;
    }

    /// Why the broker cannot take writes until it restarts: its start failed, or its store
    /// stopped after a failed write or sync (see `BrokerNode::store_failed`). `None` while it
    /// starts or runs with a working store, and when its process is gone.
    pub fn restart_reason(&self) -> Option<String> {
        match &*self.run.lock().unwrap_or_else(PoisonError::into_inner) {
            BrokerRun::Starting => None,
            BrokerRun::Running(node) => node.upgrade()?.store_failed().map(|reason| format!("store failed: {reason}")),
            BrokerRun::StartFailed(error) => Some(format!("start failed: {error}")),
        }
    }
}

/// Every node of the run, in the scenario's node order.
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<SimNode>,
    namesrv_addrs: Vec<SocketAddr>,
    broker_addrs: Vec<SocketAddr>,
    servers_go: watch::Sender<bool>,
    consumers_go: watch::Sender<bool>,
    producers_go: watch::Sender<bool>,
    /// Clients that finished after the stop signal.
    finished: Arc<Mutex<BTreeSet<String>>>,
    recorder: Recorder,
    clock: Clock,
    producer_count: usize,
    consumer_count: usize,
}

/// What every node's init task shares.
#[derive(Clone)]
struct Shared {
    recorder: Recorder,
    clock: Clock,
    finished: Arc<Mutex<BTreeSet<String>>>,
    topic: String,
    /// The topic's queues on all brokers together.
    topic_queues: usize,
    namesrv_addrs: Vec<SocketAddr>,
    seed: u64,
    planted: Option<petrel_core::planted::PlantedBug>,
}

impl Shared {
    fn record(&self, op: Op) {
        self.recorder.record(self.clock.now_ms(), op);
    }

    fn finish(&self, name: &str) {
        self.finished.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
    }
}

impl Cluster {
    /// Creates every node (their init tasks wait for the go signals).
    pub fn build(
        scenario: &Scenario,
        seed: u64,
        options: &RunOptions,
        recorder: Recorder,
        clock: Clock,
        producers_stop: watch::Receiver<bool>,
        consumers_stop: watch::Receiver<bool>,
    ) -> Cluster {
        let namesrv_addrs: Vec<SocketAddr> =
            (0..scenario.cluster.namesrvs as usize).map(|i| SocketAddr::new(node_ip(1, i), NAMESRV_PORT)).collect();
        let broker_addrs: Vec<SocketAddr> =
            (0..scenario.cluster.brokers.len()).map(|i| SocketAddr::new(node_ip(2, i), BROKER_PORT)).collect();
        let shared = Shared {
            recorder,
            clock,
            finished: Arc::new(Mutex::new(BTreeSet::new())),
            topic: scenario.cluster.topic.clone(),
            topic_queues: scenario.cluster.brokers.len().saturating_mul(scenario.cluster.queues as usize),
            namesrv_addrs: namesrv_addrs.clone(),
            seed,
            planted: options.planted,
        };
        let (servers_go, servers_rx) = watch::channel(false);
        let (consumers_go, consumers_rx) = watch::channel(false);
        let (producers_go, producers_rx) = watch::channel(false);
        let handle = Handle::current();
        let mut nodes = Vec::new();
        for (i, addr) in namesrv_addrs.iter().enumerate() {
            let name = format!("namesrv-{i}");
            nodes.push(namesrv_node(&handle, &shared, name, *addr, servers_rx.clone()));
        }
        for (i, spec) in scenario.cluster.brokers.iter().enumerate() {
            let disk = SimDisk::with_seed(seed ^ (0xB10C_0000 + i as u64));
            let store = StoreConfig {
                flush_mode: match spec.flush {
                    FlushSpec::Async => FlushMode::Async(Default::default()),
                    FlushSpec::Sync => FlushMode::Sync,
                },
                commit_log_file_size_bytes: 4 << 20,
                consume_queue_units_per_file: 50_000,
                index_slots_per_file: 8_192,
                index_entries_per_file: 32_768,
                planted: options.planted,
                ..StoreConfig::default()
            };
            let mut config = BrokerNodeConfig::new(broker_addrs[i], namesrv_addrs.clone());
            config.broker.broker_name = spec.name.clone();
            config.store = store;
            nodes.push(broker_node(&handle, &shared, spec.name.clone(), config, disk, servers_rx.clone()));
        }
        let mut index = 0usize;
        for spec in &scenario.producers {
            for _ in 0..spec.count {
                let name = format!("producer-{index}");
                let ip = node_ip(3, index);
                let stop = producers_stop.clone();
                nodes.push(producer_node(&handle, &shared, name, ip, index as u32, spec, producers_rx.clone(), stop));
                index += 1;
            }
        }
        let producer_count = index;
        let consumer_names = scenario.consumer_names();
        for (n, (g, name)) in consumer_names.iter().enumerate() {
            let spec = &scenario.consumers[*g];
            let disk = SimDisk::with_seed(seed ^ (0xC0_0000 + n as u64));
            let ip = node_ip(4, n);
            let args = ConsumerArgs { name: name.clone(), ip, spec: spec.clone(), disk, index: n as u64 };
            nodes.push(consumer_node(&handle, &shared, args, consumers_rx.clone(), consumers_stop.clone()));
        }
        Cluster {
            nodes,
            namesrv_addrs,
            broker_addrs,
            servers_go,
            consumers_go,
            producers_go,
            finished: shared.finished,
            recorder: shared.recorder,
            clock: shared.clock,
            producer_count,
            consumer_count: consumer_names.len(),
        }
    }

    /// NameServer addresses.
    pub fn namesrv_addrs(&self) -> Vec<SocketAddr> {
        self.namesrv_addrs.clone()
    }

    /// Broker addresses.
    pub fn broker_addrs(&self) -> Vec<SocketAddr> {
        self.broker_addrs.clone()
    }

    /// Lets the servers start.
    pub fn start_servers(&self) {
        self.servers_go.send_replace(true);
    }

    /// Lets the consumers start.
    pub fn start_consumers(&self) {
        self.consumers_go.send_replace(true);
    }

    /// Lets the producers start.
    pub fn start_producers(&self) {
        self.producers_go.send_replace(true);
    }

    /// Records `op` now.
    pub fn record(&self, op: Op) {
        self.recorder.record(self.clock.now_ms(), op);
    }

    /// Waits until every producer finished its loop (at most 60 s).
    pub async fn wait_producers(&self) {
        self.wait_finished(Role::Producer, self.producer_count).await;
    }

    /// Waits until every consumer shut down (at most 60 s).
    pub async fn wait_consumers(&self) {
        self.wait_finished(Role::Consumer, self.consumer_count).await;
    }

    async fn wait_finished(&self, role: Role, count: usize) {
        let names: BTreeSet<&str> = self.nodes.iter().filter(|n| n.role == role).map(|n| n.name.as_str()).collect();
        for _ in 0..600 {
            let done = {
                let finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                names.iter().filter(|n| finished.contains(**n)).count()
            };
            if done >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Boxed init future of a node.
type Init = Pin<Box<dyn Future<Output = ()>>>;

fn build_node(handle: &Handle, name: &str, ip: IpAddr, init: impl Fn() -> Init + Send + Sync + 'static) -> NodeHandle {
    handle.create_node().name(name).ip(ip).init(init).build()
}

fn namesrv_node(
    handle: &Handle,
    shared: &Shared,
    name: String,
    addr: SocketAddr,
    go: watch::Receiver<bool>,
) -> SimNode {
    let (shared_c, name_c) = (shared.clone(), name.clone());
    let init = move || -> Init {
        let (shared, name, mut go) = (shared_c.clone(), name_c.clone(), go.clone());
        Box::pin(async move {
            let _ = go.wait_for(|go| *go).await;
            match NamesrvNode::start(addr, NamesrvConfig::default()).await {
                Ok(node) => {
                    shared.record(Op::NodeStarted { node: name, role: Role::Namesrv });
                    std::future::pending::<()>().await;
                    drop(node);
                }
                Err(error) => {
                    shared.record(Op::NodeStartFailed { node: name, role: Role::Namesrv, error: error.to_string() });
                    std::future::pending::<()>().await;
                }
            }
        })
    };
    let handle = build_node(handle, &name, addr.ip(), init);
    SimNode { name, role: Role::Namesrv, handle, disk: None, broker: None }
}

fn broker_node(
    handle: &Handle,
    shared: &Shared,
    name: String,
    config: BrokerNodeConfig,
    disk: SimDisk,
    go: watch::Receiver<bool>,
) -> SimNode {
    let ip = config.listen.ip();
    let probe = BrokerProbe::default();
    let (shared_c, name_c, disk_c, probe_c) = (shared.clone(), name.clone(), disk.clone(), probe.clone());
    let init = move || -> Init {
        let (shared, name, mut go) = (shared_c.clone(), name_c.clone(), go.clone());
        let (config, disk, probe) = (config.clone(), disk_c.clone(), probe_c.clone());
        probe.set(BrokerRun::Starting);
        Box::pin(async move {
            let _ = go.wait_for(|go| *go).await;
            match BrokerNode::start(config, Arc::new(disk)).await {
                Ok(node) => {
                    let node = Arc::new(node);
                    probe.set(BrokerRun::Running(Arc::downgrade(&node)));
                    shared.record(Op::NodeStarted { node: name, role: Role::Broker });
                    std::future::pending::<()>().await;
                    drop(node);
                }
                Err(error) => {
                    let error = error.to_string();
                    probe.set(BrokerRun::StartFailed(error.clone()));
                    shared.record(Op::NodeStartFailed { node: name, role: Role::Broker, error });
                    std::future::pending::<()>().await;
                }
            }
        })
    };
    let handle = build_node(handle, &name, ip, init);
    SimNode { name, role: Role::Broker, handle, disk: Some(disk), broker: Some(probe) }
}

#[allow(clippy::too_many_arguments)]
fn producer_node(
    handle: &Handle,
    shared: &Shared,
    name: String,
    ip: IpAddr,
    index: u32,
    spec: &ProducerSpec,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> SimNode {
    let next_seq = Arc::new(AtomicU64::new(0));
    let starts = Arc::new(AtomicU64::new(0));
    let (shared_c, name_c, spec) = (shared.clone(), name.clone(), spec.clone());
    let init = move || -> Init {
        let (shared, name, spec) = (shared_c.clone(), name_c.clone(), spec.clone());
        let (mut go, stop, next_seq) = (go.clone(), stop.clone(), next_seq.clone());
        let start = starts.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let _ = go.wait_for(|go| *go).await;
            let mut config = ProducerConfig::new("sim-producers", shared.namesrv_addrs.clone());
            config.retry_times = spec.retries;
            config.client_ip = ip;
            config.instance_name = name.clone();
            config.pid = index;
            let producer = Arc::new(Producer::start(config));
            shared.record(Op::NodeStarted { node: name.clone(), role: Role::Producer });
            let seed = shared.seed ^ (u64::from(index) << 32) ^ start;
            let run = ProducerRun { shared: shared.clone(), producer: producer.clone(), spec, index, next_seq };
            run.send_loop(StdRng::seed_from_u64(seed), stop).await;
            drop(run);
            if let Ok(producer) = Arc::try_unwrap(producer) {
                producer.shutdown().await;
            }
            shared.finish(&name);
            std::future::pending::<()>().await;
        })
    };
    let handle = build_node(handle, &name, ip, init);
    SimNode { name, role: Role::Producer, handle, disk: None, broker: None }
}

/// One producer's workload.
struct ProducerRun {
    shared: Shared,
    producer: Arc<Producer>,
    spec: ProducerSpec,
    index: u32,
    next_seq: Arc<AtomicU64>,
}

impl ProducerRun {
    /// Sends at the spec's rate until `stop`, then waits for async sends in flight.
    async fn send_loop(&self, mut rng: StdRng, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / self.spec.rate));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(Semaphore::new(self.spec.in_flight_max as usize));
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                _ = ticks.tick() => {}
            }
            let id = MsgId { producer: self.index, seq: self.next_seq.fetch_add(1, Ordering::Relaxed) };
            let key = self.spec.keys.then(|| format!("k{}", rng.gen_range(0..self.spec.key_space)));
            let message = self.message(id, key.clone());
            match self.spec.send_mode {
                SendMode::Sync => {
                    self.shared.record(Op::SendInvoke { id, key });
                    let started = clock::monotonic();
                    let result = self.producer.send(message).await;
                    record_send(&self.shared, id, result, started, self.spec.retries);
                }
                SendMode::Async => {
                    let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                    self.shared.record(Op::SendInvoke { id, key });
                    let started = clock::monotonic();
                    let future = self.producer.send_async(message);
                    let (shared, retries) = (self.shared.clone(), self.spec.retries);
                    tokio::spawn(async move {
                        let result = future.await;
                        record_send(&shared, id, result, started, retries);
                        drop(permit);
                    });
                }
                SendMode::Oneway => {
                    self.shared.record(Op::SendInvoke { id, key });
                    let error = match self.producer.send_oneway(message).await {
                        Ok(()) => "one-way send: no acknowledgement".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    self.shared.record(Op::SendUnknown { id, error });
                }
            }
        }
        // Wait for the async sends in flight.
        let _ = in_flight.acquire_many(self.spec.in_flight_max).await;
    }

    fn message(&self, id: MsgId, key: Option<String>) -> Message {
        let mut body = id.body_prefix().into_bytes();
        body.resize(self.spec.message_size.max(body.len()), b'.');
        let message = Message::new(self.shared.topic.clone(), Bytes::from(body));
        match key {
            Some(key) => message.with_keys([key]),
            None => message,
        }
    }
}

/// Records a send's outcome: acknowledged, certainly failed, or unknown.
fn record_send(
    shared: &Shared,
    id: MsgId,
    result: Result<petrel_core::client::send::SendResult, ProducerError>,
    started: tokio::time::Instant,
    retries: u32,
) {
    let op = match result {
        Ok(result) => {
            let stored = parse_offset_msg_id(&result.offset_msg_id).ok();
            Op::SendOk {
                id,
                queue: QueueRef {
                    topic: result.message_queue.topic,
                    broker: result.message_queue.broker_name,
                    queue_id: result.message_queue.queue_id,
                },
                offset: result.queue_offset,
                status: match result.status {
                    SendStatus::SendOk => AckStatus::SendOk,
                    SendStatus::FlushDiskTimeout => AckStatus::FlushDiskTimeout,
                    SendStatus::FlushSlaveTimeout | SendStatus::SlaveNotAvailable => AckStatus::Other,
                },
                latency_us: Clock::micros_since(started),
                store_host: stored.map(|(host, _)| host_text(host)),
                commit_log_offset: stored.map(|(_, offset)| offset),
            }
        }
        Err(error) if certainly_not_stored(&error, retries) => Op::SendFailed { id, error: error.to_string() },
        Err(error) => Op::SendUnknown { id, error: error.to_string() },
    };
    shared.record(op);
}

/// `host` as `SocketAddr`'s `Display` writes it, without its padding machinery for IPv4 (this
/// runs once per acknowledged send).
fn host_text(host: SocketAddr) -> String {
    match host {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            format!("{a}.{b}.{c}.{d}:{}", v4.port())
        }
        SocketAddr::V6(_) => host.to_string(),
    }
}

/// Whether a failed send certainly stored nothing: refused before any request left, or (with
/// no retries, so one attempt) refused by the broker. After retries an earlier attempt may have
/// timed out after the broker stored it, so any other failure is unknown.
fn certainly_not_stored(error: &ProducerError, retries: u32) -> bool {
    match error {
        ProducerError::NoRoute { .. }
        | ProducerError::InvalidMessage(_)
        | ProducerError::TopicMismatch { .. }
        | ProducerError::NoQueueSelected => true,
        ProducerError::Broker { .. } => retries == 0,
        _ => false,
    }
}

/// What a consumer node is started with.
struct ConsumerArgs {
    name: String,
    ip: IpAddr,
    spec: ConsumerSpec,
    disk: SimDisk,
    index: u64,
}

/// The offsets file of a broadcasting consumer on its disk.
const OFFSET_FILE: &str = "consumer-offsets.json";

fn consumer_node(
    handle: &Handle,
    shared: &Shared,
    args: ConsumerArgs,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> SimNode {
    let starts = Arc::new(AtomicU64::new(0));
    let name = args.name.clone();
    let ip = args.ip;
    let disk = args.disk.clone();
    let (shared_c, args) = (shared.clone(), Arc::new(args));
    let init = move || -> Init {
        let (shared, args, mut go, mut stop) = (shared_c.clone(), args.clone(), go.clone(), stop.clone());
        let start = starts.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let _ = go.wait_for(|go| *go).await;
            let config = consumer_config(&shared, &args);
            let rng = StdRng::seed_from_u64(shared.seed ^ (args.index << 40) ^ start ^ 0xC0);
            let listener = Arc::new(SimListener {
                shared: shared.clone(),
                name: args.name.clone(),
                group: args.spec.group.clone(),
                spec: args.spec.clone(),
                rng: Mutex::new(rng),
            });
            let consumer = PushConsumer::start(config, listener).await;
            shared.record(Op::NodeStarted { node: args.name.clone(), role: Role::Consumer });
            let _ = stop.wait_for(|stop| *stop).await;
            consumer.shutdown().await;
            shared.record(Op::NodeStopped { node: args.name.clone(), role: Role::Consumer });
            shared.finish(&args.name);
            std::future::pending::<()>().await;
        })
    };
    let handle = build_node(handle, &name, ip, init);
    SimNode { name, role: Role::Consumer, handle, disk: Some(disk), broker: None }
}

fn consumer_config(shared: &Shared, args: &ConsumerArgs) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(args.spec.group.clone(), shared.namesrv_addrs.clone(), &args.name)
        .subscribe(&shared.topic, "*");
    config.client_id = format!("{}@{}", args.ip, args.name);
    config.consume_from = ConsumeFrom::FirstOffset;
    config.consume_concurrency = listener_calls_max(&config, shared.topic_queues);
    config.planted = shared.planted;
    if args.spec.model == GroupModel::Broadcasting {
        config.message_model = MessageModel::Broadcasting;
        config.offset_file = Some(OffsetFileConfig { disk: Arc::new(args.disk.clone()), path: OFFSET_FILE.to_owned() });
    }
    config.observer = Some(Arc::new(HistoryObserver {
        shared: shared.clone(),
        consumer: args.name.clone(),
        group: args.spec.group.clone(),
    }));
    config
}

/// A listener-call bound no consumer of the run can reach, so a consume task never waits for
/// a slot and the listener is called at the instant the pull that brought its messages was
/// answered (what `Op::Consumed::received_ms` records, and the `key-order` checker relies on).
/// A message in flight is at most one consume task: per queue, pulling pauses at
/// `queue_in_flight_count_max` messages, so a queue has fewer than that plus one pull batch in
/// flight; twice that per queue covers the tasks of an assignment that is ending while the
/// next one starts. (RocketMQ's `consumeThreadMax` bounds threads that block; the simulated
/// listener only sleeps, so the bound models nothing here but a scheduling delay.)
fn listener_calls_max(config: &ConsumerConfig, topic_queues: usize) -> usize {
    let pull_batch = usize::try_from(config.pull_batch_size).unwrap_or(0);
    let per_queue = config.queue_in_flight_count_max.saturating_add(pull_batch);
    let bound = topic_queues.saturating_mul(per_queue).saturating_mul(2);
    // The consumer's shutdown drains the slots with one `u32` acquisition.
    bound.clamp(config.consume_concurrency, u32::MAX as usize)
}

fn queue_ref(queue: &MessageQueue) -> QueueRef {
    QueueRef { topic: queue.topic.clone(), broker: queue.broker_name.clone(), queue_id: queue.queue_id }
}

/// Moves `queue` out, leaving empty names behind.
fn take_queue(queue: &mut QueueRef) -> QueueRef {
    QueueRef {
        topic: std::mem::take(&mut queue.topic),
        broker: std::mem::take(&mut queue.broker),
        queue_id: queue.queue_id,
    }
}

/// Records a consumer's offset commits and rebalances.
struct HistoryObserver {
    shared: Shared,
    consumer: String,
    group: String,
}

impl ConsumerObserver for HistoryObserver {
    fn committed(&self, queue: &MessageQueue, offset: i64) {
        let (consumer, group, queue) = (self.consumer.clone(), self.group.clone(), queue_ref(queue));
        self.shared.record(Op::OffsetCommitted { consumer, group, queue, offset });
    }

    fn rebalanced(&self, _topic: &str, queues: &[MessageQueue]) {
        let queues = queues.iter().map(queue_ref).collect();
        self.shared.record(Op::Rebalanced { consumer: self.consumer.clone(), group: self.group.clone(), queues });
    }
}

/// The simulated application: takes `processing_ms`, fails with `failure_rate`, records each
/// message it was given with its answer.
struct SimListener {
    shared: Shared,
    name: String,
    group: String,
    spec: ConsumerSpec,
    rng: Mutex<StdRng>,
}

impl MessageListener for SimListener {
    fn consume(
        &self,
        msgs: Arc<[MessageExt]>,
        queue: &MessageQueue,
    ) -> Pin<Box<dyn Future<Output = ConsumeResult> + Send>> {
        let (delay_ms, later) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            let [min, max] = self.spec.processing_ms;
            (rng.gen_range(min..=max), rng.gen_bool(self.spec.failure_rate))
        };
        let result = if later { Processing::Later } else { Processing::Success };
        // Read when the consumer calls, before the processing time passes.
        let received_ms = self.shared.clock.now_ms();
        // Only what recording needs is captured; the last message's event takes the names
        // instead of copies (a pull of one message, the usual case, copies each name once).
        let (recorder, clock) = (self.shared.recorder.clone(), self.shared.clock);
        let (mut consumer, mut group, mut queue) = (self.name.clone(), self.group.clone(), queue_ref(queue));
        Box::pin(async move {
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            let now_ms = clock.now_ms();
            let last = msgs.len().saturating_sub(1);
            for (i, msg) in msgs.iter().enumerate() {
                let (consumer, group, queue) = if i == last {
                    (std::mem::take(&mut consumer), std::mem::take(&mut group), take_queue(&mut queue))
                } else {
                    (consumer.clone(), group.clone(), queue.clone())
                };
                let op = Op::Consumed {
                    consumer,
                    group,
                    id: MsgId::parse_body(&msg.body),
                    queue,
                    offset: msg.queue_offset,
                    store_timestamp: msg.store_timestamp,
                    reconsume_times: msg.reconsume_times,
                    received_ms,
                    result,
                };
                recorder.record(now_ms, op);
            }
            match result {
                Processing::Success => ConsumeResult::Success,
                Processing::Later => ConsumeResult::Later,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_text_is_the_display_of_the_address() {
        for text in ["10.0.1.2:10911", "0.0.0.0:0", "255.255.255.255:65535", "[2001:db8::1]:10911"] {
            let addr: SocketAddr = text.parse().expect("a valid address");
            assert_eq!(host_text(addr), addr.to_string());
        }
    }
}
