//! Property tests of the frame codec: round trips for both header types, incremental decoding at
//! every split point, and that arbitrary or corrupted bytes never panic.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::body::Body;
use super::code::{LanguageCode, SerializeType};
use super::command::RemotingCommand;
use super::frame::{decode_frame, encode_frame, encode_frame_prefix};

/// Arbitrary commands that the given header type can carry: unicode remark and extFields, no,
/// empty or some body. (The binary header holds code and version as i16.)
fn command_strategy(serialize_type: SerializeType) -> impl Strategy<Value = RemotingCommand> {
    let small_or_any = move || match serialize_type {
        SerializeType::Json => any::<i32>().boxed(),
        SerializeType::RocketMq => any::<i16>().prop_map(i32::from).boxed(),
    };
    (
        small_or_any(),
        proptest::sample::select(LanguageCode::ALL),
        small_or_any(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(any::<String>()),
        proptest::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    )
        .prop_map(move |(code, language, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
            code,
            language,
            version,
            opaque,
            flag,
            remark,
            ext_fields: ext_fields.into_iter().collect(),
            body: body.map(|body| Bytes::from(body).into()),
            serialize_type,
        })
}

fn any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![command_strategy(SerializeType::Json), command_strategy(SerializeType::RocketMq)]
}

/// What decoding gives back for `command`: the wire cannot tell an empty body from none, and the
/// binary header cannot tell an empty remark from none.
fn as_decoded(command: &RemotingCommand) -> RemotingCommand {
    let mut expected = command.clone();
    if expected.body.as_ref().is_some_and(Body::is_empty) {
        expected.body = None;
    }
    if expected.serialize_type == SerializeType::RocketMq && expected.remark.as_deref() == Some("") {
        expected.remark = None;
    }
    expected
}

fn encoded(command: &RemotingCommand) -> Result<BytesMut, TestCaseError> {
    let mut out = BytesMut::new();
    encode_frame(command, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(out)
}

/// Decodes frames from `bytes` until the decoder waits or fails, checking the buffer contract
/// (a frame consumes exactly its bytes, waiting and failing consume nothing) and that every
/// decoded command re-encodes to a frame that decodes to the same command.
fn decode_all_checked(bytes: &[u8]) -> Result<usize, TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    let mut decoded = 0;
    loop {
        let before = buf.clone();
        match decode_frame(&mut buf) {
            Ok(None) | Err(_) => {
                prop_assert_eq!(&buf, &before, "waiting or failing consumed bytes");
                return Ok(decoded);
            }
            Ok(Some(command)) => {
                prop_assert!(buf.len() + 8 <= before.len(), "a frame is at least 8 bytes");
                let mut again = BytesMut::new();
                if encode_frame(&command, &mut again).is_ok() {
                    prop_assert_eq!(decode_frame(&mut again), Ok(Some(command)));
                    prop_assert!(again.is_empty());
                }
                decoded += 1;
            }
        }
    }
}

proptest! {
    /// Any command encodes and decodes back to itself, with both header types, consuming
    /// exactly its frame; the prefix plus the body is the same frame.
    #[test]
    fn round_trip(command in any_command()) {
        let mut buf = encoded(&command)?;
        let frame_len = buf.len();
        let prefix = encode_frame_prefix(&command).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(frame_len, prefix.len() + command.body_len_bytes());
        prop_assert_eq!(decode_frame(&mut buf), Ok(Some(as_decoded(&command))));
        prop_assert!(buf.is_empty());
    }

    /// A body cut into parts at arbitrary points encodes byte for byte as the body in one
    /// piece, and decodes to the same command.
    #[test]
    fn multi_part_body_is_the_joined_body(
        command in any_command(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let joined = command.body_bytes().unwrap_or_default();
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(joined.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([joined.len()]) {
            parts.push(joined.slice(start..cut));
            start = cut;
        }
        let split = RemotingCommand { body: Some(Body::from_parts(parts)), ..command.clone() };
        let mut frame = encoded(&split)?;
        prop_assert_eq!(&frame, &encoded(&RemotingCommand { body: Some(joined.into()), ..command })?);
        prop_assert_eq!(decode_frame(&mut frame), Ok(Some(as_decoded(&split))));
    }

    /// Split at every byte boundary: the first part alone waits and consumes nothing; with the
    /// rest appended, the frame decodes to the same command as in one piece.
    #[test]
    fn split_at_every_boundary(command in any_command()) {
        let frame = encoded(&command)?;
        let expected = as_decoded(&command);
        for split in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..split]);
            prop_assert_eq!(decode_frame(&mut buf), Ok(None), "split at {}", split);
            prop_assert_eq!(buf.len(), split);
            buf.extend_from_slice(&frame[split..]);
            prop_assert_eq!(decode_frame(&mut buf), Ok(Some(expected.clone())), "split at {}", split);
            prop_assert!(buf.is_empty());
        }
    }

    /// Several frames fed in arbitrary chunks come out whole and in order.
    #[test]
    fn chunked_stream_of_frames(
        commands in proptest::collection::vec(any_command(), 1..4),
        chunk_lens in proptest::collection::vec(1usize..40, 1..50),
    ) {
        let mut stream = BytesMut::new();
        for command in &commands {
            stream.extend_from_slice(&encoded(command)?);
        }
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut chunks = chunk_lens.iter().cycle();
        while !stream.is_empty() {
            let chunk_len = chunks.next().copied().unwrap_or(1).min(stream.len());
            buf.extend_from_slice(&stream.split_to(chunk_len));
            while let Some(command) = decode_frame(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))? {
                decoded.push(command);
            }
        }
        let expected: Vec<RemotingCommand> = commands.iter().map(as_decoded).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert!(buf.is_empty());
    }

    /// Arbitrary bytes never panic; each call waits, decodes a frame or fails, as contracted.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all_checked(&bytes)?;
    }

    /// A plausible prefix (small length, JSON or binary type) over arbitrary header bytes reaches
    /// the header decoders with garbage; they never panic either.
    #[test]
    fn arbitrary_headers_never_panic(
        raw_type in 0u8..3,
        header in proptest::collection::vec(any::<u8>(), 0..256),
        body_len in 0usize..16,
    ) {
        let total_len = 4 + header.len() + body_len;
        let mut bytes = (total_len as i32).to_be_bytes().to_vec();
        bytes.push(raw_type);
        bytes.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
        bytes.extend_from_slice(&header);
        bytes.resize(4 + total_len, 0xAB);
        decode_all_checked(&bytes)?;
    }

    /// Valid frames with arbitrary bytes overwritten, and cut short, never panic.
    #[test]
    fn mutated_frames_never_panic(
        commands in proptest::collection::vec(any_command(), 1..3),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        for command in &commands {
            bytes.extend_from_slice(&encoded(command)?);
        }
        for (index, value) in mutations {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        decode_all_checked(&bytes)?;
        let keep = cut.index(bytes.len() + 1);
        decode_all_checked(&bytes[..keep])?;
    }
}
