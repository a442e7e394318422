//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320), after RocketMQ 4.9's
//! `SendMessageProcessor`, split around the store's asynchronous put:
//!
//! 1. `prepare_send`: reads the header, runs RocketMQ's `msgCheck` (topic name, forbidden
//!    system topics, existence or auto-creation, write permission, queue id), checks the body
//!    and properties, and builds the `MessageToStore`s (one, or a batch's, all for one queue).
//!    A refusal comes back as the finished response.
//! 2. The shell persists the topic table first if it has changes not yet durable (the topic
//!    `prepare_send` auto-created, or one another request created and is still writing),
//!    outside its locks, then stores the messages (`StoreService::put_messages`).
//! 3. `send_response`: the response for the put's outcome.
//!
//! Wire facts kept exactly (`SendMessageProcessor`, `MQClientAPIImpl.processSendResponse`):
//! - the response header's `msgId` is the *offsetMsgId* (store host + CommitLog offset); the
//!   client takes the UNIQ_KEY id from its own message. A batch's `msgId` is the offsetMsgIds
//!   joined by commas, and its `queueOffset` is the first message's.
//! - SEND_BATCH_MESSAGE carries the one-letter V2 header, like SEND_MESSAGE_V2; whether the
//!   body is a batch is the header's `batch` flag.
//! - every send response carries extFields `MSG_REGION` and `TRACE_ON`.
//! - FLUSH_DISK_TIMEOUT still carries the header: the message is stored, not known durable.
//!   A producer that set `WAIT=false` does not wait for the flush and gets SUCCESS.
//!
//! Not supported yet (refused, never stored wrongly): delayed messages (`DELAY` > 0, which
//! RocketMQ parks in `SCHEDULE_TOPIC_XXXX` until due), transaction half messages, and sends to
//! `%RETRY%` / `%DLQ%` topics (retry bookkeeping and the DLQ switch). They are answered
//! MESSAGE_ILLEGAL with a remark saying so; Java clients do not retry that code.

use std::net::SocketAddr;

use bytes::Bytes;

use super::config::BrokerConfig;
use super::topic_config::{
    is_not_allowed_send_topic, TopicConfigManager, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX,
};
use crate::message::batch::{decode_batch, BATCH_BODY_SIZE_MAX_BYTES, BATCH_ENTRY_OVERHEAD_BYTES};
use crate::message::id::{offset_msg_id, OFFSET_MSG_ID_V6_LEN};
use crate::message::properties::keys;
use crate::message::{sysflag, Message, MessageToStore, Properties};
use crate::protocol::{perm, TopicConfig, TopicFilterType, TOPIC_SYS_FLAG_UNIT};
use crate::remoting::{
    RemotingCommand, RequestCode, ResponseCode, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader, HEADER_SIZE_MAX_BYTES,
};
use crate::store::message_store::StoredMessage;
use crate::store::service::PutOutcome;
use crate::store::StoreError;

/// The property the broker adds to every stored message: its cluster (`PROPERTY_CLUSTER`).
pub const CLUSTER_PROPERTY: &str = "CLUSTER";

/// `FAQUrl.suggestTodo(FAQUrl.APPLY_TOPIC_URL)`, which Java appends to TOPIC_NOT_EXIST remarks.
const APPLY_TOPIC_SUGGESTION: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

// A batch response lists one offsetMsgId (and a comma) per message; even a batch of the
// smallest possible entries fits the header limit.
const _: () = assert!(
    BATCH_BODY_SIZE_MAX_BYTES / BATCH_ENTRY_OVERHEAD_BYTES * (OFFSET_MSG_ID_V6_LEN + 1)
        < HEADER_SIZE_MAX_BYTES - 1024 * 1024
);

/// Chooses a queue for sends that leave it to the broker (`queueId < 0`). RocketMQ picks at
/// random; Petrel goes round the queues with one counter, so a seed replays the same choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuePicker {
    /// Sends placed so far; the next goes to `next % write_queue_nums`.
    next: u32,
}

impl QueuePicker {
    /// A picker starting at queue 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next queue among `write_queue_nums`, or `None` if the topic has no write queue.
    pub fn pick(&mut self, write_queue_nums: i32) -> Option<i32> {
        let nums = u32::try_from(write_queue_nums).ok().filter(|&n| n > 0)?;
        let queue_id = self.next % nums;
        self.next = self.next.wrapping_add(1);
        i32::try_from(queue_id).ok()
    }
}

/// A send that passed every check: what to store and what the response needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSend {
    /// The messages to store, in order, all in one topic and queue; one unless a batch.
    pub messages: Vec<MessageToStore>,
    /// The queue they go to (the producer's, or the picker's when it asked the broker).
    pub queue_id: i32,
    /// The producer waits for the store's flush (`WAIT` property, true when absent); when
    /// false a flush timeout is still answered SUCCESS, as RocketMQ does.
    pub wait_store_msg_ok: bool,
    /// The topic was auto-created by this send: the shell re-registers, and persists the
    /// topic table before storing.
    pub topic_created: bool,
}

