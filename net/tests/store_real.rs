//! The storage engine on real files: the same flows as the simulated-disk tests, on memmap2
//! files in a temporary directory, including reopen after a drop without shutdown (the
//! process-kill path: the page cache keeps what was written), the async StoreService with
//! SYNC_FLUSH group commit on a real tokio runtime, and pull bodies that point into the map.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use petrel_core::broker::consumer::ConsumerManager;
use petrel_core::broker::offset::OffsetTable;
use petrel_core::broker::pull::{process_pull, PullAttempt, PullContext, PullDecision, PULL_SYS_FLAG_SUBSCRIPTION};
use petrel_core::message::properties::keys;
use petrel_core::message::record::decode_record;
use petrel_core::message::{MessageToStore, Properties};
use petrel_core::protocol::TopicConfig;
use petrel_core::remoting::{Body, PullMessageRequestHeader, RemotingCommand, RequestCode};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::service::StoreService;
use petrel_core::store::{Durability, FlushMode, MessageStore, QueueOffset, StoreConfig};
use petrel_net::disk::{MmapDisk, MmapOptions};

fn message(topic: &str, queue_id: i32, n: u64) -> MessageToStore {
    let mut properties = Properties::new();
    properties.set(keys::TAGS, if n.is_multiple_of(2) { "even" } else { "odd" });
    properties.set(keys::KEYS, format!("order-{n}"));
    let host: SocketAddr = "127.0.0.1:10911".parse().expect("address");
    MessageToStore {
        topic: topic.to_string(),
        queue_id,
        flag: 0,
        body: Bytes::from(format!("message {n} of {topic}-{queue_id}").repeat(20)),
        properties,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000 + n as i64,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn disk(dir: &tempfile::TempDir) -> DiskRef {
    Arc::new(MmapDisk::new(dir.path().to_path_buf(), MmapOptions { warm_up: false }))
}

fn config(flush_mode: FlushMode) -> StoreConfig {
    StoreConfig { flush_mode, ..StoreConfig::small_for_tests() }
}

/// Checks that queue `queue_id` of `topic` holds exactly messages 0..count in order.
fn assert_queue(store: &MessageStore, topic: &str, queue_id: i32, count: u64) {
    assert_eq!(store.max_offset(topic, queue_id), QueueOffset(count));
    let mut next = QueueOffset(0);
    while next.0 < count {
        let got = store.get_messages(topic, queue_id, next, 32, &|_| true).expect("read");
        assert!(!got.records.is_empty(), "no records at {next:?}");
        for (record, offset) in got.records.iter().zip(&got.queue_offsets) {
            let ext = decode_record(record.clone()).expect("decodes");
            assert_eq!(ext.body, message(topic, queue_id, offset.0).body);
            assert_eq!(ext.queue_offset, offset.0 as i64);
        }
        next = got.next_begin_offset;
    }
}

/// Messages written to real files survive a drop without shutdown and a clean reopen, across
/// several CommitLog files, and key lookup finds them.
#[test]
fn real_files_survive_reopen_after_drop_and_after_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, report) =
        MessageStore::open(disk(&dir), config(FlushMode::Async(Default::default()))).expect("open");
    assert!(report.clean);
    for n in 0..300 {
        for (topic, queue) in [("A", 0), ("A", 1), ("B", 0)] {
            store.put_messages(&[message(topic, queue, n)], 1_700_000_100_000 + n as i64).expect("put");
        }
    }
    assert!(
        store.commit_log_max_offset().0 > 4 * store.config().commit_log_file_size_bytes,
        "the test spans several files"
    );
    drop(store); // no shutdown: the page cache holds the tail, as after a process kill

    let (store, report) = MessageStore::open(disk(&dir), config(FlushMode::Async(Default::default()))).expect("reopen");
    assert!(!report.clean, "a drop without shutdown is not clean");
    for (topic, queue) in [("A", 0), ("A", 1), ("B", 0)] {
        assert_queue(&store, topic, queue, 300);
    }
    let found = store.query_by_key("B", "order-123", 8, 0, i64::MAX).expect("query");
    assert_eq!(found.len(), 1);
    store.shutdown().expect("shutdown");

    let (store, report) = MessageStore::open(disk(&dir), config(FlushMode::Async(Default::default()))).expect("reopen");
    assert!(report.clean);
    assert_eq!(report.redispatched, 0, "a clean shutdown needs no reput");
    assert_queue(&store, "A", 1, 300);
}

