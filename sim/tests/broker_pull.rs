//! The broker's consumer-side processors over a real `MessageStore` on the simulated disk:
//! pull (found, not found, long-poll hold and resume, offset moved, tag filters, heartbeat
//! subscriptions, offset commit), consumer offsets (query rule, persistence across a power
//! loss), queue bounds and time search, view by id, query by key, consume stats and runtime
//! info.

use std::sync::Arc;

use petrel_core::broker::consumer::{ClientChannel, ConsumerManager};
use petrel_core::broker::offset::{self, OffsetTable};
use petrel_core::broker::pull::{
    process_pull, PullAttempt, PullContext, PullDecision, SuspendedPull, PULL_SYS_FLAG_COMMIT_OFFSET,
    PULL_SYS_FLAG_SUBSCRIPTION, PULL_SYS_FLAG_SUSPEND,
};
use petrel_core::broker::query::{self, ConsumeStatsContext};
use petrel_core::message::record::decode_records;
use petrel_core::message::MessageToStore;
use petrel_core::namesrv::ConnectionId;
use petrel_core::protocol::heartbeat::{
    ConsumeStats, ConsumerData, HeartbeatData, MessageQueue, OffsetWrapper, SubscriptionData,
};
use petrel_core::protocol::{perm, JsonBody, KvTable, TopicConfig};
use petrel_core::remoting::{
    GetConsumeStatsRequestHeader, GetEarliestMsgStoretimeRequestHeader, GetMaxOffsetRequestHeader,
    GetMinOffsetRequestHeader, LanguageCode, PullMessageRequestHeader, PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryMessageRequestHeader, QueryMessageResponseHeader, RemotingCommand,
    RequestCode, ResponseCode, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader, ViewMessageRequestHeader,
};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::{MessageStore, StoreConfig};
mod common;

use petrel_sim::disk::{CrashKind, SimDisk};

/// This file's messages: 100-byte bodies.
fn message(topic: &str, queue_id: i32, n: u64, tag: &str) -> MessageToStore {
    common::message(topic, queue_id, n, tag, 100)
}

/// A store with messages 0..count in T-0, stored at 1000 * (n + 1), tags alternating A, B.
fn filled(count: u64) -> (SimDisk, MessageStore) {
    let disk = SimDisk::with_seed(7);
    let disk_ref: DiskRef = Arc::new(disk.clone());
    let mut store = MessageStore::open(disk_ref, StoreConfig::small_for_tests()).expect("open").0;
    for n in 0..count {
        let tag = if n % 2 == 0 { "A" } else { "B" };
        store.put_messages(&[message("T", 0, n, tag)], 1_000 * (n as i64 + 1)).expect("put");
    }
    (disk, store)
}

/// Topic T exists here with 2 read queues; nothing else does.
fn topics(topic: &str) -> Option<TopicConfig> {
    (topic == "T").then(|| TopicConfig::new("T", 2))
}

fn pull_request(offset: i64, sys_flag: i32, subscription: &str) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        consumer_group: "G".into(),
        topic: "T".into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 4,
        sys_flag,
        commit_offset: 3,
        suspend_timeout_millis: 15_000,
        subscription: Some(subscription.into()),
        sub_version: 0,
        expression_type: None,
    };
    RemotingCommand::request(RequestCode::PullMessage, &header).with_opaque(11)
}

/// Runs a pull and returns the response, failing if it was held.
fn respond(
    store: &MessageStore,
    consumers: &ConsumerManager,
    offsets: &mut OffsetTable,
    request: &RemotingCommand,
    attempt: PullAttempt,
) -> RemotingCommand {
    let context = PullContext { store, consumers, topics: &topics };
    match process_pull(&context, offsets, 50, request, attempt) {
        PullDecision::Respond(response) => response,
        PullDecision::Suspend(held) => panic!("expected a response, got a hold {held:?}"),
    }
}

