//! The ROCKETMQ binary header (serialize type 1), as Java's `RocketMQSerializable` writes it.
//!
//! Layout, all integers big-endian:
//!
//! ```text
//! i16 code | u8 language | i16 version | i32 opaque | i32 flag
//! i32 remark_len | remark (UTF-8; len 0 = no remark)
//! i32 ext_len    | ext_len bytes of entries: { i16 key_len | key | i32 val_len | val }*
//! ```
//!
//! Invariants the decoder checks (each has its own `FrameError`): every length is >= 0, every
//! field fits in what is left of the header (entries fit in `ext_len`), text is UTF-8, and the
//! header ends exactly after the ext section. An unknown language byte is read as OTHER, as
//! lenient as the JSON header. An empty remark or empty extFields cannot be told from none.
//!
//! Fast paths, same bytes: an `ExtFields` whose text is laid out as this ext section (see
//! `ext_fields.rs`) is copied out whole, and a section in that layout is taken whole after one
//! UTF-8 check; any other section is read field by field, which is where every error is found.

use bytes::{BufMut, BytesMut};

use super::code::{LanguageCode, SerializeType};
use super::command::RemotingCommand;
use super::error::{EncodeError, FrameError};
use super::ext_fields::{ExtFields, WIRE_LENGTH_FIELDS_BYTES};
use super::frame::HEADER_SIZE_MAX_BYTES;

/// Bytes of the fixed part: code 2, language 1, version 2, opaque 4, flag 4.
pub(crate) const FIXED_PART_BYTES: usize = 2 + 1 + 2 + 4 + 4;
/// Bytes of a header with no remark and no extFields: fixed part plus two i32 lengths.
pub(crate) const HEADER_MIN_BYTES: usize = FIXED_PART_BYTES + 4 + 4;
const _: () = assert!(HEADER_MIN_BYTES == 21);
const _: () = assert!(WIRE_LENGTH_FIELDS_BYTES == 2 + 4);

/// Appends the binary header of `command` to `out`. Checks every length before writing, so on
/// error nothing was appended.
pub(crate) fn encode(command: &RemotingCommand, out: &mut BytesMut) -> Result<(), EncodeError> {
    let code =
        i16::try_from(command.code).map_err(|_| EncodeError::FieldOutOfRange { field: "code", value: command.code })?;
    let version = i16::try_from(command.version)
        .map_err(|_| EncodeError::FieldOutOfRange { field: "version", value: command.version })?;
    let remark = command.remark.as_deref().unwrap_or_default().as_bytes();
    let ext_len_bytes = ext_section_len(&command.ext_fields)?;
    let header_len_bytes = HEADER_MIN_BYTES.saturating_add(remark.len()).saturating_add(ext_len_bytes);
    if header_len_bytes > HEADER_SIZE_MAX_BYTES {
        return Err(EncodeError::HeaderTooLarge { header_len_bytes });
    }
    // Both lengths are below HEADER_SIZE_MAX_BYTES (24 bits), so they fit an i32.
    let remark_len = i32::try_from(remark.len()).map_err(|_| EncodeError::HeaderTooLarge { header_len_bytes })?;
    let ext_len = i32::try_from(ext_len_bytes).map_err(|_| EncodeError::HeaderTooLarge { header_len_bytes })?;

    let end = out.len() + header_len_bytes;
    out.reserve(header_len_bytes);
    // The fixed part and the remark's length in one copy.
    let mut fixed = [0u8; FIXED_PART_BYTES + 4];
    fixed[0..2].copy_from_slice(&code.to_be_bytes());
    fixed[2] = command.language.as_u8();
    fixed[3..5].copy_from_slice(&version.to_be_bytes());
    fixed[5..9].copy_from_slice(&command.opaque.to_be_bytes());
    fixed[9..13].copy_from_slice(&command.flag.to_be_bytes());
    fixed[13..17].copy_from_slice(&remark_len.to_be_bytes());
    out.put_slice(&fixed);
    out.put_slice(remark);
    out.put_slice(&ext_len.to_be_bytes());
    match command.ext_fields.wire_section() {
        Some(section) => out.put_slice(section),
        None => {
            for (key, value) in &command.ext_fields {
                // Lengths were checked by ext_section_len.
                out.put_slice(&(key.len() as i16).to_be_bytes());
                out.put_slice(key.as_bytes());
                out.put_slice(&(value.len() as i32).to_be_bytes());
                out.put_slice(value.as_bytes());
            }
        }
    }
    assert_eq!(out.len(), end, "binary header length as computed");
    Ok(())
}

