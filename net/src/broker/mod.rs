//! `BrokerNode`: the async shell that serves `petrel_core::broker`'s logic and the message
//! store over the remoting transport.
//!
//! The pure logic decides every answer; this shell owns what it cannot: the listening
//! `RemotingServer`, the `StoreService`, the clock reads, the connections it notifies or closes,
//! the held pulls, and its periodic tasks (each stops at shutdown):
//! - registration with every NameServer at start, every `register_interval` (RocketMQ's
//!   `registerNameServerPeriod`, 30 s) and at once after a topic change;
//! - consumer offsets persisted every `offset_persist_interval` (5 s) when they changed;
//! - the client expiry scan every `client_scan_interval` (10 s), which closes the connections
//!   of silent clients and notifies the groups they left.
//!
//! Files: `handler.rs` (request handling and the state it shares), `long_poll.rs` (held pulls),
//! `registration.rs` (NameServer calls). Requests run each in their own task (the transport's
//! rule), so a held pull never blocks the other requests of its connection; a connection may
//! hold up to its inbound in-flight bound (256 by default) of requests at once.
//!
//! Only a master is served: replication (slaves) is not implemented yet.

mod handler;
pub mod long_poll;
pub mod registration;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use petrel_core::broker::config::{BrokerConfig, BrokerConfigError};
use petrel_core::broker::consumer::{ConsumerManager, CLIENT_SCAN_INTERVAL_MS};
use petrel_core::broker::offset::{OffsetTable, OFFSET_PERSIST_INTERVAL_MS};
use petrel_core::broker::send::QueuePicker;
use petrel_core::broker::topic_config::TopicConfigManager;
use petrel_core::broker::topic_persist::TopicPersister;
use petrel_core::clock;
use petrel_core::store::config::StoreConfig;
use petrel_core::store::disk::DiskRef;
use petrel_core::store::service::StoreService;
use petrel_core::store::{MessageStore, StoreError};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use self::handler::{net_connection, BrokerCore, BrokerHandler, BrokerState, SERVED_CODES};
use self::long_poll::{PullHolds, PULL_HOLDS_MAX_DEFAULT};
use self::registration::{call_all, register_request, unregister_request, REGISTER_TIMEOUT, UNREGISTER_TIMEOUT};
use crate::remoting::{
    ClientConfig, Dispatcher, RemotingClient, RemotingServer, RequestHandler, ServerConfig, TransportError,
};

/// Everything a `BrokerNode` is started with.
#[derive(Debug, Clone)]
pub struct BrokerNodeConfig {
    /// The broker's settings. A `broker_addr` with port 0 is completed from the bound port
    /// (and an unspecified IP from `listen`'s, else 127.0.0.1); `store_host` follows it.
    /// `send_queue_capacity` is the send queue bound: sends in progress beyond it are
    /// answered SYSTEM_BUSY at once.
    pub broker: BrokerConfig,
    /// The store's settings (file sizes, flush mode).
    pub store: StoreConfig,
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The NameServers to register with; empty runs the broker unregistered.
    pub namesrv_addrs: Vec<SocketAddr>,
    /// Bounds of the remoting server.
    pub server: ServerConfig,
    /// Most pulls held (long polling) at once; one more is answered at once.
    pub pull_holds_max: usize,
    /// How often to register with every NameServer.
    pub register_interval: Duration,
    /// How often dirty consumer offsets are persisted.
    pub offset_persist_interval: Duration,
    /// How often silent clients are looked for.
    pub client_scan_interval: Duration,
}

impl BrokerNodeConfig {
    /// RocketMQ's defaults for a master listening on `listen`, registering with `namesrv_addrs`.
    pub fn new(listen: SocketAddr, namesrv_addrs: Vec<SocketAddr>) -> Self {
        let broker = BrokerConfig { broker_addr: listen, store_host: listen, ..BrokerConfig::default() };
        let register_ms = broker.register_name_server_period_ms.unsigned_abs();
        BrokerNodeConfig {
            broker,
            store: StoreConfig::default(),
            listen,
            namesrv_addrs,
            server: ServerConfig::default(),
            pull_holds_max: PULL_HOLDS_MAX_DEFAULT,
            register_interval: Duration::from_millis(register_ms),
            offset_persist_interval: Duration::from_millis(OFFSET_PERSIST_INTERVAL_MS.unsigned_abs()),
            client_scan_interval: Duration::from_millis(CLIENT_SCAN_INTERVAL_MS.unsigned_abs()),
        }
    }

    /// Checks the settings; bounds of zero are refused here rather than asserted later.
    pub fn validate(&self) -> Result<(), BrokerStartError> {
        self.broker.validate()?;
        if self.broker.is_slave() {
            return Err(BrokerStartError::SlaveNotSupported);
        }
        let zero = [
            ("send_queue_capacity", self.broker.send_queue_capacity == 0),
            ("pull_holds_max", self.pull_holds_max == 0),
            ("register_interval", self.register_interval.is_zero()),
            ("offset_persist_interval", self.offset_persist_interval.is_zero()),
            ("client_scan_interval", self.client_scan_interval.is_zero()),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((name, _)) => Err(BrokerStartError::ZeroBound { name }),
            None => Ok(()),
        }
    }
}

