//! `AdminClient`: mqadmin's everyday operations over the remoting protocol, against name
//! servers (cluster, topic list, routes, topic deletion) and the brokers they name (topic
//! creation and deletion, queue offsets, consume stats, message lookups, offset resets).
//!
//! Files: `admin.rs` (the client, its error and result types), `admin_stats.rs` (reading the
//! fastjson GET_CONSUME_STATS body), `admin_table.rs` (results as `petrel admin`'s tables).
//!
//! Every call is bounded by the client's timeout per request. An operation over several
//! brokers stops at the first broker that fails and names it in the error.
//!
//! `reset_offset_by_time` is done here, queue by queue (SEARCH_OFFSET_BY_TIMESTAMP then
//! UPDATE_CONSUMER_OFFSET), because Petrel's broker does not serve
//! INVOKE_BROKER_TO_RESET_OFFSET: nothing tells running consumers, so a consumer of the group
//! that is still running overwrites the reset with its next commit. Stop the group first.

use std::net::SocketAddr;
use std::time::Duration;

use petrel_core::message::id::{parse_offset_msg_id, IdError};
use petrel_core::message::record::{decode_record, decode_records, RecordError};
use petrel_core::message::MessageExt;
use petrel_core::namesrv::DeleteTopicFromNamesrvRequestHeader;
use petrel_core::protocol::{
    BodyError, ClusterInfo, JsonBody, TopicConfig, TopicFilterType, TopicList, TopicRouteData,
    AUTO_CREATE_TOPIC_KEY_TOPIC, MASTER_ID,
};
use petrel_core::remoting::{
    CommandHeader, CreateTopicRequestHeader, DeleteTopicRequestHeader, EmptyHeader, GetConsumeStatsRequestHeader,
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader, GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader, GetMinOffsetResponseHeader, GetRouteInfoRequestHeader,
    HeaderError, QueryMessageRequestHeader, RemotingCommand, RequestCode, ResponseCode, SearchOffsetRequestHeader,
    SearchOffsetResponseHeader, UpdateConsumerOffsetRequestHeader, ViewMessageRequestHeader,
};
use serde::{Deserialize, Serialize};

use crate::remoting::{ClientConfig, RemotingClient, TransportError};

#[path = "admin_stats.rs"]
mod stats;
#[path = "admin_table.rs"]
pub mod table;

/// Most messages one broker returns for a key (mqadmin's `queryMsgByKey` asks 64).
pub const QUERY_BY_KEY_COUNT_MAX: i32 = 64;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The client was given no name server.
    #[error("no name server address given")]
    NoNamesrv,
    /// A request to `addr` failed in the transport (connect, timeout, closed connection).
    #[error("{addr}: {source}")]
    Transport {
        /// The peer asked.
        addr: SocketAddr,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
    /// `addr` answered with a failure code.
    #[error("{addr} answered code {code}: {}", remark.as_deref().unwrap_or(""))]
    Refused {
        /// The peer that answered.
        addr: SocketAddr,
        /// Its response code.
        code: i32,
        /// Its remark.
        remark: Option<String>,
    },
    /// A response header from `addr` does not parse.
    #[error("bad response header from {addr}: {source}")]
    BadHeader {
        /// The peer that answered.
        addr: SocketAddr,
        /// What is wrong.
        #[source]
        source: HeaderError,
    },
    /// A response body from `addr` does not parse.
    #[error("bad response body from {addr}: {reason}")]
    BadBody {
        /// The peer that answered.
        addr: SocketAddr,
        /// What is wrong.
        reason: String,
    },
    /// No name server knows the topic.
    #[error("topic {topic:?} does not exist")]
    TopicNotExist {
        /// The topic asked about.
        topic: String,
    },
    /// No name server knows the cluster, or it has no master.
    #[error("cluster {cluster:?} has no master broker")]
    NoCluster {
        /// The cluster asked about.
        cluster: String,
    },
    /// A route or cluster table holds an address that is not `ip:port`.
    #[error("broker address {addr:?} is not ip:port")]
    BadBrokerAddr {
        /// The address as given.
        addr: String,
    },
    /// The message id is not an offsetMsgId.
    #[error("{id:?} is not an offset message id: {source}")]
    BadMsgId {
        /// The id as given.
        id: String,
        /// Why it does not parse.
        #[source]
        source: IdError,
    },
}

