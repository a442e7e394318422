//! Record format tests: byte-exact goldens, round trips, each kind of corruption, and
//! properties over arbitrary messages and arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use proptest::prelude::*;

use super::super::model::MessageToStore;
use super::super::properties::{keys, Properties};
use super::super::sysflag;
use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address")
}

const UNIQ: &str = "C0A800072345FFFFFFFE4AAC36000000";

fn sample_v4() -> MessageToStore {
    let mut properties = Properties::new();
    properties.set(keys::TAGS, "TagA");
    properties.set(keys::KEYS, "order-1 order-2");
    properties.set(keys::UNIQ_KEY, UNIQ);
    properties.set(keys::WAIT, "true");
    MessageToStore {
        topic: "TopicTest".into(),
        queue_id: 3,
        flag: 0x11,
        body: Bytes::from_static(b"Hello RocketMQ"),
        properties,
        sys_flag: 0,
        born_timestamp: 1_707_998_400_000,
        born_host: addr("192.168.0.7:52001"),
        store_host: addr("10.0.0.1:10911"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn encode(msg: &MessageToStore, queue_offset: i64, physical_offset: i64, store_ts: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let len = encode_record(msg, queue_offset, physical_offset, store_ts, &mut out).expect("encodable");
    assert_eq!(len, out.len());
    out
}

fn expect_meta(buf: &[u8]) -> RecordMeta {
    match check_record(buf) {
        Ok(RecordCheck::Message(meta)) => meta,
        other => panic!("expected a message record, got {other:?}"),
    }
}

/// The IPv4 golden record, written out field by field from the layout table.
#[test]
fn golden_ipv4_record_is_byte_exact() {
    let props: &[u8] = b"TAGS\x01TagA\x02\
        KEYS\x01order-1 order-2\x02\
        UNIQ_KEY\x01C0A800072345FFFFFFFE4AAC36000000\x02\
        WAIT\x01true\x02";
    let total = 84 + 4 + 14 + 1 + 9 + 2 + props.len();
    let mut expected = Vec::new();
    expected.extend_from_slice(&(total as i32).to_be_bytes()); // TOTALSIZE
    expected.extend_from_slice(&[0xDA, 0xA3, 0x20, 0xA7]); // MAGICCODE
    expected.extend_from_slice(&0x69C8_65EDi32.to_be_bytes()); // BODYCRC (zlib.crc32 & 0x7FFFFFFF)
    expected.extend_from_slice(&3i32.to_be_bytes()); // QUEUEID
    expected.extend_from_slice(&0x11i32.to_be_bytes()); // FLAG
    expected.extend_from_slice(&42i64.to_be_bytes()); // QUEUEOFFSET
    expected.extend_from_slice(&4096i64.to_be_bytes()); // PHYSICALOFFSET
    expected.extend_from_slice(&0i32.to_be_bytes()); // SYSFLAG
    expected.extend_from_slice(&1_707_998_400_000i64.to_be_bytes()); // BORNTIMESTAMP
    expected.extend_from_slice(&[192, 168, 0, 7, 0, 0, 0xCB, 0x21]); // BORNHOST, port 52001
    expected.extend_from_slice(&1_707_998_400_123i64.to_be_bytes()); // STORETIMESTAMP
    expected.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0x2A, 0x9F]); // STOREHOST, port 10911
    expected.extend_from_slice(&0i32.to_be_bytes()); // RECONSUMETIMES
    expected.extend_from_slice(&0i64.to_be_bytes()); // PREPARED TRANSACTION OFFSET
    expected.extend_from_slice(&14i32.to_be_bytes()); // BODY length
    expected.extend_from_slice(b"Hello RocketMQ");
    expected.push(9); // TOPIC length
    expected.extend_from_slice(b"TopicTest");
    expected.extend_from_slice(&(props.len() as i16).to_be_bytes()); // PROPERTIES length
    expected.extend_from_slice(props);

    let msg = sample_v4();
    assert_eq!(record_len(&msg), total);
    assert_eq!(encode(&msg, 42, 4096, 1_707_998_400_123), expected);
}

/// The IPv6 golden: a V6 store host widens STOREHOST to 20 bytes and sets SYSFLAG 0x20 even
/// though the caller's sys_flag did not; the offsetMsgId is 56 characters.
#[test]
fn golden_ipv6_record_is_byte_exact() {
    let mut msg = sample_v4();
    msg.topic = "T6".into();
    msg.body = Bytes::from_static(b"v6");
    msg.properties = [(keys::TAGS, "TagB")].into_iter().collect();
    msg.sys_flag = sysflag::TRANSACTION_PREPARED;
    msg.store_host = addr("[2001:db8::1]:10911");
    let total: i32 = 96 + 4 + 2 + 1 + 2 + 2 + 10;
    let mut expected = Vec::new();
    expected.extend_from_slice(&total.to_be_bytes());
    expected.extend_from_slice(&[0xDA, 0xA3, 0x20, 0xA7]);
    expected.extend_from_slice(&0x7706_5916i32.to_be_bytes());
    expected.extend_from_slice(&3i32.to_be_bytes());
    expected.extend_from_slice(&0x11i32.to_be_bytes());
    expected.extend_from_slice(&0i64.to_be_bytes());
    expected.extend_from_slice(&8i64.to_be_bytes());
    expected.extend_from_slice(&0x24i32.to_be_bytes()); // PREPARED | STOREHOST_V6
    expected.extend_from_slice(&1_707_998_400_000i64.to_be_bytes());
    expected.extend_from_slice(&[192, 168, 0, 7, 0, 0, 0xCB, 0x21]);
    expected.extend_from_slice(&5i64.to_be_bytes());
    expected.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expected.extend_from_slice(&[0, 0, 0x2A, 0x9F]);
    expected.extend_from_slice(&0i32.to_be_bytes());
    expected.extend_from_slice(&0i64.to_be_bytes());
    expected.extend_from_slice(&2i32.to_be_bytes());
    expected.extend_from_slice(b"v6");
    expected.push(2);
    expected.extend_from_slice(b"T6");
    expected.extend_from_slice(&10i16.to_be_bytes());
    expected.extend_from_slice(b"TAGS\x01TagB\x02");

    let record = encode(&msg, 0, 8, 5);
    assert_eq!(record, expected);
    let ext = decode_record(Bytes::from(record)).expect("valid record");
    assert_eq!(ext.sys_flag, 0x24);
    assert_eq!(ext.store_host, msg.store_host);
    assert_eq!(ext.msg_id, "20010DB800000000000000000000000100002A9F0000000000000008");
}

/// check_record reports every field the dispatcher needs, reading only the record even when the
/// buffer runs on (the rest of the file).
#[test]
fn check_record_reports_the_dispatch_fields() {
    let msg = sample_v4();
    let mut buf = encode(&msg, 42, 4096, 7);
    let total = buf.len();
    buf.extend_from_slice(&[0xEE; 100]);
    let meta = expect_meta(&buf);
    assert_eq!(meta.total_size, total);
    assert_eq!((meta.queue_id, meta.flag, meta.queue_offset, meta.physical_offset), (3, 0x11, 42, 4096));
    assert_eq!((meta.store_timestamp, meta.store_host, meta.born_host), (7, msg.store_host, msg.born_host));
    assert_eq!(meta.body_crc, 0x69C8_65ED);
    assert_eq!(&buf[meta.body.clone()], b"Hello RocketMQ");
    assert_eq!(meta.topic, "TopicTest");
    assert_eq!(meta.tags_code, 2_598_919);
    assert_eq!(meta.keys, vec!["order-1".to_string(), "order-2".to_string()]);
    assert_eq!(meta.uniq_key.as_deref(), Some(UNIQ));
    assert_eq!(meta.properties, msg.properties);
}

/// decode_record gives every field back, the body shared with the record, and the offsetMsgId.
#[test]
fn decode_record_round_trips_and_shares_the_body() {
    let msg = sample_v4();
    let record = Bytes::from(encode(&msg, 42, 4096, 7));
    let ext = decode_record(record.clone()).expect("valid record");
    assert_eq!(ext.to_message_to_store(), msg);
    assert_eq!((ext.store_size, ext.queue_offset, ext.commit_log_offset), (record.len(), 42, 4096));
    assert_eq!(ext.store_timestamp, 7);
    assert_eq!(ext.msg_id, "0A00000100002A9F0000000000001000");
    assert_eq!(ext.uniq_key(), Some(UNIQ));
    assert_eq!(ext.tags_code(), 2_598_919);
    assert!(!ext.is_compressed());
    let body_start = record.len() - ext.body.len() - (1 + 9 + 2 + msg.properties.encoded_len());
    assert_eq!(ext.body.as_ptr(), record[body_start..].as_ptr(), "body must not be copied");
}

/// A pull response body of several records decodes in order; trailing bytes after a single
/// record and a blank inside a response are refused.
#[test]
fn decode_records_reads_concatenated_records() {
    let mut msg = sample_v4();
    let mut buf = Vec::new();
    let mut physical = 0;
    for offset in 0..3 {
        msg.body = Bytes::from(vec![b'x'; offset as usize]);
        physical +=
            i64::try_from(encode_record(&msg, offset, physical, 1, &mut buf).expect("encodable")).expect("small");
    }
    let messages = decode_records(Bytes::from(buf.clone())).expect("valid response");
    assert_eq!(messages.iter().map(|m| m.queue_offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(messages[2].body, Bytes::from_static(b"xx"));
    assert_eq!(decode_records(Bytes::new()), Ok(vec![]));

    let first_len = messages[0].store_size;
    assert_eq!(
        decode_record(Bytes::from(buf.clone())),
        Err(RecordError::TrailingBytes { extra: buf.len() - first_len })
    );
    encode_blank(16, &mut buf);
    assert_eq!(decode_records(Bytes::from(buf)), Err(RecordError::UnexpectedBlank { len: 16 }));
}

/// The end-of-file filler: TOTALSIZE, blank magic, zeros; too short or cut off is an error.
#[test]
fn blank_records() {
    let mut out = vec![0xAA];
    encode_blank(20, &mut out);
    let mut expected = vec![0xAA, 0, 0, 0, 20, 0xCB, 0xD4, 0x31, 0x94];
    expected.extend_from_slice(&[0; 12]);
    assert_eq!(out, expected);
    assert_eq!(check_record(&out[1..]), Ok(RecordCheck::Blank { len: 20 }));
    assert_eq!(check_record(&out[1..11]), Err(RecordError::Truncated { needed: 20, available: 10 }));
    let mut short = Vec::new();
    short.extend_from_slice(&7i32.to_be_bytes());
    short.extend_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
    assert_eq!(check_record(&short), Err(RecordError::BadTotalSize { size: 7 }));
}

/// Zeros mean nothing was written yet; fewer than 4 (or 8) bytes is a truncation.
#[test]
fn end_and_short_buffers() {
    assert_eq!(check_record(&[0; 64]), Ok(RecordCheck::End));
    assert_eq!(check_record(&[0; 4]), Ok(RecordCheck::End));
    assert_eq!(check_record(&[0; 3]), Err(RecordError::Truncated { needed: 4, available: 3 }));
    assert_eq!(check_record(&[0, 0, 0, 91, 0xDA]), Err(RecordError::Truncated { needed: 8, available: 5 }));
}

/// Each kind of damage to a valid record is reported as its own error.
#[test]
fn each_corruption_has_its_own_error() {
    let record = encode(&sample_v4(), 42, 4096, 7);
    let total = record.len();
    let body_len_pos = 84;
    let topic_len_pos = body_len_pos + 4 + 14;
    let props_len_pos = topic_len_pos + 1 + 9;
    let with = |pos: usize, bytes: &[u8]| {
        let mut r = record.clone();
        r[pos..pos + bytes.len()].copy_from_slice(bytes);
        check_record(&r)
    };
    assert_eq!(with(4, &[0, 0, 0, 1]), Err(RecordError::BadMagic { found: 1 }));
    assert_eq!(with(0, &(-5i32).to_be_bytes()), Err(RecordError::BadTotalSize { size: -5 }));
    assert_eq!(with(0, &90i32.to_be_bytes()), Err(RecordError::BadTotalSize { size: 90 }));
    let huge = (RECORD_SIZE_MAX_BYTES + 1) as i32;
    assert!(matches!(with(0, &huge.to_be_bytes()), Err(RecordError::TooLarge { .. })));
    assert!(matches!(with(body_len_pos + 4, b"J"), Err(RecordError::CrcMismatch { stored: 0x69C8_65ED, .. })));
    assert!(matches!(with(8, &[0x70]), Err(RecordError::CrcMismatch { .. })));
    assert!(matches!(
        with(topic_len_pos, &[8]),
        Err(RecordError::LengthMismatch { total_size, .. }) if total_size == total
    ));
    assert!(matches!(with(topic_len_pos, &[10]), Err(RecordError::LengthMismatch { .. })));
    let mut longer = record.clone();
    longer[3] += 1;
    longer.push(0);
    assert_eq!(check_record(&longer), Err(RecordError::LengthMismatch { total_size: total + 1, fields_len: total }));
    assert!(matches!(
        with(body_len_pos, &(-1i32).to_be_bytes()),
        Err(RecordError::NegativeLength { field: RecordField::Body, .. })
    ));
    assert!(matches!(
        with(props_len_pos, &[0x80, 0]),
        Err(RecordError::NegativeLength { field: RecordField::Properties, .. })
    ));
    assert_eq!(with(topic_len_pos, &[200]), Err(RecordError::TopicTooLong { len: 200 }));
    assert_eq!(with(topic_len_pos + 1, &[0xFF]), Err(RecordError::InvalidUtf8 { field: RecordField::Topic }));
    assert_eq!(
        with(props_len_pos + 2 + 4, b"\x02"),
        Err(RecordError::BadProperties { reason: "pair without a name/value separator" })
    );
    assert_eq!(with(BORN_HOST_POSITION + 4, &[0, 1]), Err(RecordError::BadPort { port: 0x0001_CB21 }));
    // Setting a V6 bit shifts every later field; here the shifted port is out of range.
    assert!(with(SYS_FLAG_POSITION + 3, &[0x10]).is_err());
}

/// What the format cannot hold is refused before anything is appended.
#[test]
fn encode_refuses_what_the_format_cannot_hold() {
    let refuse = |msg: MessageToStore| {
        let mut out = vec![1, 2, 3];
        let err = encode_record(&msg, 0, 0, 0, &mut out).expect_err("must be refused");
        assert_eq!(out, vec![1, 2, 3], "nothing may be appended on error");
        err
    };
    let mut msg = sample_v4();
    msg.topic = "t".repeat(128);
    assert_eq!(refuse(msg), RecordError::TopicTooLong { len: 128 });
    let mut msg = sample_v4();
    msg.properties.set("big", "v".repeat(PROPERTIES_LEN_MAX_BYTES));
    assert!(matches!(refuse(msg), RecordError::PropertiesTooLong { .. }));
    let mut msg = sample_v4();
    msg.properties.set("bad", "a\x01b");
    assert_eq!(refuse(msg), RecordError::PropertySeparator { key: "bad".into() });
    let mut msg = sample_v4();
    msg.body = Bytes::from(vec![0; RECORD_SIZE_MAX_BYTES]);
    assert!(matches!(refuse(msg), RecordError::TooLarge { .. }));

    let mut msg = sample_v4();
    msg.topic = "t".repeat(127);
    assert!(encode_record(&msg, 0, 0, 0, &mut Vec::new()).is_ok(), "127 bytes is the limit");
}

/// Host-family bits claimed by the caller but contradicted by the addresses are cleared.
#[test]
fn stale_v6_bits_are_cleared_from_v4_hosts() {
    let mut msg = sample_v4();
    msg.sys_flag = sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6 | sysflag::COMPRESSED;
    let meta = expect_meta(&encode(&msg, 0, 0, 0));
    assert_eq!(meta.sys_flag, sysflag::COMPRESSED);
    assert_eq!(meta.total_size, record_len(&msg));
}

// ---- properties over arbitrary input ----

fn arb_host() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn arb_properties() -> impl Strategy<Value = Properties> {
    let text = || proptest::string::string_regex("[^\x01\x02]{0,12}").expect("valid regex");
    proptest::collection::vec((text(), text()), 0..6).prop_map(|pairs| pairs.into_iter().collect())
}

prop_compose! {
    fn arb_message()(
        topic in ".{0,40}"
            .prop_filter("topic fits its length byte", |t| t.len() <= TOPIC_LEN_MAX_BYTES),
        queue_id in any::<i32>(),
        flag in any::<i32>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        properties in arb_properties(),
        sys_flag in any::<i32>(),
        born_timestamp in any::<i64>(),
        born_host in arb_host(),
        store_host in arb_host(),
        reconsume_times in any::<i32>(),
        prepared_transaction_offset in any::<i64>(),
    ) -> MessageToStore {
        MessageToStore {
            topic, queue_id, flag, body: Bytes::from(body), properties, sys_flag, born_timestamp,
            born_host, store_host, reconsume_times, prepared_transaction_offset,
        }
    }
}

/// Positions whose corruption no record survives: TOTALSIZE (the fields no longer add up),
/// MAGICCODE, BODYCRC and the body (CRC-32 catches every single-byte error), and the body length
/// (the body CRC is then taken over other bytes). The topic and properties length fields are not
/// listed: they are protected only by the lengths having to add up and by the text checks.
fn covered_positions(msg: &MessageToStore) -> Vec<std::ops::Range<usize>> {
    let body_len_pos = fixed_len(msg.encoded_sys_flag());
    let topic_len_pos = body_len_pos + 4 + msg.body.len();
    vec![0..12, body_len_pos..topic_len_pos]
}

proptest! {
    /// Any encodable message round-trips exactly: check_record and decode_record report what was
    /// encoded, and record_len predicts the size.
    #[test]
    fn any_message_round_trips(
        msg in arb_message(),
        queue_offset in any::<i64>(),
        physical in any::<i64>(),
        store_ts in any::<i64>(),
    ) {
        let record = encode(&msg, queue_offset, physical, store_ts);
        prop_assert_eq!(record.len(), record_len(&msg));
        let meta = expect_meta(&record);
        prop_assert_eq!(meta.total_size, record.len());
        prop_assert_eq!(meta.sys_flag, msg.encoded_sys_flag());
        prop_assert_eq!(meta.tags_code, msg.tags_code());
        let ext = decode_record(Bytes::from(record)).expect("valid record");
        prop_assert_eq!(
            (ext.queue_offset, ext.commit_log_offset, ext.store_timestamp),
            (queue_offset, physical, store_ts)
        );
        prop_assert_eq!(&ext.msg_id, &super::super::id::offset_msg_id(msg.store_host, physical));
        let mut expected = msg.clone();
        expected.sys_flag = msg.encoded_sys_flag();
        prop_assert_eq!(ext.to_message_to_store(), expected);
    }

    /// Arbitrary bytes, and arbitrary bytes behind a plausible header, never panic any decoder.
    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
        plausible in any::<bool>(),
    ) {
        if plausible && bytes.len() >= 8 {
            let len = bytes.len() as i32;
            bytes[..4].copy_from_slice(&len.to_be_bytes());
            bytes[4..8].copy_from_slice(&MESSAGE_MAGIC_CODE.to_be_bytes());
        }
        let _ = check_record(&bytes);
        let _ = decode_record(Bytes::from(bytes.clone()));
        let _ = decode_records(Bytes::from(bytes));
    }

    /// Any single-byte change is either rejected or lands outside the covered positions and the
    /// V6 bits; an accepted record then still has its original size and body.
    #[test]
    fn single_byte_corruption_is_caught_where_checks_cover(
        msg in arb_message(),
        pick in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut record = encode(&msg, 1, 2, 3);
        let pos = pick.index(record.len());
        record[pos] ^= xor;
        record.extend_from_slice(&[0; 300]); // the rest of a file
        if let Ok(RecordCheck::Message(meta)) = check_record(&record) {
            let covered = covered_positions(&msg).iter().any(|r| r.contains(&pos));
            prop_assert!(!covered, "corruption at {} accepted", pos);
            let v6_flip = pos == SYS_FLAG_POSITION + 3 && xor & 0x30 != 0;
            prop_assert!(!v6_flip, "V6 bit flip accepted");
            prop_assert_eq!(meta.total_size, record_len(&msg));
            prop_assert_eq!(&record[meta.body], &msg.body[..]);
        }
    }

    /// Every strict prefix of a record is reported as truncated, never as something else.
    #[test]
    fn every_prefix_is_truncated(msg in arb_message(), pick in any::<prop::sample::Index>()) {
        let record = encode(&msg, 0, 0, 0);
        let cut = pick.index(record.len());
        let checked = check_record(&record[..cut]);
        prop_assert!(matches!(checked, Err(RecordError::Truncated { .. })), "{:?}", checked);
        let decoded = decode_record(Bytes::copy_from_slice(&record[..cut]));
        prop_assert!(matches!(decoded, Err(RecordError::Truncated { .. })), "{:?}", decoded);
    }
}
