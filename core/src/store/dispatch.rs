//! The dispatcher: builds ConsumeQueue units and IndexFile entries from CommitLog records
//! (RocketMQ's reput), both for fresh puts and for records found by recovery, and remembers
//! deleted topics so that a reput never brings one back.

use std::collections::BTreeMap;

use crate::message::record::RecordMeta;
use crate::message::{sysflag, MessageToStore};
use crate::store::config::StoreConfig;
use crate::store::consume_queue::{ConsumeQueue, CqUnit, CONSUME_QUEUE_DIR};
use crate::store::disk::DiskRef;
use crate::store::error::StoreError;
use crate::store::index::IndexService;
use crate::store::offset::{CommitLogOffset, QueueOffset};

/// ConsumeQueues by topic, then queue id (two levels so a lookup borrows the topic as `&str`).
pub(crate) type Queues = BTreeMap<String, BTreeMap<i32, ConsumeQueue>>;

/// Whether a message takes a queue offset: transaction half and rollback messages do not.
pub(crate) fn takes_queue_offset(sys_flag: i32) -> bool {
    let kind = sysflag::transaction_type(sys_flag);
    kind != sysflag::TRANSACTION_PREPARED && kind != sysflag::TRANSACTION_ROLLBACK
}

/// What the dispatcher needs of one record, from a put or from a CommitLog scan.
pub(crate) struct DispatchRequest<'a> {
    topic: &'a str,
    queue_id: i32,
    queue_offset: QueueOffset,
    offset: CommitLogOffset,
    size: u32,
    tags_code: i64,
    sys_flag: i32,
    store_timestamp: i64,
    /// The KEYS property split on spaces, then the UNIQ_KEY id: what the index holds.
    index_keys: Vec<&'a str>,
}

impl<'a> DispatchRequest<'a> {
    pub(crate) fn from_meta(meta: &'a RecordMeta) -> Self {
        DispatchRequest {
            topic: &meta.topic,
            queue_id: meta.queue_id,
            queue_offset: QueueOffset(meta.queue_offset.max(0) as u64),
            offset: CommitLogOffset(meta.physical_offset as u64),
            size: meta.total_size as u32,
            tags_code: meta.tags_code,
            sys_flag: meta.sys_flag,
            store_timestamp: meta.store_timestamp,
            index_keys: meta.keys.iter().map(String::as_str).chain(meta.uniq_key.as_deref()).collect(),
        }
    }

    pub(crate) fn from_put(
        message: &'a MessageToStore,
        queue_offset: QueueOffset,
        offset: CommitLogOffset,
        size: u32,
        store_timestamp: i64,
    ) -> Self {
        DispatchRequest {
            topic: &message.topic,
            queue_id: message.queue_id,
            queue_offset,
            offset,
            size,
            tags_code: message.tags_code(),
            sys_flag: message.sys_flag,
            store_timestamp,
            index_keys: message.properties.keys().chain(message.properties.uniq_key()).collect(),
        }
    }
}

/// What the dispatcher maintains from the CommitLog.
pub(crate) struct Indexes {
    /// ConsumeQueues by topic, then queue id.
    pub(crate) queues: Queues,
    /// Keys and ids to CommitLog offsets.
    pub(crate) index: IndexService,
    /// Deleted topics, each with the CommitLog offset of its deletion: records of the topic
    /// below it belong to the deleted incarnation and are not dispatched again by a reput.
    pub(crate) deleted_topics: BTreeMap<String, u64>,
}

impl Indexes {
    /// Builds the ConsumeQueue unit and index entries of one record (RocketMQ's reput dispatch).
    pub(crate) fn dispatch(
        &mut self,
        config: &StoreConfig,
        disk: &DiskRef,
        request: &DispatchRequest<'_>,
    ) -> Result<(), StoreError> {
        if self.deleted_topics.get(request.topic).is_some_and(|&deleted_at| request.offset.0 < deleted_at) {
            return Ok(());
        }
        if takes_queue_offset(request.sys_flag) {
            let queue = queue_entry(&mut self.queues, disk, config, request.topic, request.queue_id)?;
            let unit = CqUnit { commit_log_offset: request.offset, size: request.size, tags_code: request.tags_code };
            queue.put(request.queue_offset, unit)?;
        }
        if config.index_enabled {
            self.index.put(request.topic, &request.index_keys, request.offset.0, request.store_timestamp)?;
        }
        Ok(())
    }
}