/// A refused send: response code and remark.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    /// The response code.
    code: ResponseCode,
    /// Why, for the producer.
    remark: String,
}

impl Refusal {
    fn new(code: ResponseCode, remark: impl Into<String>) -> Self {
        Refusal { code, remark: remark.into() }
    }

    fn not_supported(what: &str) -> Self {
        Refusal::new(ResponseCode::MessageIllegal, format!("{what} are not supported by this broker yet"))
    }
}

/// Checks a send request and builds the messages to store; a refusal is returned as the
/// finished response. `born_host` is the producer's address (the connection's peer).
pub fn prepare_send(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    picker: &mut QueuePicker,
    now_ms: i64,
    born_host: SocketAddr,
    request: &RemotingCommand,
) -> Result<PreparedSend, RemotingCommand> {
    prepare(config, topics, picker, now_ms, born_host, request)
        .map_err(|refusal| send_error(config, request, refusal.code, refusal.remark))
}

fn prepare(
    config: &BrokerConfig,
    topics: &mut TopicConfigManager,
    picker: &mut QueuePicker,
    now_ms: i64,
    born_host: SocketAddr,
    request: &RemotingCommand,
) -> Result<PreparedSend, Refusal> {
    let header = read_send_header(request)?;
    let (topic, topic_created) = check_topic(topics, now_ms, born_host, &header)?;
    let body = request.body_bytes().unwrap_or_default();
    if body.len() > config.message_body_size_max_bytes {
        return Err(message_too_large(config));
    }
    let properties = Properties::decode(header.properties.as_deref().unwrap_or("").as_bytes())
        .map_err(|e| Refusal::new(ResponseCode::MessageIllegal, format!("invalid properties: {e}")))?;
    check_unsupported(&header, &properties)?;
    if config.is_slave() {
        return Err(Refusal::new(
            ResponseCode::ServiceNotAvailable,
            "service not available now: this broker is a slave and takes no sends",
        ));
    }
    let queue_id = match header.queue_id {
        id if id >= 0 => id,
        _ => picker.pick(topic.write_queue_nums).ok_or_else(|| {
            Refusal::new(ResponseCode::SystemError, format!("topic[{}] has no write queue", topic.topic_name))
        })?,
    };
    let wait_store_msg_ok = properties.get(keys::WAIT).is_none_or(|wait| wait.eq_ignore_ascii_case("true"));
    let template = StoreTemplate {
        header: &header,
        topic: &topic,
        queue_id,
        born_host,
        store_host: config.store_host,
        properties: stored_properties(properties, config),
    };
    let messages = if header.batch { template.batch(body)? } else { vec![template.single(body)] };
    Ok(PreparedSend { messages, queue_id, wait_store_msg_ok, topic_created })
}

/// The header, whatever the code: SEND_MESSAGE has long names, the other two one letter.
fn read_send_header(request: &RemotingCommand) -> Result<SendMessageRequestHeader, Refusal> {
    let invalid = |e: crate::remoting::HeaderError| {
        Refusal::new(ResponseCode::SystemError, format!("invalid request header: {e}"))
    };
    match request.request_code() {
        Some(RequestCode::SendMessage) => request.read_header().map_err(invalid),
        Some(RequestCode::SendMessageV2 | RequestCode::SendBatchMessage) => {
            request.read_header::<SendMessageRequestHeaderV2>().map(SendMessageRequestHeader::from).map_err(invalid)
        }
        _ => Err(Refusal::new(
            ResponseCode::RequestCodeNotSupported,
            format!("request type {} not supported", request.code),
        )),
    }
}