/// Queue offsets of the records in a pull body.
fn body_offsets(response: &RemotingCommand) -> Vec<i64> {
    let body = response.body_bytes().unwrap_or_default();
    decode_records(body).expect("body is records").iter().map(|m| m.queue_offset).collect()
}

fn pull_header(response: &RemotingCommand) -> PullMessageResponseHeader {
    response.read_header().expect("pull response header")
}

/// A pull inside the queue answers SUCCESS with the records as the body and Java's header.
#[test]
fn pull_found_returns_records_and_offsets() {
    let (_disk, store) = filled(10);
    let mut offsets = OffsetTable::default();
    let request = pull_request(3, PULL_SYS_FLAG_SUBSCRIPTION, "*");
    let response = respond(&store, &ConsumerManager::new(), &mut offsets, &request, PullAttempt::First);
    assert_eq!((response.code, response.opaque, response.remark.as_deref()), (0, 11, Some("FOUND")));
    assert!(response.is_response());
    assert_eq!(body_offsets(&response), vec![3, 4, 5, 6]);
    let header =
        PullMessageResponseHeader { suggest_which_broker_id: 0, next_begin_offset: 7, min_offset: 0, max_offset: 10 };
    assert_eq!(pull_header(&response), header);
    assert_eq!(offsets.query("G", "T", 0), None, "no COMMIT_OFFSET flag, nothing committed");
}

/// At the end of the queue without SUSPEND: PULL_NOT_FOUND at once, next offset unchanged.
#[test]
fn pull_at_end_without_suspend_is_not_found() {
    let (_disk, store) = filled(10);
    let request = pull_request(10, PULL_SYS_FLAG_SUBSCRIPTION, "*");
    let response = respond(&store, &ConsumerManager::new(), &mut OffsetTable::default(), &request, PullAttempt::First);
    assert_eq!(response.code, ResponseCode::PullNotFound.as_i32());
    assert_eq!(response.remark.as_deref(), Some("OFFSET_OVERFLOW_ONE"));
    assert_eq!(response.body, None);
    assert_eq!(pull_header(&response).next_begin_offset, 10);
}

/// With SUSPEND the pull is held until now + suspendTimeoutMillis; run again it answers
/// PULL_NOT_FOUND while nothing came, and SUCCESS once a matching message arrived.
#[test]
fn long_poll_holds_then_resumes() {
    let (_disk, mut store) = filled(10);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let request = pull_request(10, PULL_SYS_FLAG_SUBSCRIPTION | PULL_SYS_FLAG_SUSPEND, "B");
    let context = PullContext { store: &store, consumers: &consumers, topics: &topics };
    let decision = process_pull(&context, &mut offsets, 1_000, &request, PullAttempt::First);
    let expected = SuspendedPull {
        deadline_ms: 16_000,
        topic: "T".into(),
        queue_id: 0,
        offset: 10,
        subscription: SubscriptionData::build("T", Some("B"), None).expect("tags"),
    };
    assert_eq!(decision, PullDecision::Suspend(expected.clone()));
    let timed_out = respond(&store, &consumers, &mut offsets, &request, PullAttempt::Resumed);
    assert_eq!(timed_out.code, ResponseCode::PullNotFound.as_i32());

    store.put_messages(&[message("T", 0, 10, "A")], 20_000).expect("put");
    assert!(!expected.wakes_on(11, Some(petrel_core::message::tags::tags_code(Some("A")))));
    store.put_messages(&[message("T", 0, 11, "B")], 21_000).expect("put");
    assert!(expected.wakes_on(12, Some(petrel_core::message::tags::tags_code(Some("B")))));
    let woken = respond(&store, &consumers, &mut offsets, &request, PullAttempt::Resumed);
    assert_eq!(woken.code, ResponseCode::Success.as_i32());
    assert_eq!(body_offsets(&woken), vec![11]);
    assert_eq!(pull_header(&woken).next_begin_offset, 12);
}

