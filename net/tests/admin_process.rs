//! `petrel admin` and `petrel produce` as real processes against real `petrel namesrv` and
//! `petrel broker` processes on 127.0.0.1: a topic created with `updateTopic` takes 5
//! messages from `produce`, `topicStatus` counts them, `queryMsgByKey` finds them, and
//! failures exit with status 1 and a message on stderr.
//!
//! Real processes and sockets only, so not built under `--cfg madsim`.
#![cfg(not(madsim))]

mod process;

use std::time::Duration;

use process::{run, Petrel};

/// Bound on polls for the broker's registration and the new topic's route.
const POLLS_MAX: u32 = 200;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs `petrel admin ARGS`, polling until it exits 0; its stdout, or the last failure.
async fn admin_until_success(args: &[&str]) -> Result<String, (Option<i32>, String)> {
    admin_until(args, |_| true).await
}

/// Runs `petrel admin ARGS`, polling until it exits 0 with a stdout that `done` accepts (a
/// command can succeed before the cluster shows what the test waits for); that stdout, or the
/// last exit code and output.
async fn admin_until(args: &[&str], done: impl Fn(&str) -> bool) -> Result<String, (Option<i32>, String)> {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    let mut last = (None, String::new());
    for _ in 0..POLLS_MAX {
        let (code, stdout, stderr) = run(&all);
        if code == Some(0) && done(&stdout) {
            return Ok(stdout);
        }
        last = (code, format!("{stdout}{stderr}"));
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Err(last)
}

/// `topicStatus --json` counts 5 messages over the topic's 2 queues, `queryMsgByKey` lists
/// the 5 keyed `K1`, and a status of an unknown topic exits 1 naming it.
fn check_status_and_lookups(ns: &str) {
    let (code, status, stderr) = run(&["admin", "topicStatus", "-n", ns, "-t", "Cli", "--json"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let max_offsets: Vec<i64> = status
        .split("\"maxOffset\":")
        .skip(1)
        .map(|rest| rest.split([',', '}']).next().unwrap_or("").parse().expect("a number"))
        .collect();
    assert_eq!((max_offsets.len(), max_offsets.iter().sum()), (2, 5), "{status}");
    let (code, found, stderr) = run(&["admin", "queryMsgByKey", "-n", ns, "-t", "Cli", "-k", "K1"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(found.lines().count(), 1 + 5, "a header and 5 messages: {found}");

    let (code, _, stderr) = run(&["admin", "topicStatus", "-n", ns, "-t", "Absent"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("Absent") && stderr.contains("does not exist"), "{stderr}");
}

/// updateTopic, produce --count 5, topicStatus and queryMsgByKey through the binaries; SIGTERM
/// stops the servers with status 0.
#[tokio::test]
async fn admin_and_produce_through_real_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().to_str().expect("UTF-8 path");
    let mut namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
    let ns = namesrv.addr.to_string();
    let broker_args = ["--store-dir", store, "--listen", "127.0.0.1:0", "--namesrv", &ns];
    let mut broker = Petrel::start("broker", &broker_args);

    // clusterList succeeds with an empty list until the broker's registration arrives.
    let clusters = admin_until(&["clusterList", "-n", &ns], |out| out.contains("DefaultCluster")).await;
    assert!(clusters.is_ok(), "the broker registers: {clusters:?}");
    let update = ["updateTopic", "-n", &ns, "-c", "DefaultCluster", "-t", "Cli", "-r", "2"];
    let created = admin_until_success(&[&update[..], &["-w", "2"]].concat()).await;
    let created = created.expect("updateTopic succeeds");
    assert!(created.contains("success"), "{created}");
    let routed = admin_until_success(&["topicRoute", "-n", &ns, "-t", "Cli"]).await;
    assert!(routed.is_ok(), "the topic is routed: {routed:?}");

    let produce = ["produce", "-n", &ns, "-t", "Cli", "--count", "5", "--key", "K1"];
    let (code, stdout, stderr) = run(&produce);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stdout.matches("SEND_OK").count(), 5, "{stdout}");
    assert!(stdout.contains("sent 5 messages to Cli"), "{stdout}");

    check_status_and_lookups(&ns);
    broker.terminate();
    assert_eq!(broker.exit_status().await.map(|s| s.code()), Some(Some(0)));
    namesrv.terminate();
    assert_eq!(namesrv.exit_status().await.map(|s| s.code()), Some(Some(0)));
}

/// A name server that is not `ip:port` is a usage error (status 2); one nobody listens on is a
/// failure (status 1) naming the address.
#[test]
fn bad_and_unreachable_name_servers_fail_clearly() {
    let (code, _, stderr) = run(&["admin", "topicList", "-n", "nowhere"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let (code, _, stderr) = run(&["admin", "topicList", "-n", "127.0.0.1:1", "--timeout-ms", "2000"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}
