//! The remoting transport end to end over TCP on 127.0.0.1 (madsim's simulated TCP under
//! `--cfg madsim`): request/response, opaque matching, one-way sends, timeouts, requests from
//! server to client, dispatch by code, bad input, reconnection and the in-flight bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use petrel_core::remoting::{
    Body, CheckTransactionStateRequestHeader, EmptyHeader, NotifyConsumerIdsChangedRequestHeader, RemotingCommand,
    RequestCode, ResponseCode, SerializeType, FRAME_SIZE_MAX_BYTES,
};
use petrel_net::remoting::{
    handler_fn, ClientConfig, CloseReason, Dispatcher, RemotingClient, RemotingServer, RequestHandler, ServerConfig,
    TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

/// Long enough for anything that should succeed; tests that expect a timeout use less.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn request(code: RequestCode, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut command = RemotingCommand::request(code, &EmptyHeader);
    for (key, value) in fields {
        command.ext_fields.insert((*key).to_owned(), (*value).to_owned());
    }
    command
}

fn field<'a>(command: &'a RemotingCommand, key: &str) -> Option<&'a str> {
    command.ext_fields.get(key)
}

/// Answers SUCCESS with the request's extFields and body, plus the peer's address as `peer`.
fn echo() -> Arc<dyn RequestHandler> {
    handler_fn(|ctx, request| {
        Box::pin(async move {
            let mut response = RemotingCommand::response(ResponseCode::Success, None);
            response.ext_fields = request.ext_fields.clone();
            response.ext_fields.insert("peer", ctx.peer.to_string());
            response.body = request.body;
            Some(response)
        })
    })
}

/// Requests that arrived at a gated handler, and the gate that lets them answer.
struct Gate {
    /// One permit lets one waiting request answer.
    permits: Arc<Semaphore>,
    /// Receives `n` of each request as it arrives.
    arrivals: mpsc::UnboundedReceiver<String>,
}

/// A handler that reports each request's `n` on arrival, then answers SUCCESS (echoing `n`)
/// only once the gate gives it a permit.
fn gated() -> (Arc<dyn RequestHandler>, Gate) {
    let permits = Arc::new(Semaphore::new(0));
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let gate = permits.clone();
    let handler = handler_fn(move |_ctx, request| {
        let (gate, arrived) = (gate.clone(), arrived.clone());
        Box::pin(async move {
            let n = field(&request, "n").unwrap_or("").to_owned();
            let _ = arrived.send(n.clone());
            let _permit = gate.acquire().await.ok()?;
            let mut response = RemotingCommand::response(ResponseCode::Success, None);
            response.ext_fields.insert("n", n);
            Some(response)
        })
    });
    (handler, Gate { permits, arrivals })
}

async fn serve(handler: Arc<dyn RequestHandler>) -> RemotingServer {
    serve_with(handler, ServerConfig::default()).await
}

async fn serve_with(handler: Arc<dyn RequestHandler>, config: ServerConfig) -> RemotingServer {
    RemotingServer::bind(any_local_port(), handler, config).await.expect("bind 127.0.0.1:0")
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), None)
}

/// Waits until the server closes `stream`: true on end of stream or a reset, false if the
/// connection is still open after `CALL_TIMEOUT`.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(CALL_TIMEOUT, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!("server answered {n} bytes to a bad frame"),
        Err(_) => false,
    }
}

/// A client configured with a header format sends every request in it whatever the request was
/// built with, and the server answers in that format; without one, each goes as built. The
/// client library's defaults use the binary header.
#[tokio::test]
async fn configured_header_format_applies_to_every_request() {
    let server = serve(echo()).await;
    let built_json = || request(RequestCode::SendMessage, &[("topic", "T")]).with_serialize_type(SerializeType::Json);
    let stamped = RemotingClient::new(ClientConfig::for_clients(), None);
    assert_eq!(ClientConfig::for_clients().request_header, Some(SerializeType::RocketMq));
    let response = stamped.invoke(server.local_addr(), built_json(), CALL_TIMEOUT).await.expect("response");
    assert_eq!(response.serialize_type, SerializeType::RocketMq);
    assert_eq!(field(&response, "topic"), Some("T"));
    let response = client().invoke(server.local_addr(), built_json(), CALL_TIMEOUT).await.expect("response");
    assert_eq!(response.serialize_type, SerializeType::Json);
}

