//! Exact-output tests of `ConsumerManager`: joins, leaves, closes and expiry produce the right
//! notifications and leave the right members.

use super::*;
use crate::protocol::heartbeat::ProducerData;
use crate::remoting::{EmptyHeader, RequestCode};

fn channel(conn: u64) -> ClientChannel {
    ClientChannel { conn: ConnectionId(conn), language: LanguageCode::Java, version: 401 }
}

fn subscription(topic: &str, sub_version: i64) -> SubscriptionData {
    SubscriptionData { topic: topic.into(), sub_version, ..SubscriptionData::default() }
}

/// A heartbeat of client `id` consuming `topics` in group G and producing in group P.
fn beat(id: &str, topics: &[(&str, i64)]) -> HeartbeatData {
    HeartbeatData {
        client_id: id.into(),
        producer_data_set: vec![ProducerData { group_name: "P".into() }],
        consumer_data_set: vec![ConsumerData {
            group_name: "G".into(),
            consume_type: Some(ConsumeType::ConsumePassively),
            message_model: Some(MessageModel::Clustering),
            consume_from_where: Some(ConsumeFromWhere::ConsumeFromLastOffset),
            subscription_data_set: topics.iter().map(|(t, v)| subscription(t, *v)).collect(),
            unit_mode: false,
        }],
    }
}

fn change(conns: &[u64]) -> Vec<GroupChange> {
    vec![GroupChange { group: "G".into(), notify: conns.iter().copied().map(ConnectionId).collect() }]
}

