//! Writing the topic table (`config/topics.json`) outside the broker's locks, in order.
//!
//! A change to the table is made under the broker's locks, but writing the file is slow (a
//! whole-file replace and its syncs), so the shell copies the table into a [`TopicSnapshot`]
//! under the locks and hands it to the [`TopicPersister`] after releasing them. Then two
//! requests may write at once; the persister keeps that safe:
//! - every snapshot carries the table's revision, a counter every change bumps under the
//!   broker's lock, so a later snapshot has a larger revision and holds every earlier change;
//! - writes are serialised by the persister's own lock, held across the write and its syncs
//!   and taken with no other lock held;
//! - a snapshot no newer than the newest one written is not written: the file never goes back
//!   to an older table, whichever request reaches the lock first;
//! - when `persist` returns `Ok`, the snapshot's table or a newer one is durable, so a request
//!   answers SUCCESS only after its change is on disk.

use std::sync::{Mutex, PoisonError};

use super::topic_config::{TopicConfigManager, TOPIC_CONFIG_PATH};
use crate::protocol::{JsonBody, TopicConfigSerializeWrapper};
use crate::store::disk::DiskRef;
use crate::store::StoreError;

/// A copy of the topic table to write, taken under the broker's lock
/// (`TopicConfigManager::snapshot_to_persist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSnapshot {
    /// The table's revision when copied: changes made in this process so far.
    pub(super) revision: u64,
    /// The table and its `DataVersion`, as the file holds them.
    pub(super) wrapper: TopicConfigSerializeWrapper,
}

impl TopicSnapshot {
    /// The table's revision when it was copied.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

/// What `TopicPersister::persist` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persisted {
    /// The snapshot was written; its revision is the newest on disk.
    Written {
        /// The snapshot's revision.
        revision: u64,
    },
    /// A snapshot at least as new was on disk already (it holds this one's changes); nothing
    /// was written.
    Superseded {
        /// The revision on disk.
        durable_revision: u64,
    },
}

impl Persisted {
    /// The newest revision on disk after the call: at least the snapshot's.
    pub fn durable_revision(self) -> u64 {
        match self {
            Persisted::Written { revision } => revision,
            Persisted::Superseded { durable_revision } => durable_revision,
        }
    }
}

/// Writes topic snapshots one at a time, never an older one over a newer one.
pub struct TopicPersister {
    /// The disk `config/topics.json` lives on.
    disk: DiskRef,
    /// The newest revision on disk (0: the table as loaded at start). The lock serialises the
    /// writes; it is held across one, so take it with no other lock held.
    written_revision: Mutex<u64>,
}

impl std::fmt::Debug for TopicPersister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicPersister").field("written_revision", &*self.written()).finish()
    }
}

