//! `Producer` against a real `NamesrvNode` and fake brokers (a `RemotingServer` that answers
//! sends and reports what it got), over TCP on 127.0.0.1 (madsim's simulated TCP under
//! `--cfg madsim`): route lookup and round robin, retries on the other broker, no route,
//! selectors, batch, one-way and async sends, auto-creation through TBW102.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use petrel_core::client::SelectMessageQueueByHash;
use petrel_core::message::batch::decode_batch;
use petrel_core::message::tags::java_string_hash;
use petrel_core::message::Message;
use petrel_core::protocol::{
    perm, DataVersion, JsonBody, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
    AUTO_CREATE_TOPIC_KEY_TOPIC, MASTER_ID,
};
use petrel_core::remoting::{
    RegisterBrokerRequestHeader, RemotingCommand, RequestCode, ResponseCode, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use petrel_net::client::{MessageQueue, Producer, ProducerConfig, ProducerError, SendStatus};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{handler_fn, ClientConfig, RemotingClient, RemotingServer, ServerConfig};
use tokio::sync::mpsc;

/// The topic both fake brokers serve.
const TOPIC: &str = "T";
/// Queues of `TOPIC` on each fake broker.
const TOPIC_QUEUES: i32 = 4;
/// Bound on waiting for a request the fake broker should get.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A broker that stores nothing: it answers sends with SUCCESS (or SYSTEM_ERROR when told to
/// fail) and hands every request it got to the test.
struct FakeBroker {
    /// The broker group's name.
    name: String,
    /// Serves the sends.
    server: RemotingServer,
    /// Its registration with the name server lives as long as this connection.
    _registrar: RemotingClient,
    /// Every request received, in order.
    received: mpsc::UnboundedReceiver<RemotingCommand>,
    /// When set, sends are answered SYSTEM_ERROR.
    fail: Arc<AtomicBool>,
    /// When set, sends get no answer at all.
    silent: Arc<AtomicBool>,
}

impl FakeBroker {
    async fn start(name: &str, namesrv: SocketAddr, topics: &[(&str, i32, i32)]) -> FakeBroker {
        let (sender, received) = mpsc::unbounded_channel();
        let fail = Arc::new(AtomicBool::new(false));
        let silent = Arc::new(AtomicBool::new(false));
        let quiet = silent.clone();
        let offsets = Arc::new(AtomicI64::new(0));
        let (broker, failing) = (name.to_owned(), fail.clone());
        let handler = handler_fn(move |_ctx, request| {
            let _ = sender.send(request.clone());
            if quiet.load(Ordering::SeqCst) {
                return Box::pin(async { None });
            }
            let answer = answer_send(&broker, &request, failing.load(Ordering::SeqCst), &offsets);
            Box::pin(async move { answer })
        });
        let server = RemotingServer::bind(any_local_port(), handler, ServerConfig::default())
            .await
            .expect("the fake broker listens");
        let registrar = RemotingClient::new(ClientConfig::default(), None);
        let request = register_request(name, server.local_addr(), topics);
        let response = registrar.invoke(namesrv, request, RECEIVE_TIMEOUT).await.expect("the name server answers");
        assert_eq!(response.response_code(), Some(ResponseCode::Success));
        FakeBroker { name: name.to_owned(), server, _registrar: registrar, received, fail, silent }
    }

    /// The next request this broker got.
    async fn next_request(&mut self) -> RemotingCommand {
        tokio::time::timeout(RECEIVE_TIMEOUT, self.received.recv())
            .await
            .expect("a request arrives in time")
            .expect("the server is running")
    }

    /// Requests received so far, without waiting.
    fn drain(&mut self) -> Vec<RemotingCommand> {
        let mut requests = Vec::new();
        while let Ok(request) = self.received.try_recv() {
            requests.push(request);
        }
        requests
    }
}

fn answer_send(broker: &str, request: &RemotingCommand, fail: bool, offsets: &AtomicI64) -> Option<RemotingCommand> {
    if fail {
        return Some(RemotingCommand::response(ResponseCode::SystemError, Some("planted".into())));
    }
    let header: SendMessageRequestHeaderV2 = request.read_header().ok()?;
    let offset = offsets.fetch_add(1, Ordering::SeqCst);
    let mut response = RemotingCommand::response(ResponseCode::Success, None);
    response.write_header(&SendMessageResponseHeader {
        msg_id: format!("{broker}-OFFSET-{offset}"),
        queue_id: header.e,
        queue_offset: offset,
        transaction_id: None,
    });
    Some(response)
}

/// REGISTER_BROKER for a master `name` at `addr` serving `(topic, queues, perm)`.
fn register_request(name: &str, addr: SocketAddr, topics: &[(&str, i32, i32)]) -> RemotingCommand {
    let table: BTreeMap<String, TopicConfig> = topics
        .iter()
        .map(|(topic, queues, perm)| {
            let config = TopicConfig { perm: *perm, ..TopicConfig::new(*topic, *queues) };
            ((*topic).to_owned(), config)
        })
        .collect();
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: table,
            data_version: DataVersion { timestamp: 1, counter: 1 },
        },
        filter_server_list: Vec::new(),
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.to_string(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: addr.to_string(),
        broker_id: MASTER_ID,
        compressed: false,
        body_crc32: None,
    };
    RemotingCommand::request(RequestCode::RegisterBroker, &header).with_body(body.encode_json())
}

