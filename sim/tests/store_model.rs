//! Model-based property test of the storage engine on the simulated disk.
//!
//! Proptest draws a sequence of operations (puts of random topics, queues, sizes, tags and
//! keys; flushes; checkpoints; clean restarts; process kills; power losses; reads) and runs it
//! against a `MessageStore` on a `SimDisk` and against a plain model (a list of messages per
//! queue). After every step it checks the store against the model:
//! - every synced message reads back identical after any crash;
//! - after a kill nothing put is lost (page cache survives), in either flush mode;
//! - after a power loss what survives is a prefix of the log: everything synced, then some of
//!   the rest in put order, never a partial or phantom record;
//! - each (topic, queue, offset) names the same message for as long as it exists;
//! - the ConsumeQueue agrees with the CommitLog (the record found through the queue carries
//!   that queue id and queue offset), and key lookups find the messages with that key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use petrel_core::message::properties::keys;
use petrel_core::message::record::decode_record;
use petrel_core::message::{MessageToStore, Properties};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::{FlushMode, MessageStore, QueueOffset, StoreConfig};
use petrel_sim::disk::{CrashKind, SimDisk};
use proptest::prelude::*;

const TOPICS: [&str; 3] = ["TopicA", "TopicB", "%RETRY%group"];
const QUEUES: i32 = 3;
const TAGS: [&str; 3] = ["TagA", "TagB", "TagC"];

#[derive(Debug, Clone)]
enum Op {
    /// Put a batch of `count` messages into one queue.
    Put { topic: usize, queue: i32, count: usize, body_len: usize, tag: Option<usize>, key: Option<u8> },
    /// Sync the CommitLog, queues and indexes and write the checkpoint.
    Flush,
    /// Shut down cleanly and reopen.
    Restart,
    /// The process dies; the page cache survives.
    Kill,
    /// The machine loses power; unsynced pages are lost or torn.
    PowerLoss,
    /// Read a queue from a chosen offset.
    Read { topic: usize, queue: i32, from: usize },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..TOPICS.len(), 0..QUEUES, 1..4usize, 0..3000usize, proptest::option::of(0..TAGS.len()), proptest::option::of(0..6u8))
            .prop_map(|(topic, queue, count, body_len, tag, key)| Op::Put { topic, queue, count, body_len, tag, key }),
        2 => Just(Op::Flush),
        1 => Just(Op::Restart),
        1 => Just(Op::Kill),
        2 => Just(Op::PowerLoss),
        3 => (0..TOPICS.len(), 0..QUEUES, 0..64usize).prop_map(|(topic, queue, from)| Op::Read { topic, queue, from }),
    ]
}

/// What the model remembers of one message.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    /// Put order across the whole store (the CommitLog order).
    seq: u64,
    body: Bytes,
    tag: Option<&'static str>,
    key: Option<String>,
}

struct Harness {
    disk: SimDisk,
    config: StoreConfig,
    store: Option<MessageStore>,
    /// Messages per (topic, queue), by queue offset.
    queues: BTreeMap<(usize, i32), Vec<Expected>>,
    /// Every message with seq below this is durable.
    synced_seq: u64,
    next_seq: u64,
}

