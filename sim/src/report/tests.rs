//! Tests of the report: a small hand-built history through every file, the empty history, a
//! hostile history, and the helpers' arithmetic.

use serde_json::Value;

use super::analysis::{latency, throughput, Latency, MAX_BUCKETS};
use super::svg::{escape, f1, nice_step, seconds_label};
use super::text::ms_2;
use super::{render, Report, RunMeta};
use crate::checkers::{CheckResult, Violation};
use crate::history::{AckStatus, CrashKind, History, MsgId, Op, Processing, QueueRef, Role};

/// Message `p0-{seq}`.
fn id(seq: u64) -> MsgId {
    MsgId { producer: 0, seq }
}

/// The scenario's only queue.
fn queue() -> QueueRef {
    QueueRef { topic: "t".to_owned(), broker: "broker-a".to_owned(), queue_id: 0 }
}

/// The sample run's wall clock at time 0, epoch ms.
const EPOCH_MS: i64 = 1_650_000_000_000;

/// An acknowledgement of `seq` at offset `seq` with `latency_us`.
fn ok(seq: u64, status: AckStatus, latency_us: u64) -> Op {
    let offset = i64::try_from(seq).unwrap_or(i64::MAX);
    let (store_host, commit_log_offset) = (Some("10.0.2.10:10911".to_owned()), Some(offset.saturating_mul(300)));
    Op::SendOk { id: id(seq), queue: queue(), offset, status, latency_us, store_host, commit_log_offset }
}

/// A delivery of `seq` to `consumer`, stored at epoch 0 and received at run time 0.
fn consumed(consumer: &str, seq: u64, result: Processing) -> Op {
    delivered(consumer, seq, result, (-EPOCH_MS, 0))
}

/// A delivery of `seq` to `consumer`, stored at run time `stored_ms` (broker store time
/// `EPOCH_MS + stored_ms`) and handed to the listener at run time `received_ms`.
fn delivered(consumer: &str, seq: u64, result: Processing, (stored_ms, received_ms): (i64, u64)) -> Op {
    let offset = i64::try_from(seq).unwrap_or(i64::MAX);
    Op::Consumed {
        consumer: consumer.to_owned(),
        group: "g1".to_owned(),
        id: Some(id(seq)),
        queue: queue(),
        offset,
        store_timestamp: EPOCH_MS.saturating_add(stored_ms),
        reconsume_times: 0,
        received_ms,
        result,
    }
}

/// A node start.
fn started(node: &str, role: Role) -> Op {
    Op::NodeStarted { node: node.to_owned(), role }
}

/// The partition fault's nodes.
fn halves() -> Vec<String> {
    vec!["broker-a".to_owned(), "namesrv-0".to_owned()]
}

/// Six sends (two SEND_OK, one FLUSH_DISK_TIMEOUT, one failed, one unknown, one unanswered),
/// five deliveries (one `Later`; the four successes 19, 28, 10 and 12 ms after their store
/// times), a commit, a partition, a power loss and restart, the heal.
fn sample_history() -> History {
    let mut history = History::default();
    history.push(0, Op::RunStarted { epoch_ms: EPOCH_MS });
    history.push(0, started("namesrv-0", Role::Namesrv));
    history.push(0, started("broker-a", Role::Broker));
    history.push(0, started("p0", Role::Producer));
    history.push(0, started("g1-c0", Role::Consumer));
    history.push(100, Op::SendInvoke { id: id(0), key: None });
    history.push(102, ok(0, AckStatus::SendOk, 2000));
    history.push(150, delivered("g1-c0", 0, Processing::Success, (101, 120)));
    history.push(
        160,
        Op::OffsetCommitted { consumer: "g1-c0".to_owned(), group: "g1".to_owned(), queue: queue(), offset: 1 },
    );
    history.push(1200, Op::SendInvoke { id: id(1), key: Some("k1".to_owned()) });
    history.push(1204, ok(1, AckStatus::FlushDiskTimeout, 4000));
    history.push(1300, delivered("g1-c0", 1, Processing::Later, (1202, 1210)));
    history.push(1500, delivered("g1-c0", 1, Processing::Success, (1202, 1230)));
    history.push(2000, Op::FaultStarted { fault: "partition halves".to_owned(), nodes: halves() });
    history.push(2500, Op::SendInvoke { id: id(2), key: None });
    history.push(3500, Op::NodeCrashed { node: "broker-a".to_owned(), role: Role::Broker, kind: CrashKind::PowerLoss });
    history.push(4000, Op::FaultEnded { fault: "partition halves".to_owned(), nodes: halves() });
    history.push(4500, Op::SendInvoke { id: id(3), key: None });
    history.push(4501, Op::SendFailed { id: id(3), error: "no route".to_owned() });
    history.push(5000, started("broker-a", Role::Broker));
    history.push(5500, Op::SendUnknown { id: id(2), error: "timeout".to_owned() });
    history.push(6000, Op::FaultsHealed);
    history.push(6100, Op::SendInvoke { id: id(4), key: None });
    history.push(6103, ok(4, AckStatus::SendOk, 3000));
    history.push(6200, delivered("g1-c0", 4, Processing::Success, (6101, 6111)));
    history.push(6250, delivered("g1-c0", 4, Processing::Success, (6101, 6113)));
    history.push(7000, Op::SendInvoke { id: id(5), key: None });
    history.push(8000, Op::ProducersStopped);
    history.push(9000, Op::RunEnded);
    history
}