/// A request with a JSON header and one with a ROCKETMQ binary header both come back with
/// their extFields and body intact, as responses in the request's own serialize type.
#[tokio::test]
async fn round_trip_with_json_and_rocketmq_headers() {
    let server = serve(echo()).await;
    let client = client();
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let sent = request(RequestCode::SendMessage, &[("topic", "T"), ("k", "v w")])
            .with_body(Bytes::from_static(b"payload \x00\xff"))
            .with_serialize_type(serialize_type);
        let response = client.invoke(server.local_addr(), sent, CALL_TIMEOUT).await.expect("response");
        assert!(response.is_response());
        assert_eq!(response.response_code(), Some(ResponseCode::Success));
        assert_eq!(response.serialize_type, serialize_type);
        assert_eq!((field(&response, "topic"), field(&response, "k")), (Some("T"), Some("v w")));
        assert_eq!(response.body_bytes().as_deref(), Some(&b"payload \x00\xff"[..]));
    }
    assert_eq!(server.connection_count(), 1, "both calls used one connection");
    server.shutdown().await;
}

/// A response whose body is many parts (more than one vectored write takes, a few larger than
/// the reader's 64 KiB chunk, one empty) arrives as one body holding exactly the parts' bytes in
/// order, and the connection stays in step for the next call.
#[tokio::test]
async fn multi_part_body_arrives_whole() {
    let part_len = |n: usize| if n % 97 == 5 { 100_000 } else { n * 3 };
    let parts: Vec<Bytes> = (0..600).map(|n| Bytes::from(vec![(n % 251) as u8; part_len(n)])).collect();
    let joined: Vec<u8> = parts.iter().flat_map(|part| part.iter().copied()).collect();
    let handler = handler_fn(move |_ctx, request: RemotingCommand| {
        let parts = parts.clone();
        Box::pin(async move {
            let mut response = RemotingCommand::response(ResponseCode::Success, None);
            response.ext_fields = request.ext_fields;
            Some(response.with_body(Body::from_parts(parts)))
        })
    });
    let server = serve(handler).await;
    let client = client();
    for n in ["1", "2"] {
        let sent = request(RequestCode::PullMessage, &[("n", n)]);
        let response = client.invoke(server.local_addr(), sent, CALL_TIMEOUT).await.expect("response");
        assert_eq!(field(&response, "n"), Some(n));
        let body = response.body_bytes().expect("a body");
        assert_eq!(body.len(), joined.len());
        assert!(body == joined, "the body's bytes differ from the parts joined");
    }
    server.shutdown().await;
}

/// A call whose timeout is `Duration::MAX` is served: the transport cuts the timeout to
/// `CALL_TIMEOUT_MAX` instead of overflowing the (real or simulated) timer.
#[tokio::test]
async fn huge_timeouts_are_cut_not_overflowed() {
    let server = serve(echo()).await;
    let client = client();
    let addr = server.local_addr();
    let response = client.invoke(addr, request(RequestCode::HeartBeat, &[]), Duration::MAX).await.expect("served");
    assert_eq!(response.response_code(), Some(ResponseCode::Success));
    let notify = request(RequestCode::HeartBeat, &[]);
    client.invoke_oneway(addr, notify, Duration::MAX).await.expect("queued");
    server.shutdown().await;
}

/// Many concurrent requests on one connection, answered out of order, each get their own
/// response (matched by opaque), over a single connection.
#[tokio::test]
async fn concurrent_requests_on_one_connection_match_by_opaque() {
    const REQUESTS: u64 = 200;
    let handler = handler_fn(|_ctx, request| {
        Box::pin(async move {
            let n: u64 = field(&request, "n")?.parse().ok()?;
            // Later requests often finish first.
            tokio::time::sleep(Duration::from_millis((REQUESTS - n) % 17)).await;
            let mut response = RemotingCommand::response(ResponseCode::Success, None);
            response.ext_fields.insert("n", n.to_string());
            Some(response)
        })
    });
    let server = serve(handler).await;
    let client = client();
    let addr = server.local_addr();
    let mut calls = Vec::new();
    for n in 0..REQUESTS {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let sent = request(RequestCode::PullMessage, &[("n", &n.to_string())]);
            (n, client.invoke(addr, sent, CALL_TIMEOUT).await)
        }));
    }
    for call in calls {
        let (n, response) = call.await.expect("task");
        let response = response.expect("response");
        assert_eq!(field(&response, "n"), Some(n.to_string().as_str()));
    }
    assert_eq!(server.connection_count(), 1);
    server.shutdown().await;
}

