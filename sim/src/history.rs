//! The history of a cluster run: every client operation, delivery, offset commit and fault,
//! stamped with simulated time. Checkers (`crate::checkers`) judge it; reports
//! (`crate::report`) summarise it.
//!
//! A message's identity in a run is its `MsgId` (producer index, sequence number), written into
//! the message body by the workload, so a consumer knows exactly which send it received. The
//! history is appended to by every simulated node through a shared [`Recorder`]; madsim runs
//! one task at a time, so the order of events is the simulation's order and replays exactly.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Identity of a message in a run: `p{producer}-{seq}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    /// Index of the producer that sent it (0-based, across all producer groups of the scenario).
    pub producer: u32,
    /// Its sequence number within that producer, from 0.
    pub seq: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}-{}", self.producer, self.seq)
    }
}

impl MsgId {
    /// The body prefix that carries the id: `petrel-sim p3-17;`.
    pub fn body_prefix(&self) -> String {
        format!("petrel-sim {self};")
    }

    /// Reads the id back from a body written with `body_prefix`; `None` for any other body.
    pub fn parse_body(body: &[u8]) -> Option<MsgId> {
        let rest = body.strip_prefix(b"petrel-sim p")?;
        let end = rest.iter().position(|b| *b == b';')?;
        let text = std::str::from_utf8(&rest[..end]).ok()?;
        let (producer, seq) = text.split_once('-')?;
        Some(MsgId { producer: producer.parse().ok()?, seq: seq.parse().ok()? })
    }
}

/// A message queue of the scenario's topic on one broker group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueRef {
    /// The topic.
    pub topic: String,
    /// The broker group (broker name).
    pub broker: String,
    /// The queue id.
    pub queue_id: i32,
}

impl fmt::Display for QueueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.topic, self.broker, self.queue_id)
    }
}

/// How the broker acknowledged a stored message (RocketMQ's `SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// SEND_OK: stored, and flushed where the broker's flush mode promises it.
    SendOk,
    /// FLUSH_DISK_TIMEOUT: stored, but a SYNC_FLUSH broker's flush failed or was late, so no
    /// durability was promised.
    FlushDiskTimeout,
    /// Any other stored-but-not-fully-replicated status.
    Other,
}

/// What the listener answered for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Processing {
    /// Consumed: the consumer may commit past it.
    Success,
    /// RECONSUME_LATER: it will be delivered again.
    Later,
}

/// How a node went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashKind {
    /// The process was killed; the machine's page cache survived.
    Kill,
    /// The machine lost power; unsynced pages were lost or torn.
    PowerLoss,
}