/// The sample run's meta: 9 simulated seconds in 20 wall ms.
fn sample_meta() -> RunMeta {
    RunMeta {
        scenario: "partition-basic".to_owned(),
        seed: 42,
        sim_ms: 9000,
        wall_ms: 20,
        reproduce: "petrel-sim run scenarios/partition-basic.toml --seed 42".to_owned(),
    }
}

/// A passing `lost` and a failing `duplicates` with twelve violations.
fn sample_verdicts() -> Vec<CheckResult> {
    let duplicates = (0..12)
        .map(|seq| Violation { ids: vec![id(seq)], detail: format!("consumed twice by g1 (offset {seq})") })
        .collect();
    vec![
        CheckResult {
            checker: "lost".to_owned(),
            pass: true,
            summary: "3 acknowledged, 0 lost".to_owned(),
            violations: Vec::new(),
        },
        CheckResult {
            checker: "duplicates".to_owned(),
            pass: false,
            summary: "12 duplicated".to_owned(),
            violations: duplicates,
        },
    ]
}

/// The sample run rendered.
fn sample_report() -> Report {
    render(&sample_meta(), &sample_history(), &sample_verdicts())
}

/// The summary holds the run, the counts, the latency, the checker lines and the reproduce line.
#[test]
fn summary_has_counts_verdicts_and_reproduce_line() {
    let summary = sample_report().summary;
    for expected in [
        "scenario   partition-basic\n",
        "seed       42\n",
        "simulated  9.000s\n",
        "wall       0.020s\n",
        "speed      450x\n",
        "verdict    FAIL (1 of 2 checks failed: duplicates)\n",
        "sends      6 invoked, 3 ok, 1 failed, 1 unknown, 1 unanswered\n",
        "ok status  2 send_ok, 1 flush_disk_timeout, 0 other\n",
        "deliveries 5 delivered, 4 success, 1 later; 3 distinct messages consumed\n",
        "offsets    1 commits, 0 rebalances\n",
        "faults     1 started, 1 ended (partition halves x1)\n",
        "crashes    1 (0 kill, 1 power_loss); 0 clean stops, 5 starts, 0 failed starts\n",
        "latency    p50 3.00ms  p90 4.00ms  p99 4.00ms  p99.9 4.00ms  max 4.00ms  (3 acks)\n",
        "delivery   p50 12.00ms  p90 28.00ms  p99 28.00ms  p99.9 28.00ms  max 28.00ms  (4 deliveries, store to \
         listener)\n",
        "\nchecks\nlost        PASS  3 acknowledged, 0 lost\nduplicates  FAIL  12 duplicated\n",
        "    p0-0: consumed twice by g1 (offset 0)\n",
        "    p0-9: consumed twice by g1 (offset 9)\n    ... and 2 more in report.json\n",
        "\nreproduce: petrel-sim run scenarios/partition-basic.toml --seed 42\n",
    ] {
        assert!(summary.contains(expected), "missing {expected:?} in:\n{summary}");
    }
    assert!(!summary.contains("p0-10:"), "only ten violations are listed:\n{summary}");
    assert!(summary.lines().count() < 60, "{summary}");
}

