//! `ExtFields`: a command's header fields, string keys to string values, kept sorted by key.
//!
//! Every request and response carries a dozen or so of these, written from a typed header,
//! framed by a header codec, and read back into a typed header on the other side, so the type is
//! made for that path: the fields are one string, `text`, in key order, each key and value
//! preceded by its length. No allocation per field, no index beside it, and the map is the size
//! of a `String` (a command is moved often, so its size counts).
//!
//! `text` is one of (invariants; `assert_invariants` checks them in tests):
//! - empty: no fields;
//! - `W` then the ROCKETMQ binary header's ext section of the fields,
//!   `{ i16 key_len | key | i32 value_len | value }*`, every length at most `WIRE_LEN_MAX` so that
//!   every length byte is ASCII. The binary encoder copies the section out whole, and the binary
//!   decoder takes a section in this layout whole, after one UTF-8 check (`from_wire_section`).
//!   Typed headers write this layout, and Petrel's peers send it.
//! - `L` then `{ u28 key_len | key | u28 value_len | value }*`, each length in four bytes of
//!   seven bits (ASCII too), big-endian: the layout for fields too long for the first.
//!
//! Keys are unique and in strictly increasing byte order, so iteration and both encoders see the
//! fields in key order. Adding a field after the last key appends it; any other change (a field
//! out of order, a replaced value, a removal) writes `text` anew, in O(n) as an insertion into a
//! sorted vector is. Builders from many fields (decoders, `FromIterator`) sort them first and
//! write once, in O(n log n) whatever order a peer used.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// Fields a decoder makes room for: as many as the largest common header (a pull request has
/// 11, a send 13), so decoding one grows its storage at most once.
pub const EXT_FIELDS_TYPICAL: usize = 16;

/// Longest key or value of the wire layout: the big-endian bytes of a length up to 127 are all
/// ASCII.
pub(crate) const WIRE_LEN_MAX: usize = 0x7F;

/// Bytes of the length fields before each field in the binary ext section: i16 key length and
/// i32 value length.
pub(crate) const WIRE_LENGTH_FIELDS_BYTES: usize = 2 + 4;

/// Longest key or value an `ExtFields` holds: four bytes of seven bits. (A frame is at most
/// 16 MiB, so no field from a peer comes near it.)
pub const FIELD_LEN_MAX_BYTES: usize = (1 << 28) - 1;

/// Bytes of one length in the long layout.
const LONG_LEN_BYTES: usize = 4;

/// Room reserved in `text` per field: the length fields, a short key, a short value (and the
/// tag, in what the first field leaves).
const TEXT_BYTES_PER_FIELD_TYPICAL: usize = 32;

/// First byte of a wire-layout text.
const WIRE_TAG: u8 = b'W';
/// First byte of a long-layout text.
const LONG_TAG: u8 = b'L';
/// Bytes of the tag.
const TAG_BYTES: usize = 1;

const _: () = assert!(FIELD_LEN_MAX_BYTES >= crate::remoting::frame::FRAME_SIZE_MAX_BYTES);
const _: () = assert!(WIRE_LEN_MAX < 0x80 && FIELD_LEN_MAX_BYTES >> (7 * LONG_LEN_BYTES) == 0);

/// Byte-wise order of two keys, as `str`'s `Ord`. Keys are short and usually differ in their
/// first bytes, so a plain loop beats a call to `memcmp` per comparison (measured: the calls
/// were a tenth of a simulated cluster's time).
fn cmp_key(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// `a == b`, testing the length and the first byte before comparing the rest, eight bytes at a
/// time: names of a header's fields mostly differ in length or first byte, and for names this
/// short a call to `bcmp` costs more than the comparison.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.first() != b.first() {
        return false;
    }
    let ((a_words, a_rest), (b_words, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let words_same = a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y));
    words_same && a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

/// How the fields after the tag are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The binary ext section.
    Wire,
    /// Lengths in four 7-bit bytes.
    Long,
}

/// Where one field's key and value are in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Byte offset of the key.
    key_start: usize,
    /// Byte offset just past the key.
    key_end: usize,
    /// Byte offset of the value.
    value_start: usize,
    /// Byte offset just past the value.
    value_end: usize,
}

