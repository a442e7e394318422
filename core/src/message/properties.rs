//! Message properties: the `key\x01value\x02key\x01value\x02...` string of a stored record.
//!
//! Format invariants (RocketMQ's `MessageDecoder.messageProperties2String`):
//! - Each pair is written as the key's UTF-8, `\x01` (NAME_VALUE_SEPARATOR), the value's UTF-8,
//!   `\x02` (PROPERTY_SEPARATOR). An empty property set is zero bytes.
//! - Keys and values therefore may not contain `\x01` or `\x02`; writing one is refused.
//! - Keys are unique. Java keeps them in a `HashMap`; Petrel keeps insertion order so that
//!   encoding is deterministic and decode(encode(p)) == p.
//!
//! Decoding is strict except where Java writers differ: the trailing `\x02` may be missing, and
//! an empty value is kept (Java's reader drops pairs with empty values; its writer emits them).

use compact_str::CompactString;

use super::error::{RecordError, RecordField};

/// Separates a key from its value.
pub const NAME_VALUE_SEPARATOR: u8 = 0x01;
/// Ends a key/value pair.
pub const PROPERTY_SEPARATOR: u8 = 0x02;

/// Well-known property keys (RocketMQ's `MessageConst`), with their exact Java string values.
pub mod keys {
    /// Space-separated business keys, indexed by the IndexFile.
    pub const KEYS: &str = "KEYS";
    /// The message's tag, hashed into the ConsumeQueue unit.
    pub const TAGS: &str = "TAGS";
    /// Delay level (1-based) of a scheduled message.
    pub const DELAY: &str = "DELAY";
    /// The producer-generated unique message id.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// Whether the producer waits for the store to be flushed/replicated ("true"/"false").
    pub const WAIT: &str = "WAIT";
    /// "true" on a transaction's half message.
    pub const TRAN_MSG: &str = "TRAN_MSG";
    /// Producer group of a transaction message (for check-back).
    pub const PGROUP: &str = "PGROUP";
    /// Original topic of a message parked in a system topic (delay, transaction half).
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    /// Original queue id of a message parked in a system topic.
    pub const REAL_QID: &str = "REAL_QID";
    /// Original topic of a message sent back for retry.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Message id of the original message of a retry.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    /// Queue max offset attached by the broker to pulled messages.
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    /// Queue min offset attached by the broker to pulled messages.
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    /// Region of the broker that stored the message.
    pub const MSG_REGION: &str = "MSG_REGION";
    /// Whether message tracing is on.
    pub const TRACE_ON: &str = "TRACE_ON";
    /// Seconds before the first transaction check-back of a half message.
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    /// Times a message has been re-consumed (set on retry).
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    /// Per-message override of the maximum re-consume times.
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// Queue offset of a transaction's half message.
    pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
    /// Times a half message has been checked back.
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
}

/// Separates keys inside the KEYS property.
pub const KEY_SEPARATOR: char = ' ';

/// Pairs `Properties::decode` makes room for before it reads any.
const PROPERTIES_TYPICAL: usize = 8;