/// An empty or unknown queue at offset 0 is held like the end of a queue (PULL_NOT_FOUND); at
/// another offset it is PULL_OFFSET_MOVED, as is an offset past the end or below the minimum.
#[test]
fn offset_moved_and_empty_queue() {
    let (_disk, store) = filled(10);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let moved = respond(
        &store,
        &consumers,
        &mut offsets,
        &pull_request(99, PULL_SYS_FLAG_SUBSCRIPTION, "*"),
        PullAttempt::First,
    );
    assert_eq!(
        (moved.code, moved.remark.as_deref()),
        (ResponseCode::PullOffsetMoved.as_i32(), Some("OFFSET_OVERFLOW_BADLY"))
    );
    assert_eq!(
        pull_header(&moved),
        PullMessageResponseHeader { suggest_which_broker_id: 0, next_begin_offset: 0, min_offset: 0, max_offset: 10 }
    );

    let mut empty_queue = pull_request(5, PULL_SYS_FLAG_SUBSCRIPTION | PULL_SYS_FLAG_SUSPEND, "*");
    empty_queue.ext_fields.insert("queueId", "1");
    let response = respond(&store, &consumers, &mut offsets, &empty_queue, PullAttempt::First);
    assert_eq!(
        (response.code, response.remark.as_deref()),
        (ResponseCode::PullOffsetMoved.as_i32(), Some("NO_MATCHED_LOGIC_QUEUE"))
    );
    empty_queue.ext_fields.insert("queueOffset", "0");
    let context = PullContext { store: &store, consumers: &consumers, topics: &topics };
    assert!(matches!(
        process_pull(&context, &mut offsets, 0, &empty_queue, PullAttempt::First),
        PullDecision::Suspend(_)
    ));
}

/// A tag subscription returns only matching records but advances past the others; when
/// nothing matches, PULL_RETRY_IMMEDIATELY with the scan's next offset.
#[test]
fn tag_filter_by_hash() {
    let (_disk, store) = filled(10);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let only_b = respond(
        &store,
        &consumers,
        &mut offsets,
        &pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION, "B"),
        PullAttempt::First,
    );
    assert_eq!(body_offsets(&only_b), vec![1, 3, 5, 7]);
    assert_eq!(pull_header(&only_b).next_begin_offset, 8);
    let both = respond(
        &store,
        &consumers,
        &mut offsets,
        &pull_request(6, PULL_SYS_FLAG_SUBSCRIPTION, "A || B"),
        PullAttempt::First,
    );
    assert_eq!(body_offsets(&both), vec![6, 7, 8, 9]);
    let none = respond(
        &store,
        &consumers,
        &mut offsets,
        &pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION, "C"),
        PullAttempt::First,
    );
    assert_eq!(
        (none.code, none.remark.as_deref()),
        (ResponseCode::PullRetryImmediately.as_i32(), Some("NO_MATCHED_MESSAGE"))
    );
    assert_eq!(pull_header(&none).next_begin_offset, 10);
    let bad = respond(
        &store,
        &consumers,
        &mut offsets,
        &pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION, "||"),
        PullAttempt::First,
    );
    assert_eq!(bad.code, ResponseCode::SubscriptionParseFailed.as_i32());
}

