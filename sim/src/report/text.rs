//! The text files: `summary.txt` and `timeline.txt`.

use crate::checkers::{CheckResult, Violation};
use crate::history::{History, Op};

use super::analysis::{crash_kind_name, Analysis, Latency};
use super::{one_line, secs, verdict_word, RunMeta};

/// Width of the label column of the summary's fact lines.
const LABEL_WIDTH: usize = 11;

/// At most this many violations are listed under a checker's line.
const VIOLATIONS_SHOWN: usize = 10;

/// At most this many message ids are listed in a violation's line.
const IDS_SHOWN: usize = 8;

/// At most this many fault names are listed in the summary's fault line.
const FAULT_NAMES_SHOWN: usize = 6;

/// Longest free text (a name, a detail, an error) kept on one line, in characters.
const TEXT_MAX: usize = 200;

/// The checker-name column is at least this wide.
const CHECKER_WIDTH_MIN: usize = 12;

/// `summary.txt`: the run, its counts and latency, one line per checker with its first
/// violations, and the reproduce command.
pub(super) fn summary(meta: &RunMeta, analysis: &Analysis, verdicts: &[CheckResult]) -> String {
    let counts = &analysis.counts;
    let mut lines = Vec::new();
    let fact = |label: &str, value: String| format!("{label:<LABEL_WIDTH$}{value}");

    lines.push(fact("scenario", one_line(&meta.scenario, TEXT_MAX)));
    lines.push(fact("seed", meta.seed.to_string()));
    lines.push(fact("simulated", secs(meta.sim_ms)));
    lines.push(fact("wall", if meta.wall_ms == 0 { "-".to_owned() } else { secs(meta.wall_ms) }));
    lines.push(fact("speed", speed(meta.sim_ms, meta.wall_ms)));
    lines.push(fact("verdict", verdict_line(verdicts)));
    lines.push(String::new());

    let sends = &counts.sends;
    lines.push(fact(
        "sends",
        format!(
            "{} invoked, {} ok, {} failed, {} unknown, {} unanswered",
            sends.invoked, sends.ok, sends.failed, sends.unknown, sends.unanswered
        ),
    ));
    let by_status = &sends.ok_by_status;
    lines.push(fact(
        "ok status",
        format!(
            "{} send_ok, {} flush_disk_timeout, {} other",
            by_status.send_ok, by_status.flush_disk_timeout, by_status.other
        ),
    ));
    let deliveries = &counts.deliveries;
    let foreign = if deliveries.foreign > 0 { format!(", {} foreign", deliveries.foreign) } else { String::new() };
    lines.push(fact(
        "deliveries",
        format!(
            "{} delivered, {} success, {} later{foreign}; {} distinct messages consumed",
            deliveries.total, deliveries.success, deliveries.later, deliveries.distinct_consumed
        ),
    ));
    lines.push(fact("offsets", format!("{} commits, {} rebalances", counts.offset_commits, counts.rebalances)));
    let faults = &counts.faults;
    lines.push(fact("faults", format!("{} started, {} ended{}", faults.started, faults.ended, fault_names(analysis))));
    lines.push(fact(
        "crashes",
        format!(
            "{} ({} kill, {} power_loss); {} clean stops, {} starts, {} failed starts",
            faults.crashes,
            faults.crashes_by_kind.kill,
            faults.crashes_by_kind.power_loss,
            faults.clean_stops,
            faults.node_starts,
            faults.start_failures
        ),
    ));
    lines.push(fact("latency", latency_line(analysis.latency.as_ref(), "acks", "no acknowledged sends")));
    let delivery = analysis.delivery_latency.as_ref();
    lines.push(fact("delivery", latency_line(delivery, "deliveries, store to listener", "no successful deliveries")));
    lines.push(String::new());

    lines.push("checks".to_owned());
    if verdicts.is_empty() {
        lines.push("(no checks ran)".to_owned());
    }
    let width = verdicts
        .iter()
        .map(|verdict| one_line(&verdict.checker, TEXT_MAX).chars().count() + 2)
        .fold(CHECKER_WIDTH_MIN, usize::max);
    for verdict in verdicts {
        let name = one_line(&verdict.checker, TEXT_MAX);
        let line = format!("{name:<width$}{}  {}", verdict_word(verdict.pass), one_line(&verdict.summary, TEXT_MAX));
        lines.push(line.trim_end().to_owned());
        for violation in verdict.violations.iter().take(VIOLATIONS_SHOWN) {
            lines.push(format!("    {}", violation_line(violation)));
        }
        if verdict.violations.len() > VIOLATIONS_SHOWN {
            lines.push(format!("    ... and {} more in report.json", verdict.violations.len() - VIOLATIONS_SHOWN));
        }
    }
    lines.push(String::new());
    lines.push(format!("reproduce: {}", one_line(&meta.reproduce, usize::MAX)).trim_end().to_owned());
    join(lines)
}

