//! The message model and RocketMQ's stored message record format.
//!
//! - [`model`]: [`Message`] (what a producer sends) and [`MessageToStore`] (what the broker hands
//!   the store, RocketMQ's `MessageExtBrokerInner`).
//! - [`properties`]: [`Properties`], the `key\x01value\x02` property string, and well-known keys.
//! - [`sysflag`]: SYSFLAG bits (compression, transaction type, IPv6 hosts).
//! - [`record`]: the CommitLog record layout V1 (also the pull response body): encoding, the
//!   checking parser used by recovery and dispatch, and [`MessageExt`] decoding.
//! - [`compress`]: zlib body compression (COMPRESSED sysflag), as RocketMQ's clients do.
//! - [`batch`]: the SEND_BATCH_MESSAGE body format.
//! - [`id`]: offsetMsgId and the producer's UNIQ_KEY ids.
//! - [`tags`]: Java `String.hashCode` tag codes for the ConsumeQueue.
//!
//! Nothing here reads a clock or draws randomness; nothing decoding bytes can panic.

pub mod batch;
pub mod compress;
mod error;
pub mod id;
pub mod model;
pub mod properties;
pub mod record;
pub mod sysflag;
pub mod tags;
mod wire;

pub use error::{RecordError, RecordField};
pub use model::{Message, MessageToStore};
pub use properties::Properties;
pub use record::MessageExt;
