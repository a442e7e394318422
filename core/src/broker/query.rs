//! Lookups and statistics (RocketMQ's `QueryMessageProcessor`, `ConsumerManageProcessor` and
//! parts of `AdminBrokerProcessor`): VIEW_MESSAGE_BY_ID, QUERY_MESSAGE by key,
//! GET_CONSUMER_LIST_BY_GROUP, GET_BROKER_RUNTIME_INFO and GET_CONSUME_STATS, each a request
//! in and a response out.

use std::collections::BTreeMap;

use super::consumer::{ConsumerManager, RequestError};
use super::offset::OffsetTable;
use crate::message::record::RecordMeta;
use crate::protocol::heartbeat::{ConsumeStats, ConsumerListByGroupResponseBody, MessageQueue, OffsetWrapper};
use crate::protocol::{JsonBody, KvTable, TopicConfig};
use crate::remoting::{
    Body, GetConsumeStatsRequestHeader, GetConsumerListByGroupRequestHeader, QueryMessageRequestHeader,
    QueryMessageResponseHeader, RemotingCommand, ResponseCode, ViewMessageRequestHeader, BODY_PARTS_MAX,
    REMOTING_VERSION_DEFAULT,
};
use crate::store::{CommitLogOffset, MessageStore, QueueOffset};

/// extFields key a client sets to `true` when its QUERY_MESSAGE key is a message's unique id
/// (`MixAll.UNIQUE_MSG_QUERY_FLAG`); the broker then ignores the request's `maxNum`.
pub const UNIQUE_MSG_QUERY_FLAG: &str = "_UNIQUE_KEY_QUERY";

/// Messages a unique-id query returns at most (`defaultQueryMaxNum`).
pub const QUERY_UNIQUE_COUNT_MAX: usize = 32;

/// Messages one QUERY_MESSAGE returns at most, whatever the client asks (`maxMsgsNumBatch`).
pub const QUERY_MESSAGE_COUNT_MAX: usize = 64;

// A query's records become the parts of its body, one part each.
const _: () = assert!(QUERY_UNIQUE_COUNT_MAX <= BODY_PARTS_MAX && QUERY_MESSAGE_COUNT_MAX <= BODY_PARTS_MAX);

/// Java's name of the protocol version Petrel reports (`MQVersion.getVersionDesc`).
const BROKER_VERSION_DESC: &str = "V4_9_4";

/// SUCCESS with `body`.
fn success_with_body(request: &RemotingCommand, body: impl Into<Body>) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success, None).with_body(body)
}

/// VIEW_MESSAGE_BY_ID (33): the record at the header's CommitLog offset (the offset part of
/// an `offsetMsgId`), as the body (the store's bytes, not a copy); SYSTEM_ERROR when no record
/// starts there.
pub fn view_message_by_id(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let header = match request.read_header::<ViewMessageRequestHeader>() {
        Ok(header) => header,
        Err(error) => return RequestError::from(error).response_to(request),
    };
    let found = match u64::try_from(header.offset) {
        Ok(offset) => store.message_at(CommitLogOffset(offset)),
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some((record, _))) => success_with_body(request, record),
        Ok(None) => {
            let remark = format!("can not find message by the offset, {}", header.offset);
            RemotingCommand::response_to(request, ResponseCode::SystemError, Some(remark))
        }
        Err(error) => RequestError::from(error).response_to(request),
    }
}

