//! The transport's bounds and timeouts. Every queue and table of a connection has its limit here.

use std::time::Duration;

use petrel_core::remoting::frame::FRAME_PREFIX_BYTES;
use petrel_core::remoting::{SerializeType, FRAME_SIZE_MAX_BYTES};

const _: () = assert!(FRAME_PREFIX_BYTES < FRAME_SIZE_MAX_BYTES);

/// Limits of one connection, the same on both sides (server and client connections both carry
/// requests in each direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Requests this side has sent on the connection and still waits for: the size bound of the
    /// pending-request table. One more `invoke` fails at once with `TransportError::Busy`.
    pub outbound_in_flight_max: usize,
    /// Requests from the peer being handled at once on the connection: bounds the handler tasks
    /// one peer can start. One more request is answered `SYSTEM_BUSY` (a one-way one is dropped).
    pub inbound_in_flight_max: usize,
    /// Frames queued for the connection's writer: bounds memory when the peer reads slowly.
    /// Senders wait for room (within their timeout).
    pub write_queue_frames_max: usize,
    /// Largest frame accepted from the peer, length field included. A larger length prefix
    /// closes the connection before any of the frame is buffered. At most 16 MiB, the protocol's
    /// limit (which also bounds what this side sends).
    pub frame_size_max_bytes: usize,
}

impl ConnectionConfig {
    /// Asserts that every bound is usable. Called when a server or client is built; a zero bound
    /// is a programming error, not a runtime condition.
    pub fn assert_valid(&self) {
        assert!(self.outbound_in_flight_max > 0, "outbound_in_flight_max must be > 0");
        assert!(self.inbound_in_flight_max > 0, "inbound_in_flight_max must be > 0");
        assert!(self.write_queue_frames_max > 0, "write_queue_frames_max must be > 0");
        assert!(
            (FRAME_PREFIX_BYTES..=FRAME_SIZE_MAX_BYTES).contains(&self.frame_size_max_bytes),
            "frame_size_max_bytes must be in {FRAME_PREFIX_BYTES}..={FRAME_SIZE_MAX_BYTES}"
        );
    }
}

impl Default for ConnectionConfig {
    /// RocketMQ-like defaults: thousands of requests in flight per client connection (Java's
    /// client allows 65535 async ones; Petrel bounds the table tighter), a few hundred handled
    /// at once per connection on the serving side, the protocol's 16 MiB frame limit.
    fn default() -> Self {
        ConnectionConfig {
            outbound_in_flight_max: 4096,
            inbound_in_flight_max: 256,
            write_queue_frames_max: 1024,
            frame_size_max_bytes: FRAME_SIZE_MAX_BYTES,
        }
    }
}

/// Configuration of a `RemotingServer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Limits of each accepted connection.
    pub connection: ConnectionConfig,
    /// Connections served at once; one more accepted connection is closed at once (logged).
    /// Bounds the connection registry.
    pub connections_max: usize,
}

impl ServerConfig {
    /// Asserts that every bound is usable.
    pub fn assert_valid(&self) {
        self.connection.assert_valid();
        assert!(self.connections_max > 0, "connections_max must be > 0");
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { connection: ConnectionConfig::default(), connections_max: 4096 }
    }
}

/// Configuration of a `RemotingClient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Limits of each connection the client opens.
    pub connection: ConnectionConfig,
    /// Longest wait for a TCP connection to open (RocketMQ's `connectTimeoutMillis`, 3 s). A
    /// call's own timeout also bounds it.
    pub connect_timeout: Duration,
    /// Peer addresses the client keeps a connection to at once: bounds its connection table.
    pub connections_max: usize,
    /// The header format every request is sent in, or `None` to send each as it was built.
    /// The peer answers in the request's format. Both formats are RocketMQ's and every 4.x
    /// broker and NameServer reads both (Java picks one with `rocketmq.serialize.type`).
    pub request_header: Option<SerializeType>,
}

impl ClientConfig {
    /// Asserts that every bound is usable.
    pub fn assert_valid(&self) {
        self.connection.assert_valid();
        assert!(self.connections_max > 0, "connections_max must be > 0");
        assert!(!self.connect_timeout.is_zero(), "connect_timeout must be > 0");
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connection: ConnectionConfig::default(),
            connect_timeout: Duration::from_secs(3),
            connections_max: 1024,
            request_header: None,
        }
    }
}

impl ClientConfig {
    /// The producer's, consumers' and admin client's defaults: requests in the binary
    /// (`ROCKETMQ`) header, which is smaller and several times cheaper to write and read than the
    /// JSON one (measured in the simulated cluster: see `reports/sim-catalogue.md`).
    pub fn for_clients() -> Self {
        ClientConfig { request_header: Some(SerializeType::RocketMq), ..ClientConfig::default() }
    }
}