/// Why a broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerStartError {
    /// A setting is invalid.
    #[error("invalid broker configuration: {0}")]
    Config(#[from] BrokerConfigError),
    /// A slave was asked for.
    #[error("broker_id > 0 (a slave) is not supported: replication is not implemented yet")]
    SlaveNotSupported,
    /// A bound or interval is zero.
    #[error("invalid broker configuration: {name} must be > 0")]
    ZeroBound {
        /// The setting.
        name: &'static str,
    },
    /// The store, topic table or consumer offsets could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The address cannot be listened on.
    #[error("{0}")]
    Bind(#[from] TransportError),
}

/// A running broker.
#[derive(Debug)]
pub struct BrokerNode {
    /// Accepts connections and serves them.
    server: RemotingServer,
    /// What the handler and the tasks share.
    core: Arc<BrokerCore>,
    /// Calls the NameServers.
    client: RemotingClient,
    /// The NameServers registered with.
    namesrv_addrs: Vec<SocketAddr>,
    /// Set to `true` to stop the tasks and answer held pulls.
    stop: watch::Sender<bool>,
    /// The periodic tasks, awaited at shutdown.
    tasks: Vec<JoinHandle<()>>,
}

impl BrokerNode {
    /// Opens the store (recovering it), the topic table and the consumer offsets from `disk`,
    /// listens on `config.listen`, and starts the periodic tasks (the first registration runs
    /// at once).
    pub async fn start(config: BrokerNodeConfig, disk: DiskRef) -> Result<BrokerNode, BrokerStartError> {
        config.validate()?;
        config.server.assert_valid();
        let (store, report) = MessageStore::open(disk.clone(), config.store.clone())?;
        info!(?report, "store recovered");
        let now_ms = clock::epoch_ms();
        let loaded = TopicConfigManager::load(&config.broker, disk.as_ref(), now_ms)
            .and_then(|topics| Ok((topics, OffsetTable::load(&disk)?)));
        let (topics, offsets) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                close_unserved(store);
                return Err(error.into());
            }
        };
        let handler = Arc::new(BrokerHandler::default());
        let routed: Arc<dyn RequestHandler> = handler.clone();
        let dispatcher = SERVED_CODES.iter().fold(Dispatcher::new(), |d, code| d.route(*code, routed.clone()));
        let server = match RemotingServer::bind(config.listen, Arc::new(dispatcher), config.server.clone()).await {
            Ok(server) => server,
            Err(error) => {
                close_unserved(store);
                return Err(error.into());
            }
        };
        let mut broker = config.broker.clone();
        broker.broker_addr = advertised_addr(broker.broker_addr, server.local_addr());
        broker.store_host = broker.broker_addr;
        let (stop, stop_rx) = watch::channel(false);
        let core = Arc::new(BrokerCore {
            sends: Arc::new(Semaphore::new(broker.send_queue_capacity)),
            config: broker,
            store: StoreService::start(store),
            topic_persister: TopicPersister::new(disk.clone()),
            disk,
            state: Mutex::new(BrokerState {
                topics,
                picker: QueuePicker::new(),
                consumers: ConsumerManager::new(),
                offsets,
                channels: BTreeMap::new(),
            }),
            holds: PullHolds::new(config.pull_holds_max),
            register_wake: Notify::new(),
            stop: stop_rx,
            boot_ms: now_ms,
        });
        handler.core.set(core.clone()).expect("the core is set once");
        let client = RemotingClient::new(ClientConfig::default(), None);
        let tasks = spawn_tasks(&core, &client, &config);
        info!(local_addr = %server.local_addr(), broker_addr = %core.config.broker_addr, "broker started");
        Ok(BrokerNode { server, core, client, namesrv_addrs: config.namesrv_addrs, stop, tasks })
    }

    /// The address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The address the broker registers with the NameServers.
    pub fn broker_addr(&self) -> SocketAddr {
        self.core.config.broker_addr
    }

    /// Pulls held now (long polling).
    pub fn held_pulls(&self) -> usize {
        self.core.holds.len()
    }

    /// Why the store refuses writes, if it does: after a failed write or sync it takes none
    /// until the broker restarts and recovers from the disk (reads go on meanwhile).
    pub fn store_failed(&self) -> Option<String> {
        self.core.store.with_store(|store| store.failed().map(str::to_owned))
    }

    /// Stops the tasks and answers held pulls, unregisters from the NameServers (best effort,
    /// `UNREGISTER_TIMEOUT` each; after the tasks stop, so no periodic registration can undo
    /// it), closes the server and its connections, persists the consumer offsets and the topic
    /// table, then shuts the store down (flush and clean checkpoint). The server closes before
    /// the last persists so that no request changes them afterwards.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.stop.send_replace(true);
        for task in self.tasks {
            // A panicked task has stopped as well.
            let _ = task.await;
        }
        let request = unregister_request(&self.core.config);
        call_all(&self.client, &self.namesrv_addrs, &request, UNREGISTER_TIMEOUT).await;
        let local_addr = self.server.local_addr();
        self.server.shutdown().await;
        self.client.close_all().await;
        let persisted = persist_offsets(&self.core).and(persist_topics(&self.core));
        let store = self.core.store.clone();
        drop(self.core);
        let closed = store.shutdown().await;
        info!(%local_addr, "broker shut down");
        persisted.and(closed)
    }
}