/// An insertion-ordered set of (key, value) properties with unique keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// The pairs in insertion order; keys are unique (every mutation goes through `set`).
    /// Inline strings: names and most values are short, and every consumed message decodes
    /// its properties.
    entries: Vec<(CompactString, CompactString)>,
}

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`: replaces the value in place if the key exists, else appends.
    pub fn set(&mut self, key: impl Into<CompactString>, value: impl Into<CompactString>) {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`, returning its value if it was present.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1.into_string())
    }

    /// The pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The TAGS property.
    pub fn tags(&self) -> Option<&str> {
        self.get(keys::TAGS)
    }

    /// The KEYS property split on spaces, empty pieces skipped.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.get(keys::KEYS).unwrap_or("").split(KEY_SEPARATOR).filter(|key| !key.is_empty())
    }

    /// The UNIQ_KEY property (the producer's message id).
    pub fn uniq_key(&self) -> Option<&str> {
        self.get(keys::UNIQ_KEY)
    }

    /// Bytes `encode_into` writes.
    pub fn encoded_len(&self) -> usize {
        self.entries.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
    }

    /// Refuses keys or values that contain a separator byte: they cannot be encoded faithfully.
    pub fn validate(&self) -> Result<(), RecordError> {
        let has_separator = |s: &str| s.bytes().any(|b| b == NAME_VALUE_SEPARATOR || b == PROPERTY_SEPARATOR);
        match self.entries.iter().find(|(k, v)| has_separator(k) || has_separator(v)) {
            Some((key, _)) => Err(RecordError::PropertySeparator { key: key.to_string() }),
            None => Ok(()),
        }
    }

    /// Appends `key\x01value\x02` for every pair. Callers that write records call `validate`
    /// first; a separator inside a key or value is a broken invariant here.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        debug_assert!(self.validate().is_ok(), "property contains a separator byte");
        let start = out.len();
        for (key, value) in &self.entries {
            out.extend_from_slice(key.as_bytes());
            out.push(NAME_VALUE_SEPARATOR);
            out.extend_from_slice(value.as_bytes());
            out.push(PROPERTY_SEPARATOR);
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
    }

    /// Parses a properties string. Accepts a missing final `\x02`; rejects invalid UTF-8, a pair
    /// without exactly one `\x01`, an empty pair before the end, and duplicate keys.
    pub fn decode(bytes: &[u8]) -> Result<Properties, RecordError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8 { field: RecordField::Properties })?;
        if text.is_empty() {
            return Ok(Properties::new());
        }
        let text = text.strip_suffix(char::from(PROPERTY_SEPARATOR)).unwrap_or(text);
        // Room for the properties a produced message carries (KEYS, UNIQ_KEY, WAIT, TAGS and
        // the broker's additions), so the vector rarely grows.
        let mut properties = Properties { entries: Vec::with_capacity(PROPERTIES_TYPICAL) };
        // One pass over the bytes (every consumed message comes through here), eight at a
        // time between separators. The separators are ASCII, so slicing the text at them
        // always lands on character boundaries.
        let raw = text.as_bytes();
        let (mut start, mut name_end, mut at) = (0, None, 0);
        loop {
            at = next_low_byte(raw, at);
            // The end of the text closes the last pair as a PROPERTY_SEPARATOR would.
            let byte = raw.get(at).copied().unwrap_or(PROPERTY_SEPARATOR);
            if byte == NAME_VALUE_SEPARATOR {
                if name_end.is_some() {
                    return Err(RecordError::BadProperties { reason: "pair with two name/value separators" });
                }
                name_end = Some(at);
            } else if byte == PROPERTY_SEPARATOR {
                let Some(end) = name_end.take() else {
                    return Err(RecordError::BadProperties { reason: "pair without a name/value separator" });
                };
                let (key, value) = (&text[start..end], &text[end + 1..at]);
                if properties.get(key).is_some() {
                    return Err(RecordError::BadProperties { reason: "duplicate key" });
                }
                properties.entries.push((CompactString::from(key), CompactString::from(value)));
                start = at + 1;
            }
            if at >= raw.len() {
                break;
            }
            at += 1;
        }
        Ok(properties)
    }
}

