//! `PushConsumer`: pulls with long polling and hands messages to a `MessageListener`
//! (`DefaultMQPushConsumer` with concurrent consumption).
//!
//! One service task keeps the consumer in its group: it refreshes routes, heartbeats to every
//! broker of the subscribed topics, rebalances every `rebalance_interval` and at once on
//! NOTIFY_CONSUMER_IDS_CHANGED, and commits offsets every `offset_persist_interval`. Each
//! assigned queue has its own pull loop (`consumer_queue.rs`); listener calls run in tasks,
//! at most `consume_concurrency` at once.
//!
//! Delivery is at-least-once: a queue's committed offset never passes a message that was
//! pulled and not yet consumed successfully (`ProcessQueue`). `ConsumeResult::Later` consumes
//! the batch again locally after `reconsume_delay`, until it succeeds or the consumer stops
//! (then it stays uncommitted and is delivered again after a restart). RocketMQ sends such a
//! batch back to `%RETRY%<group>` instead; Petrel's broker has no CONSUMER_SEND_MSG_BACK yet.
//!
//! State sits behind one `std::sync::Mutex`, never held across an await. Time comes from
//! tokio's timers (the simulator's under madsim) and `petrel_core::clock` only.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use petrel_core::client::offset_store::{OffsetTable, ProcessQueue};
use petrel_core::client::rebalance_state::diff_assignment;
use petrel_core::client::MessageQueue;
use petrel_core::clock;
use petrel_core::message::MessageExt;
use petrel_core::protocol::heartbeat::{ConsumeType, ConsumerData, HeartbeatData, MessageModel, SubscriptionData};
use petrel_core::remoting::RequestCode;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::consumer_api::{subscribe_queues, ConsumerApi};
use super::consumer_config::{ConsumeFrom, ConsumerConfig};
use super::consumer_error::ConsumerError;
use super::consumer_queue::{pull_loop, wait_stop};
use crate::remoting::{handler_fn, RemotingClient};

/// What the listener made of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Consumed: its offsets may be committed.
    Success,
    /// Not now: deliver the batch again later (`RECONSUME_LATER`).
    Later,
}

/// The application's consumer of messages. Calls for different batches run concurrently.
pub trait MessageListener: Send + Sync + 'static {
    /// Consumes `msgs`, all from `queue`, in queue order. The batch is shared: a batch
    /// answered `Later` is handed over again without being copied.
    fn consume(
        &self,
        msgs: Arc<[MessageExt]>,
        queue: &MessageQueue,
    ) -> Pin<Box<dyn Future<Output = ConsumeResult> + Send>>;
}

/// A running push consumer. `shutdown` commits offsets and leaves the group; dropping it
/// stops the tasks without that.
pub struct PushConsumer {
    /// What the tasks share.
    inner: Arc<ConsumerInner>,
    /// Set to `true` to stop every task.
    stop: watch::Sender<bool>,
    /// The service task (routes, heartbeats, rebalance, persist); awaited at shutdown.
    service_task: Option<JoinHandle<()>>,
}

/// The push consumer's shared part.
pub(super) struct ConsumerInner {
    /// Settings.
    pub config: ConsumerConfig,
    /// Routes and broker calls.
    pub api: ConsumerApi,
    /// The application's listener.
    pub listener: Arc<dyn MessageListener>,
    /// Mutable state; locked briefly, never across an await.
    state: Mutex<ConsumerState>,
    /// Bounds the listener calls running at once (`consume_concurrency` permits).
    pub consume_slots: Arc<Semaphore>,
    /// Wakes the service task to rebalance now (NOTIFY_CONSUMER_IDS_CHANGED).
    rebalance_wake: Arc<Notify>,
    /// `true` once the consumer stops.
    pub stop: watch::Receiver<bool>,
}

/// The consumer's decisions' state.
#[derive(Debug, Default)]
pub(super) struct ConsumerState {
    /// Assigned queues and their pull progress.
    pub queues: BTreeMap<MessageQueue, QueueEntry>,
    /// Offsets to commit (broker in clustering, local file in broadcasting).
    pub offsets: OffsetTable,
    /// Generation given to the next queue assignment; tells a stale pull loop to end.
    generation_next: u64,
    /// Pull loop tasks by queue; ended and awaited at shutdown.
    pull_tasks: BTreeMap<MessageQueue, JoinHandle<()>>,
}

/// One assigned queue.
#[derive(Debug)]
pub(super) struct QueueEntry {
    /// Pulled and not yet consumed messages.
    pub process: ProcessQueue,
    /// This assignment's generation: a pull loop or consume task of another one stops.
    pub generation: u64,
    /// Offset of the next pull.
    pub next_offset: i64,
}

