//! `report.json`: the report's facts for tools.

use serde::Serialize;

use crate::checkers::CheckResult;

use super::analysis::{Analysis, Counts, Interval, Latency, Throughput};
use super::RunMeta;

/// The document written to `report.json`.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    /// The run's meta, as given.
    meta: &'a RunMeta,
    /// Whether every checker passed.
    pass: bool,
    /// The end of the run, simulated ms (`meta.sim_ms`, or the latest event if later).
    end_ms: u64,
    /// Event counts.
    counts: &'a Counts,
    /// Publish latency percentiles, µs; `null` when no send was acknowledged.
    latency_us: Option<&'a Latency>,
    /// Delivery latency percentiles (broker store time to the listener), µs; `null` without a
    /// successful delivery.
    delivery_latency_us: Option<&'a Latency>,
    /// Acknowledgements and successful deliveries per bucket of simulated time.
    throughput: &'a Throughput,
    /// Fault, crash and clean-stop intervals (`end_ms` null while open at the end).
    faults: &'a [Interval],
    /// When every fault was healed, simulated ms (normally one entry).
    healed_ms: &'a [u64],
    /// When the producers stopped, simulated ms (normally one entry).
    producers_stopped_ms: &'a [u64],
    /// The checkers' verdicts, as given.
    verdicts: &'a [CheckResult],
}

/// Pretty JSON of the report, ended by a newline.
pub(super) fn render(meta: &RunMeta, analysis: &Analysis, verdicts: &[CheckResult], pass: bool) -> String {
    let report = JsonReport {
        meta,
        pass,
        end_ms: analysis.end_ms,
        counts: &analysis.counts,
        latency_us: analysis.latency.as_ref(),
        delivery_latency_us: analysis.delivery_latency.as_ref(),
        throughput: &analysis.throughput,
        faults: &analysis.intervals,
        healed_ms: &analysis.healed_ms,
        producers_stopped_ms: &analysis.producers_stopped_ms,
        verdicts,
    };
    let mut out = match serde_json::to_string_pretty(&report) {
        Ok(text) => text,
        // Plain data with string map keys cannot fail to serialise; keep the file valid JSON anyway.
        Err(error) => serde_json::json!({ "error": error.to_string() }).to_string(),
    };
    out.push('\n');
    out
}
