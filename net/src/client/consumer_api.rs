//! The requests a consumer makes, as typed calls: routes from the name servers; heartbeats,
//! group membership, offsets and pulls to the brokers. Shared by `PushConsumer` and
//! `PullConsumer`; the route cache sits behind a `std::sync::Mutex` never held across an await.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use petrel_core::client::MessageQueue;
use petrel_core::message::compress::decompress_body;
use petrel_core::message::record::decode_records;
use petrel_core::message::sysflag;
use petrel_core::message::MessageExt;
use petrel_core::protocol::heartbeat::{ConsumerListByGroupResponseBody, HeartbeatData};
use petrel_core::protocol::{perm, JsonBody, TopicRouteData};
use petrel_core::remoting::{
    CommandHeader, GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader, GetMinOffsetResponseHeader, GetRouteInfoRequestHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, RemotingCommand,
    RequestCode, ResponseCode, SearchOffsetRequestHeader, SearchOffsetResponseHeader, UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use tracing::warn;

use super::consumer_error::ConsumerError;
use crate::remoting::RemotingClient;

/// What a pull found (`PullStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages were returned (SUCCESS).
    Found,
    /// Nothing at or after the offset yet (PULL_NOT_FOUND).
    NoNewMsg,
    /// Messages were there but none matched the subscription (PULL_RETRY_IMMEDIATELY).
    NoMatchedMsg,
    /// The offset is outside the queue (PULL_OFFSET_MOVED): continue at `next_begin_offset`.
    OffsetIllegal,
}

/// A pull's answer (`PullResult`).
#[derive(Debug, Clone)]
pub struct PullResult {
    /// What the pull found.
    pub status: PullStatus,
    /// Where the next pull starts.
    pub next_begin_offset: i64,
    /// Smallest offset still in the queue.
    pub min_offset: i64,
    /// One past the queue's last offset.
    pub max_offset: i64,
    /// The messages, in queue order (empty unless `Found`).
    pub messages: Vec<MessageExt>,
}

/// One pull request's settings beyond the queue.
#[derive(Debug, Clone)]
pub struct PullArgs {
    /// Offset to read from.
    pub offset: i64,
    /// Most messages to return.
    pub max_nums: i32,
    /// Pull sys flag bits (COMMIT_OFFSET, SUSPEND, SUBSCRIPTION).
    pub sys_flag: i32,
    /// Offset committed along with the pull (when COMMIT_OFFSET is set).
    pub commit_offset: i64,
    /// How long the broker may hold the pull, ms (with SUSPEND).
    pub suspend_ms: i64,
    /// Subscription expression.
    pub subscription: String,
    /// Client-side bound on the call.
    pub timeout: Duration,
}

/// The consumer's way to name servers and brokers, with a route cache.
#[derive(Debug)]
pub struct ConsumerApi {
    /// Connections to name servers and brokers.
    pub remoting: RemotingClient,
    /// Name servers asked for routes, in turn.
    namesrv_addrs: Vec<SocketAddr>,
    /// Bound on every call but pulls.
    call_timeout: Duration,
    /// Topic -> its last route.
    routes: Mutex<BTreeMap<String, TopicRouteData>>,
}

impl ConsumerApi {
    /// An API over `remoting`.
    pub fn new(remoting: RemotingClient, namesrv_addrs: Vec<SocketAddr>, timeout: Duration) -> Self {
        ConsumerApi { remoting, namesrv_addrs, call_timeout: timeout, routes: Mutex::new(BTreeMap::new()) }
    }

    fn routes(&self) -> MutexGuard<'_, BTreeMap<String, TopicRouteData>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetches `topic`'s route from the name servers and caches it; the cached one when no
    /// name server answers.
    pub async fn refresh_route(&self, topic: &str) -> Result<TopicRouteData, ConsumerError> {
        if let Some(route) = self.fetch_route(topic).await {
            self.routes().insert(topic.to_owned(), route.clone());
            return Ok(route);
        }
        self.cached_route(topic)
    }

