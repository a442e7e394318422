//! `PushConsumer` and `PullConsumer` against an in-process `NamesrvNode` and two `BrokerNode`s
//! on simulated disks, over TCP on 127.0.0.1 (madsim's simulated TCP and clock under
//! `--cfg madsim`): clustering with rebalance, broadcasting, restart from committed offsets,
//! where a new group starts, and explicit pulls and commits.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use petrel_core::client::offset_store::OffsetTable;
use petrel_core::message::{Message, MessageExt};
use petrel_core::protocol::heartbeat::MessageModel;
use petrel_core::protocol::{perm, AUTO_CREATE_TOPIC_KEY_TOPIC};
use petrel_core::remoting::{CreateTopicRequestHeader, RemotingCommand, RequestCode, ResponseCode};
use petrel_core::store::disk::{Disk, DiskRef};
use petrel_core::store::StoreConfig;
use petrel_net::broker::{BrokerNode, BrokerNodeConfig};
use petrel_net::client::{
    ConsumeFrom, ConsumeResult, ConsumerConfig, MessageListener, MessageQueue, OffsetFileConfig, Producer,
    ProducerConfig, PullConsumer, PullConsumerConfig, PullStatus, PushConsumer,
};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{ClientConfig, RemotingClient};
use petrel_sim::disk::SimDisk;

mod broker_requests;

/// Bound on polls for an effect that follows asynchronously (consumption, rebalance).
const POLLS_MAX: u32 = 2_000;
/// Pause between two such polls (so at most 20 s of waiting per condition).
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Queues of every test topic on each broker.
const QUEUES_PER_BROKER: i32 = 4;
/// Bound on admin calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A name server and two brokers, `broker-a` and `broker-b`.
struct Cluster {
    /// The name server.
    namesrv: NamesrvNode,
    /// The brokers.
    brokers: Vec<BrokerNode>,
}

impl Cluster {
    async fn start(seed: u64) -> Cluster {
        let namesrv = NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("namesrv");
        let mut brokers = Vec::new();
        for (index, name) in ["broker-a", "broker-b"].into_iter().enumerate() {
            let mut config = BrokerNodeConfig::new(any_local_port(), vec![namesrv.local_addr()]);
            config.broker.broker_name = name.to_owned();
            config.store = StoreConfig::small_for_tests();
            let disk: DiskRef = Arc::new(SimDisk::with_seed(seed + index as u64));
            brokers.push(BrokerNode::start(config, disk).await.expect("broker starts"));
        }
        Cluster { namesrv, brokers }
    }

    fn namesrv_addrs(&self) -> Vec<SocketAddr> {
        vec![self.namesrv.local_addr()]
    }

    /// Creates `topic` with 4 queues on both brokers and waits until its route lists all 8.
    async fn create_topic(&self, topic: &str) {
        self.create_topic_on(topic, &[0, 1]).await;
    }

    /// Creates (or updates) `topic` with 4 queues on the brokers at `which` and waits until its
    /// route lists 4 queues per broker.
    async fn create_topic_on(&self, topic: &str, which: &[usize]) {
        let tools = RemotingClient::new(ClientConfig::default(), None);
        for broker in which.iter().map(|at| &self.brokers[*at]) {
            let header = CreateTopicRequestHeader {
                topic: topic.to_owned(),
                default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.to_owned(),
                read_queue_nums: QUEUES_PER_BROKER,
                write_queue_nums: QUEUES_PER_BROKER,
                perm: perm::READ_WRITE,
                topic_filter_type: "SINGLE_TAG".to_owned(),
                topic_sys_flag: None,
                order: false,
            };
            let request = RemotingCommand::request(RequestCode::UpdateAndCreateTopic, &header);
            let response = tools.invoke(broker.local_addr(), request, CALL_TIMEOUT).await.expect("the broker answers");
            assert_eq!(response.response_code(), Some(ResponseCode::Success));
        }
        let puller = PullConsumer::new(PullConsumerConfig::new("probe", self.namesrv_addrs()));
        let expected = which.len() * QUEUES_PER_BROKER as usize;
        let routed =
            eventually(|| async { puller.fetch_queues(topic).await.map(|q| q.len()).unwrap_or(0) == expected }).await;
        assert!(routed, "topic {topic} is routed with {expected} queues");
    }

