//! `ConsumerConfig`: what a push consumer needs to know, with RocketMQ 4.x's defaults
//! (`DefaultMQPushConsumer`), and `PullConsumerConfig` for the simple pull consumer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use petrel_core::client::rebalance::AllocateStrategy;
use petrel_core::client::MessageQueue;
use petrel_core::planted::PlantedBug;
use petrel_core::protocol::heartbeat::{ConsumeFromWhere, MessageModel};
use petrel_core::store::disk::DiskRef;

use crate::remoting::ClientConfig;

/// Messages one pull asks for (`pullBatchSize`, 32).
pub const PULL_BATCH_SIZE_DEFAULT: i32 = 32;
/// Messages in flight per queue before pulling pauses (`pullThresholdForQueue`, 1000).
pub const QUEUE_IN_FLIGHT_COUNT_MAX_DEFAULT: usize = 1000;
/// Body bytes in flight per queue before pulling pauses (`pullThresholdSizeForQueue`, 100 MiB).
pub const QUEUE_IN_FLIGHT_BYTES_MAX_DEFAULT: usize = 100 << 20;

/// Where a group that has no committed offset for a queue starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFrom {
    /// At the queue's end: only messages that arrive later (`CONSUME_FROM_LAST_OFFSET`).
    LastOffset,
    /// At the queue's first stored message (`CONSUME_FROM_FIRST_OFFSET`).
    FirstOffset,
    /// At the first message stored at or after this time, ms since the epoch
    /// (`CONSUME_FROM_TIMESTAMP`).
    Timestamp(i64),
}

impl ConsumeFrom {
    /// The heartbeat's name of the setting.
    pub fn to_where(self) -> ConsumeFromWhere {
        match self {
            ConsumeFrom::LastOffset => ConsumeFromWhere::ConsumeFromLastOffset,
            ConsumeFrom::FirstOffset => ConsumeFromWhere::ConsumeFromFirstOffset,
            ConsumeFrom::Timestamp(_) => ConsumeFromWhere::ConsumeFromTimestamp,
        }
    }
}

/// Where broadcasting mode keeps its offsets across restarts: a file on a `Disk`, replaced
/// atomically at every persist.
#[derive(Clone)]
pub struct OffsetFileConfig {
    /// The disk holding the file.
    pub disk: DiskRef,
    /// The file's path on that disk.
    pub path: String,
}

impl fmt::Debug for OffsetFileConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffsetFileConfig").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Configuration of a `PushConsumer`.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Consumer group: members share the queues (clustering) or each get all (broadcasting).
    pub group: String,
    /// Name servers to ask for routes, tried in turn until one answers.
    pub namesrv_addrs: Vec<SocketAddr>,
    /// (topic, subscription expression such as `*` or `TagA || TagB`).
    pub subscriptions: Vec<(String, String)>,
    /// Clustering (share queues, offsets on the broker) or broadcasting (all queues, offsets
    /// kept locally).
    pub message_model: MessageModel,
    /// Where to start in a queue with no committed offset.
    pub consume_from: ConsumeFrom,
    /// How the group's members split the queues (clustering).
    pub allocate: AllocateStrategy,
    /// Messages one pull asks for (`pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// Messages handed to the listener at once (`consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Listener calls running at once (`consumeThreadMax`, 20 in Java; tasks here).
    pub consume_concurrency: usize,
    /// Per-queue flow control: pulling pauses at this many messages in flight (1000).
    pub queue_in_flight_count_max: usize,
    /// Per-queue flow control: pulling pauses at this many body bytes in flight (100 MiB).
    pub queue_in_flight_bytes_max: usize,
    /// How long a paused queue waits before it looks again (Java: 50 ms).
    pub flow_control_pause: Duration,
    /// How often the group is rebalanced besides notifications (20 s).
    pub rebalance_interval: Duration,
    /// How often offsets are committed (`persistConsumerOffsetInterval`, 5 s).
    pub offset_persist_interval: Duration,
    /// How often heartbeats go to the brokers (`heartbeatBrokerInterval`, 30 s).
    pub heartbeat_interval: Duration,
    /// How often routes are fetched again (`pollNameServerInterval`, 30 s).
    pub route_refresh_interval: Duration,
    /// How long the broker may hold a pull that finds nothing (15 s).
    pub long_poll_suspend: Duration,
    /// Client-side bound on one pull (30 s; above `long_poll_suspend`).
    pub pull_timeout: Duration,
    /// Bound on every other request (offsets, heartbeats, routes).
    pub call_timeout: Duration,
    /// Pause before a queue pulls again after a failed pull (Java: 3 s).
    pub pull_error_pause: Duration,
    /// Delay before a batch the listener answered `Later` is consumed again, locally.
    pub reconsume_delay: Duration,
    /// Bound on waiting for running listener calls at shutdown.
    pub shutdown_drain_timeout: Duration,
    /// This client's id in the group (`ip@instanceName`); must be unique in the group.
    pub client_id: String,
    /// Broadcasting only: the file that keeps offsets across restarts (memory only if `None`).
    pub offset_file: Option<OffsetFileConfig>,
    /// Bounds of the remoting client's connections.
    pub remoting: ClientConfig,
    /// Told of offset commits and queue assignments (the simulation records them).
    pub observer: Option<Arc<dyn ConsumerObserver>>,
    /// A deliberate defect for checker tests (`None` in every real configuration).
    pub planted: Option<PlantedBug>,
}

