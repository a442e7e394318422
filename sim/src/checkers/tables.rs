//! Dense numbers for what a history names, and lists keyed by them. The checkers' index
//! (`index`) keeps its per-message facts in vectors indexed by message number and gives its
//! records ranks instead of names, so gathering a history compares few strings and fills a
//! few flat vectors instead of a map node, or a list, per message.
//!
//! - [`Names`] numbers queues, consumers and groups in order of first appearance, then ranks
//!   them: a name's rank is its place among the names sorted, so keys made of ranks sort as
//!   keys made of the names would.
//! - [`Messages`] numbers message ids in id order: iterating message numbers upwards visits
//!   the ids as a `BTreeMap<MsgId, _>` would.
//! - [`Grouped`] lists items (acknowledgements, deliveries) per key (a message number), each
//!   key's in the items' order; it is also one pass of a radix sort by small keys.

use std::ops::Range;

use crate::history::{MsgId, QueueRef};

/// A number that no table hands out: an absent entry.
const NONE: u32 = u32::MAX;

/// Producers below this index get a table from sequence number to message number (the
/// workload's producers are numbered from 0); ids of others are searched for.
const TABLE_PRODUCERS_MAX: u32 = 64;

/// `n` as a table number. A history long enough to overflow it (2^32 records) would not fit
/// in memory.
pub(super) fn number(n: usize) -> u32 {
    u32::try_from(n).ok().filter(|n| *n != NONE).expect("fewer than 2^32 - 1 records")
}

/// Whether `a` and `b` are equal. A run's names (`audit`, `broker-a`, `orders-c1`,
/// `ChaosTopic`) are short: two names of 8 to 16 bytes are equal when their first and last
/// eight bytes are, which two integer comparisons tell, and shorter ones are compared byte by
/// byte, both without a call to `memcmp`.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let word = |bytes: &[u8], at: usize| bytes.get(at..at + 8).and_then(|word| <[u8; 8]>::try_from(word).ok());
    match a.len() {
        len if len != b.len() => false,
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        len @ 8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        _ => a == b,
    }
}

/// A name the checkers number: told apart by `same`, ranked by `Ord`.
pub(super) trait Name: Ord {
    /// Whether `self` is `other` (what `==` says, in the cheapest order).
    fn same(&self, other: &Self) -> bool;
}

impl Name for str {
    fn same(&self, other: &str) -> bool {
        same_text(self, other)
    }
}

impl Name for QueueRef {
    /// The queue id first: it tells most of a run's queues apart without comparing strings.
    fn same(&self, other: &QueueRef) -> bool {
        self.queue_id == other.queue_id
            && same_text(&self.broker, &other.broker)
            && same_text(&self.topic, &other.topic)
    }
}

/// Names numbered in order of first appearance. A run has a few dozen queues and consumers
/// at most, and repeats them in bursts: a scan that starts with the last name found beats a
/// search that compares names at every level.
#[derive(Debug)]
pub(super) struct Names<'a, T: Name + ?Sized> {
    /// The distinct names, in order of first appearance: a name's arrival number is its place.
    arrived: Vec<&'a T>,
    /// The arrival number of the name found last, tried first.
    last: usize,
}

impl<'a, T: Name + ?Sized> Names<'a, T> {
    /// No names yet.
    pub(super) fn new() -> Names<'a, T> {
        Names { arrived: Vec::new(), last: 0 }
    }

    /// `name`'s arrival number, numbering it if it is new.
    pub(super) fn intern(&mut self, name: &'a T) -> u32 {
        let hit = self.arrived.get(self.last).is_some_and(|last| last.same(name));
        if !hit {
            self.last = match self.arrived.iter().position(|known| known.same(name)) {
                Some(at) => at,
                None => {
                    self.arrived.push(name);
                    self.arrived.len() - 1
                }
            };
        }
        number(self.last)
    }

    /// The names sorted (a name's rank is its place there), and each arrival number's rank.
    pub(super) fn rank(self) -> (Vec<&'a T>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.arrived.len()).map(number).collect();
        order.sort_unstable_by(|a, b| self.arrived[*a as usize].cmp(self.arrived[*b as usize]));
        let mut rank_of = vec![NONE; order.len()];
        for (rank, arrival) in order.iter().enumerate() {
            rank_of[*arrival as usize] = number(rank);
        }
        let sorted = order.iter().map(|arrival| self.arrived[*arrival as usize]).collect();
        (sorted, rank_of)
    }
}

