//! Consumer offsets and queue bounds on a broker: the [`OffsetTable`] (committed offsets with
//! a dirty flag, so the shell persists them every [`OFFSET_PERSIST_INTERVAL_MS`] only when
//! something changed) and the processors of QUERY_CONSUMER_OFFSET, UPDATE_CONSUMER_OFFSET,
//! GET_MAX_OFFSET, GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP and GET_EARLIEST_MSG_STORETIME
//! (RocketMQ's `ConsumerManageProcessor` and `AdminBrokerProcessor`), each a request in and a
//! response out over `MessageStore`.

use crate::message::record::decode_record;
use crate::remoting::{
    CommandHeader, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader, GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, RemotingCommand, ResponseCode,
    SearchOffsetRequestHeader, SearchOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::store::consumer_offset::ConsumerOffsets;
use crate::store::disk::DiskRef;
use crate::store::{GetStatus, MessageStore, QueueOffset, StoreError};

use super::consumer::RequestError;

/// How often the shell persists a dirty offset table (RocketMQ's `flushConsumerOffsetInterval`).
pub const OFFSET_PERSIST_INTERVAL_MS: i64 = 5_000;

/// CommitLog bytes behind the newest message that RocketMQ would still find in the page
/// cache. Java uses 40 % of physical memory (`accessMessageInMemoryMaxRatio`); Petrel has no
/// memory probe and uses this fixed window, the figure for a 10 GiB machine.
pub const MESSAGE_IN_MEMORY_WINDOW_BYTES: u64 = 4 << 30;

/// Java's remark when a group has no offset for a queue.
const QUERY_NOT_FOUND_REMARK: &str = "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first";

/// Consumer groups' committed offsets and whether they changed since the last persist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetTable {
    /// The offsets, in RocketMQ's `consumerOffset.json` shape.
    offsets: ConsumerOffsets,
    /// Something was committed since the last successful persist.
    dirty: bool,
}

impl OffsetTable {
    /// A table holding `offsets`, clean (they came from the disk).
    pub fn new(offsets: ConsumerOffsets) -> Self {
        OffsetTable { offsets, dirty: false }
    }

    /// Loads the table from the disk (an absent file is an empty table).
    pub fn load(disk: &DiskRef) -> Result<Self, StoreError> {
        ConsumerOffsets::load(disk).map(Self::new)
    }

    /// Records a group's offset for a queue (RocketMQ keeps the last one written, even if it
    /// is smaller: a consumer resetting its offset commits a smaller one).
    pub fn commit(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        if self.offsets.query(group, topic, queue_id) != Some(offset) {
            self.offsets.commit(group, topic, queue_id, offset);
            self.dirty = true;
        }
    }

    /// A group's committed offset for a queue, if it ever committed one.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.offsets.query(group, topic, queue_id)
    }

    /// The offsets, read-only.
    pub fn offsets(&self) -> &ConsumerOffsets {
        &self.offsets
    }

    /// Forgets a deleted topic's offsets.
    pub fn remove_topic(&mut self, topic: &str) {
        let before = self.offsets.clone();
        self.offsets.remove_topic(topic);
        self.dirty |= self.offsets != before;
    }

    /// True when the table changed since the last persist.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// A copy to persist, if the table is dirty; the table is clean afterwards. Write the copy
    /// outside the broker's lock; if that fails, call [`OffsetTable::mark_dirty`].
    pub fn take_snapshot(&mut self) -> Option<ConsumerOffsets> {
        std::mem::take(&mut self.dirty).then(|| self.offsets.clone())
    }

    /// Marks the table as needing a persist (after a failed write of a snapshot).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Writes the table if it is dirty, holding it (tests, shutdown). True when it wrote.
    pub fn persist_if_dirty(&mut self, disk: &DiskRef) -> Result<bool, StoreError> {
        let Some(snapshot) = self.take_snapshot() else {
            return Ok(false);
        };
        if let Err(error) = snapshot.persist(disk) {
            self.mark_dirty();
            return Err(error);
        }
        Ok(true)
    }
}

