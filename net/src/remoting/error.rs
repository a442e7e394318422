//! Errors of the remoting transport, as the caller of `invoke` sees them.
//!
//! Every failure a peer or the network can cause is a value here, never a panic: a caller tells
//! "the request may or may not have been processed" (`Timeout`, `ConnectionClosed`) from "it was
//! never sent" (`Connect`, `ConnectTimeout`, `Busy`, `TooManyConnections`, `Encode`,
//! `NotARequest`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use petrel_core::remoting::{EncodeError, FrameError};

/// Why a connection ended. Kept in the connection so that every request pending on it, and every
/// later call on its `Channel`, learns the same reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The peer closed its side (end of stream).
    #[error("closed by the peer")]
    PeerClosed,
    /// Reading from the socket failed.
    #[error("read failed: {kind:?}: {detail}")]
    ReadFailed {
        /// The I/O error's kind, for callers that branch on it.
        kind: io::ErrorKind,
        /// The I/O error's text.
        detail: String,
    },
    /// Writing or flushing to the socket failed.
    #[error("write failed: {kind:?}: {detail}")]
    WriteFailed {
        /// The I/O error's kind, for callers that branch on it.
        kind: io::ErrorKind,
        /// The I/O error's text.
        detail: String,
    },
    /// The peer sent bytes that are not a valid frame (malformed, or over the frame size limit);
    /// the position of the next frame is unknown, so the connection cannot continue.
    #[error("malformed frame from the peer: {0}")]
    MalformedFrame(FrameError),
    /// This side closed it: `Channel::close`, a server shutdown or a dropped client.
    #[error("closed locally")]
    ClosedLocally,
}

impl CloseReason {
    /// The reason for a failed read.
    pub fn read_failed(error: &io::Error) -> Self {
        CloseReason::ReadFailed { kind: error.kind(), detail: error.to_string() }
    }

    /// The reason for a failed write or flush.
    pub fn write_failed(error: &io::Error) -> Self {
        CloseReason::WriteFailed { kind: error.kind(), detail: error.to_string() }
    }
}

/// Why a remoting call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The server could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's (or simulator's) error.
        #[source]
        source: io::Error,
    },

    /// A connection to the peer could not be opened (refused, unreachable, ...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The peer's address.
        addr: SocketAddr,
        /// The operating system's (or simulator's) error.
        #[source]
        source: io::Error,
    },

    /// Opening a connection took longer than `ClientConfig::connect_timeout`.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The peer's address.
        addr: SocketAddr,
        /// The connect timeout that passed.
        after: Duration,
    },

    /// No response arrived in time. The peer may still process the request; a late response is
    /// dropped. `opaque` is `None` when the time ran out before the request was queued (while
    /// connecting or waiting for room in the write queue).
    #[error("request {opaque:?} to {addr} timed out after {after:?}")]
    Timeout {
        /// The peer's address.
        addr: SocketAddr,
        /// The request id the request was sent with, if it got that far.
        opaque: Option<i32>,
        /// The timeout that passed.
        after: Duration,
    },

    /// The connection ended before the response arrived (or was already closed). The request
    /// may or may not have reached the peer. The next call to this address reconnects.
    #[error("connection to {addr} closed: {reason}")]
    ConnectionClosed {
        /// The peer's address.
        addr: SocketAddr,
        /// Why the connection ended.
        reason: CloseReason,
    },

    /// The connection already has `in_flight_max` requests waiting for responses
    /// (`ConnectionConfig::outbound_in_flight_max`); nothing was sent.
    #[error("{in_flight_max} requests already in flight to {addr}")]
    Busy {
        /// The peer's address.
        addr: SocketAddr,
        /// The bound that was reached.
        in_flight_max: usize,
    },

    /// The client already holds `ClientConfig::connections_max` connections to other addresses.
    #[error("client already has {connections_max} connections open")]
    TooManyConnections {
        /// The bound that was reached.
        connections_max: usize,
    },

    /// The command cannot be put on the wire (too large, a field out of range); nothing was sent.
    #[error("cannot encode the command for {addr}: {source}")]
    Encode {
        /// The peer's address.
        addr: SocketAddr,
        /// The codec's reason.
        #[source]
        source: EncodeError,
    },

    /// `invoke` or `invoke_oneway` was handed a command flagged as a response.
    #[error("command with code {code} is flagged as a response, not a request")]
    NotARequest {
        /// The command's code.
        code: i32,
    },
}
