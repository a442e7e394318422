//! Client groups on a broker (RocketMQ's `ConsumerManager`, `ConsumerGroupInfo` and
//! `ProducerManager`, with `ClientManageProcessor`'s HEART_BEAT and UNREGISTER_CLIENT): which
//! clients are in which producer and consumer groups, over which connection, and what each
//! consumer group subscribes to.
//!
//! Pure state: the shell passes `now_ms` and connection ids in and carries the outputs out.
//! A [`GroupChange`] names a consumer group whose membership (or set of subscribed topics)
//! changed and every connection of the group that must get NOTIFY_CONSUMER_IDS_CHANGED, as
//! RocketMQ's `DefaultConsumerIdsChangeListener` does with `notifyConsumerIdsChangedEnable`
//! (its default). The shell calls [`ConsumerManager::scan_expired`] every
//! [`CLIENT_SCAN_INTERVAL_MS`] and closes the connections it returns.
//!
//! Clients are keyed by client id (Java keys them by channel): a client that reconnects
//! replaces its old connection, and a later close of the old connection removes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::message::RecordError;
use crate::namesrv::ConnectionId;
use crate::protocol::heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel, SubscriptionData,
};
use crate::protocol::{BodyError, JsonBody};
use crate::remoting::{HeaderError, LanguageCode, RemotingCommand, ResponseCode, UnregisterClientRequestHeader};
use crate::store::StoreError;

/// A client that has not sent a heartbeat for longer than this is removed and its connection
/// closed (RocketMQ's `CHANNEL_EXPIRED_TIMEOUT`). Clients beat every 30 s.
pub const CLIENT_EXPIRED_TIMEOUT_MS: i64 = 120_000;

/// How often the shell should call `scan_expired` (RocketMQ's `ClientHousekeepingService`).
pub const CLIENT_SCAN_INTERVAL_MS: i64 = 10_000;

const _: () = assert!(CLIENT_SCAN_INTERVAL_MS > 0 && CLIENT_SCAN_INTERVAL_MS < CLIENT_EXPIRED_TIMEOUT_MS);

/// Why a broker request was answered `SYSTEM_ERROR`; the `Display` text becomes the remark.
/// Shared by the broker's request processors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The request's extFields do not hold its typed header.
    #[error("invalid request header: {0}")]
    Header(#[from] HeaderError),
    /// The request's body cannot be read.
    #[error("invalid request body: {0}")]
    Body(#[from] BodyError),
    /// The request needs a body and has none.
    #[error("the request has no body")]
    MissingBody,
    /// The store failed to read what the request asks for.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored record the request needs does not decode.
    #[error("stored record: {0}")]
    Record(#[from] RecordError),
}

impl RequestError {
    /// The `SYSTEM_ERROR` response to `request` for this error.
    pub fn response_to(&self, request: &RemotingCommand) -> RemotingCommand {
        tracing::warn!(code = request.code, error = %self, "broker request failed");
        RemotingCommand::response_to(request, ResponseCode::SystemError, Some(self.to_string()))
    }
}

/// The connection a request arrived on, with what the request header says about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientChannel {
    /// The transport connection: where notifications go, and what a close removes.
    pub conn: ConnectionId,
    /// The client's language (admin tools show it).
    pub language: LanguageCode,
    /// The client's protocol version (an `MQVersion` ordinal; gates features).
    pub version: i32,
}

impl ClientChannel {
    /// The channel of `request`, received over `conn`.
    pub fn of(conn: ConnectionId, request: &RemotingCommand) -> Self {
        ClientChannel { conn, language: request.language, version: request.version }
    }
}

/// One client in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    /// The connection, language and version of its latest heartbeat.
    pub channel: ClientChannel,
    /// When its latest heartbeat arrived (ms): expiry is measured from here.
    pub last_heartbeat_ms: i64,
}

/// A consumer group: its members and what they subscribe to (`ConsumerGroupInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Members by client id.
    pub clients: BTreeMap<String, ClientInfo>,
    /// Subscriptions by topic, as the latest heartbeat listed them.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    /// Pull or push, from the latest heartbeat.
    pub consume_type: Option<ConsumeType>,
    /// Clustering or broadcasting, from the latest heartbeat.
    pub message_model: Option<MessageModel>,
    /// Where a consumer without an offset starts, from the latest heartbeat.
    pub consume_from_where: Option<ConsumeFromWhere>,
}

impl ConsumerGroup {
    /// Every member's connection, sorted and without repeats: who gets a notification.
    pub fn connections(&self) -> Vec<ConnectionId> {
        let set: BTreeSet<ConnectionId> = self.clients.values().map(|c| c.channel.conn).collect();
        set.into_iter().collect()
    }

