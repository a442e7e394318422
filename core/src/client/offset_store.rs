//! A consumer's progress as pure state: `ProcessQueue`, the messages of one queue that were
//! pulled and not yet consumed, and `OffsetTable`, the offsets a consumer commits.
//!
//! At-least-once rests on one invariant (RocketMQ's `ProcessQueue.removeMessage`): the offset
//! committed for a queue is never past a message that was pulled and not yet processed. It is
//! the lowest in-flight offset, or one past the highest offset pulled when nothing is in flight.
//! Messages consumed out of order therefore hold the commit back until the gap is filled; a
//! crash re-delivers the uncommitted tail, never loses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::queue::MessageQueue;

/// One pulled message's bookkeeping: its queue offset and body size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// Logical offset in its queue.
    pub queue_offset: i64,
    /// Body size, for the bytes limit of flow control.
    pub body_bytes: usize,
}

/// The pulled, not yet consumed messages of one queue (`ProcessQueue`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessQueue {
    /// Queue offset -> body bytes of every message in flight.
    in_flight: BTreeMap<i64, usize>,
    /// Sum of the in-flight bodies.
    in_flight_bytes: usize,
    /// Highest queue offset ever added (`queueOffsetMax`); -1 before the first.
    offset_max: i64,
}

impl ProcessQueue {
    /// An empty process queue.
    pub fn new() -> Self {
        ProcessQueue { in_flight: BTreeMap::new(), in_flight_bytes: 0, offset_max: -1 }
    }

    /// Messages in flight.
    pub fn count(&self) -> usize {
        self.in_flight.len()
    }

    /// Body bytes in flight.
    pub fn bytes(&self) -> usize {
        self.in_flight_bytes
    }

    /// Whether pulling must pause (`count_max` messages or `bytes_max` bytes in flight).
    pub fn over_limits(&self, count_max: usize, bytes_max: usize) -> bool {
        self.count() >= count_max || self.bytes() >= bytes_max
    }

    /// Records freshly pulled messages. A message already in flight is not counted twice.
    pub fn add(&mut self, messages: &[InFlight]) {
        for message in messages {
            assert!(message.queue_offset >= 0, "queue offsets are never negative");
            if self.in_flight.insert(message.queue_offset, message.body_bytes).is_none() {
                self.in_flight_bytes += message.body_bytes;
            }
            self.offset_max = self.offset_max.max(message.queue_offset);
        }
    }

    /// Removes consumed messages and returns the offset that may now be committed, or `None`
    /// when nothing was ever added (`removeMessage`).
    pub fn remove(&mut self, queue_offsets: &[i64]) -> Option<i64> {
        for offset in queue_offsets {
            if let Some(bytes) = self.in_flight.remove(offset) {
                self.in_flight_bytes -= bytes;
            }
        }
        self.commit_offset()
    }

    /// The offset that may be committed now: the lowest in flight, else one past the highest
    /// added; `None` before anything was added.
    pub fn commit_offset(&self) -> Option<i64> {
        if let Some((lowest, _)) = self.in_flight.first_key_value() {
            return Some(*lowest);
        }
        (self.offset_max >= 0).then_some(self.offset_max + 1)
    }
}

/// The offsets a consumer commits, per queue (`OffsetStore`'s table), with the queues changed
/// since the last persist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetTable {
    /// Queue -> next offset to consume.
    offsets: BTreeMap<MessageQueue, i64>,
    /// Queues whose offset changed since `take_dirty`.
    dirty: BTreeMap<MessageQueue, ()>,
}

impl OffsetTable {
    /// An empty table.
    pub fn new() -> Self {
        OffsetTable::default()
    }

    /// The offset of `queue`, if any.
    pub fn get(&self, queue: &MessageQueue) -> Option<i64> {
        self.offsets.get(queue).copied()
    }

    /// Sets `queue`'s offset. With `increase_only`, a lower offset than the stored one is
    /// ignored (consumption finishing out of order must not move the commit back).
    pub fn update(&mut self, queue: &MessageQueue, offset: i64, increase_only: bool) {
        assert!(offset >= 0, "committed offsets are never negative");
        // Called once per consumed message: the queue is cloned only the first time it is seen
        // (or marked dirty), not on every update.
        match self.offsets.get_mut(queue) {
            Some(old) if *old == offset || (increase_only && *old >= offset) => return,
            Some(old) => *old = offset,
            None => {
                self.offsets.insert(queue.clone(), offset);
            }
        }
        if !self.dirty.contains_key(queue) {
            self.dirty.insert(queue.clone(), ());
        }
    }

    /// Marks `queue` changed again (its commit failed), if it has an offset.
    pub fn mark_dirty(&mut self, queue: &MessageQueue) {
        if self.offsets.contains_key(queue) {
            self.dirty.insert(queue.clone(), ());
        }
    }

