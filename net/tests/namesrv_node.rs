//! `NamesrvNode` in process, over TCP on 127.0.0.1 (madsim's simulated TCP and clock under
//! `--cfg madsim`): routes from a registration, removal when the broker's connection closes or
//! when it stops heartbeating, and independent nodes side by side.

mod namesrv_requests;

use std::net::SocketAddr;
use std::time::Duration;

use namesrv_requests::{cluster_info, register, registered_cluster_info, registered_route, route};
use namesrv_requests::{TOPIC, TOPIC_QUEUES};
use petrel_core::protocol::ClusterInfo;
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{ClientConfig, RemotingClient};

/// Bound on polls for an effect that follows a connection close.
const POLLS_MAX: u32 = 200;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_node() -> NamesrvNode {
    NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the node listens on a free port")
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), None)
}

/// Polls `node` until no broker is registered; false if one still is after `POLLS_MAX` polls.
async fn brokers_gone(node: &NamesrvNode) -> bool {
    for _ in 0..POLLS_MAX {
        if node.name_server().route_info().cluster_info() == ClusterInfo::default() {
            return true;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    false
}

/// A registered broker's topic is routable with its queues and the broker is listed in the
/// cluster info; when the broker's connection closes, the broker and its topic are gone.
#[tokio::test]
async fn registration_routes_until_the_brokers_connection_closes() {
    let node = start_node().await;
    let addr = node.local_addr();
    let broker = client();
    let tools = client();
    register(&broker, addr).await;

    let routed = route(&tools, addr, TOPIC).await.expect("T is routable");
    assert_eq!(routed, registered_route());
    assert_eq!(routed.queue_datas[0].read_queue_nums, TOPIC_QUEUES);
    assert_eq!(cluster_info(&tools, addr).await, registered_cluster_info());
    assert_eq!(node.connection_count(), 2, "the broker's and the tool's");

    broker.close_all().await;
    assert!(brokers_gone(&node).await, "the broker outlived its connection");
    assert_eq!(route(&tools, addr, TOPIC).await, None);
    node.shutdown().await;
}

/// Two nodes in one process share nothing: a broker registered with one is unknown to the other.
#[tokio::test]
async fn nodes_are_independent() {
    let (first, second) = (start_node().await, start_node().await);
    let broker = client();
    register(&broker, first.local_addr()).await;
    assert_eq!(route(&broker, first.local_addr(), TOPIC).await, Some(registered_route()));
    assert_eq!(route(&broker, second.local_addr(), TOPIC).await, None);
    assert_eq!(cluster_info(&broker, second.local_addr()).await, ClusterInfo::default());
    first.shutdown().await;
    second.shutdown().await;
}

/// A broker that registers once and then stays silent, its connection open, is still routable
/// shortly before `BROKER_EXPIRE_MS` (120 s) and gone, its connection closed by the name server,
/// within one scan interval (10 s) after it. Simulated time only: 131 s pass in no real time.
#[cfg(madsim)]
#[tokio::test]
async fn silent_broker_expires_after_broker_expire_ms() {
    use petrel_core::namesrv::{BROKER_EXPIRE_MS, SCAN_INTERVAL_MS};

    let node = start_node().await;
    let addr = node.local_addr();
    let broker = client();
    let tools = client();
    register(&broker, addr).await;
    let broker_channel = broker.channel(addr).await.expect("the broker's connection");

    let before_expiry = BROKER_EXPIRE_MS - SCAN_INTERVAL_MS;
    tokio::time::sleep(Duration::from_millis(before_expiry.unsigned_abs())).await;
    assert_eq!(route(&tools, addr, TOPIC).await, Some(registered_route()));
    assert!(!broker_channel.is_closed());

    let past_expiry = 2 * SCAN_INTERVAL_MS + 1_000;
    tokio::time::sleep(Duration::from_millis(past_expiry.unsigned_abs())).await;
    assert_eq!(route(&tools, addr, TOPIC).await, None);
    assert_eq!(cluster_info(&tools, addr).await, ClusterInfo::default());
    assert!(broker_channel.is_closed(), "the expired broker's connection is closed");
    node.shutdown().await;
}
