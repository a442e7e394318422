//! What `bench::run` returns and prints: progress lines and the final summary, as text or JSON.

use std::fmt;

use hdrhistogram::Histogram;

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value recorded.
    pub max_ms: f64,
}

/// Microseconds to milliseconds.
fn us_to_ms(us: u64) -> f64 {
    // Latencies stay far below 2^52 us, where the conversion would round.
    #[allow(clippy::cast_precision_loss)]
    let ms = us as f64 / 1_000.0;
    ms
}

impl Latency {
    /// The percentiles of a histogram in microseconds (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        Latency {
            p50_ms: us_to_ms(histogram.value_at_quantile(0.50)),
            p99_ms: us_to_ms(histogram.value_at_quantile(0.99)),
            p999_ms: us_to_ms(histogram.value_at_quantile(0.999)),
            max_ms: us_to_ms(histogram.max()),
        }
    }

    /// `{"p50":..,"p99":..,"p999":..,"max":..}`.
    fn to_json(self) -> String {
        format!(
            "{{\"p50\":{:.2},\"p99\":{:.2},\"p999\":{:.2},\"max\":{:.2}}}",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }
}

/// One progress line: the last interval's rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Seconds since the producers started.
    pub elapsed_s: f64,
    /// Whether the interval ended in the warm-up.
    pub warmup: bool,
    /// Acknowledged sends per second over the interval.
    pub publish_rate: f64,
    /// Deliveries per second over the interval.
    pub consume_rate: f64,
    /// 99th percentile publish latency over the interval, ms.
    pub publish_p99_ms: f64,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = if self.warmup { " (warm-up)" } else { "" };
        write!(
            f,
            "{:>6.1} s{phase}: pub {:.0} msg/s, cons {:.0} msg/s, pub p99 {:.2} ms",
            self.elapsed_s, self.publish_rate, self.consume_rate, self.publish_p99_ms
        )
    }
}

/// The summary of a run. Counts and rates cover the measurement window only (the warm-up is
/// discarded): see the field comments for exactly which messages each one counts.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Length of the measurement window, seconds.
    pub duration_s: f64,
    /// Acknowledged sends started in the window.
    pub published: u64,
    /// Failed sends started in the window.
    pub publish_errors: u64,
    /// Deliveries, during the window or the drain after it, of messages whose send started in
    /// the window (a redelivery counts again).
    pub consumed: u64,
    /// Deliveries received during the window, whenever sent.
    pub consumed_in_window: u64,
    /// Whether `consumed` reached `published` before the drain timeout.
    pub drained: bool,
    /// `published / duration_s`.
    pub publish_rate: f64,
    /// `consumed_in_window / duration_s`.
    pub consume_rate: f64,
    /// Publish latency (send to acknowledgement) of the sends counted in `published`.
    pub publish_latency: Latency,
    /// End-to-end latency (send to delivery) of the deliveries counted in `consumed`.
    pub e2e_latency: Latency,
}

impl BenchReport {
    /// The summary as one JSON object on one line.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"durationS\":{:.3},\"published\":{},\"publishErrors\":{},\"consumed\":{},\
             \"consumedInWindow\":{},\"drained\":{},\"publishRate\":{:.1},\"consumeRate\":{:.1},\
             \"publishLatencyMs\":{},\"e2eLatencyMs\":{}}}",
            self.duration_s,
            self.published,
            self.publish_errors,
            self.consumed,
            self.consumed_in_window,
            self.drained,
            self.publish_rate,
            self.consume_rate,
            self.publish_latency.to_json(),
            self.e2e_latency.to_json()
        )
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "publish: {:.0} msg/s ({} acknowledged, {} failed in {:.1} s)",
            self.publish_rate, self.published, self.publish_errors, self.duration_s
        )?;
        writeln!(
            f,
            "consume: {:.0} msg/s ({} received in the window; {} of the window's messages \
             delivered{})",
            self.consume_rate,
            self.consumed_in_window,
            self.consumed,
            if self.drained { "" } else { ", NOT drained" }
        )?;
        writeln!(f, "publish latency: {}", self.publish_latency)?;
        write!(f, "end-to-end latency: {}", self.e2e_latency)
    }
}
