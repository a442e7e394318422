//! A `PushConsumer` against a scripted broker (a `RemotingServer`) and a real `NamesrvNode`,
//! over TCP on 127.0.0.1 (madsim's simulated TCP under `--cfg madsim`): when the broker answers
//! PULL_OFFSET_MOVED while messages of the old range are still being consumed, the consumer
//! neither commits past them nor jumps; it waits until they are done, then moves to the
//! broker's offset.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use petrel_core::message::record::encode_record;
use petrel_core::message::{MessageExt, MessageToStore, Properties};
use petrel_core::protocol::heartbeat::ConsumerListByGroupResponseBody;
use petrel_core::protocol::{
    perm, DataVersion, JsonBody, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper, MASTER_ID,
};
use petrel_core::remoting::{
    PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetResponseHeader,
    RegisterBrokerRequestHeader, RemotingCommand, RequestCode, ResponseCode, UpdateConsumerOffsetRequestHeader,
};
use petrel_net::client::{ConsumeResult, ConsumerConfig, MessageListener, MessageQueue, PushConsumer};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{handler_fn, ClientConfig, RemotingClient, RemotingServer, ServerConfig};
use tokio::sync::{mpsc, Semaphore};

/// The topic the scripted broker serves, with one queue.
const TOPIC: &str = "T";
/// The scripted broker's name.
const BROKER: &str = "broker-a";
/// The group's committed offset when the consumer starts: the first message it gets.
const START_OFFSET: i64 = 10;
/// Messages the first pull returns, at `START_OFFSET..START_OFFSET + COUNT`.
const COUNT: i64 = 5;
/// Where the broker says the queue now starts, once asked past the first messages.
const MOVED_OFFSET: i64 = 100;
/// Bound on waiting for anything the test expects.
const WAIT_MAX: Duration = Duration::from_secs(10);
/// Bound on the pulls the test reads while waiting for the consumer to move.
const PULLS_MAX: usize = 10_000;
/// The consumer's id: the scripted broker lists it as the group's only member.
const INSTANCE: &str = "moved";

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// One pulled record at `queue_offset`, in the store's layout.
fn record(queue_offset: i64) -> Vec<u8> {
    let host = any_local_port();
    let message = MessageToStore {
        topic: TOPIC.to_owned(),
        queue_id: 0,
        flag: 0,
        body: Bytes::from(format!("m{queue_offset}")),
        properties: Properties::new(),
        sys_flag: 0,
        born_timestamp: 1,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    };
    let mut out = Vec::new();
    encode_record(&message, queue_offset, queue_offset * 1_000, 2, &mut out).expect("encodes");
    out
}

fn pull_response(code: ResponseCode, next_begin_offset: i64, min_offset: i64, max_offset: i64) -> RemotingCommand {
    let mut response = RemotingCommand::response(code, None);
    response.write_header(&PullMessageResponseHeader {
        suggest_which_broker_id: MASTER_ID,
        next_begin_offset,
        min_offset,
        max_offset,
    });
    response
}

/// The scripted pull answers: the first messages at `START_OFFSET`, PULL_OFFSET_MOVED to
/// `MOVED_OFFSET` right after them, and no answer at `MOVED_OFFSET` (a long poll that waits).
fn answer_pull(offset: i64) -> Option<RemotingCommand> {
    let end = START_OFFSET + COUNT;
    match offset {
        START_OFFSET => {
            let body: Vec<u8> = (START_OFFSET..end).flat_map(record).collect();
            Some(pull_response(ResponseCode::Success, end, 0, end).with_body(Bytes::from(body)))
        }
        o if o == end => Some(pull_response(ResponseCode::PullOffsetMoved, MOVED_OFFSET, MOVED_OFFSET, MOVED_OFFSET)),
        _ => None,
    }
}

/// What the scripted broker saw.
#[derive(Default)]
struct Seen {
    /// Every offset the group committed to it (UPDATE_CONSUMER_OFFSET, or a pull's
    /// commitOffset), in arrival order.
    commits: Vec<i64>,
}

/// A broker that serves one queue by script and reports each pull's offset to the test.
async fn scripted_broker(
    namesrv: SocketAddr,
) -> (RemotingServer, RemotingClient, mpsc::UnboundedReceiver<i64>, Arc<Mutex<Seen>>) {
    let (pulls, pulled) = mpsc::unbounded_channel();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record_seen = seen.clone();
    let handler = handler_fn(move |_ctx, request: RemotingCommand| {
        let answer = match request.request_code() {
            Some(RequestCode::PullMessage) => {
                let header: PullMessageRequestHeader = request.read_header().expect("a pull header");
                if header.sys_flag & petrel_core::broker::pull::PULL_SYS_FLAG_COMMIT_OFFSET != 0 {
                    record_seen.lock().expect("unpoisoned").commits.push(header.commit_offset);
                }
                let _ = pulls.send(header.queue_offset);
                answer_pull(header.queue_offset)
            }
            Some(RequestCode::UpdateConsumerOffset) => {
                let header: UpdateConsumerOffsetRequestHeader = request.read_header().expect("a commit header");
                record_seen.lock().expect("unpoisoned").commits.push(header.commit_offset);
                Some(RemotingCommand::response(ResponseCode::Success, None))
            }
            Some(RequestCode::QueryConsumerOffset) => {
                let mut response = RemotingCommand::response(ResponseCode::Success, None);
                response.write_header(&QueryConsumerOffsetResponseHeader { offset: START_OFFSET });
                Some(response)
            }
            Some(RequestCode::GetConsumerListByGroup) => {
                let ids = ConsumerListByGroupResponseBody { consumer_id_list: vec![format!("127.0.0.1@{INSTANCE}")] };
                Some(RemotingCommand::response(ResponseCode::Success, None).with_body(ids.encode_json()))
            }
            _ => Some(RemotingCommand::response(ResponseCode::Success, None)),
        };
        Box::pin(async move { answer })
    });
    let server = RemotingServer::bind(any_local_port(), handler, ServerConfig::default()).await.expect("listens");
    let registrar = RemotingClient::new(ClientConfig::default(), None);
    let request = register_request(server.local_addr());
    let response = registrar.invoke(namesrv, request, WAIT_MAX).await.expect("the name server answers");
    assert_eq!(response.response_code(), Some(ResponseCode::Success));
    (server, registrar, pulled, seen)
}

