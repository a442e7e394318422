//! The client's decisions as pure code: which queue a send goes to, which brokers to avoid, how a
//! consumer group splits queues, what a send request looks like and what its response means.
//! The async shells in petrel-net (`petrel_net::client`) carry these decisions out.
//!
//! Files and their jobs:
//! - `queue.rs`: `MessageQueue` (topic, broker name, queue id), ordered as RocketMQ orders it.
//! - `route.rs`: `TopicPublishInfo`, a topic's writable queues from a `TopicRouteData`, with
//!   round-robin selection that avoids the broker that just failed; the TBW102 default route.
//! - `fault.rs`: `LatencyFaultTolerance` and `MqFaultStrategy`: brokers to avoid after slow or
//!   failed sends, and the selection that prefers the available ones.
//! - `rebalance.rs`: the queue allocation strategies of a consumer group (averagely, by circle,
//!   consistent hash).
//! - `offset_store.rs`: `ProcessQueue` (a queue's pulled, unconsumed messages and the offset
//!   that may be committed) and `OffsetTable` (a consumer's committed offsets, dirty tracking,
//!   the local offsets file of broadcasting mode).
//! - `rebalance_state.rs`: the queues a rebalance starts and stops.
//! - `select.rs`: `MessageQueueSelector` for sends that choose their own queue (by hash of a
//!   sharding key, by round robin).
//! - `send.rs`: message validation, the SEND_MESSAGE_V2 header, `SendResult` parsed from the
//!   response as `MQClientAPIImpl.processSendResponse` does, and which failures are retried.
//!
//! Where Java draws a random number (the first queue of the round robin, the shuffle before
//! picking a least-bad broker) Petrel uses a counter or a stable order, so a seed replays a run.

pub mod fault;
pub mod offset_store;
pub mod queue;
pub mod rebalance;
pub mod rebalance_state;
pub mod route;
pub mod select;
pub mod send;

pub use fault::{FaultThresholds, LatencyFaultTolerance, MqFaultStrategy};
pub use queue::MessageQueue;
pub use rebalance::AllocateStrategy;
pub use route::{TopicPublishInfo, DEFAULT_TOPIC_QUEUE_NUMS};
pub use select::{MessageQueueSelector, SelectMessageQueueByHash, SelectMessageQueueByRoundRobin};
pub use send::{SendResult, SendStatus};
