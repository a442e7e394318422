//! Reading and checking one record at a position: the single parser behind `check_record`,
//! `decode_record` and `decode_records`.

use std::net::SocketAddr;
use std::ops::Range;

use super::super::properties::Properties;
use super::super::sysflag;
use super::super::tags;
use super::super::wire::{body_crc, Reader, Short};
use super::{
    RecordCheck, RecordError, RecordField, RecordMeta, BLANK_MAGIC_CODE, BLANK_RECORD_MIN_BYTES, MESSAGE_MAGIC_CODE,
    RECORD_MIN_BYTES, RECORD_SIZE_MAX_BYTES, TOPIC_LEN_MAX_BYTES,
};

/// A checked message record, borrowing its text from the buffer.
#[derive(Debug, Clone)]
pub(super) struct RawRecord<'a> {
    /// TOTALSIZE, verified against the fields and the buffer.
    pub total_size: usize,
    /// BODYCRC, verified against the body.
    pub body_crc: i32,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG.
    pub flag: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// PHYSICALOFFSET.
    pub physical_offset: i64,
    /// SYSFLAG (its V6 bits decided the host lengths).
    pub sys_flag: i32,
    /// BORNTIMESTAMP.
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: SocketAddr,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// STOREHOST.
    pub store_host: SocketAddr,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET.
    pub prepared_transaction_offset: i64,
    /// Body position inside the record.
    pub body: Range<usize>,
    /// Topic, verified UTF-8.
    pub topic: &'a str,
    /// Properties, parsed.
    pub properties: Properties,
}

/// What `parse` found at a position.
#[derive(Debug, Clone)]
pub(super) enum Parsed<'a> {
    /// A valid message record.
    Message(RawRecord<'a>),
    /// The end-of-file filler of `len` bytes.
    Blank { len: usize },
    /// TOTALSIZE 0: nothing written here.
    End,
}

/// Checks the record starting at `buf[0]`; `buf` may extend past the record.
///
/// Validates the magic, TOTALSIZE against the buffer and [`RECORD_SIZE_MAX_BYTES`], that the
/// field lengths add up to exactly TOTALSIZE, the body CRC, ports, UTF-8 of topic and properties
/// and the properties syntax. Never panics, whatever the bytes.
pub fn check_record(buf: &[u8]) -> Result<RecordCheck, RecordError> {
    Ok(match parse(buf)? {
        Parsed::Message(raw) => RecordCheck::Message(raw.into_meta()),
        Parsed::Blank { len } => RecordCheck::Blank { len },
        Parsed::End => RecordCheck::End,
    })
}

pub(super) fn parse(buf: &[u8]) -> Result<Parsed<'_>, RecordError> {
    let mut header = Reader::new(buf);
    let truncated = |short: Short| RecordError::Truncated { needed: short.needed, available: buf.len() };
    let total_size = header.i32().map_err(truncated)?;
    if total_size == 0 {
        return Ok(Parsed::End);
    }
    let magic = header.i32().map_err(truncated)?;
    let bad_size = RecordError::BadTotalSize { size: i64::from(total_size) };
    let (min, is_blank) = match magic {
        MESSAGE_MAGIC_CODE => (RECORD_MIN_BYTES, false),
        BLANK_MAGIC_CODE => (BLANK_RECORD_MIN_BYTES, true),
        found => return Err(RecordError::BadMagic { found }),
    };
    let total = usize::try_from(total_size).map_err(|_| bad_size.clone())?;
    if total < min {
        return Err(bad_size);
    }
    if !is_blank && total > RECORD_SIZE_MAX_BYTES {
        return Err(RecordError::TooLarge { size: total, max: RECORD_SIZE_MAX_BYTES });
    }
    let record = buf.get(..total).ok_or(RecordError::Truncated { needed: total, available: buf.len() })?;
    if is_blank {
        return Ok(Parsed::Blank { len: total });
    }
    parse_message(record).map(Parsed::Message)
}

