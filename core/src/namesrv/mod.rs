//! The NameServer's logic: route tables, broker liveness and request handling, as pure code.
//! No sockets, clocks or tasks: the caller passes `now_ms` and connection ids in, and carries
//! the responses (and the connections to close) out. An async shell owns the listener, runs
//! `scan_expired` every `SCAN_INTERVAL_MS`, calls `on_connection_closed` when a connection
//! drops, and sends `process`'s response unless the request was one-way.
//!
//! Files and their jobs:
//! - `route_info/mod.rs`: `RouteInfoManager` (RocketMQ's name): the tables, registration and
//!   the read-only queries (`route`, `cluster_info`, `topics`, `topics_by_cluster`), topic
//!   deletion. Its documentation lists the tables' invariants.
//! - `route_info/removal.rs`: unregistration, connection close, expiry, and the invariant check.
//! - `processor.rs`: `NameServer::process`, RocketMQ's `DefaultRequestProcessor`: a request
//!   command in, its response out.
//! - `route_info/tests.rs`, `route_info/tests_proptest.rs`, `processor_tests.rs`: exact-output
//!   tests, and random operation sequences checked against the invariants.

mod processor;
mod route_info;

pub use processor::{DeleteTopicFromNamesrvRequestHeader, NameServer, RequestError};
pub use route_info::{BrokerLiveInfo, ExpiredBroker, RouteInfoManager};

/// A broker that has not registered for longer than this is removed (RocketMQ's
/// `BROKER_CHANNEL_EXPIRED_TIME`). Brokers register every 30 s, so this tolerates three lost
/// heartbeats.
pub const BROKER_EXPIRE_MS: i64 = 120_000;

/// How often the shell should call `scan_expired` (RocketMQ's `scanNotActiveBroker` period).
/// A dead broker is therefore removed between `BROKER_EXPIRE_MS` and that plus this.
pub const SCAN_INTERVAL_MS: i64 = 10_000;

const _: () = assert!(SCAN_INTERVAL_MS > 0 && SCAN_INTERVAL_MS < BROKER_EXPIRE_MS);

/// Identifies one transport connection, so that the brokers registered over it can be removed
/// when it closes. The transport assigns the numbers; the name server only compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);