/// The timeline has one line per node, fault and phase event, in order, starts at t=0 grouped.
#[test]
fn timeline_lines_are_in_order_and_formatted() {
    let timeline = sample_report().timeline;
    let expected = [
        "   0.000s  start  namesrv-0, broker-a, p0, g1-c0",
        "   2.000s  fault  partition halves: broker-a, namesrv-0",
        "   3.500s  crash  broker-a (power_loss)",
        "   4.000s  clear  partition halves: broker-a, namesrv-0",
        "   5.000s  start  broker-a",
        "   6.000s  heal   every fault healed, nemesis stopped: liveness phase",
        "   8.000s  drain  producers stopped, consumers draining",
        "   9.000s  end    run ended",
    ];
    assert_eq!(timeline, expected.join("\n") + "\n");

    let mut history = History::default();
    history.push(12_345, Op::NodeCrashed { node: "broker-a".to_owned(), role: Role::Broker, kind: CrashKind::Kill });
    history.push(12_345, Op::NodeStopped { node: "p0".to_owned(), role: Role::Producer });
    history.push(12_345, Op::NodeStopped { node: "p1".to_owned(), role: Role::Producer });
    history.push(12_346, Op::NodeStopped { node: "p2".to_owned(), role: Role::Producer });
    let timeline = render(&sample_meta(), &history, &[]).timeline;
    assert_eq!(
        timeline, "  12.345s  crash  broker-a (kill)\n  12.345s  stop   p0, p1\n  12.346s  stop   p2\n",
        "same-instant stops are grouped, later ones are not"
    );
}

