//! What a raw producer, consumer and admin tool send a broker, and how they read the answers:
//! shared by the in-process (`broker_node.rs`) and the real-process (`broker_process.rs`) tests.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use petrel_core::broker::pull::{PULL_SYS_FLAG_SUBSCRIPTION, PULL_SYS_FLAG_SUSPEND};
use petrel_core::message::record::decode_records;
use petrel_core::message::MessageExt;
use petrel_core::protocol::heartbeat::{ConsumerData, HeartbeatData};
use petrel_core::protocol::{JsonBody, AUTO_CREATE_TOPIC_KEY_TOPIC};
use petrel_core::remoting::{
    GetRouteInfoRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, RemotingCommand, RequestCode, ResponseCode, SendMessageRequestHeader,
    SendMessageRequestHeaderV2, SendMessageResponseHeader, UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use petrel_net::remoting::RemotingClient;

/// Long enough for anything that should succeed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Queues a producer asks for when its send auto-creates a topic.
pub const PRODUCER_QUEUES: i32 = 4;
/// Most messages one pull asks for.
pub const PULL_BATCH_MAX: i32 = 32;

/// SEND_MESSAGE_V2 of `body` to `topic`'s queue `queue_id`, auto-creating the topic.
pub fn send_request(topic: &str, queue_id: i32, body: &[u8]) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        default_topic_queue_nums: PRODUCER_QUEUES,
        queue_id,
        born_timestamp: 1,
        ..SendMessageRequestHeader::default()
    };
    RemotingCommand::request(RequestCode::SendMessageV2, &SendMessageRequestHeaderV2::from(header))
        .with_body(Bytes::copy_from_slice(body))
}

/// Sends `body` and returns the response code and, on SUCCESS, the queue offset.
pub async fn send(
    client: &RemotingClient,
    addr: SocketAddr,
    topic: &str,
    queue_id: i32,
    body: &[u8],
) -> (i32, Option<i64>) {
    let response = client
        .invoke(addr, send_request(topic, queue_id, body), CALL_TIMEOUT)
        .await
        .expect("the broker answers a send");
    let offset = (response.code == ResponseCode::Success.as_i32()).then(|| {
        let header: SendMessageResponseHeader = response.read_header().expect("send header");
        header.queue_offset
    });
    (response.code, offset)
}

/// PULL_MESSAGE from `offset` with subscription `*`, held up to `suspend_ms` when `suspend`.
pub fn pull_request(topic: &str, queue_id: i32, offset: i64, suspend_ms: Option<i64>) -> RemotingCommand {
    let mut sys_flag = PULL_SYS_FLAG_SUBSCRIPTION;
    if suspend_ms.is_some() {
        sys_flag |= PULL_SYS_FLAG_SUSPEND;
    }
    let header = PullMessageRequestHeader {
        consumer_group: "CG".into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: PULL_BATCH_MAX,
        sys_flag,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms.unwrap_or(0),
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
    };
    RemotingCommand::request(RequestCode::PullMessage, &header)
}

/// A pull's answer: its code, nextBeginOffset and messages.
#[derive(Debug)]
pub struct Pulled {
    /// The response code.
    pub code: i32,
    /// Where the next pull starts.
    pub next_begin_offset: i64,
    /// The messages, in queue order.
    pub messages: Vec<MessageExt>,
}

/// Reads a pull response.
pub fn pulled(response: &RemotingCommand) -> Pulled {
    let header: PullMessageResponseHeader = response.read_header().expect("pull header");
    let messages = match response.body_bytes() {
        Some(body) => decode_records(body).expect("the pull body decodes"),
        None => Vec::new(),
    };
    Pulled { code: response.code, next_begin_offset: header.next_begin_offset, messages }
}

/// Pulls from `offset` without holding.
pub async fn pull(client: &RemotingClient, addr: SocketAddr, topic: &str, queue_id: i32, offset: i64) -> Pulled {
    let response = client
        .invoke(addr, pull_request(topic, queue_id, offset, None), CALL_TIMEOUT)
        .await
        .expect("the broker answers a pull");
    pulled(&response)
}

/// Every message of a queue from offset 0 on, in order.
pub async fn pull_all(client: &RemotingClient, addr: SocketAddr, topic: &str, queue_id: i32) -> Vec<MessageExt> {
    let mut messages = Vec::new();
    let mut offset = 0;
    loop {
        let batch = pull(client, addr, topic, queue_id, offset).await;
        if batch.code != ResponseCode::Success.as_i32() {
            return messages;
        }
        offset = batch.next_begin_offset;
        messages.extend(batch.messages);
    }
}

/// HEART_BEAT of consumer `client_id` in group `group`.
pub fn heartbeat_request(client_id: &str, group: &str) -> RemotingCommand {
    let heartbeat = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: Vec::new(),
        consumer_data_set: vec![ConsumerData { group_name: group.into(), ..ConsumerData::default() }],
    };
    RemotingCommand::request(RequestCode::HeartBeat, &petrel_core::remoting::EmptyHeader)
        .with_body(heartbeat.encode_json())
}

/// UNREGISTER_CLIENT of consumer `client_id` from `group`.
pub fn unregister_client_request(client_id: &str, group: &str) -> RemotingCommand {
    let header = UnregisterClientRequestHeader {
        client_id: client_id.into(),
        producer_group: None,
        consumer_group: Some(group.into()),
    };
    RemotingCommand::request(RequestCode::UnregisterClient, &header)
}

/// UPDATE_CONSUMER_OFFSET.
pub fn update_offset_request(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        commit_offset: offset,
    };
    RemotingCommand::request(RequestCode::UpdateConsumerOffset, &header)
}

/// QUERY_CONSUMER_OFFSET; `None` unless SUCCESS.
pub async fn query_offset(
    client: &RemotingClient,
    addr: SocketAddr,
    group: &str,
    topic: &str,
    queue_id: i32,
) -> Option<i64> {
    let header = QueryConsumerOffsetRequestHeader { consumer_group: group.into(), topic: topic.into(), queue_id };
    let request = RemotingCommand::request(RequestCode::QueryConsumerOffset, &header);
    let response = client.invoke(addr, request, CALL_TIMEOUT).await.expect("answered");
    if response.code != ResponseCode::Success.as_i32() {
        return None;
    }
    let header: QueryConsumerOffsetResponseHeader = response.read_header().expect("offset header");
    Some(header.offset)
}

/// GET_ROUTEINFO_BY_TOPIC to a name server: true when the topic has a route.
pub async fn routed(client: &RemotingClient, namesrv: SocketAddr, topic: &str) -> bool {
    let header = GetRouteInfoRequestHeader { topic: topic.into(), accept_standard_json_only: None };
    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header);
    let response = client.invoke(namesrv, request, CALL_TIMEOUT).await.expect("answered");
    response.code == ResponseCode::Success.as_i32()
}