/// Without the SUBSCRIPTION flag the group's heartbeat subscription filters; a missing group
/// or topic is SUBSCRIPTION_NOT_EXIST, and a request newer than the heartbeat is
/// SUBSCRIPTION_NOT_LATEST.
#[test]
fn heartbeat_subscription_filters() {
    let (_disk, store) = filled(10);
    let mut consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let request = pull_request(0, 0, "ignored");
    let missing = respond(&store, &consumers, &mut offsets, &request, PullAttempt::First);
    assert_eq!(missing.code, ResponseCode::SubscriptionNotExist.as_i32());
    let subscription =
        SubscriptionData { sub_version: 5, ..SubscriptionData::build("T", Some("A"), None).expect("tags") };
    let heartbeat = HeartbeatData {
        client_id: "c@1".into(),
        producer_data_set: Vec::new(),
        consumer_data_set: vec![ConsumerData {
            group_name: "G".into(),
            subscription_data_set: vec![subscription],
            ..ConsumerData::default()
        }],
    };
    let channel = ClientChannel { conn: ConnectionId(1), language: LanguageCode::Java, version: 401 };
    consumers.heartbeat(0, channel, &heartbeat);
    let only_a = respond(&store, &consumers, &mut offsets, &request, PullAttempt::First);
    assert_eq!(body_offsets(&only_a), vec![0, 2, 4, 6]);
    let mut newer = request.clone();
    newer.ext_fields.insert("subVersion", "6");
    let stale = respond(&store, &consumers, &mut offsets, &newer, PullAttempt::First);
    assert_eq!(stale.code, ResponseCode::SubscriptionNotLatest.as_i32());
}

/// Unknown topics and queues beyond the read queue count are refused with Java's codes.
#[test]
fn topic_and_queue_checks() {
    let (_disk, store) = filled(1);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let mut unknown = pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION, "*");
    unknown.ext_fields.insert("topic", "U");
    let response = respond(&store, &consumers, &mut offsets, &unknown, PullAttempt::First);
    assert_eq!(response.code, ResponseCode::TopicNotExist.as_i32());
    let mut far = pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION | PULL_SYS_FLAG_COMMIT_OFFSET, "*");
    far.ext_fields.insert("queueId", "2");
    let response = respond(&store, &consumers, &mut offsets, &far, PullAttempt::First);
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert_eq!(response.remark.as_deref(), Some("queueId[2] is illegal, topic:[T] topicConfig.readQueueNums:[2]"));
    assert_eq!(offsets.query("G", "T", 2), None, "a refused pull commits nothing");
    let read_only_gone = |_: &str| Some(TopicConfig { perm: perm::WRITE, ..TopicConfig::new("T", 2) });
    let context = PullContext { store: &store, consumers: &consumers, topics: &read_only_gone };
    let decision =
        process_pull(&context, &mut offsets, 0, &pull_request(0, PULL_SYS_FLAG_SUBSCRIPTION, "*"), PullAttempt::First);
    let PullDecision::Respond(response) = decision else { panic!("not held") };
    assert_eq!(response.code, ResponseCode::NoPermission.as_i32());
}

/// COMMIT_OFFSET commits the request's commitOffset on a first attempt (even one that is
/// held), never on a resumed one.
#[test]
fn pull_commits_offset_on_first_attempt_only() {
    let (_disk, store) = filled(10);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    let flags = PULL_SYS_FLAG_SUBSCRIPTION | PULL_SYS_FLAG_COMMIT_OFFSET | PULL_SYS_FLAG_SUSPEND;
    let mut request = pull_request(10, flags, "*");
    let context = PullContext { store: &store, consumers: &consumers, topics: &topics };
    assert!(matches!(process_pull(&context, &mut offsets, 0, &request, PullAttempt::First), PullDecision::Suspend(_)));
    assert_eq!(offsets.query("G", "T", 0), Some(3));
    assert!(offsets.is_dirty());
    request.ext_fields.insert("commitOffset", "9");
    respond(&store, &consumers, &mut offsets, &request, PullAttempt::Resumed);
    assert_eq!(offsets.query("G", "T", 0), Some(3));
}

fn query_offset_request(queue_id: i32) -> RemotingCommand {
    let header = QueryConsumerOffsetRequestHeader { consumer_group: "G".into(), topic: "T".into(), queue_id };
    RemotingCommand::request(RequestCode::QueryConsumerOffset, &header)
}

