//! `RemotingCommand`: one request or response of the remoting protocol, independent of how its
//! header is serialized.

use bytes::Bytes;

use super::body::Body;
use super::code::{LanguageCode, RequestCode, ResponseCode, SerializeType};
use super::error::HeaderError;
use super::ext_fields::ExtFields;
use super::header::CommandHeader;

/// `flag` bit 0: the command is a response (RocketMQ's `RPC_TYPE` bit).
pub const FLAG_RESPONSE: i32 = 1 << 0;
/// `flag` bit 1: the request is one-way, the peer sends no response (`RPC_ONEWAY` bit).
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// The `version` Petrel puts in the commands it builds: the ordinal of `MQVersion.V4_9_4` in
/// RocketMQ's Java source, the protocol level Petrel implements. Peers compare it against their
/// own ordinals to enable or disable features.
pub const REMOTING_VERSION_DEFAULT: i32 = 401;

/// The `language` Petrel puts in the commands it builds. Java clients older than 4.9.4 do not
/// know `RUST` and read it as null, which they tolerate (they never act on a peer's language).
pub const LANGUAGE_DEFAULT: LanguageCode = LanguageCode::Rust;

/// One request or response. A plain value: the frame codec turns it into bytes and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// For a request a `RequestCode`, for a response a `ResponseCode`. Kept raw so that a
    /// request with an unknown code still decodes and can be answered `REQUEST_CODE_NOT_SUPPORTED`.
    pub code: i32,
    /// The sender's language; informational, except that RocketMQ logs and stats use it.
    pub language: LanguageCode,
    /// The sender's protocol version (an `MQVersion` ordinal), which gates features.
    pub version: i32,
    /// Request id chosen by the requester; the response echoes it so responses can be matched
    /// to requests on a connection with many in flight.
    pub opaque: i32,
    /// Bit set: `FLAG_RESPONSE`, `FLAG_ONEWAY`. Other bits are kept as received.
    pub flag: i32,
    /// Human-readable text, mostly the reason of an error response.
    pub remark: Option<String>,
    /// The request/response-specific header, flattened to strings (see `CommandHeader`). Kept
    /// sorted by key, so encoding is deterministic.
    pub ext_fields: ExtFields,
    /// Payload: message bytes for sends and pulls, JSON for route data and admin calls. After
    /// decoding, one part: a zero-copy slice of the receive buffer. A body built for sending
    /// may have several parts (a pull response's stored records), written back to back. The
    /// wire cannot tell an empty body from none, so decoding yields `None` for both. Read it
    /// whole with [`RemotingCommand::body_bytes`].
    pub body: Option<Body>,
    /// How this command's header was (or will be) serialized. Responses use the request's type.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with the given code and typed header, opaque 0 (the transport assigns it).
    pub fn request(code: RequestCode, header: &impl CommandHeader) -> Self {
        let mut command = Self::blank(code.as_i32());
        header.write_fields(&mut command.ext_fields);
        command
    }

    /// A response with the given code and remark, opaque 0; see `response_to` for the usual case.
    pub fn response(code: ResponseCode, remark: Option<String>) -> Self {
        let mut command = Self::blank(code.as_i32());
        command.remark = remark;
        command.mark_response();
        command
    }

    /// A response to `request`: echoes its opaque and serialize type. (The caller answers only
    /// requests that are not one-way; this does not check, since `request` came from a peer.)
    pub fn response_to(request: &RemotingCommand, code: ResponseCode, remark: Option<String>) -> Self {
        let mut command = Self::response(code, remark);
        command.opaque = request.opaque;
        command.serialize_type = request.serialize_type;
        command
    }

    fn blank(code: i32) -> Self {
        RemotingCommand {
            code,
            language: LANGUAGE_DEFAULT,
            version: REMOTING_VERSION_DEFAULT,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: None,
            serialize_type: SerializeType::Json,
        }
    }

    /// Sets the opaque (request id).
    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    /// Sets the body: one `Bytes`, or a `Body` of several parts.
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets how the header will be serialized.
    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    /// Adds a typed header's fields to extFields (a response header, usually).
    pub fn write_header(&mut self, header: &impl CommandHeader) {
        header.write_fields(&mut self.ext_fields);
    }

    /// Reads a typed header from extFields.
    pub fn read_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::read_fields(&self.ext_fields)
    }

    /// True if `flag` marks this command as a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True if `flag` marks this request as one-way (no response expected).
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks this command as a response.
    pub fn mark_response(&mut self) {
        self.flag |= FLAG_RESPONSE;
    }

    /// Marks this request as one-way.
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// The request code, if this is a request with a known code.
    pub fn request_code(&self) -> Option<RequestCode> {
        if self.is_response() {
            return None;
        }
        RequestCode::from_i32(self.code)
    }

    /// The response code, if this is a response with a known code.
    pub fn response_code(&self) -> Option<ResponseCode> {
        if !self.is_response() {
            return None;
        }
        ResponseCode::from_i32(self.code)
    }

    /// The body's length in bytes, all parts together (0 without a body).
    pub fn body_len_bytes(&self) -> usize {
        self.body.as_ref().map_or(0, Body::len_bytes)
    }

    /// The body as one contiguous `Bytes`, if there is one: no copy when it has one part (as
    /// every received body has), its parts joined when it has several.
    pub fn body_bytes(&self) -> Option<Bytes> {
        self.body.as_ref().map(Body::joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::{EmptyHeader, GetRouteInfoRequestHeader};

    /// A request carries its typed header in extFields and reads it back unchanged.
    #[test]
    fn request_carries_typed_header() {
        let header = GetRouteInfoRequestHeader { topic: "T".to_owned(), accept_standard_json_only: None };
        let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header).with_opaque(7);
        assert_eq!(request.code, 105);
        assert_eq!(request.ext_fields.get("topic"), Some("T"));
        assert_eq!(request.read_header::<GetRouteInfoRequestHeader>(), Ok(header));
        assert_eq!(request.request_code(), Some(RequestCode::GetRouteinfoByTopic));
        assert_eq!(request.response_code(), None);
        assert!(!request.is_response() && !request.is_oneway());
    }

    /// A response to a request echoes opaque and serialize type and sets only the response bit.
    #[test]
    fn response_to_echoes_opaque_and_serialize_type() {
        let mut request = RemotingCommand::request(RequestCode::LockBatchMq, &EmptyHeader)
            .with_opaque(42)
            .with_serialize_type(SerializeType::RocketMq);
        request.mark_oneway();
        assert!(request.is_oneway());
        let response = RemotingCommand::response_to(&request, ResponseCode::SystemBusy, Some("busy".into()));
        assert_eq!(response.opaque, 42);
        assert_eq!(response.serialize_type, SerializeType::RocketMq);
        assert_eq!(response.flag, FLAG_RESPONSE);
        assert_eq!(response.response_code(), Some(ResponseCode::SystemBusy));
        assert_eq!(response.request_code(), None);
        assert_eq!(response.remark.as_deref(), Some("busy"));
    }

    /// An unknown request code is kept raw, so the caller can answer REQUEST_CODE_NOT_SUPPORTED.
    #[test]
    fn unknown_code_is_kept_raw() {
        let mut request = RemotingCommand::request(RequestCode::SendMessage, &EmptyHeader);
        request.code = 9999;
        assert_eq!(request.request_code(), None);
        let response = RemotingCommand::response_to(&request, ResponseCode::RequestCodeNotSupported, None);
        assert_eq!(response.code, 3);
    }
}