/// The byte length of the ext section, checking each key fits an i16 length.
fn ext_section_len(fields: &ExtFields) -> Result<usize, EncodeError> {
    if let Some(section) = fields.wire_section() {
        return Ok(section.len());
    }
    let mut total: usize = 0;
    for (key, value) in fields {
        if key.len() > i16::MAX as usize {
            return Err(EncodeError::KeyTooLong { key_len_bytes: key.len() });
        }
        let entry = WIRE_LENGTH_FIELDS_BYTES + key.len() + value.len();
        total = total.saturating_add(entry);
        if total > HEADER_SIZE_MAX_BYTES {
            return Err(EncodeError::HeaderTooLarge { header_len_bytes: total });
        }
    }
    Ok(total)
}

/// Bytes of the binary header of `command`, for sizing a buffer; exact unless an encode error
/// is coming.
pub(crate) fn encoded_len_bytes(command: &RemotingCommand) -> usize {
    let remark_len_bytes = command.remark.as_ref().map_or(0, String::len);
    let ext_len_bytes = ext_section_len(&command.ext_fields).unwrap_or(0);
    HEADER_MIN_BYTES.saturating_add(remark_len_bytes).saturating_add(ext_len_bytes)
}

/// Decodes a whole binary header. The returned command has no body.
pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let mut reader = Reader { rest: header };
    let code = i16::from_be_bytes(reader.array("code")?);
    let [language] = reader.array::<1>("language")?;
    let version = i16::from_be_bytes(reader.array("version")?);
    let opaque = i32::from_be_bytes(reader.array("opaque")?);
    let flag = i32::from_be_bytes(reader.array("flag")?);
    let remark_bytes = reader.i32_prefixed("remark")?;
    let remark = match remark_bytes {
        [] => None,
        bytes => Some(utf8(bytes, "remark")?.to_owned()),
    };
    let ext_section = reader.i32_prefixed("extFields")?;
    let ext_fields = decode_ext_section(ext_section)?;
    if !reader.rest.is_empty() {
        return Err(FrameError::TrailingHeaderBytes { section: "binary header", trailing_bytes: reader.rest.len() });
    }
    Ok(RemotingCommand {
        code: i32::from(code),
        language: LanguageCode::from_u8(language).unwrap_or(LanguageCode::Other),
        version: i32::from(version),
        opaque,
        flag,
        remark,
        ext_fields,
        body: None,
        serialize_type: SerializeType::RocketMq,
    })
}

/// Decodes the ext section's entries; a later duplicate key wins, as in Java's `HashMap.put`.
/// A section in the layout an `ExtFields` keeps as its text (keys in order, every length below
/// 128, UTF-8: what Petrel sends) is taken whole; any other (Java writes a `HashMap`'s order) is
/// read field by field.
fn decode_ext_section(section: &[u8]) -> Result<ExtFields, FrameError> {
    match ExtFields::from_wire_section(section) {
        Some(fields) => Ok(fields),
        None => decode_ext_section_by_field(section),
    }
}

