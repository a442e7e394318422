//! Reading a GET_CONSUME_STATS body. Brokers write `ConsumeStats.offsetTable` the way fastjson
//! writes a map keyed by objects: `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:
//! {"brokerOffset":5,"consumerOffset":3,"lastTimestamp":0}}}`. That is not JSON, so the table
//! is cut into its key and value objects here (string-aware brace matching) and each object,
//! which is JSON, is decoded on its own.

use petrel_core::protocol::heartbeat::{MessageQueue, OffsetWrapper};
use petrel_core::protocol::JsonBody;
use serde::{Deserialize, Serialize};

/// Most queues read from one body: far more than any broker serves for one group.
pub const CONSUME_STATS_QUEUES_MAX: usize = 65_536;

/// The key of one `offsetTable` entry (`MessageQueue.java`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct QueueKey {
    /// Topic of the queue.
    topic: String,
    /// Broker group holding it.
    broker_name: String,
    /// Queue id.
    queue_id: i32,
}

impl JsonBody for QueueKey {
    const JAVA_NAME: &'static str = "MessageQueue";
}

/// The value of one `offsetTable` entry (`OffsetWrapper.java`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct QueueOffsets {
    /// The queue's max offset.
    broker_offset: i64,
    /// The group's committed offset.
    consumer_offset: i64,
    /// Store time of the last consumed message.
    last_timestamp: i64,
}

impl JsonBody for QueueOffsets {
    const JAVA_NAME: &'static str = "OffsetWrapper";
}

/// The `offsetTable` of a GET_CONSUME_STATS body, in body order; the reason when it does not
/// read.
pub fn parse_offset_table(body: &[u8]) -> Result<Vec<(MessageQueue, OffsetWrapper)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let bytes = text.as_bytes();
    let Some(found) = text.find("\"offsetTable\":") else {
        // Java leaves the field out of an empty table only when it is null: no queues.
        return Ok(Vec::new());
    };
    let mut at = skip_space(bytes, found + "\"offsetTable\":".len());
    if bytes.get(at) != Some(&b'{') {
        return Err(format!("offsetTable is not an object at byte {at}"));
    }
    at = skip_space(bytes, at + 1);
    let mut table = Vec::new();
    while bytes.get(at) != Some(&b'}') {
        if table.len() == CONSUME_STATS_QUEUES_MAX {
            return Err(format!("more than {CONSUME_STATS_QUEUES_MAX} queues"));
        }
        let key_end = object_end(bytes, at).ok_or(format!("bad key at byte {at}"))?;
        let key = QueueKey::from_json(&text[at..key_end]).map_err(|e| e.to_string())?;
        at = skip_space(bytes, key_end);
        if bytes.get(at) != Some(&b':') {
            return Err(format!("expected ':' at byte {at}"));
        }
        at = skip_space(bytes, at + 1);
        let value_end = object_end(bytes, at).ok_or(format!("bad value at byte {at}"))?;
        let value = QueueOffsets::from_json(&text[at..value_end]).map_err(|e| e.to_string())?;
        table.push((queue_of(key), offsets_of(&value)));
        at = skip_space(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at = skip_space(bytes, at + 1),
            Some(b'}') => {}
            _ => return Err(format!("expected ',' or '}}' at byte {at}")),
        }
    }
    Ok(table)
}

fn queue_of(key: QueueKey) -> MessageQueue {
    MessageQueue { topic: key.topic, broker_name: key.broker_name, queue_id: key.queue_id }
}

fn offsets_of(value: &QueueOffsets) -> OffsetWrapper {
    OffsetWrapper {
        broker_offset: value.broker_offset,
        consumer_offset: value.consumer_offset,
        last_timestamp: value.last_timestamp,
    }
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// One past the `}` that closes the object opening at `start`; `None` when `start` is not
/// `{` or the object never closes. Braces inside strings are skipped.
fn object_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for (index, &byte) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use petrel_core::protocol::heartbeat::ConsumeStats;

    use super::*;

    /// What a broker writes reads back entry by entry, braces inside names included.
    #[test]
    fn reads_what_the_broker_writes() {
        let mut stats = ConsumeStats::default();
        for (topic, queue_id) in [("T", 0), ("T", 1), ("We{ird}\"", 3)] {
            let queue = MessageQueue { topic: topic.to_owned(), broker_name: "broker-a".to_owned(), queue_id };
            let offsets = OffsetWrapper {
                broker_offset: 10 + i64::from(queue_id),
                consumer_offset: i64::from(queue_id),
                last_timestamp: 7,
            };
            stats.offset_table.insert(queue, offsets);
        }
        let table = parse_offset_table(&stats.encode_body()).expect("reads");
        let expected: Vec<_> = stats.offset_table.into_iter().collect();
        assert_eq!(table, expected);
        let empty = ConsumeStats::default().encode_body();
        assert_eq!(parse_offset_table(&empty), Ok(Vec::new()));
    }

    /// A cut body is an error, not a panic.
    #[test]
    fn rejects_truncated_bodies() {
        let body = br#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0"#;
        assert!(parse_offset_table(body).is_err());
        let body = br#"{"offsetTable":{{"brokerName":"b"}:}}"#;
        assert!(parse_offset_table(body).is_err());
    }
}
