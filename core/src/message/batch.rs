//! The body of a SEND_BATCH_MESSAGE request (RocketMQ 4.x `MessageDecoder.encodeMessages`).
//!
//! The body is messages back to back, each (big-endian):
//!
//! | field      | size                                             |
//! |------------|--------------------------------------------------|
//! | TOTALSIZE  | i32, this message's bytes                        |
//! | MAGICCODE  | i32, written as 0 by Java clients, not checked   |
//! | BODYCRC    | i32, written as 0 by Java clients, not checked   |
//! | FLAG       | i32                                              |
//! | BODY       | i32 length + bytes                               |
//! | PROPERTIES | i16 length + `key\x01value\x02...`               |
//!
//! The topic and queue travel in the request header, so decoded messages take the topic from the
//! caller. The broker computes each body's CRC itself when it stores the messages. Unlike Java's
//! decoder (which ignores TOTALSIZE), Petrel requires TOTALSIZE to match the fields exactly.

use bytes::Bytes;

use super::error::{RecordError, RecordField};
use super::model::Message;
use super::properties::Properties;
use super::record::PROPERTIES_LEN_MAX_BYTES;
use super::wire::{Reader, Short};

/// Bytes of one batch entry besides its body and properties.
pub const BATCH_ENTRY_OVERHEAD_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;
/// Largest batch body: the producer's maximum message size applies to the whole batch (4 MiB).
pub const BATCH_BODY_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;

const _: () = assert!(BATCH_ENTRY_OVERHEAD_BYTES == 22);

