//! RocketMQ 4.x remoting protocol: the `RemotingCommand` and its frame codec, so Petrel speaks
//! to RocketMQ clients, brokers and name servers as they speak to each other.
//!
//! Files and their jobs:
//! - `code.rs`: `RequestCode`, `ResponseCode`, `LanguageCode`, `SerializeType` with RocketMQ's
//!   numbers. Commands keep codes as raw `i32`, so unknown codes survive decoding.
//! - `command.rs`: `RemotingCommand` (code, language, version, opaque, flag, remark, extFields,
//!   body, serialize type) and its constructors and flag helpers.
//! - `body.rs`: `Body`, the payload as one or more byte parts sent back to back, so a pull
//!   response's stored records go out without being copied together.
//! - `ext_fields.rs`: `ExtFields`, the sorted string map of header fields: one string, laid
//!   out (when the fields are short) as the binary header's ext section itself.
//! - `decimal.rs`: header text to integers, exactly as `str::parse` reads it.
//! - `frame.rs`: length framing: `decode_frame` (incremental, zero-copy one-part body, limits
//!   checked before buffering) and `encode_frame` / `encode_frame_prefix` (whose lengths count
//!   every body part); `FRAME_SIZE_MAX_BYTES`.
//! - `json_header.rs`: the JSON header (serialize type 0), lenient where Java is.
//! - `binary_header.rs`: the ROCKETMQ binary header (serialize type 1).
//! - `header.rs`: the `CommandHeader` trait for typed headers carried in extFields, and the
//!   `command_header!` macro that declares them.
//! - `header_message.rs`, `header_offset.rs`, `header_admin.rs`: the typed headers the roles use
//!   (send, pull, query, transactions; offsets; client, broker and topic administration).
//! - `java_json.rs`: `java_json_to_valid`, for JSON bodies from Java peers with unquoted keys.
//! - `error.rs`: `FrameError`, `EncodeError`, `HeaderError`.
//!
//! Nothing here panics on bytes from a peer: every length is checked before it is used.

pub mod body;
pub mod code;
pub mod command;
pub mod error;
pub mod ext_fields;
pub mod frame;
#[macro_use]
pub mod header;
pub mod header_admin;
pub mod header_message;
pub mod header_offset;
pub mod java_json;

mod binary_header;
mod decimal;
mod json_header;

#[cfg(test)]
mod frame_proptest;

pub use body::{Body, BODY_PARTS_MAX};
pub use code::{LanguageCode, RequestCode, ResponseCode, SerializeType};
pub use command::{RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE, LANGUAGE_DEFAULT, REMOTING_VERSION_DEFAULT};
pub use error::{EncodeError, FrameError, HeaderError};
pub use ext_fields::ExtFields;
pub use frame::{decode_frame, encode_frame, encode_frame_prefix, FRAME_SIZE_MAX_BYTES, HEADER_SIZE_MAX_BYTES};
pub use header::{CommandHeader, EmptyHeader, FieldText, HeaderField};
pub use header_admin::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetConsumerListByGroupRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, NotifyConsumerIdsChangedRequestHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader, UnregisterClientRequestHeader,
};
pub use header_message::{
    CheckTransactionStateRequestHeader, ConsumerSendMsgBackRequestHeader, EndTransactionRequestHeader,
    PullMessageRequestHeader, PullMessageResponseHeader, QueryMessageRequestHeader, QueryMessageResponseHeader,
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader, ViewMessageRequestHeader,
};
pub use header_offset::{
    GetConsumeStatsRequestHeader, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader, GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, ResetOffsetRequestHeader,
    SearchOffsetRequestHeader, SearchOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
pub use java_json::java_json_to_valid;
