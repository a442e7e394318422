//! `RemotingServer`: listens on an address and serves every accepted connection with one
//! handler.
//!
//! An accept loop runs in its own task; each connection runs in a task of its own and is kept in
//! a registry (bounded by `ServerConfig::connections_max`) until it ends. `shutdown` stops the
//! loop, closes the listener and every connection, and returns once all of them are gone, so the
//! address can be bound again at once (madsim releases a listener's port only when its accepted
//! connections are dropped too).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::channel::{Channel, ConnectionId};
use super::config::ServerConfig;
use super::connection;
use super::error::TransportError;
use super::RequestHandler;

/// Pause after a failed `accept` (for instance out of file descriptors) before the next one, so
/// the loop does not spin.
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// A listening remoting server. Dropping it stops accepting and closes its connections in the
/// background; `shutdown` does the same and waits for it.
#[derive(Debug)]
pub struct RemotingServer {
    /// The bound address (with the real port when bound to port 0).
    local_addr: SocketAddr,
    /// Set to `true` to stop the accept loop.
    stop: watch::Sender<bool>,
    /// The accept loop; `shutdown` awaits it. `None` once awaited.
    accept_task: Option<JoinHandle<()>>,
    /// The live connections, shared with the accept loop and the connection tasks.
    registry: Arc<Registry>,
}

/// The server's live connections.
#[derive(Debug)]
struct Registry {
    /// Each live connection by id; at most `connections_max`.
    connections: Mutex<BTreeMap<ConnectionId, ServedConnection>>,
    /// Bound of `connections` (`ServerConfig::connections_max`).
    connections_max: usize,
}

/// One live connection.
#[derive(Debug)]
struct ServedConnection {
    /// To close it on shutdown.
    channel: Channel,
    /// Its task, awaited on shutdown so the socket is gone when `shutdown` returns.
    task: JoinHandle<()>,
}

impl Registry {
    fn connections(&self) -> MutexGuard<'_, BTreeMap<ConnectionId, ServedConnection>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every connection and waits until each one's task has ended.
    async fn close_all(&self) {
        let connections = std::mem::take(&mut *self.connections());
        for served in connections.values() {
            served.channel.close();
        }
        for (_, served) in connections {
            // A task that panicked has ended too; nothing more to do for it.
            let _ = served.task.await;
        }
    }
}

impl RemotingServer {
    /// Listens on `addr` (port 0 picks a free port; see `local_addr`) and serves every
    /// connection with `handler`.
    ///
    /// # Panics
    /// If a bound in `config` is zero.
    pub async fn bind(
        addr: SocketAddr,
        handler: Arc<dyn RequestHandler>,
        config: ServerConfig,
    ) -> Result<RemotingServer, TransportError> {
        config.assert_valid();
        let bind_error = |source| TransportError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let registry =
            Arc::new(Registry { connections: Mutex::new(BTreeMap::new()), connections_max: config.connections_max });
        let (stop, stop_rx) = watch::channel(false);
        let acceptor = Acceptor { handler, config, registry: registry.clone(), connections_accepted: 0 };
        let accept_task = tokio::spawn(acceptor.run(listener, stop_rx));
        debug!(%local_addr, "remoting server listening");
        Ok(RemotingServer { local_addr, stop, accept_task: Some(accept_task), registry })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections being served now.
    pub fn connection_count(&self) -> usize {
        self.registry.connections().len()
    }

    /// Stops accepting, closes every connection (requests they wait for fail at once), and
    /// returns when the listener and every connection are closed.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.accept_task.take() {
            // A panicked accept loop has stopped accepting as well.
            let _ = task.await;
        }
        // Connections admitted just before the loop saw the stop signal.
        self.registry.close_all().await;
        debug!(local_addr = %self.local_addr, "remoting server shut down");
    }
}

impl Drop for RemotingServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// The accept loop's state.
struct Acceptor {
    /// Serves every connection.
    handler: Arc<dyn RequestHandler>,
    /// Bounds of each connection and of the registry.
    config: ServerConfig,
    /// Where admitted connections go.
    registry: Arc<Registry>,
    /// Connections accepted so far: the source of connection ids.
    connections_accepted: u64,
}

impl Acceptor {
    async fn run(mut self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::select! {
                        biased;
                        () = stopped(&mut stop) => break,
                        () = tokio::time::sleep(ACCEPT_RETRY_DELAY) => {}
                    }
                }
            }
        }
        drop(listener);
        self.registry.close_all().await;
    }

    /// Starts serving a new connection, or closes it when the registry is full.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        self.connections_accepted += 1;
        let id = ConnectionId(self.connections_accepted);
        // Held until the entry is in: the task's own removal cannot run before the insertion.
        let mut connections = self.registry.connections();
        if connections.len() >= self.registry.connections_max {
            warn!(%id, %peer, max = self.registry.connections_max, "too many connections, closing");
            return;
        }
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%id, %peer, %error, "TCP_NODELAY not set");
        }
        let (channel, driver) = connection::open(stream, id, peer, self.handler.clone(), &self.config.connection);
        let registry = self.registry.clone();
        let task = tokio::spawn(async move {
            driver.await;
            registry.connections().remove(&id);
        });
        connections.insert(id, ServedConnection { channel, task });
        debug!(%id, %peer, "connection accepted");
    }
}

/// Resolves once the server is told to stop (or the server handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