    /// Sends `count` messages with bodies `{prefix}{i}` and returns the bodies.
    async fn produce(&self, topic: &str, prefix: &str, count: usize) -> Vec<String> {
        let producer = Producer::start(ProducerConfig::new("PG", self.namesrv_addrs()));
        let mut sent = Vec::with_capacity(count);
        for i in 0..count {
            let body = format!("{prefix}{i}");
            let message = Message::new(topic, body.clone().into_bytes());
            producer.send(message).await.expect("the send succeeds");
            sent.push(body);
        }
        producer.shutdown().await;
        sent
    }

    async fn shutdown(self) {
        for broker in self.brokers {
            broker.shutdown().await.expect("clean shutdown");
        }
        self.namesrv.shutdown().await;
    }
}

/// Polls `check` until it holds; false after `POLLS_MAX` polls.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..POLLS_MAX {
        if check().await {
            return true;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    false
}

/// A listener that records the bodies it consumed (in order of success), and answers `Later`
/// the first time it sees the body `later_once`.
#[derive(Default)]
struct Recorder {
    /// Bodies consumed successfully.
    seen: Mutex<Vec<String>>,
    /// A body to answer `Later` once; cleared when used.
    later_once: Mutex<Option<String>>,
}

impl Recorder {
    fn later_once(body: &str) -> Arc<Recorder> {
        let recorder = Recorder::default();
        *recorder.later_once.lock().expect("no listener call panicked") = Some(body.to_owned());
        Arc::new(recorder)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("no listener call panicked").clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("no listener call panicked").len()
    }
}

impl MessageListener for Recorder {
    fn consume(
        &self,
        msgs: Arc<[MessageExt]>,
        _queue: &MessageQueue,
    ) -> Pin<Box<dyn Future<Output = ConsumeResult> + Send>> {
        let bodies: Vec<String> = msgs.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
        let mut later = self.later_once.lock().expect("no listener call panicked");
        if later.as_ref().is_some_and(|b| bodies.contains(b)) {
            *later = None;
            return Box::pin(async { ConsumeResult::Later });
        }
        self.seen.lock().expect("no listener call panicked").extend(bodies);
        Box::pin(async { ConsumeResult::Success })
    }
}

fn consumer_config(cluster: &Cluster, group: &str, instance: &str, topic: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(group, cluster.namesrv_addrs(), instance).subscribe(topic, "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    config.reconsume_delay = Duration::from_millis(100);
    config
}

/// Counts of each body in `seen`.
fn tally(seen: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for body in seen {
        *counts.entry(body.clone()).or_insert(0) += 1;
    }
    counts
}

/// Two clustering consumers of one group split the 8 queues (each owned by exactly one of
/// them) and together consume every one of 10,000 messages at least once, a batch answered
/// `Later` included; without faults no message is consumed twice.
#[tokio::test]
async fn clustering_consumers_split_queues_and_consume_everything() {
    let cluster = Cluster::start(10).await;
    cluster.create_topic("Orders").await;
    let (first, second) = (Recorder::later_once("m7"), Arc::new(Recorder::default()));
    let config = |instance| consumer_config(&cluster, "G1", instance, "Orders");
    let c1 = PushConsumer::start(config("c1"), first.clone()).await;
    let c2 = PushConsumer::start(config("c2"), second.clone()).await;
    let split = eventually(|| async {
        let (a, b) = (c1.assigned_queues(), c2.assigned_queues());
        a.len() + b.len() == 8 && a.iter().all(|q| !b.contains(q))
    })
    .await;
    assert!(split, "after rebalance each queue has exactly one owner");
    assert_eq!(c1.assigned_queues().len(), 4, "averagely: 4 queues each");

    let sent = cluster.produce("Orders", "m", 10_000).await;
    let all_seen = eventually(|| async { first.count() + second.count() >= sent.len() }).await;
    let mut seen = first.seen();
    seen.extend(second.seen());
    let counts = tally(&seen);
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("clustering: {} consumed, {duplicates} duplicates", seen.len());
    assert!(all_seen, "every message is consumed ({} of {})", seen.len(), sent.len());
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), tally(&sent).keys().cloned().collect::<Vec<_>>());
    assert_eq!(duplicates, 0, "no duplicates without faults");
    c1.shutdown().await;
    c2.shutdown().await;
    cluster.shutdown().await;
}