fn host(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn body_for(seq: u64, len: usize) -> Bytes {
    let mut body = seq.to_be_bytes().to_vec();
    body.extend((0..len).map(|i| (seq as usize * 31 + i) as u8));
    Bytes::from(body)
}

impl Harness {
    fn new(seed: u64, flush_mode: FlushMode) -> Harness {
        let disk = SimDisk::with_seed(seed);
        let config = StoreConfig { flush_mode, ..StoreConfig::small_for_tests() };
        let mut harness = Harness { disk, config, store: None, queues: BTreeMap::new(), synced_seq: 0, next_seq: 0 };
        harness.reopen();
        harness
    }

    fn disk_ref(&self) -> DiskRef {
        Arc::new(self.disk.clone())
    }

    fn reopen(&mut self) {
        let (store, _report) = MessageStore::open(self.disk_ref(), self.config.clone()).expect("store opens");
        self.store = Some(store);
    }

    fn store(&mut self) -> &mut MessageStore {
        self.store.as_mut().expect("store is open")
    }

    fn put(&mut self, topic: usize, queue: i32, count: usize, body_len: usize, tag: Option<usize>, key: Option<u8>) {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..count {
            let seq = self.next_seq;
            self.next_seq += 1;
            let mut properties = Properties::new();
            let tag = tag.map(|t| TAGS[t]);
            if let Some(tag) = tag {
                properties.set(keys::TAGS, tag);
            }
            let key = key.map(|k| format!("key-{k}"));
            if let Some(key) = &key {
                properties.set(keys::KEYS, key.clone());
            }
            properties.set(keys::UNIQ_KEY, format!("{seq:032X}"));
            let body = body_for(seq, body_len);
            batch.push(MessageToStore {
                topic: TOPICS[topic].to_string(),
                queue_id: queue,
                flag: 0,
                body: body.clone(),
                properties,
                sys_flag: 0,
                born_timestamp: 1_000 + seq as i64,
                born_host: host(5000),
                store_host: host(10911),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            });
            expected.push(Expected { seq, body, tag, key });
        }
        let now = 2_000 + self.next_seq as i64;
        let result = self.store().put_messages(&batch, now).expect("put succeeds");
        let list = self.queues.entry((topic, queue)).or_default();
        for (stored, expected) in result.messages.iter().zip(expected) {
            assert_eq!(stored.queue_offset, QueueOffset(list.len() as u64), "queue offsets are dense");
            list.push(expected);
        }
        if self.config.flush_mode == FlushMode::Sync {
            // SYNC_FLUSH acknowledges only after the group commit covering the put.
            self.flush_log();
        }
    }

    fn flush_log(&mut self) {
        let store = self.store();
        let plan = store.flush_plan();
        plan.execute().expect("sync succeeds");
        store.flushed(plan.to);
        self.synced_seq = self.next_seq;
    }

    fn crash(&mut self, kind: CrashKind) {
        self.store = None;
        self.disk.crash(kind);
        self.reopen();
        if kind == CrashKind::PowerLoss {
            self.keep_surviving_prefix();
        }
        self.synced_seq = self.next_seq;
    }

    /// After a power loss the store keeps a prefix of the put order that includes every synced
    /// message; the model drops what the store lost and checks that shape.
    fn keep_surviving_prefix(&mut self) {
        let mut survived_max = None::<u64>;
        let mut lost_min = None::<u64>;
        let keys: Vec<_> = self.queues.keys().copied().collect();
        for (topic, queue) in keys {
            let kept = self.store().max_offset(TOPICS[topic], queue).0 as usize;
            let list = self.queues.get_mut(&(topic, queue)).expect("key exists");
            assert!(kept <= list.len(), "phantom messages in {}-{queue}: {kept} > {}", TOPICS[topic], list.len());
            if let Some(last) = list[..kept].last() {
                survived_max = survived_max.max(Some(last.seq));
            }
            if let Some(first_lost) = list.get(kept) {
                assert!(first_lost.seq >= self.synced_seq, "synced message seq {} lost", first_lost.seq);
                lost_min = Some(lost_min.map_or(first_lost.seq, |m: u64| m.min(first_lost.seq)));
            }
            list.truncate(kept);
        }
        if let (Some(survived), Some(lost)) = (survived_max, lost_min) {
            assert!(survived < lost, "not a prefix: seq {survived} survived but seq {lost} was lost");
        }
    }

    /// Reads a queue from `from` and compares every record with the model.
    fn check_read(&mut self, topic: usize, queue: i32, from: usize) {
        let expected = self.queues.get(&(topic, queue)).cloned().unwrap_or_default();
        let from = from.min(expected.len());
        let store = self.store.as_ref().expect("open");
        let result = store
            .get_messages(TOPICS[topic], queue, QueueOffset(from as u64), 32, &|_| true)
            .expect("read succeeds");
        assert_eq!(result.max_offset.0 as usize, expected.len(), "max offset of {}-{queue}", TOPICS[topic]);
        for (record, offset) in result.records.iter().zip(&result.queue_offsets) {
            let message = decode_record(record.clone()).expect("a returned record decodes");
            let want = &expected[offset.0 as usize];
            assert_eq!(message.topic, TOPICS[topic]);
            assert_eq!(message.queue_id, queue, "ConsumeQueue and CommitLog disagree on the queue");
            assert_eq!(message.queue_offset, offset.0 as i64, "ConsumeQueue and CommitLog disagree on the offset");
            assert_eq!(message.body, want.body, "message at {}-{queue}@{} changed", TOPICS[topic], offset.0);
            assert_eq!(message.tags(), want.tag);
        }
        if from < expected.len() {
            assert!(!result.records.is_empty(), "a non-empty range returned nothing");
            assert_eq!(result.queue_offsets[0].0 as usize, from);
        }
    }

    /// Every queue, every message, plus one key lookup per queue.
    fn check_everything(&mut self) {
        let keys: Vec<_> = self.queues.keys().copied().collect();
        for (topic, queue) in keys {
            let len = self.queues[&(topic, queue)].len();
            let mut from = 0;
            while from < len {
                self.check_read(topic, queue, from);
                from += 32;
            }
            self.check_key_lookup(topic, queue);
        }
    }

    fn check_key_lookup(&mut self, topic: usize, queue: i32) {
        let list = &self.queues[&(topic, queue)];
        let Some(want) = list.iter().rev().find(|m| m.key.is_some()) else { return };
        let key = want.key.clone().expect("found with a key");
        let store = self.store.as_ref().expect("open");
        let found = store.query_by_key(TOPICS[topic], &key, 64, 0, i64::MAX).expect("query succeeds");
        assert!(
            found.iter().any(|(record, _)| decode_record(record.clone()).is_ok_and(|m| m.body == want.body)),
            "key {key} does not find its newest message in {}-{queue}",
            TOPICS[topic]
        );
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Put { topic, queue, count, body_len, tag, key } => self.put(topic, queue, count, body_len, tag, key),
            Op::Flush => {
                self.flush_log();
                self.store().checkpoint(false).expect("checkpoint");
            }
            Op::Restart => {
                self.store.take().expect("open").shutdown().expect("clean shutdown");
                self.synced_seq = self.next_seq;
                self.reopen();
                self.check_everything();
            }
            Op::Kill => {
                self.crash(CrashKind::ProcessKill);
                self.check_everything();
            }
            Op::PowerLoss => {
                self.crash(CrashKind::PowerLoss);
                self.check_everything();
            }
            Op::Read { topic, queue, from } => self.check_read(topic, queue, from),
        }
    }
}

