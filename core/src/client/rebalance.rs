//! How a consumer group splits a topic's queues among its members: RocketMQ's
//! `AllocateMessageQueueStrategy` implementations as pure functions.
//!
//! Every member computes its own share from the same inputs, so the strategies must agree
//! without talking: each function sorts (and de-duplicates) its inputs first, as Java's
//! `RebalanceImpl` sorts them before calling the strategy, so the answer does not depend on the
//! order the broker listed consumers or the route listed queues. A consumer that is not in the
//! list gets nothing. `consumer_group` is unused by these strategies (Java only logs it).

use super::queue::MessageQueue;

/// Virtual nodes per consumer on the consistent-hash ring (Java's default `virtualNodeCnt`).
pub const CONSISTENT_HASH_VIRTUAL_NODES_DEFAULT: usize = 10;

/// A queue allocation strategy, named as Java's `getName()` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocateStrategy {
    /// `AllocateMessageQueueAveragely` ("AVG"): contiguous blocks, sizes within 1.
    Averagely,
    /// `AllocateMessageQueueAveragelyByCircle` ("AVG_BY_CIRCLE"): every n-th queue.
    AveragelyByCircle,
    /// `AllocateMessageQueueConsistentHash` ("CONSISTENT_HASH") with this many virtual nodes.
    ConsistentHash {
        /// Virtual nodes per consumer on the ring.
        virtual_nodes: usize,
    },
}

impl AllocateStrategy {
    /// Java's name of the strategy.
    pub fn name(&self) -> &'static str {
        match self {
            AllocateStrategy::Averagely => "AVG",
            AllocateStrategy::AveragelyByCircle => "AVG_BY_CIRCLE",
            AllocateStrategy::ConsistentHash { .. } => "CONSISTENT_HASH",
        }
    }

    /// The queues `current_cid` takes.
    pub fn allocate(
        &self,
        consumer_group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        match *self {
            AllocateStrategy::Averagely => allocate_averagely(consumer_group, current_cid, mq_all, cid_all),
            AllocateStrategy::AveragelyByCircle => {
                allocate_averagely_by_circle(consumer_group, current_cid, mq_all, cid_all)
            }
            AllocateStrategy::ConsistentHash { virtual_nodes } => {
                allocate_consistent_hash(consumer_group, current_cid, mq_all, cid_all, virtual_nodes)
            }
        }
    }
}

/// Sorted, de-duplicated copies of the inputs and the current consumer's index, or `None` when
/// it is not a member (or there is nothing to share).
fn sorted_inputs(
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Option<(Vec<MessageQueue>, Vec<String>, usize)> {
    let mut mqs = mq_all.to_vec();
    mqs.sort();
    mqs.dedup();
    let mut cids = cid_all.to_vec();
    cids.sort();
    cids.dedup();
    let index = cids.iter().position(|cid| cid == current_cid)?;
    if mqs.is_empty() {
        return None;
    }
    Some((mqs, cids, index))
}

/// `AllocateMessageQueueAveragely`: the sorted queues cut into contiguous blocks, one per sorted
/// consumer; the first `queues % consumers` consumers take one more. With more consumers than
/// queues, the last consumers get nothing.
pub fn allocate_averagely(
    _consumer_group: &str,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Vec<MessageQueue> {
    let Some((mqs, cids, index)) = sorted_inputs(current_cid, mq_all, cid_all) else {
        return Vec::new();
    };
    let (queues, consumers) = (mqs.len(), cids.len());
    let remainder = queues % consumers;
    let takes_extra = remainder > 0 && index < remainder;
    let average = if queues <= consumers {
        1
    } else if takes_extra {
        queues / consumers + 1
    } else {
        queues / consumers
    };
    let start = if takes_extra { index * average } else { index * average + remainder };
    let range = average.min(queues.saturating_sub(start));
    (0..range).map(|i| mqs[(start + i) % queues].clone()).collect()
}

/// `AllocateMessageQueueAveragelyByCircle`: consumer i takes queues i, i + n, i + 2n, ...
pub fn allocate_averagely_by_circle(
    _consumer_group: &str,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Vec<MessageQueue> {
    let Some((mqs, cids, index)) = sorted_inputs(current_cid, mq_all, cid_all) else {
        return Vec::new();
    };
    mqs.into_iter().skip(index).step_by(cids.len()).collect()
}

/// `AllocateMessageQueueConsistentHash`: each consumer puts `virtual_nodes` points
/// (`"<cid>-<i>"`) on a hash ring; a queue (hashed as its Java `toString`) goes to the first
/// point at or after its hash, wrapping around.
///
/// Java hashes with MD5 (first 4 bytes); Petrel has no MD5 and uses `ring_hash` (64-bit FNV-1a
/// with MurmurHash3's finalizer), so the ring, and the assignment, differ from Java's: do not mix Java and Petrel consumers in one group
/// with this strategy. On a hash collision the later point wins, as in Java's `TreeMap.put`.
pub fn allocate_consistent_hash(
    _consumer_group: &str,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
    virtual_nodes: usize,
) -> Vec<MessageQueue> {
    assert!(virtual_nodes > 0, "a consistent-hash ring needs virtual nodes");
    let Some((mqs, cids, _)) = sorted_inputs(current_cid, mq_all, cid_all) else {
        return Vec::new();
    };
    let mut ring = std::collections::BTreeMap::new();
    for cid in &cids {
        for replica in 0..virtual_nodes {
            ring.insert(ring_hash(format!("{cid}-{replica}").as_bytes()), cid.as_str());
        }
    }
    mqs.into_iter()
        .filter(|mq| {
            let hash = ring_hash(mq.to_string().as_bytes());
            let owner = ring.range(hash..).next().or_else(|| ring.iter().next()).map(|(_, cid)| *cid);
            owner == Some(current_cid)
        })
        .collect()
}

/// The ring's hash: 64-bit FNV-1a, then MurmurHash3's `fmix64` finalizer. FNV-1a alone barely
/// moves the high bits for keys that differ in their last byte (`c0-1`, `c0-2`), which bunches
/// one consumer's virtual nodes together on the ring; the finalizer spreads them.
pub fn ring_hash(bytes: &[u8]) -> u64 {
    let mut hash = fnv1a_64(bytes);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// 64-bit FNV-1a: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
#[path = "rebalance_tests.rs"]
mod tests;
