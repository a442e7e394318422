//! The `petrel namesrv` binary as a real process on 127.0.0.1: it announces its port on stdout,
//! answers a fake broker and a fake client over TCP, survives bad bytes, shuts down with exit
//! status 0 on SIGTERM, and exits with status 2 naming the cause when its address is taken or its
//! configuration file is bad.
//!
//! Real processes and sockets only, so not built under `--cfg madsim`.
#![cfg(not(madsim))]

mod namesrv_requests;
mod process;

use std::path::Path;

use namesrv_requests::{cluster_info, register, registered_cluster_info, registered_route, route, CALL_TIMEOUT, TOPIC};
use petrel_core::remoting::FRAME_SIZE_MAX_BYTES;
use petrel_net::remoting::{ClientConfig, RemotingClient};
use process::Petrel;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs `petrel namesrv ARGS` to its end, expecting it to fail at start.
fn run_to_failure(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["namesrv"];
    all.extend_from_slice(args);
    let (code, _stdout, stderr) = process::run(&all);
    (code, stderr)
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), None)
}

/// True when the server closes `stream` (end of stream or reset) without answering.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(CALL_TIMEOUT, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!("the server answered {n} bytes to a bad frame"),
        Err(_) => false,
    }
}

/// A broker registers with the real binary; the route of its topic names it with 4 queues, the
/// cluster info lists it, and an unknown topic is TOPIC_NOT_EXIST.
#[tokio::test]
async fn answers_a_registered_brokers_routes() {
    let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let client = client();
    register(&client, namesrv.addr).await;
    assert_eq!(route(&client, namesrv.addr, TOPIC).await, Some(registered_route()));
    assert_eq!(cluster_info(&client, namesrv.addr).await, registered_cluster_info());
    assert_eq!(route(&client, namesrv.addr, "NoSuchTopic").await, None);
}

/// Garbage bytes and an oversized frame, each on its own raw socket, get that socket closed,
/// and the server still answers requests afterwards.
#[tokio::test]
async fn bad_bytes_do_not_stop_the_server() {
    let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let header = b"{not json";
    let mut garbage = Vec::new();
    garbage.extend_from_slice(&(4 + header.len() as i32).to_be_bytes());
    garbage.extend_from_slice(&(header.len() as u32).to_be_bytes());
    garbage.extend_from_slice(header);
    let oversized = ((FRAME_SIZE_MAX_BYTES - 4 + 1) as i32).to_be_bytes().to_vec();
    for bad in [garbage, oversized] {
        let mut raw = TcpStream::connect(namesrv.addr).await.expect("raw connect");
        raw.write_all(&bad).await.expect("write");
        raw.flush().await.expect("flush");
        assert!(closed_by_peer(&mut raw).await, "the bad connection is closed");
    }
    let client = client();
    register(&client, namesrv.addr).await;
    assert_eq!(route(&client, namesrv.addr, TOPIC).await, Some(registered_route()));
}

/// SIGTERM makes the server shut down cleanly: exit status 0, promptly, with a client connected.
#[tokio::test]
async fn sigterm_exits_with_status_zero() {
    let mut namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let client = client();
    register(&client, namesrv.addr).await;
    namesrv.terminate();
    let status = namesrv.exit_status().await.expect("petrel exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A second server on a taken address fails at start with exit code 2, naming the address.
#[tokio::test]
async fn a_taken_address_fails_with_exit_code_2() {
    let first = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let taken = first.addr.to_string();
    let (code, stderr) = run_to_failure(&["--listen", &taken]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&taken), "stderr names {taken}: {stderr}");
}

/// A configuration file that is not valid fails at start with exit code 2, naming the file; so
/// does a missing one.
#[test]
fn a_bad_config_file_fails_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[namesrv]\nlisten = 9876\n").expect("write the config file");
    let missing = dir.path().join("missing.toml");
    for path in [&bad, &missing] {
        let (code, stderr) = run_to_failure(&["--config", path_str(path)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(path_str(path)), "stderr names the file: {stderr}");
    }
}

/// The file's `listen` is used, and `--listen` overrides it: with the file naming a taken
/// address, the command line's free one still starts the server.
#[tokio::test]
async fn the_command_line_overrides_the_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("petrel.toml");
    std::fs::write(&config, "[namesrv]\nlisten = \"127.0.0.1:0\"\n").expect("write config");
    let from_file = Petrel::start("namesrv", &["--config", path_str(&config)]);
    assert_eq!(from_file.addr.ip().to_string(), "127.0.0.1");

    let taken = format!("[namesrv]\nlisten = \"{}\"\n", from_file.addr);
    std::fs::write(&config, taken).expect("write config");
    let overridden = Petrel::start("namesrv", &["--config", path_str(&config), "--listen", "127.0.0.1:0"]);
    assert_ne!(overridden.addr, from_file.addr);
    let client = client();
    assert_eq!(route(&client, overridden.addr, TOPIC).await, None);
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
