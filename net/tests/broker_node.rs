//! `BrokerNode` in process with a `NamesrvNode`, over TCP on 127.0.0.1 and a simulated disk
//! (madsim's simulated TCP and clock under `--cfg madsim`): registration, send and pull,
//! long polling, consumer groups and their notifications, offsets across a restart,
//! SYNC_FLUSH under concurrency, and the send queue bound.

mod broker_requests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker_requests::{
    heartbeat_request, pull, pull_all, pull_request, pulled, query_offset, routed, send, unregister_client_request,
    update_offset_request, CALL_TIMEOUT,
};
use petrel_core::message::record::decode_records;
use petrel_core::protocol::heartbeat::ConsumerListByGroupResponseBody;
use petrel_core::protocol::JsonBody;
use petrel_core::remoting::{
    GetConsumerListByGroupRequestHeader, RemotingCommand, RequestCode, ResponseCode, ViewMessageRequestHeader,
};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::{FlushMode, StoreConfig};
use petrel_net::broker::{BrokerNode, BrokerNodeConfig};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::{handler_fn, ClientConfig, RemotingClient};
use petrel_sim::disk::SimDisk;

/// Bound on polls for an effect that follows asynchronously (a registration, a notification).
const POLLS_MAX: u32 = 500;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), None)
}

fn broker_config(namesrv: Option<SocketAddr>, flush_mode: FlushMode) -> BrokerNodeConfig {
    let mut config = BrokerNodeConfig::new(any_local_port(), namesrv.into_iter().collect());
    config.store = StoreConfig { flush_mode, ..StoreConfig::small_for_tests() };
    config
}

fn async_flush() -> FlushMode {
    StoreConfig::default().flush_mode
}

