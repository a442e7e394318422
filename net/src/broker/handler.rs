//! The broker's request handling: `BrokerCore` (the state every request and task shares) and
//! `BrokerHandler` (the transport's handler, routed to by a `Dispatcher`).
//!
//! Locks: the store's (taken only through `StoreService::with_store`) and the broker state's
//! (`BrokerCore::state`, a `std::sync::Mutex`). When both are needed the store's is taken first;
//! neither is ever held across an `.await`. Sends are prepared under both, stored with
//! `StoreService::put_messages(..).await` outside them, and answered with `send_response`.
//!
//! The topic table is written (`config/topics.json`, a file replace and its syncs) with neither
//! lock held: a change takes a snapshot under the locks, `BrokerCore::persist_topics` writes
//! it through the `TopicPersister` afterwards (whose own lock orders the writes, so an older
//! table never lands over a newer one), and the request is answered after that. This holds
//! for a send that auto-creates its topic (or uses one whose write is still in progress), a
//! heartbeat that creates a `%RETRY%` topic, and topic administration.

use std::collections::BTreeMap;
use std::future::ready;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use petrel_core::broker::admin::{begin_admin, finish_admin, AdminStep};
use petrel_core::broker::config::BrokerConfig;
use petrel_core::broker::consumer::{
    notify_consumer_ids_changed, process_heartbeat, process_unregister_client, ConsumerManager, GroupChange,
};
use petrel_core::broker::offset::{self, OffsetTable};
use petrel_core::broker::pull::{
    process_read_pull, read_pull_header, PullAttempt, PullContext, PullDecision, SuspendedPull,
    PULL_SYS_FLAG_SUBSCRIPTION,
};
use petrel_core::broker::query::{self, ConsumeStatsContext};
use petrel_core::broker::send::{busy_response, prepare_send, send_response, PreparedSend, QueuePicker};
use petrel_core::broker::topic_config::TopicConfigManager;
use petrel_core::broker::topic_persist::{TopicPersister, TopicSnapshot};
use petrel_core::clock;
use petrel_core::message::MessageToStore;
use petrel_core::namesrv;
use petrel_core::protocol::heartbeat::{HeartbeatData, SubscriptionData};
use petrel_core::protocol::JsonBody;
use petrel_core::remoting::{PullMessageRequestHeader, RemotingCommand, RequestCode, ResponseCode};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::service::{PutOutcome, StoreService};
use petrel_core::store::{QueueOffset, StoreError};
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{debug, warn};

use super::long_poll::{PullHolds, QueueArrival, ARRIVAL_TAGS_MAX};
use crate::remoting::{not_supported, Channel, ConnectionId, HandlerFuture, RequestContext, RequestHandler};

/// How long a NOTIFY_CONSUMER_IDS_CHANGED may wait for room in a connection's write queue.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(3);

/// The request codes the broker serves; every other code is REQUEST_CODE_NOT_SUPPORTED.
pub const SERVED_CODES: [RequestCode; 20] = [
    RequestCode::SendMessage,
    RequestCode::SendMessageV2,
    RequestCode::SendBatchMessage,
    RequestCode::PullMessage,
    RequestCode::HeartBeat,
    RequestCode::UnregisterClient,
    RequestCode::GetConsumerListByGroup,
    RequestCode::QueryConsumerOffset,
    RequestCode::UpdateConsumerOffset,
    RequestCode::GetMaxOffset,
    RequestCode::GetMinOffset,
    RequestCode::SearchOffsetByTimestamp,
    RequestCode::GetEarliestMsgStoretime,
    RequestCode::ViewMessageById,
    RequestCode::QueryMessage,
    RequestCode::GetBrokerRuntimeInfo,
    RequestCode::GetConsumeStats,
    RequestCode::UpdateAndCreateTopic,
    RequestCode::DeleteTopicInBroker,
    RequestCode::GetAllTopicConfig,
];