impl PushConsumer {
    /// Starts the consumer: routes, heartbeats, a first rebalance, then the service task.
    /// Must run inside the runtime.
    ///
    /// # Panics
    /// If `config` is not usable (see `ConsumerConfig::assert_valid`).
    pub async fn start(config: ConsumerConfig, listener: Arc<dyn MessageListener>) -> PushConsumer {
        config.assert_valid();
        let rebalance_wake = Arc::new(Notify::new());
        let wake = rebalance_wake.clone();
        let handler = handler_fn(move |_ctx, request| {
            if request.request_code() == Some(RequestCode::NotifyConsumerIdsChanged) {
                wake.notify_one();
            }
            Box::pin(async { None })
        });
        let remoting = RemotingClient::new(config.remoting.clone(), Some(handler));
        let api = ConsumerApi::new(remoting, config.namesrv_addrs.clone(), config.call_timeout);
        let (stop, stop_rx) = watch::channel(false);
        let offsets = load_offset_file(&config);
        let inner = Arc::new(ConsumerInner {
            api,
            listener,
            state: Mutex::new(ConsumerState { offsets, ..ConsumerState::default() }),
            consume_slots: Arc::new(Semaphore::new(config.consume_concurrency)),
            rebalance_wake,
            stop: stop_rx,
            config,
        });
        inner.refresh_routes().await;
        inner.heartbeat_all().await;
        inner.rebalance_all().await;
        let service_task = Some(tokio::spawn(service_loop(inner.clone())));
        PushConsumer { inner, stop, service_task }
    }

    /// The settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.inner.config
    }

    /// The queues this consumer pulls now, in queue order.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        self.inner.state().queues.keys().cloned().collect()
    }

    /// The offsets it would commit now, per queue.
    pub fn offsets(&self) -> Vec<(MessageQueue, i64)> {
        self.inner.state().offsets.all()
    }

    /// Rebalances now (what the service task does periodically and on notification).
    pub async fn rebalance(&self) {
        self.inner.rebalance_all().await;
    }

    /// Stops pulling, waits (at most `shutdown_drain_timeout`) for running listener calls,
    /// commits every offset, and leaves the group at every broker.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.service_task.take() {
            // A panicked service task has stopped as well.
            let _ = task.await;
        }
        let pulls = std::mem::take(&mut self.inner.state().pull_tasks);
        for (_, task) in pulls {
            let _ = task.await;
        }
        let inner = &self.inner;
        let permits = u32::try_from(inner.config.consume_concurrency).unwrap_or(u32::MAX);
        let drain = inner.consume_slots.acquire_many(permits);
        if tokio::time::timeout(inner.config.shutdown_drain_timeout, drain).await.is_err() {
            warn!(group = %inner.config.group, "listener calls still running at shutdown");
        }
        inner.persist_offsets(false).await;
        inner.unregister_all().await;
        inner.api.remoting.close_all().await;
        debug!(group = %inner.config.group, "push consumer shut down");
    }
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Broadcasting offsets from the local file, if one is configured and readable.
fn load_offset_file(config: &ConsumerConfig) -> OffsetTable {
    let Some(file) = config.offset_file.as_ref() else {
        return OffsetTable::new();
    };
    match file.disk.read_all(&file.path) {
        Ok(Some(bytes)) => OffsetTable::decode_file(&bytes).unwrap_or_else(|error| {
            warn!(path = %file.path, %error, "offsets file unreadable, starting without it");
            OffsetTable::new()
        }),
        Ok(None) => OffsetTable::new(),
        Err(error) => {
            warn!(path = %file.path, %error, "offsets file unreadable, starting without it");
            OffsetTable::new()
        }
    }
}

/// A periodic deadline.
struct Ticker {
    /// When it fires next.
    next: tokio::time::Instant,
    /// Time between firings.
    period: Duration,
}

impl Ticker {
    fn new(period: Duration) -> Self {
        Ticker { next: clock::monotonic() + period, period }
    }

