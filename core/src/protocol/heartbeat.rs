//! Client registration with brokers and what brokers answer about consumer groups: the
//! HEART_BEAT body (`HeartbeatData` with its `ProducerData`, `ConsumerData` and
//! `SubscriptionData`), GET_CONSUMER_LIST_BY_GROUP's body, and GET_CONSUME_STATS's body
//! (`ConsumeStats`, `OffsetWrapper`, `MessageQueue`). Field names are Java's (RocketMQ 4.9.x).
//!
//! `SubscriptionData` also carries the tag filter: [`SubscriptionData::build`] parses a
//! subscription expression as RocketMQ's `FilterAPI.build` does, and
//! [`SubscriptionData::matches_tags_code`] is the ConsumeQueue test of
//! `ExpressionMessageFilter.isMatchedByConsumeQueue` for tag subscriptions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::body::{null_as_default, JsonBody};
use crate::message::tags::java_string_hash;

/// The subscription expression that selects every message (`SubscriptionData.SUB_ALL`).
pub const SUB_ALL: &str = "*";

/// `ExpressionType.TAG`: the expression is tags joined by `||`.
pub const EXPRESSION_TYPE_TAG: &str = "TAG";

/// `ExpressionType.SQL92`: the expression is an SQL92 condition over properties.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// How a consumer gets its messages (`ConsumeType.java`); fastjson writes the constant's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumeType {
    /// A pull consumer: the application asks for messages ("PULL").
    ConsumeActively,
    /// A push consumer: the client library pulls and hands messages over ("PUSH").
    ConsumePassively,
    /// RocketMQ 5's server push ("REAL_PUSH"); accepted so a newer client's heartbeat decodes.
    ConsumePush,
}

/// How a group shares a topic's messages (`MessageModel.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageModel {
    /// Every consumer of the group gets every message; offsets are kept by the clients.
    Broadcasting,
    /// The group's consumers divide the queues among themselves; offsets are kept here.
    Clustering,
}

/// Where a consumer group with no committed offset starts (`ConsumeFromWhere.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumeFromWhere {
    /// At the end of each queue (the default).
    ConsumeFromLastOffset,
    /// Deprecated in RocketMQ; kept because old clients still send it.
    ConsumeFromLastOffsetAndFromMinWhenBootFirst,
    /// Deprecated in RocketMQ; kept because old clients still send it.
    ConsumeFromMinOffset,
    /// Deprecated in RocketMQ; kept because old clients still send it.
    ConsumeFromMaxOffset,
    /// At the start of each queue.
    ConsumeFromFirstOffset,
    /// At the first message stored at or after the consumer's `consumeTimestamp`.
    ConsumeFromTimestamp,
}

/// One topic a consumer group subscribes to, and its filter (`SubscriptionData.java`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Filtering by a class uploaded to filter servers (removed in RocketMQ 5); when set, the
    /// broker passes every message.
    pub class_filter_mode: bool,
    /// Topic subscribed to.
    pub topic: String,
    /// The expression as the application wrote it, `*` for everything.
    pub sub_string: String,
    /// The tags of a TAG expression, trimmed.
    #[serde(deserialize_with = "null_as_default")]
    pub tags_set: BTreeSet<String>,
    /// Java hash of each tag: what the ConsumeQueue's tag codes are compared with.
    #[serde(deserialize_with = "null_as_default")]
    pub code_set: BTreeSet<i32>,
    /// When the client built the subscription (ms): a pull carrying a newer version than the
    /// broker's copy is answered SUBSCRIPTION_NOT_LATEST until the next heartbeat.
    pub sub_version: i64,
    /// `TAG` or `SQL92`.
    pub expression_type: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            topic: String::new(),
            sub_string: SUB_ALL.to_owned(),
            tags_set: BTreeSet::new(),
            code_set: BTreeSet::new(),
            sub_version: 0,
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
        }
    }
}

