//! A push consumer's work on one assigned queue: the pull loop (long polling, flow control,
//! offset moves) and the consume tasks that hand pulled messages to the listener.

use std::sync::Arc;

use petrel_core::broker::pull::{PULL_SYS_FLAG_COMMIT_OFFSET, PULL_SYS_FLAG_SUBSCRIPTION, PULL_SYS_FLAG_SUSPEND};
use petrel_core::client::offset_store::{InFlight, ProcessQueue};
use petrel_core::client::MessageQueue;
use petrel_core::message::MessageExt;
use petrel_core::planted::PlantedBug;
use petrel_core::protocol::heartbeat::MessageModel;
use tokio::sync::watch;
use tracing::warn;

use super::consumer::{ConsumeResult, ConsumerInner};
use super::consumer_api::{PullArgs, PullResult, PullStatus};

/// What a pull loop does next.
enum Step {
    /// The queue is no longer ours (or the consumer stops): end the loop.
    End,
    /// Flow control: too much in flight; look again after a pause.
    Pause,
    /// Pull with these arguments.
    Pull(PullArgs),
}

/// Pulls `queue` while it is assigned to this consumer with `generation`
/// (`DefaultMQPushConsumerImpl.pullMessage` and its callback).
pub(super) async fn pull_loop(inner: Arc<ConsumerInner>, queue: MessageQueue, generation: u64, expression: String) {
    let mut stop = inner.stop.clone();
    loop {
        let args = match inner.next_step(&queue, generation, &expression) {
            Step::End => return,
            Step::Pause => {
                if !pause(&inner, inner.config.flow_control_pause).await {
                    return;
                }
                continue;
            }
            Step::Pull(args) => args,
        };
        let group = &inner.config.group;
        let pulled = tokio::select! {
            biased;
            () = wait_stop(&mut stop) => return,
            pulled = inner.api.pull(group, &queue, &args) => pulled,
        };
        match pulled {
            Ok(result) => {
                if inner.on_pulled(&queue, generation, result) && !pause(&inner, inner.config.pull_error_pause).await {
                    return;
                }
            }
            Err(error) => {
                warn!(%queue, %error, "pull failed");
                if !pause(&inner, inner.config.pull_error_pause).await {
                    return;
                }
            }
        }
    }
}