/// `name`'s rank among `sorted` (as `Names::rank` returns them), if it is there.
pub(super) fn rank_in<T: Ord + ?Sized>(sorted: &[&T], name: &T) -> Option<u32> {
    sorted.binary_search_by(|known| (*known).cmp(name)).ok().map(number)
}

/// The message ids of a history, numbered in id order.
#[derive(Debug, Default)]
pub(super) struct Messages {
    /// Every id, ascending: a message's number is its place here.
    ids: Vec<MsgId>,
    /// Per producer below [`TABLE_PRODUCERS_MAX`], per sequence number below the table's
    /// length: the message's number, `NONE` for an id the history does not name.
    tables: Vec<Vec<u32>>,
    /// The ids outside the tables, ascending, with their numbers.
    others: Vec<(MsgId, u32)>,
}

impl Messages {
    /// Numbers every id that `ids` yields (repeats allowed). Sequence numbers below
    /// `seq_table_max` go in their producer's table (the workload numbers each producer's
    /// sends from 0, and a history of n events names at most n ids), so a table never holds
    /// more entries than that.
    pub(super) fn of(ids: impl Iterator<Item = MsgId>, seq_table_max: u64) -> Messages {
        let mut messages = Messages::default();
        for id in ids {
            match messages.slot(id, seq_table_max) {
                Some(slot) => *slot = 0,
                None => messages.others.push((id, NONE)),
            }
        }
        messages.others.sort_unstable();
        messages.others.dedup();
        messages.number_in_order();
        messages
    }

    /// `id`'s entry in its producer's table, grown to hold it; `None` outside the tables.
    fn slot(&mut self, id: MsgId, seq_table_max: u64) -> Option<&mut u32> {
        if id.producer >= TABLE_PRODUCERS_MAX || id.seq >= seq_table_max {
            return None;
        }
        let producer = id.producer as usize;
        if self.tables.len() <= producer {
            self.tables.resize_with(producer + 1, Vec::new);
        }
        let table = &mut self.tables[producer];
        let seq = usize::try_from(id.seq).ok()?;
        if table.len() <= seq {
            table.resize(seq + 1, NONE);
        }
        table.get_mut(seq)
    }

    /// Replaces the tables' marks with numbers and numbers the other ids, all in id order:
    /// a producer's other ids have sequence numbers above its table's.
    fn number_in_order(&mut self) {
        let mut others = 0usize;
        for (producer, table) in (0u32..).zip(self.tables.iter_mut()) {
            while let Some((id, no)) = self.others.get_mut(others).filter(|(id, _)| id.producer < producer) {
                *no = number(self.ids.len());
                self.ids.push(*id);
                others += 1;
            }
            for (seq, slot) in (0u64..).zip(table.iter_mut()) {
                if *slot != NONE {
                    *slot = number(self.ids.len());
                    self.ids.push(MsgId { producer, seq });
                }
            }
        }
        for (id, no) in &mut self.others[others..] {
            *no = number(self.ids.len());
            self.ids.push(*id);
        }
    }

    /// How many distinct ids the history names.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every message number, in id order.
    pub(super) fn numbers(&self) -> Range<u32> {
        0..number(self.ids.len())
    }

    /// The id of message `message`.
    pub(super) fn id(&self, message: u32) -> MsgId {
        self.ids[message as usize]
    }

    /// `id`'s message number, if the history names it.
    pub(super) fn number(&self, id: MsgId) -> Option<u32> {
        let table = self.tables.get(id.producer as usize);
        let slot = table.and_then(|table| table.get(usize::try_from(id.seq).ok()?));
        match slot {
            Some(no) => Some(*no).filter(|no| *no != NONE),
            None => self.others.binary_search_by_key(&id, |(other, _)| *other).ok().map(|at| self.others[at].1),
        }
    }

