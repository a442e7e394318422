//! Long polling (RocketMQ's `PullRequestHoldService`): where held pulls wait for a message.
//!
//! A pull that `process_pull` suspends waits in its own handler task (the transport runs every
//! request in a task of its own, so a held pull never blocks the other requests of its
//! connection; a connection may hold at most its inbound in-flight bound, 256 by default, of
//! them at once). [`PullHolds`] is the table of queues that have waiters, keyed by
//! (topic, queue), bounded by `holds_max` held pulls in all: one more is answered at once.
//!
//! Each queue with waiters has a `watch` channel carrying its latest [`QueueArrival`]; a
//! successful put publishes one ([`PullHolds::arrived`]) and only looks the queue up, so a put
//! to a queue nobody waits on costs one map lookup. No arrival is missed: a waiter subscribes
//! before it rereads the queue's end, and a put publishes after its append, so either the
//! reread sees the message or the publication reaches the subscription.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use petrel_core::broker::pull::SuspendedPull;
use tokio::sync::watch;

/// Held pulls a broker keeps at once by default: RocketMQ bounds them only by its threads;
/// this is enough for 16 pulls (a push consumer's queues) from each of 1,000 consumers.
pub const PULL_HOLDS_MAX_DEFAULT: usize = 16 * 1024;

/// Most tag codes an arrival carries (a larger batch wakes every waiter of its queue).
pub const ARRIVAL_TAGS_MAX: usize = 64;

/// What the latest put to a queue brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueArrival {
    /// Queue offset of the put's first message.
    pub first_offset: i64,
    /// One past the put's last message: the queue's end after it.
    pub max_offset: i64,
    /// Tag codes of the put's messages; `None` for a batch larger than `ARRIVAL_TAGS_MAX`,
    /// which wakes every waiter.
    pub tags_codes: Option<Vec<i64>>,
}

impl QueueArrival {
    /// Whether this arrival should end `held`'s wait, given that the waiter had seen the queue
    /// end at `seen_max_offset`. If puts were missed in between (another landed after the one
    /// seen), their tags are unknown, so the pull wakes and reads for itself.
    pub fn wakes(&self, held: &SuspendedPull, seen_max_offset: i64) -> bool {
        if self.first_offset > seen_max_offset {
            return held.wakes_on(self.max_offset, None);
        }
        match &self.tags_codes {
            None => held.wakes_on(self.max_offset, None),
            Some(codes) => codes.iter().any(|code| held.wakes_on(self.max_offset, Some(*code))),
        }
    }
}

/// One queue's waiters.
#[derive(Debug)]
struct QueueWaiters {
    /// Publishes the queue's arrivals to its waiters.
    arrivals: watch::Sender<QueueArrival>,
    /// Held pulls on this queue; the entry goes when it reaches 0.
    count: usize,
}

/// The table of queues with held pulls.
#[derive(Debug)]
pub struct PullHolds {
    /// (topic, queue id) -> its waiters. Only queues with at least one waiter are present, so
    /// the table holds at most `holds_max` entries.
    queues: Mutex<BTreeMap<(String, i32), QueueWaiters>>,
    /// Held pulls now, over every queue.
    held: Mutex<usize>,
    /// Bound of `held`.
    holds_max: usize,
}

impl PullHolds {
    /// An empty table that holds at most `holds_max` pulls.
    ///
    /// # Panics
    /// If `holds_max` is 0.
    pub fn new(holds_max: usize) -> Arc<PullHolds> {
        assert!(holds_max > 0, "holds_max must be > 0");
        Arc::new(PullHolds { queues: Mutex::new(BTreeMap::new()), held: Mutex::new(0), holds_max })
    }

    fn queues(&self) -> MutexGuard<'_, BTreeMap<(String, i32), QueueWaiters>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn held(&self) -> MutexGuard<'_, usize> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pulls held now.
    pub fn len(&self) -> usize {
        *self.held()
    }

    /// True when no pull is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks a pull on `(topic, queue_id)`: a subscription to the queue's arrivals, released
    /// when dropped. `None` when the table is full (answer the pull now).
    pub fn park(self: &Arc<Self>, topic: &str, queue_id: i32) -> Option<Hold> {
        {
            let mut held = self.held();
            if *held >= self.holds_max {
                return None;
            }
            *held += 1;
        }
        let mut queues = self.queues();
        let key = (topic.to_owned(), queue_id);
        let waiters = queues
            .entry(key.clone())
            .or_insert_with(|| QueueWaiters { arrivals: watch::channel(QueueArrival::default()).0, count: 0 });
        waiters.count += 1;
        let arrivals = waiters.arrivals.subscribe();
        Some(Hold { holds: self.clone(), key, arrivals })
    }