/// Simulated seconds per wall second (`412x`), or `-` when no wall time was measured.
fn speed(sim_ms: u64, wall_ms: u64) -> String {
    if wall_ms == 0 {
        return "-".to_owned();
    }
    let ratio = sim_ms as f64 / wall_ms as f64;
    if ratio >= 10.0 {
        format!("{ratio:.0}x")
    } else {
        format!("{ratio:.2}x")
    }
}

/// `PASS (8 checks)` or `FAIL (2 of 8 checks failed: lost, order)`.
fn verdict_line(verdicts: &[CheckResult]) -> String {
    let failed: Vec<String> =
        verdicts.iter().filter(|verdict| !verdict.pass).map(|verdict| one_line(&verdict.checker, TEXT_MAX)).collect();
    let plural = if verdicts.len() == 1 { "" } else { "s" };
    if failed.is_empty() {
        format!("PASS ({} check{plural})", verdicts.len())
    } else {
        format!("FAIL ({} of {} check{plural} failed: {})", failed.len(), verdicts.len(), failed.join(", "))
    }
}

/// ` (partition halves x2, clog broker-a x1)`: the faults by name, the first few only.
fn fault_names(analysis: &Analysis) -> String {
    let by_name = &analysis.counts.faults.by_name;
    if by_name.is_empty() {
        return String::new();
    }
    let mut names: Vec<String> = by_name
        .iter()
        .take(FAULT_NAMES_SHOWN)
        .map(|(name, started)| format!("{} x{started}", one_line(name, TEXT_MAX)))
        .collect();
    if by_name.len() > FAULT_NAMES_SHOWN {
        names.push(format!("{} more", by_name.len() - FAULT_NAMES_SHOWN));
    }
    format!(" ({})", names.join(", "))
}

/// Microseconds as milliseconds with two decimals, rounded half up: `12.35ms`.
pub(super) fn ms_2(us: u64) -> String {
    let hundredths = us / 10 + u64::from(us % 10 >= 5);
    format!("{}.{:02}ms", hundredths / 100, hundredths % 100)
}

/// `p50 1.23ms  p90 ...  max 52.10ms  (1150 acks)` with `samples` naming what was measured, or
/// `none` when nothing was.
fn latency_line(latency: Option<&Latency>, samples: &str, none: &str) -> String {
    match latency {
        None => none.to_owned(),
        Some(latency) => format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} {samples})",
            ms_2(latency.p50),
            ms_2(latency.p90),
            ms_2(latency.p99),
            ms_2(latency.p99_9),
            ms_2(latency.max),
            latency.samples
        ),
    }
}