/// RocketMQ's `msgCheck`, in its order, plus the topic's write permission. Returns the
/// topic's configuration and whether this send created it.
fn check_topic(
    topics: &mut TopicConfigManager,
    now_ms: i64,
    born_host: SocketAddr,
    header: &SendMessageRequestHeader,
) -> Result<(TopicConfig, bool), Refusal> {
    let name = header.topic.as_str();
    super::topic_config::check_topic_name(name).map_err(|e| Refusal::new(ResponseCode::SystemError, e.to_string()))?;
    if is_not_allowed_send_topic(name) {
        return Err(Refusal::new(
            ResponseCode::NoPermission,
            format!("Sending message to topic[{name}] is forbidden."),
        ));
    }
    if name.starts_with(RETRY_GROUP_TOPIC_PREFIX) || name.starts_with(DLQ_GROUP_TOPIC_PREFIX) {
        return Err(Refusal::not_supported("sends to retry and dead-letter topics"));
    }
    // RocketMQ marks a unit-mode retry topic UNIT_SUB; retry topics are refused above.
    let sys_flag = if header.unit_mode { TOPIC_SYS_FLAG_UNIT } else { 0 };
    let selected = topics
        .select_or_auto_create(name, &header.default_topic, header.default_topic_queue_nums, sys_flag, now_ms)
        .map_err(|_| topic_not_exist(name))?;
    let topic = selected.config;
    if !perm::is_writeable(topic.perm) {
        return Err(Refusal::new(
            ResponseCode::NoPermission,
            format!("the topic[{name}] sending message is forbidden"),
        ));
    }
    if header.queue_id >= topic.write_queue_nums.max(topic.read_queue_nums) {
        let remark = format!(
            "request queueId[{}] is illegal, {} Producer: {born_host}",
            header.queue_id,
            java_topic_config(&topic)
        );
        return Err(Refusal::new(ResponseCode::SystemError, remark));
    }
    Ok((topic, selected.created))
}

/// TOPIC_NOT_EXIST with Java's remark, whatever kept the topic from being auto-created.
fn topic_not_exist(topic: &str) -> Refusal {
    Refusal::new(
        ResponseCode::TopicNotExist,
        format!("topic[{topic}] not exist, apply first please!{APPLY_TOPIC_SUGGESTION}"),
    )
}

/// Refuses what this broker cannot store correctly yet: transaction messages and delayed
/// messages (a batch's entries are checked when decoded).
fn check_unsupported(header: &SendMessageRequestHeader, properties: &Properties) -> Result<(), Refusal> {
    let transactional = properties.get(keys::TRAN_MSG).is_some_and(|flag| flag.eq_ignore_ascii_case("true"));
    if transactional || sysflag::transaction_type(header.sys_flag) != sysflag::TRANSACTION_NOT_TYPE {
        return Err(Refusal::not_supported("transaction messages"));
    }
    check_delay(properties)
}

/// A `DELAY` level above 0 asks for a delayed message; 0 or less is an ordinary one.
fn check_delay(properties: &Properties) -> Result<(), Refusal> {
    let Some(raw) = properties.get(keys::DELAY) else {
        return Ok(());
    };
    let level: i32 = raw
        .trim()
        .parse()
        .map_err(|_| Refusal::new(ResponseCode::MessageIllegal, format!("invalid DELAY property {raw:?}")))?;
    if level > 0 {
        return Err(Refusal::not_supported("delayed messages (DELAY > 0)"));
    }
    Ok(())
}

/// The producer's properties as stored: without `WAIT` (an instruction to the broker, which
/// RocketMQ also drops) and with the broker's `CLUSTER`.
fn stored_properties(mut properties: Properties, config: &BrokerConfig) -> Properties {
    properties.remove(keys::WAIT);
    properties.set(CLUSTER_PROPERTY, config.cluster_name.clone());
    properties
}

/// What every message of one send shares.
struct StoreTemplate<'a> {
    /// The request's header.
    header: &'a SendMessageRequestHeader,
    /// The topic's configuration.
    topic: &'a TopicConfig,
    /// The queue chosen.
    queue_id: i32,
    /// The producer's address.
    born_host: SocketAddr,
    /// This broker's address as stored.
    store_host: SocketAddr,
    /// The header's properties as stored (for a batch: laid over each entry's).
    properties: Properties,
}

impl StoreTemplate<'_> {
    fn message(&self, flag: i32, body: Bytes, properties: Properties) -> MessageToStore {
        let mut sys_flag = self.header.sys_flag;
        if self.topic.topic_filter_type == TopicFilterType::MultiTag {
            sys_flag |= sysflag::MULTI_TAGS;
        }
        MessageToStore {
            topic: self.header.topic.clone(),
            queue_id: self.queue_id,
            flag,
            body,
            properties,
            sys_flag,
            born_timestamp: self.header.born_timestamp,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times: self.header.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
        }
    }

    /// The one message of a non-batch send; it takes the template's properties.
    fn single(mut self, body: Bytes) -> MessageToStore {
        let properties = std::mem::take(&mut self.properties);
        self.message(self.header.flag, body, properties)
    }

    /// The batch's entries, each with its own flag, body and properties, the header's
    /// properties laid over them (RocketMQ appends the batch's properties to each entry's).
    fn batch(&self, body: Bytes) -> Result<Vec<MessageToStore>, Refusal> {
        let entries = decode_batch(body, &self.header.topic)
            .map_err(|e| Refusal::new(ResponseCode::MessageIllegal, format!("invalid batch body: {e}")))?;
        if entries.is_empty() {
            return Err(Refusal::new(ResponseCode::MessageIllegal, "empty batch"));
        }
        let mut messages = Vec::with_capacity(entries.len());
        for Message { flag, mut properties, body, .. } in entries {
            check_delay(&properties)?;
            for (key, value) in self.properties.iter() {
                properties.set(key, value);
            }
            messages.push(self.message(flag, body, properties));
        }
        Ok(messages)
    }
}