    /// Takes in a heartbeat's subscriptions (`updateSubscription`): a topic not seen before is
    /// added, a newer `subVersion` replaces the old entry, a topic no longer listed is dropped.
    /// True when a topic was added or dropped.
    fn update_subscriptions(&mut self, subscriptions: &[SubscriptionData]) -> bool {
        let mut changed = false;
        for subscription in subscriptions {
            match self.subscriptions.get(&subscription.topic) {
                None => changed = true,
                Some(old) if subscription.sub_version > old.sub_version => {}
                Some(_) => continue,
            }
            self.subscriptions.insert(subscription.topic.clone(), subscription.clone());
        }
        let before = self.subscriptions.len();
        self.subscriptions.retain(|topic, _| subscriptions.iter().any(|s| &s.topic == topic));
        changed || self.subscriptions.len() != before
    }
}

/// A consumer group whose members must be told to rebalance (NOTIFY_CONSUMER_IDS_CHANGED).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupChange {
    /// The consumer group whose membership or subscribed topics changed.
    pub group: String,
    /// Every connection of the group's remaining members, sorted; never empty.
    pub notify: Vec<ConnectionId>,
}

/// What an expiry scan removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// Connections of expired clients, sorted: the shell closes them (as Java does).
    pub connections: Vec<ConnectionId>,
    /// Consumer groups that lost members and still have some, to notify. (Java notifies
    /// nobody here; telling the survivors at once rebalances the dead member's queues sooner
    /// than their 20 s timer would.)
    pub changes: Vec<GroupChange>,
}

/// Every producer and consumer group the broker knows of, with their members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerManager {
    /// Consumer groups by name; a group exists while it has members.
    consumers: BTreeMap<String, ConsumerGroup>,
    /// Producer groups by name -> members by client id (transaction check-backs pick one).
    producers: BTreeMap<String, BTreeMap<String, ClientInfo>>,
}

impl ConsumerManager {
    /// A manager that knows no client.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in a HEART_BEAT from `channel` at `now_ms`: registers or refreshes the client in
    /// every listed producer and consumer group. Returns the consumer groups to notify.
    pub fn heartbeat(&mut self, now_ms: i64, channel: ClientChannel, heartbeat: &HeartbeatData) -> Vec<GroupChange> {
        let client = ClientInfo { channel, last_heartbeat_ms: now_ms };
        let mut changes = Vec::new();
        for consumer in &heartbeat.consumer_data_set {
            if self.register_consumer(&heartbeat.client_id, client, consumer) {
                changes.extend(self.change_of(&consumer.group_name));
            }
        }
        for producer in &heartbeat.producer_data_set {
            self.producers.entry(producer.group_name.clone()).or_default().insert(heartbeat.client_id.clone(), client);
        }
        changes.sort();
        changes.dedup();
        changes
    }

    /// Registers one consumer group membership (`registerConsumer`). True when the group's
    /// members or subscribed topics changed.
    fn register_consumer(&mut self, client_id: &str, client: ClientInfo, data: &ConsumerData) -> bool {
        let group = self.consumers.entry(data.group_name.clone()).or_default();
        group.consume_type = data.consume_type;
        group.message_model = data.message_model;
        group.consume_from_where = data.consume_from_where;
        let previous = group.clients.insert(client_id.to_owned(), client);
        let joined = previous.is_none_or(|old| old.channel.conn != client.channel.conn);
        let topics_changed = group.update_subscriptions(&data.subscription_data_set);
        joined || topics_changed
    }

    /// The notification for `group`, if it still has members.
    fn change_of(&self, group: &str) -> Option<GroupChange> {
        let members = self.consumers.get(group)?;
        let notify = members.connections();
        (!notify.is_empty()).then(|| GroupChange { group: group.to_owned(), notify })
    }

    /// Removes `client_id` from the named groups (UNREGISTER_CLIENT, sent by a client that
    /// shuts down). Returns the consumer group to notify, if the client was in it and others
    /// remain. (Java notifies even when the client was not a member; nothing changed then.)
    pub fn unregister(
        &mut self,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Vec<GroupChange> {
        if let Some(group) = producer_group {
            remove_producer(&mut self.producers, group, |id, _| id == client_id);
        }
        let Some(group) = consumer_group else {
            return Vec::new();
        };
        let removed = self.remove_consumers(group, |id, _| id == client_id);
        if removed {
            self.change_of(group).into_iter().collect()
        } else {
            Vec::new()
        }
    }

    /// Removes every client whose connection closed. Returns the consumer groups to notify.
    pub fn on_connection_closed(&mut self, conn: ConnectionId) -> Vec<GroupChange> {
        self.remove_where(|_, client| client.channel.conn == conn)
    }

    /// Removes clients whose last heartbeat is more than `CLIENT_EXPIRED_TIMEOUT_MS` before
    /// `now_ms` (`scanNotActiveChannel`).
    pub fn scan_expired(&mut self, now_ms: i64) -> Expired {
        let expired =
            |_: &str, client: &ClientInfo| now_ms.saturating_sub(client.last_heartbeat_ms) > CLIENT_EXPIRED_TIMEOUT_MS;
        let mut connections = BTreeSet::new();
        let consumers = self.consumers.values().flat_map(|g| g.clients.iter());
        let producers = self.producers.values().flat_map(|clients| clients.iter());
        for (id, client) in consumers.chain(producers) {
            if expired(id, client) {
                connections.insert(client.channel.conn);
            }
        }
        let changes = self.remove_where(expired);
        Expired { connections: connections.into_iter().collect(), changes }
    }

    /// Removes matching clients from every group; returns the consumer groups to notify.
    fn remove_where(&mut self, doomed: impl Fn(&str, &ClientInfo) -> bool) -> Vec<GroupChange> {
        let names: Vec<String> = self.producers.keys().cloned().collect();
        for group in &names {
            remove_producer(&mut self.producers, group, &doomed);
        }
        let names: Vec<String> = self.consumers.keys().cloned().collect();
        let mut changes = Vec::new();
        for group in names {
            if self.remove_consumers(&group, &doomed) {
                changes.extend(self.change_of(&group));
            }
        }
        changes
    }

    /// Removes matching members of a consumer group, and the group when it empties. True when
    /// a member was removed.
    fn remove_consumers(&mut self, group: &str, doomed: impl Fn(&str, &ClientInfo) -> bool) -> bool {
        let Some(members) = self.consumers.get_mut(group) else {
            return false;
        };
        let before = members.clients.len();
        members.clients.retain(|id, client| !doomed(id, client));
        let removed = members.clients.len() != before;
        if members.clients.is_empty() {
            self.consumers.remove(group);
        }
        removed
    }

    /// Client ids of a consumer group's members, sorted (GET_CONSUMER_LIST_BY_GROUP).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers.get(group).map(|g| g.clients.keys().cloned().collect()).unwrap_or_default()
    }