/// One-way requests reach the handler with the one-way flag, get no response (even when the
/// handler returns one), and leave the connection usable for ordinary calls. (Each request is
/// handled in its own task, so handlers may run in any order: madsim's scheduler does shuffle
/// them.)
#[tokio::test]
async fn oneway_requests_reach_the_handler_without_a_response() {
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let handler = handler_fn(move |_ctx, request| {
        let seen = seen.clone();
        Box::pin(async move {
            let _ = seen.send((request.is_oneway(), field(&request, "n").map(str::to_owned)));
            Some(RemotingCommand::response(ResponseCode::Success, None))
        })
    });
    let server = serve(handler).await;
    let client = client();
    let addr = server.local_addr();
    for n in ["1", "2", "3"] {
        let sent = request(RequestCode::UpdateConsumerOffset, &[("n", n)]);
        client.invoke_oneway(addr, sent, CALL_TIMEOUT).await.expect("queued");
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(seen_rx.recv().await);
    }
    seen.sort();
    let expected: Vec<_> = ["1", "2", "3"].map(|n| Some((true, Some(n.to_owned())))).into();
    assert_eq!(seen, expected);
    let response = client
        .invoke(addr, request(RequestCode::HeartBeat, &[]), CALL_TIMEOUT)
        .await
        .expect("an ordinary call after one-way ones");
    assert_eq!(response.response_code(), Some(ResponseCode::Success));
    assert_eq!(seen_rx.recv().await, Some((false, None)));
    assert_eq!(client.channel(addr).await.expect("open").requests_in_flight(), 0);
    server.shutdown().await;
}

/// A response that does not come in time is `TransportError::Timeout` naming the opaque; the
/// waiting slot is freed and the connection keeps serving other calls.
#[tokio::test]
async fn timeout_is_a_typed_error_and_the_connection_survives() {
    let handler = handler_fn(|_ctx, request| {
        Box::pin(async move {
            if request.code == RequestCode::PullMessage.as_i32() {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Some(RemotingCommand::response(ResponseCode::Success, None))
        })
    });
    let server = serve(handler).await;
    let client = client();
    let addr = server.local_addr();
    let after = Duration::from_millis(200);
    let result = client.invoke(addr, request(RequestCode::PullMessage, &[]), after).await;
    assert!(
        matches!(result, Err(TransportError::Timeout { addr: a, opaque: Some(_), after: t }) if a == addr && t == after),
        "{result:?}"
    );
    let channel = client.channel(addr).await.expect("still open");
    assert_eq!(channel.requests_in_flight(), 0, "the timed-out request left the table");
    let response = client
        .invoke(addr, request(RequestCode::HeartBeat, &[]), CALL_TIMEOUT)
        .await
        .expect("the connection still works");
    assert_eq!(response.response_code(), Some(ResponseCode::Success));
    assert_eq!(server.connection_count(), 1);
    server.shutdown().await;
}

/// A server handler sends CHECK_TRANSACTION_STATE to the client over the request's own
/// connection and gets the client handler's answer, and sends NOTIFY_CONSUMER_IDS_CHANGED one-way,
/// which the client handler receives.
#[tokio::test]
async fn server_initiated_requests_reach_the_client_handler() {
    let server_handler = handler_fn(|ctx, _heartbeat| {
        Box::pin(async move {
            let check = CheckTransactionStateRequestHeader {
                commit_log_offset: 4096,
                transaction_id: Some("tx-1".into()),
                ..Default::default()
            };
            let check = RemotingCommand::request(RequestCode::CheckTransactionState, &check);
            let answer = ctx.channel.invoke(check, CALL_TIMEOUT).await.ok()?;
            let notify = NotifyConsumerIdsChangedRequestHeader { consumer_group: "G".into() };
            let notify = RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged, &notify);
            ctx.channel.invoke_oneway(notify, CALL_TIMEOUT).await.ok()?;
            Some(RemotingCommand::response(ResponseCode::Success, answer.remark))
        })
    });
    let (notified, mut notified_rx) = mpsc::unbounded_channel();
    let check_handler = handler_fn(|_ctx, check| {
        Box::pin(async move {
            let header: CheckTransactionStateRequestHeader = check.read_header().ok()?;
            let remark = format!("commit {:?} at {}", header.transaction_id, header.commit_log_offset);
            Some(RemotingCommand::response(ResponseCode::TransactionShouldCommit, Some(remark)))
        })
    });
    let notify_handler = handler_fn(move |_ctx, notify| {
        let notified = notified.clone();
        Box::pin(async move {
            let _ = notified.send(field(&notify, "consumerGroup").map(str::to_owned));
            None
        })
    });
    let client_handler = Dispatcher::new()
        .route(RequestCode::CheckTransactionState, check_handler)
        .route(RequestCode::NotifyConsumerIdsChanged, notify_handler);
    let server = serve(server_handler).await;
    let client = RemotingClient::new(ClientConfig::default(), Some(Arc::new(client_handler)));
    let response = client
        .invoke(server.local_addr(), request(RequestCode::HeartBeat, &[]), CALL_TIMEOUT)
        .await
        .expect("heartbeat answered");
    assert_eq!(response.response_code(), Some(ResponseCode::Success));
    assert_eq!(response.remark.as_deref(), Some("commit Some(\"tx-1\") at 4096"));
    assert_eq!(notified_rx.recv().await, Some(Some("G".to_owned())));
    server.shutdown().await;
}

