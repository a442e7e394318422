//! The storage engine's query and maintenance paths on the simulated disk: pull statuses and
//! next offsets, tag filtering, lookup by time and by offsetMsgId position, retention, topic
//! deletion, consumer offsets (including Java's unquoted-key JSON) and the ENOSPC path.

use std::sync::Arc;

use bytes::Bytes;
use petrel_core::message::record::decode_record;
use petrel_core::message::tags::tags_code;
use petrel_core::message::MessageToStore;
use petrel_core::store::consumer_offset::{ConsumerOffsets, CONSUMER_OFFSET_PATH};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::{GetStatus, MessageStore, QueueOffset, StoreConfig, StoreError};
mod common;

use petrel_sim::disk::SimDisk;

/// This file's messages: 1500-byte bodies.
fn message(topic: &str, queue_id: i32, n: u64, tag: &str) -> MessageToStore {
    common::message(topic, queue_id, n, tag, 1500)
}

fn open(disk: &SimDisk) -> MessageStore {
    let disk: DiskRef = Arc::new(disk.clone());
    MessageStore::open(disk, StoreConfig::small_for_tests()).expect("open").0
}

/// Messages 0..count into T-0 at store times 1000 * n, alternating tags A and B.
fn filled(count: u64) -> (SimDisk, MessageStore) {
    let disk = SimDisk::with_seed(5);
    let mut store = open(&disk);
    for n in 0..count {
        let tag = if n % 2 == 0 { "A" } else { "B" };
        store.put_messages(&[message("T", 0, n, tag)], 1_000 * n as i64).expect("put");
    }
    (disk, store)
}

#[test]
fn pull_statuses_and_next_offsets_follow_rocketmq() {
    let (_disk, store) = filled(10);
    let all = |_: i64| true;
    let found = store.get_messages("T", 0, QueueOffset(3), 4, &all).expect("get");
    assert_eq!(found.status, GetStatus::Found);
    assert_eq!(found.queue_offsets, (3..7).map(QueueOffset).collect::<Vec<_>>());
    assert_eq!(found.next_begin_offset, QueueOffset(7));
    assert_eq!((found.min_offset, found.max_offset), (QueueOffset(0), QueueOffset(10)));

    let at_end = store.get_messages("T", 0, QueueOffset(10), 4, &all).expect("get");
    assert_eq!((at_end.status, at_end.next_begin_offset), (GetStatus::OffsetOverflowOne, QueueOffset(10)));
    let past_end = store.get_messages("T", 0, QueueOffset(99), 4, &all).expect("get");
    assert_eq!(past_end.status, GetStatus::OffsetOverflowBadly);
    let unknown = store.get_messages("T", 5, QueueOffset(0), 4, &all).expect("get");
    assert_eq!(unknown.status, GetStatus::NoMatchedLogicQueue);
}

#[test]
fn tag_filter_skips_by_hash_and_still_advances() {
    let (_disk, store) = filled(10);
    let wanted = tags_code(Some("B"));
    let only_b = move |code: i64| code == wanted;
    let got = store.get_messages("T", 0, QueueOffset(0), 32, &only_b).expect("get");
    assert_eq!(got.queue_offsets, vec![QueueOffset(1), QueueOffset(3), QueueOffset(5), QueueOffset(7), QueueOffset(9)]);
    assert_eq!(got.next_begin_offset, QueueOffset(10));
    let none = move |code: i64| code == tags_code(Some("C"));
    let nothing = store.get_messages("T", 0, QueueOffset(0), 32, &none).expect("get");
    assert_eq!((nothing.status, nothing.next_begin_offset), (GetStatus::NoMatchedMessage, QueueOffset(10)));
}

#[test]
fn offsets_are_found_by_store_time_and_records_by_position() {
    let (_disk, store) = filled(10);
    assert_eq!(store.offset_by_time("T", 0, 0).expect("search"), QueueOffset(0));
    assert_eq!(store.offset_by_time("T", 0, 4_500).expect("search"), QueueOffset(5));
    assert_eq!(store.offset_by_time("T", 0, 9_000).expect("search"), QueueOffset(9));
    assert_eq!(store.offset_by_time("T", 0, 1_000_000).expect("search"), QueueOffset(10));

    let got = store.get_messages("T", 0, QueueOffset(6), 1, &|_| true).expect("get");
    let ext = decode_record(got.records[0].clone()).expect("decodes");
    let (record, meta) = store
        .message_at(petrel_core::store::CommitLogOffset(ext.commit_log_offset as u64))
        .expect("lookup")
        .expect("found");
    assert_eq!(meta.queue_offset, 6);
    assert_eq!(record, got.records[0]);
}