/// A command's extFields. Iteration is in key order (byte order of the UTF-8 keys), the order
/// both header codecs write them in, so encoding is deterministic.
#[derive(Clone, Default)]
pub struct ExtFields {
    /// The fields in key order, laid out as the module documentation says.
    text: String,
}

impl ExtFields {
    /// No fields.
    pub fn new() -> Self {
        ExtFields::default()
    }

    /// No fields, with room for `capacity` typical ones without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        ExtFields { text: String::with_capacity(capacity * TEXT_BYTES_PER_FIELD_TYPICAL) }
    }

    /// Makes room for `additional` more fields of typical size.
    pub fn reserve(&mut self, additional: usize) {
        self.text.reserve(additional * TEXT_BYTES_PER_FIELD_TYPICAL);
    }

    /// How the fields are laid out (an empty text counts as the wire layout).
    fn layout(&self) -> Layout {
        match self.text.as_bytes().first() {
            Some(&LONG_TAG) => Layout::Long,
            _ => Layout::Wire,
        }
    }

    /// Where each field is, in key order.
    fn spans(&self) -> Spans<'_> {
        Spans { text: self.text.as_bytes(), at: TAG_BYTES, layout: self.layout() }
    }

    /// The key of the field at `entry`.
    fn key_bytes(&self, entry: &Entry) -> &[u8] {
        &self.text.as_bytes()[entry.key_start..entry.key_end]
    }

    /// The value of the field at `entry`.
    fn value_str(&self, entry: &Entry) -> &str {
        &self.text[entry.value_start..entry.value_end]
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.as_bytes();
        // A header has a dozen fields or so: a scan that rejects on length first.
        let found = self.spans().find(|entry| same_bytes(self.key_bytes(entry), key));
        found.map(|entry| self.value_str(&entry))
    }

    /// The values of `keys`, which must be in key order without repeats (a typed header's names,
    /// sorted at compile time), each put at `slots[i]` for `keys[i]` (the field's place in its
    /// header): one pass along the fields instead of a search per key.
    pub(crate) fn get_sorted<const N: usize>(&self, keys: &[&str; N], slots: &[usize; N]) -> [Option<&str>; N] {
        debug_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "keys in order: {keys:?}");
        // One loop per layout, each with its step inlined.
        match self.layout() {
            Layout::Wire => self.get_sorted_along(WireSpans { text: self.text.as_bytes(), at: TAG_BYTES }, keys, slots),
            Layout::Long => self.get_sorted_along(self.spans(), keys, slots),
        }
    }

    /// `get_sorted` along `spans`, the fields' places.
    fn get_sorted_along<const N: usize>(
        &self,
        mut spans: impl Iterator<Item = Entry>,
        keys: &[&str; N],
        slots: &[usize; N],
    ) -> [Option<&str>; N] {
        let mut found = [None; N];
        let mut current = spans.next();
        for (&slot, key) in slots.iter().zip(keys) {
            let key = key.as_bytes();
            while let Some(entry) = current {
                let here = self.key_bytes(&entry);
                // Mostly the field is there: an equality test settles it faster than an order.
                let order = if same_bytes(here, key) { Ordering::Equal } else { cmp_key(here, key) };
                match order {
                    Ordering::Less => current = spans.next(),
                    Ordering::Equal => {
                        found[slot] = Some(self.value_str(&entry));
                        current = spans.next();
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
        }
        found
    }

    /// True when `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value` (each borrowed or owned: the text is copied in either way);
    /// returns the value it replaced. Asserts that both are at most `FIELD_LEN_MAX_BYTES`.
    pub fn insert<'a>(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Option<String> {
        let (key, value) = (key.into(), value.into());
        let (key, value) = (key.as_ref(), value.as_ref());
        if self.appendable(key) {
            self.append(key, value);
            return None;
        }
        let mut replaced = None;
        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(self.len() + 1);
        for (here, old) in self.iter() {
            if here == key {
                replaced = Some(old.to_owned());
            } else {
                fields.push((here, old));
            }
        }
        fields.push((key, value));
        fields.sort_unstable_by(|a, b| cmp_key(a.0.as_bytes(), b.0.as_bytes()));
        self.text = ExtFields::from_sorted_unique(&fields).text;
        replaced
    }

    /// Sets each of `keys` (in key order, no repeats: a typed header's names, sorted at compile
    /// time) whose value is present to that value. When they all sort after the present fields
    /// (always, for a command's own header), they are appended in one go, room reserved once.
    pub(crate) fn insert_sorted<const N: usize>(&mut self, keys: &[&str; N], values: &[Option<&str>; N]) {
        debug_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "keys in order: {keys:?}");
        let present = || keys.iter().zip(values).filter_map(|(key, value)| value.map(|value| (*key, value)));
        let Some((first, _)) = present().next() else {
            return;
        };
        if !self.appendable(first) {
            for (key, value) in present() {
                self.insert(key, value);
            }
            return;
        }
        let text_bytes: usize = present().map(|(key, value)| LONG_LEN_BYTES * 2 + key.len() + value.len()).sum();
        self.text.reserve(TAG_BYTES + text_bytes);
        let short = present().all(|(key, value)| key.len() <= WIRE_LEN_MAX && value.len() <= WIRE_LEN_MAX);
        if !(short && self.layout() == Layout::Wire) {
            for (key, value) in present() {
                self.append(key, value);
            }
            return;
        }
        // The common case, decided once for all the fields: short ones into the wire layout.
        if self.text.is_empty() {
            self.text.push(char::from(WIRE_TAG));
        }
        for (key, value) in present() {
            push_wire_field(&mut self.text, key, value);
        }
    }

    /// True when `key` sorts after every present key, so a field for it is appended.
    fn appendable(&self, key: &str) -> bool {
        // The last field is found by walking: a command has a dozen fields or so, and builders
        // of many fields sort them and write them at once instead of adding one at a time.
        self.spans().last().is_none_or(|last| cmp_key(self.key_bytes(&last), key.as_bytes()).is_lt())
    }

    /// Appends a field whose key sorts after every present one: in the wire layout while it
    /// and the field are short, else in the long layout (rewriting the text to it once).
    fn append(&mut self, key: &str, value: &str) {
        assert!(
            key.len() <= FIELD_LEN_MAX_BYTES && value.len() <= FIELD_LEN_MAX_BYTES,
            "a field of {} + {} bytes, at most {FIELD_LEN_MAX_BYTES} each",
            key.len(),
            value.len()
        );
        let short = key.len() <= WIRE_LEN_MAX && value.len() <= WIRE_LEN_MAX;
        if self.text.is_empty() {
            let tag = if short { WIRE_TAG } else { LONG_TAG };
            self.text.push(char::from(tag));
        } else if self.layout() == Layout::Wire && !short {
            self.make_long();
        }
        match self.layout() {
            Layout::Wire => push_wire_field(&mut self.text, key, value),
            Layout::Long => push_long_field(&mut self.text, key, value),
        }
    }

    /// Rewrites a wire-layout text in the long layout.
    fn make_long(&mut self) {
        let mut long = String::with_capacity(self.text.len() + 2 * self.len() + LONG_LEN_BYTES * 2);
        long.push(char::from(LONG_TAG));
        for (key, value) in self.iter() {
            push_long_field(&mut long, key, value);
        }
        self.text = long;
    }

    /// The fields `fields`, given with unique keys in strictly increasing order.
    fn from_sorted_unique(fields: &[(&str, &str)]) -> ExtFields {
        debug_assert!(fields.windows(2).all(|pair| pair[0].0 < pair[1].0), "fields in key order");
        let text_bytes: usize = fields.iter().map(|(key, value)| LONG_LEN_BYTES * 2 + key.len() + value.len()).sum();
        let mut built = ExtFields { text: String::with_capacity(TAG_BYTES + text_bytes) };
        for (key, value) in fields {
            built.append(key, value);
        }
        built
    }

    /// The fields of `pairs`, a later pair for a key replacing an earlier one (as inserting them
    /// in turn would), sorted in O(n log n) and written once.
    pub(crate) fn from_pairs(mut pairs: Vec<(&str, &str)>) -> ExtFields {
        // A stable sort keeps a key's values in arrival order: the last of each run wins.
        pairs.sort_by(|a, b| cmp_key(a.0.as_bytes(), b.0.as_bytes()));
        let unique: Vec<(&str, &str)> =
            pairs.chunk_by(|a, b| a.0 == b.0).filter_map(|run| run.last().copied()).collect();
        ExtFields::from_sorted_unique(&unique)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let old = self.get(key)?.to_owned();
        let rest: Vec<(&str, &str)> = self.iter().filter(|(here, _)| *here != key).collect();
        self.text = ExtFields::from_sorted_unique(&rest).text;
        Some(old)
    }

    /// How many fields there are (counted: a command has a dozen or so).
    pub fn len(&self) -> usize {
        self.spans().count()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The fields in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { text: &self.text, spans: self.spans() }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// The fields' binary ext section, ready to copy, when `text` holds one.
    pub(crate) fn wire_section(&self) -> Option<&[u8]> {
        match self.layout() {
            Layout::Wire => Some(self.text.as_bytes().get(TAG_BYTES..).unwrap_or_default()),
            Layout::Long => None,
        }
    }

    /// The fields of a binary ext section in the wire layout (keys in strictly increasing order,
    /// every length at most `WIRE_LEN_MAX`, all of it UTF-8), taken whole; `None` for any other
    /// section, valid or not, which the caller then reads field by field.
    pub(crate) fn from_wire_section(section: &[u8]) -> Option<ExtFields> {
        let mut at = 0;
        let mut last: Option<Entry> = None;
        while at < section.len() {
            let entry = wire_entry_at(section, at)?;
            let key = &section[entry.key_start..entry.key_end];
            if last.is_some_and(|last| cmp_key(&section[last.key_start..last.key_end], key).is_ge()) {
                return None;
            }
            last = Some(entry);
            at = entry.value_end;
        }
        // Every length byte is ASCII, so each key and value starts and ends on a char boundary
        // of a UTF-8 section: one check covers them all.
        let section = std::str::from_utf8(section).ok()?;
        let mut text = String::with_capacity(TAG_BYTES + section.len());
        if !section.is_empty() {
            text.push(char::from(WIRE_TAG));
            text.push_str(section);
        }
        Some(ExtFields { text })
    }

    /// Checks the invariants of the module documentation.
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let mut spans = self.spans();
        let entries: Vec<Entry> = spans.by_ref().collect();
        assert_eq!(spans.at.max(TAG_BYTES), self.text.len().max(TAG_BYTES), "the walk ends at the end");
        assert_eq!(self.text.is_empty(), entries.is_empty());
        assert!(self.text.is_empty() || [WIRE_TAG, LONG_TAG].contains(&self.text.as_bytes()[0]));
        assert!(entries.windows(2).all(|pair| self.key_bytes(&pair[0]) < self.key_bytes(&pair[1])));
        for entry in &entries {
            assert!(self.text.get(entry.key_start..entry.key_end).is_some(), "{entry:?}");
            assert!(self.text.get(entry.value_start..entry.value_end).is_some(), "{entry:?}");
        }
        if let Some(section) = self.wire_section() {
            let mut wire = Vec::new();
            for (key, value) in self {
                assert!(key.len() <= WIRE_LEN_MAX && value.len() <= WIRE_LEN_MAX);
                wire.extend_from_slice(&(key.len() as i16).to_be_bytes());
                wire.extend_from_slice(key.as_bytes());
                wire.extend_from_slice(&(value.len() as i32).to_be_bytes());
                wire.extend_from_slice(value.as_bytes());
            }
            assert_eq!(section, &wire[..]);
        }
    }
}