/// Committed offsets are answered; a never-committed group on a small queue starting at 0
/// starts at 0; offsets survive a power loss once persisted.
#[test]
fn consumer_offsets_query_update_and_persist() {
    let (disk, store) = filled(10);
    let disk_ref: DiskRef = Arc::new(disk.clone());
    let mut offsets = OffsetTable::load(&disk_ref).expect("empty table");
    let response = offset::query_consumer_offset(&store, &offsets, &query_offset_request(0));
    assert_eq!((response.code, response.ext_fields.get("offset")), (0, Some("0")));
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: "G".into(),
        topic: "T".into(),
        queue_id: 0,
        commit_offset: 7,
    };
    let update = RemotingCommand::request(RequestCode::UpdateConsumerOffset, &header);
    assert_eq!(offset::update_consumer_offset(&mut offsets, &update).code, 0);
    let response = offset::query_consumer_offset(&store, &offsets, &query_offset_request(0));
    assert_eq!(response.ext_fields.get("offset"), Some("7"));

    assert_eq!(offsets.persist_if_dirty(&disk_ref), Ok(true));
    assert_eq!(offsets.persist_if_dirty(&disk_ref), Ok(false));
    disk.crash(CrashKind::PowerLoss);
    let loaded = OffsetTable::load(&disk_ref).expect("loads");
    assert_eq!(loaded.query("G", "T", 0), Some(7));
    assert!(!loaded.is_dirty());
}

/// Queue bounds, time search and the earliest store time answer from the store.
#[test]
fn queue_bounds_and_time_search() {
    let (_disk, store) = filled(10);
    let max = RemotingCommand::request(
        RequestCode::GetMaxOffset,
        &GetMaxOffsetRequestHeader { topic: "T".into(), queue_id: 0 },
    );
    assert_eq!(offset::get_max_offset(&store, &max).ext_fields.get("offset"), Some("10"));
    let min = RemotingCommand::request(
        RequestCode::GetMinOffset,
        &GetMinOffsetRequestHeader { topic: "T".into(), queue_id: 0 },
    );
    assert_eq!(offset::get_min_offset(&store, &min).ext_fields.get("offset"), Some("0"));
    let search = |timestamp| {
        let header = SearchOffsetRequestHeader { topic: "T".into(), queue_id: 0, timestamp };
        let request = RemotingCommand::request(RequestCode::SearchOffsetByTimestamp, &header);
        offset::search_offset_by_timestamp(&store, &request).ext_fields.get("offset").map(str::to_owned)
    };
    assert_eq!(search(4_000).as_deref(), Some("3"));
    assert_eq!(search(4_500).as_deref(), Some("4"));
    assert_eq!(search(0).as_deref(), Some("0"));
    let earliest = |queue_id| {
        let header = GetEarliestMsgStoretimeRequestHeader { topic: "T".into(), queue_id };
        let request = RemotingCommand::request(RequestCode::GetEarliestMsgStoretime, &header);
        offset::get_earliest_msg_storetime(&store, &request).ext_fields.get("timestamp").map(str::to_owned)
    };
    assert_eq!(earliest(0).as_deref(), Some("1000"));
    assert_eq!(earliest(1).as_deref(), Some("-1"));
}

/// VIEW_MESSAGE_BY_ID returns the record at a CommitLog offset; an offset where no record
/// starts is Java's SYSTEM_ERROR.
#[test]
fn view_message_by_commit_log_offset() {
    let (_disk, mut store) = filled(3);
    let put = store.put_messages(&[message("T", 0, 3, "A")], 9_000).expect("put");
    let offset = put.messages[0].offset.get() as i64;
    let request = RemotingCommand::request(RequestCode::ViewMessageById, &ViewMessageRequestHeader { offset });
    let response = query::view_message_by_id(&store, &request);
    assert_eq!(response.code, 0);
    let messages = decode_records(response.body_bytes().unwrap_or_default()).expect("one record");
    assert_eq!((messages.len(), messages[0].queue_offset, messages[0].commit_log_offset), (1, 3, offset));
    let request =
        RemotingCommand::request(RequestCode::ViewMessageById, &ViewMessageRequestHeader { offset: offset + 1 });
    let response = query::view_message_by_id(&store, &request);
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert_eq!(response.remark, Some(format!("can not find message by the offset, {}", offset + 1)));
}