/// The broker's mutable state besides the store, under one lock.
#[derive(Debug)]
pub(super) struct BrokerState {
    /// The topics served here.
    pub topics: TopicConfigManager,
    /// Queue choice for sends that leave it to the broker.
    pub picker: QueuePicker,
    /// Producer and consumer groups and their members' connections.
    pub consumers: ConsumerManager,
    /// Committed consumer offsets, persisted by the offset task.
    pub offsets: OffsetTable,
    /// Open connections that sent a request, by id: where notifications go and which
    /// connections an expiry scan closes. Entries leave when their connection closes, so it
    /// holds at most the server's `connections_max`.
    pub channels: BTreeMap<ConnectionId, Channel>,
}

/// What the handler and the node's tasks share.
pub(super) struct BrokerCore {
    /// The broker's settings, with the address it advertises.
    pub config: BrokerConfig,
    /// The message store and its background tasks.
    pub store: StoreService,
    /// The broker's disk (topic table and consumer offsets are persisted on it).
    pub disk: DiskRef,
    /// Writes the topic table in order; its lock is taken with no other lock held.
    pub topic_persister: TopicPersister,
    /// Topics, groups, offsets, connections.
    pub state: Mutex<BrokerState>,
    /// Held pulls.
    pub holds: Arc<PullHolds>,
    /// Permits for sends in progress; its size is the send queue bound
    /// (`BrokerConfig::send_queue_capacity`).
    pub sends: Arc<Semaphore>,
    /// Wakes the registration task after a topic change.
    pub register_wake: Notify,
    /// Turns `true` at shutdown: held pulls answer at once.
    pub stop: watch::Receiver<bool>,
    /// When the broker started (ms since the epoch), for GET_BROKER_RUNTIME_INFO.
    pub boot_ms: i64,
}

impl std::fmt::Debug for BrokerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerCore")
            .field("broker_name", &self.config.broker_name)
            .field("broker_addr", &self.config.broker_addr)
            .field("held_pulls", &self.holds.len())
            .finish()
    }
}

impl BrokerCore {
    /// The broker state, locked; never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `channel` until its connection closes.
    fn remember(&self, channel: &Channel) {
        let mut state = self.lock();
        state.channels.entry(channel.id()).or_insert_with(|| channel.clone());
        // The close may have been reported before this request took the lock.
        if channel.is_closed() {
            state.channels.remove(&channel.id());
        }
    }

    /// A connection closed: forgets it and its clients, and notifies the groups they left.
    pub fn connection_closed(&self, id: ConnectionId) {
        let changes = {
            let mut state = self.lock();
            state.channels.remove(&id);
            state.consumers.on_connection_closed(core_connection(id))
        };
        self.notify(changes);
    }

    /// Sends NOTIFY_CONSUMER_IDS_CHANGED (one-way) to every connection each change names, in
    /// a task of its own (a slow peer must not hold up the caller).
    pub fn notify(&self, changes: Vec<GroupChange>) {
        if changes.is_empty() {
            return;
        }
        let targets: Vec<(String, Channel)> = {
            let state = self.lock();
            changes
                .iter()
                .flat_map(|change| {
                    change.notify.iter().filter_map(|conn| {
                        let channel = state.channels.get(&net_connection(*conn))?;
                        Some((change.group.clone(), channel.clone()))
                    })
                })
                .collect()
        };
        tokio::spawn(async move {
            for (group, channel) in targets {
                let request = notify_consumer_ids_changed(&group);
                if let Err(error) = channel.invoke_oneway(request, NOTIFY_TIMEOUT).await {
                    debug!(%group, %error, "consumer ids change not notified");
                }
            }
        });
    }

    /// Creates each heartbeating consumer group's `%RETRY%` topic if missing (as a Java broker
    /// does), re-registers and persists it (outside the lock), so that clients looking its
    /// route up find it.
    fn ensure_retry_topics(&self, now_ms: i64, request: &RemotingCommand) {
        let Some(heartbeat) = request.body_bytes().and_then(|body| HeartbeatData::decode_json(&body).ok()) else {
            return;
        };
        let snapshot = {
            let mut state = self.lock();
            let mut created = false;
            for consumer in &heartbeat.consumer_data_set {
                match state.topics.ensure_retry_topic(&consumer.group_name, now_ms) {
                    Ok(made) => created |= made,
                    Err(error) => warn!(group = %consumer.group_name, %error, "cannot create the retry topic"),
                }
            }
            if !created {
                return;
            }
            self.after_topic_change(&mut state);
            state.topics.snapshot_to_persist()
        };
        if let Err(error) = self.persist_topics(snapshot) {
            warn!(%error, "cannot persist the retry topic; a later request persists it");
        }
    }