/// Appends a field in the wire layout; both lengths are at most `WIRE_LEN_MAX`.
fn push_wire_field(text: &mut String, key: &str, value: &str) {
    assert!(key.len() <= WIRE_LEN_MAX && value.len() <= WIRE_LEN_MAX, "a wire-layout field is short");
    text.reserve(WIRE_LENGTH_FIELDS_BYTES + key.len() + value.len());
    // Big-endian lengths below 128: every byte is an ASCII char.
    text.push('\0');
    text.push(char::from(key.len() as u8));
    text.push_str(key);
    text.push_str("\0\0\0");
    text.push(char::from(value.len() as u8));
    text.push_str(value);
}

/// Appends a field in the long layout; both lengths are at most `FIELD_LEN_MAX_BYTES`.
fn push_long_field(text: &mut String, key: &str, value: &str) {
    text.reserve(2 * LONG_LEN_BYTES + key.len() + value.len());
    push_long_len(text, key.len());
    text.push_str(key);
    push_long_len(text, value.len());
    text.push_str(value);
}

/// Appends `len` as four bytes of seven bits, big-endian: every byte an ASCII char.
fn push_long_len(text: &mut String, len: usize) {
    assert!(len <= FIELD_LEN_MAX_BYTES);
    for shift in (0..LONG_LEN_BYTES).rev() {
        text.push(char::from(((len >> (7 * shift)) & 0x7F) as u8));
    }
}