/// A join notifies every member including the newcomer; a repeated heartbeat notifies nobody.
#[test]
fn join_notifies_all_members_and_repeat_is_quiet() {
    let mut manager = ConsumerManager::new();
    assert_eq!(manager.heartbeat(0, channel(1), &beat("a", &[("T", 1)])), change(&[1]));
    assert_eq!(manager.heartbeat(5, channel(1), &beat("a", &[("T", 1)])), vec![]);
    assert_eq!(manager.heartbeat(6, channel(2), &beat("b", &[("T", 1)])), change(&[1, 2]));
    assert_eq!(manager.consumer_ids("G"), vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(manager.consumer_ids("nobody"), Vec::<String>::new());
    assert_eq!(manager.producer_connections("P"), vec![ConnectionId(1), ConnectionId(2)]);
    let group = manager.group("G").expect("group exists");
    assert_eq!(group.message_model, Some(MessageModel::Clustering));
    assert_eq!(group.clients["b"].last_heartbeat_ms, 6);
}

/// A subscription update is taken by a newer version silently; adding or dropping a topic
/// notifies.
#[test]
fn subscription_topics_added_or_dropped_notify() {
    let mut manager = ConsumerManager::new();
    manager.heartbeat(0, channel(1), &beat("a", &[("T", 1)]));
    assert_eq!(manager.heartbeat(1, channel(1), &beat("a", &[("T", 2)])), vec![]);
    assert_eq!(manager.subscription("G", "T").map(|s| s.sub_version), Some(2));
    // An older version does not replace the newer one.
    assert_eq!(manager.heartbeat(2, channel(1), &beat("a", &[("T", 1)])), vec![]);
    assert_eq!(manager.subscription("G", "T").map(|s| s.sub_version), Some(2));
    assert_eq!(manager.heartbeat(3, channel(1), &beat("a", &[("T", 2), ("U", 1)])), change(&[1]));
    assert_eq!(manager.heartbeat(4, channel(1), &beat("a", &[("U", 1)])), change(&[1]));
    assert_eq!(manager.subscription("G", "T"), None);
}

/// Leaving by UNREGISTER_CLIENT or by connection close notifies the remaining members; the
/// last member leaving removes the group without a notification.
#[test]
fn leave_notifies_remaining_members() {
    let mut manager = ConsumerManager::new();
    manager.heartbeat(0, channel(1), &beat("a", &[("T", 1)]));
    manager.heartbeat(0, channel(2), &beat("b", &[("T", 1)]));
    manager.heartbeat(0, channel(3), &beat("c", &[("T", 1)]));
    assert_eq!(manager.unregister("a", Some("P"), Some("G")), change(&[2, 3]));
    assert_eq!(manager.unregister("a", Some("P"), Some("G")), vec![]);
    assert_eq!(manager.on_connection_closed(ConnectionId(2)), change(&[3]));
    assert_eq!(manager.on_connection_closed(ConnectionId(9)), vec![]);
    assert_eq!(manager.producer_connections("P"), vec![ConnectionId(3)]);
    assert_eq!(manager.on_connection_closed(ConnectionId(3)), vec![]);
    assert_eq!(manager.group("G"), None);
    assert!(manager.producer_groups().is_empty() && manager.consumer_groups().is_empty());
}

/// A client that reconnects replaces its connection (a rejoin, notified); the close of the
/// old connection afterwards removes nothing.
#[test]
fn reconnect_replaces_connection() {
    let mut manager = ConsumerManager::new();
    manager.heartbeat(0, channel(1), &beat("a", &[("T", 1)]));
    assert_eq!(manager.heartbeat(1, channel(7), &beat("a", &[("T", 1)])), change(&[7]));
    assert_eq!(manager.on_connection_closed(ConnectionId(1)), vec![]);
    assert_eq!(manager.consumer_ids("G"), vec!["a".to_owned()]);
}

/// Expiry removes a client only after more than 120 s of silence, returns its connection to
/// close and notifies the survivors.
#[test]
fn expiry_after_120_seconds() {
    let mut manager = ConsumerManager::new();
    manager.heartbeat(0, channel(1), &beat("a", &[("T", 1)]));
    manager.heartbeat(30_000, channel(2), &beat("b", &[("T", 1)]));
    assert_eq!(manager.scan_expired(CLIENT_EXPIRED_TIMEOUT_MS), Expired::default());
    let expired = manager.scan_expired(CLIENT_EXPIRED_TIMEOUT_MS + 1);
    assert_eq!(expired, Expired { connections: vec![ConnectionId(1)], changes: change(&[2]) });
    assert_eq!(manager.consumer_ids("G"), vec!["b".to_owned()]);
    assert_eq!(manager.producer_connections("P"), vec![ConnectionId(2)]);
    let last = manager.scan_expired(30_000 + CLIENT_EXPIRED_TIMEOUT_MS + 1);
    assert_eq!(last.connections, vec![ConnectionId(2)]);
    assert_eq!(last.changes, vec![]);
    assert_eq!(manager, ConsumerManager::new());
}

/// The request processors: a heartbeat body registers, a missing or bad body is a
/// SYSTEM_ERROR, and UNREGISTER_CLIENT reads Java's `clientID` key.
#[test]
fn heartbeat_and_unregister_requests() {
    let mut manager = ConsumerManager::new();
    let request = RemotingCommand::request(RequestCode::HeartBeat, &EmptyHeader)
        .with_opaque(3)
        .with_body(beat("a", &[("T", 1)]).encode_json());
    let (response, changes) = process_heartbeat(&mut manager, 0, ConnectionId(1), &request);
    assert_eq!(response, RemotingCommand::response_to(&request, ResponseCode::Success, None));
    assert_eq!(changes, change(&[1]));
    assert_eq!(manager.group("G").map(|g| g.clients["a"].channel.language), Some(LanguageCode::Rust));

    let empty = RemotingCommand::request(RequestCode::HeartBeat, &EmptyHeader);
    let (response, changes) = process_heartbeat(&mut manager, 0, ConnectionId(1), &empty);
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert_eq!(response.remark.as_deref(), Some("the request has no body"));
    assert!(changes.is_empty());

    manager.heartbeat(0, channel(2), &beat("b", &[("T", 1)]));
    let header =
        UnregisterClientRequestHeader { client_id: "a".into(), producer_group: None, consumer_group: Some("G".into()) };
    let request = RemotingCommand::request(RequestCode::UnregisterClient, &header);
    let (response, changes) = process_unregister_client(&mut manager, &request);
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    assert_eq!(changes, change(&[2]));
    assert_eq!(manager.producer_connections("P"), vec![ConnectionId(1), ConnectionId(2)]);

    let notify = notify_consumer_ids_changed("G");
    assert_eq!(notify.code, 40);
    assert!(notify.is_oneway());
    assert_eq!(notify.ext_fields.get("consumerGroup"), Some("G"));
}
