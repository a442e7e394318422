//! `ExtFields`: a command's header fields, string keys to string values, kept sorted by key.
//!
//! Every request and response carries a dozen or so of these, built from a typed header and
//! read back into one, so the type is made for that: one vector instead of a tree of nodes, and
//! keys that are the header's own `&'static str` names (no allocation) whenever the key is one
//! of the known field names, which is every key a typed header writes and, after interning,
//! every known key a decoder reads.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;

/// Room decoders reserve for a command's fields: as many as the largest common header (a pull
/// request has 11, a send 13), so decoding one grows the vector at most once.
pub const EXT_FIELDS_TYPICAL: usize = 16;

/// Up to this many fields, `get` scans instead of searching.
const LINEAR_SEARCH_MAX: usize = 24;

/// A field name: borrowed for the known names, owned for any other a peer sends.
pub type FieldKey = Cow<'static, str>;

/// One field's value: a string kept inline when it is at most 24 bytes (every number, and the
/// topic, group and queue names of ordinary use), else on the heap.
pub type FieldValue = compact_str::CompactString;

/// Every field name of the typed headers (sorted), so decoders can borrow instead of allocate.
const KNOWN_KEYS: &[&str] = &[
    "a",
    "acceptStandardJsonOnly",
    "b",
    "batch",
    "beginTimestamp",
    "bname",
    "bodyCrc32",
    "bornTimestamp",
    "brokerAddr",
    "brokerId",
    "brokerName",
    "c",
    "clientID",
    "cluster",
    "clusterName",
    "commitLogOffset",
    "commitOffset",
    "commitOrRollback",
    "compressed",
    "consumerGroup",
    "count",
    "d",
    "defaultTopic",
    "defaultTopicQueueNums",
    "delayLevel",
    "e",
    "endTimestamp",
    "expressionType",
    "f",
    "flag",
    "flagOn",
    "fromTransactionCheck",
    "g",
    "group",
    "h",
    "haServerAddr",
    "i",
    "indexLastUpdatePhyoffset",
    "indexLastUpdateTimestamp",
    "isForce",
    "j",
    "javaName",
    "k",
    "key",
    "l",
    "limit",
    "m",
    "masterAddr",
    "maxMsgNums",
    "maxNum",
    "maxOffset",
    "maxReconsumeTimes",
    "minOffset",
    "msgId",
    "n",
    "name",
    "nextBeginOffset",
    "offset",
    "offsetMsgId",
    "order",
    "originMsgId",
    "originTopic",
    "perm",
    "producerGroup",
    "properties",
    "queueId",
    "queueOffset",
    "readQueueNums",
    "reconsumeTimes",
    "subVersion",
    "subscription",
    "suggestWhichBrokerId",
    "suspendTimeoutMillis",
    "sysFlag",
    "timestamp",
    "topic",
    "topicFilterType",
    "topicSysFlag",
    "tranStateTableOffset",
    "transactionId",
    "unitMode",
    "writeQueueNums",
];

/// Byte-wise order of two keys, as `str`'s `Ord`. Keys are short and usually differ in their
/// first bytes, so a plain loop beats a call to `memcmp` per comparison (measured: the calls
/// were a tenth of a simulated cluster's time).
fn cmp_key(a: &str, b: &str) -> Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}

/// The longest known name ("indexLastUpdatePhyoffset", 24 bytes) and then some.
const KNOWN_KEY_LEN_MAX: usize = 32;