/// A broker new in the topic's route has had no heartbeat from the group (heartbeats go out
/// every `heartbeat_interval`, an hour here) and knows none of its consumers. Rebalancing then
/// asks the next broker for the group's members instead of failing, so the two consumers split
/// the new broker's queues too instead of keeping the old split until a heartbeat.
#[tokio::test]
async fn rebalance_asks_the_next_broker_when_the_first_does_not_know_the_group() {
    let cluster = Cluster::start(60).await;
    cluster.create_topic_on("Late", &[1]).await;
    let config = |instance| {
        let mut config = consumer_config(&cluster, "G6", instance, "Late");
        config.heartbeat_interval = Duration::from_secs(3_600);
        config.rebalance_interval = Duration::from_millis(200);
        config.route_refresh_interval = Duration::from_millis(200);
        config
    };
    let c1 = PushConsumer::start(config("c1"), Arc::new(Recorder::default())).await;
    let c2 = PushConsumer::start(config("c2"), Arc::new(Recorder::default())).await;
    let split_of = |total: usize| {
        let (c1, c2) = (&c1, &c2);
        move || async move {
            let (a, b) = (c1.assigned_queues(), c2.assigned_queues());
            a.len() + b.len() == total && a.iter().all(|q| !b.contains(q)) && !a.is_empty() && !b.is_empty()
        }
    };
    assert!(eventually(split_of(4)).await, "broker-b's 4 queues are split between the two consumers");

    // broker-a (first by name) joins the route; neither consumer has sent it a heartbeat.
    cluster.create_topic_on("Late", &[0, 1]).await;
    assert!(eventually(split_of(8)).await, "all 8 queues are split: the rebalance asked broker-b for the members");
    c1.shutdown().await;
    c2.shutdown().await;
    cluster.shutdown().await;
}

/// Two broadcasting consumers each get all 1,000 messages; one keeps its offsets in a file
/// whose offsets add up to every message after shutdown.
#[tokio::test]
async fn broadcasting_consumers_each_get_everything() {
    let cluster = Cluster::start(20).await;
    cluster.create_topic("News").await;
    let disk = SimDisk::with_seed(29);
    let (first, second) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let config = |instance| {
        let mut config = consumer_config(&cluster, "G2", instance, "News");
        config.message_model = MessageModel::Broadcasting;
        config
    };
    let mut with_file = config("b1");
    with_file.offset_file =
        Some(OffsetFileConfig { disk: Arc::new(disk.clone()), path: "consumer/G2/offsets.json".to_owned() });
    let c1 = PushConsumer::start(with_file, first.clone()).await;
    let c2 = PushConsumer::start(config("b2"), second.clone()).await;
    assert_eq!(c1.assigned_queues().len(), 8);
    assert_eq!(c2.assigned_queues().len(), 8);

    let sent = cluster.produce("News", "n", 1_000).await;
    let expected = tally(&sent);
    for (name, recorder) in [("b1", &first), ("b2", &second)] {
        let got = eventually(|| async { recorder.count() >= sent.len() }).await;
        assert!(got, "{name} consumed {} of {}", recorder.count(), sent.len());
        assert_eq!(tally(&recorder.seen()), expected, "{name} got each message once");
    }
    c1.shutdown().await;
    c2.shutdown().await;
    let bytes = disk.read_all("consumer/G2/offsets.json").expect("the disk reads").expect("the offsets file exists");
    let table = OffsetTable::decode_file(&bytes).expect("the offsets file decodes");
    let total: i64 = table.all().iter().map(|(_, offset)| offset).sum();
    assert_eq!(total, 1_000, "the file holds every queue's end");
    cluster.shutdown().await;
}

