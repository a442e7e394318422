//! Writing records: one message (`encode_record`) or the end-of-file filler (`encode_blank`).

use super::super::model::MessageToStore;
use super::super::wire::{body_crc, put_host};
use super::{
    calc_record_len, check_record, RecordCheck, RecordError, BLANK_MAGIC_CODE, BLANK_RECORD_MIN_BYTES,
    MESSAGE_MAGIC_CODE, PROPERTIES_LEN_MAX_BYTES, RECORD_SIZE_MAX_BYTES, TOPIC_LEN_MAX_BYTES,
};

/// The exact size `encode_record` writes for `msg` (RocketMQ's `calMsgLength`), using the
/// host-family bits derived from the addresses.
pub fn record_len(msg: &MessageToStore) -> usize {
    calc_record_len(msg.encoded_sys_flag(), msg.body.len(), msg.topic.len(), msg.properties.encoded_len())
}

/// Refuses what the record format cannot hold.
fn validate(msg: &MessageToStore) -> Result<usize, RecordError> {
    if msg.topic.len() > TOPIC_LEN_MAX_BYTES {
        return Err(RecordError::TopicTooLong { len: msg.topic.len() });
    }
    msg.properties.validate()?;
    let properties_len = msg.properties.encoded_len();
    if properties_len > PROPERTIES_LEN_MAX_BYTES {
        return Err(RecordError::PropertiesTooLong { len: properties_len });
    }
    let total = record_len(msg);
    if total > RECORD_SIZE_MAX_BYTES {
        return Err(RecordError::TooLarge { size: total, max: RECORD_SIZE_MAX_BYTES });
    }
    Ok(total)
}

/// Appends exactly one record for `msg` to `out` and returns its length. The SYSFLAG written is
/// `msg.encoded_sys_flag()`; BODYCRC is computed here. Nothing is appended on error.
pub fn encode_record(
    msg: &MessageToStore,
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp: i64,
    out: &mut Vec<u8>,
) -> Result<usize, RecordError> {
    let total = validate(msg)?;
    let start = out.len();
    out.reserve(total);
    // Every length below was bounded by `validate`, so these conversions cannot truncate.
    out.extend_from_slice(&(total as i32).to_be_bytes());
    out.extend_from_slice(&MESSAGE_MAGIC_CODE.to_be_bytes());
    out.extend_from_slice(&body_crc(&msg.body).to_be_bytes());
    out.extend_from_slice(&msg.queue_id.to_be_bytes());
    out.extend_from_slice(&msg.flag.to_be_bytes());
    out.extend_from_slice(&queue_offset.to_be_bytes());
    out.extend_from_slice(&physical_offset.to_be_bytes());
    out.extend_from_slice(&msg.encoded_sys_flag().to_be_bytes());
    out.extend_from_slice(&msg.born_timestamp.to_be_bytes());
    put_host(out, msg.born_host);
    out.extend_from_slice(&store_timestamp.to_be_bytes());
    put_host(out, msg.store_host);
    out.extend_from_slice(&msg.reconsume_times.to_be_bytes());
    out.extend_from_slice(&msg.prepared_transaction_offset.to_be_bytes());
    out.extend_from_slice(&(msg.body.len() as i32).to_be_bytes());
    out.extend_from_slice(&msg.body);
    out.push(msg.topic.len() as u8);
    out.extend_from_slice(msg.topic.as_bytes());
    out.extend_from_slice(&(msg.properties.encoded_len() as i16).to_be_bytes());
    msg.properties.encode_into(out);

    assert_eq!(out.len() - start, total, "record length disagrees with calMsgLength");
    debug_assert_checks_back(msg, queue_offset, physical_offset, &out[start..]);
    Ok(total)
}

/// Pair assertion: what was just written checks as a record that says what was meant.
fn debug_assert_checks_back(msg: &MessageToStore, queue_offset: i64, physical_offset: i64, written: &[u8]) {
    if !cfg!(debug_assertions) {
        return;
    }
    match check_record(written) {
        Ok(RecordCheck::Message(meta)) => {
            debug_assert_eq!(meta.total_size, written.len());
            debug_assert_eq!(meta.queue_offset, queue_offset);
            debug_assert_eq!(meta.physical_offset, physical_offset);
            debug_assert_eq!(meta.sys_flag, msg.encoded_sys_flag());
            debug_assert_eq!(meta.topic, msg.topic);
            debug_assert_eq!(meta.properties, msg.properties);
            debug_assert_eq!(written.get(meta.body), Some(&msg.body[..]));
        }
        other => panic!("an encoded record does not check back: {other:?}"),
    }
}

/// Appends the end-of-file filler of `len` bytes: TOTALSIZE = `len`, MAGICCODE = blank, then
/// zeros, so the tail of a file is the same bytes whatever was there before.
///
/// `len` is the space left in the file, which the store computes; it must be at least
/// [`BLANK_RECORD_MIN_BYTES`] and fit an i32.
pub fn encode_blank(len: usize, out: &mut Vec<u8>) {
    assert!(len >= BLANK_RECORD_MIN_BYTES, "blank record of {len} bytes is too short");
    let total = i32::try_from(len).unwrap_or_else(|_| panic!("blank record of {len} bytes"));
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
    out.resize(start + len, 0);
    debug_assert_eq!(check_record(&out[start..]), Ok(RecordCheck::Blank { len }));
}
