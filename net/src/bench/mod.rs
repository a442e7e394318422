//! `petrel bench`: an OpenMessaging-Benchmark-style workload against a running cluster.
//!
//! It lives in the library (not in the binary) so that it builds, and could be driven, like the
//! clients it uses; the binary only parses options and prints. One run:
//! 1. creates the topic with `queues` read and write queues on every master of every cluster
//!    the name servers know (`AdminClient::update_topic`) and waits for its route;
//! 2. starts `consumers` push consumers in a fresh group (consuming from the first offset, so
//!    nothing sent is skipped) and lets them settle their queue assignment;
//! 3. runs `producers` producers, each with at most `in_flight` sends outstanding and, when
//!    `rate > 0`, paced to `rate / producers` sends per second with tokio's timers; every body
//!    starts with the run id and the send time (ns since a base `Instant` shared in-process);
//! 4. discards the `warmup` seconds, measures `duration` seconds, then stops the producers and
//!    drains: waits until every message sent in the window was delivered, or `drain_timeout`.
//!
//! Clocks come from `petrel_core::clock` only.

pub mod report;
pub mod stats;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use petrel_core::client::MessageQueue;
use petrel_core::clock;
use petrel_core::message::{Message, MessageExt};
use petrel_core::protocol::TopicConfig;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::admin::{AdminClient, AdminError, TopicTarget};
use crate::client::{
    ConsumeFrom, ConsumeResult, ConsumerConfig, MessageListener, Producer, ProducerConfig, PushConsumer,
};
pub use report::{BenchReport, Latency, Progress};
use stats::Stats;

/// Bound on each admin request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Route polls before giving up on a created topic's route.
const ROUTE_POLLS_MAX: u32 = 50;
/// Pause between route polls, and between drain checks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Interval of progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// A run's settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Name servers.
    pub namesrv: Vec<SocketAddr>,
    /// Topic, created (or updated) with `queues` queues.
    pub topic: String,
    /// Read and write queues per broker.
    pub queues: i32,
    /// Body size in bytes (at least the 16-byte header).
    pub size: usize,
    /// Producers, each with its own connections.
    pub producers: usize,
    /// Push consumers of one group.
    pub consumers: usize,
    /// Total sends per second over all producers; 0 sends as fast as possible.
    pub rate: u64,
    /// Sends outstanding per producer at most.
    pub in_flight: usize,
    /// Seconds run before measuring.
    pub warmup: Duration,
    /// Seconds measured.
    pub duration: Duration,
    /// Bound on the drain after the window.
    pub drain_timeout: Duration,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// Creating the topic failed.
    #[error("creating the topic: {0}")]
    Admin(#[from] AdminError),
    /// The name servers know no cluster to create the topic on.
    #[error("the name servers know no broker cluster")]
    NoCluster,
    /// The topic's route did not show its queues in time.
    #[error("topic {0}: no route with its queues after creation")]
    NoRoute(String),
}

impl BenchConfig {
    /// Checks the settings.
    fn validate(&self) -> Result<(), BenchError> {
        let fail = |what: &str| Err(BenchError::Config(format!("{what} must be > 0")));
        if self.namesrv.is_empty() {
            return Err(BenchError::Config("no name server".into()));
        }
        if self.queues <= 0 {
            return fail("--queues");
        }
        if self.producers == 0 || self.consumers == 0 || self.in_flight == 0 {
            return fail("--producers, --consumers and --in-flight");
        }
        if self.duration.is_zero() {
            return fail("--duration");
        }
        Ok(())
    }
}

