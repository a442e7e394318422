//! The remoting transport: RocketMQ's request/response protocol (`petrel_core::remoting`) over
//! `tokio::net` TCP, which is madsim's simulated TCP under `--cfg madsim`.
//!
//! Files and their jobs:
//! - `connection.rs`: one framed connection's driver, the same at both ends: a reader that
//!   decodes frames and hands responses to their callers (by opaque) and requests to the
//!   handler, and the writer.
//! - `writer.rs`: the writer: batches of queued frames, their prefixes and body parts handed to
//!   the socket as they are by vectored writes (a pull response's records are never copied
//!   together), a flush after every batch.
//! - `channel.rs`: `Channel`, the clonable handle to a connection that sends requests
//!   (`invoke`, `invoke_oneway`) and late responses over it; `ConnectionId`.
//! - `pending.rs`: the table of requests waiting for their response, keyed by opaque, bounded.
//! - `server.rs`: `RemotingServer`: accepts connections and serves each with a handler.
//! - `client.rs`: `RemotingClient`: one reused connection per peer address, opened on first use
//!   and again after it broke; serves the requests a server sends back (CHECK_TRANSACTION_STATE,
//!   NOTIFY_CONSUMER_IDS_CHANGED) with its own handler.
//! - `dispatcher.rs`: `Dispatcher` (handler by request code; REQUEST_CODE_NOT_SUPPORTED for the
//!   rest) and `handler_fn`.
//! - `config.rs`: every bound and timeout: `ConnectionConfig`, `ServerConfig`, `ClientConfig`.
//! - `error.rs`: `TransportError`, what a caller gets instead of a response; `CloseReason`.
//!
//! Behaviour on bad input, at either end: a frame that does not decode, or whose length prefix
//! passes `frame_size_max_bytes` (16 MiB at most), closes that connection (logged with
//! `tracing`); an unknown request code is the handler's to answer (the `Dispatcher` answers
//! REQUEST_CODE_NOT_SUPPORTED); requests over the inbound bound get SYSTEM_BUSY. Nothing a peer
//! sends panics, and one connection's failure touches no other.
//!
//! Determinism: no clock reads (timeouts are `tokio::time`), no hash-ordered state, every
//! `select!` biased, connection ids and opaques from counters, and a flush after every batch of
//! writes (madsim's TCP sends on flush).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use petrel_core::remoting::RemotingCommand;

pub mod channel;
pub mod client;
pub mod config;
pub mod connection;
pub mod dispatcher;
pub mod error;
mod pending;
pub mod server;
pub mod writer;

pub use channel::{Channel, ConnectionId, CALL_TIMEOUT_MAX};
pub use client::RemotingClient;
pub use config::{ClientConfig, ConnectionConfig, ServerConfig};
pub use dispatcher::{handler_fn, not_supported, Dispatcher};
pub use error::{CloseReason, TransportError};
pub use server::RemotingServer;

/// What a handler returns: a future of its answer.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Option<RemotingCommand>> + Send + 'static>>;

/// Answers the requests that arrive on a connection. Each request runs in its own task, so a
/// slow answer does not hold up the others on the connection.
pub trait RequestHandler: Send + Sync + 'static {
    /// Answers `request`. `None` sends nothing. For a request that is not one-way, the transport
    /// sends the returned command as its response: it sets the opaque, the response flag and the
    /// serialize type from the request, so a handler may build it with
    /// `RemotingCommand::response` or `response_to`. What a handler returns for a one-way request
    /// is dropped. A handler that answers later returns `None` and calls
    /// `ctx.channel.send_response` itself.
    fn handle(&self, ctx: RequestContext, request: RemotingCommand) -> HandlerFuture;

    /// The connection ended (for any reason); its `Channel`s now fail every call. Called once per
    /// connection, from the connection's task: keep it short.
    fn on_connection_closed(&self, _connection: ConnectionId, _peer: SocketAddr) {}
}

/// Where a request came from, and the way back to it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The connection the request arrived on.
    pub connection: ConnectionId,
    /// The peer that sent it.
    pub peer: SocketAddr,
    /// A handle to that connection, for requests toward the peer (a broker's
    /// CHECK_TRANSACTION_STATE to a producer) or a late response.
    pub channel: Channel,
}