/// Which role a node plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A NameServer.
    Namesrv,
    /// A broker (named by its broker name).
    Broker,
    /// A producer client.
    Producer,
    /// A consumer client.
    Consumer,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The run began (recorded first, at time 0).
    RunStarted {
        /// The simulated wall clock at time 0, milliseconds since the Unix epoch: the clock the
        /// brokers stamp store times with, so `store_timestamp - epoch_ms` is a store time in
        /// run milliseconds.
        epoch_ms: i64,
    },
    /// A producer started sending `id` (one call of the client's send, retries included).
    SendInvoke {
        /// The message.
        id: MsgId,
        /// Its KEYS property, when the workload set one.
        key: Option<String>,
    },
    /// The send returned a result: the message is stored at `queue`/`offset`.
    SendOk {
        /// The message.
        id: MsgId,
        /// Where the broker stored it.
        queue: QueueRef,
        /// Its queue offset.
        offset: i64,
        /// The acknowledgement's status.
        status: AckStatus,
        /// Simulated microseconds from invoke to result.
        latency_us: u64,
        /// The storing broker's address, from the answer's offsetMsgId (store host and
        /// CommitLog offset: what a send answer says of the store besides the queue position);
        /// `None` when that id does not parse.
        store_host: Option<String>,
        /// The message's CommitLog (physical) offset on that broker, from the same id.
        commit_log_offset: Option<i64>,
    },
    /// The send failed and the message was certainly not stored (refused before any request
    /// reached a broker, or every attempt was answered with a refusal).
    SendFailed {
        /// The message.
        id: MsgId,
        /// The client's error.
        error: String,
    },
    /// The send failed and the message may or may not have been stored (a timeout or a lost
    /// connection on some attempt).
    SendUnknown {
        /// The message.
        id: MsgId,
        /// The client's error.
        error: String,
    },
    /// A consumer's listener received a message and answered.
    Consumed {
        /// The consumer node's name (e.g. `g1-c0`).
        consumer: String,
        /// Its group.
        group: String,
        /// The message, read from the body; `None` for a body the workload did not write.
        id: Option<MsgId>,
        /// The queue it came from.
        queue: QueueRef,
        /// Its queue offset.
        offset: i64,
        /// The broker's store time of the message (`storeTimestamp`, milliseconds since the
        /// Unix epoch by the broker's clock), as the consumer received it; `RunStarted` places
        /// it on the run's time axis.
        store_timestamp: i64,
        /// RocketMQ's reconsume count carried by the message.
        reconsume_times: i32,
        /// Simulated milliseconds since the run began at which the listener was handed the
        /// message (the event itself is recorded when the listener answered). The simulated
        /// consumers never make a listener call wait for a slot, so this is the instant the
        /// pull that brought the message was answered (for a message consumed again after a
        /// `Later`, the instant of that retry): one pull's messages get it within a millisecond
        /// (madsim advances its clock by 50-100 ns per task poll), and a consumer's successive
        /// pulls of a queue are at least a network round trip (2 ms) apart.
        received_ms: u64,
        /// What the listener answered.
        result: Processing,
    },
    /// A consumer committed (sent to the broker, or stored locally in broadcasting) an offset:
    /// the next offset to consume in `queue` for its group.
    OffsetCommitted {
        /// The consumer node's name.
        consumer: String,
        /// Its group.
        group: String,
        /// The queue.
        queue: QueueRef,
        /// The committed offset.
        offset: i64,
    },
    /// A rebalance changed a consumer's queues; `queues` is its new set for the topic.
    Rebalanced {
        /// The consumer node's name.
        consumer: String,
        /// Its group.
        group: String,
        /// The queues it now owns.
        queues: Vec<QueueRef>,
    },
    /// A node started (first start or restart).
    NodeStarted {
        /// The node's name.
        node: String,
        /// Its role.
        role: Role,
    },
    /// A node's process came up but its role failed to start (e.g. the store did not
    /// recover); the node stays down until it is restarted.
    NodeStartFailed {
        /// The node's name.
        node: String,
        /// Its role.
        role: Role,
        /// The start error.
        error: String,
    },
    /// A node stopped cleanly (graceful shutdown).
    NodeStopped {
        /// The node's name.
        node: String,
        /// Its role.
        role: Role,
    },
    /// A node crashed.
    NodeCrashed {
        /// The node's name.
        node: String,
        /// Its role.
        role: Role,
        /// Kill or power loss.
        kind: CrashKind,
    },
    /// A fault began (a partition, a clog, a pause, disk errors...). Crashes are `NodeCrashed`.
    FaultStarted {
        /// Which fault, as the nemesis names it (e.g. `partition halves`).
        fault: String,
        /// The nodes it affects.
        nodes: Vec<String>,
    },
    /// A fault ended (healed, resumed, cleared).
    FaultEnded {
        /// The same name as at its start.
        fault: String,
        /// The nodes it affected.
        nodes: Vec<String>,
    },
    /// The nemesis stopped and every fault was healed: the liveness phase begins.
    FaultsHealed,
    /// Producers stopped sending; the run waits for consumers to drain.
    ProducersStopped,
    /// The run ended.
    RunEnded,
}

/// One recorded event at simulated time `at_ms` (milliseconds since the run began).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated milliseconds since the run began.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub op: Op,
}

/// The whole history of a run, in the order things happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The events in order.
    pub events: Vec<Event>,
}

impl History {
    /// Appends an event.
    pub fn push(&mut self, at_ms: u64, op: Op) {
        self.events.push(Event { at_ms, op });
    }

