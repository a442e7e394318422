//! Headers of offset queries and updates: consumer offsets, queue bounds, time search, reset,
//! and consume stats. Field names are Java's (RocketMQ 4.9.x).

command_header! {
    /// QUERY_CONSUMER_OFFSET (14): a consumer asks where its group stopped in a queue.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group whose offset is asked.
        consumer_group: String => "consumerGroup",
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
    }
}

command_header! {
    /// Response to QUERY_CONSUMER_OFFSET (absent on QUERY_NOT_FOUND).
    pub struct QueryConsumerOffsetResponseHeader {
        /// The group's committed logical offset.
        offset: i64 => "offset",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15): a consumer commits its progress (often one-way).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group committing.
        consumer_group: String => "consumerGroup",
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Logical offset to store.
        commit_offset: i64 => "commitOffset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30).
    pub struct GetMaxOffsetRequestHeader {
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
    }
}

command_header! {
    /// Response to GET_MAX_OFFSET.
    pub struct GetMaxOffsetResponseHeader {
        /// Logical offset one past the queue's last message.
        offset: i64 => "offset",
    }
}

command_header! {
    /// GET_MIN_OFFSET (31).
    pub struct GetMinOffsetRequestHeader {
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
    }
}

command_header! {
    /// Response to GET_MIN_OFFSET.
    pub struct GetMinOffsetResponseHeader {
        /// Smallest logical offset still stored.
        offset: i64 => "offset",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Store time to search for, ms.
        timestamp: i64 => "timestamp",
    }
}

command_header! {
    /// Response to SEARCH_OFFSET_BY_TIMESTAMP.
    pub struct SearchOffsetResponseHeader {
        /// Logical offset of the first message stored at or after the timestamp.
        offset: i64 => "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// Topic of the queue.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
    }
}

command_header! {
    /// Response to GET_EARLIEST_MSG_STORETIME.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of the queue's oldest message, ms.
        timestamp: i64 => "timestamp",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) and RESET_CONSUMER_CLIENT_OFFSET (220).
    pub struct ResetOffsetRequestHeader {
        /// Topic whose offsets are reset.
        topic: String => "topic",
        /// Consumer group whose offsets are reset.
        group: String => "group",
        /// Reset to the first message stored at or after this time, ms.
        timestamp: i64 => "timestamp",
        /// Reset even when that moves the offset forward past unconsumed messages.
        is_force: bool => "isForce",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208).
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group asked about.
        consumer_group: String => "consumerGroup",
        /// Only this topic, or all the group's topics when absent.
        topic: Option<String> => "topic",
    }
}

#[cfg(test)]
mod tests {
    use crate::remoting::ExtFields;

    use proptest::prelude::*;

    use super::*;
    use crate::remoting::header::test_support::wire_round_trip;
    use crate::remoting::header::CommandHeader;

    proptest! {
        /// Every offset header reads what a Java peer sends and writes it back unchanged.
        #[test]
        fn offset_headers_round_trip(
            a in QueryConsumerOffsetRequestHeader::wire_fields_strategy(),
            b in QueryConsumerOffsetResponseHeader::wire_fields_strategy(),
            c in UpdateConsumerOffsetRequestHeader::wire_fields_strategy(),
            d in GetMaxOffsetRequestHeader::wire_fields_strategy(),
            e in GetMaxOffsetResponseHeader::wire_fields_strategy(),
            f in GetMinOffsetRequestHeader::wire_fields_strategy(),
            g in GetMinOffsetResponseHeader::wire_fields_strategy(),
            h in SearchOffsetRequestHeader::wire_fields_strategy(),
            i in SearchOffsetResponseHeader::wire_fields_strategy(),
            j in GetEarliestMsgStoretimeRequestHeader::wire_fields_strategy(),
            k in GetEarliestMsgStoretimeResponseHeader::wire_fields_strategy(),
            l in ResetOffsetRequestHeader::wire_fields_strategy(),
            m in GetConsumeStatsRequestHeader::wire_fields_strategy(),
        ) {
            wire_round_trip::<QueryConsumerOffsetRequestHeader>(&a)?;
            wire_round_trip::<QueryConsumerOffsetResponseHeader>(&b)?;
            wire_round_trip::<UpdateConsumerOffsetRequestHeader>(&c)?;
            wire_round_trip::<GetMaxOffsetRequestHeader>(&d)?;
            wire_round_trip::<GetMaxOffsetResponseHeader>(&e)?;
            wire_round_trip::<GetMinOffsetRequestHeader>(&f)?;
            wire_round_trip::<GetMinOffsetResponseHeader>(&g)?;
            wire_round_trip::<SearchOffsetRequestHeader>(&h)?;
            wire_round_trip::<SearchOffsetResponseHeader>(&i)?;
            wire_round_trip::<GetEarliestMsgStoretimeRequestHeader>(&j)?;
            wire_round_trip::<GetEarliestMsgStoretimeResponseHeader>(&k)?;
            wire_round_trip::<ResetOffsetRequestHeader>(&l)?;
            wire_round_trip::<GetConsumeStatsRequestHeader>(&m)?;
        }
    }

    /// `isForce` keeps Java's field name, `is` prefix included, and is required.
    #[test]
    fn reset_offset_uses_java_field_names() {
        let header = ResetOffsetRequestHeader { topic: "T".into(), group: "G".into(), timestamp: 5, is_force: true };
        let mut fields = ExtFields::new();
        header.write_fields(&mut fields);
        assert_eq!(fields.get("isForce"), Some("true"));
        fields.remove("isForce");
        assert_eq!(
            ResetOffsetRequestHeader::read_fields(&fields),
            Err(crate::remoting::HeaderError::Missing { field: "isForce" })
        );
    }
}