#[test]
fn retention_deletes_old_files_and_moves_min_offsets() {
    let (disk, mut store) = filled(200);
    assert_eq!(
        store.delete_expired(40 * 86_400_000 + 4 * 3_600_000, None).expect("retention"),
        0,
        "nothing is deleted before it is checkpointed"
    );
    store.flush_all().expect("flush and checkpoint");
    let files_before = disk.file_names().iter().filter(|n| n.starts_with("commitlog/")).count();
    assert!(files_before > 3, "the test needs several CommitLog files");
    // 04:00 UTC on a day long after every message: all but the current file are expired.
    let now = 40 * 86_400_000 + 4 * 3_600_000;
    let mut deleted = 0;
    while let Ok(n @ 1..) = store.delete_expired(now, None) {
        deleted += n;
    }
    let files_after = disk.file_names().iter().filter(|n| n.starts_with("commitlog/")).count();
    assert_eq!(files_after, 1, "only the file being written stays");
    assert_eq!(deleted, files_before - 1);
    let min = store.min_offset("T", 0);
    assert!(min > QueueOffset(0) && min < QueueOffset(200));
    let too_small = store.get_messages("T", 0, QueueOffset(0), 8, &|_| true).expect("get");
    assert_eq!((too_small.status, too_small.next_begin_offset), (GetStatus::OffsetTooSmall, min));
    let first_kept = store.get_messages("T", 0, min, 1, &|_| true).expect("get");
    assert_eq!(first_kept.status, GetStatus::Found);
    drop(store);
    let reopened = open(&disk);
    assert_eq!(reopened.max_offset("T", 0), QueueOffset(200), "retention keeps the queue's max offset");
}

#[test]
fn nothing_is_deleted_before_the_hour_or_while_young() {
    let (_disk, mut store) = filled(200);
    let five_am = 40 * 86_400_000 + 5 * 3_600_000;
    assert_eq!(store.delete_expired(five_am, None).expect("retention"), 0);
    let four_am_soon_after = 4 * 3_600_000;
    assert_eq!(store.delete_expired(four_am_soon_after, None).expect("retention"), 0);
}

#[test]
fn deleting_a_topic_removes_its_queues_only() {
    let (disk, mut store) = filled(5);
    store.put_messages(&[message("U", 1, 0, "A")], 1).expect("put");
    store.delete_topic("T").expect("delete");
    assert_eq!(store.max_offset("T", 0), QueueOffset(0));
    assert_eq!(store.max_offset("U", 1), QueueOffset(1));
    assert!(!disk.file_names().iter().any(|n| n.starts_with("consumequeue/T/")));
}

#[test]
fn consumer_offsets_persist_atomically_and_read_java_json() {
    let disk = SimDisk::with_seed(1);
    let disk_ref: DiskRef = Arc::new(disk.clone());
    let mut offsets = ConsumerOffsets::default();
    offsets.commit("g1", "T", 0, 42);
    offsets.commit("g1", "T", 3, 7);
    offsets.commit("g2", "U", 1, 9);
    offsets.persist(&disk_ref).expect("persist");
    let loaded = ConsumerOffsets::load(&disk_ref).expect("load");
    assert_eq!(loaded, offsets);
    assert_eq!(loaded.query("g1", "T", 3), Some(7));
    assert_eq!(loaded.query("g1", "T", 1), None);

    let java = br#"{"offsetTable":{"TopicTest@please_rename":{0:250,1:251}}}"#;
    disk_ref.replace_atomic(CONSUMER_OFFSET_PATH, java).expect("write");
    let from_java = ConsumerOffsets::load(&disk_ref).expect("java json loads");
    assert_eq!(from_java.query("please_rename", "TopicTest", 1), Some(251));

    disk_ref.replace_atomic(CONSUMER_OFFSET_PATH, b"{not json").expect("write");
    assert!(matches!(ConsumerOffsets::load(&disk_ref), Err(StoreError::Metadata { .. })));
}