/// The response to `request`: SUCCESS with `header`, or the error's SYSTEM_ERROR.
pub(crate) fn respond<H: CommandHeader>(
    request: &RemotingCommand,
    outcome: Result<H, RequestError>,
) -> RemotingCommand {
    match outcome {
        Ok(header) => {
            let mut response = RemotingCommand::response_to(request, ResponseCode::Success, None);
            response.write_header(&header);
            response
        }
        Err(error) => error.response_to(request),
    }
}

/// Where a group that never committed starts in a queue, by RocketMQ's rule
/// (`queryConsumerOffset`): at 0 when the queue still starts at 0 and its first message is
/// absent or still within `window_bytes` of the CommitLog's end (in the page cache, so a new
/// group reads the whole small queue); otherwise `None`, and the client applies its
/// `consumeFromWhere`. `first_message_lag_bytes` is the CommitLog's end minus the first
/// message's offset, `None` when the queue has no readable message at 0.
pub fn never_committed_offset(
    min_offset: QueueOffset,
    first_message_lag_bytes: Option<u64>,
    window_bytes: u64,
) -> Option<i64> {
    let in_memory = first_message_lag_bytes.is_none_or(|lag| lag <= window_bytes);
    (min_offset.0 == 0 && in_memory).then_some(0)
}

/// How far the CommitLog's end is past the first message of a queue, if it has one readable.
fn first_message_lag_bytes(store: &MessageStore, topic: &str, queue_id: i32) -> Result<Option<u64>, RequestError> {
    let got = store.get_messages(topic, queue_id, QueueOffset(0), 1, &|_| true)?;
    let Some(record) = got.records.first().filter(|_| got.status == GetStatus::Found) else {
        return Ok(None);
    };
    let message = decode_record(record.clone())?;
    let offset = u64::try_from(message.commit_log_offset).unwrap_or(0);
    Ok(Some(store.commit_log_max_offset().0.saturating_sub(offset)))
}

/// QUERY_CONSUMER_OFFSET (14): the group's committed offset; for a group that never
/// committed, 0 or QUERY_NOT_FOUND by [`never_committed_offset`].
pub fn query_consumer_offset(
    store: &MessageStore,
    offsets: &OffsetTable,
    request: &RemotingCommand,
) -> RemotingCommand {
    let header = match request.read_header::<QueryConsumerOffsetRequestHeader>() {
        Ok(header) => header,
        Err(error) => return RequestError::from(error).response_to(request),
    };
    let (group, topic, queue_id) = (&header.consumer_group, &header.topic, header.queue_id);
    let offset = match offsets.query(group, topic, queue_id).filter(|offset| *offset >= 0) {
        Some(offset) => Some(offset),
        None => {
            let lag = match first_message_lag_bytes(store, topic, queue_id) {
                Ok(lag) => lag,
                Err(error) => return error.response_to(request),
            };
            never_committed_offset(store.min_offset(topic, queue_id), lag, MESSAGE_IN_MEMORY_WINDOW_BYTES)
        }
    };
    match offset {
        Some(offset) => respond(request, Ok(QueryConsumerOffsetResponseHeader { offset })),
        None => {
            RemotingCommand::response_to(request, ResponseCode::QueryNotFound, Some(QUERY_NOT_FOUND_REMARK.to_owned()))
        }
    }
}

/// UPDATE_CONSUMER_OFFSET (15): records the group's offset; SUCCESS (often sent one-way).
pub fn update_consumer_offset(offsets: &mut OffsetTable, request: &RemotingCommand) -> RemotingCommand {
    match request.read_header::<UpdateConsumerOffsetRequestHeader>() {
        Ok(header) => {
            offsets.commit(&header.consumer_group, &header.topic, header.queue_id, header.commit_offset);
            RemotingCommand::response_to(request, ResponseCode::Success, None)
        }
        Err(error) => RequestError::from(error).response_to(request),
    }
}

/// A store offset as the wire's signed number.
fn wire_offset(offset: QueueOffset) -> i64 {
    i64::try_from(offset.0).unwrap_or(i64::MAX)
}

/// GET_MAX_OFFSET (30): the offset the queue's next message will get (0 for an unknown queue).
pub fn get_max_offset(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let outcome = request.read_header::<GetMaxOffsetRequestHeader>().map_err(RequestError::from).map(|header| {
        GetMaxOffsetResponseHeader { offset: wire_offset(store.max_offset(&header.topic, header.queue_id)) }
    });
    respond(request, outcome)
}

