//! `Channel`: the handle to one connection that callers use to send requests (`invoke`,
//! `invoke_oneway`) and late responses over it, and the state it shares with the connection's
//! driver (`connection.rs`).
//!
//! A request is registered in the connection's `PendingTable` (which assigns its opaque) before
//! it is queued, so its response cannot arrive unannounced; whatever ends the wait (response,
//! error, timeout, or the caller's future dropped) removes the registration again.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use petrel_core::remoting::{encode_frame_prefix, Body, EncodeError, RemotingCommand, FLAG_ONEWAY};
use tokio::sync::{mpsc, watch, Semaphore};

use super::config::ConnectionConfig;
use super::error::{CloseReason, TransportError};
use super::pending::{PendingTable, RegisterError};

/// Longest wait a call honours; a longer timeout is cut to this. (madsim's timer panics when a
/// deadline overflows its clock, so `Duration::MAX` must never reach it.)
pub const CALL_TIMEOUT_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Runs `future` for at most `timeout` (cut to `CALL_TIMEOUT_MAX`); `None` when time ran out.
pub(super) async fn within<F: Future>(timeout: Duration, future: F) -> Option<F::Output> {
    // Boxed once here: a call's state machine is a few hundred bytes, and the timer's wrappers
    // would otherwise move it by value at every layer.
    tokio::time::timeout(timeout.min(CALL_TIMEOUT_MAX), Box::pin(future)).await.ok()
}

/// Identifies a connection within one server or one client (numbered from 1 in the order the
/// connections were opened, so logs and handlers can tell connections apart deterministically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A frame ready for the writer.
#[derive(Debug)]
pub(super) struct OutboundFrame {
    /// Length fields and header: `encode_frame_prefix`, which counts every body part.
    pub(super) prefix: Bytes,
    /// The command's body, whose parts the writer hands to the socket after the prefix as they
    /// are: never copied into a frame buffer.
    pub(super) body: Option<Body>,
}

impl OutboundFrame {
    /// Encodes `command`'s prefix and takes its body.
    pub(super) fn encode(command: RemotingCommand) -> Result<Self, EncodeError> {
        let prefix = encode_frame_prefix(&command)?.freeze();
        Ok(OutboundFrame { prefix, body: command.body })
    }

    /// The frame's bytes in wire order: the prefix, then every body part.
    pub(super) fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.prefix).chain(self.body.iter().flat_map(Body::parts))
    }
}

/// The state of one connection that its `Channel`s and its driver share.
pub(super) struct Shared {
    /// This connection's id, for handlers and logs.
    pub(super) id: ConnectionId,
    /// The peer's address, for errors and handlers.
    pub(super) peer: SocketAddr,
    /// Requests this side sent and waits for; bounded by `outbound_in_flight_max`.
    pending: Mutex<PendingTable>,
    /// The writer's queue; bounded by `write_queue_frames_max`.
    pub(super) outbound: mpsc::Sender<OutboundFrame>,
    /// Set to `true` to make the driver close the connection (and by the driver when it ends),
    /// so `is_closed` answers without a lock.
    closing: watch::Sender<bool>,
    /// One permit per request from the peer being handled; `inbound_in_flight_max` in all.
    pub(super) inbound_permits: Arc<Semaphore>,
    /// The bound behind `inbound_permits`, for the busy answer's remark.
    pub(super) inbound_in_flight_max: usize,
    /// The bound behind `pending`, for `TransportError::Busy`.
    outbound_in_flight_max: usize,
}

/// The receiving ends of a new connection's queues, for its driver.
pub(super) struct DriverEnds {
    /// The writer's end of `Shared::outbound`.
    pub(super) outbound: mpsc::Receiver<OutboundFrame>,
    /// Changes to `true` when the connection is asked to close.
    pub(super) closing: watch::Receiver<bool>,
}

impl Shared {
    /// The state of a new connection, and the ends its driver reads.
    pub(super) fn new(id: ConnectionId, peer: SocketAddr, config: &ConnectionConfig) -> (Arc<Shared>, DriverEnds) {
        let (outbound_tx, outbound_rx) = mpsc::channel(config.write_queue_frames_max);
        let (closing_tx, closing_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            id,
            peer,
            pending: Mutex::new(PendingTable::new(config.outbound_in_flight_max)),
            outbound: outbound_tx,
            closing: closing_tx,
            inbound_permits: Arc::new(Semaphore::new(config.inbound_in_flight_max)),
            inbound_in_flight_max: config.inbound_in_flight_max,
            outbound_in_flight_max: config.outbound_in_flight_max,
        });
        let ends = DriverEnds { outbound: outbound_rx, closing: closing_rx };
        (shared, ends)
    }

    pub(super) fn pending(&self) -> MutexGuard<'_, PendingTable> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close_reason(&self) -> CloseReason {
        self.pending().close_reason().cloned().unwrap_or(CloseReason::ClosedLocally)
    }

    fn closed_error(&self) -> TransportError {
        TransportError::ConnectionClosed { addr: self.peer, reason: self.close_reason() }
    }

    /// Queues a frame for the writer, waiting for room.
    async fn enqueue(&self, frame: OutboundFrame) -> Result<(), TransportError> {
        match self.outbound.send(frame).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.closed_error()),
        }
    }

    /// Records that the connection has ended: fails every waiting request with `reason`.
    pub(super) fn finish(&self, reason: CloseReason) {
        self.pending().close(reason);
        self.closing.send_replace(true);
    }
}

