//! A send's pure parts: the checks a message passes before it leaves (`Validators`), the
//! SEND_MESSAGE_V2 header (`DefaultMQProducerImpl.sendKernelImpl`), the batch message
//! (`MessageBatch`), the `SendResult` read from the broker's answer
//! (`MQClientAPIImpl.processSendResponse`) and which broker answers are worth a retry.

use thiserror::Error;

use super::queue::MessageQueue;
use super::route::DEFAULT_TOPIC_QUEUE_NUMS;
use crate::broker::topic_config::{is_not_allowed_send_topic, RETRY_GROUP_TOPIC_PREFIX};
use crate::message::batch::encode_batch;
use crate::message::properties::keys;
use crate::message::{sysflag, Message, Properties, RecordError};
use crate::protocol::AUTO_CREATE_TOPIC_KEY_TOPIC;
use crate::remoting::SendMessageResponseHeader;
use crate::remoting::{HeaderError, RemotingCommand, ResponseCode, SendMessageRequestHeaderV2};

/// Largest message body a producer sends (`DefaultMQProducer.maxMessageSize`, 4 MiB).
pub const MESSAGE_SIZE_MAX_BYTES_DEFAULT: usize = 4 * 1024 * 1024;
/// Longest topic name (`Validators.TOPIC_MAX_LENGTH` in 4.9).
pub const TOPIC_NAME_LEN_MAX: usize = 127;

/// Why a message is refused before it is sent (`MQClientException` from `Validators` and
/// `MessageBatch`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// The topic is empty.
    #[error("the specified topic is blank")]
    BlankTopic,
    /// The topic is longer than `TOPIC_NAME_LEN_MAX`.
    #[error("the specified topic is longer than topic max length {TOPIC_NAME_LEN_MAX}")]
    TopicTooLong,
    /// The topic has a character outside `[%|a-zA-Z0-9_-]`.
    #[error("the specified topic {topic:?} contains illegal characters")]
    TopicIllegal { topic: String },
    /// The topic is TBW102 or a system topic producers may not send to.
    #[error("sending to topic {topic:?} is forbidden")]
    TopicForbidden { topic: String },
    /// The body is empty.
    #[error("the message body length is zero")]
    EmptyBody,
    /// The body (or batch) is over the producer's maximum.
    #[error("the message body size {size} is over the max value {max}")]
    BodyTooLarge { size: usize, max: usize },
    /// A property cannot be encoded (it contains a separator byte, or the whole is too long).
    #[error("bad properties: {0}")]
    Properties(RecordError),
    /// A batch without messages.
    #[error("a batch needs at least one message")]
    EmptyBatch,
    /// A batch mixing topics, wait flags, or holding delayed or retry messages.
    #[error("not batchable: {reason}")]
    NotBatchable { reason: &'static str },
}

/// Checks a message as `Validators.checkMessage` does: topic name, forbidden topics, body.
pub fn validate_message(message: &Message, size_max_bytes: usize) -> Result<(), MessageError> {
    validate_topic(&message.topic)?;
    if message.body.is_empty() {
        return Err(MessageError::EmptyBody);
    }
    if message.body.len() > size_max_bytes {
        return Err(MessageError::BodyTooLarge { size: message.body.len(), max: size_max_bytes });
    }
    message.properties.validate().map_err(MessageError::Properties)
}

/// Checks a topic name as `Validators.checkTopic` does, and refuses TBW102 and system topics.
pub fn validate_topic(topic: &str) -> Result<(), MessageError> {
    if topic.trim().is_empty() {
        return Err(MessageError::BlankTopic);
    }
    if topic.len() > TOPIC_NAME_LEN_MAX {
        return Err(MessageError::TopicTooLong);
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-');
    if !topic.chars().all(legal) {
        return Err(MessageError::TopicIllegal { topic: topic.to_owned() });
    }
    if topic == AUTO_CREATE_TOPIC_KEY_TOPIC || is_not_allowed_send_topic(topic) {
        return Err(MessageError::TopicForbidden { topic: topic.to_owned() });
    }
    Ok(())
}

/// The properties as the header carries them: `key\x01value\x02...`.
pub fn properties_string(properties: &Properties) -> String {
    let mut bytes = Vec::with_capacity(properties.encoded_len());
    properties.encode_into(&mut bytes);
    // Keys and values are Strings joined by ASCII separators, so the bytes are UTF-8.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The SEND_MESSAGE_V2 header for `message` to `queue` (`sendKernelImpl`): TBW102 as the
/// template topic with 4 queues, the transaction-prepared flag from `TRAN_MSG`, and for a
/// `%RETRY%` topic the reconsume counts taken out of the properties. Compression is not
/// implemented, so the COMPRESSED flag is never set.
pub fn send_request_header(
    producer_group: &str,
    message: &Message,
    queue: &MessageQueue,
    born_timestamp_ms: i64,
    batch: bool,
) -> SendMessageRequestHeaderV2 {
    // Borrowed unless a retry message must lose its reconsume properties (sends copy nothing).
    let mut properties = std::borrow::Cow::Borrowed(&message.properties);
    let mut sys_flag = 0;
    if properties.get(keys::TRAN_MSG) == Some("true") {
        sys_flag |= sysflag::TRANSACTION_PREPARED;
    }
    let (mut reconsume_times, mut max_reconsume_times) = (None, None);
    if message.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        let take = |p: &mut Properties, key| p.remove(key).and_then(|v| v.parse::<i32>().ok());
        reconsume_times = take(properties.to_mut(), keys::RECONSUME_TIME);
        max_reconsume_times = take(properties.to_mut(), keys::MAX_RECONSUME_TIMES);
    }
    SendMessageRequestHeaderV2 {
        a: producer_group.to_owned(),
        b: message.topic.clone(),
        c: AUTO_CREATE_TOPIC_KEY_TOPIC.to_owned(),
        d: DEFAULT_TOPIC_QUEUE_NUMS,
        e: queue.queue_id,
        f: sys_flag,
        g: born_timestamp_ms,
        h: message.flag,
        i: Some(properties_string(&properties)),
        j: Some(reconsume_times.unwrap_or(0)),
        k: false,
        l: max_reconsume_times,
        m: batch,
        n: None,
    }
}

/// The message a batch travels as (`MessageBatch.generateFromList` + `encode`): the first
/// message's topic and `WAIT`, `uniq_id` as its own UNIQ_KEY, the encoded messages as body.
/// Every message should already carry its UNIQ_KEY (the result's msg id lists them).
pub fn batch_message(messages: &[Message], uniq_id: &str) -> Result<Message, MessageError> {
    let first = messages.first().ok_or(MessageError::EmptyBatch)?;
    for message in messages {
        let not = |reason| Err(MessageError::NotBatchable { reason });
        if message.properties.get(keys::DELAY).is_some_and(|d| d != "0") {
            return not("TimeDelayLevel is not supported for batching");
        }
        if message.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            return not("Retry Group is not supported for batching");
        }
        if message.topic != first.topic {
            return not("The topic of the messages in one batch should be the same");
        }
        if message.properties.get(keys::WAIT) != first.properties.get(keys::WAIT) {
            return not("The waitStoreMsgOK of the messages in one batch should the same");
        }
    }
    let body = encode_batch(messages).map_err(|error| match error {
        RecordError::TooLarge { size, max } => MessageError::BodyTooLarge { size, max },
        other => MessageError::Properties(other),
    })?;
    let mut batch = Message::new(first.topic.clone(), body);
    if let Some(wait) = first.properties.get(keys::WAIT) {
        batch.properties.set(keys::WAIT, wait);
    }
    batch.properties.set(keys::UNIQ_KEY, uniq_id);
    Ok(batch)
}