/// Decodes the ext section one entry at a time, checking each length and each text in wire
/// order, so the first fault in the section is the error reported.
fn decode_ext_section_by_field(section: &[u8]) -> Result<ExtFields, FrameError> {
    let mut reader = Reader { rest: section };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while !reader.rest.is_empty() {
        let key_len = i16::from_be_bytes(reader.array("extFields key length")?);
        let key_len = usize::try_from(key_len)
            .map_err(|_| FrameError::NegativeFieldLength { field: "extFields key", len: i32::from(key_len) })?;
        let key = utf8(reader.take(key_len, "extFields key")?, "extFields key")?;
        let value = utf8(reader.i32_prefixed("extFields value")?, "extFields value")?;
        pairs.push((key, value));
    }
    // Sorted in O(n log n), the last value of a key winning, whatever order the peer used.
    Ok(ExtFields::from_pairs(pairs))
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, FrameError> {
    std::str::from_utf8(bytes).map_err(|_| FrameError::InvalidUtf8 { field })
}

/// A cursor over header bytes that never reads past the end.
struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], FrameError> {
        if len > self.rest.len() {
            return Err(FrameError::TruncatedBinaryHeader {
                field,
                needed_bytes: len,
                remaining_bytes: self.rest.len(),
            });
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FrameError> {
        match self.rest.split_first_chunk::<N>() {
            Some((taken, rest)) => {
                self.rest = rest;
                Ok(*taken)
            }
            None => Err(FrameError::TruncatedBinaryHeader { field, needed_bytes: N, remaining_bytes: self.rest.len() }),
        }
    }

    /// An i32 length (which must be >= 0) followed by that many bytes.
    fn i32_prefixed(&mut self, field: &'static str) -> Result<&'a [u8], FrameError> {
        let len = i32::from_be_bytes(self.array(field)?);
        let len = usize::try_from(len).map_err(|_| FrameError::NegativeFieldLength { field, len })?;
        self.take(len, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with a remark and one ext field, written by hand from the layout above.
    fn hand_built_header() -> Vec<u8> {
        vec![
            0x00, 0x0A, // code 10 SEND_MESSAGE
            0x00, // language JAVA
            0x01, 0x91, // version 401
            0x00, 0x00, 0x00, 0x07, // opaque 7
            0x00, 0x00, 0x00, 0x02, // flag: one-way
            0x00, 0x00, 0x00, 0x02, b'h', b'i', // remark "hi"
            0x00, 0x00, 0x00, 0x0C, // ext section: 12 bytes
            0x00, 0x05, b't', b'o', b'p', b'i', b'c', // key "topic"
            0x00, 0x00, 0x00, 0x01, b'T', // value "T"
        ]
    }

    fn hand_built_command() -> RemotingCommand {
        RemotingCommand {
            code: 10,
            language: LanguageCode::Java,
            version: 401,
            opaque: 7,
            flag: 2,
            remark: Some("hi".into()),
            ext_fields: [("topic".to_owned(), "T".to_owned())].into_iter().collect(),
            body: None,
            serialize_type: SerializeType::RocketMq,
        }
    }

    /// The encoder writes exactly the hand-built bytes, and the decoder reads them back.
    #[test]
    fn matches_hand_built_bytes() {
        let mut out = BytesMut::new();
        assert_eq!(encode(&hand_built_command(), &mut out), Ok(()));
        assert_eq!(&out[..], &hand_built_header()[..]);
        assert_eq!(decode(&hand_built_header()), Ok(hand_built_command()));
    }

    /// A header cut anywhere inside a field is TruncatedBinaryHeader naming that field.
    #[test]
    fn every_cut_is_truncated() {
        let header = hand_built_header();
        assert_eq!(
            decode(&header[..1]),
            Err(FrameError::TruncatedBinaryHeader { field: "code", needed_bytes: 2, remaining_bytes: 1 })
        );
        assert_eq!(
            decode(&header[..18]),
            Err(FrameError::TruncatedBinaryHeader { field: "remark", needed_bytes: 2, remaining_bytes: 1 })
        );
        for cut in 0..header.len() {
            assert!(
                matches!(decode(&header[..cut]), Err(FrameError::TruncatedBinaryHeader { .. })),
                "cut at {cut}: {:?}",
                decode(&header[..cut])
            );
        }
    }

    /// An ext entry longer than the ext section is truncated even if the header has more bytes.
    #[test]
    fn entry_past_ext_section_is_truncated() {
        let mut header = hand_built_header();
        header[22] = 0x0B; // ext section claims 11 bytes; the value byte falls outside it
        assert_eq!(
            decode(&header),
            Err(FrameError::TruncatedBinaryHeader { field: "extFields value", needed_bytes: 1, remaining_bytes: 0 })
        );
    }

    /// Negative remark, ext, key and value lengths are NegativeFieldLength.
    #[test]
    fn negative_lengths_are_rejected() {
        let mut header = hand_built_header();
        header[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(decode(&header), Err(FrameError::NegativeFieldLength { field: "remark", len: -1 }));
        let mut header = hand_built_header();
        header[19..23].copy_from_slice(&i32::MIN.to_be_bytes());
        assert_eq!(decode(&header), Err(FrameError::NegativeFieldLength { field: "extFields", len: i32::MIN }));
        let mut header = hand_built_header();
        header[23..25].copy_from_slice(&(-5i16).to_be_bytes());
        assert_eq!(decode(&header), Err(FrameError::NegativeFieldLength { field: "extFields key", len: -5 }));
        let mut header = hand_built_header();
        header[30..34].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(decode(&header), Err(FrameError::NegativeFieldLength { field: "extFields value", len: -2 }));
    }

    /// Bytes after the ext section are TrailingHeaderBytes.
    #[test]
    fn trailing_bytes_are_rejected() {
        let mut header = hand_built_header();
        header.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode(&header),
            Err(FrameError::TrailingHeaderBytes { section: "binary header", trailing_bytes: 2 })
        );
    }

    /// Non-UTF-8 remark, key and value are InvalidUtf8 naming the field.
    #[test]
    fn invalid_utf8_is_rejected() {
        for (index, field) in [(17, "remark"), (25, "extFields key"), (34, "extFields value")] {
            let mut header = hand_built_header();
            header[index] = 0xFF;
            assert_eq!(decode(&header), Err(FrameError::InvalidUtf8 { field }));
        }
    }

    /// An unknown language byte reads as OTHER instead of failing.
    #[test]
    fn unknown_language_is_other() {
        let mut header = hand_built_header();
        header[2] = 200;
        assert_eq!(decode(&header).map(|c| c.language), Ok(LanguageCode::Other));
    }

    /// Codes and versions beyond i16, and keys beyond i16 length, are encode errors, with
    /// nothing appended.
    #[test]
    fn encode_rejects_what_the_layout_cannot_hold() {
        let mut out = BytesMut::new();
        let mut command = hand_built_command();
        command.code = 40_000;
        assert_eq!(encode(&command, &mut out), Err(EncodeError::FieldOutOfRange { field: "code", value: 40_000 }));
        let mut command = hand_built_command();
        command.version = -40_000;
        assert_eq!(encode(&command, &mut out), Err(EncodeError::FieldOutOfRange { field: "version", value: -40_000 }));
        let mut command = hand_built_command();
        command.ext_fields.insert("k".repeat(40_000), String::new());
        assert_eq!(encode(&command, &mut out), Err(EncodeError::KeyTooLong { key_len_bytes: 40_000 }));
        let mut command = hand_built_command();
        command.remark = Some("r".repeat(HEADER_SIZE_MAX_BYTES));
        assert!(matches!(encode(&command, &mut out), Err(EncodeError::HeaderTooLarge { .. })));
        assert!(out.is_empty());
    }

    mod reference {
        //! The ext section read and written the plain way, one field at a time into a
        //! `BTreeMap`, as the layout says: what the fast paths must agree with.

        use std::collections::BTreeMap;

        use super::super::FrameError;

        /// Reads `section` field by field; a later duplicate key wins.
        pub fn read(mut section: &[u8]) -> Result<BTreeMap<String, String>, FrameError> {
            let mut fields = BTreeMap::new();
            while !section.is_empty() {
                let key = take(&mut section, 2, "extFields key length", "extFields key")?;
                let key = String::from_utf8(key.to_vec()).map_err(|_| utf8("extFields key"))?;
                let value = take(&mut section, 4, "extFields value", "extFields value")?;
                let value = String::from_utf8(value.to_vec()).map_err(|_| utf8("extFields value"))?;
                fields.insert(key, value);
            }
            Ok(fields)
        }

        fn utf8(field: &'static str) -> FrameError {
            FrameError::InvalidUtf8 { field }
        }

        /// A big-endian length of `width` bytes (named `len_field`), then that many bytes
        /// (named `field`), from the front of `rest`.
        fn take<'a>(
            rest: &mut &'a [u8],
            width: usize,
            len_field: &'static str,
            field: &'static str,
        ) -> Result<&'a [u8], FrameError> {
            if rest.len() < width {
                return Err(FrameError::TruncatedBinaryHeader {
                    field: len_field,
                    needed_bytes: width,
                    remaining_bytes: rest.len(),
                });
            }
            let len = match width {
                2 => i32::from(i16::from_be_bytes([rest[0], rest[1]])),
                _ => i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
            };
            *rest = &rest[width..];
            let Ok(len) = usize::try_from(len) else {
                return Err(FrameError::NegativeFieldLength { field, len });
            };
            if rest.len() < len {
                return Err(FrameError::TruncatedBinaryHeader {
                    field,
                    needed_bytes: len,
                    remaining_bytes: rest.len(),
                });
            }
            let (taken, left) = rest.split_at(len);
            *rest = left;
            Ok(taken)
        }

        /// The section of `fields`, in key order.
        pub fn write(fields: &BTreeMap<String, String>) -> Vec<u8> {
            let mut section = Vec::new();
            for (key, value) in fields {
                section.extend_from_slice(&(key.len() as i16).to_be_bytes());
                section.extend_from_slice(key.as_bytes());
                section.extend_from_slice(&(value.len() as i32).to_be_bytes());
                section.extend_from_slice(value.as_bytes());
            }
            section
        }
    }

    use proptest::prelude::*;

    /// Keys and values of every kind the layouts tell apart: short ASCII, a length at the wire
    /// layout's edge (127, 128), arbitrary Unicode.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-e]{0,3}", "[a-z]{126,129}", any::<String>()]
    }

    /// Ext sections as peers may send them: fields in key order (as Petrel writes them) or not,
    /// keys repeated or not, then maybe some bytes overwritten and the section cut short.
    fn section() -> impl Strategy<Value = Vec<u8>> {
        let fields = proptest::collection::vec((text(), text()), 0..8);
        let mutations = proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
        let shape = (fields, 0..3, mutations, any::<bool>(), any::<prop::sample::Index>());
        shape.prop_map(|(mut fields, order, mutations, cut, at)| {
            // 0: as generated; 1: in key order, repeats side by side; 2: in key order, unique.
            if order > 0 {
                fields.sort();
            }
            if order > 1 {
                fields.dedup_by(|a, b| a.0 == b.0);
            }
            let mut section = Vec::new();
            for (key, value) in &fields {
                section.extend_from_slice(&(key.len() as i16).to_be_bytes());
                section.extend_from_slice(key.as_bytes());
                section.extend_from_slice(&(value.len() as i32).to_be_bytes());
                section.extend_from_slice(value.as_bytes());
            }
            for (index, byte) in mutations {
                if !section.is_empty() {
                    let at = index.index(section.len());
                    section[at] = byte;
                }
            }
            if cut {
                section.truncate(at.index(section.len() + 1));
            }
            section
        })
    }

    proptest! {
        /// Any ext section decodes as the reference reads it, the same fields or the same
        /// error; a section the whole-section path takes reads the same field by field.
        #[test]
        fn ext_section_decodes_as_the_reference(section in section()) {
            let ours = decode_ext_section(&section);
            if let Ok(fields) = &ours {
                fields.assert_invariants();
            }
            let ours = ours.map(|fields| fields.into_iter().collect());
            prop_assert_eq!(&ours, &reference::read(&section));
            if let Some(taken) = ExtFields::from_wire_section(&section) {
                prop_assert_eq!(Ok(taken), decode_ext_section_by_field(&section));
            }
        }

        /// The encoder writes the reference's section for any fields (short ones from the wire
        /// layout, others from the long one), after the fixed part and the remark.
        #[test]
        fn ext_section_encodes_as_the_reference(
            fields in proptest::collection::btree_map(text(), text(), 0..8),
            remark in proptest::option::of("[a-z]{0,5}"),
        ) {
            let command = RemotingCommand {
                remark: remark.clone(),
                ext_fields: fields.iter().collect(),
                ..hand_built_command()
            };
            let mut out = BytesMut::new();
            prop_assert_eq!(encode(&command, &mut out), Ok(()));
            prop_assert_eq!(encoded_len_bytes(&command), out.len());
            let section = reference::write(&fields);
            let remark_len = remark.as_ref().map_or(0, String::len);
            let ext_at = FIXED_PART_BYTES + 4 + remark_len;
            prop_assert_eq!(&out[ext_at..ext_at + 4], &(section.len() as i32).to_be_bytes()[..]);
            prop_assert_eq!(&out[ext_at + 4..], &section[..]);
            prop_assert_eq!(decode(&out).map(|decoded| decoded.ext_fields), Ok(command.ext_fields));
        }
    }
}