/// Closes a store that never got served (start failed after opening it).
fn close_unserved(store: MessageStore) {
    if let Err(error) = store.shutdown() {
        warn!(%error, "store not closed cleanly after a failed start");
    }
}

/// The address to register: `configured`, with the bound port when its port is 0 and the
/// bound IP (else 127.0.0.1) when its IP is unspecified.
fn advertised_addr(configured: SocketAddr, bound: SocketAddr) -> SocketAddr {
    let port = if configured.port() == 0 { bound.port() } else { configured.port() };
    let ip = match (configured.ip().is_unspecified(), bound.ip().is_unspecified()) {
        (false, _) => configured.ip(),
        (true, false) => bound.ip(),
        (true, true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    SocketAddr::new(ip, port)
}

fn spawn_tasks(core: &Arc<BrokerCore>, client: &RemotingClient, config: &BrokerNodeConfig) -> Vec<JoinHandle<()>> {
    let register = register_loop(core.clone(), client.clone(), config.namesrv_addrs.clone(), config.register_interval);
    vec![
        tokio::spawn(register),
        tokio::spawn(offset_loop(core.clone(), config.offset_persist_interval)),
        tokio::spawn(scan_loop(core.clone(), config.client_scan_interval)),
    ]
}

/// A periodic task's rhythm: a tick every interval (after a stall, one tick and the rhythm
/// resumes rather than a burst), until the node stops.
struct Ticks {
    /// The interval timer; its first tick is immediate.
    ticks: tokio::time::Interval,
    /// The node's stop signal.
    stop: watch::Receiver<bool>,
}

impl Ticks {
    fn new(interval: Duration, stop: watch::Receiver<bool>) -> Ticks {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks { ticks, stop }
    }

    /// Waits for the next tick, or for `wake` when given; false once the node is stopping.
    async fn next(&mut self, wake: Option<&Notify>) -> bool {
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.stop.wait_for(|stop| *stop) => false,
            () = woken => true,
            _ = self.ticks.tick() => true,
        }
    }
}

/// Registers with every NameServer now, then every `interval` and after each topic change.
async fn register_loop(core: Arc<BrokerCore>, client: RemotingClient, addrs: Vec<SocketAddr>, interval: Duration) {
    let mut ticks = Ticks::new(interval, core.stop.clone());
    let mut stop = core.stop.clone();
    while ticks.next(Some(&core.register_wake)).await {
        let request = {
            let mut state = core.lock();
            // This registration carries every change so far.
            state.topics.take_register_needed();
            register_request(&core.config, state.topics.register_wrapper())
        };
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            _ = call_all(&client, &addrs, &request, REGISTER_TIMEOUT) => {}
        }
    }
}

/// Persists dirty consumer offsets every `interval`.
async fn offset_loop(core: Arc<BrokerCore>, interval: Duration) {
    let mut ticks = Ticks::new(interval, core.stop.clone());
    while ticks.next(None).await {
        if let Err(error) = persist_offsets(&core) {
            warn!(%error, "consumer offsets not persisted; retrying at the next tick");
        }
    }
}

/// Writes the consumer offsets if they changed, outside the broker's lock.
fn persist_offsets(core: &BrokerCore) -> Result<(), StoreError> {
    let Some(snapshot) = core.lock().offsets.take_snapshot() else {
        return Ok(());
    };
    let written = snapshot.persist(&core.disk);
    if written.is_err() {
        core.lock().offsets.mark_dirty();
    }
    written
}

/// Writes the topic table if it has changes not yet durable, outside the broker's lock.
fn persist_topics(core: &BrokerCore) -> Result<(), StoreError> {
    let snapshot = core.lock().topics.snapshot_to_persist();
    core.persist_topics(snapshot)
}

/// Removes silent clients every `interval`, closing their connections.
async fn scan_loop(core: Arc<BrokerCore>, interval: Duration) {
    let mut ticks = Ticks::new(interval, core.stop.clone());
    while ticks.next(None).await {
        let (expired, channels) = {
            let mut state = core.lock();
            let expired = state.consumers.scan_expired(clock::epoch_ms());
            let channels: Vec<_> = expired
                .connections
                .iter()
                .filter_map(|conn| state.channels.get(&net_connection(*conn)).cloned())
                .collect();
            (expired, channels)
        };
        for channel in channels {
            info!(id = %channel.id(), peer = %channel.peer(), "closing an expired client's connection");
            channel.close();
        }
        core.notify(expired.changes);
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod persist_tests;