/// Why a subscription expression cannot be used (answered SUBSCRIPTION_PARSE_FAILED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// A TAG expression made only of `||` separators (Java's "subString split error").
    #[error("subscription `{sub_string}` has no tags between its separators")]
    NoTags {
        /// The expression received.
        sub_string: String,
    },
    /// A non-TAG expression without text.
    #[error("{expression_type} subscription without an expression")]
    EmptyExpression {
        /// The expression type received.
        expression_type: String,
    },
}

/// True for the TAG expression type, which is also what an absent or empty type means
/// (`ExpressionType.isTagType`).
pub fn is_tag_type(expression_type: Option<&str>) -> bool {
    matches!(expression_type, None | Some("") | Some(EXPRESSION_TYPE_TAG))
}

impl SubscriptionData {
    /// Parses a pull's subscription (RocketMQ's `FilterAPI.build`): for TAG, `a || b` becomes
    /// tags `{a, b}` and their hash codes; `*`, empty or absent selects everything. Other types
    /// keep the expression text as it is.
    pub fn build(
        topic: &str,
        sub_string: Option<&str>,
        expression_type: Option<&str>,
    ) -> Result<Self, SubscriptionError> {
        let mut data = SubscriptionData { topic: topic.to_owned(), ..SubscriptionData::default() };
        if !is_tag_type(expression_type) {
            let expression_type = expression_type.unwrap_or_default().to_owned();
            let Some(text) = sub_string.filter(|text| !text.is_empty()) else {
                return Err(SubscriptionError::EmptyExpression { expression_type });
            };
            data.sub_string = text.to_owned();
            data.expression_type = expression_type;
            return Ok(data);
        }
        let text = match sub_string {
            None | Some("") | Some(SUB_ALL) => return Ok(data),
            Some(text) => text,
        };
        data.sub_string = text.to_owned();
        // Java's `split("\\|\\|")` drops trailing empty pieces: nothing left is an error.
        if text.split("||").all(str::is_empty) {
            return Err(SubscriptionError::NoTags { sub_string: text.to_owned() });
        }
        for tag in text.split("||").map(str::trim).filter(|t| !t.is_empty()) {
            data.code_set.insert(java_string_hash(tag));
            data.tags_set.insert(tag.to_owned());
        }
        Ok(data)
    }

    /// True when this is a TAG subscription (see [`is_tag_type`]).
    pub fn is_tag_type(&self) -> bool {
        is_tag_type(Some(&self.expression_type))
    }

    /// Whether a message with this ConsumeQueue tag code passes the filter: everything passes
    /// class-filter and `*` subscriptions (and non-TAG ones, which are not filtered here);
    /// otherwise the code, cut to Java's `int`, must be one of the tags' hashes.
    pub fn matches_tags_code(&self, tags_code: i64) -> bool {
        if self.class_filter_mode || !self.is_tag_type() || self.sub_string == SUB_ALL {
            return true;
        }
        // Java compares `tagsCode.intValue()`: the low 32 bits.
        self.code_set.contains(&(tags_code as i32))
    }
}

/// A producer group a client sends for (`ProducerData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    /// The producer group's name.
    pub group_name: String,
}

/// A consumer group a client consumes for (`ConsumerData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    /// The consumer group's name.
    pub group_name: String,
    /// Pull or push consumer; fastjson leaves a null one out.
    pub consume_type: Option<ConsumeType>,
    /// Clustering or broadcasting.
    pub message_model: Option<MessageModel>,
    /// Where the group starts when it has no offset.
    pub consume_from_where: Option<ConsumeFromWhere>,
    /// One entry per subscribed topic.
    #[serde(deserialize_with = "null_as_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit (multi-unit deployment) mode.
    pub unit_mode: bool,
}

/// The body of HEART_BEAT (`HeartbeatData.java`): who the client is and which groups it is in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeartbeatData {
    /// The client's id (`ip@instanceName`); Java spells the key `clientID`.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Producer groups the client sends for.
    #[serde(rename = "producerDataSet", deserialize_with = "null_as_default")]
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups the client consumes for.
    #[serde(rename = "consumerDataSet", deserialize_with = "null_as_default")]
    pub consumer_data_set: Vec<ConsumerData>,
}

impl JsonBody for HeartbeatData {
    const JAVA_NAME: &'static str = "HeartbeatData";
}

