//! Length framing: a `RemotingCommand` on a byte stream.
//!
//! ```text
//! i32 total_len | i32 header_word | header (header_len bytes) | body
//! total_len   = 4 + header_len + body_len          (does not count itself)
//! header_word = serialize_type << 24 | header_len   (header_len < 2^24)
//! ```
//!
//! A body of several parts (`Body::from_parts`) is its parts back to back: `body_len` counts
//! them all, and its frame is byte for byte the frame of the joined body. Decoding yields a
//! body of one part.
//!
//! Invariants, checked by the decoder before it parses and by the encoder before it writes:
//! - the whole frame, `total_len` field included, is at most `FRAME_SIZE_MAX_BYTES` (Java's
//!   Netty decoder applies its 16 MiB limit the same way);
//! - `0 <= header_len <= total_len - 4`;
//! - the serialize type is JSON (0) or ROCKETMQ (1);
//! - the header is exactly `header_len` bytes of that type, nothing left over.
//!
//! The decoder rejects a frame from its first 8 bytes when they already break a limit, so a peer
//! cannot make the receiver buffer 16 MiB of garbage first.

use bytes::{Buf, BufMut, BytesMut};

use super::body::Body;
use super::code::SerializeType;
use super::command::RemotingCommand;
use super::error::{EncodeError, FrameError};
use super::{binary_header, json_header};

/// Largest frame, in bytes on the wire, length field included.
pub const FRAME_SIZE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Largest header: the low 24 bits of the header word.
pub const HEADER_SIZE_MAX_BYTES: usize = 0x00FF_FFFF;
/// Bytes of the `total_len` field.
pub const LENGTH_FIELD_BYTES: usize = 4;
/// Bytes before the header: `total_len` and the header word.
pub const FRAME_PREFIX_BYTES: usize = 8;

const _: () = assert!(FRAME_SIZE_MAX_BYTES == 16 * 1024 * 1024);
const _: () = assert!(FRAME_SIZE_MAX_BYTES <= i32::MAX as usize);
const _: () = assert!(HEADER_SIZE_MAX_BYTES == (1 << 24) - 1);
const _: () = assert!(HEADER_SIZE_MAX_BYTES < FRAME_SIZE_MAX_BYTES);
const _: () = assert!(FRAME_PREFIX_BYTES == 2 * LENGTH_FIELD_BYTES);

/// Decodes one frame from the front of `buf`.
///
/// - `Ok(None)`: the frame is not complete yet; nothing was consumed. Read more and call again.
/// - `Ok(Some(command))`: exactly one frame was consumed; the body is a zero-copy slice of it.
/// - `Err(_)`: the bytes are not a valid frame; nothing was consumed. Close the connection.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<RemotingCommand>, FrameError> {
    let Some(layout) = read_layout(buf)? else {
        return Ok(None);
    };
    let header_end = FRAME_PREFIX_BYTES + layout.header_len_bytes;
    let Some(header) = buf.get(FRAME_PREFIX_BYTES..header_end) else {
        return Ok(None); // Unreachable: read_layout saw the whole frame.
    };
    let mut command = match layout.serialize_type {
        SerializeType::Json => json_header::decode(header)?,
        SerializeType::RocketMq => binary_header::decode(header)?,
    };
    assert!(header_end <= layout.frame_len_bytes && layout.frame_len_bytes <= buf.len());
    let mut frame = buf.split_to(layout.frame_len_bytes);
    frame.advance(header_end);
    command.body = if frame.is_empty() { None } else { Some(frame.freeze().into()) };
    Ok(Some(command))
}

/// Where the parts of the frame at the front of a buffer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameLayout {
    /// Bytes of the whole frame, length field included.
    frame_len_bytes: usize,
    /// Bytes of the header.
    header_len_bytes: usize,
    /// How the header is serialized.
    serialize_type: SerializeType,
}

