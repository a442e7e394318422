//! `Producer`: sends messages to the brokers that serve their topics (`DefaultMQProducer`).
//!
//! A send finds the topic's route (cached; asked of the name servers in turn on a miss, and from
//! TBW102's route when the topic does not exist yet, so the broker auto-creates it), gives the
//! message a UNIQ_KEY, lets `MqFaultStrategy` pick a queue, and sends SEND_MESSAGE_V2 to the
//! queue's master. A sync send that fails in the transport, or with a broker code Java retries,
//! tries again up to `retry_times` times on another broker while the send timeout lasts. Each
//! attempt's latency (a failure counts as isolation) goes to the fault strategy.
//!
//! The state (route cache, fault records, id generator) sits behind one `std::sync::Mutex` that
//! is never held across an await. Time comes from `petrel_core::clock` only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use petrel_core::client::route::default_route;
use petrel_core::client::send::{
    batch_message, batch_msg_ids, process_send_response, send_request_header, validate_message, SendResponseError,
};
use petrel_core::client::TopicPublishInfo;
use petrel_core::client::{MessageQueue, MessageQueueSelector, MqFaultStrategy, SendResult};
use petrel_core::clock;
use petrel_core::message::compress::compress_body;
use petrel_core::message::id::UniqIdGenerator;
use petrel_core::message::properties::keys;
use petrel_core::message::sysflag;
use petrel_core::message::Message;
use petrel_core::protocol::{JsonBody, TopicRouteData, AUTO_CREATE_TOPIC_KEY_TOPIC};
use petrel_core::remoting::{GetRouteInfoRequestHeader, RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::config::ProducerConfig;
use super::error::ProducerError;
use crate::remoting::RemotingClient;

/// A running producer. Dropping it stops the route refresh; `shutdown` also closes connections.
#[derive(Debug)]
pub struct Producer {
    /// What sends share with the refresh task and with async sends' tasks.
    inner: Arc<ProducerInner>,
    /// Set to `true` to stop the refresh task (dropping it stops the task too).
    stop_refresh: watch::Sender<bool>,
    /// The route refresh task; awaited at shutdown.
    refresh_task: Option<JoinHandle<()>>,
}

/// The producer's shared part.
#[derive(Debug)]
struct ProducerInner {
    /// Settings.
    config: ProducerConfig,
    /// Connections to name servers and brokers.
    remoting: RemotingClient,
    /// Mutable state; locked briefly, never across an await.
    state: Mutex<ProducerState>,
    /// When the producer started: fault records use milliseconds since then.
    started: tokio::time::Instant,
}

/// The decisions' state.
#[derive(Debug)]
struct ProducerState {
    /// Topic -> its publish info (only topics with at least one queue).
    routes: BTreeMap<String, TopicPublishInfo>,
    /// Queue selection and broker avoidance.
    fault: MqFaultStrategy,
    /// Source of UNIQ_KEYs.
    ids: UniqIdGenerator,
}

/// How a send is made, beyond its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Wait for the answer; retry on another broker after a retryable failure.
    Sync,
    /// Send without an answer, once.
    Oneway,
}

impl Producer {
    /// Starts a producer and its route refresh task. Must run inside the runtime.
    ///
    /// # Panics
    /// If `config` is not usable (see `ProducerConfig::assert_valid`).
    pub fn start(config: ProducerConfig) -> Producer {
        config.assert_valid();
        let ids = UniqIdGenerator::new(config.client_ip, config.pid, config.uniq_id_hash());
        let fault = MqFaultStrategy::new(config.latency_fault_enable, config.fault_thresholds);
        let inner = Arc::new(ProducerInner {
            remoting: RemotingClient::new(config.remoting.clone(), None),
            state: Mutex::new(ProducerState { routes: BTreeMap::new(), fault, ids }),
            started: clock::monotonic(),
            config,
        });
        let (stop_refresh, stop_rx) = watch::channel(false);
        let refresh_task = tokio::spawn(refresh_loop(inner.clone(), stop_rx));
        Producer { inner, stop_refresh, refresh_task: Some(refresh_task) }
    }

    /// The settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Sends `message` and waits for the broker's answer, retrying on another broker after a
    /// retryable failure (up to `retry_times` more attempts within `send_timeout`).
    pub async fn send(&self, message: Message) -> Result<SendResult, ProducerError> {
        self.inner.send_sync(message).await
    }

    /// Sends `message` without waiting for an answer (one attempt, no result).
    pub async fn send_oneway(&self, message: Message) -> Result<(), ProducerError> {
        self.inner.send_default(message, Mode::Oneway).await.map(drop)
    }

