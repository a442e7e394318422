//! `NameServer::process`: one request command in, its response out (RocketMQ's
//! `DefaultRequestProcessor`, 4.9.x, for the codes brokers, clients and admin tools need).
//!
//! Every request gets a response, one-way or not; the shell drops it for a one-way request.
//! A header or body that cannot be read is answered `SYSTEM_ERROR` with the reason as remark
//! (Java answers a `RemotingCommandException` the same way); a code not handled here is
//! answered `REQUEST_CODE_NOT_SUPPORTED` with Java's remark. Nothing a peer sends panics.

use crate::remoting::ExtFields;

use super::route_info::{ExpiredBroker, RouteInfoManager};
use super::ConnectionId;
use crate::protocol::{BodyError, JsonBody, RegisterBrokerBody};
use crate::remoting::{
    CommandHeader, GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader, HeaderError,
    RegisterBrokerRequestHeader, RemotingCommand, RequestCode, ResponseCode, UnregisterBrokerRequestHeader,
};

/// `FAQUrl.suggestTodo(FAQUrl.APPLY_TOPIC_URL)`, which Java appends to TOPIC_NOT_EXIST remarks.
const APPLY_TOPIC_SUGGESTION: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// Why a request was answered `SYSTEM_ERROR`. The `Display` text becomes the response remark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request's extFields do not hold its typed header.
    #[error("invalid request header: {0}")]
    Header(#[from] HeaderError),

    /// The request's body cannot be read.
    #[error("invalid request body: {0}")]
    Body(#[from] BodyError),

    /// REGISTER_BROKER's `bodyCrc32` does not match the body (Java's remark, word for word).
    #[error("crc32 not match")]
    BodyCrc32Mismatch {
        /// The header's `bodyCrc32`.
        expected: i32,
        /// RocketMQ's CRC of the body as received.
        actual: i32,
    },
}

/// DELETE_TOPIC_IN_NAMESRV's header (Java's `DeleteTopicFromNamesrvRequestHeader`): unlike the
/// broker's delete, it may name a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteTopicFromNamesrvRequestHeader {
    /// Topic deleted.
    pub topic: String,
    /// When present and non-empty, only this cluster's broker groups lose the topic.
    pub cluster_name: Option<String>,
}

impl CommandHeader for DeleteTopicFromNamesrvRequestHeader {
    fn write_fields(&self, fields: &mut ExtFields) {
        fields.insert("topic", self.topic.clone());
        if let Some(cluster_name) = &self.cluster_name {
            fields.insert("clusterName", cluster_name.clone());
        }
    }

    fn read_fields(fields: &ExtFields) -> Result<Self, HeaderError> {
        let topic = fields.get("topic").ok_or(HeaderError::Missing { field: "topic" })?;
        Ok(DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_owned(),
            cluster_name: fields.get("clusterName").map(str::to_owned),
        })
    }
}

/// A name server: its route tables and the request handling over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameServer {
    /// The route tables every request reads or changes.
    route_info: RouteInfoManager,
}

impl NameServer {
    /// A name server that knows no broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// The route tables, for inspection.
    pub fn route_info(&self) -> &RouteInfoManager {
        &self.route_info
    }

    /// Handles `request`, received at `now_ms` over `conn`, and returns its response (opaque
    /// and serialize type echoed).
    pub fn process(&mut self, now_ms: i64, conn: ConnectionId, request: &RemotingCommand) -> RemotingCommand {
        let handled = match request.request_code() {
            Some(RequestCode::RegisterBroker) => self.register_broker(now_ms, conn, request),
            Some(RequestCode::UnregisterBroker) => self.unregister_broker(request),
            Some(RequestCode::GetRouteinfoByTopic) => self.route_by_topic(request),
            Some(RequestCode::GetBrokerClusterInfo) => Ok(success_with_body(request, &self.route_info.cluster_info())),
            Some(RequestCode::GetAllTopicListFromNameserver) => {
                Ok(success_with_body(request, &self.route_info.topics()))
            }
            Some(RequestCode::GetTopicsByCluster) => self.topics_by_cluster(request),
            Some(RequestCode::DeleteTopicInNamesrv) => self.delete_topic(request),
            _ => {
                let remark = format!(" request type {} not supported", request.code);
                let code = ResponseCode::RequestCodeNotSupported;
                return RemotingCommand::response_to(request, code, Some(remark));
            }
        };
        handled.unwrap_or_else(|error| {
            tracing::warn!(code = request.code, %error, "request failed");
            RemotingCommand::response_to(request, ResponseCode::SystemError, Some(error.to_string()))
        })
    }

    /// Removes the brokers registered over `conn`, which has closed; returns their addresses.
    pub fn on_connection_closed(&mut self, conn: ConnectionId) -> Vec<String> {
        self.route_info.on_connection_closed(conn)
    }