    /// Writes `snapshot` (taken under the locks) with no lock held, then records how far the
    /// table is durable and drops the offsets of topics whose deletion now is. Returns once the
    /// snapshot's table, or a newer one, is on disk. Never call it holding a lock: it waits for
    /// the persister's, which is held across a write and its syncs.
    pub(super) fn persist_topics(&self, snapshot: Option<TopicSnapshot>) -> Result<(), StoreError> {
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let persisted = self.topic_persister.persist(&snapshot)?;
        let mut state = self.lock();
        state.topics.mark_persisted(persisted.durable_revision());
        self.after_topic_change(&mut state);
        Ok(())
    }

    /// After a topic change or persist: drops the offsets of topics whose deletion is durable
    /// and wakes the registration task.
    fn after_topic_change(&self, state: &mut BrokerState) {
        for topic in state.topics.take_deleted_topics() {
            state.offsets.remove_topic(&topic);
        }
        if state.topics.take_register_needed() {
            self.register_wake.notify_one();
        }
    }

    /// SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE: SYSTEM_BUSY at once when the send
    /// queue is full, else prepare, store, answer.
    async fn send(&self, ctx: RequestContext, request: RemotingCommand) -> RemotingCommand {
        let Ok(_permit) = self.sends.clone().try_acquire_owned() else {
            return busy_response(&request, 0, self.config.send_queue_capacity);
        };
        let prepared = match self.prepare_send(ctx, &request) {
            Ok(prepared) => prepared,
            Err(refusal) => return refusal,
        };
        let outcome = self.store.put_messages(&prepared.messages).await;
        if let Ok(outcome) = &outcome {
            self.wake_holds(&prepared.messages, outcome);
        }
        send_response(&self.config, &request, &prepared, outcome.as_ref())
    }

    /// `prepare_send` under the store lock; then, outside it, persists the topic table if it
    /// has changes not yet durable (an auto-created topic, this send's or another's still
    /// being written), so the send is answered only after the topic it used is on disk.
    fn prepare_send(&self, ctx: RequestContext, request: &RemotingCommand) -> Result<PreparedSend, RemotingCommand> {
        let (prepared, snapshot) = self.store.with_store(|_store| {
            let mut state = self.lock();
            let state = &mut *state;
            let now_ms = clock::epoch_ms();
            let prepared = prepare_send(&self.config, &mut state.topics, &mut state.picker, now_ms, ctx.peer, request)?;
            if prepared.topic_created {
                self.after_topic_change(state);
            }
            Ok((prepared, state.topics.snapshot_to_persist()))
        })?;
        if let Err(error) = self.persist_topics(snapshot) {
            // The topic exists in memory and is used; a later request persists it.
            warn!(%error, "cannot persist the topic table before a send");
        }
        Ok(prepared)
    }

    /// A put landed: wakes the pulls held on its queue.
    fn wake_holds(&self, messages: &[MessageToStore], outcome: &PutOutcome) {
        let (Some(first), Some(last)) = (messages.first(), outcome.result.messages.last()) else {
            return;
        };
        let first_offset = outcome.result.messages[0].queue_offset.0;
        let tags_codes =
            (messages.len() <= ARRIVAL_TAGS_MAX).then(|| messages.iter().map(MessageToStore::tags_code).collect());
        let arrival = QueueArrival {
            first_offset: i64::try_from(first_offset).unwrap_or(i64::MAX),
            max_offset: i64::try_from(last.queue_offset.0 + 1).unwrap_or(i64::MAX),
            tags_codes,
        };
        self.holds.arrived(&first.topic, first.queue_id, arrival);
    }