/// The body of a GET_CONSUMER_LIST_BY_GROUP response (`GetConsumerListByGroupResponseBody`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListByGroupResponseBody {
    /// Client ids of the group's live consumers, sorted.
    #[serde(deserialize_with = "null_as_default")]
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for ConsumerListByGroupResponseBody {
    const JAVA_NAME: &'static str = "GetConsumerListByGroupResponseBody";
}

/// One queue of one topic on one broker (`MessageQueue.java`): the key of consume stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageQueue {
    /// Topic of the queue.
    pub topic: String,
    /// Broker group holding the queue.
    pub broker_name: String,
    /// Queue id within the topic on that broker.
    pub queue_id: i32,
}

/// A queue's progress for one consumer group (`OffsetWrapper.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffsetWrapper {
    /// The queue's max offset: where the next message will go.
    pub broker_offset: i64,
    /// The group's committed offset (0 when it never committed).
    pub consumer_offset: i64,
    /// Store time of the last consumed message (the one before `consumer_offset`), 0 if none.
    pub last_timestamp: i64,
}

/// The body of a GET_CONSUME_STATS response (`ConsumeStats.java`).
///
/// Java keys `offsetTable` by `MessageQueue` objects, and fastjson writes such a key as a JSON
/// object (`{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}`), which is not JSON and which
/// serde cannot produce; [`ConsumeStats::to_fastjson`] writes that form by hand, because it is
/// what Java admin tools parse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    /// Progress per queue.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// Messages per second the group pulls; Petrel keeps no rate statistics yet, so 0.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// The body text as fastjson writes it: fields in alphabetical order, object keys.
    pub fn to_fastjson(&self) -> String {
        let mut out = String::from("{\"consumeTps\":");
        // `{:?}` keeps the `.0` of a whole number, as Java's `Double.toString` does.
        let _ = write!(out, "{:?}", self.consume_tps);
        out.push_str(",\"offsetTable\":{");
        for (index, (queue, offsets)) in self.offset_table.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let broker_name = json_string(&queue.broker_name);
            let topic = json_string(&queue.topic);
            let _ = write!(
                out,
                "{{\"brokerName\":{broker_name},\"queueId\":{},\"topic\":{topic}}}:\
                 {{\"brokerOffset\":{},\"consumerOffset\":{},\"lastTimestamp\":{}}}",
                queue.queue_id, offsets.broker_offset, offsets.consumer_offset, offsets.last_timestamp
            );
        }
        out.push_str("}}");
        out
    }

    /// The body bytes of a GET_CONSUME_STATS response.
    pub fn encode_body(&self) -> Bytes {
        Bytes::from(self.to_fastjson())
    }
}