/// Hooks into a push consumer's life, for tests and the simulation's history. Calls come
/// from the consumer's tasks and must not block.
pub trait ConsumerObserver: Send + Sync {
    /// An offset was committed (a broker accepted it, or the local file was written): the
    /// next offset to consume in `queue`.
    fn committed(&self, queue: &MessageQueue, offset: i64) {
        let _ = (queue, offset);
    }

    /// A rebalance decided to change this consumer's queues of a topic (called before the queues move);
    /// `queues` is the new set.
    fn rebalanced(&self, topic: &str, queues: &[MessageQueue]) {
        let _ = (topic, queues);
    }
}

impl fmt::Debug for dyn ConsumerObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerObserver")
    }
}

impl ConsumerConfig {
    /// Defaults for `group` asking `namesrv_addrs`, with client id `127.0.0.1@instance_name`.
    pub fn new(group: impl Into<String>, namesrv_addrs: Vec<SocketAddr>, instance_name: &str) -> Self {
        ConsumerConfig {
            group: group.into(),
            namesrv_addrs,
            subscriptions: Vec::new(),
            message_model: MessageModel::Clustering,
            consume_from: ConsumeFrom::LastOffset,
            allocate: AllocateStrategy::Averagely,
            pull_batch_size: PULL_BATCH_SIZE_DEFAULT,
            consume_batch_size: 1,
            consume_concurrency: 20,
            queue_in_flight_count_max: QUEUE_IN_FLIGHT_COUNT_MAX_DEFAULT,
            queue_in_flight_bytes_max: QUEUE_IN_FLIGHT_BYTES_MAX_DEFAULT,
            flow_control_pause: Duration::from_millis(50),
            rebalance_interval: Duration::from_secs(20),
            offset_persist_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(30),
            route_refresh_interval: Duration::from_secs(30),
            long_poll_suspend: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(3),
            pull_error_pause: Duration::from_secs(3),
            reconsume_delay: Duration::from_secs(1),
            shutdown_drain_timeout: Duration::from_secs(10),
            client_id: format!("127.0.0.1@{instance_name}"),
            offset_file: None,
            remoting: ClientConfig::for_clients(),
            observer: None,
            planted: None,
        }
    }

    /// Adds a subscription to `topic` with `expression` (`*` for every message).
    pub fn subscribe(mut self, topic: &str, expression: &str) -> Self {
        self.subscriptions.push((topic.to_owned(), expression.to_owned()));
        self
    }

    /// Asserts the settings are usable.
    ///
    /// # Panics
    /// With no name server or subscription, a zero bound, or a pull timeout not above the
    /// long-poll hold.
    pub fn assert_valid(&self) {
        assert!(!self.namesrv_addrs.is_empty(), "a consumer needs a name server");
        assert!(!self.subscriptions.is_empty(), "a consumer needs a subscription");
        assert!(!self.group.is_empty() && !self.client_id.is_empty());
        assert!(self.pull_batch_size > 0, "pull_batch_size must be > 0");
        assert!(self.consume_batch_size > 0, "consume_batch_size must be > 0");
        assert!(self.consume_concurrency > 0, "consume_concurrency must be > 0");
        assert!(self.queue_in_flight_count_max > 0 && self.queue_in_flight_bytes_max > 0);
        let intervals = [
            self.flow_control_pause,
            self.rebalance_interval,
            self.offset_persist_interval,
            self.heartbeat_interval,
            self.route_refresh_interval,
            self.call_timeout,
            self.pull_error_pause,
        ];
        assert!(intervals.iter().all(|d| !d.is_zero()), "intervals must be > 0");
        assert!(self.pull_timeout > self.long_poll_suspend, "pull_timeout must exceed long_poll_suspend");
        self.remoting.assert_valid();
    }
}

/// Configuration of a `PullConsumer`.
#[derive(Debug, Clone)]
pub struct PullConsumerConfig {
    /// Consumer group whose offsets `commit` and `committed` use.
    pub group: String,
    /// Name servers to ask for routes.
    pub namesrv_addrs: Vec<SocketAddr>,
    /// Bound on route lookups and offset calls.
    pub call_timeout: Duration,
    /// Bounds of the remoting client's connections.
    pub remoting: ClientConfig,
}

impl PullConsumerConfig {
    /// Defaults for `group` asking `namesrv_addrs`.
    pub fn new(group: impl Into<String>, namesrv_addrs: Vec<SocketAddr>) -> Self {
        PullConsumerConfig {
            group: group.into(),
            namesrv_addrs,
            call_timeout: Duration::from_secs(3),
            remoting: ClientConfig::for_clients(),
        }
    }
}