    /// The cached route of `topic`, fetched if not cached yet.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData, ConsumerError> {
        match self.cached_route(topic) {
            Ok(route) => Ok(route),
            Err(_) => self.refresh_route(topic).await,
        }
    }

    fn cached_route(&self, topic: &str) -> Result<TopicRouteData, ConsumerError> {
        let cached = self.routes().get(topic).cloned();
        cached.ok_or_else(|| ConsumerError::NoRoute { topic: topic.to_owned() })
    }

    /// Master addresses of every broker in the cached routes, by broker name.
    pub fn masters(&self) -> BTreeMap<String, SocketAddr> {
        let routes = self.routes();
        let brokers = routes.values().flat_map(|route| route.broker_datas.iter());
        brokers.filter_map(|b| Some((b.broker_name.clone(), b.master_addr()?.parse().ok()?))).collect()
    }

    /// The master address of `broker_name`.
    /// Looked up on every pull, so it reads the routes in place: the same answer as `masters()`,
    /// where a later route's entry for a broker replaces an earlier one.
    pub fn master_addr(&self, broker_name: &str) -> Result<SocketAddr, ConsumerError> {
        let routes = self.routes();
        let brokers = routes.values().rev().flat_map(|route| route.broker_datas.iter().rev());
        let mut named = brokers.filter(|b| b.broker_name == broker_name);
        let addr = named.find_map(|b| b.master_addr()?.parse().ok());
        addr.ok_or_else(|| ConsumerError::NoBrokerAddr { broker: broker_name.to_owned() })
    }

    async fn fetch_route(&self, topic: &str) -> Option<TopicRouteData> {
        let header = GetRouteInfoRequestHeader { topic: topic.to_owned(), accept_standard_json_only: Some(true) };
        for addr in &self.namesrv_addrs {
            let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header);
            let response = match self.remoting.invoke(*addr, request, self.call_timeout).await {
                Ok(response) => response,
                Err(error) => {
                    warn!(%addr, %topic, %error, "name server unreachable");
                    continue;
                }
            };
            if response.response_code() == Some(ResponseCode::TopicNotExist) {
                return None;
            }
            let body = response.body_bytes().unwrap_or_default();
            match TopicRouteData::decode_json(&body) {
                Ok(route) if response.code == 0 => return Some(route),
                _ => warn!(%addr, %topic, code = response.code, "no usable route"),
            }
        }
        None
    }

    /// Sends `request` to `broker`'s master and returns the answer.
    async fn call(
        &self,
        broker: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ConsumerError> {
        let addr = self.master_addr(broker)?;
        Ok(self.remoting.invoke(addr, request, timeout).await?)
    }

    /// `header` of a SUCCESS answer to `request`, else the broker's refusal.
    async fn call_success<H: CommandHeader>(&self, broker: &str, request: RemotingCommand) -> Result<H, ConsumerError> {
        let response = self.call(broker, request, self.call_timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker, &response));
        }
        response.read_header().map_err(|error| ConsumerError::bad_header(broker, &error))
    }
}

/// The broker's refusal as an error.
fn refused(broker: &str, response: &RemotingCommand) -> ConsumerError {
    ConsumerError::Broker { broker: broker.to_owned(), code: response.code, remark: response.remark.clone() }
}

/// The readable queues of `topic` in `route`, in queue order (`topicRouteData2TopicSubscribeInfo`).
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let readable = route.queue_datas.iter().filter(|q| q.perm & perm::READ != 0);
    let mut queues: Vec<MessageQueue> =
        readable.flat_map(|q| (0..q.read_queue_nums).map(|id| MessageQueue::new(topic, &q.broker_name, id))).collect();
    queues.sort();
    queues
}

impl ConsumerApi {
    /// The group's committed offset of `queue`; `None` when the broker has none (QUERY_NOT_FOUND).
    pub async fn query_offset(&self, group: &str, queue: &MessageQueue) -> Result<Option<i64>, ConsumerError> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
        };
        let request = RemotingCommand::request(RequestCode::QueryConsumerOffset, &header);
        let broker = &queue.broker_name;
        let response = self.call(broker, request, self.call_timeout).await?;
        if response.code == ResponseCode::QueryNotFound.as_i32() {
            return Ok(None);
        }
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker, &response));
        }
        let header: QueryConsumerOffsetResponseHeader =
            response.read_header().map_err(|error| ConsumerError::bad_header(broker, &error))?;
        Ok(Some(header.offset))
    }

    /// Commits `offset` for the group's `queue`: one-way, or waiting for the broker's answer.
    pub async fn update_offset(
        &self,
        group: &str,
        queue: &MessageQueue,
        offset: i64,
        oneway: bool,
    ) -> Result<(), ConsumerError> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
        };
        let request = RemotingCommand::request(RequestCode::UpdateConsumerOffset, &header);
        let broker = &queue.broker_name;
        if oneway {
            let addr = self.master_addr(broker)?;
            return Ok(self.remoting.invoke_oneway(addr, request, self.call_timeout).await?);
        }
        let response = self.call(broker, request, self.call_timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker, &response));
        }
        Ok(())
    }

    /// One past the last offset of `queue` (GET_MAX_OFFSET).
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ConsumerError> {
        let header = GetMaxOffsetRequestHeader { topic: queue.topic.clone(), queue_id: queue.queue_id };
        let request = RemotingCommand::request(RequestCode::GetMaxOffset, &header);
        let answer: GetMaxOffsetResponseHeader = self.call_success(&queue.broker_name, request).await?;
        Ok(answer.offset)
    }

    /// The first offset still in `queue` (GET_MIN_OFFSET).
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ConsumerError> {
        let header = GetMinOffsetRequestHeader { topic: queue.topic.clone(), queue_id: queue.queue_id };
        let request = RemotingCommand::request(RequestCode::GetMinOffset, &header);
        let answer: GetMinOffsetResponseHeader = self.call_success(&queue.broker_name, request).await?;
        Ok(answer.offset)
    }

    /// The first offset of `queue` stored at or after `timestamp_ms` (SEARCH_OFFSET_BY_TIMESTAMP).
    pub async fn search_offset(&self, queue: &MessageQueue, timestamp_ms: i64) -> Result<i64, ConsumerError> {
        let header =
            SearchOffsetRequestHeader { topic: queue.topic.clone(), queue_id: queue.queue_id, timestamp: timestamp_ms };
        let request = RemotingCommand::request(RequestCode::SearchOffsetByTimestamp, &header);
        let answer: SearchOffsetResponseHeader = self.call_success(&queue.broker_name, request).await?;
        Ok(answer.offset)
    }
}