/// Where each field of a text is, in key order, read from the length fields from `at` on. The
/// text is trusted to be laid out as `layout` says (built here, or checked by
/// `from_wire_section`): a broken layout panics on an index out of bounds.
#[derive(Clone)]
struct Spans<'a> {
    /// The text, tag included.
    text: &'a [u8],
    /// Offset of the next entry's first length byte.
    at: usize,
    /// How the lengths are written.
    layout: Layout,
}

impl Iterator for Spans<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        match self.layout {
            Layout::Wire => {
                let mut wire = WireSpans { text: self.text, at: self.at };
                let entry = wire.next()?;
                self.at = wire.at;
                Some(entry)
            }
            Layout::Long => {
                if self.at >= self.text.len() {
                    return None;
                }
                let (at, text) = (self.at, self.text);
                let key_start = at + LONG_LEN_BYTES;
                let key_end = key_start + long_len(&text[at..key_start]);
                let value_start = key_end + LONG_LEN_BYTES;
                let value_end = value_start + long_len(&text[key_end..value_start]);
                self.at = value_end;
                Some(Entry { key_start, key_end, value_start, value_end })
            }
        }
    }
}

/// `Spans` of a wire-layout text, trusted as `Spans` is.
struct WireSpans<'a> {
    /// The text, tag included.
    text: &'a [u8],
    /// Offset of the next entry's key length.
    at: usize,
}

