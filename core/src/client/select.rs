//! Sends that choose their own queue (`MessageQueueSelector`), usually to keep the messages of
//! one key in order on one queue.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::queue::MessageQueue;
use crate::message::tags::java_string_hash;
use crate::message::Message;

/// Chooses the queue of a send from the topic's writable queues (`MessageQueueSelector.java`).
/// `arg` is the caller's sharding key (Java passes any `Object`; Petrel passes its text).
pub trait MessageQueueSelector: fmt::Debug + Send + Sync {
    /// The queue for `message`; `None` when `queues` is empty.
    fn select(&self, queues: &[MessageQueue], message: &Message, arg: &str) -> Option<MessageQueue>;
}

/// `SelectMessageQueueByHash`: queue `|arg.hashCode()| % n`, with Java's `String.hashCode`, so
/// equal keys go to the same queue, and to the queue a Java producer would pick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SelectMessageQueueByHash;

impl MessageQueueSelector for SelectMessageQueueByHash {
    /// Java's `Math.abs(Integer.MIN_VALUE)` stays negative and then fails; Petrel takes the
    /// unsigned magnitude (2^31) instead, the one value where the two differ.
    fn select(&self, queues: &[MessageQueue], _message: &Message, arg: &str) -> Option<MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let hash = java_string_hash(arg).unsigned_abs() as usize;
        Some(queues[hash % queues.len()].clone())
    }
}

/// Round robin over the queues, ignoring `arg`: the first send takes queue 0. A counter, not a
/// thread-local random start as some Java selectors use.
#[derive(Debug, Default)]
pub struct SelectMessageQueueByRoundRobin {
    /// Sends selected so far.
    next: AtomicU32,
}

impl MessageQueueSelector for SelectMessageQueueByRoundRobin {
    fn select(&self, queues: &[MessageQueue], _message: &Message, _arg: &str) -> Option<MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        Some(queues[index % queues.len()].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(count: i32) -> Vec<MessageQueue> {
        (0..count).map(|id| MessageQueue::new("T", "b", id)).collect()
    }

    /// The hash selector picks `|hashCode| % n` exactly: "order-1".hashCode() is -1207111310
    /// (so queue 1207111310 % 4 = 2), "a" is 97 (queue 1); equal keys, equal queues.
    #[test]
    fn hash_selector_matches_java() {
        let message = Message::new("T", "body");
        let pick = |arg| SelectMessageQueueByHash.select(&queues(4), &message, arg);
        assert_eq!(java_string_hash("order-1"), -1_207_111_310);
        assert_eq!(pick("order-1").map(|q| q.queue_id), Some(2));
        assert_eq!(pick("a").map(|q| q.queue_id), Some(1));
        assert_eq!(pick("order-1"), pick("order-1"));
        assert_eq!(SelectMessageQueueByHash.select(&[], &message, "a"), None);
    }

    /// Round robin walks the queues in order and wraps.
    #[test]
    fn round_robin_selector_walks_queues() {
        let message = Message::new("T", "body");
        let selector = SelectMessageQueueByRoundRobin::default();
        let picked: Vec<i32> =
            (0..5).filter_map(|_| selector.select(&queues(3), &message, "ignored")).map(|q| q.queue_id).collect();
        assert_eq!(picked, [0, 1, 2, 0, 1]);
        assert_eq!(selector.select(&[], &message, ""), None);
    }
}