/// `p0-3, p0-4: detail`, with at most [`IDS_SHOWN`] ids.
fn violation_line(violation: &Violation) -> String {
    let mut ids: Vec<String> = violation.ids.iter().take(IDS_SHOWN).map(ToString::to_string).collect();
    if violation.ids.len() > IDS_SHOWN {
        ids.push(format!("+{} more", violation.ids.len() - IDS_SHOWN));
    }
    let detail = one_line(&violation.detail, TEXT_MAX);
    match (ids.is_empty(), detail.is_empty()) {
        (true, _) => detail,
        (false, true) => ids.join(", "),
        (false, false) => format!("{}: {detail}", ids.join(", ")),
    }
}

/// `timeline.txt`: one line per node start, failed start, stop and crash, fault start and end,
/// and phase change, in history order. Consecutive starts (or clean stops) at the same instant share a
/// line.
pub(super) fn timeline(history: &History) -> String {
    let mut lines = Vec::new();
    // Consecutive node starts or stops at one instant: (at_ms, verb, nodes).
    let mut group: Option<(u64, &'static str, Vec<&str>)> = None;
    for event in &history.events {
        let at_ms = event.at_ms;
        let grouped = match &event.op {
            Op::NodeStarted { node, .. } => Some(("start", node)),
            Op::NodeStopped { node, .. } => Some(("stop", node)),
            _ => None,
        };
        if let Some((verb, node)) = grouped {
            match &mut group {
                Some((group_ms, group_verb, nodes)) if *group_ms == at_ms && *group_verb == verb => nodes.push(node),
                _ => {
                    if let Some((group_ms, group_verb, nodes)) = group.take() {
                        lines.push(timeline_line(group_ms, group_verb, &node_list(&nodes)));
                    }
                    group = Some((at_ms, verb, vec![node.as_str()]));
                }
            }
            continue;
        }
        let (verb, text) = match &event.op {
            Op::NodeCrashed { node, kind, .. } => {
                ("crash", format!("{} ({})", one_line(node, TEXT_MAX), crash_kind_name(*kind)))
            }
            Op::NodeStartFailed { node, error, .. } => {
                ("fail", format!("{} (start failed: {})", one_line(node, TEXT_MAX), one_line(error, TEXT_MAX)))
            }
            Op::FaultStarted { fault, nodes } => ("fault", fault_text(fault, nodes)),
            Op::FaultEnded { fault, nodes } => ("clear", fault_text(fault, nodes)),
            Op::FaultsHealed => ("heal", "every fault healed, nemesis stopped: liveness phase".to_owned()),
            Op::ProducersStopped => ("drain", "producers stopped, consumers draining".to_owned()),
            Op::RunEnded => ("end", "run ended".to_owned()),
            _ => continue,
        };
        if let Some((group_ms, group_verb, nodes)) = group.take() {
            lines.push(timeline_line(group_ms, group_verb, &node_list(&nodes)));
        }
        lines.push(timeline_line(at_ms, verb, &text));
    }
    if let Some((group_ms, group_verb, nodes)) = group.take() {
        lines.push(timeline_line(group_ms, group_verb, &node_list(&nodes)));
    }
    if lines.is_empty() {
        lines.push("(no node, fault or phase events)".to_owned());
    }
    join(lines)
}

/// `  12.345s  crash  broker-a (power_loss)`.
fn timeline_line(at_ms: u64, verb: &str, text: &str) -> String {
    format!("{:>9}  {verb:<5}  {text}", secs(at_ms)).trim_end().to_owned()
}

/// `namesrv-0, broker-a`.
fn node_list(nodes: &[&str]) -> String {
    nodes.iter().map(|node| one_line(node, TEXT_MAX)).collect::<Vec<_>>().join(", ")
}

/// `partition halves: broker-a, namesrv-0`, or the bare name when no node is listed.
fn fault_text(fault: &str, nodes: &[String]) -> String {
    let name = one_line(fault, TEXT_MAX);
    if nodes.is_empty() {
        name
    } else {
        format!("{name}: {}", nodes.iter().map(|node| one_line(node, TEXT_MAX)).collect::<Vec<_>>().join(", "))
    }
}

/// The lines, each ended by a newline.
fn join(lines: Vec<String>) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