/// A name server, brokers `broker-a` and `broker-b` serving `TOPIC`, and a producer.
async fn cluster() -> (NamesrvNode, FakeBroker, FakeBroker, Producer) {
    let namesrv =
        NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the name server listens");
    let topics = [(TOPIC, TOPIC_QUEUES, perm::READ_WRITE)];
    let a = FakeBroker::start("broker-a", namesrv.local_addr(), &topics).await;
    let b = FakeBroker::start("broker-b", namesrv.local_addr(), &topics).await;
    let producer = Producer::start(ProducerConfig::new("pg", vec![namesrv.local_addr()]));
    (namesrv, a, b, producer)
}

fn send_header(request: &RemotingCommand) -> SendMessageRequestHeaderV2 {
    request.read_header().expect("a send header")
}

fn message(body: &str) -> Message {
    Message::new(TOPIC, body.to_owned())
}

/// The route comes from the name server: sends walk the 8 queues of both brokers in order, each
/// request carries the queue, the topic and the UNIQ_KEY the result reports.
#[tokio::test]
async fn sends_round_robin_over_the_queues_of_two_brokers() {
    let (namesrv, mut a, mut b, producer) = cluster().await;
    let mut picked = Vec::new();
    for i in 0..8 {
        let result = producer.send(message(&format!("m{i}"))).await.expect("sent");
        assert_eq!(result.status, SendStatus::SendOk);
        let broker = if result.message_queue.broker_name == a.name { &mut a } else { &mut b };
        let request = broker.next_request().await;
        let header = send_header(&request);
        assert_eq!(request.code, RequestCode::SendMessageV2.as_i32());
        assert_eq!((header.b.as_str(), header.e), (TOPIC, result.message_queue.queue_id));
        assert!(header.i.expect("properties").contains(&format!("UNIQ_KEY\u{1}{}", result.msg_id)));
        assert!(result.offset_msg_id.starts_with(&result.message_queue.broker_name));
        picked.push((result.message_queue.broker_name, result.message_queue.queue_id));
    }
    let expected: Vec<(String, i32)> = ["broker-a", "broker-b"]
        .iter()
        .flat_map(|name| (0..TOPIC_QUEUES).map(move |id| ((*name).to_owned(), id)))
        .collect();
    assert_eq!(picked, expected);
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A broker answering SYSTEM_ERROR makes the send retry on the other broker; so does a broker
/// that is shut down.
#[tokio::test]
async fn a_failing_broker_makes_the_retry_go_to_the_other_broker() {
    let (namesrv, mut a, mut b, producer) = cluster().await;
    a.fail.store(true, Ordering::SeqCst);
    let result = producer.send(message("x")).await.expect("sent on the retry");
    assert_eq!(result.message_queue.broker_name, "broker-b");
    assert_eq!(a.drain().len(), 1, "one attempt on broker-a");
    assert_eq!(b.next_request().await.code, RequestCode::SendMessageV2.as_i32());

    a.server.shutdown().await;
    for i in 0..4 {
        let result = producer.send(message(&format!("y{i}"))).await.expect("sent");
        assert_eq!(result.message_queue.broker_name, "broker-b");
    }
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// Every broker refusing: the last broker error comes back after 1 + retry_times attempts.
#[tokio::test]
async fn all_brokers_failing_returns_the_broker_error() {
    let (namesrv, mut a, mut b, producer) = cluster().await;
    a.fail.store(true, Ordering::SeqCst);
    b.fail.store(true, Ordering::SeqCst);
    let error = producer.send(message("x")).await.expect_err("refused");
    assert!(matches!(error, ProducerError::Broker { code: 1, .. }), "{error:?}");
    assert_eq!(a.drain().len() + b.drain().len(), 3, "1 + retry_times attempts");
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A topic no name server knows, with no TBW102 route, is `NoRoute`; an invalid message is
/// refused before any lookup.
#[tokio::test]
async fn unknown_topic_has_no_route() {
    let (namesrv, _a, _b, producer) = cluster().await;
    let error = producer.send(Message::new("Nope", "x")).await.expect_err("no route");
    assert!(matches!(&error, ProducerError::NoRoute { topic } if topic == "Nope"), "{error:?}");
    let error = producer.send(Message::new(TOPIC, "")).await.expect_err("empty body");
    assert!(matches!(error, ProducerError::InvalidMessage(_)), "{error:?}");
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// The hash selector sends equal keys to the same queue, the one Java's would pick.
#[tokio::test]
async fn selector_by_hash_keeps_a_key_on_one_queue() {
    let (namesrv, _a, _b, producer) = cluster().await;
    let queues = producer.publish_queues(TOPIC).await.expect("routed");
    assert_eq!(queues.len(), 8);
    let mut sent = Vec::new();
    for key in ["order-1", "order-2", "order-1", "order-2", "order-1"] {
        let result = producer.send_with_selector(message(key), &SelectMessageQueueByHash, key).await.expect("sent");
        let expected = &queues[java_string_hash(key).unsigned_abs() as usize % queues.len()];
        assert_eq!(&result.message_queue, expected, "{key}");
        sent.push(result.message_queue);
    }
    assert_eq!(sent[0], sent[2]);
    assert_eq!(sent[2], sent[4]);
    assert_eq!(sent[1], sent[3]);
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// `send_to_queue` goes to exactly that queue; a queue of another topic is refused.
#[tokio::test]
async fn send_to_queue_uses_the_given_queue() {
    let (namesrv, _a, mut b, producer) = cluster().await;
    let queue = MessageQueue::new(TOPIC, "broker-b", 3);
    let result = producer.send_to_queue(message("x"), queue.clone()).await.expect("sent");
    assert_eq!(result.message_queue, queue);
    assert_eq!(send_header(&b.next_request().await).e, 3);
    let other = MessageQueue::new("U", "broker-b", 0);
    let error = producer.send_to_queue(message("x"), other).await.expect_err("mismatch");
    assert!(matches!(error, ProducerError::TopicMismatch { .. }), "{error:?}");
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A batch travels as one SEND_BATCH_MESSAGE with the batch flag; its body decodes to the
/// messages, each with its UNIQ_KEY, and the result lists those ids.
#[tokio::test]
async fn batch_send() {
    let (namesrv, mut a, _b, producer) = cluster().await;
    let messages = vec![message("one"), message("two"), message("three")];
    let result = producer.send_batch(messages).await.expect("sent");
    assert_eq!(result.message_queue, MessageQueue::new(TOPIC, "broker-a", 0));
    let request = a.next_request().await;
    assert_eq!(request.code, RequestCode::SendBatchMessage.as_i32());
    let header = send_header(&request);
    assert!(header.m, "batch flag");
    let body = request.body_bytes().expect("a body");
    let decoded = decode_batch(body, TOPIC).expect("a batch body");
    let bodies: Vec<&[u8]> = decoded.iter().map(|m| m.body.as_ref()).collect();
    assert_eq!(bodies, [&b"one"[..], b"two", b"three"]);
    let ids: Vec<&str> = decoded.iter().filter_map(Message::uniq_key).collect();
    assert_eq!(result.msg_id, ids.join(","));
    assert_eq!(ids.len(), 3);
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A one-way send reaches the broker flagged one-way.
#[tokio::test]
async fn oneway_send_reaches_the_broker() {
    let (namesrv, mut a, _b, producer) = cluster().await;
    producer.send_oneway(message("fire")).await.expect("queued");
    let request = a.next_request().await;
    assert!(request.is_oneway());
    assert_eq!(request.body_bytes().as_deref(), Some(&b"fire"[..]));
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// Async sends run side by side and each yields its result.
#[tokio::test]
async fn async_sends_complete() {
    let (namesrv, _a, _b, producer) = cluster().await;
    let first = producer.send_async(message("1"));
    let second = producer.send_async(message("2"));
    let (first, second) = (first.await.expect("sent"), second.await.expect("sent"));
    assert_ne!(first.msg_id, second.msg_id);
    assert_ne!(first.message_queue, second.message_queue);
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A topic the name server does not know goes out on TBW102's route, cut to 4 queues, with
/// TBW102 as the template topic in the header.
#[tokio::test]
async fn unknown_topic_is_auto_created_through_tbw102() {
    let namesrv =
        NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the name server listens");
    let topics = [(AUTO_CREATE_TOPIC_KEY_TOPIC, 8, perm::READ_WRITE | perm::INHERIT)];
    let mut broker = FakeBroker::start("broker-a", namesrv.local_addr(), &topics).await;
    let producer = Producer::start(ProducerConfig::new("pg", vec![namesrv.local_addr()]));
    let queues = producer.publish_queues("NEW").await.expect("TBW102 route");
    assert_eq!(queues.len(), 4);
    let result = producer.send(Message::new("NEW", "x")).await.expect("sent");
    assert_eq!(result.message_queue.topic, "NEW");
    let header = send_header(&broker.next_request().await);
    assert_eq!((header.b.as_str(), header.c.as_str(), header.d), ("NEW", "TBW102", 4));
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A refresh picks up a broker that registered after the route was cached.
#[tokio::test]
async fn refresh_picks_up_a_new_broker() {
    let namesrv =
        NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the name server listens");
    let topics = [(TOPIC, TOPIC_QUEUES, perm::READ_WRITE)];
    let _a = FakeBroker::start("broker-a", namesrv.local_addr(), &topics).await;
    let producer = Producer::start(ProducerConfig::new("pg", vec![namesrv.local_addr()]));
    assert_eq!(producer.publish_queues(TOPIC).await.expect("routed").len(), 4);
    let _b = FakeBroker::start("broker-b", namesrv.local_addr(), &topics).await;
    assert_eq!(producer.publish_queues(TOPIC).await.expect("cached").len(), 4);
    producer.refresh_routes().await;
    assert_eq!(producer.publish_queues(TOPIC).await.expect("refreshed").len(), 8);
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// With latency fault avoidance on, a broker that failed is avoided afterwards, even once it
/// answers again (it is isolated for 30 s).
#[tokio::test]
async fn latency_fault_avoidance_isolates_a_failed_broker() {
    let namesrv =
        NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the name server listens");
    let topics = [(TOPIC, TOPIC_QUEUES, perm::READ_WRITE)];
    let mut a = FakeBroker::start("broker-a", namesrv.local_addr(), &topics).await;
    let _b = FakeBroker::start("broker-b", namesrv.local_addr(), &topics).await;
    let config = ProducerConfig { latency_fault_enable: true, ..ProducerConfig::new("pg", vec![namesrv.local_addr()]) };
    let producer = Producer::start(config);
    a.fail.store(true, Ordering::SeqCst);
    let result = producer.send(message("x")).await.expect("sent on the retry");
    assert_eq!(result.message_queue.broker_name, "broker-b");
    a.fail.store(false, Ordering::SeqCst);
    for i in 0..8 {
        let result = producer.send(message(&format!("y{i}"))).await.expect("sent");
        assert_eq!(result.message_queue.broker_name, "broker-b", "send {i}");
    }
    assert_eq!(a.drain().len(), 1, "only the first attempt reached broker-a");
    producer.shutdown().await;
    namesrv.shutdown().await;
}

/// A broker that never answers uses up the send timeout: the send fails with `Timeout` after
/// the one attempt the time allowed.
#[tokio::test]
async fn a_silent_broker_times_the_send_out() {
    let namesrv =
        NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("the name server listens");
    let topics = [(TOPIC, TOPIC_QUEUES, perm::READ_WRITE)];
    let mut a = FakeBroker::start("broker-a", namesrv.local_addr(), &topics).await;
    a.silent.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        send_timeout: Duration::from_millis(300),
        ..ProducerConfig::new("pg", vec![namesrv.local_addr()])
    };
    let producer = Producer::start(config);
    let error = producer.send(message("x")).await.expect_err("no answer");
    assert!(matches!(error, ProducerError::Timeout { .. }), "{error:?}");
    assert_eq!(a.drain().len(), 1, "the timeout left no time for a retry");
    producer.shutdown().await;
    namesrv.shutdown().await;
}