/// The `Dispatcher` answers a code it has no handler for (unknown to Petrel, or known but not
/// routed) with REQUEST_CODE_NOT_SUPPORTED and a remark naming the code, and routes the rest.
#[tokio::test]
async fn unknown_code_is_answered_request_code_not_supported() {
    let server = serve(Arc::new(Dispatcher::new().route(RequestCode::SendMessage, echo()))).await;
    let client = client();
    let addr = server.local_addr();
    let mut unknown = request(RequestCode::SendMessage, &[]);
    unknown.code = 9999;
    for (sent, named) in [(unknown, "9999"), (request(RequestCode::PullMessage, &[]), "PULL_MESSAGE(11)")] {
        let response = client.invoke(addr, sent, CALL_TIMEOUT).await.expect("answered");
        assert_eq!(response.response_code(), Some(ResponseCode::RequestCodeNotSupported));
        let remark = response.remark.unwrap_or_default();
        assert!(remark.contains(named) && remark.contains("not supported"), "{remark}");
    }
    let routed =
        client.invoke(addr, request(RequestCode::SendMessage, &[("k", "v")]), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(field(&routed, "k"), Some("v"));
    server.shutdown().await;
}

/// A malformed frame and an oversized length prefix, each on a raw socket, get that socket
/// closed by the server, while a client on another connection keeps being served.
#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let server = serve(echo()).await;
    let addr = server.local_addr();
    let client = client();
    let ping = || request(RequestCode::HeartBeat, &[]);
    client.invoke(addr, ping(), CALL_TIMEOUT).await.expect("served before");

    let header = b"{not json";
    let mut malformed = Vec::new();
    malformed.extend_from_slice(&(4 + header.len() as i32).to_be_bytes());
    malformed.extend_from_slice(&(header.len() as u32).to_be_bytes()); // JSON header
    malformed.extend_from_slice(header);
    let oversized = ((FRAME_SIZE_MAX_BYTES - 4 + 1) as i32).to_be_bytes().to_vec();
    for bad in [malformed, oversized] {
        let mut raw = TcpStream::connect(addr).await.expect("raw connect");
        raw.write_all(&bad).await.expect("write");
        raw.flush().await.expect("flush");
        assert!(closed_by_peer(&mut raw).await, "server closed the bad connection");
        let response = client.invoke(addr, ping(), CALL_TIMEOUT).await.expect("served after");
        assert_eq!(response.response_code(), Some(ResponseCode::Success));
    }
    assert_eq!(server.connection_count(), 1, "only the good client's connection is left");
    server.shutdown().await;
}

/// After the server restarts on the same address, a call while it is down fails with a typed
/// connection error (not a timeout), and the next call reconnects on a new connection.
#[tokio::test]
async fn client_reconnects_after_server_restart() {
    let server = serve(echo()).await;
    let addr = server.local_addr();
    let client = client();
    let ping = || request(RequestCode::HeartBeat, &[]);
    client.invoke(addr, ping(), CALL_TIMEOUT).await.expect("served");
    let before = client.channel(addr).await.expect("open").id();
    server.shutdown().await;

    let while_down = client.invoke(addr, ping(), CALL_TIMEOUT).await;
    assert!(
        matches!(while_down, Err(TransportError::Connect { .. } | TransportError::ConnectionClosed { .. })),
        "{while_down:?}"
    );
    let server =
        RemotingServer::bind(addr, echo(), ServerConfig::default()).await.expect("bind the same address again");
    client.invoke(addr, ping(), CALL_TIMEOUT).await.expect("reconnected");
    let after = client.channel(addr).await.expect("open").id();
    assert!(after > before, "a new connection: {before} then {after}");
    server.shutdown().await;
}

