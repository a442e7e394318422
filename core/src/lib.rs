//! petrel-core: everything in Petrel that does not touch a real socket or a real file.
//!
//! - [`remoting`]: RocketMQ's remoting protocol: `RemotingCommand`, the frame codec (JSON and
//!   ROCKETMQ binary headers), request/response/language codes and typed request headers.
//! - [`clock`]: the time seam, the one place library code reads a clock.
//! - [`message`]: the message model and RocketMQ's stored record layout (V1), batch encoding,
//!   properties, `offsetMsgId` and `UNIQ_KEY` ids, tag hash codes.
//! - [`store`]: the storage engine over the [`store::disk::Disk`] seam: CommitLog, ConsumeQueue,
//!   IndexFile, flush and group commit, checkpoint and recovery, retention, consumer offsets.
//! - [`protocol`]: the JSON bodies the roles exchange (`TopicRouteData`, `ClusterInfo`,
//!   `TopicConfig`, `RegisterBrokerBody`, ...), with RocketMQ's field names, and `PermName` bits.
//! - [`namesrv`]: the NameServer's logic as a deterministic state machine: `RouteInfoManager`
//!   (route tables, broker liveness) and `NameServer::process` (request in, response out).
//! - [`broker`]: the Broker's logic as pure code: pull with long-poll decisions, consumer and
//!   producer groups, consumer offsets, queries by id and key, runtime and consume stats;
//!   topic configs (persisted, auto-created from TBW102), sends and topic administration.
//! - [`client`]: the clients' decisions as pure code: publish routes and queue selection, latency
//!   fault avoidance, rebalance strategies, send headers and `SendResult` parsing.
//! - [`planted`]: deliberate defects, off by default, that prove the simulation's checkers bite.
//!
//! Nothing here reads a clock, draws randomness or does I/O except through a seam handed in by
//! the caller (a `now_ms`, a seeded RNG, a `Disk`), so the same code runs in production and in
//! the deterministic simulator.

pub mod broker;
pub mod client;
pub mod clock;
pub mod message;
pub mod namesrv;
pub mod planted;
pub mod protocol;
pub mod remoting;
pub mod store;