impl TopicPersister {
    /// A persister for the table loaded from `disk` at start (revision 0 is what the disk holds).
    pub fn new(disk: DiskRef) -> Self {
        TopicPersister { disk, written_revision: Mutex::new(0) }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, u64> {
        self.written_revision.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `snapshot` atomically and durably unless a snapshot at least as new is on disk
    /// already; waits for a write in progress first. On error nothing newer was written, so a
    /// later call may write the same snapshot again. Call it with no lock held.
    pub fn persist(&self, snapshot: &TopicSnapshot) -> Result<Persisted, StoreError> {
        let mut written = self.written();
        if snapshot.revision <= *written {
            return Ok(Persisted::Superseded { durable_revision: *written });
        }
        let json = snapshot.wrapper.to_json();
        self.disk.replace_atomic(TOPIC_CONFIG_PATH, json.as_bytes())?;
        *written = snapshot.revision;
        Ok(Persisted::Written { revision: snapshot.revision })
    }

    /// Persists `topics`' unpersisted changes and records them as durable, for a caller that
    /// holds the table throughout (tests, tools; the broker's shell persists outside its
    /// locks instead). True when it wrote.
    pub fn persist_if_needed(&self, topics: &mut TopicConfigManager) -> Result<bool, StoreError> {
        let Some(snapshot) = topics.snapshot_to_persist() else {
            return Ok(false);
        };
        let persisted = self.persist(&snapshot)?;
        topics.mark_persisted(persisted.durable_revision());
        Ok(matches!(persisted, Persisted::Written { .. }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::config::BrokerConfig;
    use crate::broker::test_disk::MetadataDisk;
    use crate::protocol::TopicConfig;

    fn table_on(disk: &MetadataDisk) -> Option<TopicConfigSerializeWrapper> {
        let bytes = disk.file(TOPIC_CONFIG_PATH)?;
        TopicConfigSerializeWrapper::decode_json(&bytes).ok()
    }

    /// Two snapshots written in the opposite order to the one they were taken in (as two
    /// requests racing for the persist lock may): the older one is not written over the newer
    /// one, and both callers learn that a table holding their change is durable.
    #[test]
    fn an_older_snapshot_never_overwrites_a_newer_one() {
        let disk = Arc::new(MetadataDisk::default());
        let persister = TopicPersister::new(disk.clone());
        let mut topics = TopicConfigManager::new(&BrokerConfig::default(), 0);
        topics.create_or_update(TopicConfig::new("A", 1), 1).expect("valid");
        let first = topics.snapshot_to_persist().expect("a change to persist");
        topics.create_or_update(TopicConfig::new("B", 1), 2).expect("valid");
        let second = topics.snapshot_to_persist().expect("a change to persist");
        assert_eq!((first.revision(), second.revision()), (1, 2));

        assert_eq!(persister.persist(&second), Ok(Persisted::Written { revision: 2 }));
        assert_eq!(persister.persist(&first), Ok(Persisted::Superseded { durable_revision: 2 }));
        assert_eq!(persister.persist(&second), Ok(Persisted::Superseded { durable_revision: 2 }));
        assert_eq!(disk.replaces(), 1);
        let on_disk = table_on(&disk).expect("written");
        assert_eq!(on_disk, topics.register_wrapper());
        assert!(on_disk.topic_config_table.contains_key("A") && on_disk.topic_config_table.contains_key("B"));
    }

    /// Written in the order taken, each snapshot replaces the one before.
    #[test]
    fn newer_snapshots_replace_older_ones() {
        let disk = Arc::new(MetadataDisk::default());
        let persister = TopicPersister::new(disk.clone());
        let mut topics = TopicConfigManager::new(&BrokerConfig::default(), 0);
        topics.create_or_update(TopicConfig::new("A", 1), 1).expect("valid");
        let first = topics.snapshot_to_persist().expect("a change to persist");
        topics.delete("A", 2).expect("exists");
        let second = topics.snapshot_to_persist().expect("a change to persist");
        assert_eq!(persister.persist(&first), Ok(Persisted::Written { revision: 1 }));
        assert!(table_on(&disk).is_some_and(|table| table.topic_config_table.contains_key("A")));
        assert_eq!(persister.persist(&second), Ok(Persisted::Written { revision: 2 }));
        assert!(table_on(&disk).is_some_and(|table| !table.topic_config_table.contains_key("A")));
        assert_eq!(disk.replaces(), 2);
    }

    /// A failed write records nothing: the same snapshot is written by the next call, and the
    /// table keeps asking to be persisted until then.
    #[test]
    fn a_failed_write_is_retried() {
        let disk = Arc::new(MetadataDisk::default());
        let persister = TopicPersister::new(disk.clone());
        let mut topics = TopicConfigManager::new(&BrokerConfig::default(), 0);
        topics.create_or_update(TopicConfig::new("A", 1), 1).expect("valid");
        disk.set_full(true);
        assert!(matches!(persister.persist_if_needed(&mut topics), Err(StoreError::Disk(_))));
        assert!(topics.needs_persist());
        disk.set_full(false);
        assert_eq!(persister.persist_if_needed(&mut topics), Ok(true));
        assert!(!topics.needs_persist());
        assert_eq!(persister.persist_if_needed(&mut topics), Ok(false));
        assert_eq!(table_on(&disk), Some(topics.register_wrapper()));
    }
}