/// `KNOWN_KEYS` grouped by byte length: a key is compared only with names of its own length,
/// a handful at most, instead of a binary search over all of them.
fn known_keys_by_len() -> &'static [Vec<&'static str>; KNOWN_KEY_LEN_MAX + 1] {
    static BY_LEN: std::sync::OnceLock<[Vec<&'static str>; KNOWN_KEY_LEN_MAX + 1]> = std::sync::OnceLock::new();
    BY_LEN.get_or_init(|| {
        let mut by_len: [Vec<&'static str>; KNOWN_KEY_LEN_MAX + 1] = std::array::from_fn(|_| Vec::new());
        for key in KNOWN_KEYS {
            by_len[key.len()].push(key);
        }
        by_len
    })
}

/// `key` as a `FieldKey`: the static name when it is a known one, else an owned copy.
pub fn intern(key: &str) -> FieldKey {
    match known_key(key.as_bytes()) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(key.to_owned()),
    }
}

/// The known name spelled by `key`, if any. Decoders look raw bytes up here first: a known
/// name needs no UTF-8 check.
pub fn known_key(key: &[u8]) -> Option<&'static str> {
    let same_len = known_keys_by_len().get(key.len())?;
    // Names of one length mostly differ in their first byte: test it before the whole slice.
    let first = *key.first()?;
    same_len.iter().find(|known| known.as_bytes()[0] == first && known.as_bytes() == key).copied()
}

/// `a == b`, testing the length and the first byte before comparing the rest: names of a
/// header's fields mostly differ in one or the other.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// A command's extFields. Iteration is in key order (byte order of the UTF-8 keys), the order
/// the JSON header writes them in, so encoding is deterministic.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    /// Sorted by key, keys unique.
    entries: Vec<(FieldKey, FieldValue)>,
}

impl ExtFields {
    /// No fields.
    pub fn new() -> Self {
        ExtFields::default()
    }

    /// No fields, with room for `capacity` without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        ExtFields { entries: Vec::with_capacity(capacity) }
    }

    /// Makes room for `additional` more fields.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| cmp_key(k, key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        // A header has a dozen fields or so: a scan that rejects on length first beats a binary
        // search of byte-wise comparisons.
        if self.entries.len() <= LINEAR_SEARCH_MAX {
            let key = key.as_bytes();
            let found = self.entries.iter().find(|(k, _)| same_bytes(k.as_bytes(), key));
            return found.map(|(_, value)| value.as_str());
        }
        self.position(key).ok().map(|at| self.entries[at].1.as_str())
    }

    /// True when `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<FieldKey>, value: impl Into<FieldValue>) -> Option<FieldValue> {
        let key = key.into();
        let value = value.into();
        // Decoders meet keys in order (Petrel and fastjson's sorted maps write them so): append.
        if self.entries.last().is_none_or(|(last, _)| cmp_key(last, &key) == Ordering::Less) {
            self.entries.push((key, value));
            return None;
        }
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        self.position(key).ok().map(|at| self.entries.remove(at).1)
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (k.borrow(), v.as_str()))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| k.borrow())
    }
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<FieldKey>, V: Into<FieldValue>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = ExtFields::new();
        fields.extend(iter);
        fields
    }
}

impl<K: Into<FieldKey>, V: Into<FieldValue>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (key, value) in iter {
            self.insert(key, value);
        }
    }
}