impl AdminError {
    fn bad_body(addr: SocketAddr, reason: impl std::fmt::Display) -> AdminError {
        AdminError::BadBody { addr, reason: reason.to_string() }
    }
}

/// Where `update_topic` creates or updates the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicTarget {
    /// One broker, by address (mqadmin's `-b`).
    Broker(SocketAddr),
    /// Every master of a cluster (mqadmin's `-c`).
    Cluster(String),
}

/// One queue of a topic on one broker, as `topicStatus` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Broker group holding the queue.
    pub broker_name: String,
    /// The master's address, which was asked.
    pub broker_addr: String,
    /// Queue id.
    pub queue_id: i32,
    /// Smallest logical offset still stored.
    pub min_offset: i64,
    /// Logical offset the next message gets.
    pub max_offset: i64,
    /// Store time of the oldest stored message (ms), -1 for an empty queue. Petrel's broker
    /// has no request for the newest message's time, so this stands in for mqadmin's
    /// "last updated".
    pub earliest_store_ms: i64,
}

/// A topic's queues on every broker of its route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// The topic.
    pub topic: String,
    /// Its queues, by broker name then queue id.
    pub queues: Vec<QueueStatus>,
}

impl JsonBody for TopicStatus {
    const JAVA_NAME: &'static str = "TopicStatsTable";
}

/// One queue's progress for a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueProgress {
    /// Topic of the queue.
    pub topic: String,
    /// Broker group holding it.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// The queue's max offset.
    pub broker_offset: i64,
    /// The group's committed offset (0 when never committed).
    pub consumer_offset: i64,
    /// Messages not consumed yet: `broker_offset - consumer_offset`.
    pub diff: i64,
    /// Store time of the last consumed message (ms), 0 if none.
    pub last_timestamp: i64,
}

/// A consumer group's progress over its queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerProgress {
    /// The group.
    pub group: String,
    /// Its queues, by topic, broker name and queue id.
    pub queues: Vec<QueueProgress>,
    /// The sum of the queues' diffs.
    pub diff_total: i64,
}

impl JsonBody for ConsumerProgress {
    const JAVA_NAME: &'static str = "ConsumeStats";
}

/// One queue whose committed offset `reset_offset_by_time` set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReset {
    /// Broker group holding the queue.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// The offset committed: the first message stored at or after the time.
    pub offset: i64,
}

/// What `reset_offset_by_time` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetReset {
    /// The group reset.
    pub group: String,
    /// The topic reset.
    pub topic: String,
    /// The time asked for (ms since the epoch).
    pub timestamp_ms: i64,
    /// Every queue, by broker name then queue id.
    pub queues: Vec<QueueReset>,
}

impl JsonBody for OffsetReset {
    const JAVA_NAME: &'static str = "ResetOffsetBody";
}

/// A message as the admin commands show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The offsetMsgId (store host + CommitLog offset).
    pub offset_msg_id: String,
    /// The producer's id (UNIQ_KEY), if any.
    pub msg_id: Option<String>,
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// Logical offset in the queue.
    pub queue_offset: i64,
    /// Tags, if any.
    pub tags: Option<String>,
    /// Keys.
    pub keys: Vec<String>,
    /// The storing broker's address.
    pub store_host: String,
    /// When the broker stored it (ms).
    pub store_timestamp: i64,
    /// When the producer made it (ms).
    pub born_timestamp: i64,
    /// Body size in bytes.
    pub body_bytes: usize,
    /// The body as UTF-8 text (invalid bytes replaced).
    pub body: String,
}

