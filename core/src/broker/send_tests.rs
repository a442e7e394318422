//! Exact-output tests of the send path: requests in, `PreparedSend`s and responses out.

use super::*;
use crate::message::batch::encode_batch;
use crate::protocol::TopicConfig;
use crate::remoting::{CommandHeader, ExtFields, SerializeType};
use crate::store::message_store::{PutResult, StoredMessage};
use crate::store::{CommitLogOffset, Durability, QueueOffset};

const NOW_MS: i64 = 1_700_000_000_000;

fn producer() -> SocketAddr {
    "10.0.0.9:50000".parse().expect("valid address")
}

fn broker() -> (BrokerConfig, TopicConfigManager, QueuePicker) {
    let config = BrokerConfig::default();
    let mut topics = TopicConfigManager::new(&config, 0);
    topics.create_or_update(TopicConfig::new("T", 4), 1).expect("valid");
    (config, topics, QueuePicker::new())
}

/// A V1 header as a Java producer fills it for topic `T`, queue 2.
fn header(topic: &str, queue_id: i32, properties: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: NOW_MS - 5,
        flag: 7,
        properties: Some(properties.into()),
        reconsume_times: Some(0),
        ..SendMessageRequestHeader::default()
    }
}

fn send_v1(header: &SendMessageRequestHeader, body: &'static [u8]) -> RemotingCommand {
    RemotingCommand::request(RequestCode::SendMessage, header).with_opaque(42).with_body(Bytes::from_static(body))
}

fn send_v2(header: &SendMessageRequestHeader, body: &'static [u8]) -> RemotingCommand {
    let v2 = SendMessageRequestHeaderV2::from(header.clone());
    RemotingCommand::request(RequestCode::SendMessageV2, &v2).with_opaque(42).with_body(Bytes::from_static(body))
}

/// Properties as the Java client encodes them: UNIQ_KEY, WAIT, TAGS.
const PROPS: &str = "UNIQ_KEY\u{1}0A000009C35018B4AAC2000000000000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}";

fn prepare_ok(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    picker: &mut QueuePicker,
    request: &RemotingCommand,
) -> PreparedSend {
    prepare_send(config, topics, picker, NOW_MS, producer(), request).expect("send accepted")
}

fn refusal(request: &RemotingCommand, topics: &mut TopicConfigManager, config: &BrokerConfig) -> (i32, String) {
    let response =
        prepare_send(config, topics, &mut QueuePicker::new(), NOW_MS, producer(), request).expect_err("send refused");
    assert_eq!(response.opaque, request.opaque);
    assert!(response.is_response());
    assert_eq!(response.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
    assert_eq!(response.ext_fields.get("TRACE_ON"), Some("true"));
    (response.code, response.remark.unwrap_or_default())
}

/// SEND_MESSAGE and SEND_MESSAGE_V2 carrying the same header build the same message, with
/// every field taken from the right place.
#[test]
fn v1_and_v2_build_the_same_message() {
    let (config, mut topics, mut picker) = broker();
    let header = header("T", 2, PROPS);
    let v1 = prepare_ok(&config, &mut topics, &mut picker, &send_v1(&header, b"hello"));
    let v2 = prepare_ok(&config, &mut topics, &mut picker, &send_v2(&header, b"hello"));
    assert_eq!(v1, v2);
    let properties: Properties =
        [("UNIQ_KEY", "0A000009C35018B4AAC2000000000000"), ("TAGS", "TagA"), ("CLUSTER", "DefaultCluster")]
            .into_iter()
            .collect();
    let expected = MessageToStore {
        topic: "T".into(),
        queue_id: 2,
        flag: 7,
        body: Bytes::from_static(b"hello"),
        properties,
        sys_flag: 0,
        born_timestamp: NOW_MS - 5,
        born_host: producer(),
        store_host: config.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    };
    assert_eq!(
        v1,
        PreparedSend { messages: vec![expected], queue_id: 2, wait_store_msg_ok: true, topic_created: false }
    );
}

/// A send to an unknown topic auto-creates it from TBW102 with the producer's 4 queues; the
/// topic table then asks to be persisted and registered.
#[test]
fn send_auto_creates_from_tbw102() {
    let (config, mut topics, mut picker) = broker();
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &send_v2(&header("New", 3, ""), b"x"));
    assert!(prepared.topic_created);
    assert_eq!(topics.get("New"), Some(&TopicConfig { perm: 6, ..TopicConfig::new("New", 4) }));
    assert!(topics.needs_persist() && topics.take_register_needed());
    let again = prepare_ok(&config, &mut topics, &mut picker, &send_v2(&header("New", 3, ""), b"x"));
    assert!(!again.topic_created);
}