/// The JSON parses back with the counts, latency, buckets, fault intervals and verdicts.
#[test]
fn json_parses_with_counts_buckets_and_intervals() {
    let json: Value = serde_json::from_str(&sample_report().json).expect("valid JSON");
    assert_eq!(json["meta"]["seed"], 42);
    assert_eq!(json["pass"], false);
    assert_eq!(json["end_ms"], 9000);
    let counts = &json["counts"];
    assert_eq!(counts["sends"]["invoked"], 6);
    assert_eq!(counts["sends"]["ok"], 3);
    assert_eq!(counts["sends"]["ok_by_status"]["flush_disk_timeout"], 1);
    assert_eq!(counts["sends"]["failed"], 1);
    assert_eq!(counts["sends"]["unknown"], 1);
    assert_eq!(counts["sends"]["unanswered"], 1);
    assert_eq!(counts["deliveries"]["total"], 5);
    assert_eq!(counts["deliveries"]["success"], 4);
    assert_eq!(counts["deliveries"]["later"], 1);
    assert_eq!(counts["deliveries"]["distinct_consumed"], 3);
    assert_eq!(counts["offset_commits"], 1);
    assert_eq!(counts["faults"]["started"], 1);
    assert_eq!(counts["faults"]["crashes_by_kind"]["power_loss"], 1);
    assert_eq!(json["latency_us"]["p50"], 3000);
    assert_eq!(json["latency_us"]["max"], 4000);
    assert_eq!(json["delivery_latency_us"]["samples"], 4);
    assert_eq!(json["delivery_latency_us"]["p50"], 12_000);
    assert_eq!(json["delivery_latency_us"]["max"], 28_000);

    assert_eq!(json["throughput"]["bucket_ms"], 1000);
    let buckets = json["throughput"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 9);
    let series: Vec<(u64, u64, u64)> = buckets
        .iter()
        .map(|bucket| {
            let field = |name: &str| bucket[name].as_u64().unwrap_or(u64::MAX);
            (field("start_ms"), field("acks"), field("deliveries"))
        })
        .collect();
    assert_eq!(&series[..2], &[(0, 1, 1), (1000, 1, 1)]);
    assert_eq!(series[6], (6000, 1, 2));
    assert_eq!(series.iter().map(|(_, acks, _)| acks).sum::<u64>(), 3);

    let faults = json["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 2);
    assert_eq!(faults[0]["kind"], "fault");
    assert_eq!(faults[0]["name"], "partition halves");
    assert_eq!((faults[0]["start_ms"].as_u64(), faults[0]["end_ms"].as_u64()), (Some(2000), Some(4000)));
    assert_eq!(faults[1]["kind"], "crash");
    assert_eq!(faults[1]["name"], "power_loss");
    assert_eq!(faults[1]["nodes"][0], "broker-a");
    assert_eq!((faults[1]["start_ms"].as_u64(), faults[1]["end_ms"].as_u64()), (Some(3500), Some(5000)));
    assert_eq!(json["healed_ms"][0], 6000);
    assert_eq!(json["verdicts"][1]["checker"], "duplicates");
    assert_eq!(json["verdicts"][1]["violations"].as_array().map(Vec::len), Some(12));
}

/// The SVG is self-contained, has both lines, the shaded fault and crash, the healed line, and
/// is the same on every render.
#[test]
fn svg_has_lines_shading_and_is_deterministic() {
    let svg = sample_report().svg;
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    // 9 s over 870 px: 2 s is at 263.3, 4 s at 456.7.
    assert!(svg.contains(r#"<rect class="fault" x="263.3" y="50.0" width="193.3" height="300.0""#), "{svg}");
    assert!(svg.contains(r#"<rect class="crash" x="408.3""#), "{svg}");
    assert!(svg.contains(r#"<line class="crash" x1="408.3""#), "{svg}");
    assert!(svg.contains(r#"class="healed""#) && svg.contains(">healed</text>"));
    assert!(svg.contains(">partition-basic seed 42: FAIL</text>"));
    assert!(svg.contains(">messages per second</text>") && svg.contains(">simulated time (s)</text>"));
    for forbidden in ["<script", "href", "<image", "<foreignObject", "url("] {
        assert!(!svg.contains(forbidden), "{forbidden} in the SVG");
    }
    assert_eq!(svg.matches("http").count(), 1, "only the namespace");
    assert_eq!(svg, sample_report().svg);
    assert_eq!(sample_report(), sample_report());
}

/// Only the wall-time and speed lines and the JSON's `wall_ms` depend on the wall time.
#[test]
fn only_wall_text_depends_on_wall_time() {
    let slow = render(&RunMeta { wall_ms: 9000, ..sample_meta() }, &sample_history(), &sample_verdicts());
    let fast = sample_report();
    assert_eq!((&slow.timeline, &slow.svg), (&fast.timeline, &fast.svg));
    let changed: Vec<(&str, &str)> = slow.summary.lines().zip(fast.summary.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed, [("wall       9.000s", "wall       0.020s"), ("speed      1.00x", "speed      450x")]);
    let mut slow_json: Value = serde_json::from_str(&slow.json).expect("valid JSON");
    slow_json["meta"]["wall_ms"] = Value::from(20);
    assert_eq!(slow_json, serde_json::from_str::<Value>(&fast.json).expect("valid JSON"));
}

/// The empty history renders every file: axes only in the SVG, no speed without wall time.
#[test]
fn empty_history_renders() {
    let meta = RunMeta { scenario: "empty".to_owned(), seed: 0, sim_ms: 0, wall_ms: 0, reproduce: String::new() };
    let report = render(&meta, &History::default(), &[]);
    assert!(report.summary.contains("wall       -\nspeed      -\nverdict    PASS (0 checks)\n"), "{}", report.summary);
    assert!(report.summary.contains("latency    no acknowledged sends\ndelivery   no successful deliveries\n"));
    assert!(report.summary.contains("(no checks ran)\n"));
    assert_eq!(report.timeline, "(no node, fault or phase events)\n");
    assert!(report.svg.starts_with("<svg") && report.svg.contains(r#"class="axis""#));
    assert!(!report.svg.contains("<polyline"));
    let json: Value = serde_json::from_str(&report.json).expect("valid JSON");
    assert_eq!(json["latency_us"], Value::Null);
    assert_eq!(json["delivery_latency_us"], Value::Null);
    assert_eq!(json["throughput"]["buckets"].as_array().map(Vec::len), Some(0));
    assert_eq!(json["pass"], true);
}

/// Out-of-order times, times near `u64::MAX`, unmatched ends, crashes of unknown nodes, and
/// markup or control characters in names render without panicking, bounded and escaped.
#[test]
fn hostile_history_renders_bounded_and_escaped() {
    let mut history = History::default();
    history.push(u64::MAX, ok(0, AckStatus::Other, u64::MAX));
    history.push(5, Op::FaultEnded { fault: "never started".to_owned(), nodes: Vec::new() });
    history.push(7, Op::FaultStarted { fault: "<clog> & \"pause\"\n".to_owned(), nodes: vec!["a\u{0}b".to_owned()] });
    history.push(3, Op::NodeCrashed { node: "ghost".to_owned(), role: Role::Broker, kind: CrashKind::Kill });
    history.push(3, Op::NodeCrashed { node: "ghost".to_owned(), role: Role::Broker, kind: CrashKind::PowerLoss });
    history.push(1, started("ghost", Role::Broker));
    history.push(u64::MAX, consumed("c", 0, Processing::Success));
    history.push(
        2,
        Op::Consumed {
            consumer: "c".to_owned(),
            group: "g".to_owned(),
            id: None,
            queue: queue(),
            offset: -1,
            store_timestamp: i64::MIN,
            reconsume_times: -1,
            received_ms: u64::MAX,
            result: Processing::Later,
        },
    );
    // Store times far before and after a run that began at the latest possible instant.
    history.push(4, Op::RunStarted { epoch_ms: i64::MAX });
    history.push(4, delivered("c", 1, Processing::Success, (i64::MIN, u64::MAX)));
    history.push(4, delivered("c", 2, Processing::Success, (i64::MAX, 0)));
    let meta =
        RunMeta { scenario: "<x>".to_owned(), seed: u64::MAX, sim_ms: 0, wall_ms: 1, reproduce: "r\nm".to_owned() };
    let verdicts = [CheckResult {
        checker: "x".repeat(1000),
        pass: false,
        summary: "line\nbreak".to_owned(),
        violations: vec![Violation { ids: (0..20).map(id).collect(), detail: String::new() }],
    }];
    let report = render(&meta, &history, &verdicts);

    let json: Value = serde_json::from_str(&report.json).expect("valid JSON");
    let buckets = json["throughput"]["buckets"].as_array().map(Vec::len).unwrap_or(usize::MAX);
    assert!(buckets as u64 <= MAX_BUCKETS + 1, "{buckets} buckets");
    assert_eq!(json["counts"]["deliveries"]["foreign"], 1);
    assert_eq!(json["latency_us"]["max"], u64::MAX);
    assert_eq!(json["delivery_latency_us"]["samples"], 3);
    assert_eq!(json["delivery_latency_us"]["max"], u64::MAX);
    assert!(!report.svg.contains("<clog>") && !report.svg.contains("<x>") && !report.svg.contains('\u{0}'));
    assert!(report.svg.contains("&lt;x&gt; seed 18446744073709551615: FAIL"));
    assert!(report.summary.contains("reproduce: r m\n"));
    assert!(report.summary.contains("p0-7, +12 more\n"), "{}", report.summary);
    assert!(report.timeline.contains("   0.005s  clear  never started\n"));
    assert!(report.timeline.contains("   0.007s  fault  <clog> & \"pause\" : a b\n"), "{}", report.timeline);
    assert!(report.summary.lines().all(|line| line.len() < 400));
    assert_eq!(report, render(&meta, &history, &verdicts));
}

/// A failed start after a crash extends the crash's downtime; one on a node that was up opens
/// its own interval, running to the end when the node never starts.
#[test]
fn failed_starts_keep_nodes_down() {
    let mut history = History::default();
    history.push(0, started("broker-b", Role::Broker));
    history.push(1000, Op::NodeCrashed { node: "broker-b".to_owned(), role: Role::Broker, kind: CrashKind::Kill });
    history.push(
        2000,
        Op::NodeStartFailed { node: "broker-b".to_owned(), role: Role::Broker, error: "torn\nlog".to_owned() },
    );
    history
        .push(2500, Op::NodeStartFailed { node: "broker-c".to_owned(), role: Role::Broker, error: "bad".to_owned() });
    history.push(3000, started("broker-b", Role::Broker));
    let report = render(&RunMeta { sim_ms: 4000, ..sample_meta() }, &history, &[]);
    assert!(report.timeline.contains("   2.000s  fail   broker-b (start failed: torn log)\n"), "{}", report.timeline);
    let json: Value = serde_json::from_str(&report.json).expect("valid JSON");
    assert_eq!(json["counts"]["faults"]["start_failures"], 2);
    let intervals: Vec<(String, String, Option<u64>, Option<u64>)> = json["faults"]
        .as_array()
        .map(|faults| {
            faults
                .iter()
                .map(|f| {
                    (f["kind"].to_string(), f["nodes"][0].to_string(), f["start_ms"].as_u64(), f["end_ms"].as_u64())
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        intervals,
        [
            ("\"crash\"".to_owned(), "\"broker-b\"".to_owned(), Some(1000), Some(3000)),
            ("\"start_failed\"".to_owned(), "\"broker-c\"".to_owned(), Some(2500), None),
        ]
    );
    assert!(report.svg.contains(r#"<rect class="start-failed""#));
}

/// Nearest-rank percentiles of a known set, exact below 32.768 ms, never above the maximum.
#[test]
fn latency_percentiles_are_right() {
    let spread: Vec<u64> = (1..=1000).map(|i| i * 20).collect();
    let expected = Latency { samples: 1000, p50: 10_000, p90: 18_000, p99: 19_800, p99_9: 19_980, max: 20_000 };
    assert_eq!(latency(&spread), Some(expected));
    let skewed = latency(&[4000, 1000, 100_000, 3000, 2000]).expect("samples");
    assert_eq!((skewed.p50, skewed.p90, skewed.p99_9, skewed.max), (3000, 100_000, 100_000, 100_000));
    assert_eq!(latency(&[]), None);
    assert_eq!(latency(&[0]).map(|l| (l.p50, l.max)), Some((0, 0)));
    assert_eq!(
        (ms_2(10_000), ms_2(12_345), ms_2(12_344), ms_2(0), ms_2(999_999)),
        ("10.00ms".to_owned(), "12.35ms".to_owned(), "12.34ms".to_owned(), "0.00ms".to_owned(), "1000.00ms".to_owned())
    );
}

/// Buckets are one second wide up to the end of the run, wider for very long runs.
#[test]
fn throughput_buckets_cover_the_run() {
    let series = throughput(2500, &[0, 999, 1000, 2999], &[2500]);
    assert_eq!(series.bucket_ms, 1000);
    let counts: Vec<(u64, u64, u64)> = series.buckets.iter().map(|b| (b.start_ms, b.acks, b.deliveries)).collect();
    assert_eq!(counts, [(0, 2, 0), (1000, 1, 0), (2000, 1, 1)]);
    assert_eq!(throughput(3000, &[3000], &[]).buckets.len(), 4, "an event at the end gets its bucket");
    let long = throughput(MAX_BUCKETS * 1000 * 3, &[], &[]);
    assert_eq!((long.bucket_ms, long.buckets.len() as u64), (4000, MAX_BUCKETS * 3 / 4));
}

/// Axis helpers: 1-2-5 steps, labels with the decimals the step needs, stable coordinates.
#[test]
fn axis_helpers() {
    assert_eq!([nice_step(9000, 10), nice_step(1000, 10), nice_step(7, 6), nice_step(1, 6)], [1000, 100, 2, 1]);
    assert_eq!(nice_step(u64::MAX, 10), 2_000_000_000_000_000_000);
    assert_eq!(nice_step(u64::MAX, 1), u64::MAX);
    assert_eq!([seconds_label(12_000, 1000), seconds_label(500, 100), seconds_label(1250, 50)], ["12", "0.5", "1.25"]);
    assert_eq!([f1(-0.01), f1(263.333), f1(f64::NAN)], ["0.0", "263.3", "0.0"]);
    assert_eq!(escape("<a & 'b'>\n"), "&lt;a &amp; &#39;b&#39;&gt; ");
}