    /// Forgets `queue` (it went to another consumer), returning its last offset.
    pub fn remove(&mut self, queue: &MessageQueue) -> Option<i64> {
        self.dirty.remove(queue);
        self.offsets.remove(queue)
    }

    /// Every queue and offset, in queue order.
    pub fn all(&self) -> Vec<(MessageQueue, i64)> {
        self.offsets.iter().map(|(q, o)| (q.clone(), *o)).collect()
    }

    /// The queues changed since the last call, with their offsets; marks them clean.
    pub fn take_dirty(&mut self) -> Vec<(MessageQueue, i64)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty.into_keys().filter_map(|queue| self.get(&queue).map(|offset| (queue, offset))).collect()
    }

    /// The table as a local offsets file (broadcasting mode): JSON, one entry per queue.
    pub fn encode_file(&self) -> Vec<u8> {
        let entries: Vec<OffsetEntry> = self
            .offsets
            .iter()
            .map(|(queue, offset)| OffsetEntry {
                topic: queue.topic.clone(),
                broker_name: queue.broker_name.clone(),
                queue_id: queue.queue_id,
                offset: *offset,
            })
            .collect();
        serde_json::to_vec(&OffsetFile { offsets: entries }).unwrap_or_default()
    }

    /// A table read back from `encode_file`'s output; every entry is clean.
    pub fn decode_file(bytes: &[u8]) -> Result<OffsetTable, serde_json::Error> {
        let file: OffsetFile = serde_json::from_slice(bytes)?;
        let mut table = OffsetTable::new();
        for entry in file.offsets.into_iter().filter(|e| e.offset >= 0) {
            let queue = MessageQueue::new(entry.topic, entry.broker_name, entry.queue_id);
            table.offsets.insert(queue, entry.offset);
        }
        Ok(table)
    }
}

/// The local offsets file's content (`offsets.json` of Java's `LocalFileOffsetStore`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetFile {
    /// One entry per queue.
    offsets: Vec<OffsetEntry>,
}

/// One queue's offset in the local file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetEntry {
    /// The queue's topic.
    topic: String,
    /// The queue's broker group.
    broker_name: String,
    /// The queue's id.
    queue_id: i32,
    /// Next offset to consume.
    offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(offsets: &[i64]) -> Vec<InFlight> {
        offsets.iter().map(|o| InFlight { queue_offset: *o, body_bytes: 10 }).collect()
    }

    /// The commit never passes an unprocessed message, and catches up once the gap is filled.
    #[test]
    fn commit_stops_at_lowest_unprocessed() {
        let mut pq = ProcessQueue::new();
        assert_eq!(pq.commit_offset(), None);
        pq.add(&msgs(&[5, 6, 7, 8]));
        assert_eq!((pq.count(), pq.bytes()), (4, 40));
        assert_eq!(pq.remove(&[6, 8]), Some(5));
        assert_eq!(pq.remove(&[5]), Some(7));
        assert_eq!(pq.remove(&[7]), Some(9));
        assert_eq!((pq.count(), pq.bytes()), (0, 0));
        assert!(!pq.over_limits(1, 1));
        pq.add(&msgs(&[9]));
        pq.add(&msgs(&[9]));
        assert_eq!((pq.count(), pq.bytes()), (1, 10));
        assert!(pq.over_limits(1, 100) && pq.over_limits(5, 10));
    }

    /// Increase-only updates ignore older offsets; dirty queues are reported once.
    #[test]
    fn table_updates_and_dirty_tracking() {
        let q = MessageQueue::new("T", "b", 1);
        let mut table = OffsetTable::new();
        table.update(&q, 10, true);
        table.update(&q, 7, true);
        assert_eq!(table.get(&q), Some(10));
        assert_eq!(table.take_dirty(), vec![(q.clone(), 10)]);
        assert!(table.take_dirty().is_empty());
        table.update(&q, 7, false);
        assert_eq!(table.take_dirty(), vec![(q.clone(), 7)]);
        table.mark_dirty(&q);
        table.mark_dirty(&MessageQueue::new("T", "b", 9));
        assert_eq!(table.take_dirty(), vec![(q.clone(), 7)]);
        assert_eq!(table.remove(&q), Some(7));
        assert_eq!(table.get(&q), None);
    }

    /// The local file round-trips.
    #[test]
    fn file_round_trip() {
        let mut table = OffsetTable::new();
        table.update(&MessageQueue::new("T", "a", 0), 3, true);
        table.update(&MessageQueue::new("T", "b", 2), 9, true);
        let decoded = OffsetTable::decode_file(&table.encode_file()).expect("decodes");
        assert_eq!(decoded.all(), table.all());
        assert!(OffsetTable::decode_file(b"{").is_err());
    }
}