/// Where deleted topics are remembered.
pub const DELETED_TOPICS_PATH: &str = "config/deletedTopics.json";

pub(crate) fn load_deleted_topics(disk: &DiskRef) -> Result<BTreeMap<String, u64>, StoreError> {
    let Some(bytes) = disk.read_all(DELETED_TOPICS_PATH)? else { return Ok(BTreeMap::new()) };
    serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Metadata { file: DELETED_TOPICS_PATH.into(), reason: e.to_string() })
}

pub(crate) fn store_deleted_topics(disk: &DiskRef, deleted: &BTreeMap<String, u64>) -> Result<(), StoreError> {
    let json = serde_json::to_vec(deleted)
        .map_err(|e| StoreError::Metadata { file: DELETED_TOPICS_PATH.into(), reason: e.to_string() })?;
    Ok(disk.replace_atomic(DELETED_TOPICS_PATH, &json)?)
}

/// Removes what is left of the queues of deleted topics (a deletion cut short by a crash):
/// a queue whose first message lies below its topic's deletion offset belongs to the deleted
/// incarnation.
pub(crate) fn drop_deleted_queues(mut queues: Queues, deleted: &BTreeMap<String, u64>) -> Result<Queues, StoreError> {
    for (topic, &deleted_at) in deleted {
        let Some(ids) = queues.get_mut(topic) else { continue };
        let stale: Vec<i32> = ids
            .iter()
            .filter_map(|(&id, queue)| match queue.get(queue.min_offset()) {
                Ok(Some(unit)) if unit.commit_log_offset.0 >= deleted_at => None,
                _ => Some(id),
            })
            .collect();
        for id in stale {
            if let Some(queue) = ids.remove(&id) {
                queue.destroy()?;
            }
        }
    }
    queues.retain(|_, ids| !ids.is_empty());
    Ok(queues)
}

pub(crate) fn queue_entry<'q>(
    queues: &'q mut Queues,
    disk: &DiskRef,
    config: &StoreConfig,
    topic: &str,
    queue_id: i32,
) -> Result<&'q mut ConsumeQueue, StoreError> {
    if !queues.get(topic).is_some_and(|ids| ids.contains_key(&queue_id)) {
        let queue = ConsumeQueue::open(disk.clone(), topic, queue_id, config.consume_queue_units_per_file)?;
        queues.entry(topic.to_string()).or_default().insert(queue_id, queue);
    }
    Ok(queues.get_mut(topic).and_then(|ids| ids.get_mut(&queue_id)).expect("inserted above"))
}

/// Opens every ConsumeQueue on disk and cuts each back to its durable units.
pub(crate) fn open_queues(disk: &DiskRef, config: &StoreConfig, trusted: u64) -> Result<Queues, StoreError> {
    let mut queues = Queues::new();
    for topic in disk.list(CONSUME_QUEUE_DIR)? {
        for queue_name in disk.list(&format!("{CONSUME_QUEUE_DIR}/{topic}"))? {
            let Ok(queue_id) = queue_name.parse::<i32>() else {
                return Err(StoreError::Layout {
                    dir: format!("{CONSUME_QUEUE_DIR}/{topic}"),
                    reason: format!("unexpected entry {queue_name}"),
                });
            };
            let mut queue = ConsumeQueue::open(disk.clone(), &topic, queue_id, config.consume_queue_units_per_file)?;
            queue.recover(trusted)?;
            queues.entry(topic.clone()).or_default().insert(queue_id, queue);
        }
    }
    Ok(queues)
}