    async fn wait(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    fn reset(&mut self) {
        self.next = clock::monotonic() + self.period;
    }
}

/// The service task: rebalance, persist, heartbeat and route refresh, each on its own period.
async fn service_loop(inner: Arc<ConsumerInner>) {
    let config = &inner.config;
    let mut rebalance = Ticker::new(config.rebalance_interval);
    let mut persist = Ticker::new(config.offset_persist_interval);
    let mut heartbeat = Ticker::new(config.heartbeat_interval);
    let mut routes = Ticker::new(config.route_refresh_interval);
    let mut stop = inner.stop.clone();
    loop {
        tokio::select! {
            biased;
            () = wait_stop(&mut stop) => return,
            () = inner.rebalance_wake.notified() => {
                inner.rebalance_all().await;
                rebalance.reset();
            }
            () = rebalance.wait() => {
                inner.rebalance_all().await;
                rebalance.reset();
            }
            () = persist.wait() => {
                inner.persist_offsets(true).await;
                persist.reset();
            }
            () = heartbeat.wait() => {
                inner.heartbeat_all().await;
                heartbeat.reset();
            }
            () = routes.wait() => {
                inner.refresh_routes().await;
                routes.reset();
            }
        }
    }
}

impl ConsumerInner {
    pub(super) fn state(&self) -> MutexGuard<'_, ConsumerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the consumer is stopping.
    pub(super) fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn clustering(&self) -> bool {
        self.config.message_model == MessageModel::Clustering
    }

    /// Fetches every subscribed topic's route again.
    async fn refresh_routes(&self) {
        for (topic, _) in &self.config.subscriptions {
            if let Err(error) = self.api.refresh_route(topic).await {
                warn!(%topic, %error, "no route for a subscribed topic");
            }
        }
    }

    /// What the heartbeat says about this consumer.
    fn heartbeat_data(&self) -> HeartbeatData {
        let config = &self.config;
        let subscriptions = config
            .subscriptions
            .iter()
            .filter_map(|(topic, expression)| SubscriptionData::build(topic, Some(expression), None).ok());
        HeartbeatData {
            client_id: config.client_id.clone(),
            producer_data_set: Vec::new(),
            consumer_data_set: vec![ConsumerData {
                group_name: config.group.clone(),
                consume_type: Some(ConsumeType::ConsumePassively),
                message_model: Some(config.message_model),
                consume_from_where: Some(config.consume_from.to_where()),
                subscription_data_set: subscriptions.collect(),
                unit_mode: false,
            }],
        }
    }

    /// HEART_BEAT to every master of the subscribed topics.
    async fn heartbeat_all(&self) {
        let data = self.heartbeat_data();
        for (broker, addr) in self.api.masters() {
            if let Err(error) = self.api.heartbeat(addr, &data).await {
                warn!(%broker, %error, "heartbeat failed");
            }
        }
    }

    /// UNREGISTER_CLIENT at every master of the subscribed topics.
    async fn unregister_all(&self) {
        let (client_id, group) = (&self.config.client_id, &self.config.group);
        for (broker, addr) in self.api.masters() {
            if let Err(error) = self.api.unregister(addr, client_id, group).await {
                warn!(%broker, %error, "unregister failed");
            }
        }
    }

    /// Rebalances every subscribed topic (`RebalanceImpl.doRebalance`).
    async fn rebalance_all(self: &Arc<Self>) {
        for (topic, expression) in &self.config.subscriptions {
            if self.stopped() {
                return;
            }
            if let Err(error) = self.rebalance_topic(topic, expression).await {
                warn!(%topic, %error, "rebalance failed");
            }
        }
    }

    /// The queues of `topic` this consumer should pull: all of them when broadcasting, its
    /// share by the allocate strategy when clustering.
    async fn target_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ConsumerError> {
        let route = self.api.route(topic).await?;
        let all = subscribe_queues(topic, &route);
        if !self.clustering() {
            return Ok(all);
        }
        // Java asks a random broker of the topic; asking in name order keeps runs repeatable.
        let mut brokers: Vec<&str> = route.broker_datas.iter().map(|b| b.broker_name.as_str()).collect();
        brokers.sort_unstable();
        let (group, me) = (&self.config.group, &self.config.client_id);
        let ids = self
            .group_members(&brokers, group, me)
            .await
            .ok_or_else(|| ConsumerError::NoRoute { topic: topic.to_owned() })??;
        Ok(self.config.allocate.allocate(group, me, &all, &ids))
    }

    /// The group's members as the first of `brokers` that knows this consumer sees them. A
    /// broker that has not had this consumer's heartbeat (just restarted, or new in the route:
    /// heartbeats go out every `heartbeat_interval`) answers without it, or with no consumer at
    /// all: the next broker is asked. Failing that, the first list any broker gave; failing
    /// that, the last error. `None` when there is no broker to ask.
    async fn group_members(
        &self,
        brokers: &[&str],
        group: &str,
        me: &str,
    ) -> Option<Result<Vec<String>, ConsumerError>> {
        let (mut first_list, mut last_error) = (None, None);
        for broker in brokers {
            match self.api.consumer_ids(broker, group).await {
                Ok(ids) if ids.iter().any(|id| id == me) => return Some(Ok(ids)),
                Ok(ids) => {
                    first_list.get_or_insert(ids);
                }
                Err(error) => {
                    debug!(%broker, %group, %error, "consumer list not available here, asking the next broker");
                    last_error = Some(error);
                }
            }
        }
        first_list.map(Ok).or_else(|| last_error.map(Err))
    }

