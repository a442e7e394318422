//! `RouteInfoManager`: the name server's route tables and broker liveness, after RocketMQ's
//! class of that name (4.9.x), as a plain value: every input (a registration, a connection
//! closing, a scan at `now_ms`) is a method call, every output a return value.
//!
//! Tables, and the invariants every method keeps (`check_invariants` verifies them; debug
//! builds check after every change):
//! - `topic_queue_table`: topic -> broker name -> `QueueData`. No topic maps to no brokers;
//!   every broker name in it has an entry in `broker_addr_table`.
//! - `broker_addr_table`: broker name -> `BrokerData`. Every entry has at least one address,
//!   and every address in it has an entry in `broker_live_table`.
//! - `cluster_addr_table`: cluster -> broker names. No cluster is empty; every name in it has
//!   an entry in `broker_addr_table`, and every entry there is in some cluster.
//! - `broker_live_table`: broker address -> `BrokerLiveInfo` (last registration time, data
//!   version, connection, HA address). A live entry may outlast its address's place in
//!   `broker_addr_table` (a new broker took its id); it then expires without further effect.
//! - `filter_server_table`: broker address -> its filter servers; only live addresses, never
//!   an empty list.
//!
//! Removing a broker address (expiry, connection close, unregistration) follows RocketMQ's
//! `onChannelDestroy`: the address leaves the live and filter tables and its broker group; a
//! group left without addresses leaves the broker table and its clusters (a cluster left empty
//! goes too), and its queue data leaves every topic (a topic left without queue data goes too).
//! A group that still has a slave keeps its queue data, so its topics stay readable.
//!
//! Where Petrel differs from Java, it is to keep these invariants when a peer's requests are
//! inconsistent; for consistent requests the tables come out the same (see `removal.rs`).

mod removal;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_proptest;

use std::collections::{BTreeMap, BTreeSet};

use super::ConnectionId;
use crate::protocol::{
    BrokerData, ClusterInfo, DataVersion, QueueData, RegisterBrokerBody, RegisterBrokerResult, TopicConfig, TopicList,
    TopicRouteData, MASTER_ID,
};
use crate::remoting::RegisterBrokerRequestHeader;

pub use removal::ExpiredBroker;

/// What the name server knows about one registered broker address (Java's `BrokerLiveInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLiveInfo {
    /// When the broker last registered; it expires `BROKER_EXPIRE_MS` after this.
    pub last_update_ms: i64,
    /// The topic configuration version of the last registration; the same version again
    /// skips rebuilding the broker's queue data.
    pub data_version: DataVersion,
    /// The connection the broker last registered over; when it closes, the broker is removed.
    pub conn: ConnectionId,
    /// The broker's HA address, handed to its slaves when they register.
    pub ha_server_addr: String,
}

/// The name server's route tables; see the module documentation for the invariants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteInfoManager {
    /// Topic -> broker name -> that broker group's queues of the topic: routes are built here.
    topic_queue_table: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// Broker name -> the group's cluster and addresses by broker id: what routes point at.
    broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster -> names of its broker groups: for cluster info and per-cluster topic queries.
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    /// Broker address -> liveness: which brokers expire when, and over which connection.
    broker_live_table: BTreeMap<String, BrokerLiveInfo>,
    /// Broker address -> filter server addresses: copied into routes for class filtering.
    filter_server_table: BTreeMap<String, Vec<String>>,
}

