//! Headers of the message path: send, pull, query and view messages, send-back for retry, and
//! transactions. Field names are Java's (`common/protocol/header/*.java`, RocketMQ 4.9.x).

command_header! {
    /// SEND_MESSAGE (10), SEND_BATCH_MESSAGE (320) with long field names.
    pub struct SendMessageRequestHeader {
        /// Producer group, for transactions (check-back goes to a producer of this group).
        producer_group: String => "producerGroup",
        /// Topic the message goes to.
        topic: String => "topic",
        /// Template topic (TBW102) whose config an auto-created topic copies.
        default_topic: String => "defaultTopic",
        /// Queue count of an auto-created topic.
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// Queue the producer chose; a negative value asks the broker to choose.
        queue_id: i32 => "queueId",
        /// Message sys flag bits (compressed, multi tags, transaction type).
        sys_flag: i32 => "sysFlag",
        /// Producer's clock at send time (ms), stored as the message's born timestamp.
        born_timestamp: i64 => "bornTimestamp",
        /// User flag stored with the message.
        flag: i32 => "flag",
        /// Message properties, `key\u{1}value\u{2}` encoded.
        properties: Option<String> => "properties",
        /// Retries so far when this send is a consumer's send-back to `%RETRY%group`.
        reconsume_times: Option<i32> => "reconsumeTimes",
        /// Unit (multi-unit deployment) mode; false when absent.
        unit_mode: bool => "unitMode" or false,
        /// The body is a batch of messages (SEND_BATCH_MESSAGE); false when absent.
        batch: bool => "batch" or false,
        /// Retries allowed before the message goes to the DLQ, when the client overrides 16.
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
        /// Broker name the client targets (4.9.7+ clients, `RpcRequestHeader.bname`).
        bname: Option<String> => "bname",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310): `SendMessageRequestHeader` with one-letter names to save bytes.
    /// Convert with `From` both ways; the conversion is lossless.
    pub struct SendMessageRequestHeaderV2 {
        /// producerGroup.
        a: String => "a",
        /// topic.
        b: String => "b",
        /// defaultTopic.
        c: String => "c",
        /// defaultTopicQueueNums.
        d: i32 => "d",
        /// queueId.
        e: i32 => "e",
        /// sysFlag.
        f: i32 => "f",
        /// bornTimestamp.
        g: i64 => "g",
        /// flag.
        h: i32 => "h",
        /// properties.
        i: Option<String> => "i",
        /// reconsumeTimes.
        j: Option<i32> => "j",
        /// unitMode.
        k: bool => "k" or false,
        /// maxReconsumeTimes.
        l: Option<i32> => "l",
        /// batch.
        m: bool => "m" or false,
        /// bname (broker name, 4.9.7+ clients).
        n: Option<String> => "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            bname: v2.n,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n: v1.bname,
        }
    }
}

command_header! {
    /// Response to a send.
    pub struct SendMessageResponseHeader {
        /// The stored message's `offsetMsgId` (store host + CommitLog offset, hex).
        msg_id: String => "msgId",
        /// Queue the message went to.
        queue_id: i32 => "queueId",
        /// The message's logical offset in that queue.
        queue_offset: i64 => "queueOffset",
        /// Transaction id, for transactional sends.
        transaction_id: Option<String> => "transactionId",
    }
}

command_header! {
    /// PULL_MESSAGE (11).
    pub struct PullMessageRequestHeader {
        /// Consumer group pulling: selects the subscription and the stored offset.
        consumer_group: String => "consumerGroup",
        /// Topic pulled from.
        topic: String => "topic",
        /// Queue pulled from.
        queue_id: i32 => "queueId",
        /// Logical offset to read from.
        queue_offset: i64 => "queueOffset",
        /// Most messages to return.
        max_msg_nums: i32 => "maxMsgNums",
        /// Pull sys flag bits: COMMIT_OFFSET 1, SUSPEND 2, SUBSCRIPTION 4, CLASS_FILTER 8.
        sys_flag: i32 => "sysFlag",
        /// Consumer's offset to commit along with the pull (when COMMIT_OFFSET is set).
        commit_offset: i64 => "commitOffset",
        /// How long the broker may hold the pull when nothing is there (long polling), ms.
        suspend_timeout_millis: i64 => "suspendTimeoutMillis",
        /// Subscription expression (when SUBSCRIPTION is set), e.g. `TagA || TagB`.
        subscription: Option<String> => "subscription",
        /// Version of the subscription, to detect a stale one.
        sub_version: i64 => "subVersion",
        /// `TAG` or `SQL92`; TAG when absent.
        expression_type: Option<String> => "expressionType",
    }
}

