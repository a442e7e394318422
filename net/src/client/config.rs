//! `ProducerConfig`: what a producer needs to know, with RocketMQ 4.x's defaults.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use petrel_core::client::route::DEFAULT_TOPIC_QUEUE_NUMS;
use petrel_core::client::send::MESSAGE_SIZE_MAX_BYTES_DEFAULT;
use petrel_core::client::FaultThresholds;
use petrel_core::message::tags::java_string_hash;

use crate::remoting::ClientConfig;

/// Configuration of a `Producer` (`DefaultMQProducer`'s settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Producer group: brokers group producers by it (transaction check-back goes to one).
    pub group: String,
    /// Name servers to ask for routes, tried in turn until one answers.
    pub namesrv_addrs: Vec<SocketAddr>,
    /// Bound on one send, all retries included (`sendMsgTimeout`, 3 s).
    pub send_timeout: Duration,
    /// Extra attempts of a sync send after a failure, each on another broker when there is one
    /// (`retryTimesWhenSendFailed`, 2).
    pub retry_times: u32,
    /// How often cached routes are fetched again (`pollNameServerInterval`, 30 s).
    pub route_refresh_interval: Duration,
    /// Single (not batch) bodies over this size are sent zlib-compressed with the COMPRESSED
    /// sysflag (`compressMsgBodyOverHowmuch`, 4 KiB); `usize::MAX` turns compression off.
    pub compress_body_over_bytes: usize,
    /// Largest body (or batch) sent (`maxMessageSize`, 4 MiB).
    pub message_size_max_bytes: usize,
    /// Queues asked for when a topic is auto-created from TBW102 (`defaultTopicQueueNums`, 4).
    pub default_topic_queue_nums: i32,
    /// This client's address, part of every UNIQ_KEY (Java reads the host's address).
    pub client_ip: IpAddr,
    /// Instance name (`instanceName`, "DEFAULT"): part of the UNIQ_KEY prefix hash.
    pub instance_name: String,
    /// Process id in UNIQ_KEYs (Java reads the real pid; Petrel takes it from here).
    pub pid: u32,
    /// Avoid slow or failed brokers for a while (`sendLatencyFaultEnable`, off).
    pub latency_fault_enable: bool,
    /// Latency levels and avoidance durations used when `latency_fault_enable` is on.
    pub fault_thresholds: FaultThresholds,
    /// Bounds of the remoting client's connections.
    pub remoting: ClientConfig,
}

impl ProducerConfig {
    /// Defaults for `group` asking `namesrv_addrs`.
    pub fn new(group: impl Into<String>, namesrv_addrs: Vec<SocketAddr>) -> Self {
        ProducerConfig {
            group: group.into(),
            namesrv_addrs,
            send_timeout: Duration::from_secs(3),
            retry_times: 2,
            route_refresh_interval: Duration::from_secs(30),
            compress_body_over_bytes: 4 * 1024,
            message_size_max_bytes: MESSAGE_SIZE_MAX_BYTES_DEFAULT,
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            instance_name: "DEFAULT".to_owned(),
            pid: 0,
            latency_fault_enable: false,
            fault_thresholds: FaultThresholds::default(),
            remoting: ClientConfig::for_clients(),
        }
    }

    /// The hash part of UNIQ_KEYs (Java uses its class loader's hash code): Java's
    /// `String.hashCode` of `group@instance_name`, so it is the same on every run.
    pub fn uniq_id_hash(&self) -> i32 {
        java_string_hash(&format!("{}@{}", self.group, self.instance_name))
    }

    /// Asserts the settings are usable.
    ///
    /// # Panics
    /// With no name server, a zero timeout or interval, or a zero size bound.
    pub fn assert_valid(&self) {
        assert!(!self.namesrv_addrs.is_empty(), "a producer needs a name server");
        assert!(!self.send_timeout.is_zero(), "send_timeout must be > 0");
        assert!(!self.route_refresh_interval.is_zero(), "route_refresh_interval must be > 0");
        assert!(self.message_size_max_bytes > 0, "message_size_max_bytes must be > 0");
        assert!(self.default_topic_queue_nums > 0, "default_topic_queue_nums must be > 0");
        self.remoting.assert_valid();
    }
}
