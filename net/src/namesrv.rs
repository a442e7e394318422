//! `NamesrvNode`: the async shell around `petrel_core::namesrv::NameServer`.
//!
//! The pure `NameServer` holds the route tables and decides everything; this shell owns what it
//! cannot: the listening `RemotingServer`, the clock reads (`clock::epoch_ms`), the scan task
//! that expires silent brokers every `scan_interval`, and the connections it must close. Every
//! request is handled under one `std::sync::Mutex` that is never held across an `.await`, so
//! requests, connection closes and scans apply one at a time, in the order they take the lock.
//!
//! A connection is remembered (its `Channel`, by id) from its first request until it closes, so
//! that a scan can close the connections of the brokers it expired, as RocketMQ's
//! `RemotingUtil.closeChannel` does. Nothing is global: several nodes run side by side in one
//! process (or one simulation) without touching each other.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use petrel_core::clock;
use petrel_core::namesrv::{self, NameServer, SCAN_INTERVAL_MS};
use petrel_core::remoting::RemotingCommand;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::remoting::{
    Channel, ConnectionId, HandlerFuture, RemotingServer, RequestContext, RequestHandler, ServerConfig, TransportError,
};

/// Configuration of a `NamesrvNode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// Bounds of the remoting server: connections served at once, frame size, in-flight requests.
    pub server: ServerConfig,
    /// How often silent brokers are looked for and removed. RocketMQ's (and the default) is
    /// `SCAN_INTERVAL_MS`; a broker is removed between `BROKER_EXPIRE_MS` and that plus this
    /// after its last registration.
    pub scan_interval: Duration,
}

impl NamesrvConfig {
    /// Asserts that every bound is usable (a zero interval would spin the scan task).
    pub fn assert_valid(&self) {
        self.server.assert_valid();
        assert!(!self.scan_interval.is_zero(), "scan_interval must be > 0");
    }
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            server: ServerConfig::default(),
            scan_interval: Duration::from_millis(SCAN_INTERVAL_MS.unsigned_abs()),
        }
    }
}

/// A running name server: its listener, its connections and its expiry scan.
#[derive(Debug)]
pub struct NamesrvNode {
    /// Accepts connections and hands their requests to `NamesrvHandler`.
    server: RemotingServer,
    /// The state the handler and the scan task share.
    state: Arc<NamesrvState>,
    /// Set to `true` (or dropped, with the node) to stop the scan task.
    stop_scan: watch::Sender<bool>,
    /// The scan task; awaited at shutdown.
    scan_task: Option<JoinHandle<()>>,
}

impl NamesrvNode {
    /// Listens on `listen` (port 0 picks a free port; see `local_addr`), serves the name server
    /// protocol and starts the expiry scan.
    ///
    /// # Errors
    /// `TransportError::Bind` when the address cannot be listened on (in use, not local).
    ///
    /// # Panics
    /// If a bound in `config` is zero.
    pub async fn start(listen: SocketAddr, config: NamesrvConfig) -> Result<NamesrvNode, TransportError> {
        config.assert_valid();
        let state = Arc::new(NamesrvState::default());
        let handler = Arc::new(NamesrvHandler { state: state.clone() });
        let server = RemotingServer::bind(listen, handler, config.server).await?;
        let (stop_scan, stop_rx) = watch::channel(false);
        let scan_task = tokio::spawn(scan_loop(state.clone(), config.scan_interval, stop_rx));
        info!(local_addr = %server.local_addr(), "name server started");
        Ok(NamesrvNode { server, state, stop_scan, scan_task: Some(scan_task) })
    }

    /// The address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A copy of the name server's current state (route tables and broker liveness), for
    /// inspection by tests and tools.
    pub fn name_server(&self) -> NameServer {
        self.state.lock().name_server.clone()
    }

    /// Connections that have sent at least one request and are still open.
    pub fn connection_count(&self) -> usize {
        self.state.lock().channels.len()
    }

    /// Stops the scan, stops accepting, closes every connection, and returns when all of them
    /// (and the scan task) have ended.
    pub async fn shutdown(mut self) {
        self.stop_scan.send_replace(true);
        if let Some(task) = self.scan_task.take() {
            // A panicked scan task has stopped scanning as well.
            let _ = task.await;
        }
        let local_addr = self.server.local_addr();
        self.server.shutdown().await;
        info!(%local_addr, "name server shut down");
    }
}

