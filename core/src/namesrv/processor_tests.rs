//! `NameServer::process` fed request commands, the response commands compared exactly.

use bytes::Bytes;

use super::*;
use crate::protocol::{DataVersion, TopicConfig, TopicConfigSerializeWrapper, TopicList};
use crate::remoting::{DeleteTopicRequestHeader, EmptyHeader, RegisterBrokerResponseHeader, SerializeType};

const CLUSTER: &str = "DefaultCluster";
const A_MASTER: &str = "10.0.0.1:10911";
const A_SLAVE: &str = "10.0.0.2:10911";

fn register_header(broker_addr: &str, broker_id: i64) -> RegisterBrokerRequestHeader {
    RegisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: broker_addr.into(),
        cluster_name: CLUSTER.into(),
        ha_server_addr: broker_addr.replace(":10911", ":10912"),
        broker_id,
        compressed: false,
        body_crc32: None,
    }
}

/// A REGISTER_BROKER request with topic T (4 queues) in its body, with the CRC a Java broker
/// puts in the header.
fn register_request(broker_addr: &str, broker_id: i64, opaque: i32) -> RemotingCommand {
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: std::collections::BTreeMap::from([("T".to_owned(), TopicConfig::new("T", 4))]),
            data_version: DataVersion { timestamp: 1, counter: 1 },
        },
        filter_server_list: Vec::new(),
    };
    let bytes = body.encode_json();
    let header = RegisterBrokerRequestHeader {
        body_crc32: Some(rocketmq_crc32(&bytes)),
        ..register_header(broker_addr, broker_id)
    };
    RemotingCommand::request(RequestCode::RegisterBroker, &header).with_opaque(opaque).with_body(bytes)
}

fn route_request(topic: &str) -> RemotingCommand {
    let header = GetRouteInfoRequestHeader { topic: topic.into(), accept_standard_json_only: None };
    RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header).with_opaque(9)
}

fn response(request: &RemotingCommand, code: ResponseCode, remark: Option<&str>) -> RemotingCommand {
    RemotingCommand::response_to(request, code, remark.map(str::to_owned))
}

fn system_error(request: &RemotingCommand, remark: &str) -> RemotingCommand {
    response(request, ResponseCode::SystemError, Some(remark))
}

/// A name server with broker-a's master registered over connection 1 at t=0.
fn with_master() -> NameServer {
    let mut server = NameServer::new();
    let request = register_request(A_MASTER, 0, 1);
    let mut expected = response(&request, ResponseCode::Success, None);
    expected.write_header(&RegisterBrokerResponseHeader::default());
    assert_eq!(server.process(0, ConnectionId(1), &request), expected);
    server
}

/// A master registers (empty response header); a slave registers and learns its master.
#[test]
fn register_master_then_slave() {
    let mut server = with_master();
    let request = register_request(A_SLAVE, 1, 2);
    let mut expected = response(&request, ResponseCode::Success, None);
    expected.write_header(&RegisterBrokerResponseHeader {
        ha_server_addr: Some("10.0.0.1:10912".into()),
        master_addr: Some(A_MASTER.into()),
    });
    assert_eq!(server.process(10, ConnectionId(2), &request), expected);
    assert_eq!(expected.ext_fields.get("masterAddr"), Some(A_MASTER));
}

/// A known topic's route comes back as exact JSON, with opaque and serialize type echoed.
#[test]
fn route_of_known_topic() {
    let mut server = with_master();
    let request = route_request("T").with_serialize_type(SerializeType::RocketMq);
    let body = concat!(
        r#"{"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"#,
        r#""perm":6,"topicSysFlag":0}],"brokerDatas":[{"cluster":"DefaultCluster","#,
        r#""brokerName":"broker-a","brokerAddrs":{"0":"10.0.0.1:10911"}}],"filterServerTable":{}}"#
    );
    let expected = response(&request, ResponseCode::Success, None).with_body(Bytes::from(body));
    assert_eq!(server.process(1, ConnectionId(3), &request), expected);
    assert_eq!(expected.opaque, 9);
    assert_eq!(expected.serialize_type, SerializeType::RocketMq);
}

/// An unknown topic is TOPIC_NOT_EXIST with RocketMQ's remark, word for word.
#[test]
fn route_of_unknown_topic() {
    let mut server = with_master();
    let request = route_request("nope");
    let remark = "No topic route info in name server for the topic: nope\n\
                  See http://rocketmq.apache.org/docs/faq/ for further details.";
    let expected = response(&request, ResponseCode::TopicNotExist, Some(remark));
    assert_eq!(server.process(1, ConnectionId(3), &request), expected);
}