/// `text` as a quoted, escaped JSON string.
fn json_string(text: &str) -> String {
    // A `&str` always serializes.
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BodyError;

    /// A heartbeat as a Java push consumer sends it decodes into the typed body, with unknown
    /// fields ignored and the enums read by their Java names.
    #[test]
    fn decodes_java_heartbeat() {
        let json = r#"{"clientID":"10.0.0.5@123","consumerDataSet":[{"consumeFromWhere":
            "CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G",
            "messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,
            "codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":17,
            "tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],
            "producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"extra":1}"#;
        let heartbeat = HeartbeatData::from_json(json).expect("a Java heartbeat decodes");
        let subscription = SubscriptionData {
            topic: "T".into(),
            sub_string: "TagA".into(),
            tags_set: BTreeSet::from(["TagA".to_owned()]),
            code_set: BTreeSet::from([2_598_919]),
            sub_version: 17,
            ..SubscriptionData::default()
        };
        let expected = HeartbeatData {
            client_id: "10.0.0.5@123".into(),
            producer_data_set: vec![ProducerData { group_name: "CLIENT_INNER_PRODUCER".into() }],
            consumer_data_set: vec![ConsumerData {
                group_name: "G".into(),
                consume_type: Some(ConsumeType::ConsumePassively),
                message_model: Some(MessageModel::Clustering),
                consume_from_where: Some(ConsumeFromWhere::ConsumeFromFirstOffset),
                subscription_data_set: vec![subscription],
                unit_mode: false,
            }],
        };
        assert_eq!(heartbeat, expected);
        assert_eq!(HeartbeatData::decode_json(&expected.encode_json()), Ok(expected));
    }

    /// An unknown enum name is a typed body error, not a panic.
    #[test]
    fn rejects_unknown_consume_type() {
        let json = r#"{"clientID":"c","consumerDataSet":[{"groupName":"G","consumeType":"X"}]}"#;
        assert!(matches!(HeartbeatData::from_json(json), Err(BodyError::InvalidJson { body: "HeartbeatData", .. })));
    }

    /// Tag expressions parse as Java's FilterAPI: trimmed tags, their hashes, `*` for all,
    /// and an expression of separators only is an error.
    #[test]
    fn builds_tag_subscriptions() {
        let built = SubscriptionData::build("T", Some(" TagA || TagB ||"), None).expect("tags");
        assert_eq!(built.tags_set, BTreeSet::from(["TagA".to_owned(), "TagB".to_owned()]));
        assert_eq!(built.code_set, BTreeSet::from([java_string_hash("TagA"), java_string_hash("TagB")]));
        assert_eq!(built.sub_string, " TagA || TagB ||");
        for all in [None, Some(""), Some("*")] {
            let built = SubscriptionData::build("T", all, Some("TAG")).expect("all");
            assert_eq!(built.sub_string, "*");
            assert!(built.code_set.is_empty());
        }
        assert_eq!(
            SubscriptionData::build("T", Some("||||"), None),
            Err(SubscriptionError::NoTags { sub_string: "||||".into() })
        );
        assert_eq!(
            SubscriptionData::build("T", None, Some("SQL92")),
            Err(SubscriptionError::EmptyExpression { expression_type: "SQL92".into() })
        );
    }

    /// The ConsumeQueue filter passes listed tags' codes (low 32 bits), everything for `*`,
    /// and nothing else; untagged messages (code 0) fail a tag subscription.
    #[test]
    fn matches_tag_codes() {
        let tags = SubscriptionData::build("T", Some("TagA||TagB"), None).expect("tags");
        let code_a = i64::from(java_string_hash("TagA"));
        assert!(tags.matches_tags_code(code_a));
        assert!(tags.matches_tags_code(code_a + (1 << 32)));
        assert!(!tags.matches_tags_code(i64::from(java_string_hash("TagC"))));
        assert!(!tags.matches_tags_code(0));
        let all = SubscriptionData::build("T", Some("*"), None).expect("all");
        assert!(all.matches_tags_code(0) && all.matches_tags_code(code_a));
    }

    /// Consume stats come out in fastjson's shape: sorted fields, queue objects as keys.
    #[test]
    fn consume_stats_written_as_fastjson() {
        let queue = |queue_id| MessageQueue { topic: "T".into(), broker_name: "broker-a".into(), queue_id };
        let wrapper = |broker_offset, consumer_offset, last_timestamp| OffsetWrapper {
            broker_offset,
            consumer_offset,
            last_timestamp,
        };
        let stats = ConsumeStats {
            offset_table: BTreeMap::from([(queue(1), wrapper(5, 0, 0)), (queue(0), wrapper(9, 4, 77))]),
            consume_tps: 0.0,
        };
        assert_eq!(
            stats.to_fastjson(),
            concat!(
                r#"{"consumeTps":0.0,"offsetTable":{"#,
                r#"{"brokerName":"broker-a","queueId":0,"topic":"T"}:"#,
                r#"{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":77},"#,
                r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}:"#,
                r#"{"brokerOffset":5,"consumerOffset":0,"lastTimestamp":0}}}"#
            )
        );
    }

    /// The consumer list body uses Java's field name.
    #[test]
    fn consumer_list_body_uses_java_name() {
        let body = ConsumerListByGroupResponseBody { consumer_id_list: vec!["a@1".into(), "b@2".into()] };
        assert_eq!(body.to_json(), r#"{"consumerIdList":["a@1","b@2"]}"#);
    }
}
