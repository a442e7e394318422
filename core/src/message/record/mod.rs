//! RocketMQ's stored message record (CommitLog format V1), which is also the pull response body.
//!
//! Layout (all integers big-endian), with byte positions for IPv4 hosts:
//!
//! | pos | field                        | size                                       |
//! |-----|------------------------------|--------------------------------------------|
//! |   0 | TOTALSIZE                    | i32, the whole record                      |
//! |   4 | MAGICCODE                    | i32, [`MESSAGE_MAGIC_CODE`]                |
//! |   8 | BODYCRC                      | i32, CRC32 of the body masked to 31 bits   |
//! |  12 | QUEUEID                      | i32                                        |
//! |  16 | FLAG                         | i32                                        |
//! |  20 | QUEUEOFFSET                  | i64, logical offset in its ConsumeQueue    |
//! |  28 | PHYSICALOFFSET               | i64, offset of this record in the CommitLog|
//! |  36 | SYSFLAG                      | i32                                        |
//! |  40 | BORNTIMESTAMP                | i64 ms                                     |
//! |  48 | BORNHOST                     | 4 (16 if BORNHOST_V6) address + i32 port   |
//! |  56 | STORETIMESTAMP               | i64 ms                                     |
//! |  64 | STOREHOST                    | 4 (16 if STOREHOST_V6) address + i32 port  |
//! |  72 | RECONSUMETIMES               | i32                                        |
//! |  76 | PREPARED TRANSACTION OFFSET  | i64                                        |
//! |  84 | BODY                         | i32 length + bytes                         |
//! |     | TOPIC                        | u8 length (at most 127) + UTF-8            |
//! |     | PROPERTIES                   | i16 length + `key\x01value\x02...` UTF-8   |
//!
//! Invariants a valid message record satisfies (what [`check_record`] verifies):
//! - TOTALSIZE equals the sum of the fixed fields and the three variable fields exactly, and lies
//!   in `RECORD_MIN_BYTES..=RECORD_SIZE_MAX_BYTES`.
//! - The host lengths follow the SYSFLAG's V6 bits; the encoder derives those bits from the
//!   addresses, so they always agree.
//! - BODYCRC matches the body; topic and properties are UTF-8; properties parse; ports fit u16.
//!
//! The end of a CommitLog file holds a blank record: TOTALSIZE = the bytes left in the file (at
//! least [`BLANK_RECORD_MIN_BYTES`]) and MAGICCODE = [`BLANK_MAGIC_CODE`]. A TOTALSIZE of 0
//! means nothing has been written at this position yet.
//!
//! What the checks guarantee against a damaged record: any single-byte change to TOTALSIZE,
//! MAGICCODE or BODYCRC is rejected, and so is one to a body of up to 4 MiB (CRC-32 detects every
//! burst of up to 32 bits; an exhaustive search over all single-byte errors within 4 MiB of the
//! end of a body found none whose CRC differs only in the top bit RocketMQ masks off). A change
//! to the body length or the V6 bits is rejected unless the body CRC collides. Not covered: the
//! numeric header fields (queue id, flag, offsets, timestamps, hosts, reconsume times, prepared
//! offset), other SYSFLAG bits, and the topic and properties text and lengths beyond the lengths
//! adding up and the text parsing. Damage there can yield a record that checks as valid but
//! says something else; the store cross-checks PHYSICALOFFSET against where it read the record.
//!
//! Compressed bodies (SYSFLAG COMPRESSED, zlib in RocketMQ 4.x) are kept as stored: no zlib
//! implementation is available here, so callers see `is_compressed()` and the raw bytes.

mod encode;
mod ext;
mod parse;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::ops::Range;

pub use super::error::{RecordError, RecordField};
pub use super::wire::body_crc;
pub use encode::{encode_blank, encode_record, record_len};
pub use ext::{decode_record, decode_records, MessageExt};
pub use parse::check_record;

use super::properties::Properties;
use super::sysflag::{self, host_len};

/// MAGICCODE of a message record (`0xDAA320A7`, Java's -626843481).
pub const MESSAGE_MAGIC_CODE: i32 = 0xDAA3_20A7_u32 as i32;
/// MAGICCODE of the blank record that fills the end of a CommitLog file (`0xCBD43194`).
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;
/// A blank record is at least TOTALSIZE + MAGICCODE; a file always has room for one.
pub const BLANK_RECORD_MIN_BYTES: usize = 4 + 4;

/// Longest topic: its length is one signed byte.
pub const TOPIC_LEN_MAX_BYTES: usize = i8::MAX as usize;
/// Longest properties string: its length is a signed i16.
pub const PROPERTIES_LEN_MAX_BYTES: usize = i16::MAX as usize;
/// Largest body the format bound allows: RocketMQ's default maximum message size (4 MiB).
pub const BODY_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Position of QUEUEOFFSET in every record.
pub const QUEUE_OFFSET_POSITION: usize = 4 + 4 + 4 + 4 + 4;
/// Position of PHYSICALOFFSET in every record.
pub const PHYSICAL_OFFSET_POSITION: usize = QUEUE_OFFSET_POSITION + 8;
/// Position of SYSFLAG in every record.
pub const SYS_FLAG_POSITION: usize = PHYSICAL_OFFSET_POSITION + 8;
/// Position of BORNTIMESTAMP in every record.
pub const BORN_TIMESTAMP_POSITION: usize = SYS_FLAG_POSITION + 4;
/// Position of BORNHOST in every record (what follows depends on the host lengths).
pub const BORN_HOST_POSITION: usize = BORN_TIMESTAMP_POSITION + 8;