/// With auto-creation off an unknown topic is TOPIC_NOT_EXIST with RocketMQ's remark.
#[test]
fn unknown_topic_is_refused_when_auto_create_is_off() {
    let config = BrokerConfig { auto_create_topic_enable: false, ..BrokerConfig::default() };
    let mut topics = TopicConfigManager::new(&config, 0);
    let (code, remark) = refusal(&send_v1(&header("New", 0, ""), b"x"), &mut topics, &config);
    assert_eq!(code, ResponseCode::TopicNotExist.as_i32());
    assert_eq!(
        remark,
        "topic[New] not exist, apply first please!\nSee http://rocketmq.apache.org/docs/faq/ for further details."
    );
    assert_eq!(topics.get("New"), None);
}

/// Bad names, forbidden system topics and read-only topics are refused as RocketMQ does.
#[test]
fn names_and_permissions() {
    let (config, mut topics, _) = broker();
    let read_only = TopicConfig { perm: perm::READ, ..TopicConfig::new("RO", 4) };
    topics.create_or_update(read_only, 2).expect("valid");
    let cases = [
        (
            "a b",
            ResponseCode::SystemError,
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ),
        ("", ResponseCode::SystemError, "The specified topic is blank."),
        (
            "SCHEDULE_TOPIC_XXXX",
            ResponseCode::NoPermission,
            "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden.",
        ),
        ("RO", ResponseCode::NoPermission, "the topic[RO] sending message is forbidden"),
        (
            "%RETRY%G",
            ResponseCode::MessageIllegal,
            "sends to retry and dead-letter topics are not supported by this broker yet",
        ),
    ];
    for (topic, code, remark) in cases {
        let got = refusal(&send_v1(&header(topic, 0, ""), b"x"), &mut topics, &config);
        assert_eq!(got, (code.as_i32(), remark.to_owned()), "topic {topic:?}");
    }
}

/// A queue id beyond the topic's queues is SYSTEM_ERROR with Java's remark.
#[test]
fn queue_id_out_of_range() {
    let (config, mut topics, _) = broker();
    let got = refusal(&send_v1(&header("T", 4, ""), b"x"), &mut topics, &config);
    assert_eq!(
        got,
        (
            ResponseCode::SystemError.as_i32(),
            "request queueId[4] is illegal, TopicConfig [topicName=T, readQueueNums=4, writeQueueNums=4, perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false] Producer: 10.0.0.9:50000".to_owned()
        )
    );
}

/// Bodies over the limit and unreadable properties are MESSAGE_ILLEGAL.
#[test]
fn oversized_body_and_bad_properties() {
    let (mut config, mut topics, _) = broker();
    config.message_body_size_max_bytes = 4;
    let got = refusal(&send_v1(&header("T", 0, ""), b"12345"), &mut topics, &config);
    assert_eq!(
        got,
        (
            ResponseCode::MessageIllegal.as_i32(),
            "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4B, msg properties length limit 32KB.".to_owned()
        )
    );
    let config = BrokerConfig::default();
    let (code, remark) = refusal(&send_v1(&header("T", 0, "NOSEPARATOR"), b"x"), &mut topics, &config);
    assert_eq!(code, ResponseCode::MessageIllegal.as_i32());
    assert!(remark.starts_with("invalid properties:"), "{remark}");
}