impl From<&MessageExt> for MessageView {
    fn from(message: &MessageExt) -> Self {
        MessageView {
            offset_msg_id: message.msg_id.clone(),
            msg_id: message.uniq_key().map(str::to_owned),
            topic: message.topic.clone(),
            queue_id: message.queue_id,
            queue_offset: message.queue_offset,
            tags: message.tags().map(str::to_owned),
            keys: message.keys().map(str::to_owned).collect(),
            store_host: message.store_host.to_string(),
            store_timestamp: message.store_timestamp,
            born_timestamp: message.born_timestamp,
            body_bytes: message.body.len(),
            body: String::from_utf8_lossy(&message.body).into_owned(),
        }
    }
}

/// A list of messages, for `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// The messages.
    pub messages: Vec<MessageView>,
}

impl JsonBody for MessageList {
    const JAVA_NAME: &'static str = "QueryResult";
}

/// A master broker of a route or cluster: its group name and address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Master {
    /// Broker group name.
    name: String,
    /// The master's address.
    addr: SocketAddr,
}

/// The admin client (`DefaultMQAdminExt`'s everyday part).
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// Name servers, asked in turn until one answers.
    namesrv_addrs: Vec<SocketAddr>,
    /// Bound on each request.
    timeout: Duration,
    /// Connections to name servers and brokers.
    remoting: RemotingClient,
}

impl AdminClient {
    /// A client asking `namesrv_addrs`, each request bounded by `timeout`.
    ///
    /// # Panics
    /// If `timeout` is zero.
    pub fn new(namesrv_addrs: Vec<SocketAddr>, timeout: Duration) -> AdminClient {
        assert!(!timeout.is_zero(), "the admin timeout must be > 0");
        AdminClient { namesrv_addrs, timeout, remoting: RemotingClient::new(ClientConfig::for_clients(), None) }
    }

    /// Closes the client's connections.
    pub async fn shutdown(self) {
        self.remoting.close_all().await;
    }

    /// `clusterList`: every cluster and broker the name servers know.
    pub async fn cluster_list(&self) -> Result<ClusterInfo, AdminError> {
        let request = || RemotingCommand::request(RequestCode::GetBrokerClusterInfo, &EmptyHeader);
        let (addr, response) = self.ask_namesrv(request).await?;
        decode_body(addr, &success(addr, response)?)
    }

