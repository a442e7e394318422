//! `AdminClient` against an in-process `NamesrvNode` and `BrokerNode` on a simulated disk, over
//! TCP on 127.0.0.1 (madsim's simulated TCP and clock under `--cfg madsim`): topic creation,
//! listing, routes, status, deletion; message lookups by id and by key; consumer progress and
//! the client-side offset reset by time.

mod broker_requests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker_requests::{update_offset_request, CALL_TIMEOUT};
use petrel_core::message::Message;
use petrel_core::protocol::TopicConfig;
use petrel_core::remoting::ResponseCode;
use petrel_core::store::disk::DiskRef;
use petrel_core::store::StoreConfig;
use petrel_net::broker::{BrokerNode, BrokerNodeConfig};
use petrel_net::client::admin::{AdminClient, AdminError, TopicTarget};
use petrel_net::client::{Producer, ProducerConfig, SendResult};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{ClientConfig, RemotingClient};
use petrel_sim::disk::SimDisk;

/// The cluster every test broker joins (the broker's default).
const CLUSTER: &str = "DefaultCluster";
/// Bound on polls for an effect that follows asynchronously (a registration).
const POLLS_MAX: u32 = 500;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A name server and one registered broker.
struct Cluster {
    /// The name server.
    namesrv: NamesrvNode,
    /// The broker, registered with it.
    broker: BrokerNode,
    /// An admin client asking the name server.
    admin: AdminClient,
}

impl Cluster {
    async fn start(seed: u64) -> Cluster {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let namesrv = NamesrvNode::start(local, NamesrvConfig::default()).await.expect("namesrv");
        let mut config = BrokerNodeConfig::new(local, vec![namesrv.local_addr()]);
        config.store = StoreConfig::small_for_tests();
        let disk: DiskRef = Arc::new(SimDisk::with_seed(seed));
        let broker = BrokerNode::start(config, disk).await.expect("broker");
        let admin = AdminClient::new(vec![namesrv.local_addr()], CALL_TIMEOUT);
        let cluster = Cluster { namesrv, broker, admin };
        assert!(
            eventually(|| async { cluster.admin.cluster_list().await.is_ok_and(|c| !c.broker_addr_table.is_empty()) })
                .await,
            "the broker registers"
        );
        cluster
    }

    /// Creates `topic` with `queues` queues on the cluster and waits until it is routed.
    async fn create_topic(&self, topic: &str, queues: i32) {
        let target = TopicTarget::Cluster(CLUSTER.to_owned());
        let updated =
            self.admin.update_topic(&target, &TopicConfig::new(topic, queues)).await.expect("the topic is created");
        assert_eq!(updated, vec![self.broker.local_addr()]);
        assert!(eventually(|| async { self.admin.topic_route(topic).await.is_ok() }).await, "the new topic is routed");
    }

    /// Sends `count` messages to `topic` through a `Producer`, message `i` keyed `key-i`.
    async fn produce(&self, topic: &str, count: usize) -> Vec<SendResult> {
        let producer = Producer::start(ProducerConfig::new("admin-test", vec![self.namesrv.local_addr()]));
        let mut results = Vec::new();
        for i in 0..count {
            let message = Message::new(topic, format!("body-{i}")).with_keys([format!("key-{i}")]);
            results.push(producer.send(message).await.expect("the send succeeds"));
        }
        producer.shutdown().await;
        results
    }

    async fn stop(self) {
        self.admin.shutdown().await;
        self.broker.shutdown().await.expect("clean shutdown");
        self.namesrv.shutdown().await;
    }
}

/// Polls `check` until it holds; false after `POLLS_MAX` polls.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..POLLS_MAX {
        if check().await {
            return true;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    false
}

