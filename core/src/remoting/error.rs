//! Errors of the remoting codec: decoding a frame, encoding one, and reading a typed header.
//!
//! All of them are expected conditions (a peer sent bad bytes, a caller built a command too big
//! to send), so they are values the caller handles, never panics.

use super::frame::FRAME_SIZE_MAX_BYTES;

/// Why bytes from the network are not a valid frame. The connection that sent them should be
/// closed: after a bad frame, the stream position of the next frame is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame-length field is negative.
    #[error("frame length field is negative: {total_len}")]
    NegativeFrameLength {
        /// The length field as read.
        total_len: i32,
    },

    /// The frame, including its own length field, would be larger than the limit.
    #[error("frame of {frame_len_bytes} bytes exceeds the limit of {FRAME_SIZE_MAX_BYTES} bytes")]
    FrameTooLarge {
        /// The whole frame's size as announced: 4 + the length field.
        frame_len_bytes: i64,
    },

    /// The frame-length field is too small to hold even the header-length word.
    #[error("frame length {total_len} cannot hold the 4-byte header length word")]
    FrameTooShort {
        /// The length field as read.
        total_len: i32,
    },

    /// The header-length word announces more header than the frame holds.
    #[error("header length {header_len_bytes} exceeds the {available_bytes} bytes left in the frame")]
    HeaderLengthExceedsFrame {
        /// The low 24 bits of the header-length word.
        header_len_bytes: u32,
        /// The frame length minus the header-length word.
        available_bytes: u32,
    },

    /// The top byte of the header-length word is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown header serialize type {raw}")]
    UnknownSerializeType {
        /// The top byte as read.
        raw: u8,
    },

    /// The JSON header is not JSON, or not an object of the expected shape.
    #[error("invalid JSON header: {reason}")]
    InvalidJsonHeader {
        /// serde_json's description, or which field had the wrong shape.
        reason: String,
    },

    /// A text field (the JSON header, a remark, an extFields key or value) is not UTF-8.
    #[error("invalid UTF-8 in {field}")]
    InvalidUtf8 {
        /// Which text was bad.
        field: &'static str,
    },

    /// A binary header field announces more bytes than the header (or its section) has left.
    #[error("binary header truncated in {field}: needs {needed_bytes} bytes, {remaining_bytes} left")]
    TruncatedBinaryHeader {
        /// The field being read.
        field: &'static str,
        /// How many bytes the field needs.
        needed_bytes: usize,
        /// How many bytes were left.
        remaining_bytes: usize,
    },

    /// A binary header length field (remark, extFields, key, value) is negative.
    #[error("negative length {len} in binary header field {field}")]
    NegativeFieldLength {
        /// The length field being read.
        field: &'static str,
        /// Its value.
        len: i32,
    },

    /// The header has bytes left after its last field.
    #[error("{trailing_bytes} trailing bytes after the {section}")]
    TrailingHeaderBytes {
        /// Which header kind had them.
        section: &'static str,
        /// How many bytes were left over.
        trailing_bytes: usize,
    },
}

/// Why a command cannot be put on the wire. Nothing was written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field does not fit its binary header slot (code and version are i16 there).
    #[error("{field} = {value} does not fit the binary header's i16")]
    FieldOutOfRange {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: i32,
    },

    /// An extFields key is longer than the binary header's i16 key length allows.
    #[error("extFields key of {key_len_bytes} bytes is longer than {} bytes", i16::MAX)]
    KeyTooLong {
        /// The key's length in bytes.
        key_len_bytes: usize,
    },

    /// The header is longer than the 24 bits of the header-length word allow.
    #[error("header of {header_len_bytes} bytes exceeds the 24-bit header length limit")]
    HeaderTooLarge {
        /// The header's length in bytes (or a lower bound when it overflowed).
        header_len_bytes: usize,
    },

    /// The whole frame would be larger than the frame limit.
    #[error("frame of {frame_len_bytes} bytes exceeds the limit of {FRAME_SIZE_MAX_BYTES} bytes")]
    FrameTooLarge {
        /// The whole frame's size, length field included.
        frame_len_bytes: usize,
    },

    /// serde_json failed to write the JSON header.
    #[error("JSON header encoding failed: {reason}")]
    Json {
        /// serde_json's description.
        reason: String,
    },
}

/// Why a typed request/response header cannot be read from a command's extFields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A field Java marks `@CFNotNull` is absent.
    #[error("header field {field} is missing")]
    Missing {
        /// The field's wire name.
        field: &'static str,
    },

    /// A field is present but does not parse as its type.
    #[error("header field {field} has an invalid value {value:?}")]
    Invalid {
        /// The field's wire name.
        field: &'static str,
        /// The value as received, cut to `HEADER_ERROR_VALUE_CHARS_MAX` characters.
        value: String,
    },
}

/// Longest piece of a bad header value kept in a `HeaderError`, so an error (which may end up in
/// a log line or a response remark) stays small whatever a peer sent.
pub const HEADER_ERROR_VALUE_CHARS_MAX: usize = 64;

impl HeaderError {
    /// An `Invalid` error holding at most `HEADER_ERROR_VALUE_CHARS_MAX` characters of `value`.
    pub fn invalid(field: &'static str, value: &str) -> Self {
        let value = value.chars().take(HEADER_ERROR_VALUE_CHARS_MAX).collect();
        HeaderError::Invalid { field, value }
    }
}