    /// `topicList`: every topic the name servers know.
    pub async fn topic_list(&self) -> Result<TopicList, AdminError> {
        let request = || RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver, &EmptyHeader);
        let (addr, response) = self.ask_namesrv(request).await?;
        decode_body(addr, &success(addr, response)?)
    }

    /// `topicRoute`: the topic's queues and brokers.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData, AdminError> {
        let header = GetRouteInfoRequestHeader { topic: topic.to_owned(), accept_standard_json_only: Some(true) };
        let request = || RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header);
        let (addr, response) = self.ask_namesrv(request).await?;
        if response.response_code() == Some(ResponseCode::TopicNotExist) {
            return Err(AdminError::TopicNotExist { topic: topic.to_owned() });
        }
        decode_body(addr, &success(addr, response)?)
    }

    /// `updateTopic`: creates or updates `config` on one broker or on every master of a
    /// cluster (UPDATE_AND_CREATE_TOPIC); returns the brokers updated.
    pub async fn update_topic(
        &self,
        target: &TopicTarget,
        config: &TopicConfig,
    ) -> Result<Vec<SocketAddr>, AdminError> {
        let addrs = match target {
            TopicTarget::Broker(addr) => vec![*addr],
            TopicTarget::Cluster(cluster) => self.cluster_masters(cluster).await?,
        };
        let header = create_topic_header(config);
        for addr in &addrs {
            let request = RemotingCommand::request(RequestCode::UpdateAndCreateTopic, &header);
            success(*addr, self.call(*addr, request).await?)?;
        }
        Ok(addrs)
    }

    /// `deleteTopic`: DELETE_TOPIC_IN_BROKER on every master of `cluster`, then
    /// DELETE_TOPIC_IN_NAMESRV (for that cluster) on every name server.
    pub async fn delete_topic(&self, topic: &str, cluster: &str) -> Result<(), AdminError> {
        let header = DeleteTopicRequestHeader { topic: topic.to_owned() };
        for addr in self.cluster_masters(cluster).await? {
            let request = RemotingCommand::request(RequestCode::DeleteTopicInBroker, &header);
            success(addr, self.call(addr, request).await?)?;
        }
        let header =
            DeleteTopicFromNamesrvRequestHeader { topic: topic.to_owned(), cluster_name: Some(cluster.to_owned()) };
        for addr in &self.namesrv_addrs {
            let request = RemotingCommand::request(RequestCode::DeleteTopicInNamesrv, &header);
            success(*addr, self.call(*addr, request).await?)?;
        }
        Ok(())
    }

    /// `topicStatus`: min and max offset and oldest store time of every queue of the topic.
    pub async fn topic_status(&self, topic: &str) -> Result<TopicStatus, AdminError> {
        let route = self.topic_route(topic).await?;
        let mut queues = Vec::new();
        for (master, queue_count) in route_masters(&route)? {
            for queue_id in 0..queue_count {
                queues.push(self.queue_status(topic, &master, queue_id).await?);
            }
        }
        Ok(TopicStatus { topic: topic.to_owned(), queues })
    }

    async fn queue_status(&self, topic: &str, master: &Master, queue_id: i32) -> Result<QueueStatus, AdminError> {
        let topic = topic.to_owned();
        let max = GetMaxOffsetRequestHeader { topic: topic.clone(), queue_id };
        let max: GetMaxOffsetResponseHeader = self.ask(master.addr, RequestCode::GetMaxOffset, &max).await?;
        let min = GetMinOffsetRequestHeader { topic: topic.clone(), queue_id };
        let min: GetMinOffsetResponseHeader = self.ask(master.addr, RequestCode::GetMinOffset, &min).await?;
        let earliest = GetEarliestMsgStoretimeRequestHeader { topic, queue_id };
        let code = RequestCode::GetEarliestMsgStoretime;
        let earliest: GetEarliestMsgStoretimeResponseHeader = self.ask(master.addr, code, &earliest).await?;
        Ok(QueueStatus {
            broker_name: master.name.clone(),
            broker_addr: master.addr.to_string(),
            queue_id,
            min_offset: min.offset,
            max_offset: max.offset,
            earliest_store_ms: earliest.timestamp,
        })
    }

    /// `consumerProgress`: the group's progress from GET_CONSUME_STATS on every broker of the
    /// topic's route, or on every master the name servers know when no topic is given.
    pub async fn consumer_progress(&self, group: &str, topic: Option<&str>) -> Result<ConsumerProgress, AdminError> {
        let masters = match topic {
            Some(topic) => {
                route_masters(&self.topic_route(topic).await?)?.into_iter().map(|(master, _)| master).collect()
            }
            None => all_masters(&self.cluster_list().await?)?,
        };
        let header = GetConsumeStatsRequestHeader { consumer_group: group.to_owned(), topic: topic.map(str::to_owned) };
        let mut queues = Vec::new();
        for master in masters {
            let request = RemotingCommand::request(RequestCode::GetConsumeStats, &header);
            let response = success(master.addr, self.call(master.addr, request).await?)?;
            let body = response.body_bytes().unwrap_or_default();
            let table = stats::parse_offset_table(&body).map_err(|reason| AdminError::bad_body(master.addr, reason))?;
            queues.extend(table.into_iter().map(|(queue, offsets)| QueueProgress {
                topic: queue.topic,
                broker_name: queue.broker_name,
                queue_id: queue.queue_id,
                broker_offset: offsets.broker_offset,
                consumer_offset: offsets.consumer_offset,
                diff: offsets.broker_offset - offsets.consumer_offset,
                last_timestamp: offsets.last_timestamp,
            }));
        }
        queues.sort_by(|a, b| (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id)));
        let diff_total = queues.iter().map(|queue| queue.diff).sum();
        Ok(ConsumerProgress { group: group.to_owned(), queues, diff_total })
    }

    /// `queryMsgById`: the message an offsetMsgId names, from the broker inside the id
    /// (VIEW_MESSAGE_BY_ID).
    pub async fn query_msg_by_id(&self, offset_msg_id: &str) -> Result<MessageExt, AdminError> {
        let (addr, offset) = parse_offset_msg_id(offset_msg_id)
            .map_err(|source| AdminError::BadMsgId { id: offset_msg_id.to_owned(), source })?;
        let header = ViewMessageRequestHeader { offset };
        let request = RemotingCommand::request(RequestCode::ViewMessageById, &header);
        let response = success(addr, self.call(addr, request).await?)?;
        let body = response.body_bytes().unwrap_or_default();
        decode_record(body).map_err(|error: RecordError| AdminError::bad_body(addr, error))
    }

    /// `queryMsgByKey`: the topic's messages carrying `key` (or with it as their UNIQ_KEY),
    /// from QUERY_MESSAGE on every broker of the route, at most `QUERY_BY_KEY_COUNT_MAX` each.
    pub async fn query_msg_by_key(&self, topic: &str, key: &str) -> Result<Vec<MessageExt>, AdminError> {
        let route = self.topic_route(topic).await?;
        let header = QueryMessageRequestHeader {
            topic: topic.to_owned(),
            key: key.to_owned(),
            max_num: QUERY_BY_KEY_COUNT_MAX,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
        };
        let mut found = Vec::new();
        for (master, _) in route_masters(&route)? {
            let request = RemotingCommand::request(RequestCode::QueryMessage, &header);
            let response = self.call(master.addr, request).await?;
            if response.response_code() == Some(ResponseCode::QueryNotFound) {
                continue;
            }
            let response = success(master.addr, response)?;
            let body = response.body_bytes().unwrap_or_default();
            let messages = decode_records(body).map_err(|e| AdminError::bad_body(master.addr, e))?;
            // The index is a hash table: keep only the messages that really carry the key.
            found.extend(
                messages
                    .into_iter()
                    .filter(|message| message.keys().any(|k| k == key) || message.uniq_key() == Some(key)),
            );
        }
        Ok(found)
    }

    /// `resetOffsetByTime`: for every queue of the topic, commits for `group` the offset of
    /// the first message stored at or after `timestamp_ms`. Running consumers are not told:
    /// stop the group first, or its next commits overwrite the reset (see the module docs).
    pub async fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp_ms: i64,
    ) -> Result<OffsetReset, AdminError> {
        let route = self.topic_route(topic).await?;
        let mut queues = Vec::new();
        for (master, queue_count) in route_masters(&route)? {
            for queue_id in 0..queue_count {
                let search = SearchOffsetRequestHeader { topic: topic.to_owned(), queue_id, timestamp: timestamp_ms };
                let code = RequestCode::SearchOffsetByTimestamp;
                let found: SearchOffsetResponseHeader = self.ask(master.addr, code, &search).await?;
                let update = UpdateConsumerOffsetRequestHeader {
                    consumer_group: group.to_owned(),
                    topic: topic.to_owned(),
                    queue_id,
                    commit_offset: found.offset,
                };
                let request = RemotingCommand::request(RequestCode::UpdateConsumerOffset, &update);
                success(master.addr, self.call(master.addr, request).await?)?;
                queues.push(QueueReset { broker_name: master.name.clone(), queue_id, offset: found.offset });
            }
        }
        Ok(OffsetReset { group: group.to_owned(), topic: topic.to_owned(), timestamp_ms, queues })
    }

    /// The master addresses of `cluster`, by broker name.
    async fn cluster_masters(&self, cluster: &str) -> Result<Vec<SocketAddr>, AdminError> {
        let info = self.cluster_list().await?;
        let names = info.cluster_addr_table.get(cluster);
        let masters: Vec<SocketAddr> = names
            .into_iter()
            .flatten()
            .filter_map(|name| info.broker_addr_table.get(name))
            .filter_map(|broker| broker.broker_addrs.get(&MASTER_ID))
            .map(|addr| parse_addr(addr))
            .collect::<Result<_, _>>()?;
        if masters.is_empty() {
            return Err(AdminError::NoCluster { cluster: cluster.to_owned() });
        }
        Ok(masters)
    }

    /// Sends `request()` to each name server in turn; the first answer, whatever its code.
    async fn ask_namesrv(
        &self,
        request: impl Fn() -> RemotingCommand,
    ) -> Result<(SocketAddr, RemotingCommand), AdminError> {
        let mut last_error = AdminError::NoNamesrv;
        for addr in &self.namesrv_addrs {
            match self.call(*addr, request()).await {
                Ok(response) => return Ok((*addr, response)),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Sends `header` with `code` to `addr`; the success response's header.
    async fn ask<R: CommandHeader>(
        &self,
        addr: SocketAddr,
        code: RequestCode,
        header: &impl CommandHeader,
    ) -> Result<R, AdminError> {
        let request = RemotingCommand::request(code, header);
        let response = success(addr, self.call(addr, request).await?)?;
        response.read_header().map_err(|source| AdminError::BadHeader { addr, source })
    }

    /// One request to `addr`, bounded by the client's timeout.
    async fn call(&self, addr: SocketAddr, request: RemotingCommand) -> Result<RemotingCommand, AdminError> {
        self.remoting.invoke(addr, request, self.timeout).await.map_err(|source| AdminError::Transport { addr, source })
    }
}

/// `response` when it is SUCCESS; else the failure, naming `addr`.
fn success(addr: SocketAddr, response: RemotingCommand) -> Result<RemotingCommand, AdminError> {
    if response.response_code() == Some(ResponseCode::Success) {
        return Ok(response);
    }
    Err(AdminError::Refused { addr, code: response.code, remark: response.remark })
}

/// The JSON body of `response`.
fn decode_body<B: JsonBody>(addr: SocketAddr, response: &RemotingCommand) -> Result<B, AdminError> {
    let body = response.body_bytes().unwrap_or_default();
    B::decode_json(&body).map_err(|error: BodyError| AdminError::bad_body(addr, error))
}

fn parse_addr(addr: &str) -> Result<SocketAddr, AdminError> {
    addr.parse().map_err(|_| AdminError::BadBrokerAddr { addr: addr.to_owned() })
}

/// The masters of a route with the topic's queue count on each (the larger of its read and
/// write queues), by broker name; brokers without a master are skipped.
fn route_masters(route: &TopicRouteData) -> Result<Vec<(Master, i32)>, AdminError> {
    let mut masters = Vec::new();
    for queue_data in &route.queue_datas {
        let broker = route.broker_datas.iter().find(|broker| broker.broker_name == queue_data.broker_name);
        let Some(addr) = broker.and_then(|broker| broker.master_addr()) else {
            continue;
        };
        let master = Master { name: queue_data.broker_name.clone(), addr: parse_addr(addr)? };
        let queue_count = queue_data.read_queue_nums.max(queue_data.write_queue_nums);
        masters.push((master, queue_count.max(0)));
    }
    masters.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(masters)
}

/// Every master of every cluster, by broker name.
fn all_masters(info: &ClusterInfo) -> Result<Vec<Master>, AdminError> {
    info.broker_addr_table
        .values()
        .filter_map(|broker| {
            let addr = broker.broker_addrs.get(&MASTER_ID)?;
            Some(parse_addr(addr).map(|addr| Master { name: broker.broker_name.clone(), addr }))
        })
        .collect()
}

/// UPDATE_AND_CREATE_TOPIC's header for `config`.
fn create_topic_header(config: &TopicConfig) -> CreateTopicRequestHeader {
    let filter = match config.topic_filter_type {
        TopicFilterType::SingleTag => "SINGLE_TAG",
        TopicFilterType::MultiTag => "MULTI_TAG",
    };
    CreateTopicRequestHeader {
        topic: config.topic_name.clone(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.to_owned(),
        read_queue_nums: config.read_queue_nums,
        write_queue_nums: config.write_queue_nums,
        perm: config.perm,
        topic_filter_type: filter.to_owned(),
        topic_sys_flag: Some(config.topic_sys_flag),
        order: config.order,
    }
}