/// Encodes messages as a batch body. Topics and transaction ids are not part of the format.
pub fn encode_batch(messages: &[Message]) -> Result<Bytes, RecordError> {
    let mut total = 0usize;
    for message in messages {
        message.properties.validate()?;
        let properties_len = message.properties.encoded_len();
        if properties_len > PROPERTIES_LEN_MAX_BYTES {
            return Err(RecordError::PropertiesTooLong { len: properties_len });
        }
        total = total.saturating_add(entry_len(message));
    }
    if total > BATCH_BODY_SIZE_MAX_BYTES {
        return Err(RecordError::TooLarge { size: total, max: BATCH_BODY_SIZE_MAX_BYTES });
    }
    let mut out = Vec::with_capacity(total);
    for message in messages {
        // Lengths are bounded by the checks above, so the conversions cannot truncate.
        out.extend_from_slice(&(entry_len(message) as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // MAGICCODE, as Java clients write it
        out.extend_from_slice(&0i32.to_be_bytes()); // BODYCRC, as Java clients write it
        out.extend_from_slice(&message.flag.to_be_bytes());
        out.extend_from_slice(&(message.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&message.body);
        out.extend_from_slice(&(message.properties.encoded_len() as i16).to_be_bytes());
        message.properties.encode_into(&mut out);
    }
    assert_eq!(out.len(), total, "batch length disagrees with its entries");
    Ok(Bytes::from(out))
}

fn entry_len(message: &Message) -> usize {
    BATCH_ENTRY_OVERHEAD_BYTES + message.body.len() + message.properties.encoded_len()
}

/// Decodes a batch body into messages of `topic`. Bodies are zero-copy slices of `body`.
pub fn decode_batch(body: Bytes, topic: &str) -> Result<Vec<Message>, RecordError> {
    if body.len() > BATCH_BODY_SIZE_MAX_BYTES {
        return Err(RecordError::TooLarge { size: body.len(), max: BATCH_BODY_SIZE_MAX_BYTES });
    }
    let mut messages = Vec::new();
    let mut pos = 0;
    // Every entry is at least BATCH_ENTRY_OVERHEAD_BYTES long: at most len / 22 iterations.
    while pos < body.len() {
        let (message, len) = decode_entry(&body, pos, topic)?;
        messages.push(message);
        pos += len;
    }
    Ok(messages)
}

/// Decodes the entry at `body[pos..]`; returns it and its length.
fn decode_entry(body: &Bytes, pos: usize, topic: &str) -> Result<(Message, usize), RecordError> {
    let rest = body.get(pos..).unwrap_or_default();
    let truncated = |short: Short| RecordError::Truncated { needed: short.needed, available: rest.len() };
    let total = Reader::new(rest).i32().map_err(truncated)?;
    let total = usize::try_from(total)
        .ok()
        .filter(|&total| total >= BATCH_ENTRY_OVERHEAD_BYTES)
        .ok_or(RecordError::BadTotalSize { size: i64::from(total) })?;
    let entry = rest.get(..total).ok_or(RecordError::Truncated { needed: total, available: rest.len() })?;

    let mismatch = |short: Short| RecordError::LengthMismatch { total_size: total, fields_len: short.needed };
    let mut r = Reader::new(entry);
    r.bytes(12).map_err(mismatch)?; // TOTALSIZE, MAGICCODE, BODYCRC
    let flag = r.i32().map_err(mismatch)?;
    let body_len = r.i32().map_err(mismatch)?;
    let body_len = usize::try_from(body_len)
        .map_err(|_| RecordError::NegativeLength { field: RecordField::Body, len: i64::from(body_len) })?;
    let body_start = pos + r.pos();
    r.bytes(body_len).map_err(mismatch)?;
    let properties_len = r.i16().map_err(mismatch)?;
    let properties_len = usize::try_from(properties_len)
        .map_err(|_| RecordError::NegativeLength { field: RecordField::Properties, len: i64::from(properties_len) })?;
    let properties = Properties::decode(r.bytes(properties_len).map_err(mismatch)?)?;
    if r.remaining() != 0 {
        return Err(RecordError::LengthMismatch { total_size: total, fields_len: r.pos() });
    }
    let message = Message {
        topic: topic.to_owned(),
        flag,
        properties,
        body: body.slice(body_start..body_start + body_len),
        transaction_id: None,
    };
    Ok((message, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One entry byte by byte: TOTALSIZE, zero magic, zero CRC, flag, body, properties.
    #[test]
    fn golden_entry() {
        let msg = Message::new("T", &b"hi"[..]).with_tags("A").with_flag(5);
        let body = encode_batch(std::slice::from_ref(&msg)).expect("encodable");
        let mut expected = Vec::new();
        expected.extend_from_slice(&31i32.to_be_bytes()); // 22 + 2 + 7
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&5i32.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"hi");
        expected.extend_from_slice(&7i16.to_be_bytes());
        expected.extend_from_slice(b"TAGS\x01A\x02");
        assert_eq!(body.to_vec(), expected);
        assert_eq!(decode_batch(body, "T"), Ok(vec![msg]));
    }

    /// Several messages round-trip, bodies and properties intact, topic from the caller.
    #[test]
    fn round_trip_several() {
        let messages = vec![
            Message::new("Orders", &b"one"[..]).with_keys(["k1"]),
            Message::new("Orders", Bytes::new()),
            Message::new("Orders", &b"three"[..]).with_property("UNIQ_KEY", "ABC").with_flag(-1),
        ];
        let body = encode_batch(&messages).expect("encodable");
        assert_eq!(decode_batch(body, "Orders"), Ok(messages));
        assert_eq!(decode_batch(Bytes::new(), "Orders"), Ok(vec![]));
    }

    /// Each kind of malformed entry is rejected with its own error.
    #[test]
    fn decode_rejects_malformed_entries() {
        let good = encode_batch(&[Message::new("T", &b"hi"[..])]).expect("encodable").to_vec();
        let decode = |bytes: Vec<u8>| decode_batch(Bytes::from(bytes), "T");
        assert!(matches!(decode(good[..10].to_vec()), Err(RecordError::Truncated { .. })));
        let mut short_total = good.clone();
        short_total[3] -= 1;
        assert!(matches!(decode(short_total), Err(RecordError::LengthMismatch { .. })));
        let mut negative_body = good.clone();
        negative_body[16] = 0xFF;
        assert!(matches!(decode(negative_body), Err(RecordError::NegativeLength { .. })));
        let mut tiny_total = good;
        tiny_total[3] = 3;
        assert!(matches!(decode(tiny_total), Err(RecordError::BadTotalSize { size: 3 })));
    }

    /// Separators in properties and oversized batches are refused when encoding.
    #[test]
    fn encode_refuses_what_the_format_cannot_hold() {
        let bad = Message::new("T", Bytes::new()).with_property("k", "a\x01b");
        assert!(matches!(encode_batch(&[bad]), Err(RecordError::PropertySeparator { .. })));
        let big = Message::new("T", vec![0u8; BATCH_BODY_SIZE_MAX_BYTES]);
        assert!(matches!(encode_batch(&[big]), Err(RecordError::TooLarge { .. })));
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let text = || proptest::string::string_regex("[^\x01\x02]{0,8}").expect("valid regex");
        (any::<i32>(), proptest::collection::vec(any::<u8>(), 0..64), proptest::collection::vec((text(), text()), 0..4))
            .prop_map(|(flag, body, pairs)| Message {
                topic: "BatchTopic".into(),
                flag,
                properties: pairs.into_iter().collect(),
                body: Bytes::from(body),
                transaction_id: None,
            })
    }

    proptest! {
        /// Any batch of encodable messages decodes back to the same messages.
        #[test]
        fn batch_round_trips(messages in proptest::collection::vec(arb_message(), 0..6)) {
            let body = encode_batch(&messages).expect("encodable");
            prop_assert_eq!(decode_batch(body, "BatchTopic"), Ok(messages));
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_batch(Bytes::from(bytes), "T");
        }
    }
}