async fn start_broker(config: BrokerNodeConfig, disk: &SimDisk) -> BrokerNode {
    let disk: DiskRef = Arc::new(disk.clone());
    BrokerNode::start(config, disk).await.expect("the broker starts")
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

/// The broker registers with the name server, and a topic that a send auto-creates becomes
/// routable there; 100 messages sent to one queue are pulled back in order with the right
/// nextBeginOffset.
#[tokio::test]
async fn send_then_pull_in_order_and_topic_routed() {
    let namesrv = NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("namesrv");
    let disk = SimDisk::with_seed(1);
    let broker = start_broker(broker_config(Some(namesrv.local_addr()), async_flush()), &disk).await;
    let (tools, addr) = (client(), broker.local_addr());
    for i in 0..100_i64 {
        let (code, offset) = send(&tools, addr, "Orders", 1, format!("m{i}").as_bytes()).await;
        assert_eq!((code, offset), (ResponseCode::Success.as_i32(), Some(i)));
    }
    assert!(eventually(|| routed(&tools, namesrv.local_addr(), "Orders")).await, "route appears");

    let first = pull(&tools, addr, "Orders", 1, 0).await;
    assert_eq!(first.code, ResponseCode::Success.as_i32());
    assert_eq!(first.next_begin_offset, first.messages.len() as i64);
    let all = pull_all(&tools, addr, "Orders", 1).await;
    let bodies: Vec<String> = all.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    assert!(all.iter().enumerate().all(|(i, m)| m.queue_offset == i as i64));
    let past_end = pull(&tools, addr, "Orders", 1, 100).await;
    assert_eq!(past_end.code, ResponseCode::PullNotFound.as_i32());
    broker.shutdown().await.expect("clean shutdown");
    namesrv.shutdown().await;
}

/// A held pull (SUSPEND, 5 s) is answered with the message as soon as it arrives, well before
/// its deadline; a held pull that nothing wakes answers PULL_NOT_FOUND at its deadline.
#[tokio::test]
async fn long_polling_wakes_on_arrival_and_expires_at_deadline() {
    let disk = SimDisk::with_seed(2);
    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let (tools, addr) = (client(), broker.local_addr());
    assert_eq!(send(&tools, addr, "Poll", 0, b"first").await.0, ResponseCode::Success.as_i32());

    let waiter = tools.clone();
    let held = tokio::spawn(async move {
        let request = pull_request("Poll", 0, 1, Some(5_000));
        waiter.invoke(addr, request, CALL_TIMEOUT).await
    });
    assert!(eventually(|| std::future::ready(broker.held_pulls() == 1)).await, "the pull is held");
    assert_eq!(send(&tools, addr, "Poll", 0, b"second").await.0, ResponseCode::Success.as_i32());
    // Well within the 5 s hold: only the arrival can have answered it (virtual time under madsim).
    let answer = tokio::time::timeout(Duration::from_secs(2), held).await;
    let response = answer.expect("answered before the deadline").expect("task").expect("response");
    let woken = pulled(&response);
    assert_eq!(woken.code, ResponseCode::Success.as_i32());
    assert_eq!(woken.messages[0].body.as_ref(), b"second");
    assert_eq!(woken.next_begin_offset, 2);

    let request = pull_request("Poll", 0, 2, Some(200));
    let response = tools.invoke(addr, request, CALL_TIMEOUT).await.expect("answered");
    assert_eq!(pulled(&response).code, ResponseCode::PullNotFound.as_i32());
    assert_eq!(broker.held_pulls(), 0);
    broker.shutdown().await.expect("clean shutdown");
}

/// A pull answered with many records (each a body part the broker writes without copying them
/// together) arrives intact: its body is byte for byte the stored records in queue order, each
/// as VIEW_MESSAGE_BY_ID returns it.
#[tokio::test]
async fn pull_body_of_many_records_arrives_intact() {
    let disk = SimDisk::with_seed(8);
    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let (tools, addr) = (client(), broker.local_addr());
    for n in 0..24_usize {
        let body = vec![b'a' + (n % 26) as u8; 1 + n * 500];
        assert_eq!(send(&tools, addr, "Parts", 0, &body).await.0, ResponseCode::Success.as_i32());
    }
    let response = tools.invoke(addr, pull_request("Parts", 0, 0, None), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    let body = response.body_bytes().expect("records");
    let messages = decode_records(body.clone()).expect("the pull body decodes");
    assert_eq!(messages.len(), 24, "one pull of records spread over several CommitLog files");
    let mut stored = Vec::new();
    for (n, message) in messages.iter().enumerate() {
        assert_eq!((message.queue_offset, message.body.len()), (n as i64, 1 + n * 500));
        let view = ViewMessageRequestHeader { offset: message.commit_log_offset };
        let request = RemotingCommand::request(RequestCode::ViewMessageById, &view);
        let record = tools.invoke(addr, request, CALL_TIMEOUT).await.expect("answered");
        stored.extend_from_slice(&record.body_bytes().expect("the record"));
    }
    assert!(body == stored, "the pull body differs from the stored records");
    broker.shutdown().await.expect("clean shutdown");
}

/// A consumer client that records the NOTIFY_CONSUMER_IDS_CHANGED requests it gets.
fn recording_consumer() -> (RemotingClient, Arc<Mutex<Vec<i32>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let handler = handler_fn(move |_ctx, request: RemotingCommand| {
        recorder.lock().expect("not poisoned").push(request.code);
        Box::pin(std::future::ready(None))
    });
    (RemotingClient::new(ClientConfig::default(), Some(handler)), seen)
}

async fn consumer_ids(tools: &RemotingClient, addr: SocketAddr) -> Vec<String> {
    let header = GetConsumerListByGroupRequestHeader { consumer_group: "G".into() };
    let request = RemotingCommand::request(RequestCode::GetConsumerListByGroup, &header);
    let response = tools.invoke(addr, request, CALL_TIMEOUT).await.expect("answered");
    let Some(body) = response.body_bytes() else {
        return Vec::new();
    };
    ConsumerListByGroupResponseBody::decode_json(&body).expect("list body").consumer_id_list
}

/// Two consumers heartbeat into one group and are both listed; when one unregisters, the
/// other is told NOTIFY_CONSUMER_IDS_CHANGED and the list shrinks to it.
#[tokio::test]
async fn group_membership_and_notification() {
    let disk = SimDisk::with_seed(3);
    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let addr = broker.local_addr();
    let (stays, notified) = recording_consumer();
    let (leaves, _) = recording_consumer();
    for (consumer, id) in [(&stays, "c1"), (&leaves, "c2")] {
        let response = consumer.invoke(addr, heartbeat_request(id, "G"), CALL_TIMEOUT).await.expect("answered");
        assert_eq!(response.code, ResponseCode::Success.as_i32());
    }
    let tools = client();
    assert_eq!(consumer_ids(&tools, addr).await, ["c1", "c2"]);
    // The second join notified the first member; wait for it, then forget it.
    let notify = RequestCode::NotifyConsumerIdsChanged.as_i32();
    assert!(eventually(|| std::future::ready(notified.lock().expect("lock").contains(&notify))).await);
    notified.lock().expect("lock").clear();

    let response = leaves.invoke(addr, unregister_client_request("c2", "G"), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    assert!(
        eventually(|| std::future::ready(notified.lock().expect("lock").contains(&notify))).await,
        "the remaining member is notified"
    );
    assert_eq!(consumer_ids(&tools, addr).await, ["c1"]);
    broker.shutdown().await.expect("clean shutdown");
}

/// A committed consumer offset survives a clean restart on the same disk, and so do the
/// messages and the auto-created topic.
#[tokio::test]
async fn offsets_and_messages_survive_restart() {
    let disk = SimDisk::with_seed(4);
    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let (tools, addr) = (client(), broker.local_addr());
    assert_eq!(send(&tools, addr, "Kept", 0, b"x").await.0, ResponseCode::Success.as_i32());
    let response = tools.invoke(addr, update_offset_request("G", "Kept", 0, 1), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    assert_eq!(query_offset(&tools, addr, "G", "Kept", 0).await, Some(1));
    broker.shutdown().await.expect("clean shutdown");

    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let addr = broker.local_addr();
    assert_eq!(query_offset(&tools, addr, "G", "Kept", 0).await, Some(1));
    let kept = pull_all(&tools, addr, "Kept", 0).await;
    assert_eq!(kept.len(), 1);
    broker.shutdown().await.expect("clean shutdown");
}

/// Under SYNC_FLUSH, 16 concurrent senders all get SUCCESS and every message is pullable.
#[tokio::test]
async fn sync_flush_concurrent_senders_succeed() {
    let disk = SimDisk::with_seed(5);
    let broker = start_broker(broker_config(None, FlushMode::Sync), &disk).await;
    let addr = broker.local_addr();
    let senders: Vec<_> = (0..16)
        .map(|i| {
            let producer = client();
            tokio::spawn(async move { send(&producer, addr, "Sync", 0, format!("s{i}").as_bytes()).await.0 })
        })
        .collect();
    for sender in senders {
        assert_eq!(sender.await.expect("task"), ResponseCode::Success.as_i32());
    }
    assert_eq!(pull_all(&client(), addr, "Sync", 0).await.len(), 16);
    broker.shutdown().await.expect("clean shutdown");
}

/// With a send queue of 2 and 64 concurrent sends, some are refused SYSTEM_BUSY, nothing
/// else fails, and exactly the sends answered SUCCESS are pullable.
#[tokio::test]
async fn send_queue_bound_refuses_busy_and_loses_nothing() {
    let disk = SimDisk::with_seed(6);
    let mut config = broker_config(None, FlushMode::Sync);
    config.broker.send_queue_capacity = 2;
    let broker = start_broker(config, &disk).await;
    let (producer, addr) = (client(), broker.local_addr());
    let sends: Vec<_> = (0..64)
        .map(|i| {
            let producer = producer.clone();
            tokio::spawn(async move { (i, send(&producer, addr, "Busy", 0, format!("b{i}").as_bytes()).await.0) })
        })
        .collect();
    let mut acked = Vec::new();
    let mut busy = 0;
    for task in sends {
        let (i, code) = task.await.expect("task");
        match ResponseCode::from_i32(code) {
            Some(ResponseCode::Success) => acked.push(format!("b{i}")),
            Some(ResponseCode::SystemBusy) => busy += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(busy > 0, "a tiny send queue refuses some of 64 concurrent sends");
    let mut stored: Vec<String> = pull_all(&client(), addr, "Busy", 0)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    stored.sort();
    acked.sort();
    assert_eq!(stored, acked, "every acknowledged send is stored, and only those");
    broker.shutdown().await.expect("clean shutdown");
}

/// A consumer group's heartbeat creates its `%RETRY%` topic (one queue) and the broker
/// registers it, as a Java broker does: clients look that route up (found by the JS-client
/// compatibility run, `reports/compat-js-client.md`).
#[tokio::test]
async fn heartbeat_creates_and_registers_the_retry_topic() {
    let namesrv = NamesrvNode::start(any_local_port(), NamesrvConfig::default()).await.expect("namesrv");
    let disk = SimDisk::with_seed(8);
    let broker = start_broker(broker_config(Some(namesrv.local_addr()), async_flush()), &disk).await;
    let tools = client();
    let response =
        tools.invoke(broker.local_addr(), heartbeat_request("c1", "GroupR"), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    assert!(
        eventually(|| routed(&tools, namesrv.local_addr(), "%RETRY%GroupR")).await,
        "the retry topic's route appears"
    );
    broker.shutdown().await.expect("clean shutdown");
}

/// A held pull whose requester disconnects is dropped at once, not at its deadline (found in
/// review: orphaned holds could fill the table).
#[tokio::test]
async fn a_held_pull_is_released_when_its_connection_closes() {
    let disk = SimDisk::with_seed(9);
    let broker = start_broker(broker_config(None, async_flush()), &disk).await;
    let (tools, addr) = (client(), broker.local_addr());
    assert_eq!(send(&tools, addr, "Gone", 0, b"first").await.0, ResponseCode::Success.as_i32());
    let waiter = client();
    let held_by = waiter.clone();
    let pending = tokio::spawn(async move {
        let request = pull_request("Gone", 0, 1, Some(60_000));
        held_by.invoke(addr, request, CALL_TIMEOUT).await
    });
    assert!(eventually(|| std::future::ready(broker.held_pulls() == 1)).await, "the pull is held");
    waiter.close_all().await;
    // Well within the 60 s hold (virtual time under madsim): only the disconnect can free it.
    assert!(eventually(|| std::future::ready(broker.held_pulls() == 0)).await, "the hold is released");
    let _ = pending.await;
    broker.shutdown().await.expect("clean shutdown");
}