/// The fixed part of a record (TOTALSIZE through PREPARED TRANSACTION OFFSET) for a SYSFLAG.
pub const fn fixed_len(sys_flag: i32) -> usize {
    BORN_HOST_POSITION
        + host_len(sys_flag & sysflag::BORNHOST_V6 != 0)
        + 8 // STORETIMESTAMP
        + host_len(sys_flag & sysflag::STOREHOST_V6 != 0)
        + 4 // RECONSUMETIMES
        + 8 // PREPARED TRANSACTION OFFSET
}

/// Position of STORETIMESTAMP for a SYSFLAG (recovery reads it to find where to start).
pub const fn store_timestamp_position(sys_flag: i32) -> usize {
    BORN_HOST_POSITION + host_len(sys_flag & sysflag::BORNHOST_V6 != 0)
}

/// RocketMQ's `calMsgLength`: the exact size of a record with these variable parts.
pub const fn calc_record_len(sys_flag: i32, body_len: usize, topic_len: usize, properties_len: usize) -> usize {
    fixed_len(sys_flag) + 4 + body_len + 1 + topic_len + 2 + properties_len
}

/// Smallest message record: IPv4 hosts, empty body, topic and properties.
pub const RECORD_MIN_BYTES: usize = calc_record_len(0, 0, 0, 0);
/// Sanity bound on TOTALSIZE: the largest record the format's field limits allow with a body of
/// [`BODY_SIZE_MAX_BYTES`] (IPv6 hosts, longest topic and properties). A broker's configured
/// maximum message size is a separate, smaller policy the store applies.
pub const RECORD_SIZE_MAX_BYTES: usize = calc_record_len(
    sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6,
    BODY_SIZE_MAX_BYTES,
    TOPIC_LEN_MAX_BYTES,
    PROPERTIES_LEN_MAX_BYTES,
);

const _: () = assert!(QUEUE_OFFSET_POSITION == 20);
const _: () = assert!(PHYSICAL_OFFSET_POSITION == 28);
const _: () = assert!(SYS_FLAG_POSITION == 36);
const _: () = assert!(BORN_HOST_POSITION == 48);
const _: () = assert!(fixed_len(0) == 84);
const _: () = assert!(fixed_len(sysflag::BORNHOST_V6) == 96);
const _: () = assert!(fixed_len(sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6) == 108);
const _: () = assert!(store_timestamp_position(0) == 56);
const _: () = assert!(RECORD_MIN_BYTES == 91);
const _: () = assert!(RECORD_MIN_BYTES > BLANK_RECORD_MIN_BYTES);
const _: () = assert!(RECORD_SIZE_MAX_BYTES == 108 + 4 + 4 * 1024 * 1024 + 1 + 127 + 2 + 32767);
const _: () = assert!(RECORD_SIZE_MAX_BYTES <= i32::MAX as usize);

/// What lies at a record position.
///
/// `Message` is much larger than the other variants; it is not boxed because a check result is
/// produced once per record and consumed at once, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCheck {
    /// A valid message record.
    Message(RecordMeta),
    /// The end-of-file filler: the rest of this file (`len` bytes) holds no messages. The caller
    /// checks that it ends exactly at the end of the file.
    Blank { len: usize },
    /// TOTALSIZE is 0: nothing has been written here yet.
    End,
}

/// A checked record's fields, without a copy of its body: what recovery and the ConsumeQueue
/// and IndexFile dispatchers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// TOTALSIZE: where the next record starts.
    pub total_size: usize,
    /// BODYCRC as stored (already verified against the body).
    pub body_crc: i32,
    /// Queue within the topic: selects the ConsumeQueue to append to.
    pub queue_id: i32,
    /// The producer's application flag.
    pub flag: i32,
    /// Logical offset in the ConsumeQueue.
    pub queue_offset: i64,
    /// Offset of this record in the CommitLog, as written (the store compares it with where it
    /// read the record).
    pub physical_offset: i64,
    /// SYSFLAG: transaction type decides whether the record is dispatched to a ConsumeQueue.
    pub sys_flag: i32,
    /// When the producer created the message.
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: SocketAddr,
    /// When the broker stored the message: recovery and the IndexFile use it.
    pub store_timestamp: i64,
    /// The storing broker's address: with the physical offset it forms the offsetMsgId.
    pub store_host: SocketAddr,
    /// Re-consume count of a retried message.
    pub reconsume_times: i32,
    /// Physical offset of the half message, on transaction commit/rollback records.
    pub prepared_transaction_offset: i64,
    /// Where the body lies inside the record, so a reader can slice it without copying.
    pub body: Range<usize>,
    /// Topic, for the ConsumeQueue and the IndexFile key.
    pub topic: String,
    /// All properties (the dispatcher needs DELAY, REAL_TOPIC and the like).
    pub properties: Properties,
    /// ConsumeQueue tag code: Java hash of TAGS, 0 without tags.
    pub tags_code: i64,
    /// KEYS split on spaces, for the IndexFile.
    pub keys: Vec<String>,
    /// UNIQ_KEY, indexed by the IndexFile as well.
    pub uniq_key: Option<String>,
}