/// The response to a prepared send once the store has answered.
pub fn send_response(
    config: &BrokerConfig,
    request: &RemotingCommand,
    prepared: &PreparedSend,
    outcome: Result<&PutOutcome, &StoreError>,
) -> RemotingCommand {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let (code, remark) = store_error_response(config, error);
            return send_error(config, request, code, remark);
        }
    };
    let stored = &outcome.result.messages;
    assert_eq!(stored.len(), prepared.messages.len(), "the store answers one entry per message");
    let msg_id = |(message, stored): (&MessageToStore, &StoredMessage)| {
        let offset = i64::try_from(stored.offset.0).expect("CommitLog offsets fit an i64");
        offset_msg_id(message.store_host, offset)
    };
    // One id for a single message (every send but a batch), without a list to join.
    let msg_ids = match (prepared.messages.as_slice(), stored.as_slice()) {
        ([message], [one]) => msg_id((message, one)),
        _ => prepared.messages.iter().zip(stored).map(msg_id).collect::<Vec<String>>().join(","),
    };
    let first_queue_offset = stored.first().map_or(0, |m| m.queue_offset.0);
    let code = if outcome.flush_timed_out && prepared.wait_store_msg_ok {
        ResponseCode::FlushDiskTimeout
    } else {
        ResponseCode::Success
    };
    let mut response = send_response_base(config, request, code, None);
    response.write_header(&SendMessageResponseHeader {
        msg_id: msg_ids,
        queue_id: prepared.queue_id,
        queue_offset: i64::try_from(first_queue_offset).expect("queue offsets fit an i64"),
        transaction_id: None,
    });
    response
}

/// The code and remark for a failed put (RocketMQ's `handlePutMessageResult`).
fn store_error_response(config: &BrokerConfig, error: &StoreError) -> (ResponseCode, String) {
    match error {
        StoreError::NotWritable { .. } | StoreError::DiskFull { .. } => {
            (ResponseCode::ServiceNotAvailable, format!("service not available now: {error}"))
        }
        StoreError::MessageTooLarge { .. } => {
            let refusal = message_too_large(config);
            (refusal.code, refusal.remark)
        }
        StoreError::InvalidTopic { .. } | StoreError::MixedBatch | StoreError::Encode(_) => {
            (ResponseCode::MessageIllegal, format!("the message is illegal: {error}"))
        }
        StoreError::Disk(_) | StoreError::Corrupt { .. } | StoreError::Layout { .. } | StoreError::Metadata { .. } => {
            (ResponseCode::SystemError, format!("store failed: {error}"))
        }
    }
}

/// SYSTEM_BUSY for a send that waited too long in the shell's queue, or found it full
/// (RocketMQ's `BrokerFastFailure` remark).
pub fn busy_response(request: &RemotingCommand, waited_ms: i64, queue_len: usize) -> RemotingCommand {
    let remark = format!(
        "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: {waited_ms}ms, size of queue: {queue_len}"
    );
    RemotingCommand::response_to(request, ResponseCode::SystemBusy, Some(remark))
}

fn message_too_large(config: &BrokerConfig) -> Refusal {
    Refusal::new(
        ResponseCode::MessageIllegal,
        format!(
            "the message is illegal, maybe msg body or properties length not matched. msg body length limit {}B, msg properties length limit 32KB.",
            config.message_body_size_max_bytes
        ),
    )
}

/// A send error response: the code, the remark and the region fields every send response has.
fn send_error(config: &BrokerConfig, request: &RemotingCommand, code: ResponseCode, remark: String) -> RemotingCommand {
    send_response_base(config, request, code, Some(remark))
}

fn send_response_base(
    config: &BrokerConfig,
    request: &RemotingCommand,
    code: ResponseCode,
    remark: Option<String>,
) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, code, remark);
    response.ext_fields.insert(keys::MSG_REGION, config.region_id.as_str());
    response.ext_fields.insert(keys::TRACE_ON, if config.trace_on { "true" } else { "false" });
    response
}

/// `TopicConfig.toString()` as Java writes it into the illegal-queue remark.
fn java_topic_config(topic: &TopicConfig) -> String {
    let filter = match topic.topic_filter_type {
        TopicFilterType::SingleTag => "SINGLE_TAG",
        TopicFilterType::MultiTag => "MULTI_TAG",
    };
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={filter}, topicSysFlag={}, order={}]",
        topic.topic_name,
        topic.read_queue_nums,
        topic.write_queue_nums,
        perm::to_display(topic.perm),
        topic.topic_sys_flag,
        topic.order
    )
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