    /// A consumer group, while it has members.
    pub fn group(&self, group: &str) -> Option<&ConsumerGroup> {
        self.consumers.get(group)
    }

    /// A consumer group's subscription to `topic`, as its members' heartbeats stated it.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<&SubscriptionData> {
        self.consumers.get(group)?.subscriptions.get(topic)
    }

    /// Connections of a producer group's members, sorted (for transaction check-backs).
    pub fn producer_connections(&self, group: &str) -> Vec<ConnectionId> {
        let Some(clients) = self.producers.get(group) else {
            return Vec::new();
        };
        let set: BTreeSet<ConnectionId> = clients.values().map(|c| c.channel.conn).collect();
        set.into_iter().collect()
    }

    /// Names of the consumer groups with members, sorted.
    pub fn consumer_groups(&self) -> Vec<String> {
        self.consumers.keys().cloned().collect()
    }

    /// Names of the producer groups with members, sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        self.producers.keys().cloned().collect()
    }
}

/// Removes matching members of a producer group, and the group when it empties.
fn remove_producer(
    producers: &mut BTreeMap<String, BTreeMap<String, ClientInfo>>,
    group: &str,
    doomed: impl Fn(&str, &ClientInfo) -> bool,
) {
    if let Some(clients) = producers.get_mut(group) {
        clients.retain(|id, client| !doomed(id, client));
        if clients.is_empty() {
            producers.remove(group);
        }
    }
}

/// HEART_BEAT (34): decodes the body and registers the client. The response is SUCCESS
/// without a body (RocketMQ 4.9); the changes are the notifications to send.
pub fn process_heartbeat(
    consumers: &mut ConsumerManager,
    now_ms: i64,
    conn: ConnectionId,
    request: &RemotingCommand,
) -> (RemotingCommand, Vec<GroupChange>) {
    let decoded = request
        .body_bytes()
        .ok_or(RequestError::MissingBody)
        .and_then(|body| HeartbeatData::decode_json(&body).map_err(RequestError::from));
    match decoded {
        Ok(heartbeat) => {
            let changes = consumers.heartbeat(now_ms, ClientChannel::of(conn, request), &heartbeat);
            (RemotingCommand::response_to(request, ResponseCode::Success, None), changes)
        }
        Err(error) => (error.response_to(request), Vec::new()),
    }
}

/// UNREGISTER_CLIENT (35): removes the client from the groups its header names.
pub fn process_unregister_client(
    consumers: &mut ConsumerManager,
    request: &RemotingCommand,
) -> (RemotingCommand, Vec<GroupChange>) {
    match request.read_header::<UnregisterClientRequestHeader>() {
        Ok(header) => {
            let changes = consumers.unregister(
                &header.client_id,
                header.producer_group.as_deref(),
                header.consumer_group.as_deref(),
            );
            (RemotingCommand::response_to(request, ResponseCode::Success, None), changes)
        }
        Err(error) => (RequestError::from(error).response_to(request), Vec::new()),
    }
}

/// The NOTIFY_CONSUMER_IDS_CHANGED request (one-way, broker -> consumer) for `group`.
pub fn notify_consumer_ids_changed(group: &str) -> RemotingCommand {
    let header = crate::remoting::NotifyConsumerIdsChangedRequestHeader { consumer_group: group.to_owned() };
    let mut request = RemotingCommand::request(crate::remoting::RequestCode::NotifyConsumerIdsChanged, &header);
    request.mark_oneway();
    request
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