/// Runs the workload; `progress` gets a line every 5 s. The warm-up is discarded.
pub async fn run(config: BenchConfig, progress: &mut (dyn FnMut(Progress) + Send)) -> Result<BenchReport, BenchError> {
    config.validate()?;
    create_topic(&config).await?;
    let run_id = u64::try_from(clock::epoch_ms()).unwrap_or(0);
    let stats = Arc::new(Stats::new(run_id, clock::monotonic()));
    let consumers = start_consumers(&config, &stats, run_id).await;
    let start = clock::monotonic();
    let window_start = start + config.warmup;
    let end = window_start + config.duration;
    stats.set_window(window_start, end);
    let config = Arc::new(config);
    let producers: Vec<_> = (0..config.producers)
        .map(|index| tokio::spawn(produce(config.clone(), stats.clone(), run_id, index, end)))
        .collect();
    report_progress(&stats, start, window_start, end, progress).await;
    for task in producers {
        // A panicked producer has stopped as well; its sends are simply missing.
        let _ = task.await;
    }
    let drained = drain(&stats, config.drain_timeout).await;
    for consumer in consumers {
        consumer.shutdown().await;
    }
    Ok(summary(&stats, config.duration, drained))
}

/// Creates the topic on every master of every cluster, then waits for its route.
async fn create_topic(config: &BenchConfig) -> Result<(), BenchError> {
    let admin = AdminClient::new(config.namesrv.clone(), ADMIN_TIMEOUT);
    let result = create_topic_with(&admin, config).await;
    admin.shutdown().await;
    result
}

