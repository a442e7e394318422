//! A run's report: summary, fault timeline, throughput over simulated time, latency
//! percentiles, a plot, and JSON for tools.
//!
//! [`render`] turns a run's [`RunMeta`], [`History`] and checker verdicts into four files a person
//! opens after a seeded chaos run:
//! - `summary.txt` ([`text::summary`]): the run's facts, counts, publish latency percentiles,
//!   delivery latency percentiles (a message's broker store time to the moment a consumer's
//!   listener was handed it), one line per checker with its first violations, and the command
//!   that reproduces the run;
//! - `timeline.txt` ([`text::timeline`]): one line per node start/stop/crash, fault and phase
//!   change, in simulated time;
//! - `report.json` ([`json::render`]): the same facts for tools, with the per-bucket throughput
//!   series and the fault intervals;
//! - `throughput.svg` ([`svg::render`]): acknowledged sends and successful deliveries per second
//!   over simulated time, with faults and crashes shaded behind the lines.
//!
//! Everything is derived from the inputs alone: no clock is read, every map is a `BTreeMap`, and
//! only the text derived from `RunMeta::wall_ms` (the wall time and the simulation speed) changes
//! between two renders of the same run. Nothing here panics, whatever the history holds: events
//! out of time order, unmatched fault ends, crashes of nodes that never started, or times near
//! `u64::MAX` are all reported as they are.

mod analysis;
mod json;
mod svg;
mod text;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::checkers::CheckResult;
use crate::history::History;

use self::analysis::Analysis;

/// Facts about a run that the history does not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Simulated time the run took, ms.
    pub sim_ms: u64,
    /// Wall-clock time the run took, ms (not part of the deterministic output).
    pub wall_ms: u64,
    /// The command that reproduces this run.
    pub reproduce: String,
}

/// The rendered report files.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `summary.txt`.
    pub summary: String,
    /// `report.json`.
    pub json: String,
    /// `timeline.txt`.
    pub timeline: String,
    /// `throughput.svg`.
    pub svg: String,
}

/// Renders the report of a run.
pub fn render(meta: &RunMeta, history: &History, verdicts: &[CheckResult]) -> Report {
    let analysis = Analysis::of(meta, history);
    let pass = verdicts.iter().all(|verdict| verdict.pass);
    Report {
        summary: text::summary(meta, &analysis, verdicts),
        json: json::render(meta, &analysis, verdicts, pass),
        timeline: text::timeline(history),
        svg: svg::render(meta, &analysis, pass),
    }
}

/// `PASS` or `FAIL`.
fn verdict_word(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Simulated milliseconds as seconds with three decimals: `12.345s`.
fn secs(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// `text` made safe for one line of a text report: control characters (newlines included)
/// become spaces, and anything past `max_chars` characters is cut and marked with `...`.
fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_add(3)));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}