/// QUERY_MESSAGE (12): messages of a topic indexed under a key within a store-time range,
/// newest first, as the body: the records back to back, one body part each, sent from the
/// store's memory without copying them together. The response header says how far the index reaches; Petrel's
/// store does not expose its IndexFile header, so it reports the newest message found (0, 0
/// when none). Nothing found: QUERY_NOT_FOUND.
pub fn query_message(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let header = match request.read_header::<QueryMessageRequestHeader>() {
        Ok(header) => header,
        Err(error) => return RequestError::from(error).response_to(request),
    };
    let unique = request.ext_fields.get(UNIQUE_MSG_QUERY_FLAG) == Some("true");
    let count_max = if unique {
        QUERY_UNIQUE_COUNT_MAX
    } else {
        usize::try_from(header.max_num).unwrap_or(0).min(QUERY_MESSAGE_COUNT_MAX)
    };
    let found = if count_max == 0 {
        Ok(Vec::new())
    } else {
        store.query_by_key(&header.topic, &header.key, count_max, header.begin_timestamp, header.end_timestamp)
    };
    let found = match found {
        Ok(found) => found,
        Err(error) => return RequestError::from(error).response_to(request),
    };
    let newest = |field: fn(&RecordMeta) -> i64| found.iter().map(|(_, meta)| field(meta)).max().unwrap_or(0);
    let response_header = QueryMessageResponseHeader {
        index_last_update_timestamp: newest(|meta| meta.store_timestamp),
        index_last_update_phyoffset: newest(|meta| meta.physical_offset),
    };
    let mut response = if found.is_empty() {
        let remark = "can not find message, maybe time range not correct".to_owned();
        RemotingCommand::response_to(request, ResponseCode::QueryNotFound, Some(remark))
    } else {
        let records = found.into_iter().map(|(record, _)| record).collect();
        success_with_body(request, Body::from_parts(records))
    };
    response.write_header(&response_header);
    response
}

/// GET_CONSUMER_LIST_BY_GROUP (38): the client ids of the group's members, sorted;
/// SYSTEM_ERROR (Java's remark) when the group has none.
pub fn get_consumer_list_by_group(consumers: &ConsumerManager, request: &RemotingCommand) -> RemotingCommand {
    let header = match request.read_header::<GetConsumerListByGroupRequestHeader>() {
        Ok(header) => header,
        Err(error) => return RequestError::from(error).response_to(request),
    };
    let consumer_id_list = consumers.consumer_ids(&header.consumer_group);
    if consumer_id_list.is_empty() {
        let remark = format!("no consumer for this group, {}", header.consumer_group);
        return RemotingCommand::response_to(request, ResponseCode::SystemError, Some(remark));
    }
    success_with_body(request, ConsumerListByGroupResponseBody { consumer_id_list }.encode_json())
}

/// The runtime facts Petrel can state honestly, under RocketMQ's key names: protocol version,
/// boot time, CommitLog bounds, the oldest stored message's time, and the dispatch lag (always
/// 0: the store indexes every record as it appends it).
pub fn broker_runtime_info(store: &MessageStore, boot_timestamp_ms: i64) -> Result<KvTable, RequestError> {
    let min = store.commit_log_min_offset();
    let mut table = BTreeMap::from([
        ("brokerVersion".to_owned(), REMOTING_VERSION_DEFAULT.to_string()),
        ("brokerVersionDesc".to_owned(), BROKER_VERSION_DESC.to_owned()),
        ("bootTimestamp".to_owned(), boot_timestamp_ms.to_string()),
        ("commitLogMinOffset".to_owned(), min.0.to_string()),
        ("commitLogMaxOffset".to_owned(), store.commit_log_max_offset().0.to_string()),
        ("dispatchBehindBytes".to_owned(), "0".to_owned()),
    ]);
    if let Some((_, meta)) = store.message_at(min)? {
        table.insert("earliestMessageTimeStamp".to_owned(), meta.store_timestamp.to_string());
    }
    Ok(KvTable { table })
}

/// GET_BROKER_RUNTIME_INFO (28): [`broker_runtime_info`] as a KVTable body.
pub fn get_broker_runtime_info(
    store: &MessageStore,
    boot_timestamp_ms: i64,
    request: &RemotingCommand,
) -> RemotingCommand {
    match broker_runtime_info(store, boot_timestamp_ms) {
        Ok(table) => success_with_body(request, table.encode_json()),
        Err(error) => error.response_to(request),
    }
}

/// What GET_CONSUME_STATS reads.
pub struct ConsumeStatsContext<'a> {
    /// Queue bounds and store times.
    pub store: &'a MessageStore,
    /// Which topics a live group subscribes to.
    pub consumers: &'a ConsumerManager,
    /// Committed offsets.
    pub offsets: &'a OffsetTable,
    /// The broker's topic configuration: `None` for a topic that does not exist here.
    pub topics: &'a dyn Fn(&str) -> Option<TopicConfig>,
    /// This broker's name, for the `MessageQueue` keys.
    pub broker_name: &'a str,
}