fn run(seed: u64, mode: FlushMode, ops: &[Op]) {
    let mut harness = Harness::new(seed, mode);
    for op in ops {
        harness.apply(op);
    }
    harness.crash(CrashKind::PowerLoss);
    harness.check_everything();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn async_flush_store_matches_the_model(seed in any::<u64>(), ops in proptest::collection::vec(op_strategy(), 1..80)) {
        run(seed, FlushMode::Async(Default::default()), &ops);
    }

    #[test]
    fn sync_flush_store_matches_the_model(seed in any::<u64>(), ops in proptest::collection::vec(op_strategy(), 1..80)) {
        run(seed, FlushMode::Sync, &ops);
    }
}

/// A kill right after unsynced puts loses nothing in ASYNC_FLUSH: the page cache survives.
#[test]
fn kill_keeps_every_unsynced_put() {
    let mut harness = Harness::new(7, FlushMode::Async(Default::default()));
    for i in 0..40 {
        harness.put(i % 3, (i % 2) as i32, 2, 900, Some(i % 3), Some((i % 5) as u8));
    }
    let before: usize = harness.queues.values().map(Vec::len).sum();
    harness.crash(CrashKind::ProcessKill);
    harness.check_everything();
    let after: usize = (0..3).flat_map(|t| (0..2).map(move |q| (t, q))).map(|(t, q)| harness.store().max_offset(TOPICS[t], q).0 as usize).sum();
    assert_eq!(before, 80);
    assert_eq!(after, 80, "a process kill lost unsynced messages");
}