/// A cheap, clonable handle to one connection: sends requests to the peer and answers to it.
/// The server hands one to every handler (`RequestContext::channel`), which is how a broker
/// sends CHECK_TRANSACTION_STATE or NOTIFY_CONSUMER_IDS_CHANGED to a client.
#[derive(Clone)]
pub struct Channel {
    /// The connection's shared state; the driver holds it too.
    shared: Arc<Shared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Removes a registration from the pending table when its caller stops waiting for any reason
/// (response received, error, timeout, or the caller's future dropped).
struct ForgetOnDrop<'a> {
    /// The connection whose table holds the registration.
    shared: &'a Shared,
    /// The registration's opaque.
    opaque: i32,
    /// The registration's ticket (guards against a reused opaque).
    ticket: u64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.shared.pending().forget(self.opaque, self.ticket);
    }
}

impl Channel {
    /// A handle to the connection with this state.
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Channel { shared }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.shared.id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.shared.peer
    }

    /// True once the connection is closed or closing; calls then fail with `ConnectionClosed`.
    pub fn is_closed(&self) -> bool {
        *self.shared.closing.borrow()
    }

    /// Returns once the connection is closed or closing (at once if it already is): lets a
    /// handler that waits, such as a held pull, give up when its requester is gone.
    pub async fn closed(&self) {
        let mut closing = self.shared.closing.subscribe();
        let _ = closing.wait_for(|closed| *closed).await;
    }

    /// Requests sent on this connection that still wait for their response.
    pub fn requests_in_flight(&self) -> usize {
        self.shared.pending().len()
    }

    /// Closes the connection: waiting requests fail with `CloseReason::ClosedLocally`.
    pub fn close(&self) {
        self.shared.closing.send_replace(true);
    }

    /// Sends `request` and waits at most `timeout` for its response. The channel assigns the
    /// opaque; the request's one-way bit is cleared.
    pub async fn invoke(&self, request: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, TransportError> {
        let mut sent_opaque = None;
        let result = within(timeout, self.invoke_untimed(request, &mut sent_opaque)).await;
        result.unwrap_or(Err(TransportError::Timeout { addr: self.peer(), opaque: sent_opaque, after: timeout }))
    }

    /// `invoke` without its timeout; records the opaque in `sent_opaque` once the request is
    /// queued, so a caller's timeout can name it.
    pub(crate) async fn invoke_untimed(
        &self,
        mut request: RemotingCommand,
        sent_opaque: &mut Option<i32>,
    ) -> Result<RemotingCommand, TransportError> {
        check_request(&request)?;
        request.flag &= !FLAG_ONEWAY;
        let registration = self.shared.pending().register().map_err(|error| match error {
            RegisterError::Closed(reason) => TransportError::ConnectionClosed { addr: self.peer(), reason },
            RegisterError::Full => {
                TransportError::Busy { addr: self.peer(), in_flight_max: self.shared.outbound_in_flight_max }
            }
        })?;
        let _forget = ForgetOnDrop { shared: &self.shared, opaque: registration.opaque, ticket: registration.ticket };
        request.opaque = registration.opaque;
        let frame = self.encode(request)?;
        self.shared.enqueue(frame).await?;
        *sent_opaque = Some(registration.opaque);
        match registration.reply.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(reason)) => Err(TransportError::ConnectionClosed { addr: self.peer(), reason }),
            // The table was dropped without closing: the connection is gone all the same.
            Err(_) => Err(self.shared.closed_error()),
        }
    }

    /// Sends `request` as a one-way request (the peer sends no response), waiting at most
    /// `timeout` for room in the write queue. Returns once the request is queued.
    pub async fn invoke_oneway(&self, request: RemotingCommand, timeout: Duration) -> Result<(), TransportError> {
        let result = within(timeout, self.invoke_oneway_untimed(request)).await;
        result.unwrap_or(Err(TransportError::Timeout { addr: self.peer(), opaque: None, after: timeout }))
    }

    /// `invoke_oneway` without its timeout.
    pub(crate) async fn invoke_oneway_untimed(&self, mut request: RemotingCommand) -> Result<(), TransportError> {
        check_request(&request)?;
        request.mark_oneway();
        request.opaque = self
            .shared
            .pending()
            .oneway_opaque()
            .map_err(|reason| TransportError::ConnectionClosed { addr: self.peer(), reason })?;
        let frame = self.encode(request)?;
        self.shared.enqueue(frame).await
    }

    /// Sends `response` (marked as a response here) to the peer, waiting for room in the write
    /// queue. For answering later than the handler returns (the handler returned `None`): the
    /// caller sets the opaque, e.g. with `RemotingCommand::response_to`.
    pub async fn send_response(&self, mut response: RemotingCommand) -> Result<(), TransportError> {
        response.mark_response();
        let frame = self.encode(response)?;
        self.shared.enqueue(frame).await
    }

    fn encode(&self, command: RemotingCommand) -> Result<OutboundFrame, TransportError> {
        OutboundFrame::encode(command).map_err(|source| TransportError::Encode { addr: self.peer(), source })
    }
}

/// A command handed to `invoke` must be a request.
fn check_request(request: &RemotingCommand) -> Result<(), TransportError> {
    if request.is_response() {
        return Err(TransportError::NotARequest { code: request.code });
    }
    Ok(())
}