/// A group's progress over one topic's or all its committed topics' read queues (Java's
/// `getConsumeStats`): topics unknown here, or that a live group no longer subscribes to, are
/// left out; a queue's consumer offset is 0 when never committed, and its last timestamp is
/// the store time of the message before that offset (0 if none).
pub fn consume_stats(
    context: &ConsumeStatsContext<'_>,
    group: &str,
    topic: Option<&str>,
) -> Result<ConsumeStats, RequestError> {
    let topics: Vec<String> = match topic.filter(|t| !t.trim().is_empty()) {
        Some(topic) => vec![topic.to_owned()],
        None => {
            context.offsets.offsets().topic_groups().into_iter().filter(|(_, g)| g == group).map(|(t, _)| t).collect()
        }
    };
    let live = context.consumers.group(group).filter(|g| !g.subscriptions.is_empty());
    let mut stats = ConsumeStats::default();
    for topic in topics {
        let Some(config) = (context.topics)(&topic) else {
            continue;
        };
        if live.is_some_and(|g| !g.subscriptions.contains_key(&topic)) {
            continue;
        }
        for queue_id in 0..config.read_queue_nums.max(0) {
            let broker_offset = i64::try_from(context.store.max_offset(&topic, queue_id).0).unwrap_or(i64::MAX);
            let consumer_offset = context.offsets.query(group, &topic, queue_id).unwrap_or(0).max(0);
            let last_timestamp = match u64::try_from(consumer_offset - 1) {
                Ok(last) => {
                    context.store.store_time_at(&topic, queue_id, QueueOffset(last))?.filter(|t| *t > 0).unwrap_or(0)
                }
                Err(_) => 0,
            };
            let queue = MessageQueue { topic: topic.clone(), broker_name: context.broker_name.to_owned(), queue_id };
            stats.offset_table.insert(queue, OffsetWrapper { broker_offset, consumer_offset, last_timestamp });
        }
    }
    Ok(stats)
}

/// GET_CONSUME_STATS (208): [`consume_stats`] as the body, in fastjson's shape.
pub fn get_consume_stats(context: &ConsumeStatsContext<'_>, request: &RemotingCommand) -> RemotingCommand {
    let outcome = request
        .read_header::<GetConsumeStatsRequestHeader>()
        .map_err(RequestError::from)
        .and_then(|header| consume_stats(context, &header.consumer_group, header.topic.as_deref()));
    match outcome {
        Ok(stats) => success_with_body(request, stats.encode_body()),
        Err(error) => error.response_to(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namesrv::ConnectionId;
    use crate::protocol::heartbeat::{ConsumerData, HeartbeatData};
    use crate::remoting::RequestCode;

    /// The consumer list answers the sorted ids, or Java's SYSTEM_ERROR for an empty group.
    #[test]
    fn consumer_list_by_group() {
        let mut consumers = ConsumerManager::new();
        for (conn, id) in [(1, "z@1"), (2, "a@2")] {
            let heartbeat = HeartbeatData {
                client_id: id.into(),
                producer_data_set: Vec::new(),
                consumer_data_set: vec![ConsumerData { group_name: "G".into(), ..ConsumerData::default() }],
            };
            let channel = super::super::consumer::ClientChannel {
                conn: ConnectionId(conn),
                language: crate::remoting::LanguageCode::Java,
                version: 401,
            };
            consumers.heartbeat(0, channel, &heartbeat);
        }
        let header = GetConsumerListByGroupRequestHeader { consumer_group: "G".into() };
        let request = RemotingCommand::request(RequestCode::GetConsumerListByGroup, &header);
        let response = get_consumer_list_by_group(&consumers, &request);
        assert_eq!(response.code, ResponseCode::Success.as_i32());
        assert_eq!(response.body_bytes().as_deref(), Some(&br#"{"consumerIdList":["a@2","z@1"]}"#[..]));
        let header = GetConsumerListByGroupRequestHeader { consumer_group: "H".into() };
        let request = RemotingCommand::request(RequestCode::GetConsumerListByGroup, &header);
        let response = get_consumer_list_by_group(&consumers, &request);
        assert_eq!(response.code, ResponseCode::SystemError.as_i32());
        assert_eq!(response.remark.as_deref(), Some("no consumer for this group, H"));
    }
}
