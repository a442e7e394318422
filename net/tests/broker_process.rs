//! The `petrel namesrv` and `petrel broker` binaries as real processes on 127.0.0.1 with the
//! store in a temporary directory: a message sent through them is pulled back, a SYNC_FLUSH
//! broker killed with SIGKILL under load still has every message it acknowledged after a
//! restart on the same directory, SIGTERM exits with status 0, and a bad configuration exits
//! with status 2 naming the file.
//!
//! Real processes and sockets only, so not built under `--cfg madsim`.
#![cfg(not(madsim))]

mod broker_requests;
mod process;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use broker_requests::{pull_all, routed, send, send_request, CALL_TIMEOUT};
use petrel_core::remoting::ResponseCode;
use petrel_net::remoting::{ClientConfig, RemotingClient};
use process::Petrel;

/// Bound on polls for a route to appear.
const POLLS_MAX: u32 = 200;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Concurrent producers during the kill test.
const PRODUCERS: usize = 8;
/// Acknowledged sends after which the broker is killed.
const ACKS_BEFORE_KILL: usize = 300;

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), None)
}

fn broker(store_dir: &str, namesrv: SocketAddr, flush: &str) -> Petrel {
    let namesrv = namesrv.to_string();
    Petrel::start(
        "broker",
        &["--store-dir", store_dir, "--listen", "127.0.0.1:0", "--namesrv", &namesrv, "--flush", flush],
    )
}

/// A message sent through the real broker is routed at the real name server and pulled back;
/// SIGTERM stops both with exit status 0.
#[tokio::test]
async fn send_and_pull_through_real_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().to_str().expect("UTF-8 path");
    let mut namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let mut broker = broker(store, namesrv.addr, "async");
    let client = client();
    assert_eq!(send(&client, broker.addr, "Real", 0, b"hello").await.0, ResponseCode::Success.as_i32());
    let pulled = pull_all(&client, broker.addr, "Real", 0).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].body.as_ref(), b"hello");
    let mut route_seen = false;
    for _ in 0..POLLS_MAX {
        route_seen = routed(&client, namesrv.addr, "Real").await;
        if route_seen {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert!(route_seen, "the auto-created topic is routed at the name server");
    broker.terminate();
    assert_eq!(broker.exit_status().await.map(|s| s.code()), Some(Some(0)));
    namesrv.terminate();
    assert_eq!(namesrv.exit_status().await.map(|s| s.code()), Some(Some(0)));
}

/// Sends until the broker stops answering; returns the bodies acknowledged SUCCESS.
async fn produce_until_failure(
    client: RemotingClient,
    addr: SocketAddr,
    producer: usize,
    acks: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0.. {
        let body = format!("p{producer}-{i}");
        let request = send_request("Load", 0, body.as_bytes());
        match client.invoke(addr, request, CALL_TIMEOUT).await {
            Ok(response) if response.code == ResponseCode::Success.as_i32() => {
                acked.push(body);
                acks.fetch_add(1, Ordering::Relaxed);
            }
            Ok(response) => panic!("unexpected answer {} before the kill", response.code),
            Err(_) => break,
        }
    }
    acked
}

/// A SYNC_FLUSH broker killed with SIGKILL under load from 8 producers restarts on the same
/// store directory with every message it acknowledged SUCCESS before the kill.
#[tokio::test]
async fn killed_sync_flush_broker_keeps_every_acknowledged_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().to_str().expect("UTF-8 path");
    let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let mut first = broker(store, namesrv.addr, "sync");
    let acks = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> =
        (0..PRODUCERS).map(|p| tokio::spawn(produce_until_failure(client(), first.addr, p, acks.clone()))).collect();
    while acks.load(Ordering::Relaxed) < ACKS_BEFORE_KILL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.child.kill().expect("SIGKILL is sent");
    first.child.wait().expect("the killed broker is reaped");
    let mut acked = Vec::new();
    for producer in producers {
        acked.extend(producer.await.expect("producer task"));
    }
    assert!(acked.len() >= ACKS_BEFORE_KILL);

    let mut second = broker(store, namesrv.addr, "sync");
    let stored: std::collections::BTreeSet<String> = pull_all(&client(), second.addr, "Load", 0)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|body| !stored.contains(*body)).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.first());
    second.terminate();
    assert_eq!(second.exit_status().await.map(|s| s.code()), Some(Some(0)));
}

/// A SLAVE role in the configuration file stops the broker at start with exit status 2 and a
/// message naming the file.
#[test]
fn a_slave_role_fails_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("broker.toml");
    let text = format!("[broker]\nstore_dir = {:?}\nbroker_role = \"SLAVE\"\n", dir.path().join("store"));
    std::fs::write(&config, text).expect("config written");
    let output = Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(["broker", "--config", config.to_str().expect("UTF-8 path")])
        .stdin(Stdio::null())
        .output()
        .expect("petrel runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("broker.toml") && stderr.contains("replication"), "stderr: {stderr}");
}

/// A broker asked to listen on an address already in use exits with status 2 naming it.
#[tokio::test]
async fn a_taken_address_fails_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let taken = namesrv.addr.to_string();
    let store = dir.path().to_str().expect("UTF-8 path");
    let output = Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(["broker", "--store-dir", store, "--listen", &taken])
        .stdin(Stdio::null())
        .output()
        .expect("petrel runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(&taken), "stderr: {stderr}");
}

/// A second broker on a store directory another broker is using exits with status 2 naming
/// the directory, and the first broker keeps serving (found by the JS-client compatibility run:
/// two brokers on one store wrecked it).
#[tokio::test]
async fn a_store_directory_in_use_fails_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let store = dir.path().to_str().expect("UTF-8 path");
    let first = broker(store, namesrv.addr, "async");
    let output = Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(["broker", "--store-dir", store, "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .expect("petrel runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("in use by another broker") && stderr.contains(store), "stderr: {stderr}");
    let response = client()
        .invoke(
            first.addr,
            petrel_core::remoting::RemotingCommand::request(
                petrel_core::remoting::RequestCode::GetBrokerRuntimeInfo,
                &petrel_core::remoting::EmptyHeader,
            ),
            std::time::Duration::from_secs(5),
        )
        .await;
    assert!(response.is_ok(), "the first broker still answers");
}
