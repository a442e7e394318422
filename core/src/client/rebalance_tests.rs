use proptest::prelude::*;

use super::*;

fn queues(count: i32) -> Vec<MessageQueue> {
    (0..count).map(|id| MessageQueue::new("T", "broker-a", id)).collect()
}

fn cids(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn ids(queues: &[MessageQueue]) -> Vec<i32> {
    queues.iter().map(|q| q.queue_id).collect()
}

const ALL: [AllocateStrategy; 3] = [
    AllocateStrategy::Averagely,
    AllocateStrategy::AveragelyByCircle,
    AllocateStrategy::ConsistentHash { virtual_nodes: CONSISTENT_HASH_VIRTUAL_NODES_DEFAULT },
];

/// 8 queues over 3 consumers: blocks of 3, 3, 2, as Java's averagely strategy gives.
#[test]
fn averagely_matches_java() {
    let all = cids(&["c2", "c0", "c1"]);
    let share = |cid| ids(&allocate_averagely("g", cid, &queues(8), &all));
    assert_eq!(share("c0"), [0, 1, 2]);
    assert_eq!(share("c1"), [3, 4, 5]);
    assert_eq!(share("c2"), [6, 7]);
    let few = |cid| ids(&allocate_averagely("g", cid, &queues(2), &all));
    assert_eq!((few("c0"), few("c1"), few("c2")), (vec![0], vec![1], vec![]));
}

/// 8 queues over 3 consumers by circle: every third queue.
#[test]
fn by_circle_matches_java() {
    let all = cids(&["c1", "c2", "c0"]);
    let share = |cid| ids(&allocate_averagely_by_circle("g", cid, &queues(8), &all));
    assert_eq!(share("c0"), [0, 3, 6]);
    assert_eq!(share("c1"), [1, 4, 7]);
    assert_eq!(share("c2"), [2, 5]);
}

/// A consumer not in the list, or no queues, gets nothing from every strategy; names are Java's.
#[test]
fn outsiders_get_nothing() {
    for strategy in ALL {
        assert!(strategy.allocate("g", "x", &queues(4), &cids(&["a", "b"])).is_empty());
        assert!(strategy.allocate("g", "a", &[], &cids(&["a", "b"])).is_empty());
        assert!(strategy.allocate("g", "a", &queues(4), &[]).is_empty());
    }
    let names: Vec<_> = ALL.iter().map(AllocateStrategy::name).collect();
    assert_eq!(names, ["AVG", "AVG_BY_CIRCLE", "CONSISTENT_HASH"]);
}

/// FNV-1a matches its published test vectors.
#[test]
fn fnv1a_vectors() {
    assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
}

/// The consistent-hash ring's exact assignment of 8 queues over 3 consumers (pinned: it is
/// Petrel's ring, not Java's), and one consumer takes everything alone.
#[test]
fn consistent_hash_is_pinned() {
    let all = cids(&["c0", "c1", "c2"]);
    let share = |cid| ids(&allocate_consistent_hash("g", cid, &queues(8), &all, 10));
    let shares = [share("c0"), share("c1"), share("c2")];
    assert_eq!(shares, CONSISTENT_HASH_PINNED.map(|s| s.to_vec()));
    let alone = allocate_consistent_hash("g", "c0", &queues(8), &cids(&["c0"]), 10);
    assert_eq!(ids(&alone), (0..8).collect::<Vec<_>>());
}

const CONSISTENT_HASH_PINNED: [&[i32]; 3] = [&[4], &[0, 1, 3, 5, 7], &[2, 6]];

/// Queues and consumer ids, each with a shuffled copy.
type Inputs = (Vec<MessageQueue>, Vec<String>, Vec<MessageQueue>, Vec<String>);

fn inputs() -> impl Strategy<Value = Inputs> {
    let mqs = proptest::collection::btree_set((0..3u8, 0..16i32), 0..40).prop_map(|set| {
        set.into_iter().map(|(broker, id)| MessageQueue::new("T", format!("broker-{broker}"), id)).collect::<Vec<_>>()
    });
    let cids = proptest::collection::btree_set("[a-z]{1,6}", 1..8).prop_map(|set| set.into_iter().collect::<Vec<_>>());
    (mqs, cids).prop_flat_map(|(mqs, cids)| {
        let shuffled_mqs = Just(mqs.clone()).prop_shuffle();
        let shuffled_cids = Just(cids.clone()).prop_shuffle();
        (Just(mqs), Just(cids), shuffled_mqs, shuffled_cids)
    })
}

proptest! {
    /// Every queue goes to exactly one consumer; the averaging strategies give sizes within 1;
    /// shuffled inputs give the same shares.
    #[test]
    fn shares_partition_the_queues((mqs, all, shuffled_mqs, shuffled_cids) in inputs()) {
        for strategy in ALL {
            let mut taken = Vec::new();
            let mut sizes = Vec::new();
            for cid in &all {
                let share = strategy.allocate("g", cid, &mqs, &all);
                prop_assert_eq!(&share, &strategy.allocate("g", cid, &shuffled_mqs, &shuffled_cids));
                sizes.push(share.len());
                taken.extend(share);
            }
            taken.sort();
            prop_assert_eq!(&taken, &mqs, "{} must partition the queues", strategy.name());
            if strategy != ALL[2] {
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                prop_assert!(max.zip(min).is_none_or(|(max, min)| max - min <= 1), "{:?}", sizes);
            }
        }
    }
}