    /// A put landed in `(topic, queue_id)`: wakes the queue's waiters, if it has any.
    pub fn arrived(&self, topic: &str, queue_id: i32, arrival: QueueArrival) {
        let queues = self.queues();
        // `BTreeMap::get` with a borrowed tuple needs an owned key; puts to a queue with no
        // waiters skip the allocation.
        if queues.is_empty() {
            return;
        }
        if let Some(waiters) = queues.get(&(topic.to_owned(), queue_id)) {
            // Puts publish in the order their tasks resume, not their offsets' order, and the
            // channel keeps only the latest value: an older put must not hide a newer one. It
            // is merged instead, without tags, so it wakes every waiter to read for itself.
            waiters.arrivals.send_if_modified(|current| {
                if arrival.max_offset > current.max_offset {
                    *current = arrival;
                } else {
                    current.first_offset = current.first_offset.min(arrival.first_offset);
                    current.tags_codes = None;
                }
                true
            });
        }
    }

    fn release(&self, key: &(String, i32)) {
        let mut queues = self.queues();
        if let Some(waiters) = queues.get_mut(key) {
            waiters.count -= 1;
            if waiters.count == 0 {
                queues.remove(key);
            }
        }
        drop(queues);
        let mut held = self.held();
        *held = held.saturating_sub(1);
    }
}

/// A parked pull's place in the table; leaves it when dropped (answered, or its task gone).
#[derive(Debug)]
pub struct Hold {
    /// The table it counts in.
    holds: Arc<PullHolds>,
    /// Its queue.
    key: (String, i32),
    /// The queue's arrivals.
    pub arrivals: watch::Receiver<QueueArrival>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holds.release(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_core::protocol::heartbeat::SubscriptionData;

    fn held(offset: i64) -> SuspendedPull {
        SuspendedPull {
            deadline_ms: 0,
            topic: "T".into(),
            queue_id: 0,
            offset,
            subscription: SubscriptionData::build("T", Some("*"), None).expect("* parses"),
        }
    }

    /// The table is bounded, keeps an entry only while its queue has waiters, and a put to
    /// a waited-on queue reaches the subscription.
    #[test]
    fn park_is_bounded_and_released_on_drop() {
        let holds = PullHolds::new(2);
        let first = holds.park("T", 0).expect("room");
        let second = holds.park("T", 0).expect("room");
        assert!(holds.park("T", 1).is_none(), "the third hold is refused");
        holds.arrived("T", 0, QueueArrival { first_offset: 0, max_offset: 1, tags_codes: None });
        assert!(second.arrivals.has_changed().expect("sender alive"));
        drop((first, second));
        assert!(holds.is_empty() && holds.queues().is_empty());
    }

    /// An arrival past the pull's offset wakes it; one that does not reach it does not.
    #[test]
    fn arrival_wakes_only_past_the_offset() {
        let arrival = QueueArrival { first_offset: 4, max_offset: 5, tags_codes: Some(vec![7]) };
        assert!(arrival.wakes(&held(4), 4));
        assert!(!arrival.wakes(&held(5), 4));
    }

    /// Puts that publish out of offset order do not hide each other: an older arrival after a
    /// newer one keeps the newer end and drops the tags, so a waiter that wants a tag the
    /// newer put carried still wakes (found in review: it slept until its deadline).
    #[test]
    fn out_of_order_arrivals_merge_instead_of_replacing() {
        let holds = PullHolds::new(4);
        let waiter = holds.park("T", 0).expect("room");
        let newer = QueueArrival { first_offset: 6, max_offset: 7, tags_codes: Some(vec![2]) };
        let older = QueueArrival { first_offset: 5, max_offset: 6, tags_codes: Some(vec![1]) };
        holds.arrived("T", 0, newer);
        holds.arrived("T", 0, older);
        let seen = waiter.arrivals.borrow().clone();
        assert_eq!(seen, QueueArrival { first_offset: 5, max_offset: 7, tags_codes: None });
        let mut wants_tag_two = held(5);
        wants_tag_two.subscription = SubscriptionData::build("T", Some("B"), None).expect("tag");
        assert!(seen.wakes(&wants_tag_two, 5), "the merged arrival wakes a waiter the older put alone would not");
    }
}
