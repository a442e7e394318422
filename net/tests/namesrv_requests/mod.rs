//! What a fake broker and a fake client send a name server, and what they expect back: shared by
//! the in-process (`namesrv_node.rs`) and the real-process (`namesrv_process.rs`) tests.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use petrel_core::protocol::{
    perm, BrokerData, ClusterInfo, DataVersion, JsonBody, QueueData, RegisterBrokerBody, TopicConfig,
    TopicConfigSerializeWrapper, TopicRouteData, MASTER_ID,
};
use petrel_core::remoting::{
    EmptyHeader, GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, RemotingCommand, RequestCode, ResponseCode,
};
use petrel_net::remoting::RemotingClient;

/// Long enough for anything that should succeed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The fake broker's cluster.
pub const CLUSTER: &str = "DefaultCluster";
/// The fake broker's group name.
pub const BROKER_NAME: &str = "broker-a";
/// The address the fake broker registers (nothing listens there; the name server only stores it).
pub const BROKER_ADDR: &str = "10.0.0.1:10911";
/// The topic the fake broker serves.
pub const TOPIC: &str = "T";
/// Queues of `TOPIC` on the fake broker.
pub const TOPIC_QUEUES: i32 = 4;

/// REGISTER_BROKER from the fake broker's master: `TOPIC` with `TOPIC_QUEUES` queues.
pub fn register_request() -> RemotingCommand {
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: BTreeMap::from([(TOPIC.to_owned(), TopicConfig::new(TOPIC, TOPIC_QUEUES))]),
            data_version: DataVersion { timestamp: 1, counter: 1 },
        },
        filter_server_list: Vec::new(),
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: BROKER_NAME.into(),
        broker_addr: BROKER_ADDR.into(),
        cluster_name: CLUSTER.into(),
        ha_server_addr: "10.0.0.1:10912".into(),
        broker_id: MASTER_ID,
        compressed: false,
        body_crc32: None,
    };
    RemotingCommand::request(RequestCode::RegisterBroker, &header).with_body(body.encode_json())
}

/// GET_ROUTEINFO_BY_TOPIC for `topic`.
pub fn route_request(topic: &str) -> RemotingCommand {
    let header = GetRouteInfoRequestHeader { topic: topic.into(), accept_standard_json_only: None };
    RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header)
}

/// GET_BROKER_CLUSTER_INFO.
pub fn cluster_info_request() -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetBrokerClusterInfo, &EmptyHeader)
}

/// The route a name server gives for `TOPIC` once the fake broker has registered.
pub fn registered_route() -> TopicRouteData {
    TopicRouteData {
        order_topic_conf: None,
        queue_datas: vec![QueueData {
            broker_name: BROKER_NAME.into(),
            read_queue_nums: TOPIC_QUEUES,
            write_queue_nums: TOPIC_QUEUES,
            perm: perm::READ_WRITE,
            topic_sys_flag: 0,
        }],
        broker_datas: vec![broker_data()],
        filter_server_table: BTreeMap::new(),
    }
}

/// The cluster info a name server gives once the fake broker (alone) has registered.
pub fn registered_cluster_info() -> ClusterInfo {
    ClusterInfo {
        broker_addr_table: BTreeMap::from([(BROKER_NAME.to_owned(), broker_data())]),
        cluster_addr_table: BTreeMap::from([(CLUSTER.to_owned(), [BROKER_NAME.to_owned()].into())]),
    }
}

fn broker_data() -> BrokerData {
    BrokerData {
        cluster: CLUSTER.into(),
        broker_name: BROKER_NAME.into(),
        broker_addrs: BTreeMap::from([(MASTER_ID, BROKER_ADDR.to_owned())]),
    }
}

/// Sends `request` to the name server at `addr` and returns its answer.
pub async fn call(client: &RemotingClient, addr: SocketAddr, request: RemotingCommand) -> RemotingCommand {
    client.invoke(addr, request, CALL_TIMEOUT).await.expect("the name server answers")
}

/// Registers the fake broker over `client`'s connection to `addr`, asserting SUCCESS.
pub async fn register(client: &RemotingClient, addr: SocketAddr) {
    let response = call(client, addr, register_request()).await;
    assert_eq!(response.response_code(), Some(ResponseCode::Success), "{response:?}");
}

/// The route of `topic` at `addr`: `Some` on SUCCESS, `None` on TOPIC_NOT_EXIST.
pub async fn route(client: &RemotingClient, addr: SocketAddr, topic: &str) -> Option<TopicRouteData> {
    let response = call(client, addr, route_request(topic)).await;
    match response.response_code() {
        Some(ResponseCode::Success) => Some(decode(&response)),
        Some(ResponseCode::TopicNotExist) => None,
        _ => panic!("unexpected answer to GET_ROUTEINFO_BY_TOPIC: {response:?}"),
    }
}

/// The cluster info at `addr`.
pub async fn cluster_info(client: &RemotingClient, addr: SocketAddr) -> ClusterInfo {
    let response = call(client, addr, cluster_info_request()).await;
    assert_eq!(response.response_code(), Some(ResponseCode::Success), "{response:?}");
    decode(&response)
}

/// The JSON body of a SUCCESS response.
pub fn decode<T: JsonBody>(response: &RemotingCommand) -> T {
    let body = response.body_bytes().expect("a SUCCESS answer has a body");
    T::decode_json(&body).expect("the body decodes")
}
