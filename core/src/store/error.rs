//! Errors of the storage engine. Expected conditions (a message too large, a full disk, a
//! corrupt file found at start-up) are variants a caller handles; broken invariants are
//! assertions, not errors.

use crate::message::record::RecordError;
use crate::store::disk::DiskError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The device failed; the message names the file and the operation.
    #[error("disk: {0}")]
    Disk(#[from] DiskError),
    /// A file's content is not what Petrel wrote; names the file and the byte offset inside it.
    #[error("corrupt {file} at offset {offset}: {reason}")]
    Corrupt { file: String, offset: u64, reason: String },
    /// The set of files in a directory is inconsistent (wrong size, gap, unparseable name).
    #[error("bad layout in {dir}: {reason}")]
    Layout { dir: String, reason: String },
    /// A message whose encoded record is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { size: usize, limit: usize },
    /// A topic name RocketMQ does not allow (empty, too long, or a character outside
    /// `[%|a-zA-Z0-9_-]`).
    #[error("invalid topic name {topic:?}")]
    InvalidTopic { topic: String },
    /// A batch whose messages do not all target the same (topic, queue).
    #[error("a batch must target one topic and queue")]
    MixedBatch,
    /// The message cannot be encoded (topic or properties too long, ...).
    #[error("message cannot be stored: {0}")]
    Encode(RecordError),
    /// Writes are refused because the disk is fuller than the configured ratio.
    #[error("disk is {used_percent}% full; writes refused above {limit_percent}%")]
    DiskFull { used_percent: u64, limit_percent: u64 },
    /// A metadata file (checkpoint, consumer offsets) could not be parsed.
    #[error("cannot parse {file}: {reason}")]
    Metadata { file: String, reason: String },
    /// The store was shut down or failed earlier and accepts no more work.
    #[error("store is not writable: {reason}")]
    NotWritable { reason: String },
}

impl StoreError {
    pub(crate) fn corrupt(file: &str, offset: u64, reason: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { file: file.to_string(), offset, reason: reason.to_string() }
    }
}