#[test]
fn a_full_disk_refuses_puts_with_a_typed_error_and_loses_nothing() {
    let disk = SimDisk::with_seed(2);
    let mut store = open(&disk);
    store.put_messages(&[message("T", 0, 0, "A")], 1).expect("put");
    disk.set_capacity(Some(disk.allocated_bytes()));
    let mut refused = None;
    for n in 1..200 {
        match store.put_messages(&[message("T", 0, n, "A")], 1) {
            Ok(_) => {}
            Err(error) => {
                refused = Some((n, error));
                break;
            }
        }
    }
    let (refused_at, error) = refused.expect("a full disk refuses a put once a new file is needed");
    assert!(matches!(error, StoreError::Disk(petrel_core::store::disk::DiskError::NoSpace { .. })), "{error}");
    assert_eq!(store.failed(), None, "a refused roll leaves the store consistent");
    disk.set_capacity(None);
    store.put_messages(&[message("T", 0, refused_at, "A")], 1).expect("put after space is freed");
    store.shutdown().expect("shutdown");
    let store = open(&disk);
    assert_eq!(store.max_offset("T", 0), QueueOffset(refused_at + 1));
}

/// Under SYNC_FLUSH a consumer sees a message only once it is synced: a power loss could
/// otherwise take back what was read and give its offset to another message.
#[test]
fn sync_flush_serves_only_synced_messages() {
    let disk = SimDisk::with_seed(9);
    let disk_ref: DiskRef = Arc::new(disk.clone());
    let config = StoreConfig { flush_mode: petrel_core::store::FlushMode::Sync, ..StoreConfig::small_for_tests() };
    let (mut store, _) = MessageStore::open(disk_ref, config).expect("open");
    store.put_messages(&[message("T", 0, 0, "A")], 1).expect("put");
    let before = store.get_messages("T", 0, QueueOffset(0), 8, &|_| true).expect("get");
    assert_eq!((before.status, before.next_begin_offset), (GetStatus::OffsetOverflowOne, QueueOffset(0)));
    assert_eq!(store.max_offset("T", 0), QueueOffset(1));
    assert_eq!(store.visible_max_offset("T", 0).expect("visible"), QueueOffset(0), "long polling must not wake yet");
    let plan = store.flush_plan();
    plan.execute().expect("sync");
    store.flushed(plan.to);
    let after = store.get_messages("T", 0, QueueOffset(0), 8, &|_| true).expect("get");
    assert_eq!((after.status, after.queue_offsets.len()), (GetStatus::Found, 1));
    assert_eq!(store.visible_max_offset("T", 0).expect("visible"), QueueOffset(1));
}

/// A pull stops at its byte budget (256 KiB) and resumes where it stopped.
#[test]
fn pulls_respect_the_byte_budget() {
    let disk = SimDisk::with_seed(4);
    let disk_ref: DiskRef = Arc::new(disk.clone());
    let config = StoreConfig {
        commit_log_file_size_bytes: 1 << 20,
        message_size_max_bytes: 200 * 1024,
        ..StoreConfig::small_for_tests()
    };
    let (mut store, _) = MessageStore::open(disk_ref, config).expect("open");
    for n in 0..5 {
        let mut big = message("T", 0, n, "A");
        big.body = Bytes::from(vec![n as u8; 100 * 1024]);
        store.put_messages(&[big], 1).expect("put");
    }
    let first = store.get_messages("T", 0, QueueOffset(0), 32, &|_| true).expect("get");
    assert_eq!(first.queue_offsets, vec![QueueOffset(0), QueueOffset(1)]);
    assert_eq!(first.next_begin_offset, QueueOffset(2));
    let second = store.get_messages("T", 0, first.next_begin_offset, 32, &|_| true).expect("get");
    assert_eq!(second.queue_offsets, vec![QueueOffset(2), QueueOffset(3)]);
}

/// A batch that mixes queues is refused with a typed error and stores nothing.
#[test]
fn a_mixed_batch_is_refused() {
    let disk = SimDisk::with_seed(6);
    let mut store = open(&disk);
    let batch = [message("T", 0, 0, "A"), message("T", 1, 1, "A")];
    assert!(matches!(store.put_messages(&batch, 1), Err(StoreError::MixedBatch)));
    assert_eq!(store.commit_log_max_offset().0, 0);
    assert_eq!(store.failed(), None);
}