/// A torn record at the tail of the CommitLog is cut off on reopen; everything before it stays.
#[test]
fn a_torn_tail_on_real_files_is_truncated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("open");
    for n in 0..10 {
        store.put_messages(&[message("T", 0, n)], 1).expect("put");
    }
    store.flush_all().expect("flush");
    let put = store.put_messages(&[message("T", 0, 10)], 1).expect("put");
    let last = put.messages[0].offset.0 as usize;
    drop(store);
    // Damage the unsynced last record inside its body, as a torn write would.
    let path = dir.path().join("commitlog").join(format!("{:020}", 0));
    let mut bytes = std::fs::read(&path).expect("read log");
    let body_at = find(&bytes[last..], b"message 10 of T-0").expect("body is in the record");
    bytes[last + body_at + 3] ^= 0xFF;
    std::fs::write(&path, &bytes).expect("write log");

    let (store, report) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("reopen");
    assert!(report.tail.is_some(), "the torn record is reported");
    assert_queue(&store, "T", 0, 10);
}

/// Corruption inside data that was synced is an error naming the file, not a silent truncation.
#[test]
fn corruption_below_the_durable_mark_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("open");
    for n in 0..10 {
        store.put_messages(&[message("T", 0, n)], 1).expect("put");
    }
    store.flush_all().expect("flush");
    drop(store);
    // The checkpoint trusts everything: flip a byte inside the 5th record's body.
    let path = dir.path().join("commitlog").join(format!("{:020}", 0));
    let mut bytes = std::fs::read(&path).expect("read log");
    let fifth =
        (0..4).fold(0usize, |at, _| at + i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize);
    let body_at = find(&bytes[fifth..], b"message 4 of T-0").expect("body is in the record");
    bytes[fifth + body_at] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write log");
    // Recovery scans only past the checkpoint, so the damage shows when the record is read.
    let (store, _) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("reopen");
    let unit_offset = petrel_core::store::CommitLogOffset(fifth as u64);
    let error = store.message_at(unit_offset).expect_err("a corrupt record is reported");
    let text = error.to_string();
    assert!(text.contains("commitlog/00000000000000000000"), "error names the file: {text}");
}

/// SYNC_FLUSH through the async service: 16 concurrent appenders, every put acknowledged as
/// durable, and all of them read back after reopen.
#[tokio::test]
async fn sync_flush_service_acknowledges_only_durable_puts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("open");
    let service = StoreService::start(store);
    let mut tasks = Vec::new();
    for queue in 0..16 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..50 {
                let outcome = service.put_messages(&[message("S", queue, n)]).await.expect("put");
                assert_eq!(outcome.durability, Durability::Disk);
                assert!(!outcome.flush_timed_out);
                assert_eq!(outcome.result.messages[0].queue_offset, QueueOffset(n));
            }
        }));
    }
    for task in tasks {
        task.await.expect("appender finished");
    }
    service.shutdown().await.expect("shutdown");
    let (store, report) = MessageStore::open(disk(&dir), config(FlushMode::Sync)).expect("reopen");
    assert!(report.clean);
    for queue in 0..16 {
        assert_queue(&store, "S", queue, 50);
    }
}

/// On real files a pull's response body is the stored records themselves: each body part
/// points into the mmap'd CommitLog where the store's own read finds the record, so nothing
/// copies the records on their way to the transport.
#[test]
fn pull_body_parts_are_the_mapped_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = MessageStore::open(disk(&dir), config(FlushMode::Async(Default::default()))).expect("open");
    for n in 0..5 {
        store.put_messages(&[message("P", 0, n)], 1_700_000_100_000 + n as i64).expect("put");
    }
    let got = store.get_messages("P", 0, QueueOffset(0), 32, &|_| true).expect("read");
    assert_eq!(got.records.len(), 5);
    let header = PullMessageRequestHeader {
        consumer_group: "G".into(),
        topic: "P".into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: PULL_SYS_FLAG_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: None,
    };
    let request = RemotingCommand::request(RequestCode::PullMessage, &header);
    let topics = |topic: &str| (topic == "P").then(|| TopicConfig::new("P", 1));
    let consumers = ConsumerManager::new();
    let context = PullContext { store: &store, consumers: &consumers, topics: &topics };
    let decision = process_pull(&context, &mut OffsetTable::default(), 0, &request, PullAttempt::First);
    let PullDecision::Respond(response) = decision else { panic!("expected a response, got {decision:?}") };
    let parts = response.body.as_ref().map(Body::parts).unwrap_or_default();
    assert_eq!(parts.len(), got.records.len());
    for (part, record) in parts.iter().zip(&got.records) {
        assert_eq!(part.as_ptr(), record.as_ptr(), "a body part is the mapped record, not a copy");
        assert_eq!(part, record);
    }
    store.shutdown().expect("clean shutdown");
}