    /// The numbers of `producer`'s messages (consecutive, as the ids are in order).
    pub(super) fn of_producer(&self, producer: u32) -> Range<u32> {
        let from = self.ids.partition_point(|id| id.producer < producer);
        let to = self.ids.partition_point(|id| id.producer <= producer);
        number(from)..number(to)
    }
}

/// Items grouped by a key below a count: the lists of a `Vec<Vec<T>>` kept in one vector.
#[derive(Debug)]
pub(super) struct Grouped<T = u32> {
    /// `starts[k]..starts[k + 1]` is key `k`'s range in `items` (one entry more than keys).
    starts: Vec<u32>,
    /// The items, key by key.
    items: Vec<T>,
}

impl<T> Default for Grouped<T> {
    fn default() -> Grouped<T> {
        Grouped { starts: Vec::new(), items: Vec::new() }
    }
}

impl Grouped<u32> {
    /// Groups the items `items` yields, each with its key (items with key `None` are left
    /// out), keeping each key's items in the order yielded: a counting sort, in two passes
    /// over `items`. The keys are below `key_count`.
    pub(super) fn by_key<I>(key_count: usize, items: I) -> Grouped<u32>
    where
        I: Iterator<Item = (u32, Option<u32>)> + Clone,
    {
        let mut starts = vec![0u32; key_count + 1];
        for key in items.clone().filter_map(|(_, key)| key) {
            starts[key as usize + 1] += 1;
        }
        for k in 0..key_count {
            starts[k + 1] += starts[k];
        }
        let mut next = starts.clone();
        let mut sorted = vec![0u32; starts[key_count] as usize];
        for (item, key) in items {
            if let Some(key) = key {
                let at = &mut next[key as usize];
                sorted[*at as usize] = item;
                *at += 1;
            }
        }
        Grouped { starts, items: sorted }
    }

    /// `order` reordered stably by each item's key, below `key_count`: one pass of a radix
    /// sort (sort by the least significant key first).
    pub(super) fn reorder(order: &[u32], key_count: usize, key: impl Fn(u32) -> u32 + Clone) -> Vec<u32> {
        Grouped::by_key(key_count, order.iter().map(|item| (*item, Some(key(*item))))).items
    }

    /// Every item, key by key.
    pub(super) fn into_items(self) -> Vec<u32> {
        self.items
    }
}

impl<T> Grouped<T> {
    /// An empty list for each of `key_count` keys, to be filled key by key with `push` and
    /// `close`.
    pub(super) fn with_capacity(key_count: usize, item_count: usize) -> Grouped<T> {
        let mut starts = Vec::with_capacity(key_count + 1);
        starts.push(0);
        Grouped { starts, items: Vec::with_capacity(item_count) }
    }

    /// Adds `item` to the key being filled.
    pub(super) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// The items added to the key being filled so far.
    pub(super) fn open(&self) -> &[T] {
        let from = self.starts.last().copied().unwrap_or(0) as usize;
        &self.items[from..]
    }

    /// Ends the key being filled; the next `push` goes to the next key.
    pub(super) fn close(&mut self) {
        self.starts.push(number(self.items.len()));
    }