impl Iterator for WireSpans<'_> {
    type Item = Entry;

    #[inline]
    fn next(&mut self) -> Option<Entry> {
        let (at, text) = (self.at, self.text);
        if at >= text.len() {
            return None;
        }
        let key_end = at + 2 + usize::from(text[at + 1]);
        let value_end = key_end + 4 + usize::from(text[key_end + 3]);
        self.at = value_end;
        Some(Entry { key_start: at + 2, key_end, value_start: key_end + 4, value_end })
    }
}

/// The entry of the ext section whose length fields start at `at`, when it is whole and both
/// its lengths are at most `WIRE_LEN_MAX` (the high bytes zero, the low byte ASCII).
fn wire_entry_at(section: &[u8], at: usize) -> Option<Entry> {
    let Some(&[0, key_len]) = section.get(at..at + 2) else {
        return None;
    };
    let key_start = at + 2;
    let key_end = key_start + usize::from(key_len);
    let Some(&[0, 0, 0, value_len]) = section.get(key_end..key_end + 4) else {
        return None;
    };
    let value_start = key_end + 4;
    let value_end = value_start + usize::from(value_len);
    let short = usize::from(key_len) <= WIRE_LEN_MAX && usize::from(value_len) <= WIRE_LEN_MAX;
    (short && value_end <= section.len()).then_some(Entry { key_start, key_end, value_start, value_end })
}

/// A length written by `push_long_len`.
fn long_len(bytes: &[u8]) -> usize {
    bytes.iter().fold(0, |len, &byte| len << 7 | usize::from(byte))
}

/// The fields of an `ExtFields` in key order, as `(key, value)`.
#[derive(Clone)]
pub struct Iter<'a> {
    /// The map's text.
    text: &'a str,
    /// Where the fields not visited yet are.
    spans: Spans<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.spans.next()?;
        Some((&self.text[entry.key_start..entry.key_end], &self.text[entry.value_start..entry.value_end]))
    }

    /// Exact: the fields left are counted (a walk along the lengths).
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.spans.clone().count();
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Equal when they hold the same fields, however their text is laid out.
impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A later pair for a key replaces an earlier one, as inserting them in turn would.
impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = ExtFields::new();
        fields.extend(iter);
        fields
    }
}

