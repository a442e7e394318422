//! `RemotingClient`: calls to peers by address over one reused connection per address.
//!
//! The connection to an address is opened by the first call to it and reused by every later
//! call, concurrent ones included (requests are matched to responses by opaque). When it breaks
//! (the peer closed it, a read or write failed, it sent a bad frame), the requests waiting on it
//! fail at once with `ConnectionClosed` and the next call opens a new one. Requests the peer
//! sends over the connection go to the client's handler.
//!
//! A call's `timeout` covers everything: connecting (itself bounded by
//! `ClientConfig::connect_timeout`), waiting for room in the write queue and for the response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use petrel_core::remoting::RemotingCommand;
use tokio::net::TcpStream;
use tracing::debug;

use super::channel::{within, Channel, ConnectionId};
use super::config::ClientConfig;
use super::connection;
use super::dispatcher::Dispatcher;
use super::error::TransportError;
use super::RequestHandler;

/// Holds the connection to one address; locked while connecting, so concurrent first calls to an
/// address share one connection.
type Slot = Arc<tokio::sync::Mutex<Option<Channel>>>;

/// A remoting client. Clones share the connections; the last one dropped closes them.
#[derive(Debug, Clone)]
pub struct RemotingClient {
    /// The shared state.
    inner: Arc<ClientInner>,
}

/// The state clones of a client share.
struct ClientInner {
    /// Bounds and timeouts.
    config: ClientConfig,
    /// Answers requests that peers send over the client's connections.
    handler: Arc<dyn RequestHandler>,
    /// One slot per peer address; at most `config.connections_max`.
    slots: Mutex<BTreeMap<SocketAddr, Slot>>,
    /// Connections opened so far: the source of connection ids.
    connections_opened: AtomicU64,
}

impl std::fmt::Debug for ClientInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInner").field("config", &self.config).field("addresses", &self.slots().len()).finish()
    }
}

impl ClientInner {
    fn slots(&self) -> MutexGuard<'_, BTreeMap<SocketAddr, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        for slot in self.slots().values() {
            // Nothing else can hold a slot's lock once the last client handle is gone.
            if let Ok(current) = slot.try_lock() {
                if let Some(channel) = current.as_ref() {
                    channel.close();
                }
            }
        }
    }
}

impl RemotingClient {
    /// A client with no connections yet. `handler` answers requests that servers send to it
    /// (CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED, ...); without one, every such
    /// request is answered REQUEST_CODE_NOT_SUPPORTED.
    ///
    /// # Panics
    /// If a bound in `config` is zero.
    pub fn new(config: ClientConfig, handler: Option<Arc<dyn RequestHandler>>) -> Self {
        config.assert_valid();
        let handler = handler.unwrap_or_else(|| Arc::new(Dispatcher::new()));
        RemotingClient {
            inner: Arc::new(ClientInner {
                config,
                handler,
                slots: Mutex::new(BTreeMap::new()),
                connections_opened: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `request` to `addr` and waits at most `timeout` for the response.
    pub async fn invoke(
        &self,
        addr: SocketAddr,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, TransportError> {
        self.stamp(&mut request);
        let mut sent_opaque = None;
        let call = async {
            let channel = self.channel(addr).await?;
            channel.invoke_untimed(request, &mut sent_opaque).await
        };
        let result = within(timeout, call).await;
        result.unwrap_or(Err(TransportError::Timeout { addr, opaque: sent_opaque, after: timeout }))
    }

    /// Sends `request` to `addr` as a one-way request. Returns once it is queued for writing,
    /// failing if that takes longer than `timeout` (connecting included).
    pub async fn invoke_oneway(
        &self,
        addr: SocketAddr,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        self.stamp(&mut request);
        let call = async {
            let channel = self.channel(addr).await?;
            channel.invoke_oneway_untimed(request).await
        };
        let result = within(timeout, call).await;
        result.unwrap_or(Err(TransportError::Timeout { addr, opaque: None, after: timeout }))
    }

    /// Sets the request's header format to the configured one, if one is configured.
    fn stamp(&self, request: &mut RemotingCommand) {
        if let Some(format) = self.inner.config.request_header {
            request.serialize_type = format;
        }
    }

    /// The open connection to `addr`, opened now if there is none or the last one broke.
    pub async fn channel(&self, addr: SocketAddr) -> Result<Channel, TransportError> {
        let slot = self.slot(addr)?;
        let mut current = slot.lock().await;
        if let Some(channel) = current.as_ref().filter(|channel| !channel.is_closed()) {
            return Ok(channel.clone());
        }
        let channel = self.connect(addr).await?;
        *current = Some(channel.clone());
        Ok(channel)
    }

    /// Closes every connection; requests waiting on them fail with `ConnectionClosed`. The
    /// client stays usable: the next call reconnects.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self.inner.slots().values().cloned().collect();
        for slot in slots {
            if let Some(channel) = slot.lock().await.take() {
                channel.close();
            }
        }
    }

    /// The slot of `addr`, made if needed. At the bound, slots without a live connection that
    /// nobody is using are dropped first.
    fn slot(&self, addr: SocketAddr) -> Result<Slot, TransportError> {
        let connections_max = self.inner.config.connections_max;
        let mut slots = self.inner.slots();
        if let Some(slot) = slots.get(&addr) {
            return Ok(slot.clone());
        }
        if slots.len() >= connections_max {
            // `strong_count == 1`: no call holds the slot, and none can get it without this lock.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .map_or(true, |current| current.as_ref().is_some_and(|channel| !channel.is_closed()))
            });
        }
        if slots.len() >= connections_max {
            return Err(TransportError::TooManyConnections { connections_max });
        }
        let slot = Slot::default();
        slots.insert(addr, slot.clone());
        Ok(slot)
    }

    /// Opens a connection to `addr` and starts its task.
    async fn connect(&self, addr: SocketAddr) -> Result<Channel, TransportError> {
        let after = self.inner.config.connect_timeout;
        let stream = match within(after, TcpStream::connect(addr)).await {
            Some(Ok(stream)) => stream,
            Some(Err(source)) => return Err(TransportError::Connect { addr, source }),
            None => return Err(TransportError::ConnectTimeout { addr, after }),
        };
        let id = ConnectionId(self.inner.connections_opened.fetch_add(1, Ordering::Relaxed) + 1);
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%id, %addr, %error, "TCP_NODELAY not set");
        }
        let (channel, driver) =
            connection::open(stream, id, addr, self.inner.handler.clone(), &self.inner.config.connection);
        tokio::spawn(driver);
        debug!(%id, %addr, "connected");
        Ok(channel)
    }
}