/// What the handler and the scan task share, under one lock.
#[derive(Debug, Default)]
struct NamesrvState {
    /// The locked part; never held across an `.await`.
    inner: Mutex<NamesrvInner>,
}

/// The name server and the connections it may have to close.
#[derive(Debug, Default)]
struct NamesrvInner {
    /// Route tables and broker liveness: the logic being served.
    name_server: NameServer,
    /// Open connections that have sent a request, by id: a scan closes the ones its expired
    /// brokers registered over. Entries leave when their connection closes, so the map holds at
    /// most the server's `connections_max` entries.
    channels: BTreeMap<ConnectionId, Channel>,
}

impl NamesrvState {
    fn lock(&self) -> MutexGuard<'_, NamesrvInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles one request that arrived over `channel`; returns its response. The clock is read
    /// under the lock, so the times the name server sees never go back from one call to the
    /// next (as long as the wall clock does not).
    fn process(&self, channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        let id = channel.id();
        let mut inner = self.lock();
        inner.channels.entry(id).or_insert_with(|| channel.clone());
        let now_ms = clock::epoch_ms();
        let response = inner.name_server.process(now_ms, core_connection(id), request);
        // A connection that closed while this request waited for the lock has already been
        // forgotten (`connection_closed` ran first: the transport marks a connection closed
        // before it reports the close), or will be once this lock is released. In the first
        // case, forget it again: this request re-entered it and may have registered over it.
        if channel.is_closed() {
            inner.forget_connection(id);
        }
        response
    }

    /// The connection `id` has closed: forgets it and removes the brokers registered over it.
    fn connection_closed(&self, id: ConnectionId) {
        self.lock().forget_connection(id);
    }

    /// Removes the brokers silent for too long now and closes their connections.
    fn scan(&self) {
        let to_close: Vec<Channel> = {
            let mut inner = self.lock();
            let expired = inner.name_server.scan_expired(clock::epoch_ms());
            expired.iter().filter_map(|broker| inner.channels.get(&net_connection(broker.conn)).cloned()).collect()
        };
        for channel in to_close {
            let (id, peer) = (channel.id(), channel.peer());
            debug!(%id, %peer, "closing an expired broker's connection");
            // Its close is reported back through `connection_closed`, which forgets it.
            channel.close();
        }
    }
}

impl NamesrvInner {
    fn forget_connection(&mut self, id: ConnectionId) {
        self.channels.remove(&id);
        let removed = self.name_server.on_connection_closed(core_connection(id));
        if !removed.is_empty() {
            info!(%id, brokers = ?removed, "connection closed, its brokers removed");
        }
    }
}

/// The transport's handler: every request goes to the name server.
struct NamesrvHandler {
    /// The node's shared state.
    state: Arc<NamesrvState>,
}

impl RequestHandler for NamesrvHandler {
    fn handle(&self, ctx: RequestContext, request: RemotingCommand) -> HandlerFuture {
        let response = self.state.process(&ctx.channel, &request);
        // The name server answers every request; the transport drops the answer to a one-way
        // one, but saying so here keeps the contract visible.
        let answer = (!request.is_oneway()).then_some(response);
        Box::pin(std::future::ready(answer))
    }

    fn on_connection_closed(&self, connection: ConnectionId, _peer: SocketAddr) {
        self.state.connection_closed(connection);
    }
}

/// Scans for expired brokers every `interval` until told to stop.
async fn scan_loop(state: Arc<NamesrvState>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(interval);
    // After a stall, scan once and resume the rhythm rather than catching up in a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            _ = ticks.tick() => {}
        }
        state.scan();
    }
}

/// Resolves once the node is told to stop (or the node handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The name server's id for a transport connection (the same number).
fn core_connection(id: ConnectionId) -> namesrv::ConnectionId {
    namesrv::ConnectionId(id.0)
}

/// The transport's id for a connection the name server names (the same number).
fn net_connection(id: namesrv::ConnectionId) -> ConnectionId {
    ConnectionId(id.0)
}