/// The msg id of a batch's result: the messages' UNIQ_KEYs joined by commas, as Java joins them.
pub fn batch_msg_ids(messages: &[Message]) -> String {
    let ids: Vec<&str> = messages.iter().filter_map(Message::uniq_key).collect();
    ids.join(",")
}

/// How the broker stored a message (`SendStatus.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored (and flushed and replicated where the broker is configured to).
    SendOk,
    /// Stored, but a SYNC_FLUSH broker's flush did not finish in time.
    FlushDiskTimeout,
    /// Stored, but a SYNC_MASTER's slave did not confirm in time.
    FlushSlaveTimeout,
    /// Stored, but a SYNC_MASTER has no slave to replicate to.
    SlaveNotAvailable,
}

impl SendStatus {
    /// Java's constant name, e.g. `SEND_OK`.
    pub fn java_name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// What a successful send returns (`SendResult.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How the broker stored it.
    pub status: SendStatus,
    /// The producer's id (UNIQ_KEY); for a batch, the messages' ids joined by commas.
    pub msg_id: String,
    /// The broker's id (store host + CommitLog offset), from the response header.
    pub offset_msg_id: String,
    /// The queue the broker stored it in (the queue id comes from the response).
    pub message_queue: MessageQueue,
    /// The message's (a batch's first message's) offset in that queue.
    pub queue_offset: i64,
    /// The transaction id the broker answered with, for transactional sends.
    pub transaction_id: Option<String>,
}

/// A send response that is not a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendResponseError {
    /// The broker refused (`MQBrokerException`): its code and remark.
    #[error("broker answered {code}: {remark:?}")]
    Broker { code: i32, remark: Option<String> },
    /// A success code with a header that does not parse.
    #[error("bad send response header: {0}")]
    BadHeader(HeaderError),
}

/// Reads a send's response as `processSendResponse` does: SUCCESS, FLUSH_DISK_TIMEOUT,
/// FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE carry a result; any other code is an error.
pub fn process_send_response(
    response: &RemotingCommand,
    topic: &str,
    broker_name: &str,
    msg_id: String,
) -> Result<SendResult, SendResponseError> {
    let status = match ResponseCode::from_i32(response.code) {
        Some(ResponseCode::Success) => SendStatus::SendOk,
        Some(ResponseCode::FlushDiskTimeout) => SendStatus::FlushDiskTimeout,
        Some(ResponseCode::FlushSlaveTimeout) => SendStatus::FlushSlaveTimeout,
        Some(ResponseCode::SlaveNotAvailable) => SendStatus::SlaveNotAvailable,
        _ => return Err(SendResponseError::Broker { code: response.code, remark: response.remark.clone() }),
    };
    let header: SendMessageResponseHeader = response.read_header().map_err(SendResponseError::BadHeader)?;
    Ok(SendResult {
        status,
        msg_id,
        offset_msg_id: header.msg_id,
        message_queue: MessageQueue::new(topic, broker_name, header.queue_id),
        queue_offset: header.queue_offset,
        transaction_id: header.transaction_id,
    })
}

/// Broker codes after which a sync send tries again (`DefaultMQProducer.retryResponseCodes`):
/// TOPIC_NOT_EXIST, SERVICE_NOT_AVAILABLE, SYSTEM_ERROR, NO_PERMISSION, NO_BUYER_ID,
/// NOT_IN_CURRENT_UNIT. Any other refusal is final.
pub fn is_retryable_broker_code(code: i32) -> bool {
    matches!(
        ResponseCode::from_i32(code),
        Some(
            ResponseCode::TopicNotExist
                | ResponseCode::ServiceNotAvailable
                | ResponseCode::SystemError
                | ResponseCode::NoPermission
                | ResponseCode::NoBuyerId
                | ResponseCode::NotInCurrentUnit
        )
    )
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
