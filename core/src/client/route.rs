//! A producer's view of a topic's route (`TopicPublishInfo.java` and
//! `MQClientInstance.topicRouteData2TopicPublishInfo`): the writable queues, in RocketMQ's order,
//! the master address of each broker group, and the round-robin counter that spreads sends.

use std::collections::BTreeMap;

use super::queue::MessageQueue;
use crate::protocol::{perm, TopicRouteData};

/// Queues a producer asks for when a topic is auto-created from the TBW102 route
/// (`DefaultMQProducer.defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

/// Mask Java's `ThreadLocalIndex` applies to keep the index non-negative.
const INDEX_POSITIVE_MASK: u32 = 0x7FFF_FFFF;

/// A topic's writable queues and how to pick one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPublishInfo {
    /// The topic the queues belong to (also when the route came from TBW102).
    topic: String,
    /// True when the route had an `orderTopicConf`: the queues come from it, not the queue data.
    order_topic: bool,
    /// The writable queues in RocketMQ's order: broker groups by name, queue ids ascending.
    message_queues: Vec<MessageQueue>,
    /// Broker group name -> its master's address, for the groups that have a master.
    master_addrs: BTreeMap<String, String>,
    /// The route this was built from: the refresh compares it to decide whether to rebuild.
    route: TopicRouteData,
    /// Round-robin position (Java's `sendWhichQueue`). Java starts it at a random value; Petrel
    /// starts at 0 so the first send goes to the first queue and a run replays exactly.
    send_which_queue: u32,
}

impl TopicPublishInfo {
    /// The publish info of `topic` from its route: for an `orderTopicConf` route, the queues it
    /// lists; otherwise, for every writable `QueueData` (sorted by broker name) of a group
    /// whose master is known, queue ids `0..write_queue_nums`.
    pub fn from_route(topic: &str, route: &TopicRouteData) -> Self {
        let master_addrs: BTreeMap<String, String> = route
            .broker_datas
            .iter()
            .filter_map(|b| Some((b.broker_name.clone(), b.master_addr()?.to_owned())))
            .collect();
        let ordered = route.order_topic_conf.as_deref().filter(|c| !c.is_empty());
        let message_queues = match ordered {
            Some(conf) => order_conf_queues(topic, conf),
            None => writable_queues(topic, route, &master_addrs),
        };
        TopicPublishInfo {
            topic: topic.to_owned(),
            order_topic: ordered.is_some(),
            message_queues,
            master_addrs,
            route: route.clone(),
            send_which_queue: 0,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// True if there is at least one queue to send to (Java's `ok()`).
    pub fn ok(&self) -> bool {
        !self.message_queues.is_empty()
    }

    /// True when the queues came from an `orderTopicConf`.
    pub fn is_order_topic(&self) -> bool {
        self.order_topic
    }

    /// The writable queues in RocketMQ's order.
    pub fn message_queues(&self) -> &[MessageQueue] {
        &self.message_queues
    }

    /// The route this was built from.
    pub fn route(&self) -> &TopicRouteData {
        &self.route
    }

    /// The master address of `broker_name`, if the route names one.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.master_addrs.get(broker_name).map(String::as_str)
    }

    /// Write queues of `broker_name` in the route (Java's `getQueueIdByBroker`); -1 if absent.
    pub fn write_queue_nums(&self, broker_name: &str) -> i32 {
        self.route.queue_datas.iter().find(|q| q.broker_name == broker_name).map_or(-1, |q| q.write_queue_nums)
    }

    /// Advances the round robin and returns the non-negative index to use (Java's
    /// `sendWhichQueue.incrementAndGet()`, from a counter starting at 0).
    pub fn next_index(&mut self) -> u32 {
        let index = self.send_which_queue & INDEX_POSITIVE_MASK;
        self.send_which_queue = self.send_which_queue.wrapping_add(1);
        index
    }

    /// The next queue in round robin, skipping queues of `last_broker` (the broker the previous
    /// attempt failed on) when another broker has one (`selectOneMessageQueue(lastBrokerName)`).
    /// `None` only when there is no queue at all.
    pub fn select_one_message_queue(&mut self, last_broker: Option<&str>) -> Option<MessageQueue> {
        if self.message_queues.is_empty() {
            return None;
        }
        if let Some(last) = last_broker {
            for _ in 0..self.message_queues.len() {
                let index = self.next_index();
                let queue = self.queue_at(index);
                if queue.broker_name != last {
                    return Some(queue);
                }
            }
        }
        let index = self.next_index();
        Some(self.queue_at(index))
    }

    /// The queue at `index` modulo the queue count. The caller checks there is one.
    pub(crate) fn queue_at(&self, index: u32) -> MessageQueue {
        assert!(!self.message_queues.is_empty(), "no queue to pick from");
        let position = index as usize % self.message_queues.len();
        self.message_queues[position].clone()
    }
}

fn order_conf_queues(topic: &str, conf: &str) -> Vec<MessageQueue> {
    let mut queues = Vec::new();
    for item in conf.split(';') {
        let Some((broker, nums)) = item.split_once(':') else {
            continue;
        };
        let Ok(nums) = nums.trim().parse::<i32>() else {
            continue;
        };
        queues.extend((0..nums).map(|id| MessageQueue::new(topic, broker, id)));
    }
    queues
}

fn writable_queues(topic: &str, route: &TopicRouteData, master_addrs: &BTreeMap<String, String>) -> Vec<MessageQueue> {
    let mut queue_datas: Vec<_> = route.queue_datas.iter().collect();
    // Java sorts by `QueueData.compareTo` (broker name); the sort is stable like Java's.
    queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let mut queues = Vec::new();
    for data in queue_datas {
        if !perm::is_writeable(data.perm) || !master_addrs.contains_key(&data.broker_name) {
            continue;
        }
        let ids = 0..data.write_queue_nums.max(0);
        queues.extend(ids.map(|id| MessageQueue::new(topic, data.broker_name.as_str(), id)));
    }
    queues
}

/// The route a producer uses for a topic the name servers do not know yet: TBW102's, with each
/// broker's queue counts cut to `min(default_queue_nums, read_queue_nums)`, as
/// `updateTopicRouteInfoFromNameServer(topic, isDefault = true, producer)` does. The broker
/// creates the topic on the first send, from the header's `defaultTopic` and queue count.
pub fn default_route(tbw102: &TopicRouteData, default_queue_nums: i32) -> TopicRouteData {
    let mut route = tbw102.clone();
    for data in &mut route.queue_datas {
        let nums = default_queue_nums.min(data.read_queue_nums);
        data.read_queue_nums = nums;
        data.write_queue_nums = nums;
    }
    route
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