/// The index of the first byte of `raw` at or after `from` that is below 3 (a separator, or
/// a NUL the caller skips), else `raw.len()`. Eight bytes at a time: in `word - 0x03..03`, a
/// byte below 3 borrows into its own top bit while that bit was clear in `word`; borrows can
/// mark later bytes falsely, never earlier ones, so the lowest marked byte is the first one.
fn next_low_byte(raw: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(chunk) = raw.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0xff; 8]));
        let marked = word.wrapping_sub(3 * ONES) & !word & TOPS;
        if marked != 0 {
            return at + (marked.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < raw.len() && raw[at] > 2 {
        at += 1;
    }
    at
}

impl<K: Into<CompactString>, V: Into<CompactString>> FromIterator<(K, V)> for Properties {
    /// Collects pairs with `set` semantics: a repeated key keeps its first position, last value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut properties = Properties::new();
        for (key, value) in iter {
            properties.set(key, value);
        }
        properties
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The format read the obvious way, piece by piece, for the differential test.
    fn split_reading(bytes: &[u8]) -> Result<Properties, RecordError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8 { field: RecordField::Properties })?;
        let mut properties = Properties::new();
        if text.is_empty() {
            return Ok(properties);
        }
        let text = text.strip_suffix(char::from(PROPERTY_SEPARATOR)).unwrap_or(text);
        for pair in text.split(char::from(PROPERTY_SEPARATOR)) {
            let Some((key, value)) = pair.split_once(char::from(NAME_VALUE_SEPARATOR)) else {
                return Err(RecordError::BadProperties { reason: "pair without a name/value separator" });
            };
            if value.as_bytes().contains(&NAME_VALUE_SEPARATOR) {
                return Err(RecordError::BadProperties { reason: "pair with two name/value separators" });
            }
            if properties.get(key).is_some() {
                return Err(RecordError::BadProperties { reason: "duplicate key" });
            }
            properties.entries.push((CompactString::from(key), CompactString::from(value)));
        }
        Ok(properties)
    }

    fn encode(properties: &Properties) -> Vec<u8> {
        let mut out = Vec::new();
        properties.encode_into(&mut out);
        out
    }

    /// `set` replaces in place (order kept) or appends; `remove` takes a key out.
    #[test]
    fn set_replaces_in_place_and_remove_removes() {
        let mut p = Properties::new();
        p.set(keys::TAGS, "A");
        p.set(keys::KEYS, "k1 k2");
        p.set(keys::TAGS, "B");
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![("TAGS", "B"), ("KEYS", "k1 k2")]);
        assert_eq!(p.remove(keys::TAGS).as_deref(), Some("B"));
        assert_eq!(p.remove(keys::TAGS), None);
        assert_eq!(p.len(), 1);
    }

    /// The wire form is `key\x01value\x02` per pair, in insertion order.
    #[test]
    fn encodes_pairs_with_separators() {
        let p: Properties = [("TAGS", "TagA"), ("KEYS", "k1")].into_iter().collect();
        assert_eq!(encode(&p), b"TAGS\x01TagA\x02KEYS\x01k1\x02".to_vec());
        assert_eq!(p.encoded_len(), encode(&p).len());
        assert_eq!(encode(&Properties::new()), Vec::<u8>::new());
    }

    /// Decoding accepts a missing trailing separator and keeps empty values.
    #[test]
    fn decode_is_lenient_about_the_trailing_separator() {
        let p = Properties::decode(b"TAGS\x01TagA\x02KEYS\x01k1").expect("valid properties");
        assert_eq!(p.tags(), Some("TagA"));
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["k1"]);
        let p = Properties::decode(b"A\x01\x02").expect("empty value");
        assert_eq!(p.get("A"), Some(""));
        assert!(Properties::decode(b"").expect("empty").is_empty());
    }

    /// Each malformation is rejected with its own typed error.
    #[test]
    fn decode_rejects_malformed_text() {
        let bad = |bytes: &[u8]| Properties::decode(bytes).expect_err("must be rejected");
        assert!(matches!(bad(b"TAGS"), RecordError::BadProperties { .. }));
        assert!(matches!(bad(b"A\x01b\x01c\x02"), RecordError::BadProperties { .. }));
        assert!(matches!(bad(b"A\x01b\x02\x02B\x01c\x02"), RecordError::BadProperties { .. }));
        assert!(matches!(bad(b"A\x01b\x02A\x01c\x02"), RecordError::BadProperties { .. }));
        assert!(matches!(bad(b"\x02"), RecordError::BadProperties { .. }));
        assert_eq!(bad(b"A\x01\xff\x02"), RecordError::InvalidUtf8 { field: RecordField::Properties });
    }

    /// KEYS splits on spaces and skips empty pieces; missing KEYS yields nothing.
    #[test]
    fn keys_split_on_spaces() {
        let mut p = Properties::new();
        assert_eq!(p.keys().count(), 0);
        p.set(keys::KEYS, " order-1  order-2 ");
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["order-1", "order-2"]);
    }

    /// A separator inside a key or value is refused before it could corrupt a record.
    #[test]
    fn validate_refuses_separators() {
        let mut p = Properties::new();
        p.set("ok", "fine");
        assert_eq!(p.validate(), Ok(()));
        p.set("bad", "x\x02y");
        assert_eq!(p.validate(), Err(RecordError::PropertySeparator { key: "bad".into() }));
    }

    fn arb_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[^\x01\x02]{0,12}").expect("valid regex")
    }

    proptest! {
        /// The word-at-a-time scan stops where a byte-by-byte one would.
        #[test]
        fn next_low_byte_finds_what_a_byte_scan_finds(
            raw in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(0x80), Just(0x82), Just(0x83), any::<u8>()], 0..48),
            from in 0usize..48,
        ) {
            let from = from.min(raw.len());
            let expected = raw[from..].iter().position(|byte| *byte < 3).map_or(raw.len(), |i| from + i);
            prop_assert_eq!(next_low_byte(&raw, from), expected);
        }
    }

    proptest! {
        /// Any separator-free properties decode back to exactly what was encoded.
        #[test]
        fn round_trip(pairs in proptest::collection::vec((arb_text(), arb_text()), 0..8)) {
            let p: Properties = pairs.into_iter().collect();
            let decoded = Properties::decode(&encode(&p));
            prop_assert_eq!(decoded, Ok(p));
        }

        /// The one-pass decoder agrees with a plain split-based reading of the format on
        /// any input built from separators and a few letters: same pairs, same error.
        #[test]
        fn decode_matches_split_reading(bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'b', 0xC3, 0xA9, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]), 0..24)) {
            prop_assert_eq!(Properties::decode(&bytes), split_reading(&bytes));
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Properties::decode(&bytes);
        }
    }
}