/// Parses a message record that is exactly `record` (TOTALSIZE = `record.len()`, magic checked).
fn parse_message(record: &[u8]) -> Result<RawRecord<'_>, RecordError> {
    let total_size = record.len();
    let mismatch = |short: Short| RecordError::LengthMismatch { total_size, fields_len: short.needed };
    let mut r = Reader::new(record);
    r.bytes(8).map_err(mismatch)?; // TOTALSIZE and MAGICCODE, already read by `parse`
    let stored_crc = r.i32().map_err(mismatch)?;
    let queue_id = r.i32().map_err(mismatch)?;
    let flag = r.i32().map_err(mismatch)?;
    let queue_offset = r.i64().map_err(mismatch)?;
    let physical_offset = r.i64().map_err(mismatch)?;
    let sys_flag = r.i32().map_err(mismatch)?;
    let born_timestamp = r.i64().map_err(mismatch)?;
    let born_host = r.host(sys_flag & sysflag::BORNHOST_V6 != 0).map_err(mismatch)??;
    let store_timestamp = r.i64().map_err(mismatch)?;
    let store_host = r.host(sys_flag & sysflag::STOREHOST_V6 != 0).map_err(mismatch)??;
    let reconsume_times = r.i32().map_err(mismatch)?;
    let prepared_transaction_offset = r.i64().map_err(mismatch)?;
    let VariableFields { body, topic, properties } = parse_variable_fields(&mut r, total_size)?;

    let computed = body_crc(record.get(body.clone()).unwrap_or_default());
    if computed != stored_crc {
        return Err(RecordError::CrcMismatch { stored: stored_crc, computed });
    }
    let topic = std::str::from_utf8(topic).map_err(|_| RecordError::InvalidUtf8 { field: RecordField::Topic })?;
    Ok(RawRecord {
        total_size,
        body_crc: stored_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties: Properties::decode(properties)?,
    })
}

/// The variable-length tail of a record, before its text is checked.
struct VariableFields<'a> {
    /// Body position inside the record.
    body: Range<usize>,
    /// Topic bytes, not yet checked as UTF-8.
    topic: &'a [u8],
    /// Properties bytes, not yet parsed.
    properties: &'a [u8],
}

/// Reads BODY, TOPIC and PROPERTIES and checks they end exactly at TOTALSIZE.
fn parse_variable_fields<'a>(r: &mut Reader<'a>, total_size: usize) -> Result<VariableFields<'a>, RecordError> {
    let mismatch = |short: Short| RecordError::LengthMismatch { total_size, fields_len: short.needed };
    let body_len = r.i32().map_err(mismatch)?;
    let body_len = usize::try_from(body_len)
        .map_err(|_| RecordError::NegativeLength { field: RecordField::Body, len: i64::from(body_len) })?;
    let body_start = r.pos();
    r.bytes(body_len).map_err(mismatch)?;
    let body = body_start..r.pos();

    let topic_len = usize::from(r.u8().map_err(mismatch)?);
    if topic_len > TOPIC_LEN_MAX_BYTES {
        return Err(RecordError::TopicTooLong { len: topic_len });
    }
    let topic = r.bytes(topic_len).map_err(mismatch)?;

    let properties_len = r.i16().map_err(mismatch)?;
    let properties_len = usize::try_from(properties_len)
        .map_err(|_| RecordError::NegativeLength { field: RecordField::Properties, len: i64::from(properties_len) })?;
    let properties = r.bytes(properties_len).map_err(mismatch)?;

    if r.remaining() != 0 {
        return Err(RecordError::LengthMismatch { total_size, fields_len: r.pos() });
    }
    Ok(VariableFields { body, topic, properties })
}

impl RawRecord<'_> {
    /// The owned summary `check_record` returns.
    pub(super) fn into_meta(self) -> RecordMeta {
        let tags_code = tags::tags_code(self.properties.tags());
        let keys = self.properties.keys().map(str::to_owned).collect();
        let uniq_key = self.properties.uniq_key().map(str::to_owned);
        RecordMeta {
            total_size: self.total_size,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: self.body,
            topic: self.topic.to_owned(),
            properties: self.properties,
            tags_code,
            keys,
            uniq_key,
        }
    }
}