/// Delayed and transaction messages are refused with a remark saying they are not supported,
/// never stored as ordinary messages; DELAY=0 is an ordinary message.
#[test]
fn delayed_and_transaction_messages_are_refused() {
    let (config, mut topics, mut picker) = broker();
    let delayed = send_v1(&header("T", 0, "DELAY\u{1}3\u{2}"), b"x");
    assert_eq!(
        refusal(&delayed, &mut topics, &config),
        (
            ResponseCode::MessageIllegal.as_i32(),
            "delayed messages (DELAY > 0) are not supported by this broker yet".to_owned()
        )
    );
    let bad_delay = send_v1(&header("T", 0, "DELAY\u{1}soon\u{2}"), b"x");
    assert_eq!(refusal(&bad_delay, &mut topics, &config).0, ResponseCode::MessageIllegal.as_i32());
    let half = send_v1(&header("T", 0, "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}PG\u{2}"), b"x");
    assert_eq!(refusal(&half, &mut topics, &config).1, "transaction messages are not supported by this broker yet");
    let mut prepared_flag = header("T", 0, "");
    prepared_flag.sys_flag = sysflag::TRANSACTION_PREPARED;
    assert_eq!(refusal(&send_v1(&prepared_flag, b"x"), &mut topics, &config).0, ResponseCode::MessageIllegal.as_i32());
    let ordinary = send_v1(&header("T", 0, "DELAY\u{1}0\u{2}"), b"x");
    prepare_ok(&config, &mut topics, &mut picker, &ordinary);
}

/// `queueId < 0` goes round the write queues deterministically; a MULTI_TAG topic sets the
/// MULTI_TAGS sys flag bit.
#[test]
fn broker_chosen_queues_go_round() {
    let (config, mut topics, mut picker) = broker();
    let multi =
        TopicConfig { topic_filter_type: TopicFilterType::MultiTag, write_queue_nums: 3, ..TopicConfig::new("M", 8) };
    topics.create_or_update(multi, 2).expect("valid");
    let chosen: Vec<i32> = (0..5)
        .map(|_| prepare_ok(&config, &mut topics, &mut picker, &send_v1(&header("M", -1, ""), b"x")))
        .map(|p| {
            assert_eq!(p.messages[0].sys_flag, sysflag::MULTI_TAGS);
            p.messages[0].queue_id
        })
        .collect();
    assert_eq!(chosen, vec![0, 1, 2, 0, 1]);
    assert_eq!(QueuePicker::new().pick(0), None);
}

/// A header missing a required field, a non-send code, and a slave broker are refused.
#[test]
fn bad_headers_codes_and_slaves() {
    let (config, mut topics, _) = broker();
    let mut request = send_v2(&header("T", 0, ""), b"x");
    request.ext_fields.remove("b");
    let (code, remark) = refusal(&request, &mut topics, &config);
    assert_eq!(code, ResponseCode::SystemError.as_i32());
    assert!(remark.starts_with("invalid request header:"), "{remark}");
    let mut pull = send_v1(&header("T", 0, ""), b"x");
    pull.code = RequestCode::PullMessage.as_i32();
    assert_eq!(refusal(&pull, &mut topics, &config).0, ResponseCode::RequestCodeNotSupported.as_i32());
    let slave = BrokerConfig { broker_id: 1, ..BrokerConfig::default() };
    assert_eq!(
        refusal(&send_v1(&header("T", 0, ""), b"x"), &mut topics, &slave).0,
        ResponseCode::ServiceNotAvailable.as_i32()
    );
}

/// (queue id, flag, body, properties) of one stored batch entry.
type EntrySummary<'a> = (i32, i32, &'a [u8], Vec<(&'a str, &'a str)>);