    /// Runs a pull whose header is read over the store and the broker state
    /// (`process_read_pull`; `built`: the subscription an earlier attempt built).
    fn run_pull(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
        attempt: PullAttempt,
        built: Option<&SubscriptionData>,
    ) -> (PullDecision, i64) {
        self.store.with_store(|store| {
            let mut state = self.lock();
            let BrokerState { topics, consumers, offsets, .. } = &mut *state;
            let lookup = |topic: &str| topics.get(topic).cloned();
            let context = PullContext { store, consumers, topics: &lookup };
            let now_ms = clock::epoch_ms();
            (process_read_pull(&context, offsets, now_ms, request, header, attempt, built), now_ms)
        })
    }

    /// PULL_MESSAGE, with long polling: a suspended pull waits for an arrival that wakes it,
    /// its deadline, or the broker's shutdown, then runs again (resumed) and answers. The
    /// header is read once for both attempts.
    async fn pull(&self, request: RemotingCommand, requester: &Channel) -> RemotingCommand {
        let header = match read_pull_header(&request) {
            Ok(header) => header,
            Err(response) => return response,
        };
        let (held, now_ms) = match self.run_pull(&request, &header, PullAttempt::First, None) {
            (PullDecision::Respond(response), _) => return response,
            (PullDecision::Suspend(held), now_ms) => (held, now_ms),
        };
        self.hold(&held, now_ms, requester).await;
        let built = (header.sys_flag & PULL_SYS_FLAG_SUBSCRIPTION != 0).then_some(&held.subscription);
        match self.run_pull(&request, &header, PullAttempt::Resumed, built).0 {
            PullDecision::Respond(response) => response,
            PullDecision::Suspend(_) => unreachable!("a resumed pull always responds"),
        }
    }

    /// Waits until `held` should run again. Returns at once when the hold table is full.
    async fn hold(&self, held: &SuspendedPull, now_ms: i64, requester: &Channel) {
        let Some(mut hold) = self.holds.park(&held.topic, held.queue_id) else {
            return;
        };
        // Subscribed first, then the queue's end reread: no arrival falls in between.
        let visible = self.store.with_store(|store| store.visible_max_offset(&held.topic, held.queue_id));
        let mut seen = visible.unwrap_or(QueueOffset(0));
        let mut seen_max = i64::try_from(seen.0).unwrap_or(i64::MAX);
        if held.wakes_on(seen_max, None) {
            return;
        }
        let hold_ms = held.deadline_ms.saturating_sub(now_ms).max(0).unsigned_abs();
        let deadline = clock::monotonic() + Duration::from_millis(hold_ms);
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => return,
                // The requester is gone: free the hold now rather than at its deadline.
                () = requester.closed() => return,
                () = tokio::time::sleep_until(deadline) => return,
                changed = hold.arrivals.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let arrival = hold.arrivals.borrow_and_update().clone();
            if arrival.wakes(held, seen_max) {
                return;
            }
            seen.0 = seen.0.max(u64::try_from(arrival.max_offset).unwrap_or(0));
            seen_max = i64::try_from(seen.0).unwrap_or(i64::MAX);
        }
    }

    /// The requests answered at once, under the locks they need.
    fn process_now(&self, conn: ConnectionId, request: &RemotingCommand) -> RemotingCommand {
        let now_ms = clock::epoch_ms();
        let (response, changes) = match request.request_code() {
            Some(RequestCode::HeartBeat) => {
                let answered = process_heartbeat(&mut self.lock().consumers, now_ms, core_connection(conn), request);
                self.ensure_retry_topics(now_ms, request);
                answered
            }
            Some(RequestCode::UnregisterClient) => process_unregister_client(&mut self.lock().consumers, request),
            Some(RequestCode::GetConsumerListByGroup) => {
                (query::get_consumer_list_by_group(&self.lock().consumers, request), Vec::new())
            }
            Some(RequestCode::UpdateConsumerOffset) => {
                (offset::update_consumer_offset(&mut self.lock().offsets, request), Vec::new())
            }
            Some(
                RequestCode::UpdateAndCreateTopic | RequestCode::DeleteTopicInBroker | RequestCode::GetAllTopicConfig,
            ) => (self.admin(now_ms, request), Vec::new()),
            Some(code) => (self.process_with_store(code, request), Vec::new()),
            None => (not_supported(request), Vec::new()),
        };
        self.notify(changes);
        response
    }

    /// The requests that read the store (and maybe the state).
    fn process_with_store(&self, code: RequestCode, request: &RemotingCommand) -> RemotingCommand {
        self.store.with_store(|store| match code {
            RequestCode::QueryConsumerOffset => offset::query_consumer_offset(store, &self.lock().offsets, request),
            RequestCode::GetMaxOffset => offset::get_max_offset(store, request),
            RequestCode::GetMinOffset => offset::get_min_offset(store, request),
            RequestCode::SearchOffsetByTimestamp => offset::search_offset_by_timestamp(store, request),
            RequestCode::GetEarliestMsgStoretime => offset::get_earliest_msg_storetime(store, request),
            RequestCode::ViewMessageById => query::view_message_by_id(store, request),
            RequestCode::QueryMessage => query::query_message(store, request),
            RequestCode::GetBrokerRuntimeInfo => query::get_broker_runtime_info(store, self.boot_ms, request),
            RequestCode::GetConsumeStats => {
                let state = self.lock();
                let lookup = |topic: &str| state.topics.get(topic).cloned();
                let context = ConsumeStatsContext {
                    store,
                    consumers: &state.consumers,
                    offsets: &state.offsets,
                    topics: &lookup,
                    broker_name: &self.config.broker_name,
                };
                query::get_consume_stats(&context, request)
            }
            _ => not_supported(request),
        })
    }

    /// Topic administration in `petrel_core::broker::admin`'s steps: the change under the
    /// state lock, the table's persist with no lock held, then the answer (SUCCESS only once
    /// the change is durable) and a delete's queue removal under the store and state locks.
    fn admin(&self, now_ms: i64, request: &RemotingCommand) -> RemotingCommand {
        let (change, snapshot) = {
            let mut state = self.lock();
            let change = match begin_admin(&self.config, &mut state.topics, now_ms, request) {
                AdminStep::Respond(response) => return response,
                AdminStep::Continue(change) => change,
            };
            self.after_topic_change(&mut state);
            let snapshot = if change.changed_table() { state.topics.snapshot_to_persist() } else { None };
            (change, snapshot)
        };
        let persisted = self.persist_topics(snapshot);
        self.store.with_store(|store| {
            let mut state = self.lock();
            let response =
                finish_admin(&mut state.topics, change, persisted, now_ms, request, |topic| store.delete_topic(topic));
            self.after_topic_change(&mut state);
            response
        })
    }
}

