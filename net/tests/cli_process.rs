//! `petrel consume` and `petrel bench` as real processes against real `petrel namesrv` and
//! `petrel broker` processes on 127.0.0.1.
//!
//! Real processes and sockets only, so not built under `--cfg madsim`.
#![cfg(not(madsim))]

mod process;

use std::process::Stdio;
use std::time::Duration;

use process::{petrel, run, Petrel};

/// Bound on polls for the broker's registration.
const POLLS_MAX: u32 = 200;
/// Pause between two such polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on one command's run (consume, bench): polls of `POLL_INTERVAL`, 60 s in all.
const COMMAND_POLLS_MAX: u32 = 1_200;

/// A name server and a broker over a temporary store.
struct Cluster {
    /// The name server.
    namesrv: Petrel,
    /// The broker.
    broker: Petrel,
    /// The broker's store, removed when dropped.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts both and waits until the broker is registered.
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().to_str().expect("UTF-8 path").to_owned();
        let namesrv = Petrel::start("namesrv", &["--listen", "127.0.0.1:0"]);
        let ns = namesrv.addr.to_string();
        let args = ["--store-dir", &store, "--listen", "127.0.0.1:0", "--namesrv", &ns];
        let broker = Petrel::start("broker", &args);
        for _ in 0..POLLS_MAX {
            let (code, stdout, _) = run(&["admin", "clusterList", "-n", &ns]);
            if code == Some(0) && stdout.contains("DefaultCluster") {
                return Cluster { namesrv, broker, _dir: dir };
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("the broker never registered");
    }

    /// The name server's address.
    fn ns(&self) -> String {
        self.namesrv.addr.to_string()
    }

    /// SIGTERM to both; both exit 0.
    async fn stop(mut self) {
        self.broker.terminate();
        assert_eq!(self.broker.exit_status().await.map(|s| s.code()), Some(Some(0)));
        self.namesrv.terminate();
        assert_eq!(self.namesrv.exit_status().await.map(|s| s.code()), Some(Some(0)));
    }
}

/// Runs `petrel ARGS`, killing it after `COMMAND_POLLS_MAX` polls; exit code, stdout, stderr.
async fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = petrel(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("petrel starts");
    for _ in 0..COMMAND_POLLS_MAX {
        if child.try_wait().expect("waitable").is_some() {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    if child.try_wait().expect("waitable").is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output readable");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// 20 messages sent by `petrel produce` are printed by `petrel consume --count 20 --from
/// first`, one line each, which then exits 0 with a summary; a second consume of the same group
/// finds their offsets committed and gets nothing before its own count of new messages.
#[tokio::test]
async fn consume_prints_what_produce_sent() {
    let cluster = Cluster::start().await;
    let ns = cluster.ns();
    let produce = ["produce", "-n", &ns, "-t", "CliConsume", "--count", "20", "--key", "K"];
    let (code, stdout, stderr) = run(&produce);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stdout.matches("SEND_OK").count(), 20, "{stdout}");

    let consume = ["consume", "-n", &ns, "-t", "CliConsume", "-g", "CliGroup", "--from", "first"];
    let (code, stdout, stderr) = run_bounded(&[&consume[..], &["--count", "20"]].concat()).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("queue=")).collect();
    assert_eq!(lines.len(), 20, "{stdout}");
    assert!(lines.iter().all(|l| l.contains("keys=K") && l.contains("bodyLen=64")), "{stdout}");
    assert!(stdout.contains("consumed 20 messages from CliConsume"), "{stdout}");

    // Offsets were committed at shutdown: the group resumes after the 20, at the 5 new ones.
    let more = ["produce", "-n", &ns, "-t", "CliConsume", "--count", "5", "--key", "L"];
    assert_eq!(run(&more).0, Some(0));
    let (code, stdout, _) = run_bounded(&[&consume[..], &["--count", "5"]].concat()).await;
    assert_eq!(code, Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("queue=")).collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines.iter().all(|l| l.contains("keys=L")), "{stdout}");
    cluster.stop().await;
}

/// The integer value of `"key":N` in a one-line JSON object.
fn json_u64(json: &str, key: &str) -> u64 {
    let start = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let digits: String = json[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect(key)
}

/// `petrel bench --json` prints one JSON summary. Semantics asserted: `published` counts the
/// acknowledged sends started in the 2 s window (after the 1 s warm-up), `consumed` the
/// deliveries of exactly those messages (during the window or the drain after it; a redelivery
/// counts again), so after a completed drain (`drained: true`) `consumed >= published > 0`;
/// `consumedInWindow` (deliveries received in the window) is > 0 too.
#[tokio::test]
async fn bench_reports_publish_and_consume_counts() {
    let cluster = Cluster::start().await;
    let ns = cluster.ns();
    let bench = [
        "bench",
        "-n",
        &ns,
        "--topic",
        "CliBench",
        "--duration",
        "2",
        "--warmup",
        "1",
        "--queues",
        "4",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--size",
        "256",
        "--json",
    ];
    let (code, stdout, stderr) = run_bounded(&bench).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let json = stdout.lines().last().expect("a summary line");
    assert!(json.starts_with('{') && json.ends_with('}'), "{stdout}");
    let published = json_u64(json, "published");
    let consumed = json_u64(json, "consumed");
    assert!(published > 0, "{json}");
    assert!(json_u64(json, "consumedInWindow") > 0, "{json}");
    assert!(json.contains("\"drained\":true"), "{json}");
    assert!(consumed >= published, "{json}");
    assert!(json.contains("\"publishLatencyMs\":{\"p50\":"), "{json}");
    assert!(json.contains("\"e2eLatencyMs\":{\"p50\":"), "{json}");
    cluster.stop().await;
}