/// Requests waiting on a connection that dies fail at once with `ConnectionClosed`, long before
/// their timeout.
#[tokio::test]
async fn pending_requests_fail_at_once_when_the_connection_dies() {
    let (handler, mut gate) = gated();
    let server = serve(handler).await;
    let client = client();
    let addr = server.local_addr();
    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            let sent = request(RequestCode::PullMessage, &[("n", "1")]);
            client.invoke(addr, sent, Duration::from_secs(600)).await
        })
    };
    assert_eq!(gate.arrivals.recv().await.as_deref(), Some("1"));
    server.shutdown().await;
    let result =
        tokio::time::timeout(CALL_TIMEOUT, call).await.expect("failed well before its 600 s timeout").expect("task");
    assert!(
        matches!(
            result,
            Err(TransportError::ConnectionClosed {
                reason: CloseReason::PeerClosed | CloseReason::ReadFailed { .. },
                ..
            })
        ),
        "{result:?}"
    );
}

/// With `outbound_in_flight_max` requests waiting on a connection, one more call fails at once
/// with `Busy`; once they are answered, calls go through again.
#[tokio::test]
async fn outbound_in_flight_bound_gives_busy() {
    let (handler, mut gate) = gated();
    let server = serve(handler).await;
    let addr = server.local_addr();
    let mut config = ClientConfig::default();
    config.connection.outbound_in_flight_max = 2;
    let client = RemotingClient::new(config, None);
    let mut calls = Vec::new();
    for n in ["1", "2"] {
        let client = client.clone();
        let sent = request(RequestCode::PullMessage, &[("n", n)]);
        calls.push(tokio::spawn(async move { client.invoke(addr, sent, CALL_TIMEOUT).await }));
    }
    let mut arrived = vec![gate.arrivals.recv().await, gate.arrivals.recv().await];
    arrived.sort();
    assert_eq!(arrived, vec![Some("1".to_owned()), Some("2".to_owned())]);
    let third = client.invoke(addr, request(RequestCode::PullMessage, &[]), CALL_TIMEOUT).await;
    assert!(matches!(third, Err(TransportError::Busy { in_flight_max: 2, .. })), "{third:?}");
    gate.permits.add_permits(3);
    for call in calls {
        call.await.expect("task").expect("answered once the gate opened");
    }
    let fourth = client.invoke(addr, request(RequestCode::PullMessage, &[]), CALL_TIMEOUT).await;
    assert!(fourth.is_ok(), "{fourth:?}");
    server.shutdown().await;
}

/// With `inbound_in_flight_max` requests being handled on a connection, the server answers one
/// more with SYSTEM_BUSY instead of starting its handler.
#[tokio::test]
async fn inbound_in_flight_bound_answers_system_busy() {
    let (handler, mut gate) = gated();
    let mut config = ServerConfig::default();
    config.connection.inbound_in_flight_max = 1;
    let server = serve_with(handler, config).await;
    let addr = server.local_addr();
    let client = client();
    let first = {
        let client = client.clone();
        let sent = request(RequestCode::PullMessage, &[("n", "1")]);
        tokio::spawn(async move { client.invoke(addr, sent, CALL_TIMEOUT).await })
    };
    assert_eq!(gate.arrivals.recv().await.as_deref(), Some("1"));
    let second =
        client.invoke(addr, request(RequestCode::PullMessage, &[("n", "2")]), CALL_TIMEOUT).await.expect("answered");
    assert_eq!(second.response_code(), Some(ResponseCode::SystemBusy));
    gate.permits.add_permits(1);
    let first = first.await.expect("task").expect("answered");
    assert_eq!(field(&first, "n"), Some("1"));
    assert!(gate.arrivals.try_recv().is_err(), "the busy request never reached the handler");
    server.shutdown().await;
}

/// A call to an address where nothing listens fails with `TransportError::Connect`.
///
/// Real sockets only: on one madsim node, a client's outgoing connection binds the lowest free
/// port on 0.0.0.0, which is the port the server just released, and madsim then routes the
/// connect to that very socket: the call fails as `ConnectionClosed` instead. (Nodes of a
/// simulated cluster have their own addresses; the restart test covers the madsim case.)
#[cfg(not(madsim))]
#[tokio::test]
async fn connecting_to_a_closed_port_is_a_connect_error() {
    let server = serve(echo()).await;
    let addr = server.local_addr();
    server.shutdown().await;
    let result = client().invoke(addr, request(RequestCode::HeartBeat, &[]), CALL_TIMEOUT).await;
    assert!(matches!(result, Err(TransportError::Connect { addr: a, .. }) if a == addr), "{result:?}");
}