/// GET_MIN_OFFSET (31): the queue's smallest offset still stored (0 for an unknown queue).
pub fn get_min_offset(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let outcome = request.read_header::<GetMinOffsetRequestHeader>().map_err(RequestError::from).map(|header| {
        GetMinOffsetResponseHeader { offset: wire_offset(store.min_offset(&header.topic, header.queue_id)) }
    });
    respond(request, outcome)
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29): the first offset stored at or after the timestamp (the
/// store's binary search; past the newest message it answers the max offset).
pub fn search_offset_by_timestamp(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let outcome = request.read_header::<SearchOffsetRequestHeader>().map_err(RequestError::from).and_then(|header| {
        let offset = store.offset_by_time(&header.topic, header.queue_id, header.timestamp)?;
        Ok(SearchOffsetResponseHeader { offset: wire_offset(offset) })
    });
    respond(request, outcome)
}

/// GET_EARLIEST_MSG_STORETIME (32): the store time of the queue's oldest message, -1 when the
/// queue has none (as Java answers).
pub fn get_earliest_msg_storetime(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let outcome =
        request.read_header::<GetEarliestMsgStoretimeRequestHeader>().map_err(RequestError::from).and_then(|header| {
            let (topic, queue_id) = (&header.topic, header.queue_id);
            let time = store.store_time_at(topic, queue_id, store.min_offset(topic, queue_id))?;
            Ok(GetEarliestMsgStoretimeResponseHeader { timestamp: time.unwrap_or(-1) })
        });
    respond(request, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The never-committed rule: 0 only for a queue starting at 0 whose first message is
    /// absent or within the window.
    #[test]
    fn never_committed_offset_follows_rocketmq() {
        assert_eq!(never_committed_offset(QueueOffset(0), None, 10), Some(0));
        assert_eq!(never_committed_offset(QueueOffset(0), Some(10), 10), Some(0));
        assert_eq!(never_committed_offset(QueueOffset(0), Some(11), 10), None);
        assert_eq!(never_committed_offset(QueueOffset(3), None, 10), None);
        assert_eq!(never_committed_offset(QueueOffset(3), Some(1), 10), None);
    }

    /// Commits mark the table dirty (a repeated identical commit does not); a snapshot cleans
    /// it, and a failed write marks it dirty again.
    #[test]
    fn dirty_flag_tracks_changes() {
        let mut table = OffsetTable::default();
        assert!(!table.is_dirty());
        assert_eq!(table.take_snapshot(), None);
        table.commit("G", "T", 0, 5);
        assert!(table.is_dirty());
        let snapshot = table.take_snapshot().expect("dirty");
        assert_eq!(snapshot.query("G", "T", 0), Some(5));
        assert!(!table.is_dirty());
        table.commit("G", "T", 0, 5);
        assert!(!table.is_dirty());
        table.commit("G", "T", 0, 3);
        assert_eq!(table.query("G", "T", 0), Some(3));
        table.take_snapshot();
        table.mark_dirty();
        assert!(table.is_dirty());
        table.take_snapshot();
        table.remove_topic("U");
        assert!(!table.is_dirty());
        table.remove_topic("T");
        assert!(table.is_dirty());
        assert_eq!(table.query("G", "T", 0), None);
    }

    /// UPDATE_CONSUMER_OFFSET commits; a header without `commitOffset` is a SYSTEM_ERROR that
    /// commits nothing.
    #[test]
    fn update_consumer_offset_commits() {
        let mut table = OffsetTable::default();
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: 2,
            commit_offset: 42,
        };
        let request =
            RemotingCommand::request(crate::remoting::RequestCode::UpdateConsumerOffset, &header).with_opaque(9);
        let response = update_consumer_offset(&mut table, &request);
        assert_eq!(response, RemotingCommand::response_to(&request, ResponseCode::Success, None));
        assert_eq!(table.query("G", "T", 2), Some(42));
        let mut broken = request.clone();
        broken.ext_fields.remove("commitOffset");
        let response = update_consumer_offset(&mut table, &broken);
        assert_eq!(response.code, ResponseCode::SystemError.as_i32());
        assert_eq!(response.remark.as_deref(), Some("invalid request header: header field commitOffset is missing"));
    }
}