    /// Starts a sync send in its own task and returns its result's future, so the caller may
    /// do other work (or start other sends) meanwhile.
    pub fn send_async(
        &self,
        message: Message,
    ) -> impl std::future::Future<Output = Result<SendResult, ProducerError>> + Send + 'static {
        let inner = self.inner.clone();
        // Boxed: the send's state machine is about 9 KiB, and the task would be moved by value.
        let task = tokio::spawn(Box::pin(async move { inner.send_sync(message).await }));
        async move { task.await.unwrap_or(Err(ProducerError::Shutdown)) }
    }

    /// Sends `messages` (same topic) as one SEND_BATCH_MESSAGE; the result's `msg_id` lists
    /// their UNIQ_KEYs joined by commas.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult, ProducerError> {
        self.inner.send_batch(messages).await
    }

    /// Sends `message` to `queue`, once, without retry (`send(msg, mq)`).
    pub async fn send_to_queue(&self, message: Message, queue: MessageQueue) -> Result<SendResult, ProducerError> {
        validate_message(&message, self.inner.config.message_size_max_bytes)?;
        if message.topic != queue.topic {
            return Err(ProducerError::TopicMismatch { message_topic: message.topic, queue_topic: queue.topic });
        }
        self.inner.send_to_chosen_queue(message, |_| Some(queue)).await
    }

    /// Sends `message`, once, to the queue `selector` picks for `arg` among the topic's queues.
    pub async fn send_with_selector(
        &self,
        message: Message,
        selector: &dyn MessageQueueSelector,
        arg: &str,
    ) -> Result<SendResult, ProducerError> {
        validate_message(&message, self.inner.config.message_size_max_bytes)?;
        let choose = |info: &TopicPublishInfo| selector.select(info.message_queues(), &message, arg);
        let chosen = self.inner.publish_info_then(&message.topic, choose).await?;
        let queue = chosen.ok_or(ProducerError::NoQueueSelected)?;
        self.inner.send_to_chosen_queue(message, |_| Some(queue)).await
    }

    /// The topic's writable queues as the producer sees them (fetching the route if needed).
    pub async fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ProducerError> {
        let queues = |info: &TopicPublishInfo| info.message_queues().to_vec();
        self.inner.publish_info_then(topic, queues).await
    }

    /// Fetches every cached topic's route again now (what the refresh task does periodically).
    pub async fn refresh_routes(&self) {
        self.inner.refresh_routes().await;
    }

    /// Stops the refresh task and closes every connection.
    pub async fn shutdown(mut self) {
        self.stop_refresh.send_replace(true);
        if let Some(task) = self.refresh_task.take() {
            // A panicked refresh task has stopped as well.
            let _ = task.await;
        }
        self.inner.remoting.close_all().await;
        debug!(group = %self.inner.config.group, "producer shut down");
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop_refresh.send_replace(true);
    }
}

async fn refresh_loop(inner: Arc<ProducerInner>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
            () = tokio::time::sleep(inner.config.route_refresh_interval) => {
                inner.refresh_routes().await;
            }
        }
    }
}

/// A message ready to go: validated, with its UNIQ_KEY.
#[derive(Debug, Clone)]
struct Outgoing {
    /// What goes on the wire (for a batch, the batch message).
    message: Message,
    /// True for a SEND_BATCH_MESSAGE.
    batch: bool,
    /// The result's msg id: the UNIQ_KEY, or a batch's UNIQ_KEYs joined by commas.
    msg_id: String,
}

impl ProducerInner {
    fn state(&self) -> MutexGuard<'_, ProducerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since start: the fault records' clock.
    fn now_ms(&self) -> i64 {
        let elapsed = clock::monotonic().saturating_duration_since(self.started);
        i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
    }

    /// Gives `message` a UNIQ_KEY unless it has one (`MessageClientIDSetter.setUniqID`).
    fn set_uniq_id(&self, message: &mut Message) -> String {
        if let Some(id) = message.uniq_key() {
            return id.to_owned();
        }
        let id = self.state().ids.next_id(clock::epoch_ms());
        message.properties.set(keys::UNIQ_KEY, id.as_str());
        id
    }

    fn prepare(&self, mut message: Message) -> Result<Outgoing, ProducerError> {
        validate_message(&message, self.config.message_size_max_bytes)?;
        let msg_id = self.set_uniq_id(&mut message);
        Ok(Outgoing { message, batch: false, msg_id })
    }

    async fn send_batch(&self, mut messages: Vec<Message>) -> Result<SendResult, ProducerError> {
        for message in &mut messages {
            validate_message(message, self.config.message_size_max_bytes)?;
            self.set_uniq_id(message);
        }
        let batch_id = self.state().ids.next_id(clock::epoch_ms());
        let message = batch_message(&messages, &batch_id)?;
        validate_message(&message, self.config.message_size_max_bytes)?;
        let outgoing = Outgoing { message, batch: true, msg_id: batch_msg_ids(&messages) };
        let result = self.send_with_retries(outgoing, Mode::Sync).await?;
        Ok(sync_result(result))
    }