/// A consumer that shut down committed its offsets: a new consumer of the same group gets
/// only what was sent after, none of what was consumed before.
#[tokio::test]
async fn restart_resumes_from_committed_offsets() {
    let cluster = Cluster::start(30).await;
    cluster.create_topic("Bills").await;
    let before = cluster.produce("Bills", "old", 500).await;
    let first = Arc::new(Recorder::default());
    let c1 = PushConsumer::start(consumer_config(&cluster, "G3", "r1", "Bills"), first.clone()).await;
    assert!(eventually(|| async { first.count() >= before.len() }).await, "first run consumes all");
    c1.shutdown().await;

    let after = cluster.produce("Bills", "new", 300).await;
    let second = Arc::new(Recorder::default());
    let c2 = PushConsumer::start(consumer_config(&cluster, "G3", "r2", "Bills"), second.clone()).await;
    assert!(eventually(|| async { second.count() >= after.len() }).await, "second run consumes the new ones");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tally(&second.seen()), tally(&after), "nothing consumed before comes again");
    c2.shutdown().await;
    cluster.shutdown().await;
}

/// A new group starts where `consume_from` says: FirstOffset gets what was sent before it
/// started; LastOffset and a timestamp taken between two batches get only the later batch.
/// (LastOffset is checked in broadcasting mode: in clustering, the broker answers 0 for a
/// never-committed queue whose first message is still in memory, as RocketMQ does.)
#[tokio::test]
async fn new_group_starts_at_first_last_or_timestamp() {
    let cluster = Cluster::start(40).await;
    cluster.create_topic("Logs").await;
    let early = cluster.produce("Logs", "early", 200).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between_ms = petrel_core::clock::epoch_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let from_first = Arc::new(Recorder::default());
    let c_first = PushConsumer::start(consumer_config(&cluster, "G4-first", "f", "Logs"), from_first.clone()).await;
    let mut last = consumer_config(&cluster, "G4-last", "l", "Logs");
    last.message_model = MessageModel::Broadcasting;
    last.consume_from = ConsumeFrom::LastOffset;
    let from_last = Arc::new(Recorder::default());
    let c_last = PushConsumer::start(last, from_last.clone()).await;

    let late = cluster.produce("Logs", "late", 100).await;
    let mut by_time = consumer_config(&cluster, "G4-time", "t", "Logs");
    by_time.consume_from = ConsumeFrom::Timestamp(between_ms);
    by_time.message_model = MessageModel::Broadcasting;
    let from_time = Arc::new(Recorder::default());
    let c_time = PushConsumer::start(by_time, from_time.clone()).await;

    let total = early.len() + late.len();
    assert!(eventually(|| async { from_first.count() >= total }).await, "first: everything");
    assert!(eventually(|| async { from_last.count() >= late.len() }).await, "last: the late batch");
    assert!(eventually(|| async { from_time.count() >= late.len() }).await, "timestamp: the late batch");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut all = early.clone();
    all.extend(late.iter().cloned());
    assert_eq!(tally(&from_first.seen()), tally(&all));
    assert_eq!(tally(&from_last.seen()), tally(&late));
    assert_eq!(tally(&from_time.seen()), tally(&late));
    for consumer in [c_first, c_last, c_time] {
        consumer.shutdown().await;
    }
    cluster.shutdown().await;
}

