use super::*;
use crate::message::batch::decode_batch;

/// Topic and body checks refuse what Java's `Validators` refuses.
#[test]
fn validation_matches_java() {
    let ok = Message::new("Topic_a-1%|", "x");
    assert_eq!(validate_message(&ok, 4), Ok(()));
    let check = |topic: &str, body: &'static str| validate_message(&Message::new(topic, body), 4);
    assert_eq!(check("", "x"), Err(MessageError::BlankTopic));
    assert_eq!(check(&"t".repeat(128), "x"), Err(MessageError::TopicTooLong));
    assert!(matches!(check("a b", "x"), Err(MessageError::TopicIllegal { .. })));
    assert!(matches!(check("TBW102", "x"), Err(MessageError::TopicForbidden { .. })));
    assert!(matches!(check("SCHEDULE_TOPIC_XXXX", "x"), Err(MessageError::TopicForbidden { .. })));
    assert_eq!(check("T", ""), Err(MessageError::EmptyBody));
    assert_eq!(check("T", "12345"), Err(MessageError::BodyTooLarge { size: 5, max: 4 }));
}

/// The header carries every field `sendKernelImpl` sets.
#[test]
fn header_fields() {
    let message = Message::new("T", "x").with_tags("tag").with_flag(7);
    let queue = MessageQueue::new("T", "broker-a", 3);
    let header = send_request_header("group", &message, &queue, 1_000, false);
    let expected = SendMessageRequestHeaderV2 {
        a: "group".into(),
        b: "T".into(),
        c: "TBW102".into(),
        d: 4,
        e: 3,
        f: 0,
        g: 1_000,
        h: 7,
        i: Some("TAGS\u{1}tag\u{2}".into()),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: None,
    };
    assert_eq!(header, expected);

    let retry = Message::new("%RETRY%g", "x")
        .with_property(keys::RECONSUME_TIME, "3")
        .with_property(keys::MAX_RECONSUME_TIMES, "16")
        .with_property(keys::TRAN_MSG, "true");
    let header = send_request_header("group", &retry, &queue, 1, true);
    assert_eq!((header.j, header.l, header.m), (Some(3), Some(16), true));
    assert_eq!(header.f, sysflag::TRANSACTION_PREPARED);
    assert_eq!(header.i.as_deref(), Some("TRAN_MSG\u{1}true\u{2}"));
}

/// A batch encodes its messages, takes the first's topic, carries its own UNIQ_KEY, and refuses
/// mixed topics, delays and retry topics.
#[test]
fn batch_building() {
    let messages = vec![
        Message::new("T", "one").with_property(keys::UNIQ_KEY, "ID1"),
        Message::new("T", "two").with_property(keys::UNIQ_KEY, "ID2"),
    ];
    let batch = batch_message(&messages, "BATCH").expect("batchable");
    assert_eq!(batch.topic, "T");
    assert_eq!(batch.uniq_key(), Some("BATCH"));
    assert_eq!(decode_batch(batch.body.clone(), "T"), Ok(messages.clone()));
    assert_eq!(batch_msg_ids(&messages), "ID1,ID2");

    assert_eq!(batch_message(&[], "B"), Err(MessageError::EmptyBatch));
    let mixed = [Message::new("T", "a"), Message::new("U", "b")];
    assert!(matches!(batch_message(&mixed, "B"), Err(MessageError::NotBatchable { .. })));
    let delayed = [Message::new("T", "a").with_property(keys::DELAY, "3")];
    assert!(matches!(batch_message(&delayed, "B"), Err(MessageError::NotBatchable { .. })));
    let retry = [Message::new("%RETRY%g", "a")];
    assert!(matches!(batch_message(&retry, "B"), Err(MessageError::NotBatchable { .. })));
}

fn response(code: ResponseCode) -> RemotingCommand {
    let mut response = RemotingCommand::response(code, Some("why".into()));
    response.write_header(&SendMessageResponseHeader {
        msg_id: "OFFSETID".into(),
        queue_id: 2,
        queue_offset: 41,
        transaction_id: None,
    });
    response
}

/// The four storing codes map to their statuses with the header's queue and offsets; any other
/// code is a broker error with its remark; a bad header is an error.
#[test]
fn response_processing_matches_java() {
    let cases = [
        (ResponseCode::Success, SendStatus::SendOk),
        (ResponseCode::FlushDiskTimeout, SendStatus::FlushDiskTimeout),
        (ResponseCode::FlushSlaveTimeout, SendStatus::FlushSlaveTimeout),
        (ResponseCode::SlaveNotAvailable, SendStatus::SlaveNotAvailable),
    ];
    for (code, status) in cases {
        let result = process_send_response(&response(code), "T", "broker-a", "UNIQ".into());
        let expected = SendResult {
            status,
            msg_id: "UNIQ".into(),
            offset_msg_id: "OFFSETID".into(),
            message_queue: MessageQueue::new("T", "broker-a", 2),
            queue_offset: 41,
            transaction_id: None,
        };
        assert_eq!(result, Ok(expected));
    }
    let refused = process_send_response(&response(ResponseCode::SystemError), "T", "b", "U".into());
    assert_eq!(refused, Err(SendResponseError::Broker { code: 1, remark: Some("why".into()) }));
    let bare = RemotingCommand::response(ResponseCode::Success, None);
    assert!(matches!(process_send_response(&bare, "T", "b", "U".into()), Err(SendResponseError::BadHeader(_))));
    assert_eq!(SendStatus::FlushSlaveTimeout.java_name(), "FLUSH_SLAVE_TIMEOUT");
}

/// Exactly Java's retry codes are retried.
#[test]
fn retryable_codes() {
    let retried: Vec<i32> = (0..300).filter(|code| is_retryable_broker_code(*code)).collect();
    assert_eq!(retried, [1, 14, 16, 17, 204, 205]);
}