command_header! {
    /// Response to a pull; the body holds the stored message records.
    pub struct PullMessageResponseHeader {
        /// Broker id the consumer should pull from next (0 master, else a slave).
        suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        /// Logical offset for the next pull.
        next_begin_offset: i64 => "nextBeginOffset",
        /// Smallest logical offset still in the queue.
        min_offset: i64 => "minOffset",
        /// Logical offset one past the last message in the queue.
        max_offset: i64 => "maxOffset",
    }
}

command_header! {
    /// QUERY_MESSAGE (12): messages by key, through the IndexFile.
    pub struct QueryMessageRequestHeader {
        /// Topic searched.
        topic: String => "topic",
        /// Message key (or unique id) looked up.
        key: String => "key",
        /// Most messages to return.
        max_num: i32 => "maxNum",
        /// Earliest store time, ms.
        begin_timestamp: i64 => "beginTimestamp",
        /// Latest store time, ms.
        end_timestamp: i64 => "endTimestamp",
    }
}

command_header! {
    /// Response to QUERY_MESSAGE.
    pub struct QueryMessageResponseHeader {
        /// Store time of the newest indexed message, so the client can merge broker answers.
        index_last_update_timestamp: i64 => "indexLastUpdateTimestamp",
        /// CommitLog offset of the newest indexed message.
        index_last_update_phyoffset: i64 => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33): one message by its CommitLog offset (from an `offsetMsgId`).
    pub struct ViewMessageRequestHeader {
        /// CommitLog (physical) offset of the message.
        offset: i64 => "offset",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36): a consumer returns a failed message for retry.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// CommitLog offset of the original message.
        offset: i64 => "offset",
        /// Consumer group that failed to consume it (names the retry topic).
        group: String => "group",
        /// Delay level for the retry; 0 lets the broker use 3 + reconsumeTimes, -1 sends to DLQ.
        delay_level: i32 => "delayLevel",
        /// The original message id, kept through retries.
        origin_msg_id: Option<String> => "originMsgId",
        /// The original topic, kept through retries.
        origin_topic: Option<String> => "originTopic",
        /// Unit mode; false when absent.
        unit_mode: bool => "unitMode" or false,
        /// Retries allowed before the DLQ, when the client overrides 16.
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

command_header! {
    /// END_TRANSACTION (37): the producer commits or rolls back a half message.
    pub struct EndTransactionRequestHeader {
        /// Producer group of the transaction.
        producer_group: String => "producerGroup",
        /// Logical offset of the half message in the half topic's queue.
        tran_state_table_offset: i64 => "tranStateTableOffset",
        /// CommitLog offset of the half message.
        commit_log_offset: i64 => "commitLogOffset",
        /// Message sys flag transaction type: commit (8), rollback (12) or not-type (0).
        commit_or_rollback: i32 => "commitOrRollback",
        /// True when this answers a CHECK_TRANSACTION_STATE.
        from_transaction_check: Option<bool> => "fromTransactionCheck",
        /// Message id of the half message.
        msg_id: String => "msgId",
        /// Transaction id.
        transaction_id: Option<String> => "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39), broker -> producer: asks the state of a half message.
    pub struct CheckTransactionStateRequestHeader {
        /// Logical offset of the half message in the half topic's queue.
        tran_state_table_offset: i64 => "tranStateTableOffset",
        /// CommitLog offset of the half message.
        commit_log_offset: i64 => "commitLogOffset",
        /// Unique message id (`UNIQ_KEY`).
        msg_id: Option<String> => "msgId",
        /// Transaction id.
        transaction_id: Option<String> => "transactionId",
        /// `offsetMsgId` of the half message.
        offset_msg_id: Option<String> => "offsetMsgId",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::remoting::ExtFields;

    use proptest::prelude::*;

    use super::*;
    use crate::remoting::header::test_support::wire_round_trip;
    use crate::remoting::header::CommandHeader;

    proptest! {
        /// Every message-path header reads what a Java peer sends and writes it back unchanged.
        #[test]
        fn message_headers_round_trip(
            send in SendMessageRequestHeader::wire_fields_strategy(),
            send_v2 in SendMessageRequestHeaderV2::wire_fields_strategy(),
            send_response in SendMessageResponseHeader::wire_fields_strategy(),
            pull in PullMessageRequestHeader::wire_fields_strategy(),
            pull_response in PullMessageResponseHeader::wire_fields_strategy(),
            query in QueryMessageRequestHeader::wire_fields_strategy(),
            query_response in QueryMessageResponseHeader::wire_fields_strategy(),
            view in ViewMessageRequestHeader::wire_fields_strategy(),
            send_back in ConsumerSendMsgBackRequestHeader::wire_fields_strategy(),
            end in EndTransactionRequestHeader::wire_fields_strategy(),
            check in CheckTransactionStateRequestHeader::wire_fields_strategy(),
        ) {
            wire_round_trip::<SendMessageRequestHeader>(&send)?;
            wire_round_trip::<SendMessageRequestHeaderV2>(&send_v2)?;
            wire_round_trip::<SendMessageResponseHeader>(&send_response)?;
            wire_round_trip::<PullMessageRequestHeader>(&pull)?;
            wire_round_trip::<PullMessageResponseHeader>(&pull_response)?;
            wire_round_trip::<QueryMessageRequestHeader>(&query)?;
            wire_round_trip::<QueryMessageResponseHeader>(&query_response)?;
            wire_round_trip::<ViewMessageRequestHeader>(&view)?;
            wire_round_trip::<ConsumerSendMsgBackRequestHeader>(&send_back)?;
            wire_round_trip::<EndTransactionRequestHeader>(&end)?;
            wire_round_trip::<CheckTransactionStateRequestHeader>(&check)?;
        }

        /// V2 -> V1 -> V2 gives the same header, and both write the same values under their own
        /// field names (letter i of V2 is field i of V1).
        #[test]
        fn send_v2_converts_losslessly(fields in SendMessageRequestHeaderV2::wire_fields_strategy()) {
            let v2 = wire_round_trip::<SendMessageRequestHeaderV2>(&fields)?;
            let v1 = SendMessageRequestHeader::from(v2.clone());
            prop_assert_eq!(SendMessageRequestHeaderV2::from(v1.clone()), v2);
            let mut v1_fields = ExtFields::new();
            v1.write_fields(&mut v1_fields);
            let long_by_letter: BTreeMap<&str, &str> = SendMessageRequestHeaderV2::FIELD_NAMES
                .iter()
                .copied()
                .zip(V1_NAMES_IN_V2_ORDER.iter().copied())
                .collect();
            let renamed: ExtFields = fields
                .iter()
                .map(|(letter, value)| (long_by_letter[letter].to_owned(), value))
                .collect();
            prop_assert_eq!(v1_fields, renamed);
        }
    }

    /// Java's `createSendMessageRequestHeaderV1` mapping, letter a..n in order.
    const V1_NAMES_IN_V2_ORDER: [&str; 14] = [
        "producerGroup",
        "topic",
        "defaultTopic",
        "defaultTopicQueueNums",
        "queueId",
        "sysFlag",
        "bornTimestamp",
        "flag",
        "properties",
        "reconsumeTimes",
        "unitMode",
        "maxReconsumeTimes",
        "batch",
        "bname",
    ];

    /// The V1 field list is exactly the names the letters stand for (no field forgotten).
    #[test]
    fn v1_and_v2_have_the_same_fields() {
        let mut v1: Vec<&str> = SendMessageRequestHeader::FIELD_NAMES.to_vec();
        let mut mapped: Vec<&str> = V1_NAMES_IN_V2_ORDER.to_vec();
        v1.sort_unstable();
        mapped.sort_unstable();
        assert_eq!(v1, mapped);
        assert_eq!(SendMessageRequestHeaderV2::FIELD_NAMES.len(), 14);
    }

    /// A pull request as a Java consumer sends it decodes to the expected typed values.
    #[test]
    fn pull_request_from_java_fields() {
        let fields: ExtFields = [
            ("consumerGroup", "G"),
            ("topic", "T"),
            ("queueId", "3"),
            ("queueOffset", "100"),
            ("maxMsgNums", "32"),
            ("sysFlag", "6"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "15000"),
            ("subscription", "*"),
            ("subVersion", "1700000000000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let header = PullMessageRequestHeader::read_fields(&fields);
        assert_eq!(
            header,
            Ok(PullMessageRequestHeader {
                consumer_group: "G".into(),
                topic: "T".into(),
                queue_id: 3,
                queue_offset: 100,
                max_msg_nums: 32,
                sys_flag: 6,
                commit_offset: 0,
                suspend_timeout_millis: 15_000,
                subscription: Some("*".into()),
                sub_version: 1_700_000_000_000,
                expression_type: None,
            })
        );
    }
}