/// `PullConsumer` lists the 8 queues, pulls a queue in batches to its end (then NoNewMsg,
/// and OffsetIllegal past it, pointing back to the queue's start), and commits an offset that `committed` reads back.
#[tokio::test]
async fn pull_consumer_pulls_and_commits() {
    let cluster = Cluster::start(50).await;
    cluster.create_topic("Pulls").await;
    let sent = cluster.produce("Pulls", "p", 400).await;
    let puller = PullConsumer::new(PullConsumerConfig::new("G5", cluster.namesrv_addrs()));
    let queues = puller.fetch_queues("Pulls").await.expect("queues");
    assert_eq!(queues.len(), 8);
    let mut bodies = Vec::new();
    for queue in &queues {
        assert_eq!(puller.committed(queue).await.expect("query"), Some(0), "broker's rule for a new group");
        let mut offset = 0;
        loop {
            let result = puller.pull(queue, offset, 32, CALL_TIMEOUT).await.expect("pull");
            if result.status == PullStatus::NoNewMsg {
                assert_eq!(result.max_offset, offset);
                break;
            }
            assert_eq!(result.status, PullStatus::Found);
            assert!(result.messages.len() <= 32);
            bodies.extend(result.messages.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()));
            offset = result.next_begin_offset;
        }
        puller.commit(queue, offset).await.expect("commit");
        assert_eq!(puller.committed(queue).await.expect("query"), Some(offset));
        let past = puller.pull(queue, offset + 100, 32, CALL_TIMEOUT).await.expect("pull");
        assert_eq!(past.status, PullStatus::OffsetIllegal);
        // RocketMQ's correction for an offset past the end of a queue that still starts at 0.
        assert_eq!((past.next_begin_offset, past.min_offset), (0, 0));
    }
    assert_eq!(tally(&bodies), tally(&sent));
    puller.shutdown().await;
    cluster.shutdown().await;
}

/// A body over the producer's threshold travels and is stored zlib-compressed (COMPRESSED
/// sysflag, as Java clients do) and reaches the consumer inflated; a small one is sent as is.
#[tokio::test]
async fn large_bodies_travel_compressed_and_arrive_whole() {
    let cluster = Cluster::start(60).await;
    cluster.create_topic("Zip").await;
    let producer = Producer::start(ProducerConfig::new("PZ", cluster.namesrv_addrs()));
    let large: Vec<u8> = (0..20_000u32).map(|i| (i % 13) as u8).collect();
    producer.send(Message::new("Zip", large.clone())).await.expect("large send");
    producer.send(Message::new("Zip", b"small".to_vec())).await.expect("small send");
    producer.shutdown().await;
    let puller = PullConsumer::new(PullConsumerConfig::new("GZ", cluster.namesrv_addrs()));
    let mut bodies = Vec::new();
    for queue in puller.fetch_queues("Zip").await.expect("queues") {
        let result = puller.pull(&queue, 0, 32, CALL_TIMEOUT).await.expect("pull");
        for message in &result.messages {
            assert!(!petrel_core::message::sysflag::is_compressed(message.sys_flag), "delivered inflated");
            bodies.push(message.body.to_vec());
        }
    }
    bodies.sort_by_key(Vec::len);
    assert_eq!(bodies, vec![b"small".to_vec(), large]);
    // On the broker the large record is stored compressed: flagged, and much smaller.
    let raw = RemotingClient::new(ClientConfig::default(), None);
    let mut stored = Vec::new();
    for broker in &cluster.brokers {
        for queue_id in 0..4 {
            stored.extend(broker_requests::pull_all(&raw, broker.local_addr(), "Zip", queue_id).await);
        }
    }
    let compressed: Vec<_> =
        stored.iter().filter(|m| petrel_core::message::sysflag::is_compressed(m.sys_flag)).collect();
    assert_eq!(compressed.len(), 1, "only the large body is compressed");
    assert!(compressed[0].body.len() < 20_000 / 4);
    puller.shutdown().await;
    cluster.shutdown().await;
}
