//! Hand-built histories and configurations for the checkers' tests.

use std::collections::BTreeSet;

use super::{check_all, CheckConfig, CheckResult, GroupModel};
use crate::history::{AckStatus, CrashKind, History, MsgId, Op, Processing, QueueRef, Role};

/// The message `p{producer}-{seq}`.
pub(super) fn id(producer: u32, seq: u64) -> MsgId {
    MsgId { producer, seq }
}

/// Queue `queue_id` of topic `t` on broker `broker`.
pub(super) fn queue(broker: &str, queue_id: i32) -> QueueRef {
    QueueRef { topic: "t".into(), broker: broker.into(), queue_id }
}

/// A configuration with these groups (name, model, members) and power-loss windows, no
/// sequential producer, a 1 s liveness window and a 100 ms settle time.
pub(super) fn config(groups: &[(&str, GroupModel, &[&str])], windows: &[(&str, Option<u64>)]) -> CheckConfig {
    CheckConfig {
        groups: groups
            .iter()
            .map(|(name, model, members)| (name.to_string(), (*model, members.iter().map(|m| m.to_string()).collect())))
            .collect(),
        power_loss_window_ms: windows.iter().map(|(broker, window)| (broker.to_string(), *window)).collect(),
        sequential_producers: BTreeSet::new(),
        liveness_window_ms: 1_000,
        liveness_settle_ms: 100,
    }
}

/// One clustering group `g1` with members `g1-c0` and `g1-c1`, and these windows.
pub(super) fn clustering(windows: &[(&str, Option<u64>)]) -> CheckConfig {
    config(&[("g1", GroupModel::Clustering, &["g1-c0", "g1-c1"])], windows)
}

/// The verdict of checker `name` over `history`.
pub(super) fn verdict_of(name: &str, history: &History, config: &CheckConfig) -> CheckResult {
    let verdicts = check_all(history, config);
    verdicts.into_iter().find(|v| v.checker == name).unwrap_or_else(|| panic!("no checker {name}"))
}

/// A history under construction, with shorthands for the common events.
#[derive(Debug, Default)]
pub(super) struct Run {
    /// The events so far.
    pub(super) history: History,
}

impl Run {
    /// An empty history.
    pub(super) fn new() -> Run {
        Run::default()
    }

    /// Appends any event.
    pub(super) fn push(&mut self, at_ms: u64, op: Op) -> &mut Run {
        self.history.push(at_ms, op);
        self
    }

    /// A `SendInvoke` of `id`.
    pub(super) fn invoke(&mut self, at_ms: u64, id: MsgId) -> &mut Run {
        self.push(at_ms, Op::SendInvoke { id, key: None })
    }

    /// A `SendOk` of `id` with `status` at `broker`'s queue `queue_id`, `offset`.
    pub(super) fn ack(
        &mut self,
        at_ms: u64,
        id: MsgId,
        broker: &str,
        queue_id: i32,
        offset: i64,
        status: AckStatus,
    ) -> &mut Run {
        let queue = queue(broker, queue_id);
        let (store_host, commit_log_offset) = (None, None);
        self.push(at_ms, Op::SendOk { id, queue, offset, status, latency_us: 1_000, store_host, commit_log_offset })
    }

    /// A `SendInvoke` then a `SEND_OK` acknowledgement of `id`, both at `at_ms`.
    pub(super) fn send(&mut self, at_ms: u64, id: MsgId, broker: &str, queue_id: i32, offset: i64) -> &mut Run {
        self.invoke(at_ms, id).ack(at_ms, id, broker, queue_id, offset, AckStatus::SendOk)
    }

    /// A `SendFailed` of `id`.
    pub(super) fn failed(&mut self, at_ms: u64, id: MsgId) -> &mut Run {
        self.push(at_ms, Op::SendFailed { id, error: "refused".into() })
    }

    /// A `SendUnknown` of `id`.
    pub(super) fn unknown(&mut self, at_ms: u64, id: MsgId) -> &mut Run {
        self.push(at_ms, Op::SendUnknown { id, error: "timeout".into() })
    }

    /// A delivery of `id` to `consumer` of `group`, answered `Success`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consume(
        &mut self,
        at_ms: u64,
        consumer: &str,
        group: &str,
        id: MsgId,
        broker: &str,
        queue_id: i32,
        offset: i64,
    ) -> &mut Run {
        self.deliver(at_ms, consumer, group, Some(id), (broker, queue_id, offset), Processing::Success)
    }

    /// A delivery of `id` to `consumer` of `group`, answered `Later`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn later(
        &mut self,
        at_ms: u64,
        consumer: &str,
        group: &str,
        id: MsgId,
        broker: &str,
        queue_id: i32,
        offset: i64,
    ) -> &mut Run {
        self.deliver(at_ms, consumer, group, Some(id), (broker, queue_id, offset), Processing::Later)
    }

    /// A delivery of any body from `(broker, queue_id, offset)`, handed to the listener when
    /// it answered.
    pub(super) fn deliver(
        &mut self,
        at_ms: u64,
        consumer: &str,
        group: &str,
        id: Option<MsgId>,
        position: (&str, i32, i64),
        result: Processing,
    ) -> &mut Run {
        self.deliver_received((at_ms, at_ms), consumer, group, id, position, result)
    }

    /// A delivery of any body from `(broker, queue_id, offset)`, handed to the listener at
    /// `received_ms` and answered at `at_ms`.
    pub(super) fn deliver_received(
        &mut self,
        (at_ms, received_ms): (u64, u64),
        consumer: &str,
        group: &str,
        id: Option<MsgId>,
        (broker, queue_id, offset): (&str, i32, i64),
        result: Processing,
    ) -> &mut Run {
        self.push(
            at_ms,
            Op::Consumed {
                consumer: consumer.into(),
                group: group.into(),
                id,
                queue: queue(broker, queue_id),
                offset,
                store_timestamp: 0,
                reconsume_times: 0,
                received_ms,
                result,
            },
        )
    }

    /// An `OffsetCommitted` by `consumer` of `group`.
    pub(super) fn commit(
        &mut self,
        at_ms: u64,
        consumer: &str,
        group: &str,
        broker: &str,
        queue_id: i32,
        offset: i64,
    ) -> &mut Run {
        self.push(
            at_ms,
            Op::OffsetCommitted {
                consumer: consumer.into(),
                group: group.into(),
                queue: queue(broker, queue_id),
                offset,
            },
        )
    }

    /// Broker `broker` crashes with `kind`.
    pub(super) fn crash(&mut self, at_ms: u64, broker: &str, kind: CrashKind) -> &mut Run {
        self.push(at_ms, Op::NodeCrashed { node: broker.into(), role: Role::Broker, kind })
    }
}