fn batch_request(entries: &[Message], header_properties: &str) -> RemotingCommand {
    let mut header = header("T", 1, header_properties);
    header.batch = true;
    let v2 = SendMessageRequestHeaderV2::from(header);
    let body = encode_batch(entries).expect("encodable");
    RemotingCommand::request(RequestCode::SendBatchMessage, &v2)
        .with_opaque(9)
        .with_body(body)
        .with_serialize_type(SerializeType::RocketMq)
}

/// A batch becomes one message per entry, in one queue: each entry's flag, body and
/// properties, the header's properties (WAIT dropped, CLUSTER added) laid over them.
#[test]
fn batch_decodes_into_one_queue() {
    let (config, mut topics, mut picker) = broker();
    let entries = vec![
        Message::new("T", &b"a"[..]).with_property("UNIQ_KEY", "ID1").with_flag(1),
        Message::new("T", &b"bb"[..]).with_property("UNIQ_KEY", "ID2").with_tags("X"),
    ];
    let request = batch_request(&entries, "WAIT\u{1}false\u{2}");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &request);
    assert_eq!((prepared.queue_id, prepared.wait_store_msg_ok), (1, false));
    let summary: Vec<EntrySummary<'_>> =
        prepared.messages.iter().map(|m| (m.queue_id, m.flag, &m.body[..], m.properties.iter().collect())).collect();
    assert_eq!(
        summary,
        vec![
            (1, 1, &b"a"[..], vec![("UNIQ_KEY", "ID1"), ("CLUSTER", "DefaultCluster")]),
            (1, 0, &b"bb"[..], vec![("UNIQ_KEY", "ID2"), ("TAGS", "X"), ("CLUSTER", "DefaultCluster")]),
        ]
    );
    assert!(prepared.messages.iter().all(|m| m.topic == "T" && m.born_timestamp == NOW_MS - 5));
}

/// An entry with DELAY, an empty batch and a malformed batch body are refused.
#[test]
fn batch_refusals() {
    let (config, mut topics, _) = broker();
    let delayed = vec![Message::new("T", &b"a"[..]).with_property("DELAY", "2")];
    assert_eq!(
        refusal(&batch_request(&delayed, ""), &mut topics, &config).1,
        "delayed messages (DELAY > 0) are not supported by this broker yet"
    );
    assert_eq!(
        refusal(&batch_request(&[], ""), &mut topics, &config),
        (ResponseCode::MessageIllegal.as_i32(), "empty batch".to_owned())
    );
    let mut truncated = batch_request(&[Message::new("T", &b"abc"[..])], "");
    truncated.body = truncated.body_bytes().map(|b| b.slice(..b.len() - 1).into());
    let (code, remark) = refusal(&truncated, &mut topics, &config);
    assert_eq!(code, ResponseCode::MessageIllegal.as_i32());
    assert!(remark.starts_with("invalid batch body:"), "{remark}");
}

fn outcome(offsets: &[(u64, u64)], flush_timed_out: bool) -> PutOutcome {
    let messages = offsets
        .iter()
        .map(|&(physical, logical)| StoredMessage {
            offset: CommitLogOffset(physical),
            size: 100,
            queue_offset: QueueOffset(logical),
        })
        .collect();
    PutOutcome {
        result: PutResult { messages, end: CommitLogOffset(1_000) },
        durability: Durability::Disk,
        flush_timed_out,
    }
}

/// The response's ext fields, with the header fields, exactly.
fn fields(pairs: &[(&str, &str)]) -> ExtFields {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// SUCCESS carries the offsetMsgId (store host 127.0.0.1:10911 + CommitLog offset) as msgId,
/// the queue and the queue offset, and the region fields.
#[test]
fn success_response_header() {
    let (config, mut topics, mut picker) = broker();
    let request = send_v1(&header("T", 2, PROPS), b"hello");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &request);
    let response = send_response(&config, &request, &prepared, Ok(&outcome(&[(0x1234, 17)], false)));
    assert_eq!((response.code, response.opaque, response.remark.as_deref()), (0, 42, None));
    assert_eq!(
        response.ext_fields,
        fields(&[
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
            ("msgId", "7F00000100002A9F0000000000001234"),
            ("queueId", "2"),
            ("queueOffset", "17"),
        ])
    );
    let header = SendMessageResponseHeader::read_fields(&response.ext_fields).expect("readable");
    assert_eq!(header.msg_id, offset_msg_id(config.store_host, 0x1234));
}