impl RouteInfoManager {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or re-registers: the heartbeat) a broker at `now_ms` over `conn`.
    ///
    /// The address joins its group under its id (leaving any other id it held in the group, as
    /// when a slave becomes master). A master's topics are rebuilt from `body` when the data
    /// version differs from its last registration's or its address is new to the group. For a
    /// slave whose master is registered and live, the result names the master and its HA
    /// address.
    pub fn register_broker(
        &mut self,
        now_ms: i64,
        conn: ConnectionId,
        header: &RegisterBrokerRequestHeader,
        body: RegisterBrokerBody,
    ) -> RegisterBrokerResult {
        let broker_name = &header.broker_name;
        let broker_addr = &header.broker_addr;
        self.cluster_addr_table.entry(header.cluster_name.clone()).or_default().insert(broker_name.clone());
        let register_first = self.put_broker_addr(header);
        let wrapper = body.topic_config_serialize_wrapper;
        if header.broker_id == MASTER_ID
            && (register_first || self.topic_config_changed(broker_addr, &wrapper.data_version))
        {
            for (topic, config) in &wrapper.topic_config_table {
                self.create_and_update_queue_data(broker_name, topic, config);
            }
        }
        let live = BrokerLiveInfo {
            last_update_ms: now_ms,
            data_version: wrapper.data_version,
            conn,
            ha_server_addr: header.ha_server_addr.clone(),
        };
        if self.broker_live_table.insert(broker_addr.clone(), live).is_none() {
            tracing::info!(%broker_addr, %broker_name, "new broker registered");
        }
        if body.filter_server_list.is_empty() {
            self.filter_server_table.remove(broker_addr);
        } else {
            self.filter_server_table.insert(broker_addr.clone(), body.filter_server_list);
        }
        let result = self.master_of(broker_name, header.broker_id);
        self.debug_check_invariants();
        result
    }

    /// Puts the header's address into its group under its id, creating the group if needed,
    /// and returns whether this is a first registration (new group, or an id that had no
    /// address).
    fn put_broker_addr(&mut self, header: &RegisterBrokerRequestHeader) -> bool {
        let mut new_group = false;
        let data = self.broker_addr_table.entry(header.broker_name.clone()).or_insert_with(|| {
            new_group = true;
            BrokerData {
                cluster: header.cluster_name.clone(),
                broker_name: header.broker_name.clone(),
                broker_addrs: BTreeMap::new(),
            }
        });
        // One address holds one id in a group: a slave switching to master leaves its old id.
        data.broker_addrs.retain(|id, addr| *id == header.broker_id || *addr != header.broker_addr);
        let old_addr = data.broker_addrs.insert(header.broker_id, header.broker_addr.clone());
        new_group || old_addr.is_none()
    }

    /// True if `broker_addr` has no live entry or registered last with another data version.
    fn topic_config_changed(&self, broker_addr: &str, data_version: &DataVersion) -> bool {
        self.broker_live_table.get(broker_addr).is_none_or(|live| live.data_version != *data_version)
    }

    /// Files `config`'s queues under its topic for `broker_name`, replacing what was there.
    /// The topic is the config's `topicName` (as in Java), or the table key if that is empty.
    fn create_and_update_queue_data(&mut self, broker_name: &str, key: &str, config: &TopicConfig) {
        let topic = if config.topic_name.is_empty() { key } else { &config.topic_name };
        let queue_data = QueueData {
            broker_name: broker_name.to_owned(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_sys_flag: config.topic_sys_flag,
        };
        self.topic_queue_table.entry(topic.to_owned()).or_default().insert(broker_name.to_owned(), queue_data);
    }

    /// For a slave (`broker_id` != 0) whose group's master is registered and live: the
    /// master's address and HA address. Empty otherwise.
    fn master_of(&self, broker_name: &str, broker_id: i64) -> RegisterBrokerResult {
        let mut result = RegisterBrokerResult::default();
        if broker_id == MASTER_ID {
            return result;
        }
        let master_addr = self.broker_addr_table.get(broker_name).and_then(BrokerData::master_addr);
        if let Some(master_addr) = master_addr {
            if let Some(live) = self.broker_live_table.get(master_addr) {
                result.ha_server_addr = Some(live.ha_server_addr.clone());
                result.master_addr = Some(master_addr.to_owned());
            }
        }
        result
    }

    /// The route of `topic`: its queue data and the addresses of the broker groups holding
    /// them (Java's `pickupTopicRouteData`). `None` if the topic is unknown. Ordered by broker
    /// name; `orderTopicConf` is never set (Petrel's name server keeps no KV configuration).
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queue_table.get(topic)?;
        let mut route = TopicRouteData { queue_datas: queues.values().cloned().collect(), ..TopicRouteData::default() };
        for broker_name in queues.keys() {
            let Some(broker_data) = self.broker_addr_table.get(broker_name) else {
                continue;
            };
            for broker_addr in broker_data.broker_addrs.values() {
                if let Some(filter_servers) = self.filter_server_table.get(broker_addr) {
                    route.filter_server_table.insert(broker_addr.clone(), filter_servers.clone());
                }
            }
            route.broker_datas.push(broker_data.clone());
        }
        (!route.broker_datas.is_empty()).then_some(route)
    }

    /// Every broker group and cluster (Java's `getAllClusterInfo`).
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.broker_addr_table.clone(),
            cluster_addr_table: self.cluster_addr_table.clone(),
        }
    }

    /// Every topic with a route (Java's `getAllTopicList`).
    pub fn topics(&self) -> TopicList {
        TopicList { topic_list: self.topic_queue_table.keys().cloned().collect(), broker_addr: None }
    }

    /// The topics served by any broker group of `cluster`; empty for an unknown cluster.
    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let Some(broker_names) = self.cluster_addr_table.get(cluster) else {
            return TopicList::default();
        };
        let topic_list = self
            .topic_queue_table
            .iter()
            .filter(|(_, queues)| queues.keys().any(|name| broker_names.contains(name)))
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList { topic_list, broker_addr: None }
    }

    /// Forgets `topic`'s route everywhere. Returns whether the topic was known. (Brokers that
    /// still hold the topic bring it back when their data version next changes.)
    pub fn delete_topic(&mut self, topic: &str) -> bool {
        let known = self.topic_queue_table.remove(topic).is_some();
        self.debug_check_invariants();
        known
    }

    /// Forgets `topic`'s queues on the broker groups of `cluster` only; the topic goes when no
    /// group is left. Returns whether any queue data was removed.
    pub fn delete_topic_in_cluster(&mut self, topic: &str, cluster: &str) -> bool {
        let (Some(broker_names), Some(queues)) =
            (self.cluster_addr_table.get(cluster), self.topic_queue_table.get_mut(topic))
        else {
            return false;
        };
        let before = queues.len();
        queues.retain(|name, _| !broker_names.contains(name));
        let removed = queues.len() < before;
        if queues.is_empty() {
            self.topic_queue_table.remove(topic);
        }
        self.debug_check_invariants();
        removed
    }

    /// What is known about the broker at `broker_addr`, if it is registered.
    pub fn broker_live_info(&self, broker_addr: &str) -> Option<&BrokerLiveInfo> {
        self.broker_live_table.get(broker_addr)
    }

    /// Every registered broker address with its liveness, ordered by address.
    pub fn live_brokers(&self) -> impl Iterator<Item = (&str, &BrokerLiveInfo)> {
        self.broker_live_table.iter().map(|(addr, live)| (addr.as_str(), live))
    }
}