    /// Key `key`'s items (none for a key past the end).
    pub(super) fn of(&self, key: u32) -> &[T] {
        let key = key as usize;
        match (self.starts.get(key), self.starts.get(key + 1)) {
            (Some(from), Some(to)) => &self.items[*from as usize..*to as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(producer: u32, seq: u64) -> MsgId {
        MsgId { producer, seq }
    }

    #[test]
    fn texts_are_the_same_exactly_when_equal_and_queues_when_every_part_is() {
        let texts = ["", "a", "ab", "ba", "broker-a", "broker-b", "orders-c10", "orders-c01", "sixteen-bytes-xy"];
        let longer = ["sixteen-bytes-xyz", "sixteen-bytes-xYz", "a-name-of-twenty-bytes"];
        for a in texts.iter().chain(&longer) {
            for b in texts.iter().chain(&longer) {
                assert_eq!(same_text(a, b), a == b, "{a:?} {b:?}");
            }
        }
        let queue = |broker: &str, queue_id| QueueRef { topic: "t".into(), broker: broker.into(), queue_id };
        let (a0, a1, b0) = (queue("a", 0), queue("a", 1), queue("b", 0));
        let mut queues: Names<'_, QueueRef> = Names::new();
        let arrivals: Vec<u32> = [&a0, &a1, &b0, &a1, &a0, &queue("a", 0)].iter().map(|q| queues.intern(q)).collect();
        assert_eq!(arrivals, [0, 1, 2, 1, 0, 0]);
    }

    #[test]
    fn names_are_ranked_in_their_order_whatever_their_arrival() {
        let (b, a, c) = ("b".to_string(), "a".to_string(), "c".to_string());
        let mut names: Names<'_, str> = Names::new();
        let arrivals: Vec<u32> = [&b, &a, &b, &b, &c, &a].iter().map(|name| names.intern(name)).collect();
        assert_eq!(arrivals, [0, 1, 0, 0, 2, 1]);
        let (sorted, rank_of) = names.rank();
        assert_eq!(sorted, ["a", "b", "c"]);
        assert_eq!(rank_of, [1, 0, 2]);
        assert_eq!((rank_in(&sorted, "c"), rank_in(&sorted, "d")), (Some(2), None));
    }

    #[test]
    fn messages_are_numbered_in_id_order_inside_and_outside_the_tables() {
        let named = [id(1, 3), id(0, 7), id(70, 0), id(1, 3), id(0, 1_000), id(0, 2), id(1, u64::MAX), id(3, 0)];
        let messages = Messages::of(named.into_iter(), 100);
        let mut sorted = named.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(messages.len(), sorted.len());
        for (no, expected) in (0u32..).zip(&sorted) {
            assert_eq!(messages.id(no), *expected);
            assert_eq!(messages.number(*expected), Some(no));
        }
        assert_eq!(messages.number(id(0, 3)), None, "inside a table, not named");
        assert_eq!(messages.number(id(2, 0)), None, "a producer without a table");
        assert_eq!(messages.number(id(0, 999)), None, "outside the tables");
        assert_eq!(messages.of_producer(0), 0..3);
        assert_eq!(messages.of_producer(1), 3..5);
        assert_eq!(messages.of_producer(2), 5..5);
        assert_eq!(messages.of_producer(70), 6..7);
    }

    #[test]
    fn grouped_items_keep_their_order_within_a_key() {
        let keys = [Some(2), None, Some(0), Some(2), Some(2), Some(0)];
        let grouped = Grouped::by_key(4, (0u32..).zip(keys));
        assert_eq!(grouped.of(0), [2, 5]);
        assert!(grouped.of(1).is_empty() && grouped.of(3).is_empty() && grouped.of(9).is_empty());
        assert_eq!(grouped.of(2), [0, 3, 4]);
        assert_eq!(grouped.into_items(), [2, 5, 0, 3, 4]);
        // Two passes, least significant key first, sort by (tens, units).
        let numbers = [31u32, 12, 30, 11, 2, 32];
        let by_units = Grouped::reorder(&[0, 1, 2, 3, 4, 5], 10, |at| numbers[at as usize] % 10);
        let by_both = Grouped::reorder(&by_units, 10, |at| numbers[at as usize] / 10);
        assert_eq!(by_both.iter().map(|at| numbers[*at as usize]).collect::<Vec<_>>(), [2, 11, 12, 30, 31, 32]);
        let mut filled = Grouped::with_capacity(2, 3);
        filled.push(7);
        assert_eq!(filled.open(), [7]);
        filled.close();
        filled.push(8);
        filled.push(9);
        filled.close();
        assert_eq!((filled.of(0), filled.of(1)), (&[7][..], &[8, 9][..]));
    }
}
