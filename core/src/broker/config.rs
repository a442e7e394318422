//! `BrokerConfig`: what a broker is told at start, with RocketMQ 4.9's defaults
//! (`BrokerConfig.java`, `MessageStoreConfig.java`). Only the settings the topic and send logic
//! and the broker shell use are here; the store's own settings are in `store::StoreConfig`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::protocol::MASTER_ID;
use crate::store::message_store::validate_topic;

/// RocketMQ's default cluster name (`brokerClusterName`).
pub const CLUSTER_NAME_DEFAULT: &str = "DefaultCluster";
/// The broker's default listen port (`NettyServerConfig.listenPort`).
pub const BROKER_PORT_DEFAULT: u16 = 10911;
/// RocketMQ's default region id (`MixAll.DEFAULT_TRACE_REGION_ID`), echoed in send responses.
pub const REGION_ID_DEFAULT: &str = "DefaultRegion";
/// Largest message body (batch body for SEND_BATCH_MESSAGE) a broker accepts
/// (`MessageStoreConfig.maxMessageSize`, 4 MiB).
pub const MESSAGE_BODY_SIZE_MAX_BYTES_DEFAULT: usize = 4 * 1024 * 1024;
/// Queue count of the template topic and thus the most an auto-created topic gets on this
/// broker (`BrokerConfig.defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS_DEFAULT: i32 = 8;
/// Longest a send may wait in the shell's queue before it is answered SYSTEM_BUSY
/// (`BrokerConfig.waitTimeMillsInSendQueue`).
pub const SEND_QUEUE_WAIT_MS_MAX_DEFAULT: i64 = 200;
/// Most sends the shell queues before answering SYSTEM_BUSY at once
/// (`BrokerConfig.sendThreadPoolQueueCapacity`).
pub const SEND_QUEUE_CAPACITY_DEFAULT: usize = 10_000;
/// How often the shell registers with every NameServer (`registerNameServerPeriod`).
pub const REGISTER_NAME_SERVER_PERIOD_MS_DEFAULT: i64 = 30_000;

/// Why a `BrokerConfig` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerConfigError {
    /// The cluster or broker name is not a valid topic name; RocketMQ creates a topic named
    /// after each, so both must be.
    #[error("{what} {name:?} must be a valid topic name (1-127 characters of [%|a-zA-Z0-9_-])")]
    InvalidName {
        /// Which setting: "cluster name" or "broker name".
        what: &'static str,
        /// The value given.
        name: String,
    },
    /// The template topic's queue count is outside 1..=`TOPIC_QUEUE_NUMS_MAX`.
    #[error("default topic queue nums {nums} is outside 1..={max}")]
    DefaultTopicQueueNums {
        /// The value given.
        nums: i32,
        /// The largest allowed.
        max: i32,
    },
    /// A negative broker id.
    #[error("broker id {id} is negative (0 is the master, > 0 a slave)")]
    NegativeBrokerId {
        /// The value given.
        id: i64,
    },
}