impl IntoIterator for ExtFields {
    type Item = (String, String);
    type IntoIter =
        std::iter::Map<std::vec::IntoIter<(FieldKey, FieldValue)>, fn((FieldKey, FieldValue)) -> (String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().map(|(k, v)| (k.into_owned(), v.into_string()))
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (FieldKey, FieldValue)>,
        fn(&'a (FieldKey, FieldValue)) -> (&'a str, &'a str),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.borrow(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `cmp_key` orders as `str` does.
        #[test]
        fn key_order_is_str_order(a in "[a-c]{0,3}", b in "[a-c]{0,3}", x in any::<String>(), y in any::<String>()) {
            prop_assert_eq!(cmp_key(&a, &b), a.cmp(&b));
            prop_assert_eq!(cmp_key(&x, &y), x.cmp(&y));
        }
    }

    /// The known names are sorted and unique (binary search needs it), and every typed header's
    /// field names are among them.
    #[test]
    fn known_keys_are_sorted_and_cover_the_headers() {
        assert!(KNOWN_KEYS.windows(2).all(|pair| pair[0] < pair[1]), "KNOWN_KEYS must be sorted and unique");
        use crate::remoting::*;
        let headers: &[&[&str]] = &[
            GetConsumerListByGroupRequestHeader::FIELD_NAMES,
            UnregisterClientRequestHeader::FIELD_NAMES,
            NotifyConsumerIdsChangedRequestHeader::FIELD_NAMES,
            RegisterBrokerRequestHeader::FIELD_NAMES,
            RegisterBrokerResponseHeader::FIELD_NAMES,
            GetRouteInfoRequestHeader::FIELD_NAMES,
            CreateTopicRequestHeader::FIELD_NAMES,
            DeleteTopicRequestHeader::FIELD_NAMES,
            GetTopicsByClusterRequestHeader::FIELD_NAMES,
            SendMessageRequestHeader::FIELD_NAMES,
            SendMessageResponseHeader::FIELD_NAMES,
            PullMessageRequestHeader::FIELD_NAMES,
            PullMessageResponseHeader::FIELD_NAMES,
            QueryMessageRequestHeader::FIELD_NAMES,
            QueryMessageResponseHeader::FIELD_NAMES,
            ViewMessageRequestHeader::FIELD_NAMES,
            ConsumerSendMsgBackRequestHeader::FIELD_NAMES,
            EndTransactionRequestHeader::FIELD_NAMES,
            CheckTransactionStateRequestHeader::FIELD_NAMES,
            QueryConsumerOffsetRequestHeader::FIELD_NAMES,
            QueryConsumerOffsetResponseHeader::FIELD_NAMES,
            UpdateConsumerOffsetRequestHeader::FIELD_NAMES,
            GetMaxOffsetRequestHeader::FIELD_NAMES,
            GetMaxOffsetResponseHeader::FIELD_NAMES,
            GetMinOffsetRequestHeader::FIELD_NAMES,
            GetMinOffsetResponseHeader::FIELD_NAMES,
            SearchOffsetRequestHeader::FIELD_NAMES,
            SearchOffsetResponseHeader::FIELD_NAMES,
            GetEarliestMsgStoretimeRequestHeader::FIELD_NAMES,
            GetEarliestMsgStoretimeResponseHeader::FIELD_NAMES,
            ResetOffsetRequestHeader::FIELD_NAMES,
            GetConsumeStatsRequestHeader::FIELD_NAMES,
        ];
        for name in headers.iter().flat_map(|names| names.iter()) {
            assert!(matches!(intern(name), Cow::Borrowed(_)), "{name} is missing from KNOWN_KEYS");
        }
        assert!(matches!(intern("notAHeaderField"), Cow::Owned(ref k) if k == "notAHeaderField"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, String),
        Remove(String),
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![proptest::sample::select(KNOWN_KEYS).prop_map(str::to_owned), "[a-e]{0,2}", any::<String>()]
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the same contents, in the same order, as
        /// a `BTreeMap<String, String>` given the same sequence, with the same return values.
        #[test]
        fn behaves_like_a_sorted_map(ops in proptest::collection::vec(prop_oneof![
            (key(), any::<String>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
        ], 0..40)) {
            let mut fields = ExtFields::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(fields.insert(intern(&k), v.clone()).map(FieldValue::into_string), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(fields.remove(&k).map(FieldValue::into_string), model.remove(&k)),
                }
                prop_assert_eq!(fields.len(), model.len());
            }
            let ours: Vec<(&str, &str)> = fields.iter().collect();
            let theirs: Vec<(&str, &str)> = model.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(ours, theirs);
            for (k, v) in &model {
                prop_assert_eq!(fields.get(k), Some(v.as_str()));
                prop_assert!(fields.contains_key(k));
            }
            let collected: ExtFields = model.clone().into_iter().collect();
            prop_assert_eq!(&collected, &fields);
            prop_assert_eq!(fields.into_iter().collect::<BTreeMap<_, _>>(), model);
        }
    }
}