/// A topic created on the cluster is listed and routed with its queue count; after 6 sends
/// its status counts them per queue; after deletion neither the list nor a route has it.
#[tokio::test]
async fn topic_create_list_route_status_delete() {
    let cluster = Cluster::start(1).await;
    let admin = &cluster.admin;
    cluster.create_topic("Orders", 3).await;
    let topics = admin.topic_list().await.expect("topic list");
    assert!(topics.topic_list.contains("Orders"), "{topics:?}");
    let route = admin.topic_route("Orders").await.expect("route");
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.queue_datas[0].write_queue_nums, 3);

    cluster.produce("Orders", 6).await;
    let status = admin.topic_status("Orders").await.expect("status");
    assert_eq!(status.queues.len(), 3);
    assert!(status.queues.iter().all(|q| q.min_offset == 0));
    let total: i64 = status.queues.iter().map(|q| q.max_offset).sum();
    assert_eq!(total, 6, "{status:?}");
    assert!(status.queues.iter().all(|q| q.earliest_store_ms > 0));

    admin.delete_topic("Orders", CLUSTER).await.expect("delete");
    let topics = admin.topic_list().await.expect("topic list");
    assert!(!topics.topic_list.contains("Orders"), "{topics:?}");
    assert!(matches!(admin.topic_route("Orders").await, Err(AdminError::TopicNotExist { .. })));
    cluster.stop().await;
}

/// A message is found by the offsetMsgId its send returned and by its key; an unknown key
/// finds nothing, and a malformed id is a typed error.
#[tokio::test]
async fn query_messages_by_id_and_key() {
    let cluster = Cluster::start(2).await;
    let admin = &cluster.admin;
    cluster.create_topic("Lookup", 2).await;
    let sent = cluster.produce("Lookup", 4).await;

    let by_id = admin.query_msg_by_id(&sent[2].offset_msg_id).await.expect("found by id");
    assert_eq!(by_id.body.as_ref(), b"body-2");
    assert_eq!(by_id.uniq_key(), Some(sent[2].msg_id.as_str()));

    let by_key = admin.query_msg_by_key("Lookup", "key-3").await.expect("query by key");
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0].body.as_ref(), b"body-3");
    assert_eq!(by_key[0].msg_id, sent[3].offset_msg_id);
    let none = admin.query_msg_by_key("Lookup", "absent").await;
    assert!(none.expect("query by key").is_empty());
    assert!(matches!(admin.query_msg_by_id("not-an-id").await, Err(AdminError::BadMsgId { .. })));
    cluster.stop().await;
}

/// Consumer progress shows broker offset, committed offset and their difference per queue;
/// a reset to time 0 commits every queue's first offset, a reset past the newest message its
/// max offset.
#[tokio::test]
async fn consumer_progress_and_reset_by_time() {
    let cluster = Cluster::start(3).await;
    let admin = &cluster.admin;
    cluster.create_topic("Progress", 1).await;
    cluster.produce("Progress", 4).await;
    let tools = RemotingClient::new(ClientConfig::default(), None);
    let commit = update_offset_request("CG", "Progress", 0, 1);
    let response =
        tools.invoke(cluster.broker.local_addr(), commit, CALL_TIMEOUT).await.expect("the commit is answered");
    assert_eq!(response.code, ResponseCode::Success.as_i32());

    let progress = admin.consumer_progress("CG", Some("Progress")).await.expect("progress");
    assert_eq!(progress.queues.len(), 1);
    let queue = &progress.queues[0];
    assert_eq!((queue.broker_offset, queue.consumer_offset, queue.diff), (4, 1, 3));
    assert_eq!(progress.diff_total, 3);
    let all_topics = admin.consumer_progress("CG", None).await.expect("progress");
    assert_eq!(all_topics.queues, progress.queues);

    let reset = admin.reset_offset_by_time("CG", "Progress", 0).await.expect("reset");
    assert_eq!(reset.queues.len(), 1);
    assert_eq!(reset.queues[0].offset, 0);
    let progress = admin.consumer_progress("CG", Some("Progress")).await;
    assert_eq!(progress.expect("progress").diff_total, 4);
    let reset = admin.reset_offset_by_time("CG", "Progress", i64::MAX).await.expect("reset");
    assert_eq!(reset.queues[0].offset, 4);
    let progress = admin.consumer_progress("CG", Some("Progress")).await;
    assert_eq!(progress.expect("progress").diff_total, 0);
    cluster.stop().await;
}
