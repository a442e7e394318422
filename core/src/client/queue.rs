//! `MessageQueue`: one queue of a topic on one broker group, the unit producers send to and
//! consumer groups divide among their members.

use std::fmt;

/// One queue of a topic on one broker group (`MessageQueue.java`). Ordered by topic, then
/// broker name, then queue id, as Java's `compareTo` orders it, so sorted lists match Java's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageQueue {
    /// The topic the queue belongs to.
    pub topic: String,
    /// The broker group holding the queue (master and slaves share the name).
    pub broker_name: String,
    /// The queue's index on that broker, 0-based.
    pub queue_id: i32,
}

impl MessageQueue {
    /// The queue `queue_id` of `topic` on `broker_name`.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue { topic: topic.into(), broker_name: broker_name.into(), queue_id }
    }
}

impl fmt::Display for MessageQueue {
    /// As Java's `toString`, which the consistent-hash strategy also hashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageQueue [topic={}, brokerName={}, queueId={}]", self.topic, self.broker_name, self.queue_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues sort by topic, then broker, then id, and print as Java prints them.
    #[test]
    fn order_and_display_match_java() {
        let mut queues = [
            MessageQueue::new("T", "b", 0),
            MessageQueue::new("T", "a", 1),
            MessageQueue::new("S", "z", 9),
            MessageQueue::new("T", "a", 0),
        ];
        queues.sort();
        let ids: Vec<(&str, &str, i32)> =
            queues.iter().map(|q| (q.topic.as_str(), q.broker_name.as_str(), q.queue_id)).collect();
        assert_eq!(ids, [("S", "z", 9), ("T", "a", 0), ("T", "a", 1), ("T", "b", 0)]);
        assert_eq!(MessageQueue::new("T", "a", 3).to_string(), "MessageQueue [topic=T, brokerName=a, queueId=3]");
    }
}