/// A pair for a present key replaces its value, as `insert` would; the text is written once.
impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let added: Vec<(K, V)> = iter.into_iter().collect();
        let mut pairs: Vec<(&str, &str)> = self.iter().collect();
        pairs.extend(added.iter().map(|(key, value)| (key.as_ref(), value.as_ref())));
        let text = ExtFields::from_pairs(pairs).text;
        self.text = text;
    }
}

impl IntoIterator for ExtFields {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        let owned: Vec<(String, String)> = self.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        owned.into_iter()
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `cmp_key` orders as `str` does, and `same_bytes` is `==`.
        #[test]
        fn key_order_is_str_order(a in "[a-c]{0,3}", b in "[a-c]{0,3}", x in any::<String>(), y in any::<String>()) {
            prop_assert_eq!(cmp_key(a.as_bytes(), b.as_bytes()), a.cmp(&b));
            prop_assert_eq!(cmp_key(x.as_bytes(), y.as_bytes()), x.cmp(&y));
            prop_assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b);
            prop_assert_eq!(same_bytes(x.as_bytes(), y.as_bytes()), x == y);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, String),
        Remove(String),
    }

    /// Keys: a few header names, short keys that collide often, long ones, and anything.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(&["topic", "queueId", "a", "b", "maxOffset", "MSG_REGION"][..])
                .prop_map(str::to_owned),
            "[a-e]{0,2}",
            "k{126,130}",
            any::<String>(),
        ]
    }

    /// Values: short ones (kept in the wire layout), long ones (which are not), and anything.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9]{0,4}", "x{125,135}", any::<String>()]
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the same contents, in the same order, as
        /// a `BTreeMap<String, String>` given the same sequence, with the same return values,
        /// and keeps the layout invariants after every step.
        #[test]
        fn behaves_like_a_sorted_map(ops in proptest::collection::vec(prop_oneof![
            (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
        ], 0..40)) {
            let mut fields = ExtFields::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(fields.insert(&k, &v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(fields.remove(&k), model.remove(&k)),
                }
                fields.assert_invariants();
                prop_assert_eq!(fields.len(), model.len());
                prop_assert_eq!(fields.is_empty(), model.is_empty());
            }
            let ours: Vec<(&str, &str)> = fields.iter().collect();
            let theirs: Vec<(&str, &str)> = model.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(ours, theirs);
            prop_assert_eq!(fields.iter().len(), model.len());
            for (k, v) in &model {
                prop_assert_eq!(fields.get(k), Some(v.as_str()));
                prop_assert!(fields.contains_key(k));
            }
            let collected: ExtFields = model.clone().into_iter().collect();
            collected.assert_invariants();
            prop_assert_eq!(&collected, &fields);
            prop_assert_eq!(fields.into_iter().collect::<BTreeMap<_, _>>(), model);
        }

        /// Collecting and extending with repeated keys keeps the last value of each, as
        /// inserting the pairs in turn does.
        #[test]
        fn collect_and_extend_are_inserts_in_turn(
            first in proptest::collection::vec((key(), value()), 0..12),
            then in proptest::collection::vec((key(), value()), 0..12),
        ) {
            let mut inserted = ExtFields::new();
            for (k, v) in first.iter().chain(&then) {
                inserted.insert(k, v);
            }
            let mut extended: ExtFields = first.iter().cloned().collect();
            extended.extend(then.iter().cloned());
            extended.assert_invariants();
            prop_assert_eq!(extended, inserted);
        }

        /// `get_sorted` finds for each key what `get` finds, present or absent, in its slot.
        #[test]
        fn get_sorted_is_get(
            map in proptest::collection::btree_map(key(), value(), 0..30),
            wanted in proptest::collection::btree_set(key(), 5),
        ) {
            let fields: ExtFields = map.iter().collect();
            let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let Ok(wanted): Result<[&str; 5], _> = wanted.try_into() else { return Ok(()) };
            let found = fields.get_sorted(&wanted, &[4, 2, 0, 1, 3]);
            for (key, slot) in wanted.iter().zip([4, 2, 0, 1, 3]) {
                prop_assert_eq!(found[slot], fields.get(key));
            }
        }

        /// Fields with short keys and values take the wire layout, and `from_wire_section` takes
        /// their section back to the same fields.
        #[test]
        fn wire_section_round_trips(map in proptest::collection::btree_map("[a-z]{0,6}", "[ -~]{0,20}", 0..20)) {
            let fields: ExtFields = map.iter().collect();
            let section = fields.wire_section().map(<[u8]>::to_vec);
            prop_assert!(section.is_some());
            let taken = ExtFields::from_wire_section(&section.unwrap_or_default());
            prop_assert_eq!(taken.as_ref(), Some(&fields));
            if let Some(taken) = taken {
                taken.assert_invariants();
            }
        }

        /// `insert_sorted` sets the same fields as inserting each present value, whatever was
        /// there before.
        #[test]
        fn insert_sorted_is_inserts(
            before in proptest::collection::btree_map(key(), value(), 0..6),
            values in proptest::collection::vec(proptest::option::of(value()), 4),
        ) {
            const KEYS: [&str; 4] = ["a", "maxOffset", "queueId", "topic"];
            let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            let Ok(values): Result<[Option<&str>; 4], _> = values.try_into() else { return Ok(()) };
            let mut sorted: ExtFields = before.iter().collect();
            let mut one_by_one = sorted.clone();
            sorted.insert_sorted(&KEYS, &values);
            for (key, value) in KEYS.iter().zip(values) {
                if let Some(value) = value {
                    one_by_one.insert(*key, value);
                }
            }
            sorted.assert_invariants();
            prop_assert_eq!(sorted, one_by_one);
        }
    }

    /// Sections that are valid but not in the wire layout are declined, not misread.
    #[test]
    fn from_wire_section_declines_other_layouts() {
        let entry = |key: &str, value: &[u8]| {
            let mut bytes = (key.len() as i16).to_be_bytes().to_vec();
            bytes.extend_from_slice(key.as_bytes());
            bytes.extend_from_slice(&(value.len() as i32).to_be_bytes());
            bytes.extend_from_slice(value);
            bytes
        };
        let in_order = [entry("a", b"1"), entry("b", b"2")].concat();
        assert!(ExtFields::from_wire_section(&in_order).is_some());
        let reversed = [entry("b", b"2"), entry("a", b"1")].concat();
        assert_eq!(ExtFields::from_wire_section(&reversed), None);
        let repeated = [entry("a", b"1"), entry("a", b"2")].concat();
        assert_eq!(ExtFields::from_wire_section(&repeated), None);
        let long = entry("a", &[b'v'; 128]);
        assert_eq!(ExtFields::from_wire_section(&long), None);
        let not_utf8 = entry("a", &[0xFF]);
        assert_eq!(ExtFields::from_wire_section(&not_utf8), None);
        assert_eq!(ExtFields::from_wire_section(&in_order[..in_order.len() - 1]), None);
        assert_eq!(ExtFields::from_wire_section(&[]), Some(ExtFields::new()));
    }

    /// A long value turns the map to the long layout, where it and later fields round-trip;
    /// removing the long one brings the wire layout back.
    #[test]
    fn long_fields_switch_layout() {
        let mut fields = ExtFields::new();
        fields.insert("a", "1");
        assert!(fields.wire_section().is_some());
        let long = "v".repeat(40_000);
        fields.insert("b", &long);
        fields.insert("c", "3");
        fields.assert_invariants();
        assert_eq!(fields.wire_section(), None);
        assert_eq!(fields.get("b"), Some(long.as_str()));
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(fields.remove("b"), Some(long));
        fields.assert_invariants();
        assert!(fields.wire_section().is_some());
        assert_eq!(fields.len(), 2);
    }

    /// The map is the size of a `String`: commands are moved by value on every hop.
    #[test]
    fn is_as_small_as_a_string() {
        assert_eq!(std::mem::size_of::<ExtFields>(), std::mem::size_of::<String>());
    }
}
