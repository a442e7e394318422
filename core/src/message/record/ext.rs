//! `MessageExt`: a whole decoded record, as a consumer receives it in a pull response.

use std::net::SocketAddr;

use bytes::Bytes;

use super::super::id::offset_msg_id;
use super::super::model::MessageToStore;
use super::super::properties::Properties;
use super::super::sysflag;
use super::super::tags;
use super::parse::{parse, Parsed, RawRecord};
use super::RecordError;

/// A fully decoded message record. The body shares the buffer it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// TOTALSIZE: bytes the record takes in the CommitLog.
    pub store_size: usize,
    /// BODYCRC as stored (verified when decoding).
    pub body_crc: i32,
    /// Topic the record is stored under.
    pub topic: String,
    /// Queue within the topic.
    pub queue_id: i32,
    /// The producer's application flag.
    pub flag: i32,
    /// Logical offset in its ConsumeQueue: what a consumer commits.
    pub queue_offset: i64,
    /// Offset of the record in the CommitLog: with the store host, the offsetMsgId.
    pub commit_log_offset: i64,
    /// SYSFLAG bits as stored.
    pub sys_flag: i32,
    /// When the producer created the message.
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: SocketAddr,
    /// When the broker stored it.
    pub store_timestamp: i64,
    /// The storing broker's address.
    pub store_host: SocketAddr,
    /// Re-consume count of a retried message.
    pub reconsume_times: i32,
    /// Physical offset of the half message, on transaction commit/rollback records.
    pub prepared_transaction_offset: i64,
    /// The body as stored: compressed when `is_compressed()` (not inflated here).
    pub body: Bytes,
    /// The record's properties.
    pub properties: Properties,
    /// The offsetMsgId (store host + physical offset in hex), as Java's `MessageExt.msgId`.
    pub msg_id: String,
}

impl MessageExt {
    fn from_raw(raw: RawRecord<'_>, record: &Bytes) -> Self {
        MessageExt {
            store_size: raw.total_size,
            body_crc: raw.body_crc,
            topic: raw.topic.to_owned(),
            queue_id: raw.queue_id,
            flag: raw.flag,
            queue_offset: raw.queue_offset,
            commit_log_offset: raw.physical_offset,
            sys_flag: raw.sys_flag,
            born_timestamp: raw.born_timestamp,
            born_host: raw.born_host,
            store_timestamp: raw.store_timestamp,
            store_host: raw.store_host,
            reconsume_times: raw.reconsume_times,
            prepared_transaction_offset: raw.prepared_transaction_offset,
            body: record.slice(raw.body),
            properties: raw.properties,
            msg_id: offset_msg_id(raw.store_host, raw.physical_offset),
        }
    }

    /// Whether the body is stored compressed (zlib in RocketMQ 4.x); it is not inflated here.
    pub fn is_compressed(&self) -> bool {
        sysflag::is_compressed(self.sys_flag)
    }

    /// The TAGS property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.tags()
    }

    /// The KEYS property split on spaces.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.properties.keys()
    }

    /// The producer's id (UNIQ_KEY): what Java clients show as `getMsgId()`.
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.uniq_key()
    }

    /// The ConsumeQueue tag code.
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.tags())
    }

    /// The message to store again (retry, schedule, transaction commit): every field carried
    /// over as it is; the caller changes what the new record should say.
    pub fn to_message_to_store(&self) -> MessageToStore {
        MessageToStore {
            topic: self.topic.clone(),
            queue_id: self.queue_id,
            flag: self.flag,
            body: self.body.clone(),
            properties: self.properties.clone(),
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
        }
    }
}

/// Decodes `record`, which must be exactly one message record (no trailing bytes). The body is a
/// zero-copy slice of `record`.
pub fn decode_record(record: Bytes) -> Result<MessageExt, RecordError> {
    let raw = expect_message(&record)?;
    if raw.total_size != record.len() {
        return Err(RecordError::TrailingBytes { extra: record.len() - raw.total_size });
    }
    Ok(MessageExt::from_raw(raw, &record))
}

/// Decodes a pull response body: message records back to back, nothing else. Each body is a
/// zero-copy slice of `buf`.
pub fn decode_records(buf: Bytes) -> Result<Vec<MessageExt>, RecordError> {
    let mut messages = Vec::new();
    let mut pos = 0;
    // Every record is at least RECORD_MIN_BYTES long, so this loop runs at most
    // buf.len() / RECORD_MIN_BYTES times.
    while pos < buf.len() {
        let rest = buf.slice(pos..);
        let raw = expect_message(&rest)?;
        let total = raw.total_size;
        let record = rest.slice(..total);
        messages.push(MessageExt::from_raw(raw, &record));
        pos += total;
    }
    Ok(messages)
}

/// Parses the record at the start of `buf`, refusing anything but a message.
fn expect_message(buf: &[u8]) -> Result<RawRecord<'_>, RecordError> {
    match parse(buf)? {
        Parsed::Message(raw) => Ok(raw),
        Parsed::Blank { len } => Err(RecordError::UnexpectedBlank { len }),
        Parsed::End => Err(RecordError::BadTotalSize { size: 0 }),
    }
}