/// Cluster info, the topic list and a cluster's topics come back as their JSON bodies.
#[test]
fn cluster_info_and_topic_lists() {
    let mut server = with_master();
    let request = RemotingCommand::request(RequestCode::GetBrokerClusterInfo, &EmptyHeader);
    let info = r#"{"brokerAddrTable":{"broker-a":{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"10.0.0.1:10911"}}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    let expected = response(&request, ResponseCode::Success, None).with_body(Bytes::from(info));
    assert_eq!(server.process(1, ConnectionId(3), &request), expected);

    let request = RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver, &EmptyHeader);
    let expected = response(&request, ResponseCode::Success, None).with_body(Bytes::from(r#"{"topicList":["T"]}"#));
    assert_eq!(server.process(1, ConnectionId(3), &request), expected);

    for (cluster, body) in [(CLUSTER, r#"{"topicList":["T"]}"#), ("Other", r#"{"topicList":[]}"#)] {
        let header = GetTopicsByClusterRequestHeader { cluster: cluster.into() };
        let request = RemotingCommand::request(RequestCode::GetTopicsByCluster, &header);
        let expected = response(&request, ResponseCode::Success, None).with_body(Bytes::from(body));
        assert_eq!(server.process(1, ConnectionId(3), &request), expected);
    }
}

/// DELETE_TOPIC_IN_NAMESRV removes the route; with an unrelated cluster named, it does not.
#[test]
fn delete_topic_in_namesrv() {
    let mut server = with_master();
    let in_other = DeleteTopicFromNamesrvRequestHeader { topic: "T".into(), cluster_name: Some("Other".into()) };
    let request = RemotingCommand::request(RequestCode::DeleteTopicInNamesrv, &in_other);
    assert_eq!(server.process(1, ConnectionId(3), &request), response(&request, ResponseCode::Success, None));
    assert!(server.route_info().route("T").is_some());
    // The broker-side header (topic only) is what most admin tools send.
    let request =
        RemotingCommand::request(RequestCode::DeleteTopicInNamesrv, &DeleteTopicRequestHeader { topic: "T".into() });
    assert_eq!(server.process(1, ConnectionId(3), &request), response(&request, ResponseCode::Success, None));
    assert_eq!(server.route_info().topics(), TopicList::default());
}

/// UNREGISTER_BROKER succeeds and removes the broker's routes.
#[test]
fn unregister_broker_request() {
    let mut server = with_master();
    let header = UnregisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: A_MASTER.into(),
        cluster_name: CLUSTER.into(),
        broker_id: 0,
    };
    let request = RemotingCommand::request(RequestCode::UnregisterBroker, &header);
    assert_eq!(server.process(1, ConnectionId(1), &request), response(&request, ResponseCode::Success, None));
    assert_eq!(server, NameServer::new());
}

/// Connection close and expiry go through to the route tables.
#[test]
fn connection_close_and_expiry() {
    let mut server = with_master();
    assert_eq!(server.scan_expired(crate::namesrv::BROKER_EXPIRE_MS), vec![]);
    assert_eq!(server.on_connection_closed(ConnectionId(1)), vec![A_MASTER.to_owned()]);
    assert_eq!(server, NameServer::new());
}

/// A code the name server does not handle, and a command flagged as a response, are
/// REQUEST_CODE_NOT_SUPPORTED with Java's remark.
#[test]
fn unsupported_codes() {
    let mut server = NameServer::new();
    let mut request = RemotingCommand::request(RequestCode::SendMessage, &EmptyHeader).with_opaque(5);
    request.code = 9999;
    let expected = response(&request, ResponseCode::RequestCodeNotSupported, Some(" request type 9999 not supported"));
    assert_eq!(server.process(0, ConnectionId(1), &request), expected);
    let mut reply = route_request("T");
    reply.mark_response();
    let expected = response(&reply, ResponseCode::RequestCodeNotSupported, Some(" request type 105 not supported"));
    assert_eq!(server.process(0, ConnectionId(1), &reply), expected);
}

/// A missing header field, a body that is not JSON, a wrong CRC and a compressed body are each
/// SYSTEM_ERROR with the reason as remark, and change nothing.
#[test]
fn bad_requests_are_system_errors() {
    let mut server = NameServer::new();
    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &EmptyHeader);
    let expected = system_error(&request, "invalid request header: header field topic is missing");
    assert_eq!(server.process(0, ConnectionId(1), &request), expected);

    let header = register_header(A_MASTER, 0);
    let request =
        RemotingCommand::request(RequestCode::RegisterBroker, &header).with_body(Bytes::from_static(b"{not json"));
    let remark = "invalid request body: RegisterBrokerBody body is not valid: key must be a string at line 1 column 2";
    assert_eq!(server.process(0, ConnectionId(1), &request), system_error(&request, remark));

    let mut request = register_request(A_MASTER, 0, 3);
    request.ext_fields.insert("bodyCrc32", "12345");
    assert_eq!(server.process(0, ConnectionId(1), &request), system_error(&request, "crc32 not match"));

    let mut request = register_request(A_MASTER, 0, 4);
    request.ext_fields.insert("compressed", "true");
    let remark = "invalid request body: compressed RegisterBrokerBody is not supported: set compressedRegister=false";
    assert_eq!(server.process(0, ConnectionId(1), &request), system_error(&request, remark));

    let request = register_request(A_MASTER, 0, 5).with_body(Bytes::from_static(&[0xff]));
    let request = RemotingCommand {
        ext_fields: request.ext_fields.into_iter().filter(|(k, _)| k != "bodyCrc32").collect(),
        ..request
    };
    let remark = "invalid request body: RegisterBrokerBody body is not UTF-8";
    assert_eq!(server.process(0, ConnectionId(1), &request), system_error(&request, remark));
    assert_eq!(server, NameServer::new());
}

/// A registration without a body registers the broker with no topics (data version 0/0).
#[test]
fn register_without_body() {
    let mut server = NameServer::new();
    let request = RemotingCommand::request(RequestCode::RegisterBroker, &register_header(A_MASTER, 0));
    assert_eq!(server.process(7, ConnectionId(1), &request).code, ResponseCode::Success.as_i32());
    let live = server.route_info().broker_live_info(A_MASTER).map(|l| (l.last_update_ms, l.data_version));
    assert_eq!(live, Some((7, DataVersion::default())));
    assert_eq!(server.route_info().topics(), TopicList::default());
}

/// RocketMQ's CRC is CRC-32 masked to 31 bits (values from java.util.zip.CRC32).
#[test]
fn rocketmq_crc32_masks_the_top_bit() {
    assert_eq!(rocketmq_crc32(b""), 0);
    // CRC32("123456789") = 0xCBF43926; masked: 0x4BF43926.
    assert_eq!(rocketmq_crc32(b"123456789"), 0x4BF4_3926);
}