/// Returns once the consumer stops (or its handle is gone).
pub(super) async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the caller's awaits.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Sleeps `duration` unless the consumer stops first; false when it stopped.
async fn pause(inner: &ConsumerInner, duration: std::time::Duration) -> bool {
    let mut stop = inner.stop.clone();
    tokio::select! {
        biased;
        () = wait_stop(&mut stop) => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// A consume task: hands `msgs` to the listener (on one of the bounded slots) until it
/// succeeds, the queue is reassigned, or the consumer stops (`ConsumeRequest.run`).
async fn consume_task(inner: Arc<ConsumerInner>, queue: MessageQueue, generation: u64, msgs: Vec<MessageExt>) {
    // Shared with the listener: a batch answered `Later` is handed over again, not copied.
    let msgs: Arc<[MessageExt]> = msgs.into();
    loop {
        let Ok(permit) = inner.consume_slots.clone().acquire_owned().await else {
            return;
        };
        if inner.stopped() || !inner.is_current(&queue, generation) {
            return;
        }
        let result = inner.listener.consume(Arc::clone(&msgs), &queue).await;
        match result {
            ConsumeResult::Success => {
                // Recorded before the slot is given back: shutdown drains the slots and then
                // commits, so the commit must already include this batch.
                let offsets: Vec<i64> = msgs.iter().map(|m| m.queue_offset).collect();
                inner.consumed(&queue, generation, &offsets);
                drop(permit);
                return;
            }
            // RocketMQ sends the batch to %RETRY%<group>; Petrel retries it locally.
            ConsumeResult::Later => {
                drop(permit);
                if !pause(&inner, inner.config.reconsume_delay).await {
                    return;
                }
            }
        }
    }
}

impl ConsumerInner {
    /// Whether `queue` is still assigned with `generation`.
    fn is_current(&self, queue: &MessageQueue, generation: u64) -> bool {
        self.state().queues.get(queue).is_some_and(|entry| entry.generation == generation)
    }

    fn next_step(&self, queue: &MessageQueue, generation: u64, expression: &str) -> Step {
        if self.stopped() {
            return Step::End;
        }
        let config = &self.config;
        let state = self.state();
        let Some(entry) = state.queues.get(queue).filter(|e| e.generation == generation) else {
            return Step::End;
        };
        let (count_max, bytes_max) = (config.queue_in_flight_count_max, config.queue_in_flight_bytes_max);
        if entry.process.over_limits(count_max, bytes_max) {
            return Step::Pause;
        }
        let mut sys_flag = PULL_SYS_FLAG_SUSPEND | PULL_SYS_FLAG_SUBSCRIPTION;
        let mut commit_offset = 0;
        if config.message_model == MessageModel::Clustering {
            if let Some(offset) = state.offsets.get(queue).filter(|o| *o > 0) {
                sys_flag |= PULL_SYS_FLAG_COMMIT_OFFSET;
                commit_offset = offset;
            }
        }
        Step::Pull(PullArgs {
            offset: entry.next_offset,
            max_nums: config.pull_batch_size,
            sys_flag,
            commit_offset,
            suspend_ms: i64::try_from(config.long_poll_suspend.as_millis()).unwrap_or(i64::MAX),
            subscription: expression.to_owned(),
            timeout: config.pull_timeout,
        })
    }

    /// Takes a pull's answer: moves the queue's next offset and starts consuming what came.
    /// Returns true when the loop should pause before pulling again.
    fn on_pulled(self: &Arc<Self>, queue: &MessageQueue, generation: u64, result: PullResult) -> bool {
        let mut state = self.state();
        let super::consumer::ConsumerState { queues, offsets, .. } = &mut *state;
        let Some(entry) = queues.get_mut(queue).filter(|e| e.generation == generation) else {
            return false;
        };
        if result.next_begin_offset < 0 || result.messages.iter().any(|m| m.queue_offset < 0) {
            warn!(%queue, next = result.next_begin_offset, "the broker answered a negative offset; ignored");
            return true;
        }
        match result.status {
            PullStatus::Found => {
                entry.next_offset = result.next_begin_offset;
                let in_flight: Vec<InFlight> = result
                    .messages
                    .iter()
                    .map(|m| InFlight { queue_offset: m.queue_offset, body_bytes: m.body.len() })
                    .collect();
                entry.process.add(&in_flight);
                if self.config.planted == Some(PlantedBug::CommitBeforeProcess) {
                    offsets.update(queue, result.next_begin_offset, true);
                }
                drop(state);
                self.dispatch(queue, generation, result.messages);
            }
            PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                entry.next_offset = result.next_begin_offset;
                // Nothing in flight: the commit may follow the pull (`correctTagsOffset`).
                if entry.process.count() == 0 {
                    offsets.update(queue, result.next_begin_offset, true);
                }
            }
            PullStatus::OffsetIllegal if entry.process.count() > 0 => {
                // Messages of the old range are still being consumed: jumping now would commit
                // past them (and, after a power loss, reuse their offsets for new messages).
                // Wait until they are done, then ask again.
                return true;
            }
            PullStatus::OffsetIllegal => {
                warn!(%queue, next = result.next_begin_offset, "offset moved by the broker");
                entry.next_offset = result.next_begin_offset;
                entry.process = ProcessQueue::new();
                offsets.update(queue, result.next_begin_offset, false);
            }
        }
        false
    }

    /// Starts consume tasks for `msgs`, `consume_batch_size` messages each.
    fn dispatch(self: &Arc<Self>, queue: &MessageQueue, generation: u64, msgs: Vec<MessageExt>) {
        let size = self.config.consume_batch_size;
        let mut msgs = msgs.into_iter().peekable();
        while msgs.peek().is_some() {
            let batch: Vec<MessageExt> = msgs.by_ref().take(size).collect();
            // Boxed where it is made, so the spawn moves a pointer instead of the state machine.
            tokio::spawn(Box::pin(consume_task(self.clone(), queue.clone(), generation, batch)));
        }
    }

    /// Records consumed messages and moves the offset to commit (never past one in flight).
    fn consumed(&self, queue: &MessageQueue, generation: u64, queue_offsets: &[i64]) {
        let mut state = self.state();
        let super::consumer::ConsumerState { queues, offsets, .. } = &mut *state;
        let Some(entry) = queues.get_mut(queue).filter(|e| e.generation == generation) else {
            return;
        };
        if let Some(offset) = entry.process.remove(queue_offsets) {
            offsets.update(queue, offset, true);
        }
    }
}