    async fn rebalance_topic(self: &Arc<Self>, topic: &str, expression: &str) -> Result<(), ConsumerError> {
        let target = self.target_queues(topic).await?;
        let old: BTreeSet<MessageQueue> = self.state().queues.keys().cloned().collect();
        let diff = diff_assignment(topic, &old, &target);
        if diff.is_empty() {
            return Ok(());
        }
        debug!(%topic, client = %self.config.client_id, added = diff.added.len(), removed = diff.removed.len(), "rebalance");
        if let Some(observer) = &self.config.observer {
            observer.rebalanced(topic, &target);
        }
        for queue in diff.removed {
            self.release_queue(&queue).await;
        }
        for queue in diff.added {
            match self.initial_offset(&queue).await {
                Ok(offset) => self.assign_queue(queue, offset, expression),
                Err(error) => warn!(%queue, %error, "no start offset, retried next rebalance"),
            }
        }
        Ok(())
    }

    /// Stops pulling `queue` and commits its offset (clustering: the next owner starts there).
    async fn release_queue(&self, queue: &MessageQueue) {
        let offset = {
            let mut state = self.state();
            state.queues.remove(queue);
            state.pull_tasks.remove(queue);
            if self.clustering() {
                state.offsets.remove(queue)
            } else {
                None
            }
        };
        if let Some(offset) = offset {
            let group = &self.config.group;
            match self.api.update_offset(group, queue, offset, false).await {
                Ok(()) => self.committed(queue, offset),
                Err(error) => warn!(%queue, %error, "commit of a released queue failed"),
            }
        }
    }

    /// Starts pulling `queue` at `offset`.
    fn assign_queue(self: &Arc<Self>, queue: MessageQueue, offset: i64, expression: &str) {
        let mut state = self.state();
        let generation = state.generation_next;
        state.generation_next += 1;
        // The start offset is committed too, so a restart resumes here rather than asking
        // `consume_from` again (a LastOffset start would otherwise skip what came meanwhile).
        state.offsets.update(&queue, offset, false);
        let entry = QueueEntry { process: ProcessQueue::new(), generation, next_offset: offset };
        state.queues.insert(queue.clone(), entry);
        let task = tokio::spawn(pull_loop(self.clone(), queue.clone(), generation, expression.to_owned()));
        state.pull_tasks.insert(queue, task);
    }

    /// Where pulling `queue` starts (`computePullFromWhere`): the committed offset, else the
    /// `consume_from` setting.
    async fn initial_offset(&self, queue: &MessageQueue) -> Result<i64, ConsumerError> {
        let committed = if self.clustering() {
            self.api.query_offset(&self.config.group, queue).await?
        } else {
            self.state().offsets.get(queue)
        };
        if let Some(offset) = committed {
            return Ok(offset);
        }
        match self.config.consume_from {
            ConsumeFrom::LastOffset => self.api.max_offset(queue).await,
            ConsumeFrom::FirstOffset => self.api.min_offset(queue).await,
            ConsumeFrom::Timestamp(ms) => self.api.search_offset(queue, ms).await,
        }
    }

    /// Commits offsets: the changed ones to the brokers (clustering; one-way when `oneway`),
    /// or the whole table to the local file (broadcasting).
    pub(super) async fn persist_offsets(&self, oneway: bool) {
        if !self.clustering() {
            self.persist_offset_file();
            return;
        }
        let dirty = self.state().offsets.take_dirty();
        for (queue, offset) in dirty {
            let group = &self.config.group;
            match self.api.update_offset(group, &queue, offset, oneway).await {
                Ok(()) => self.committed(&queue, offset),
                Err(error) => {
                    warn!(%queue, %error, "offset commit failed");
                    self.state().offsets.mark_dirty(&queue);
                }
            }
        }
    }

    /// Tells the commit observer, if any.
    fn committed(&self, queue: &MessageQueue, offset: i64) {
        if let Some(observer) = &self.config.observer {
            observer.committed(queue, offset);
        }
    }

    fn persist_offset_file(&self) {
        let Some(file) = self.config.offset_file.as_ref() else {
            return;
        };
        let (bytes, all) = {
            let state = self.state();
            (state.offsets.encode_file(), state.offsets.all())
        };
        match file.disk.replace_atomic(&file.path, &bytes) {
            Ok(()) => all.iter().for_each(|(queue, offset)| self.committed(queue, *offset)),
            Err(error) => warn!(path = %file.path, %error, "offsets file not written"),
        }
    }
}
