//! Errors of the message codecs: stored records, properties and the client batch body.
//!
//! Every way a byte sequence can fail to be a record has its own variant, so recovery can tell a
//! torn tail (`Truncated`) from corruption (`CrcMismatch`, `LengthMismatch`, ...) and log which.

use thiserror::Error;

/// A variable-length text field of a record, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    Topic,
    Properties,
    Body,
}

/// Why bytes are not (or a message cannot become) a valid record, properties string or batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The buffer ends before the record does: a torn or unfinished write, or a short read.
    #[error("record truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },

    /// The MAGICCODE is neither the message magic nor the blank (end-of-file) magic.
    #[error("bad magic code {found:#010x}")]
    BadMagic { found: i32 },

    /// TOTALSIZE is negative, zero where a message was required, or smaller than any record.
    #[error("bad total size {size}")]
    BadTotalSize { size: i64 },

    /// The record (or batch body) is larger than the format's sanity bound.
    #[error("record of {size} bytes exceeds the maximum of {max}")]
    TooLarge { size: usize, max: usize },

    /// The internal length fields do not add up to exactly TOTALSIZE.
    #[error("field lengths add up to {fields_len} bytes but the record says {total_size}")]
    LengthMismatch { total_size: usize, fields_len: usize },

    /// A length field holds a negative value.
    #[error("negative length {len} in {field:?}")]
    NegativeLength { field: RecordField, len: i64 },

    /// The body does not match its stored CRC (RocketMQ's masked CRC32).
    #[error("body crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: i32, computed: i32 },

    /// A text field is not valid UTF-8.
    #[error("{field:?} is not valid UTF-8")]
    InvalidUtf8 { field: RecordField },

    /// The properties text is not a sequence of `key\x01value\x02` pairs.
    #[error("malformed properties: {reason}")]
    BadProperties { reason: &'static str },

    /// A property key or value contains a separator byte (`\x01` or `\x02`), so it cannot be
    /// written without corrupting the properties string.
    #[error("property {key:?} contains a separator byte")]
    PropertySeparator { key: String },

    /// The topic is longer than its one-byte (signed) length field allows.
    #[error("topic of {len} bytes exceeds 127")]
    TopicTooLong { len: usize },

    /// The properties are longer than their two-byte (signed) length field allows.
    #[error("properties of {len} bytes exceed 32767")]
    PropertiesTooLong { len: usize },

    /// A host's port is outside 0..=65535.
    #[error("bad port {port}")]
    BadPort { port: i32 },

    /// A blank (end-of-file) record where a message was required.
    #[error("blank record of {len} bytes where a message was expected")]
    UnexpectedBlank { len: usize },

    /// Bytes follow the one record that was expected.
    #[error("{extra} bytes after the record")]
    TrailingBytes { extra: usize },
}
