//! The Broker's logic as pure, synchronous code: request handling over the store, consumer and
//! producer groups, offsets. An async shell owns sockets, timers and long-poll parking.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod offset;
pub mod pull;
pub mod query;
pub mod send;
pub mod topic_config;