    /// One JSON object per line, in order: the trace compared by determinism checks.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            // An `Event` is plain data: serialising it cannot fail.
            out.push_str(&serde_json::to_string(event).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// The first index at which two histories differ, with both events (`None` past an end).
    pub fn first_difference<'a>(&'a self, other: &'a History) -> Option<(usize, Option<&'a Event>, Option<&'a Event>)> {
        let len = self.events.len().max(other.events.len());
        (0..len).find_map(|i| {
            let (a, b) = (self.events.get(i), other.events.get(i));
            (a != b).then_some((i, a, b))
        })
    }
}

/// A shared handle to a history being recorded; cheap to clone into every node.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    history: Arc<Mutex<History>>,
}

impl Recorder {
    /// An empty history.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Records `op` at `at_ms`.
    pub fn record(&self, at_ms: u64, op: Op) {
        self.history.lock().unwrap_or_else(PoisonError::into_inner).push(at_ms, op);
    }

    /// Runs `f` over the history so far, without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&History) -> R) -> R {
        f(&self.history.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> History {
        self.history.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_id_round_trips_through_a_body() {
        let id = MsgId { producer: 3, seq: 17 };
        let mut body = id.body_prefix().into_bytes();
        body.extend_from_slice(&[0xAB; 40]);
        assert_eq!(MsgId::parse_body(&body), Some(id));
        assert_eq!(id.to_string(), "p3-17");
        assert_eq!(MsgId::parse_body(b"petrel-sim p3-;"), None);
        assert_eq!(MsgId::parse_body(b"hello"), None);
        assert_eq!(MsgId::parse_body(b"petrel-sim p1-2"), None, "no terminator");
    }

    #[test]
    fn events_serialise_flat_and_differences_are_found() {
        let mut a = History::default();
        a.push(5, Op::SendInvoke { id: MsgId { producer: 0, seq: 1 }, key: None });
        let line = a.to_json_lines();
        assert_eq!(line, "{\"at_ms\":5,\"op\":\"send_invoke\",\"id\":{\"producer\":0,\"seq\":1},\"key\":null}\n");
        let mut b = a.clone();
        assert_eq!(a.first_difference(&b), None);
        b.push(6, Op::FaultsHealed);
        let (index, first, second) = a.first_difference(&b).expect("differ");
        assert_eq!((index, first, second.map(|e| e.at_ms)), (1, None, Some(6)));
    }

    #[test]
    fn store_facts_serialise_with_their_events() {
        let queue = QueueRef { topic: "t".into(), broker: "b".into(), queue_id: 1 };
        let id = MsgId { producer: 0, seq: 2 };
        let mut history = History::default();
        history.push(0, Op::RunStarted { epoch_ms: 1_000_000 });
        let (store_host, commit_log_offset) = (Some("10.0.2.10:10911".to_owned()), Some(4_096));
        let status = AckStatus::SendOk;
        history.push(
            7,
            Op::SendOk { id, queue: queue.clone(), offset: 3, status, latency_us: 9, store_host, commit_log_offset },
        );
        let (consumer, group) = ("c".to_owned(), "g".to_owned());
        let store_timestamp = 1_000_006;
        let result = Processing::Success;
        let consumed = Op::Consumed {
            consumer,
            group,
            id: Some(id),
            queue,
            offset: 3,
            store_timestamp,
            reconsume_times: 0,
            received_ms: 8,
            result,
        };
        history.push(9, consumed);
        let text = history.to_json_lines();
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with("{\"at_ms\":0,\"op\":\"run_started\",\"epoch_ms\":1000000}\n"), "{text}");
        assert!(text.contains("\"store_host\":\"10.0.2.10:10911\",\"commit_log_offset\":4096}"), "{text}");
        assert!(text.contains("\"store_timestamp\":1000006,\"reconsume_times\":0,\"received_ms\":8,"), "{text}");
        for line in text.lines() {
            let event: Event = serde_json::from_str(line).expect("an event");
            assert!(history.events.contains(&event));
        }
    }
}