/// The transport's handler. Empty until the node has bound its address and built its core
/// (the advertised address needs the bound port); a request arriving before that is answered
/// SYSTEM_BUSY.
#[derive(Debug, Default)]
pub(super) struct BrokerHandler {
    /// The shared core, set once at start.
    pub core: OnceLock<Arc<BrokerCore>>,
}

impl RequestHandler for BrokerHandler {
    fn handle(&self, ctx: RequestContext, request: RemotingCommand) -> HandlerFuture {
        let Some(core) = self.core.get().cloned() else {
            let remark = Some("the broker is starting".to_owned());
            let busy = RemotingCommand::response_to(&request, ResponseCode::SystemBusy, remark);
            return Box::pin(ready(Some(busy)));
        };
        core.remember(&ctx.channel);
        match request.request_code() {
            Some(RequestCode::SendMessage | RequestCode::SendMessageV2 | RequestCode::SendBatchMessage) => {
                Box::pin(async move { Some(core.send(ctx, request).await) })
            }
            Some(RequestCode::PullMessage) => Box::pin(async move { Some(core.pull(request, &ctx.channel).await) }),
            _ => Box::pin(ready(Some(core.process_now(ctx.connection, &request)))),
        }
    }

    fn on_connection_closed(&self, connection: ConnectionId, _peer: std::net::SocketAddr) {
        if let Some(core) = self.core.get() {
            core.connection_closed(connection);
        }
    }
}

/// The broker logic's id for a transport connection (the same number).
pub(super) fn core_connection(id: ConnectionId) -> namesrv::ConnectionId {
    namesrv::ConnectionId(id.0)
}

/// The transport's id for a connection the broker logic names (the same number).
pub(super) fn net_connection(id: namesrv::ConnectionId) -> ConnectionId {
    ConnectionId(id.0)
}