/// The layout of the frame at the front of `buf`: `None` until the whole frame is there, an error
/// as soon as the bytes present break a limit.
fn read_layout(buf: &[u8]) -> Result<Option<FrameLayout>, FrameError> {
    let Some(total_len) = be_i32_at(buf, 0) else {
        return Ok(None);
    };
    let frame_len_bytes = check_total_len(total_len)?;
    let Some(header_word) = buf.get(LENGTH_FIELD_BYTES..).and_then(|rest| rest.first_chunk::<4>()) else {
        return Ok(None);
    };
    let [raw_type, len_high, len_mid, len_low] = *header_word;
    let serialize_type = SerializeType::from_u8(raw_type).ok_or(FrameError::UnknownSerializeType { raw: raw_type })?;
    let header_len_bytes = u32::from_be_bytes([0, len_high, len_mid, len_low]);
    let available_bytes = frame_len_bytes - FRAME_PREFIX_BYTES;
    if header_len_bytes as usize > available_bytes {
        return Err(FrameError::HeaderLengthExceedsFrame { header_len_bytes, available_bytes: available_bytes as u32 });
    }
    if buf.len() < frame_len_bytes {
        return Ok(None);
    }
    Ok(Some(FrameLayout { frame_len_bytes, header_len_bytes: header_len_bytes as usize, serialize_type }))
}

/// Checks the `total_len` field and returns the whole frame's size in bytes.
fn check_total_len(total_len: i32) -> Result<usize, FrameError> {
    if total_len < 0 {
        return Err(FrameError::NegativeFrameLength { total_len });
    }
    let frame_len_bytes = i64::from(total_len) + LENGTH_FIELD_BYTES as i64;
    if frame_len_bytes > FRAME_SIZE_MAX_BYTES as i64 {
        return Err(FrameError::FrameTooLarge { frame_len_bytes });
    }
    if (total_len as usize) < LENGTH_FIELD_BYTES {
        return Err(FrameError::FrameTooShort { total_len });
    }
    // In 8..=FRAME_SIZE_MAX_BYTES by the checks above.
    Ok(frame_len_bytes as usize)
}

fn be_i32_at(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..)?.first_chunk::<4>()?;
    Some(i32::from_be_bytes(*bytes))
}

/// Appends the whole frame of `command` to `out`, every body part in order. On error nothing
/// is appended.
pub fn encode_frame(command: &RemotingCommand, out: &mut BytesMut) -> Result<(), EncodeError> {
    write_prefix(command, out)?;
    for part in command.body.iter().flat_map(Body::parts) {
        out.extend_from_slice(part);
    }
    Ok(())
}

/// The frame of `command` without its body: the length fields (which count every body part)
/// and the header. The transport writes this and then the body's parts as they are, so the
/// body is never copied.
pub fn encode_frame_prefix(command: &RemotingCommand) -> Result<BytesMut, EncodeError> {
    let header_len_bytes = match command.serialize_type {
        SerializeType::RocketMq => binary_header::encoded_len_bytes(command),
        // Room for a typical header in one allocation: the fixed parts, the remark, and about
        // 32 bytes per field (the quotes and separators, a short name and a short value).
        SerializeType::Json => 64 + command.remark.as_ref().map_or(0, String::len) + 32 * command.ext_fields.len(),
    };
    let mut out = BytesMut::with_capacity(FRAME_PREFIX_BYTES + header_len_bytes);
    write_prefix(command, &mut out)?;
    Ok(out)
}