    async fn send_sync(&self, message: Message) -> Result<SendResult, ProducerError> {
        let result = self.send_default(message, Mode::Sync).await?;
        Ok(sync_result(result))
    }

    async fn send_default(&self, message: Message, mode: Mode) -> Result<Option<SendResult>, ProducerError> {
        let outgoing = self.prepare(message)?;
        self.send_with_retries(outgoing, mode).await
    }

    /// `sendDefaultImpl`: attempts on queues the fault strategy picks, avoiding the broker of
    /// the previous failure, while retries and time remain.
    async fn send_with_retries(&self, outgoing: Outgoing, mode: Mode) -> Result<Option<SendResult>, ProducerError> {
        let topic = outgoing.message.topic.clone();
        let begin = clock::monotonic();
        self.ensure_route(&topic).await?;
        let attempts = match mode {
            Mode::Sync => 1 + self.config.retry_times,
            Mode::Oneway => 1,
        };
        let mut last_broker: Option<String> = None;
        let mut last_error = None;
        for _ in 0..attempts {
            let spent = clock::monotonic().saturating_duration_since(begin);
            let remaining = self.config.send_timeout.checked_sub(spent);
            let Some(remaining) = remaining.filter(|left| !left.is_zero()) else {
                // Java reports the timeout, not the last failure, when time ran out.
                last_error = None;
                break;
            };
            let queue = self.select_queue(&topic, last_broker.as_deref())?;
            last_broker = Some(queue.broker_name.clone());
            match self.attempt(&outgoing, &queue, mode, remaining).await {
                Ok(result) => return Ok(result),
                Err(error) if error.is_retryable() => {
                    warn!(%topic, broker = %queue.broker_name, %error, "send failed, retrying");
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(ProducerError::Timeout { after: self.config.send_timeout }))
    }

    fn select_queue(&self, topic: &str, last_broker: Option<&str>) -> Result<MessageQueue, ProducerError> {
        let now_ms = self.now_ms();
        let mut state = self.state();
        let ProducerState { routes, fault, .. } = &mut *state;
        let selected = routes.get_mut(topic).and_then(|info| fault.select_one_message_queue(info, last_broker, now_ms));
        selected.ok_or_else(|| ProducerError::NoRoute { topic: topic.to_owned() })
    }

    /// One attempt, with its latency (and failure) recorded for the fault strategy.
    async fn attempt(
        &self,
        outgoing: &Outgoing,
        queue: &MessageQueue,
        mode: Mode,
        timeout: Duration,
    ) -> Result<Option<SendResult>, ProducerError> {
        let begin = clock::monotonic();
        let result = self.send_kernel(outgoing, queue, mode, timeout).await;
        let latency = clock::monotonic().saturating_duration_since(begin);
        let latency_ms = i64::try_from(latency.as_millis()).unwrap_or(i64::MAX);
        let now_ms = self.now_ms();
        let isolation = result.is_err();
        self.state().fault.update_fault_item(&queue.broker_name, latency_ms, isolation, now_ms);
        result
    }

    /// `sendKernelImpl`: one request to the queue's master.
    async fn send_kernel(
        &self,
        outgoing: &Outgoing,
        queue: &MessageQueue,
        mode: Mode,
        timeout: Duration,
    ) -> Result<Option<SendResult>, ProducerError> {
        let addr = self.master_addr(queue)?;
        let mut header =
            send_request_header(&self.config.group, &outgoing.message, queue, clock::epoch_ms(), outgoing.batch);
        let code = if outgoing.batch { RequestCode::SendBatchMessage } else { RequestCode::SendMessageV2 };
        let mut body = outgoing.message.body.clone();
        // As Java's producer: single (not batch) bodies over the threshold go compressed.
        if !outgoing.batch && body.len() > self.config.compress_body_over_bytes {
            body = compress_body(&body);
            header.f |= sysflag::COMPRESSED;
        }
        let request = RemotingCommand::request(code, &header).with_body(body);
        if mode == Mode::Oneway {
            self.remoting.invoke_oneway(addr, request, timeout).await?;
            return Ok(None);
        }
        let response = self.remoting.invoke(addr, request, timeout).await?;
        let topic = &outgoing.message.topic;
        let result = process_send_response(&response, topic, &queue.broker_name, outgoing.msg_id.clone());
        result.map(Some).map_err(|error| match error {
            SendResponseError::Broker { code, remark } => {
                ProducerError::Broker { broker: queue.broker_name.clone(), code, remark }
            }
            SendResponseError::BadHeader(source) => {
                ProducerError::BadResponse { broker: queue.broker_name.clone(), source }
            }
        })
    }

    fn master_addr(&self, queue: &MessageQueue) -> Result<SocketAddr, ProducerError> {
        let state = self.state();
        let addr = state
            .routes
            .get(&queue.topic)
            .and_then(|info| info.master_addr(&queue.broker_name))
            .and_then(|addr| addr.parse().ok());
        addr.ok_or_else(|| ProducerError::NoBrokerAddr { broker: queue.broker_name.clone() })
    }

    /// A send to a queue chosen by the caller (`send(msg, mq)`, `sendSelectImpl`): one attempt.
    async fn send_to_chosen_queue(
        &self,
        message: Message,
        choose: impl FnOnce(&TopicPublishInfo) -> Option<MessageQueue>,
    ) -> Result<SendResult, ProducerError> {
        let outgoing = self.prepare(message)?;
        let chosen = self.publish_info_then(&outgoing.message.topic, choose).await?;
        let queue = chosen.ok_or(ProducerError::NoQueueSelected)?;
        let result = self.attempt(&outgoing, &queue, Mode::Sync, self.config.send_timeout).await?;
        Ok(sync_result(result))
    }
}

/// A sync attempt that succeeded always carries a result; only one-way attempts do not.
fn sync_result(result: Option<SendResult>) -> SendResult {
    result.expect("a sync send that succeeded has a result")
}

impl ProducerInner {
    /// Applies `f` to the topic's publish info, fetching the route first if it is not cached.
    async fn publish_info_then<T>(
        &self,
        topic: &str,
        f: impl FnOnce(&TopicPublishInfo) -> T,
    ) -> Result<T, ProducerError> {
        self.ensure_route(topic).await?;
        let state = self.state();
        let info = state.routes.get(topic).ok_or_else(|| ProducerError::NoRoute { topic: topic.to_owned() })?;
        Ok(f(info))
    }

    /// `tryToFindTopicPublishInfo`: the cached route; else the topic's own route; else TBW102's
    /// cut to `default_topic_queue_nums`, so the broker creates the topic on the first send.
    async fn ensure_route(&self, topic: &str) -> Result<(), ProducerError> {
        if self.state().routes.contains_key(topic) {
            return Ok(());
        }
        if let Some(route) = self.fetch_route(topic).await {
            self.install(topic, &route);
        }
        if self.state().routes.contains_key(topic) {
            return Ok(());
        }
        if let Some(tbw102) = self.fetch_route(AUTO_CREATE_TOPIC_KEY_TOPIC).await {
            let route = default_route(&tbw102, self.config.default_topic_queue_nums);
            self.install(topic, &route);
        }
        if self.state().routes.contains_key(topic) {
            return Ok(());
        }
        Err(ProducerError::NoRoute { topic: topic.to_owned() })
    }

    /// Caches the publish info built from `route` when it has a queue and differs from the
    /// cached one (an unchanged route keeps its round-robin position).
    fn install(&self, topic: &str, route: &TopicRouteData) {
        let info = TopicPublishInfo::from_route(topic, route);
        let mut state = self.state();
        let unchanged = state.routes.get(topic).is_some_and(|old| old.route() == route);
        if info.ok() && !unchanged {
            state.routes.insert(topic.to_owned(), info);
        }
    }

    /// The route of `topic` from the first name server that knows the answer (SUCCESS or
    /// TOPIC_NOT_EXIST); `None` when the topic does not exist or no name server answered.
    async fn fetch_route(&self, topic: &str) -> Option<TopicRouteData> {
        let header = GetRouteInfoRequestHeader { topic: topic.to_owned(), accept_standard_json_only: Some(true) };
        for addr in &self.config.namesrv_addrs {
            let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, &header);
            let response = match self.remoting.invoke(*addr, request, self.config.send_timeout).await {
                Ok(response) => response,
                Err(error) => {
                    warn!(%addr, %topic, %error, "name server unreachable");
                    continue;
                }
            };
            match response.response_code() {
                Some(ResponseCode::Success) => {
                    let body = response.body_bytes().unwrap_or_default();
                    match TopicRouteData::decode_json(&body) {
                        Ok(route) => return Some(route),
                        Err(error) => warn!(%addr, %topic, %error, "bad route body"),
                    }
                }
                Some(ResponseCode::TopicNotExist) => return None,
                _ => warn!(%addr, %topic, code = response.code, "name server refused"),
            }
        }
        None
    }

    /// Fetches every cached topic's route again; a topic that vanished keeps its last route
    /// (as Java keeps it), so sends fail at the broker rather than for lack of a route.
    async fn refresh_routes(&self) {
        let topics: Vec<String> = self.state().routes.keys().cloned().collect();
        for topic in topics {
            if let Some(route) = self.fetch_route(&topic).await {
                self.install(&topic, &route);
            }
        }
    }
}