/// One broker's settings. `BrokerConfig::default()` is RocketMQ's configuration for a master
/// named `broker-a` on `127.0.0.1:10911`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Cluster the broker belongs to (`brokerClusterName`); also a system topic's name, so
    /// producers can send to "any broker of the cluster".
    pub cluster_name: String,
    /// Broker group name shared by a master and its slaves (`brokerName`; Java defaults to the
    /// host name, Petrel to `broker-a`); also a system topic's name.
    pub broker_name: String,
    /// 0 for the master, > 0 for a slave (`brokerId`).
    pub broker_id: i64,
    /// Address clients reach this broker at (`brokerIP1:listenPort`), registered with the
    /// NameServers.
    pub broker_addr: SocketAddr,
    /// Address written into every stored record's STOREHOST and so into its offsetMsgId
    /// (RocketMQ uses `brokerIP1:listenPort`, the same as `broker_addr`).
    pub store_host: SocketAddr,
    /// A send to an unknown topic creates it from the template topic TBW102
    /// (`autoCreateTopicEnable`, true). Production setups usually turn it off.
    pub auto_create_topic_enable: bool,
    /// Queue count of TBW102, the most an auto-created topic gets here (`defaultTopicQueueNums`,
    /// 8; producers ask for 4).
    pub default_topic_queue_nums: i32,
    /// The cluster-name topic is readable and writable, not only inheritable
    /// (`clusterTopicEnable`, true).
    pub cluster_topic_enable: bool,
    /// The broker-name topic is readable and writable, not only inheritable
    /// (`brokerTopicEnable`, true).
    pub broker_topic_enable: bool,
    /// Create the message-trace topic at start (`traceTopicEnable`, false).
    pub trace_topic_enable: bool,
    /// Name of the message-trace topic (`msgTraceTopicName`, `RMQ_SYS_TRACE_TOPIC`).
    pub msg_trace_topic_name: String,
    /// Largest message body, or batch body, accepted (`maxMessageSize`, 4 MiB).
    pub message_body_size_max_bytes: usize,
    /// Region id echoed to producers in every send response (`regionId`, `DefaultRegion`).
    pub region_id: String,
    /// Trace switch echoed to producers in every send response (`traceOn`, true).
    pub trace_on: bool,
    /// Longest a send may wait in the shell's queue before it is answered SYSTEM_BUSY
    /// (`waitTimeMillsInSendQueue`, 200 ms).
    pub send_queue_wait_ms_max: i64,
    /// Most sends the shell queues (`sendThreadPoolQueueCapacity`, 10,000); more are answered
    /// SYSTEM_BUSY at once.
    pub send_queue_capacity: usize,
    /// How often the shell registers with every NameServer (`registerNameServerPeriod`, 30 s).
    pub register_name_server_period_ms: i64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, BROKER_PORT_DEFAULT));
        BrokerConfig {
            cluster_name: CLUSTER_NAME_DEFAULT.to_owned(),
            broker_name: "broker-a".to_owned(),
            broker_id: MASTER_ID,
            broker_addr: addr,
            store_host: addr,
            auto_create_topic_enable: true,
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS_DEFAULT,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            msg_trace_topic_name: super::topic_config::TRACE_TOPIC.to_owned(),
            message_body_size_max_bytes: MESSAGE_BODY_SIZE_MAX_BYTES_DEFAULT,
            region_id: REGION_ID_DEFAULT.to_owned(),
            trace_on: true,
            send_queue_wait_ms_max: SEND_QUEUE_WAIT_MS_MAX_DEFAULT,
            send_queue_capacity: SEND_QUEUE_CAPACITY_DEFAULT,
            register_name_server_period_ms: REGISTER_NAME_SERVER_PERIOD_MS_DEFAULT,
        }
    }
}

impl BrokerConfig {
    /// True for a slave: slaves refuse topic administration.
    pub fn is_slave(&self) -> bool {
        self.broker_id != MASTER_ID
    }

    /// Checks the settings the topic logic relies on.
    pub fn validate(&self) -> Result<(), BrokerConfigError> {
        for (what, name) in [("cluster name", &self.cluster_name), ("broker name", &self.broker_name)] {
            if validate_topic(name).is_err() {
                return Err(BrokerConfigError::InvalidName { what, name: name.clone() });
            }
        }
        let max = super::topic_config::TOPIC_QUEUE_NUMS_MAX;
        if !(1..=max).contains(&self.default_topic_queue_nums) {
            return Err(BrokerConfigError::DefaultTopicQueueNums { nums: self.default_topic_queue_nums, max });
        }
        if self.broker_id < 0 {
            return Err(BrokerConfigError::NegativeBrokerId { id: self.broker_id });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are RocketMQ 4.9's and pass validation.
    #[test]
    fn defaults_match_rocketmq() {
        let config = BrokerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.cluster_name, "DefaultCluster");
        assert_eq!((config.default_topic_queue_nums, config.broker_id), (8, 0));
        assert_eq!(config.message_body_size_max_bytes, 4_194_304);
        assert!(config.auto_create_topic_enable && !config.is_slave());
        assert_eq!(config.broker_addr.port(), 10911);
    }

    /// Names that cannot be topics, bad queue counts and negative ids are refused.
    #[test]
    fn validate_refuses_bad_settings() {
        let bad_name = BrokerConfig { broker_name: "broker a".into(), ..BrokerConfig::default() };
        assert_eq!(
            bad_name.validate(),
            Err(BrokerConfigError::InvalidName { what: "broker name", name: "broker a".into() })
        );
        let no_queues = BrokerConfig { default_topic_queue_nums: 0, ..BrokerConfig::default() };
        assert!(matches!(no_queues.validate(), Err(BrokerConfigError::DefaultTopicQueueNums { nums: 0, .. })));
        let slave = BrokerConfig { broker_id: -1, ..BrokerConfig::default() };
        assert_eq!(slave.validate(), Err(BrokerConfigError::NegativeBrokerId { id: -1 }));
    }
}
