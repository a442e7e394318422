//! The cluster simulation end to end, through the `petrel-sim` runner as users run it (built
//! with `--cfg madsim` only): the catalogue passes on CI's seeds, `--check-determinism` replays
//! a seed byte for byte in a second process, a seed in a batch gives the same run as alone,
//! planted bugs are caught, and the summaries of fixed seeds are pinned by snapshots.
//!
//! Every run is its own process: that is how the runner isolates seeds (see `cluster::run`).
#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `petrel-sim run <args> --out <out>`; returns (success, stdout).
fn sim(args: &[&str], out: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_petrel-sim"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("petrel-sim runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

fn out_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn report_file(out: &Path, scenario: &str, seed: u64, file: &str) -> String {
    let path: PathBuf = out.join(scenario).join(format!("seed-{seed}")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The seeds CI runs every catalogue scenario on (`--seeds` takes an exclusive end): 1 to 5.
const CI_SEEDS: &str = "1..6";

/// Every scenario in the catalogue passes on the seeds CI runs for it.
#[test]
fn catalogue_passes_on_ci_seeds() {
    let out = out_dir();
    for name in [
        "smoke",
        "broker-kill-sync",
        "power-loss-async",
        "power-loss-sync",
        "namesrv-loss",
        "partition-clients",
        "consumer-churn",
        "disk-faults",
        "swarm",
    ] {
        let (ok, stdout) = sim(&[name, "--seeds", CI_SEEDS], out.path());
        assert!(ok, "{name} failed on a CI seed:\n{stdout}");
        assert!(stdout.contains(&format!("{name}: 5 passed, 0 failed")), "{stdout}");
    }
}

/// `--check-determinism` replays a seed in a second process byte for byte, and a seed run in a
/// batch gives the same history as the seed run alone.
#[test]
fn seeds_replay_exactly_and_batches_match_single_runs() {
    let batch = out_dir();
    let (ok, stdout) = sim(&["broker-kill-sync", "--seeds", "6..8", "--check-determinism"], batch.path());
    assert!(ok, "{stdout}");
    assert_eq!(stdout.matches("deterministic: a second process replayed the same").count(), 2, "{stdout}");
    let alone = out_dir();
    let (ok, stdout) = sim(&["broker-kill-sync", "--seed", "7"], alone.path());
    assert!(ok, "{stdout}");
    let from_batch = report_file(batch.path(), "broker-kill-sync", 7, "history.jsonl");
    assert!(from_batch.lines().count() > 1000, "a real history");
    assert_eq!(from_batch, report_file(alone.path(), "broker-kill-sync", 7, "history.jsonl"));
    assert_ne!(from_batch, report_file(batch.path(), "broker-kill-sync", 6, "history.jsonl"));
}

/// Each planted bug is caught by its scenario within three seeds, by the checker named.
#[test]
fn planted_bugs_are_caught() {
    for (bug, name, checker) in [
        ("ack-before-flush", "power-loss-sync", "lost"),
        ("skip-consume-queue-on-recovery", "broker-kill-sync", "lost"),
        ("commit-before-process", "consumer-churn", "lost"),
    ] {
        let out = out_dir();
        let (ok, stdout) = sim(&[name, "--seeds", "1..4", "--planted-bug", bug], out.path());
        assert!(!ok, "{bug} was not caught by {name} in seeds 1..=3:\n{stdout}");
        let caught =
            stdout.lines().any(|line| line.contains("FAIL") && line.contains("failing:") && line.contains(checker));
        assert!(caught, "{bug}: no seed failed the {checker} checker:\n{stdout}");
    }
}

/// A scenario outside the catalogue: broker-b's disk fails writes for 10 s, which stops its
/// store; broker-a's fails syncs for only 1 ms, in which it syncs nothing.
const HEAL_RESTARTS: &str = r#"
name = "heal-restarts"
description = "Only a broker whose store failed is restarted at the final heal."
duration_s = 20
tail_s = 20
liveness_settle_s = 15

[cluster]
brokers = [{ name = "broker-a", flush = "sync" }, { name = "broker-b", flush = "sync" }]

[[producers]]
count = 1
rate = 40

[[consumers]]
group = "g1"
count = 1

[[faults.timeline]]
at_s = 10
fault = "disk-sync-eio"
target = "broker-a"
for_s = 0.001

[[faults.timeline]]
at_s = 2
fault = "disk-write-eio"
target = "broker-b"
for_s = 10
"#;

/// The final heal restarts a broker that had disk faults only when its store failed: broker-b
/// (its store stopped on a failed write) is killed and restarted once, just before the heal;
/// broker-a, whose faults did no harm, keeps running. Nothing else crashes a node here, and the
/// run passes (so broker-b takes writes again).
#[test]
fn final_heal_restarts_only_brokers_whose_store_failed() {
    let out = out_dir();
    let scenario = out.path().join("heal-restarts.toml");
    std::fs::write(&scenario, HEAL_RESTARTS).expect("scenario file");
    let (ok, stdout) = sim(&[scenario.to_str().expect("utf-8 path"), "--seeds", "1..4"], out.path());
    assert!(ok, "{stdout}");
    for seed in 1..4 {
        let timeline = report_file(out.path(), "heal-restarts", seed, "timeline.txt");
        let crashes: Vec<&str> = timeline.lines().filter(|line| line.contains("  crash  ")).collect();
        assert_eq!(crashes.len(), 1, "seed {seed}:\n{timeline}");
        assert!(crashes[0].ends_with("crash  broker-b (kill)"), "seed {seed}:\n{timeline}");
        let heal = timeline.lines().position(|line| line.contains("  heal  ")).expect("a heal");
        let crash = timeline.lines().position(|line| line.contains("  crash  ")).expect("a crash");
        assert!(crash < heal, "restarted by the final heal, before the liveness phase:\n{timeline}");
    }
}

/// The summaries of fixed seeds, without their wall-clock lines: any change in behaviour shows
/// up as a snapshot diff.
#[test]
fn fixed_seed_summaries() {
    for (name, seed) in [("smoke", 1u64), ("broker-kill-sync", 2)] {
        let out = out_dir();
        let (ok, stdout) = sim(&[name, "--seed", &seed.to_string()], out.path());
        assert!(ok, "{stdout}");
        let summary: String = report_file(out.path(), name, seed, "summary.txt")
            .lines()
            .filter(|line| !line.starts_with("wall ") && !line.starts_with("speed "))
            .map(|line| format!("{line}\n"))
            .collect();
        insta::assert_snapshot!(format!("{name}-seed-{seed}"), summary);
    }
}