    /// Removes the brokers expired at `now_ms`; the shell closes the returned connections.
    pub fn scan_expired(&mut self, now_ms: i64) -> Vec<ExpiredBroker> {
        self.route_info.scan_expired(now_ms)
    }

    /// REGISTER_BROKER: checks the body's CRC, decodes it (none: an empty configuration with
    /// data version 0/0, as Java), registers; the response header names a slave's master.
    fn register_broker(
        &mut self,
        now_ms: i64,
        conn: ConnectionId,
        request: &RemotingCommand,
    ) -> Result<RemotingCommand, RequestError> {
        let header: RegisterBrokerRequestHeader = request.read_header()?;
        let body = request.body_bytes();
        check_body_crc32(&header, body.as_deref())?;
        let body = match &body {
            Some(bytes) => RegisterBrokerBody::decode(bytes, header.compressed)?,
            None => RegisterBrokerBody::default(),
        };
        let result = self.route_info.register_broker(now_ms, conn, &header, body);
        let mut response = RemotingCommand::response_to(request, ResponseCode::Success, None);
        response.write_header(&result.response_header());
        if let Some(kv_table) = &result.kv_table {
            response = response.with_body(kv_table.encode_json());
        }
        Ok(response)
    }

    /// UNREGISTER_BROKER: removes the broker; succeeds whether or not it was known.
    fn unregister_broker(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, RequestError> {
        let header: UnregisterBrokerRequestHeader = request.read_header()?;
        self.route_info.unregister_broker(&header);
        Ok(RemotingCommand::response_to(request, ResponseCode::Success, None))
    }

    /// GET_ROUTEINFO_BY_TOPIC: the route as JSON (always standard JSON with quoted keys, which
    /// every client version reads), or TOPIC_NOT_EXIST with Java's remark.
    fn route_by_topic(&self, request: &RemotingCommand) -> Result<RemotingCommand, RequestError> {
        let header: GetRouteInfoRequestHeader = request.read_header()?;
        match self.route_info.route(&header.topic) {
            Some(route) => Ok(success_with_body(request, &route)),
            None => {
                let remark = format!(
                    "No topic route info in name server for the topic: {}{APPLY_TOPIC_SUGGESTION}",
                    header.topic
                );
                let code = ResponseCode::TopicNotExist;
                Ok(RemotingCommand::response_to(request, code, Some(remark)))
            }
        }
    }

    /// GET_TOPICS_BY_CLUSTER: the cluster's topics (empty for an unknown cluster, as Java).
    fn topics_by_cluster(&self, request: &RemotingCommand) -> Result<RemotingCommand, RequestError> {
        let header: GetTopicsByClusterRequestHeader = request.read_header()?;
        let topics = self.route_info.topics_by_cluster(&header.cluster);
        Ok(success_with_body(request, &topics))
    }

    /// DELETE_TOPIC_IN_NAMESRV: forgets the topic, in one cluster if the header names one.
    fn delete_topic(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, RequestError> {
        let header: DeleteTopicFromNamesrvRequestHeader = request.read_header()?;
        match header.cluster_name.as_deref() {
            Some(cluster) if !cluster.is_empty() => self.route_info.delete_topic_in_cluster(&header.topic, cluster),
            _ => self.route_info.delete_topic(&header.topic),
        };
        Ok(RemotingCommand::response_to(request, ResponseCode::Success, None))
    }
}

/// A SUCCESS response to `request` carrying `body` as JSON.
fn success_with_body(request: &RemotingCommand, body: &impl JsonBody) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success, None).with_body(body.encode_json())
}

/// Java's `checksum`: a non-zero `bodyCrc32` must equal RocketMQ's CRC of the body (CRC-32
/// masked to 31 bits; 0 for no body).
fn check_body_crc32(header: &RegisterBrokerRequestHeader, body: Option<&[u8]>) -> Result<(), RequestError> {
    let expected = header.body_crc32.unwrap_or(0);
    if expected == 0 {
        return Ok(());
    }
    let actual = body.map_or(0, rocketmq_crc32);
    if actual != expected {
        tracing::warn!(broker_addr = %header.broker_addr, expected, actual, "register body crc32 mismatch");
        return Err(RequestError::BodyCrc32Mismatch { expected, actual });
    }
    Ok(())
}

/// RocketMQ's `UtilAll.crc32`: CRC-32 (IEEE) masked to a non-negative i32.
pub(crate) fn rocketmq_crc32(bytes: &[u8]) -> i32 {
    let masked = crc32fast::hash(bytes) & 0x7FFF_FFFF;
    i32::try_from(masked).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "processor_tests.rs"]
mod tests;