/// REGISTER_BROKER of the scripted broker as the master of `TOPIC` with one queue.
fn register_request(addr: SocketAddr) -> RemotingCommand {
    let topic = TopicConfig { perm: perm::READ_WRITE, ..TopicConfig::new(TOPIC, 1) };
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: BTreeMap::from([(TOPIC.to_owned(), topic)]),
            data_version: DataVersion { timestamp: 1, counter: 1 },
        },
        filter_server_list: Vec::new(),
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: BROKER.into(),
        broker_addr: addr.to_string(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: addr.to_string(),
        broker_id: MASTER_ID,
        compressed: false,
        body_crc32: None,
    };
    RemotingCommand::request(RequestCode::RegisterBroker, &header).with_body(body.encode_json())
}

/// A listener that reports each batch's offsets, then holds it until the gate gives a permit.
struct GatedListener {
    /// Receives each batch's queue offsets as the listener is called.
    calls: mpsc::UnboundedSender<Vec<i64>>,
    /// One permit lets one held batch finish.
    gate: Arc<Semaphore>,
}

impl MessageListener for GatedListener {
    fn consume(
        &self,
        msgs: Arc<[MessageExt]>,
        _queue: &MessageQueue,
    ) -> Pin<Box<dyn Future<Output = ConsumeResult> + Send>> {
        let _ = self.calls.send(msgs.iter().map(|m| m.queue_offset).collect());
        let gate = self.gate.clone();
        Box::pin(async move {
            match gate.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => return ConsumeResult::Later,
            }
            ConsumeResult::Success
        })
    }
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    let received = tokio::time::timeout(WAIT_MAX, receiver.recv()).await;
    received.unwrap_or_else(|_| panic!("no {what} in time")).unwrap_or_else(|| panic!("{what}: sender gone"))
}

/// PULL_OFFSET_MOVED while the pulled messages are in the listener: the consumer asks again
/// at the same offset instead of jumping, its offset to commit stays at the first message in
/// flight, and nothing past it reaches the broker; once the messages are consumed it commits
/// them and moves to the broker's offset.
#[tokio::test]
async fn offset_moved_waits_for_messages_in_flight() {
    let namesrv = NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("name server");
    let (broker, registrar, mut pulls, seen) = scripted_broker(namesrv.local_addr()).await;
    let (calls_sender, mut calls) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let listener = Arc::new(GatedListener { calls: calls_sender, gate: gate.clone() });
    let mut config = ConsumerConfig::new("G", vec![namesrv.local_addr()], INSTANCE).subscribe(TOPIC, "*");
    config.consume_batch_size = COUNT as usize;
    config.pull_error_pause = Duration::from_millis(5);
    config.offset_persist_interval = Duration::from_millis(5);
    let consumer = PushConsumer::start(config, listener).await;
    let queue = MessageQueue::new(TOPIC, BROKER, 0);

    let end = START_OFFSET + COUNT;
    assert_eq!(next(&mut pulls, "first pull").await, START_OFFSET);
    assert_eq!(next(&mut calls, "listener call").await, (START_OFFSET..end).collect::<Vec<_>>());
    assert_eq!(next(&mut pulls, "pull past the messages").await, end, "answered PULL_OFFSET_MOVED");
    // The pull after the move's answer shows the consumer has taken that answer.
    let after_move = next(&mut pulls, "pull after the move").await;
    assert_eq!(consumer.offsets(), vec![(queue.clone(), START_OFFSET)], "the commit stays at the first in flight");
    assert_eq!(after_move, end, "asks again instead of jumping");
    assert_eq!(next(&mut pulls, "another pull").await, end, "keeps asking while messages are in flight");
    assert_eq!(consumer.offsets(), vec![(queue.clone(), START_OFFSET)]);
    let early = seen.lock().expect("unpoisoned").commits.clone();
    assert!(early.iter().all(|&offset| offset <= START_OFFSET), "committed past messages in flight: {early:?}");

    gate.add_permits(1);
    let mut moved = false;
    for _ in 0..PULLS_MAX {
        let offset = next(&mut pulls, "the pull that follows the move").await;
        if offset == MOVED_OFFSET {
            moved = true;
            break;
        }
        assert_eq!(offset, end, "nothing else is pulled before the move");
    }
    assert!(moved, "the consumer moved to the broker's offset once its messages were consumed");
    assert_eq!(consumer.offsets(), vec![(queue, MOVED_OFFSET)]);
    consumer.shutdown().await;
    let commits = seen.lock().expect("unpoisoned").commits.clone();
    let allowed = [START_OFFSET, end, MOVED_OFFSET];
    assert!(commits.iter().all(|offset| allowed.contains(offset)), "unexpected commits: {commits:?}");
    assert_eq!(commits.last(), Some(&MOVED_OFFSET));
    assert!(calls.try_recv().is_err(), "the messages were consumed once");
    drop(registrar);
    broker.shutdown().await;
    namesrv.shutdown().await;
}