/// `create_topic` through `admin`.
async fn create_topic_with(admin: &AdminClient, config: &BenchConfig) -> Result<(), BenchError> {
    let clusters = admin.cluster_list().await?.cluster_addr_table;
    if clusters.is_empty() {
        return Err(BenchError::NoCluster);
    }
    let topic = TopicConfig {
        read_queue_nums: config.queues,
        write_queue_nums: config.queues,
        perm: 6,
        ..TopicConfig::new(config.topic.clone(), config.queues)
    };
    for cluster in clusters.keys() {
        admin.update_topic(&TopicTarget::Cluster(cluster.clone()), &topic).await?;
    }
    for _ in 0..ROUTE_POLLS_MAX {
        if let Ok(route) = admin.topic_route(&config.topic).await {
            let ready = !route.queue_datas.is_empty()
                && route.queue_datas.iter().all(|data| data.write_queue_nums == config.queues);
            if ready {
                return Ok(());
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Err(BenchError::NoRoute(config.topic.clone()))
}

/// The consumers' listener: records each delivery's end-to-end latency.
struct BenchListener {
    /// Where deliveries are counted.
    stats: Arc<Stats>,
}

impl MessageListener for BenchListener {
    fn consume(
        &self,
        msgs: Arc<[MessageExt]>,
        _queue: &MessageQueue,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ConsumeResult> + Send>> {
        let now_ns = self.stats.now_ns();
        for message in msgs.iter() {
            self.stats.record_delivery(&message.body, now_ns);
        }
        Box::pin(async { ConsumeResult::Success })
    }
}

/// Starts the consumers in a fresh group and rebalances each once they all heartbeat.
async fn start_consumers(config: &BenchConfig, stats: &Arc<Stats>, run_id: u64) -> Vec<PushConsumer> {
    let group = format!("petrel-bench-{run_id}");
    let mut consumers = Vec::with_capacity(config.consumers);
    for index in 0..config.consumers {
        let instance = format!("bench-{run_id}-{index}");
        let mut consumer_config =
            ConsumerConfig::new(group.clone(), config.namesrv.clone(), &instance).subscribe(&config.topic, "*");
        consumer_config.consume_from = ConsumeFrom::FirstOffset;
        let listener = Arc::new(BenchListener { stats: stats.clone() });
        consumers.push(PushConsumer::start(consumer_config, listener).await);
    }
    for consumer in &consumers {
        consumer.rebalance().await;
    }
    consumers
}

/// One producer: sends until `end`, at most `in_flight` at once, paced when `rate > 0`.
async fn produce(config: Arc<BenchConfig>, stats: Arc<Stats>, run_id: u64, index: usize, end: Instant) {
    let mut producer_config = ProducerConfig::new(format!("petrel-bench-{run_id}"), config.namesrv.clone());
    producer_config.instance_name = format!("bench-{run_id}-{index}");
    let producer = Arc::new(Producer::start(producer_config));
    let slots = Arc::new(Semaphore::new(config.in_flight));
    let interval = pace_interval(config.rate, config.producers);
    let mut next = clock::monotonic();
    while clock::monotonic() < end {
        if let Some(interval) = interval {
            tokio::time::sleep_until(next).await;
            next += interval;
        }
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (producer, stats, topic) = (producer.clone(), stats.clone(), config.topic.clone());
        let size = config.size;
        tokio::spawn(async move {
            send_one(&producer, &stats, topic, size).await;
            drop(permit);
        });
    }
    let all = u32::try_from(config.in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    if let Ok(producer) = Arc::try_unwrap(producer) {
        producer.shutdown().await;
    }
}

/// Time between two sends of one producer when the total rate is `rate` (0: no pacing).
fn pace_interval(rate: u64, producers: usize) -> Option<Duration> {
    let per_producer = rate / u64::try_from(producers).unwrap_or(1).max(1);
    (rate > 0).then(|| Duration::from_nanos(1_000_000_000 / per_producer.max(1)))
}

/// Sends one timestamped message and records the outcome.
async fn send_one(producer: &Producer, stats: &Stats, topic: String, size: usize) {
    let started = clock::monotonic();
    let send_ns = stats.ns_at(started);
    let message = Message::new(topic, stats.body(send_ns, size));
    let result = producer.send(message).await;
    let latency = clock::monotonic().saturating_duration_since(started);
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    stats.record_send(send_ns, latency_us, result.is_ok());
}

/// Calls `progress` every 5 s until `end`.
async fn report_progress(
    stats: &Stats,
    start: Instant,
    window_start: Instant,
    end: Instant,
    progress: &mut (dyn FnMut(Progress) + Send),
) {
    let mut last = (start, 0_u64, 0_u64);
    loop {
        let next = (last.0 + PROGRESS_INTERVAL).min(end);
        tokio::time::sleep_until(next).await;
        let now = clock::monotonic();
        let published = stats.published_total.load(Ordering::Relaxed);
        let consumed = stats.consumed_total.load(Ordering::Relaxed);
        let seconds = now.saturating_duration_since(last.0).as_secs_f64().max(1e-9);
        let p99_us = {
            let mut histograms = stats.histograms();
            let p99 = histograms.interval_publish.value_at_quantile(0.99);
            histograms.interval_publish.reset();
            p99
        };
        progress(Progress {
            elapsed_s: now.saturating_duration_since(start).as_secs_f64(),
            warmup: now <= window_start,
            publish_rate: count_f64(published - last.1) / seconds,
            consume_rate: count_f64(consumed - last.2) / seconds,
            publish_p99_ms: count_f64(p99_us) / 1_000.0,
        });
        last = (now, published, consumed);
        if now >= end {
            return;
        }
    }
}

/// A count as a float (exact below 2^52).
fn count_f64(count: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let value = count as f64;
    value
}

/// Waits until every message sent in the window was delivered, or `timeout`; whether it was.
async fn drain(stats: &Stats, timeout: Duration) -> bool {
    let deadline = clock::monotonic() + timeout;
    loop {
        let published = stats.published.load(Ordering::Relaxed);
        if stats.consumed.load(Ordering::Relaxed) >= published {
            return true;
        }
        if clock::monotonic() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The report of a finished run.
fn summary(stats: &Stats, duration: Duration, drained: bool) -> BenchReport {
    let seconds = duration.as_secs_f64();
    let published = stats.published.load(Ordering::Relaxed);
    let consumed_in_window = stats.consumed_in_window.load(Ordering::Relaxed);
    let histograms = stats.histograms();
    BenchReport {
        duration_s: seconds,
        published,
        publish_errors: stats.publish_errors.load(Ordering::Relaxed),
        consumed: stats.consumed.load(Ordering::Relaxed),
        consumed_in_window,
        drained,
        publish_rate: count_f64(published) / seconds,
        consume_rate: count_f64(consumed_in_window) / seconds,
        publish_latency: Latency::of(&histograms.publish),
        e2e_latency: Latency::of(&histograms.e2e),
    }
}
