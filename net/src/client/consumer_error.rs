//! `ConsumerError`: why a consumer's request to a name server or broker failed.

use petrel_core::remoting::HeaderError;

use crate::remoting::TransportError;

/// Why a consumer's call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// No name server knows the topic.
    #[error("no route info of topic {topic:?}")]
    NoRoute {
        /// The topic asked for.
        topic: String,
    },
    /// The route names the broker group but no master address for it.
    #[error("no master address for broker {broker}")]
    NoBrokerAddr {
        /// The broker group.
        broker: String,
    },
    /// The broker answered with a code the call does not accept.
    #[error("broker {broker} answered code {code}: {remark:?}")]
    Broker {
        /// The broker group that answered.
        broker: String,
        /// Its response code.
        code: i32,
        /// Its remark.
        remark: Option<String>,
    },
    /// The request failed in the transport (connect, timeout, closed connection).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A response whose header or body does not parse.
    #[error("bad response from {broker}: {reason}")]
    BadResponse {
        /// The broker group that answered.
        broker: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConsumerError {
    /// A `BadResponse` for a header that does not parse.
    pub fn bad_header(broker: &str, error: &HeaderError) -> Self {
        ConsumerError::BadResponse { broker: broker.to_owned(), reason: error.to_string() }
    }
}
