//! `ProducerError`: why a send did not produce a `SendResult`.

use std::time::Duration;

use petrel_core::client::send::MessageError;
use petrel_core::remoting::HeaderError;

use crate::remoting::TransportError;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    /// No name server knows the topic, and none has a TBW102 route to auto-create it from.
    #[error("no route info of topic {topic:?}")]
    NoRoute {
        /// The topic asked for.
        topic: String,
    },
    /// The broker refused the message (its last answer, after retries where allowed).
    #[error("broker {broker} answered code {code}: {remark:?}")]
    Broker {
        /// The broker group that answered.
        broker: String,
        /// Its response code.
        code: i32,
        /// Its remark.
        remark: Option<String>,
    },
    /// The last attempt failed in the transport (connect, timeout, closed connection). The
    /// message may or may not have been stored.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The send timeout passed before an attempt could start.
    #[error("send timed out after {after:?}")]
    Timeout {
        /// The configured send timeout.
        after: Duration,
    },
    /// The message was refused before sending (topic, body, properties, batch rules).
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] MessageError),
    /// A success answer whose header does not parse.
    #[error("bad send response from {broker}: {source}")]
    BadResponse {
        /// The broker group that answered.
        broker: String,
        /// What is wrong with the header.
        #[source]
        source: HeaderError,
    },
    /// The route names the broker group but no master address for it.
    #[error("no master address for broker {broker}")]
    NoBrokerAddr {
        /// The broker group.
        broker: String,
    },
    /// `send_to_queue` got a queue of another topic.
    #[error("message topic {message_topic:?} is not the queue's topic {queue_topic:?}")]
    TopicMismatch {
        /// The message's topic.
        message_topic: String,
        /// The queue's topic.
        queue_topic: String,
    },
    /// The selector chose no queue.
    #[error("the selector returned no queue")]
    NoQueueSelected,
    /// The producer was shut down (or the task of an async send ended without a result).
    #[error("the producer is shut down")]
    Shutdown,
}

impl ProducerError {
    /// Whether a sync send tries again after this error (`sendDefaultImpl`): transport
    /// failures, a missing broker address, and broker codes in Java's `retryResponseCodes`.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProducerError::Transport(_) | ProducerError::NoBrokerAddr { .. } => true,
            ProducerError::Broker { code, .. } => petrel_core::client::send::is_retryable_broker_code(*code),
            _ => false,
        }
    }
}