impl ConsumerApi {
    /// The client ids of `group` as `broker` knows them (GET_CONSUMER_LIST_BY_GROUP).
    pub async fn consumer_ids(&self, broker: &str, group: &str) -> Result<Vec<String>, ConsumerError> {
        let header = GetConsumerListByGroupRequestHeader { consumer_group: group.to_owned() };
        let request = RemotingCommand::request(RequestCode::GetConsumerListByGroup, &header);
        let response = self.call(broker, request, self.call_timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker, &response));
        }
        let body = response.body_bytes().unwrap_or_default();
        let ids = ConsumerListByGroupResponseBody::decode_json(&body)
            .map_err(|error| ConsumerError::BadResponse { broker: broker.to_owned(), reason: error.to_string() })?;
        Ok(ids.consumer_id_list)
    }

    /// HEART_BEAT with `data` to the broker at `addr`.
    pub async fn heartbeat(&self, addr: SocketAddr, data: &HeartbeatData) -> Result<(), ConsumerError> {
        let request = RemotingCommand::request(RequestCode::HeartBeat, &petrel_core::remoting::EmptyHeader)
            .with_body(data.encode_json());
        let response = self.remoting.invoke(addr, request, self.call_timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(&addr.to_string(), &response));
        }
        Ok(())
    }

    /// UNREGISTER_CLIENT of `client_id` from `group` at the broker at `addr`.
    pub async fn unregister(&self, addr: SocketAddr, client_id: &str, group: &str) -> Result<(), ConsumerError> {
        let header = UnregisterClientRequestHeader {
            client_id: client_id.to_owned(),
            producer_group: None,
            consumer_group: Some(group.to_owned()),
        };
        let request = RemotingCommand::request(RequestCode::UnregisterClient, &header);
        let response = self.remoting.invoke(addr, request, self.call_timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(&addr.to_string(), &response));
        }
        Ok(())
    }

    /// PULL_MESSAGE of `queue` for `group` (`pullKernelImpl` + `processPullResponse`).
    pub async fn pull(&self, group: &str, queue: &MessageQueue, args: &PullArgs) -> Result<PullResult, ConsumerError> {
        let header = PullMessageRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            queue_offset: args.offset,
            max_msg_nums: args.max_nums,
            sys_flag: args.sys_flag,
            commit_offset: args.commit_offset,
            suspend_timeout_millis: args.suspend_ms,
            subscription: Some(args.subscription.clone()),
            sub_version: 0,
            expression_type: Some("TAG".to_owned()),
        };
        let request = RemotingCommand::request(RequestCode::PullMessage, &header);
        let broker = &queue.broker_name;
        let response = self.call(broker, request, args.timeout).await?;
        pull_result(broker, &response)
    }
}

/// Reads a pull response (`processPullResponse`).
pub fn pull_result(broker: &str, response: &RemotingCommand) -> Result<PullResult, ConsumerError> {
    let status = match response.response_code() {
        Some(ResponseCode::Success) => PullStatus::Found,
        Some(ResponseCode::PullNotFound) => PullStatus::NoNewMsg,
        Some(ResponseCode::PullRetryImmediately) => PullStatus::NoMatchedMsg,
        Some(ResponseCode::PullOffsetMoved) => PullStatus::OffsetIllegal,
        _ => return Err(refused(broker, response)),
    };
    let header: PullMessageResponseHeader =
        response.read_header().map_err(|error| ConsumerError::bad_header(broker, &error))?;
    let messages = match (response.body_bytes(), status) {
        (Some(body), PullStatus::Found) => inflate_all(
            decode_records(body)
                .map_err(|error| ConsumerError::BadResponse { broker: broker.to_owned(), reason: error.to_string() })?,
            broker,
        )?,
        _ => Vec::new(),
    };
    let status = match status {
        PullStatus::Found if messages.is_empty() => PullStatus::NoMatchedMsg,
        other => other,
    };
    Ok(PullResult {
        status,
        next_begin_offset: header.next_begin_offset,
        min_offset: header.min_offset,
        max_offset: header.max_offset,
        messages,
    })
}

/// Inflates compressed bodies (COMPRESSED sysflag) and clears the flag, as Java's client
/// does on decode; a body that does not inflate is a bad response, never delivered garbled.
fn inflate_all(mut messages: Vec<MessageExt>, broker: &str) -> Result<Vec<MessageExt>, ConsumerError> {
    for message in &mut messages {
        if sysflag::is_compressed(message.sys_flag) {
            message.body = decompress_body(&message.body)
                .map_err(|error| ConsumerError::BadResponse { broker: broker.to_owned(), reason: error.to_string() })?;
            message.sys_flag = sysflag::clear_compressed(message.sys_flag);
        }
    }
    Ok(messages)
}