/// QUERY_MESSAGE finds messages by key within the time range; none found is QUERY_NOT_FOUND.
#[test]
fn query_message_by_key() {
    let (_disk, store) = filled(10);
    let query = |key: &str, begin_timestamp, end_timestamp| {
        let header = QueryMessageRequestHeader {
            topic: "T".into(),
            key: key.into(),
            max_num: 32,
            begin_timestamp,
            end_timestamp,
        };
        query::query_message(&store, &RemotingCommand::request(RequestCode::QueryMessage, &header))
    };
    let found = query("k3", 0, i64::MAX);
    assert_eq!(found.code, 0);
    let messages = decode_records(found.body_bytes().unwrap_or_default()).expect("records");
    assert_eq!(messages.iter().map(|m| m.queue_offset).collect::<Vec<_>>(), vec![3]);
    let header: QueryMessageResponseHeader = found.read_header().expect("header");
    assert_eq!(
        (header.index_last_update_timestamp, header.index_last_update_phyoffset),
        (4_000, messages[0].commit_log_offset)
    );
    let missing = query("k3", 5_000, 9_000);
    assert_eq!(missing.code, ResponseCode::QueryNotFound.as_i32());
    assert_eq!(missing.body, None);
}

/// Consume stats cover the topic's read queues with broker offset, committed offset and the
/// last consumed message's store time.
#[test]
fn consume_stats_per_read_queue() {
    let (_disk, store) = filled(10);
    let consumers = ConsumerManager::new();
    let mut offsets = OffsetTable::default();
    offsets.commit("G", "T", 0, 4);
    let context = ConsumeStatsContext {
        store: &store,
        consumers: &consumers,
        offsets: &offsets,
        topics: &topics,
        broker_name: "broker-a",
    };
    let request = RemotingCommand::request(
        RequestCode::GetConsumeStats,
        &GetConsumeStatsRequestHeader { consumer_group: "G".into(), topic: None },
    );
    let response = query::get_consume_stats(&context, &request);
    let queue = |queue_id| MessageQueue { topic: "T".into(), broker_name: "broker-a".into(), queue_id };
    let expected = ConsumeStats {
        offset_table: [
            (queue(0), OffsetWrapper { broker_offset: 10, consumer_offset: 4, last_timestamp: 4_000 }),
            (queue(1), OffsetWrapper { broker_offset: 0, consumer_offset: 0, last_timestamp: 0 }),
        ]
        .into(),
        consume_tps: 0.0,
    };
    assert_eq!(response.code, 0);
    assert_eq!(response.body_bytes(), Some(expected.encode_body()));
}

/// Runtime info states the CommitLog bounds, the oldest message's time and the boot time.
#[test]
fn runtime_info_states_commit_log_bounds() {
    let (_disk, store) = filled(10);
    let request = RemotingCommand::request(RequestCode::GetBrokerRuntimeInfo, &petrel_core::remoting::EmptyHeader);
    let response = query::get_broker_runtime_info(&store, 123, &request);
    let table = KvTable::decode_json(&response.body_bytes().unwrap_or_default()).expect("KVTable").table;
    assert_eq!(table.get("commitLogMinOffset").map(String::as_str), Some("0"));
    assert_eq!(table.get("commitLogMaxOffset"), Some(&store.commit_log_max_offset().get().to_string()));
    assert_eq!(table.get("earliestMessageTimeStamp").map(String::as_str), Some("1000"));
    assert_eq!(table.get("bootTimestamp").map(String::as_str), Some("123"));
}