/// A batch's msgId lists every offsetMsgId; its queueOffset is the first message's.
#[test]
fn batch_response_lists_every_offset_msg_id() {
    let (config, mut topics, mut picker) = broker();
    let entries = vec![Message::new("T", &b"a"[..]), Message::new("T", &b"b"[..])];
    let request = batch_request(&entries, "");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &request);
    let response = send_response(&config, &request, &prepared, Ok(&outcome(&[(100, 5), (200, 6)], false)));
    assert_eq!(response.serialize_type, SerializeType::RocketMq);
    assert_eq!(
        response.ext_fields.get("msgId"),
        Some("7F00000100002A9F0000000000000064,7F00000100002A9F00000000000000C8")
    );
    assert_eq!(response.ext_fields.get("queueOffset"), Some("5"));
}

/// A late sync flush is FLUSH_DISK_TIMEOUT with the full header, unless the producer said
/// WAIT=false.
#[test]
fn flush_timeout_response() {
    let (config, mut topics, mut picker) = broker();
    let request = send_v1(&header("T", 0, PROPS), b"x");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &request);
    let response = send_response(&config, &request, &prepared, Ok(&outcome(&[(8, 0)], true)));
    assert_eq!(response.code, ResponseCode::FlushDiskTimeout.as_i32());
    assert_eq!(response.ext_fields.get("msgId"), Some("7F00000100002A9F0000000000000008"));
    let no_wait = send_v1(&header("T", 0, "WAIT\u{1}false\u{2}"), b"x");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &no_wait);
    assert!(!prepared.wait_store_msg_ok);
    let response = send_response(&config, &no_wait, &prepared, Ok(&outcome(&[(8, 0)], true)));
    assert_eq!(response.code, ResponseCode::Success.as_i32());
}

/// Store failures map to RocketMQ's codes, without a response header.
#[test]
fn store_failure_responses() {
    let (config, mut topics, mut picker) = broker();
    let request = send_v1(&header("T", 0, ""), b"x");
    let prepared = prepare_ok(&config, &mut topics, &mut picker, &request);
    let cases = [
        (StoreError::NotWritable { reason: "shutting down".into() }, ResponseCode::ServiceNotAvailable, "service not available now: store is not writable: shutting down"),
        (StoreError::DiskFull { used_percent: 95, limit_percent: 90 }, ResponseCode::ServiceNotAvailable, "service not available now: disk is 95% full; writes refused above 90%"),
        (StoreError::MessageTooLarge { size: 5, limit: 4 }, ResponseCode::MessageIllegal, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4194304B, msg properties length limit 32KB."),
        (StoreError::Layout { dir: "commitlog".into(), reason: "gap".into() }, ResponseCode::SystemError, "store failed: bad layout in commitlog: gap"),
    ];
    for (error, code, remark) in cases {
        let response = send_response(&config, &request, &prepared, Err(&error));
        assert_eq!((response.code, response.remark.as_deref()), (code.as_i32(), Some(remark)));
        assert!(!response.ext_fields.contains_key("msgId"));
    }
}

/// SYSTEM_BUSY echoes the opaque and says how long the send waited.
#[test]
fn busy_response_is_system_busy() {
    let request = send_v1(&header("T", 0, ""), b"x");
    let response = busy_response(&request, 250, 10_000);
    assert_eq!((response.code, response.opaque), (2, 42));
    assert_eq!(
        response.remark.as_deref(),
        Some("[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: 250ms, size of queue: 10000")
    );
}
