//! `PullConsumer`: the application chooses the queue and the offset of every pull, and commits
//! offsets itself (`DefaultMQPullConsumer`, simplified). No rebalance, no heartbeats.

use std::time::Duration;

use petrel_core::broker::pull::PULL_SYS_FLAG_SUBSCRIPTION;
use petrel_core::client::MessageQueue;

use super::consumer_api::{subscribe_queues, ConsumerApi, PullArgs, PullResult};
use super::consumer_config::PullConsumerConfig;
use super::consumer_error::ConsumerError;
use crate::remoting::RemotingClient;

/// A pull consumer. Every call is independent; the struct only caches routes and connections.
#[derive(Debug)]
pub struct PullConsumer {
    /// Settings.
    config: PullConsumerConfig,
    /// Routes and broker calls.
    api: ConsumerApi,
}

impl PullConsumer {
    /// A pull consumer (no task is started).
    pub fn new(config: PullConsumerConfig) -> PullConsumer {
        assert!(!config.namesrv_addrs.is_empty(), "a consumer needs a name server");
        let remoting = RemotingClient::new(config.remoting.clone(), None);
        let api = ConsumerApi::new(remoting, config.namesrv_addrs.clone(), config.call_timeout);
        PullConsumer { config, api }
    }

    /// The readable queues of `topic` (fetching its route again).
    pub async fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ConsumerError> {
        let route = self.api.refresh_route(topic).await?;
        Ok(subscribe_queues(topic, &route))
    }

    /// Pulls up to `max_nums` messages of `queue` from `offset`, every tag, without holding
    /// at the broker; `timeout` bounds the call.
    pub async fn pull(
        &self,
        queue: &MessageQueue,
        offset: i64,
        max_nums: i32,
        timeout: Duration,
    ) -> Result<PullResult, ConsumerError> {
        assert!(max_nums > 0, "a pull asks for at least one message");
        self.api.route(&queue.topic).await?;
        let args = PullArgs {
            offset,
            max_nums,
            sys_flag: PULL_SYS_FLAG_SUBSCRIPTION,
            commit_offset: 0,
            suspend_ms: 0,
            subscription: "*".to_owned(),
            timeout,
        };
        self.api.pull(&self.config.group, queue, &args).await
    }

    /// Commits `offset` (the next offset to consume) of `queue` for the group, waiting for
    /// the broker's answer.
    pub async fn commit(&self, queue: &MessageQueue, offset: i64) -> Result<(), ConsumerError> {
        self.api.route(&queue.topic).await?;
        self.api.update_offset(&self.config.group, queue, offset, false).await
    }

    /// The group's committed offset of `queue`, `None` when there is none.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, ConsumerError> {
        self.api.route(&queue.topic).await?;
        self.api.query_offset(&self.config.group, queue).await
    }

    /// Closes every connection.
    pub async fn shutdown(self) {
        self.api.remoting.close_all().await;
    }
}
