//! The storage engine, after RocketMQ's store, over the [`disk::Disk`] seam.
//!
//! - [`disk`]: the seam itself (files, page cache vs durable, atomic metadata writes).
//! - [`offset`]: CommitLog offsets and queue offsets as distinct types; 20-digit file names.
//! - [`mapped_file`]: a log kept as a run of equal-sized files named by start offset.
//! - [`commit_log`]: the one sequential log of every message (append, read, scan, blank records).
//! - [`record_crc`]: the whole-record checksum property that catches torn records.
//! - [`consume_queue`]: per-(topic, queue) 20-byte units pointing into the CommitLog.
//! - [`index_file`] and [`index`]: the key -> CommitLog offset hash index and its file run.
//! - [`dispatch`]: builds queue units and index entries from CommitLog records (reput).
//! - [`flush`]: flush modes, the async flush policy and the group-commit queue (no I/O).
//! - [`checkpoint`]: the durable watermarks recovery trusts, and the clean-shutdown flag.
//! - [`retention`]: which old files to delete (no I/O).
//! - [`consumer_offset`]: consumer groups' committed offsets, persisted atomically.
//! - [`message_store`]: the engine as one synchronous object: put, get, lookup, recovery.
//! - [`service`]: the async host: group commit for SYNC_FLUSH and the background flushers.

pub mod checkpoint;
pub mod commit_log;
pub mod config;
pub mod consume_queue;
pub mod consumer_offset;
pub mod disk;
pub mod dispatch;
pub mod error;
pub mod flush;
pub mod index;
pub mod index_file;
pub mod mapped_file;
pub mod message_store;
pub mod offset;
pub mod record_crc;
pub mod retention;
pub mod service;

pub use config::StoreConfig;
pub use error::StoreError;
pub use flush::{Durability, FlushMode};
pub use message_store::{GetResult, GetStatus, MessageStore, PutResult, RecoveryReport, StoredMessage};
pub use offset::{CommitLogOffset, QueueOffset};
