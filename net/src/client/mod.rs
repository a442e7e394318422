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
//! - `consumer_config.rs`: `ConsumerConfig` and `PullConsumerConfig` with RocketMQ's defaults.
//! - `consumer_error.rs`: `ConsumerError`, why a consumer's call failed.
//! - `consumer_api.rs`: the consumer's requests (routes, heartbeats, group members, offsets,
//!   pulls) as typed calls, and `PullResult`.
//! - `consumer_pull.rs`: `PullConsumer`: pulls and commits chosen by the application.
//! - `consumer.rs`: `PushConsumer`: heartbeats, rebalance, offsets committed periodically.
//! - `consumer_queue.rs`: a push consumer's per-queue pull loop, flow control and consumption.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod consumer_api;
pub mod consumer_config;
pub mod consumer_error;
pub mod consumer_pull;
mod consumer_queue;
pub mod error;
pub mod producer;

pub use config::ProducerConfig;
pub use consumer::{ConsumeResult, MessageListener, PushConsumer};
pub use consumer_api::{PullResult, PullStatus};
pub use consumer_config::{ConsumeFrom, ConsumerConfig, ConsumerObserver, OffsetFileConfig, PullConsumerConfig};
pub use consumer_error::ConsumerError;
pub use consumer_pull::PullConsumer;
pub use error::ProducerError;
pub use petrel_core::client::{MessageQueue, MessageQueueSelector, SendResult, SendStatus};
pub use producer::Producer;