/// Appends the length fields and the header; on error truncates `out` back to where it was.
fn write_prefix(command: &RemotingCommand, out: &mut BytesMut) -> Result<(), EncodeError> {
    let body_len_bytes = command.body_len_bytes();
    if body_len_bytes > FRAME_SIZE_MAX_BYTES - FRAME_PREFIX_BYTES {
        let frame_len_bytes = body_len_bytes.saturating_add(FRAME_PREFIX_BYTES);
        return Err(EncodeError::FrameTooLarge { frame_len_bytes });
    }
    let start = out.len();
    out.put_bytes(0, FRAME_PREFIX_BYTES);
    let written = match command.serialize_type {
        SerializeType::Json => json_header::encode(command, out),
        SerializeType::RocketMq => binary_header::encode(command, out),
    };
    let result = written.and_then(|()| fill_length_fields(command, out, start));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes `total_len` and the header word of the frame that starts at `start` in `out`, whose
/// header has just been appended.
fn fill_length_fields(command: &RemotingCommand, out: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let header_len_bytes = out.len() - start - FRAME_PREFIX_BYTES;
    if header_len_bytes > HEADER_SIZE_MAX_BYTES {
        return Err(EncodeError::HeaderTooLarge { header_len_bytes });
    }
    let frame_len_bytes = FRAME_PREFIX_BYTES + header_len_bytes + command.body_len_bytes();
    if frame_len_bytes > FRAME_SIZE_MAX_BYTES {
        return Err(EncodeError::FrameTooLarge { frame_len_bytes });
    }
    // Both fit: frame_len_bytes <= FRAME_SIZE_MAX_BYTES <= i32::MAX, header_len < 2^24.
    let total_len = (frame_len_bytes - LENGTH_FIELD_BYTES) as u32;
    let header_word = u32::from(command.serialize_type.as_u8()) << 24 | header_len_bytes as u32;
    out[start..start + LENGTH_FIELD_BYTES].copy_from_slice(&total_len.to_be_bytes());
    out[start + LENGTH_FIELD_BYTES..start + FRAME_PREFIX_BYTES].copy_from_slice(&header_word.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::remoting::code::LanguageCode;

    /// A frame around `header` (of the given serialize type byte) and `body`, built by hand.
    fn hand_frame(raw_type: u8, header: &[u8], body: &[u8]) -> BytesMut {
        let total_len = (4 + header.len() + body.len()) as i32;
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&total_len.to_be_bytes());
        frame.extend_from_slice(&[raw_type]);
        frame.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(header);
        frame.extend_from_slice(body);
        frame
    }

    fn bytes_of(parts: &[&[u8]]) -> BytesMut {
        let mut buf = BytesMut::new();
        for part in parts {
            buf.extend_from_slice(part);
        }
        buf
    }

    /// Decodes `bytes` and checks that an error consumed nothing.
    fn decode_err(bytes: &[u8]) -> FrameError {
        let mut buf = BytesMut::from(bytes);
        let result = decode_frame(&mut buf);
        assert_eq!(&buf[..], bytes, "an error consumes nothing");
        match result {
            Err(error) => error,
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    const REFERENCE_JSON: &[u8] =
        br#"{"code":105,"language":"JAVA","version":401,"opaque":7,"flag":0,"extFields":{"topic":"T"}}"#;

    /// The reference's JSON example inside a hand-built frame decodes, consuming the frame.
    #[test]
    fn decodes_reference_json_frame() {
        let mut buf = hand_frame(0, REFERENCE_JSON, b"");
        let command = decode_frame(&mut buf);
        let Ok(Some(command)) = command else { panic!("{command:?}") };
        assert!(buf.is_empty());
        assert_eq!((command.code, command.version, command.opaque, command.flag), (105, 401, 7, 0));
        assert_eq!(command.language, LanguageCode::Java);
        assert_eq!(command.serialize_type, SerializeType::Json);
        assert_eq!(command.ext_fields.get("topic"), Some("T"));
        assert_eq!(command.body, None);
    }

    /// A ROCKETMQ-header frame with a body is encoded byte for byte as laid out by hand, and
    /// decodes back to the same command.
    #[test]
    fn binary_frame_byte_for_byte() {
        let command = RemotingCommand {
            code: 11,
            language: LanguageCode::Rust,
            version: 401,
            opaque: 0x0102_0304,
            flag: 1,
            remark: None,
            ext_fields: [("k".to_owned(), "vv".to_owned())].into_iter().collect(),
            body: Some(Bytes::from_static(b"BODY").into()),
            serialize_type: SerializeType::RocketMq,
        };
        let expected: &[u8] = &[
            0x00, 0x00, 0x00, 0x26, // total_len 38 = 4 + header 30 + body 4
            0x01, 0x00, 0x00, 0x1E, // ROCKETMQ, header_len 30
            0x00, 0x0B, 0x0C, 0x01, 0x91, // code 11, RUST, version 401
            0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x01, // opaque, flag (response)
            0x00, 0x00, 0x00, 0x00, // no remark
            0x00, 0x00, 0x00, 0x09, 0x00, 0x01, b'k', 0x00, 0x00, 0x00, 0x02, b'v', b'v', // extFields
            b'B', b'O', b'D', b'Y',
        ];
        let mut out = BytesMut::new();
        assert_eq!(encode_frame(&command, &mut out), Ok(()));
        assert_eq!(&out[..], expected);
        assert_eq!(encode_frame_prefix(&command).map(|prefix| prefix.len()), Ok(expected.len() - 4));
        assert_eq!(decode_frame(&mut out), Ok(Some(command)));
        assert!(out.is_empty());
    }

    /// Fewer bytes than a whole frame is Ok(None) and consumes nothing, at every length.
    #[test]
    fn incomplete_frame_waits() {
        let frame = hand_frame(0, REFERENCE_JSON, b"body");
        for len in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..len]);
            assert_eq!(decode_frame(&mut buf), Ok(None), "prefix of {len} bytes");
            assert_eq!(buf.len(), len);
        }
    }

    /// Two frames back to back: each call consumes exactly one, and the body is a slice of the
    /// receive buffer (same memory, not a copy).
    #[test]
    fn consumes_exactly_one_frame_and_body_is_zero_copy() {
        let mut buf = bytes_of(&[&hand_frame(0, br#"{"code":1}"#, b"first"), &hand_frame(0, br#"{"code":2}"#, b"")]);
        let body_address = buf.as_ptr() as usize + FRAME_PREFIX_BYTES + br#"{"code":1}"#.len();
        let first = decode_frame(&mut buf);
        let Ok(Some(first)) = first else { panic!("{first:?}") };
        assert_eq!(first.code, 1);
        assert_eq!(first.body_bytes().as_deref(), Some(&b"first"[..]));
        assert_eq!(first.body.as_ref().map(|body| body.parts().len()), Some(1));
        assert_eq!(first.body_bytes().map(|body| body.as_ptr() as usize), Some(body_address));
        let second = decode_frame(&mut buf);
        assert_eq!(second.map(|c| c.map(|c| (c.code, c.body))), Ok(Some((2, None))));
        assert!(buf.is_empty());
        assert_eq!(decode_frame(&mut buf), Ok(None));
    }

    /// A negative total length is NegativeFrameLength, from the first 4 bytes alone.
    #[test]
    fn negative_frame_length() {
        assert_eq!(decode_err(&[0xFF, 0xFF, 0xFF, 0xFE]), FrameError::NegativeFrameLength { total_len: -2 });
    }

    /// A frame one byte over 16 MiB is rejected from its first 4 bytes, without waiting for the
    /// rest; one of exactly 16 MiB is waited for.
    #[test]
    fn frame_over_limit_is_rejected_early() {
        let over = (FRAME_SIZE_MAX_BYTES - LENGTH_FIELD_BYTES + 1) as i32;
        assert_eq!(
            decode_err(&over.to_be_bytes()),
            FrameError::FrameTooLarge { frame_len_bytes: FRAME_SIZE_MAX_BYTES as i64 + 1 }
        );
        assert_eq!(
            decode_err(&i32::MAX.to_be_bytes()),
            FrameError::FrameTooLarge { frame_len_bytes: i64::from(i32::MAX) + 4 }
        );
        let at_limit = (FRAME_SIZE_MAX_BYTES - LENGTH_FIELD_BYTES) as i32;
        let mut buf = bytes_of(&[&at_limit.to_be_bytes(), &[0, 0, 0, 2], b"{}"]);
        assert_eq!(decode_frame(&mut buf), Ok(None));
    }

    /// A total length below 4 cannot hold the header word: FrameTooShort.
    #[test]
    fn frame_too_short() {
        assert_eq!(decode_err(&[0, 0, 0, 3, 0, 0, 0]), FrameError::FrameTooShort { total_len: 3 });
    }

    /// A header length beyond the frame is rejected from the first 8 bytes.
    #[test]
    fn header_length_exceeds_frame() {
        assert_eq!(
            decode_err(&[0, 0, 0, 10, 0, 0, 0, 7]),
            FrameError::HeaderLengthExceedsFrame { header_len_bytes: 7, available_bytes: 6 }
        );
    }

    /// A serialize type other than 0 and 1 is rejected from the first 8 bytes.
    #[test]
    fn unknown_serialize_type() {
        assert_eq!(decode_err(&[0, 0, 0, 10, 2, 0, 0, 2]), FrameError::UnknownSerializeType { raw: 2 });
        assert_eq!(decode_err(&[0, 0, 0, 10, 0x80, 0, 0, 2]), FrameError::UnknownSerializeType { raw: 0x80 });
    }

    /// Header errors surface through the frame decoder unchanged, with nothing consumed.
    #[test]
    fn header_errors_surface() {
        assert!(matches!(decode_err(&hand_frame(0, b"{\"code\":", b"")), FrameError::InvalidJsonHeader { .. }));
        assert!(matches!(decode_err(&hand_frame(0, b"", b"body")), FrameError::InvalidJsonHeader { .. }));
        assert_eq!(decode_err(&hand_frame(0, b"\"\xC3\"", b"")), FrameError::InvalidUtf8 { field: "JSON header" });
        assert_eq!(
            decode_err(&hand_frame(0, b"{} 1", b"")),
            FrameError::TrailingHeaderBytes { section: "JSON header", trailing_bytes: 1 }
        );
        assert_eq!(
            decode_err(&hand_frame(1, &[0, 10, 0], b"")),
            FrameError::TruncatedBinaryHeader { field: "version", needed_bytes: 2, remaining_bytes: 0 }
        );
    }

    /// A command whose frame would pass 16 MiB is an encode error that appends nothing, even
    /// after earlier frames in the same buffer.
    #[test]
    fn encode_rejects_oversized_frames() {
        let mut out = BytesMut::from(&b"earlier"[..]);
        let body = Bytes::from(vec![0u8; FRAME_SIZE_MAX_BYTES - FRAME_PREFIX_BYTES - 10]);
        let command = RemotingCommand::response(crate::remoting::ResponseCode::Success, None).with_body(body);
        let result = encode_frame(&command, &mut out);
        assert!(matches!(result, Err(EncodeError::FrameTooLarge { .. })), "{result:?}");
        let command = command.with_body(Bytes::from(vec![0u8; FRAME_SIZE_MAX_BYTES]));
        let result = encode_frame(&command, &mut out);
        assert!(matches!(result, Err(EncodeError::FrameTooLarge { .. })), "{result:?}");
        assert_eq!(&out[..], b"earlier");
    }

    /// A JSON header past the 24-bit header limit is HeaderTooLarge, appending nothing.
    #[test]
    fn encode_rejects_oversized_json_header() {
        let remark = "r".repeat(HEADER_SIZE_MAX_BYTES);
        let command = RemotingCommand::response(crate::remoting::ResponseCode::SystemError, Some(remark));
        let mut out = BytesMut::new();
        let result = encode_frame(&command, &mut out);
        assert!(matches!(result, Err(EncodeError::HeaderTooLarge { .. })), "{result:?}");
        assert!(out.is_empty());
    }

    /// Prefix plus body is byte for byte the whole frame.
    #[test]
    fn prefix_plus_body_is_the_frame() {
        let command = RemotingCommand::response(crate::remoting::ResponseCode::Success, Some("ok".into()))
            .with_opaque(3)
            .with_body(Bytes::from_static(b"payload"));
        let mut whole = BytesMut::new();
        assert_eq!(encode_frame(&command, &mut whole), Ok(()));
        let prefix = encode_frame_prefix(&command);
        let Ok(prefix) = prefix else { panic!("{prefix:?}") };
        assert_eq!(bytes_of(&[&prefix, b"payload"]), whole);
    }

    /// A body of several parts (one of them empty) encodes byte for byte as the joined body,
    /// with both header types; the prefix counts every part; decoding gives one part back.
    #[test]
    fn multi_part_body_encodes_as_the_joined_body() {
        let parts = vec![Bytes::from_static(b"first "), Bytes::new(), Bytes::from(vec![0xAB; 300])];
        let joined = bytes_of(&[b"first ", &[0xAB; 300]]).freeze();
        for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
            let base = RemotingCommand::response(crate::remoting::ResponseCode::Success, Some("FOUND".into()))
                .with_opaque(9)
                .with_serialize_type(serialize_type);
            let split = base.clone().with_body(Body::from_parts(parts.clone()));
            let whole = base.with_body(joined.clone());
            let (mut split_frame, mut whole_frame) = (BytesMut::new(), BytesMut::new());
            assert_eq!(encode_frame(&split, &mut split_frame), Ok(()));
            assert_eq!(encode_frame(&whole, &mut whole_frame), Ok(()));
            assert_eq!(split_frame, whole_frame);
            assert_eq!(encode_frame_prefix(&split), encode_frame_prefix(&whole));
            assert_eq!(split.body_len_bytes(), joined.len());
            let decoded = decode_frame(&mut split_frame);
            let Ok(Some(decoded)) = decoded else { panic!("{decoded:?}") };
            assert_eq!(decoded.body.as_ref().map(|body| body.parts().len()), Some(1));
            assert_eq!(decoded.body_bytes(), Some(joined.clone()));
            assert_eq!(decoded, split);
        }
    }

    /// Parts that together pass the frame limit are refused, though each alone would fit.
    #[test]
    fn encode_counts_every_part_against_the_limit() {
        let half = Bytes::from(vec![0u8; FRAME_SIZE_MAX_BYTES / 2]);
        let command = RemotingCommand::response(crate::remoting::ResponseCode::Success, None)
            .with_body(Body::from_parts(vec![half.clone(), half]));
        let mut out = BytesMut::new();
        let result = encode_frame(&command, &mut out);
        assert!(matches!(result, Err(EncodeError::FrameTooLarge { .. })), "{result:?}");
        assert!(out.is_empty());
        assert!(matches!(encode_frame_prefix(&command), Err(EncodeError::FrameTooLarge { .. })));
    }
}
