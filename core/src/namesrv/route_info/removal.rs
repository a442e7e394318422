//! Removing brokers: unregistration, connection close, expiry, all through `remove_broker_addr`
//! (RocketMQ's `onChannelDestroy`), and the invariant check.
//!
//! Differences from Java 4.9.x, each to keep the invariants when requests are inconsistent
//! (for consistent ones the result is the same):
//! - An address is removed from every broker group holding it, and an emptied group from every
//!   cluster listing it; Java stops at the first of each (in hash order). An address sits in two
//!   groups, or a group in two clusters, only after a broker re-registered under another name
//!   or cluster; Java then leaves a stale entry that never expires.
//! - UNREGISTER_BROKER removes the header's address; Java removes whatever address holds the
//!   header's id in the named group. They differ only for a late unregistration from a broker
//!   whose id another address has taken since (an old master after a new one registered), where
//!   Java would drop the new master's route.
//! - A connection close removes every address last registered over that connection (Java:
//!   the first found). Java's fallback to the socket's remote address when none is found is
//!   left out: a broker's listening address is not its connection's remote address.

use super::{ConnectionId, RouteInfoManager};
use crate::namesrv::BROKER_EXPIRE_MS;
use crate::remoting::UnregisterBrokerRequestHeader;

/// A broker the expiry scan removed, with the connection the shell should close (RocketMQ
/// closes an expired broker's channel, which a half-open connection would otherwise keep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBroker {
    /// The broker's address, as it registered.
    pub broker_addr: String,
    /// The connection it last registered over.
    pub conn: ConnectionId,
}

impl RouteInfoManager {
    /// Removes the broker a shutting-down broker unregisters (UNREGISTER_BROKER). Returns
    /// whether its address was known.
    pub fn unregister_broker(&mut self, header: &UnregisterBrokerRequestHeader) -> bool {
        let known = self.remove_broker_addr(&header.broker_addr);
        tracing::info!(broker_addr = %header.broker_addr, known, "broker unregistered");
        known
    }

    /// Removes every broker whose last registration came over `conn`, which has closed.
    /// Returns their addresses, in order.
    pub fn on_connection_closed(&mut self, conn: ConnectionId) -> Vec<String> {
        let closed: Vec<String> =
            self.broker_live_table.iter().filter(|(_, live)| live.conn == conn).map(|(addr, _)| addr.clone()).collect();
        for broker_addr in &closed {
            self.remove_broker_addr(broker_addr);
            tracing::info!(%broker_addr, ?conn, "broker connection closed, broker removed");
        }
        closed
    }

    /// Removes every broker that has not registered for more than `BROKER_EXPIRE_MS` at
    /// `now_ms` (strictly more, as Java's `last + 120000 < now`). Returns them in address order
    /// with the connections the caller should close. The caller runs this every
    /// `SCAN_INTERVAL_MS`.
    pub fn scan_expired(&mut self, now_ms: i64) -> Vec<ExpiredBroker> {
        let expired: Vec<ExpiredBroker> = self
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.last_update_ms.saturating_add(BROKER_EXPIRE_MS) < now_ms)
            .map(|(addr, live)| ExpiredBroker { broker_addr: addr.clone(), conn: live.conn })
            .collect();
        for broker in &expired {
            self.remove_broker_addr(&broker.broker_addr);
            tracing::warn!(broker_addr = %broker.broker_addr, "broker expired");
        }
        expired
    }

    /// Removes `broker_addr` from every table, and the broker groups, clusters and topics left
    /// empty by it. Returns whether the address was known (live, or in a group).
    pub(super) fn remove_broker_addr(&mut self, broker_addr: &str) -> bool {
        let mut known = self.broker_live_table.remove(broker_addr).is_some();
        self.filter_server_table.remove(broker_addr);
        let mut emptied_groups = Vec::new();
        for (broker_name, data) in &mut self.broker_addr_table {
            let before = data.broker_addrs.len();
            data.broker_addrs.retain(|_, addr| addr != broker_addr);
            known |= data.broker_addrs.len() < before;
            if data.broker_addrs.is_empty() {
                emptied_groups.push(broker_name.clone());
            }
        }
        for broker_name in &emptied_groups {
            self.remove_broker_group(broker_name);
        }
        self.debug_check_invariants();
        known
    }

    /// Removes a broker group that has no address left: from the broker table, from every
    /// cluster (dropping emptied clusters), and its queue data from every topic (dropping
    /// emptied topics).
    fn remove_broker_group(&mut self, broker_name: &str) {
        self.broker_addr_table.remove(broker_name);
        self.cluster_addr_table.retain(|_, names| {
            names.remove(broker_name);
            !names.is_empty()
        });
        self.topic_queue_table.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
        tracing::info!(%broker_name, "broker group has no address left, its routes removed");
    }

    /// Checks the invariants listed in the module documentation; the first one broken is
    /// described in the error.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_topics()?;
        self.check_broker_groups()?;
        self.check_clusters()?;
        for broker_addr in self.filter_server_table.keys() {
            if !self.broker_live_table.contains_key(broker_addr) {
                return Err(format!("filter servers of {broker_addr}, which is not live"));
            }
        }
        Ok(())
    }

    fn check_topics(&self) -> Result<(), String> {
        for (topic, queues) in &self.topic_queue_table {
            if queues.is_empty() {
                return Err(format!("topic {topic} has no queue data"));
            }
            for (broker_name, queue_data) in queues {
                if queue_data.broker_name != *broker_name {
                    return Err(format!("topic {topic}: queue data of {broker_name} misnamed"));
                }
                if !self.broker_addr_table.contains_key(broker_name) {
                    return Err(format!("topic {topic} names unknown broker {broker_name}"));
                }
            }
        }
        Ok(())
    }

    fn check_broker_groups(&self) -> Result<(), String> {
        for (broker_name, data) in &self.broker_addr_table {
            if data.broker_name != *broker_name || data.broker_addrs.is_empty() {
                return Err(format!("broker group {broker_name} misnamed or without address"));
            }
            for broker_addr in data.broker_addrs.values() {
                if !self.broker_live_table.contains_key(broker_addr) {
                    return Err(format!("broker {broker_name} lists {broker_addr}, not live"));
                }
            }
            if !self.cluster_addr_table.values().any(|names| names.contains(broker_name)) {
                return Err(format!("broker group {broker_name} is in no cluster"));
            }
        }
        Ok(())
    }

    fn check_clusters(&self) -> Result<(), String> {
        for (cluster, names) in &self.cluster_addr_table {
            if names.is_empty() {
                return Err(format!("cluster {cluster} is empty"));
            }
            if let Some(name) = names.iter().find(|n| !self.broker_addr_table.contains_key(*n)) {
                return Err(format!("cluster {cluster} lists unknown broker group {name}"));
            }
        }
        Ok(())
    }

    /// In debug builds (tests, simulation), asserts the invariants after a change.
    pub(super) fn debug_check_invariants(&self) {
        if cfg!(debug_assertions) {
            if let Err(broken) = self.check_invariants() {
                panic!("RouteInfoManager invariant broken: {broken}");
            }
        }
    }
}
