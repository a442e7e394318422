//! The Broker's logic as pure, synchronous code: request handling over the store, consumer and
//! producer groups, offsets. An async shell owns sockets, timers and long-poll parking.
//!
//! `topic_config.rs` holds the topic table; `topic_persist.rs` writes it (outside the shell's
//! locks, never an older table over a newer one).

pub mod admin;
pub mod config;
pub mod consumer;
pub mod offset;
pub mod pull;
pub mod query;
pub mod send;
pub mod topic_config;
pub mod topic_persist;

#[cfg(test)]
mod test_disk;
