//! The clients' async shells: they own the connections, the timers and the caches, and ask the
//! pure logic in `petrel_core::client` for every decision (which queue, which broker to avoid,
//! what the request looks like, what the response means).
//!
//! Files and their jobs:
//! - `config.rs`: `ProducerConfig` with RocketMQ's defaults.
//! - `error.rs`: `ProducerError`, what a send returns instead of a `SendResult`.
//! - `producer.rs`: `Producer`: route lookup and cache (TBW102 for topics not created yet),
//!   sync sends with retries on another broker, sends to a chosen queue or by selector,
//!   one-way, async and batch sends, and the periodic route refresh.

pub mod config;
pub mod error;
pub mod producer;

pub use config::ProducerConfig;
pub use error::ProducerError;
pub use petrel_core::client::{MessageQueue, MessageQueueSelector, SendResult, SendStatus};
pub use producer::Producer;
