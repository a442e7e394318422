//! The message as a producer sends it (`Message`) and as the broker hands it to the store
//! (`MessageToStore`, RocketMQ's `MessageExtBrokerInner`).

use std::net::SocketAddr;

use bytes::Bytes;

use super::properties::{keys, Properties, KEY_SEPARATOR};
use super::sysflag;
use super::tags;

/// What a producer sends: topic, user flag, properties and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where the message goes; in a SEND request it travels in the header, not the body.
    pub topic: String,
    /// An application-defined integer RocketMQ stores and returns untouched.
    pub flag: i32,
    /// Tags, keys, the producer's unique id and any user properties.
    pub properties: Properties,
    /// The payload, shared without copying between decode, store and send.
    pub body: Bytes,
    /// The local transaction id a transactional producer attaches (never stored in the record).
    pub transaction_id: Option<String>,
}

impl Message {
    /// A message with no flag, properties or transaction id.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self { topic: topic.into(), flag: 0, properties: Properties::new(), body: body.into(), transaction_id: None }
    }

    /// With the TAGS property set.
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.properties.set(keys::TAGS, tags.into());
        self
    }

    /// With the KEYS property set to `keys` joined by spaces.
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for key in keys {
            if !joined.is_empty() {
                joined.push(KEY_SEPARATOR);
            }
            joined.push_str(key.as_ref());
        }
        self.properties.set(keys::KEYS, joined);
        self
    }

    /// With one property set.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.set(key.into(), value.into());
        self
    }

    /// With the user flag set.
    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// The TAGS property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.tags()
    }

    /// The KEYS property split on spaces.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.properties.keys()
    }

    /// The producer's unique id (UNIQ_KEY), if set.
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.uniq_key()
    }
}

/// What the broker hands the store: a message plus everything the record keeps about it except
/// what the store assigns (queue offset, physical offset, store timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageToStore {
    /// Topic the message is stored under (a system topic for delayed/half/retry messages).
    pub topic: String,
    /// Queue within the topic; selects the ConsumeQueue.
    pub queue_id: i32,
    /// The producer's application flag, stored untouched.
    pub flag: i32,
    /// The payload as stored (compressed if `sys_flag` says so).
    pub body: Bytes,
    /// Properties written into the record.
    pub properties: Properties,
    /// SYSFLAG bits. The host-family bits are recomputed from the hosts when encoding, so the
    /// value here need not carry them.
    pub sys_flag: i32,
    /// When the producer created the message (ms since the epoch, producer's clock).
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: SocketAddr,
    /// The address of the broker storing the message; part of the offsetMsgId.
    pub store_host: SocketAddr,
    /// How many times the message has been re-consumed (retry messages).
    pub reconsume_times: i32,
    /// For transaction commit/rollback records: the physical offset of the half message.
    pub prepared_transaction_offset: i64,
}

impl MessageToStore {
    /// A producer's message as the broker stores it: no system flags, not a retry, not part of
    /// a transaction. The caller sets those fields when they apply.
    pub fn from_message(
        message: Message,
        queue_id: i32,
        born_timestamp: i64,
        born_host: SocketAddr,
        store_host: SocketAddr,
    ) -> Self {
        MessageToStore {
            topic: message.topic,
            queue_id,
            flag: message.flag,
            body: message.body,
            properties: message.properties,
            sys_flag: sysflag::TRANSACTION_NOT_TYPE,
            born_timestamp,
            born_host,
            store_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    /// The ConsumeQueue tag code: Java `String.hashCode` of TAGS widened to i64, 0 without tags.
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.properties.tags())
    }

    /// The SYSFLAG the record will carry: `sys_flag` with the host-family bits set from the
    /// actual addresses, so a record can never disagree with its own layout.
    pub fn encoded_sys_flag(&self) -> i32 {
        let mut flag = self.sys_flag & !(sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sysflag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sysflag::STOREHOST_V6;
        }
        flag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builder helpers write the well-known properties the way Java's `Message` does.
    #[test]
    fn builder_sets_well_known_properties() {
        let msg = Message::new("TopicTest", &b"hi"[..])
            .with_tags("TagA")
            .with_keys(["k1", "k2"])
            .with_property("color", "red")
            .with_flag(7);
        assert_eq!(msg.tags(), Some("TagA"));
        assert_eq!(msg.properties.get(keys::KEYS), Some("k1 k2"));
        assert_eq!(msg.keys().collect::<Vec<_>>(), vec!["k1", "k2"]);
        assert_eq!(msg.properties.get("color"), Some("red"));
        assert_eq!(msg.flag, 7);
        assert_eq!(msg.uniq_key(), None);
    }

    /// A producer's message keeps its topic, flag, body and properties when handed to the store.
    #[test]
    fn from_message_carries_the_producer_fields() {
        let msg = Message::new("T", &b"b"[..]).with_tags("A").with_flag(3);
        let host: SocketAddr = "10.0.0.1:1".parse().expect("v4");
        let stored = MessageToStore::from_message(msg.clone(), 2, 99, host, host);
        assert_eq!((stored.topic.as_str(), stored.flag, stored.queue_id), ("T", 3, 2));
        assert_eq!((stored.sys_flag, stored.born_timestamp), (0, 99));
        assert_eq!(stored.tags_code(), i64::from(crate::message::tags::java_string_hash("A")));
        assert_eq!((stored.body, stored.properties), (msg.body, msg.properties));
    }

    /// The host-family bits follow the addresses, whatever the caller put in `sys_flag`.
    #[test]
    fn encoded_sys_flag_follows_host_families() {
        let v4: SocketAddr = "10.0.0.1:1".parse().expect("v4");
        let v6: SocketAddr = "[::1]:2".parse().expect("v6");
        let mut msg = MessageToStore {
            topic: "T".into(),
            queue_id: 0,
            flag: 0,
            body: Bytes::new(),
            properties: Properties::new(),
            sys_flag: sysflag::BORNHOST_V6 | sysflag::COMPRESSED,
            born_timestamp: 0,
            born_host: v4,
            store_host: v6,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        assert_eq!(msg.encoded_sys_flag(), sysflag::STOREHOST_V6 | sysflag::COMPRESSED);
        msg.born_host = v6;
        msg.store_host = v4;
        assert_eq!(msg.encoded_sys_flag(), sysflag::BORNHOST_V6 | sysflag::COMPRESSED);
        assert_eq!(msg.tags_code(), 0);
    }
}
