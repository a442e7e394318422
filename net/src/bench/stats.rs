//! The benchmark's shared counters and latency histograms, and the body format that carries a
//! send's timestamp to the consumers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hdrhistogram::Histogram;
use petrel_core::clock;
use tokio::time::Instant;

/// Highest latency a histogram records, in microseconds (one minute); larger values saturate.
const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant decimal digits the histograms keep.
const HISTOGRAM_DIGITS: u8 = 3;
/// Bytes of a body's header: the run id, then the send time.
pub const BODY_HEADER_BYTES: usize = 16;
/// A window bound meaning "not set yet": no send time falls in `[UNSET, UNSET)`.
const WINDOW_UNSET: u64 = u64::MAX;

/// A latency histogram in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, HISTOGRAM_DIGITS).expect("the histogram bounds are valid")
}

/// The histograms, behind one lock.
#[derive(Debug)]
pub struct Histograms {
    /// Publish latency of sends started in the measurement window.
    pub publish: Histogram<u64>,
    /// End-to-end latency of deliveries of messages sent in the measurement window.
    pub e2e: Histogram<u64>,
    /// Publish latency of every send since the last progress line.
    pub interval_publish: Histogram<u64>,
}

/// What producers, consumers and the progress reporter share.
#[derive(Debug)]
pub struct Stats {
    /// This run's id, first in every body: deliveries of other runs' messages are ignored.
    run_id: u64,
    /// Origin of the send times in bodies (producers and consumers share the process).
    base: Instant,
    /// Start of the measurement window, ns since `base`.
    window_start_ns: AtomicU64,
    /// End of the measurement window, ns since `base`.
    window_end_ns: AtomicU64,
    /// Acknowledged sends started in the window.
    pub published: AtomicU64,
    /// Failed sends started in the window.
    pub publish_errors: AtomicU64,
    /// Acknowledged sends of the whole run (progress lines).
    pub published_total: AtomicU64,
    /// Deliveries of messages sent in the window (duplicates counted).
    pub consumed: AtomicU64,
    /// Deliveries received during the window, whenever sent (consume rate).
    pub consumed_in_window: AtomicU64,
    /// Deliveries of this run's messages (progress lines).
    pub consumed_total: AtomicU64,
    /// The latency histograms.
    histograms: Mutex<Histograms>,
}

impl Stats {
    /// Empty statistics of run `run_id`, timing from `base`; no window yet.
    pub fn new(run_id: u64, base: Instant) -> Stats {
        Stats {
            run_id,
            base,
            window_start_ns: AtomicU64::new(WINDOW_UNSET),
            window_end_ns: AtomicU64::new(WINDOW_UNSET),
            published: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            published_total: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            consumed_in_window: AtomicU64::new(0),
            consumed_total: AtomicU64::new(0),
            histograms: Mutex::new(Histograms {
                publish: latency_histogram(),
                e2e: latency_histogram(),
                interval_publish: latency_histogram(),
            }),
        }
    }

    /// Sets the measurement window: sends started in `[start, end)` are measured.
    pub fn set_window(&self, start: Instant, end: Instant) {
        self.window_start_ns.store(self.ns_at(start), Ordering::Relaxed);
        self.window_end_ns.store(self.ns_at(end), Ordering::Relaxed);
    }

    /// Nanoseconds from `base` to `at`.
    pub fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether a send at `send_ns` is in the measurement window.
    pub fn in_window(&self, send_ns: u64) -> bool {
        send_ns >= self.window_start_ns.load(Ordering::Relaxed) && send_ns < self.window_end_ns.load(Ordering::Relaxed)
    }

    /// The histograms, locked (never across an await).
    pub fn histograms(&self) -> MutexGuard<'_, Histograms> {
        self.histograms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A body of `size` bytes (at least the header) for a send at `send_ns`.
    pub fn body(&self, send_ns: u64, size: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(size.max(BODY_HEADER_BYTES));
        body.extend_from_slice(&self.run_id.to_be_bytes());
        body.extend_from_slice(&send_ns.to_be_bytes());
        body.resize(size.max(BODY_HEADER_BYTES), b'x');
        body
    }

    /// Records a send started at `send_ns` that took `latency_us`, acknowledged or not.
    pub fn record_send(&self, send_ns: u64, latency_us: u64, acknowledged: bool) {
        let measured = self.in_window(send_ns);
        if !acknowledged {
            if measured {
                self.publish_errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        self.published_total.fetch_add(1, Ordering::Relaxed);
        let mut histograms = self.histograms();
        histograms.interval_publish.saturating_record(latency_us);
        if measured {
            self.published.fetch_add(1, Ordering::Relaxed);
            histograms.publish.saturating_record(latency_us);
        }
    }

    /// Records the delivery of `body` received at `now_ns`; ignores other runs' messages.
    pub fn record_delivery(&self, body: &[u8], now_ns: u64) {
        let Some((run_id, send_ns)) = parse_header(body) else {
            return;
        };
        if run_id != self.run_id {
            return;
        }
        self.consumed_total.fetch_add(1, Ordering::Relaxed);
        if self.in_window(now_ns) {
            self.consumed_in_window.fetch_add(1, Ordering::Relaxed);
        }
        if self.in_window(send_ns) {
            self.consumed.fetch_add(1, Ordering::Relaxed);
            let latency_us = now_ns.saturating_sub(send_ns) / 1_000;
            self.histograms().e2e.saturating_record(latency_us);
        }
    }

    /// Nanoseconds since `base`, now.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(clock::monotonic())
    }
}

/// The run id and send time at the head of a benchmark body.
fn parse_header(body: &[u8]) -> Option<(u64, u64)> {
    let run_id = body.get(..8)?.try_into().ok().map(u64::from_be_bytes)?;
    let send_ns = body.get(8..16)?.try_into().ok().map(u64::from_be_bytes)?;
    Some((run_id, send_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_carries_its_run_and_send_time() {
        let base = clock::monotonic();
        let stats = Stats::new(7, base);
        stats.set_window(base, base + std::time::Duration::from_secs(60));
        let body = stats.body(5_000, 1024);
        assert_eq!(body.len(), 1024);
        assert_eq!(parse_header(&body), Some((7, 5_000)));
        stats.record_delivery(&body, 2_005_000);
        stats.record_delivery(&Stats::new(8, base).body(5_000, 32), 2_005_000);
        assert_eq!(stats.consumed.load(Ordering::Relaxed), 1);
        let max = stats.histograms().e2e.max();
        assert!((1_990..=2_010).contains(&max), "max {max}");
    }
}
