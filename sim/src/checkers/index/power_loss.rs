//! Which power losses excuse losing an acknowledged message (see the `checkers` module docs,
//! "Power-loss excuses"): per broker of the history's queues, its power losses and ASYNC_FLUSH
//! window, and how far consumers had got in its queues before each loss.

use super::{Ack, Delivery, Index, Stamp};
use crate::checkers::tables::number;
use crate::history::AckStatus;

/// What the power-loss excuses need to know of one broker that stores a queue of the history.
#[derive(Debug)]
pub(super) struct Broker {
    /// Its ASYNC_FLUSH window (`CheckConfig::power_loss_window_ms`), if it has one.
    window_ms: Option<u64>,
    /// Its power losses, in history order.
    losses: Vec<Stamp>,
    /// For a windowed broker, per power loss: how far consumers had got in each queue (by
    /// rank; `None` for another broker's queue or one nobody reached) before it: the highest
    /// delivered offset + 1 or committed offset. A message stored below that mark after the
    /// power loss sits at a reused offset the consumers had already passed, so they skip it:
    /// the loss of ASYNC_FLUSH's unsynced tail shows up as later messages being passed over,
    /// and is excused like the tail itself.
    reuse_marks: Vec<(Stamp, Vec<Option<i64>>)>,
}

impl<'a> Index<'a> {
    /// Numbers the queues' brokers and gathers their windows, power losses and reuse marks.
    pub(super) fn note_brokers(&mut self) {
        let mut names: Vec<&'a str> = Vec::new();
        let mut queue_brokers = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            let broker: &'a str = queue.broker.as_str();
            let at = match names.iter().position(|name| *name == broker) {
                Some(at) => at,
                None => {
                    names.push(broker);
                    names.len() - 1
                }
            };
            queue_brokers.push(number(at));
        }
        self.queue_brokers = queue_brokers;
        let brokers = (0u32..)
            .zip(&names)
            .map(|(broker, name)| {
                let window_ms = self.config.power_loss_window_ms.get(*name).copied().flatten();
                let losses = self.power_losses.get(*name).cloned().unwrap_or_default();
                let reuse_marks = match window_ms {
                    Some(_) => losses.iter().map(|loss| (*loss, self.reached_before(broker, name, *loss))).collect(),
                    None => Vec::new(),
                };
                Broker { window_ms, losses, reuse_marks }
            })
            .collect();
        self.brokers = brokers;
    }

    /// How far consumers had got in each queue of broker `broker` (named `name`) before its
    /// power loss `loss` (see `Broker::reuse_marks`).
    fn reached_before(&self, broker: u32, name: &str, loss: Stamp) -> Vec<Option<i64>> {
        let mut reached: Vec<Option<i64>> = vec![None; self.queues.len()];
        // A delivery counts, whenever it came, if it is of a message stored before the loss
        // (consumers pull ahead of what they have consumed), or if the broker served it before
        // it came back (a pull answered just before the loss and delivered after it, of a
        // message whose acknowledgement was also in flight); a commit counts if it came before
        // the loss.
        let stored_before = |d: &Delivery| {
            d.message.is_some_and(|message| {
                self.acks_of(message)
                    .any(|(_, ack)| ack.queue == d.queue && ack.offset == d.offset && ack.stamp.index < loss.index)
            })
        };
        let restart = self.starts.get(name).and_then(|starts| starts.iter().find(|s| s.index > loss.index));
        let served_before_restart =
            |d: &Delivery| restart.is_none_or(|restart| d.stamp.index < restart.index || d.received_ms < restart.at_ms);
        let of_broker = |queue: u32| self.queue_brokers[queue as usize] == broker;
        let deliveries = self
            .deliveries
            .iter()
            .filter(|d| of_broker(d.queue) && (served_before_restart(d) || stored_before(d)))
            .map(|d| (d.queue, d.offset.saturating_add(1)));
        let commits = self
            .commits
            .iter()
            .filter(|c| of_broker(c.queue) && c.stamp.index < loss.index)
            .map(|c| (c.queue, c.offset));
        for (queue, position) in deliveries.chain(commits) {
            let mark = reached[queue as usize].get_or_insert(position);
            *mark = (*mark).max(position);
        }
        reached
    }

    /// The earliest power loss that excuses losing this acknowledged message, if any.
    pub(super) fn ack_excused_by(&self, ack: &Ack) -> Option<Stamp> {
        let sent_ms = self.sent_ms(ack.message, ack.stamp.at_ms);
        self.excusing_power_loss_sent(ack.queue, ack.status, ack.stamp, sent_ms).or_else(|| {
            let broker = &self.brokers[self.queue_brokers[ack.queue as usize] as usize];
            // The power loss before `ack` whose reused offsets the consumers had already
            // passed at `ack`'s position (see `Broker::reuse_marks`).
            broker
                .reuse_marks
                .iter()
                .filter(|(loss, _)| loss.index < ack.stamp.index)
                .find(|(_, reached)| reached[ack.queue as usize].is_some_and(|mark| ack.offset < mark))
                .map(|(loss, _)| *loss)
        })
    }

    /// The earliest power loss that excuses losing a message stored in queue `queue` (rank)
    /// and acknowledged with `status` at `at` (see the module docs of `checkers`), for a
    /// message whose send began at `sent_ms`: a power loss after the send began and before
    /// its acknowledgement arrived also excuses it (the broker stored and answered it, and
    /// lost it while the answer was on its way).
    pub(in crate::checkers) fn excusing_power_loss_sent(
        &self,
        queue: u32,
        status: AckStatus,
        at: Stamp,
        sent_ms: u64,
    ) -> Option<Stamp> {
        let broker = &self.brokers[self.queue_brokers[queue as usize] as usize];
        excusing_power_loss(&broker.losses, broker.window_ms, status, at, sent_ms)
    }
}

/// The earliest of a broker's power losses `losses` (in history order) that excuses losing
/// a message acknowledged with `status` at `at` and sent at `sent_ms`, given the broker's
/// ASYNC_FLUSH window `window_ms`.
fn excusing_power_loss(
    losses: &[Stamp],
    window_ms: Option<u64>,
    status: AckStatus,
    at: Stamp,
    sent_ms: u64,
) -> Option<Stamp> {
    let sent_ms = sent_ms.min(at.at_ms);
    losses.iter().copied().find(|loss| {
        let in_window = window_ms.is_some_and(|w| loss.at_ms >= sent_ms && loss.at_ms < at.at_ms.saturating_add(w));
        let after_weak_ack = status != AckStatus::SendOk && loss.index > at.index;
        in_window || after_weak_ack
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::fixture::{clustering, id, verdict_of, Run};
    use super::super::Promise;
    use super::*;
    use crate::history::{CrashKind, MsgId, Op, Role};

    /// The stamp of the last event of `run`.
    fn last(run: &Run) -> Stamp {
        let index = run.history.events.len() - 1;
        Stamp { index, at_ms: run.history.events[index].at_ms }
    }

    /// The earliest power loss that excuses losing a message stored on `broker` and
    /// acknowledged with `status` at `at` (sent then too), if any.
    fn excusing(ix: &Index<'_>, broker: &str, status: AckStatus, at: Stamp) -> Option<Stamp> {
        let losses = ix.power_losses.get(broker).map_or(&[][..], Vec::as_slice);
        let window_ms = ix.config.power_loss_window_ms.get(broker).copied().flatten();
        excusing_power_loss(losses, window_ms, status, at, at.at_ms)
    }

    /// `Index::promise` of `id` (`None` for an id the history does not name).
    fn promise(ix: &Index<'_>, id: MsgId) -> Option<Promise> {
        ix.messages.number(id).and_then(|message| ix.promise(message))
    }

    #[test]
    fn the_window_is_open_before_and_closed_at_the_power_loss() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        let loss = Some(last(&run));
        let at = |at_ms| Stamp { index: 0, at_ms };
        assert_eq!(excusing(&ix, "b1", AckStatus::SendOk, at(900)), None, "t - w is outside");
        assert_eq!(excusing(&ix, "b1", AckStatus::SendOk, at(901)), loss);
        assert_eq!(excusing(&ix, "b1", AckStatus::SendOk, at(1_000)), loss, "t itself is inside");
        assert_eq!(excusing(&ix, "b1", AckStatus::SendOk, at(1_001)), None, "after the loss");
        assert_eq!(excusing(&ix, "b2", AckStatus::SendOk, at(950)), None, "another broker");
    }

    #[test]
    fn sync_brokers_kills_and_unknown_brokers_excuse_nothing() {
        let cfg = clustering(&[("sync", None), ("async", Some(100))]);
        let mut run = Run::new();
        run.crash(1_000, "sync", CrashKind::PowerLoss);
        run.crash(1_000, "async", CrashKind::Kill);
        run.crash(1_000, "absent", CrashKind::PowerLoss);
        run.push(1_000, Op::NodeCrashed { node: "async".into(), role: Role::Consumer, kind: CrashKind::PowerLoss });
        let ix = Index::build(&run.history, &cfg);
        let at = Stamp { index: 0, at_ms: 990 };
        for broker in ["sync", "async", "absent"] {
            assert_eq!(excusing(&ix, broker, AckStatus::SendOk, at), None, "{broker}");
        }
    }

    #[test]
    fn weak_acks_are_excused_by_any_later_power_loss_of_their_broker() {
        let cfg = clustering(&[("sync", None)]);
        let mut run = Run::new();
        run.crash(10, "sync", CrashKind::PowerLoss);
        run.send(20, id(0, 0), "sync", 0, 0);
        run.crash(5_000, "sync", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        let ack = Stamp { index: 2, at_ms: 20 };
        assert_eq!(excusing(&ix, "sync", AckStatus::SendOk, ack), None);
        let later_loss = Some(Stamp { index: 3, at_ms: 5_000 });
        assert_eq!(excusing(&ix, "sync", AckStatus::FlushDiskTimeout, ack), later_loss);
        assert_eq!(excusing(&ix, "sync", AckStatus::Other, ack), later_loss);
    }

    #[test]
    fn messages_at_offsets_consumers_had_passed_before_a_power_loss_are_excused() {
        let cfg = clustering(&[("async", Some(100)), ("sync", None)]);
        let mut run = Run::new();
        // Offsets 0..=5 consumed on both brokers; the unsynced tail 3..=5 is lost at 10 s.
        for offset in 0..6 {
            run.send(10 * offset as u64, id(0, offset as u64), "async", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(0, offset as u64), "async", 0, offset);
            run.send(10 * offset as u64, id(1, offset as u64), "sync", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(1, offset as u64), "sync", 0, offset);
        }
        run.crash(10_000, "async", CrashKind::PowerLoss);
        run.crash(10_000, "sync", CrashKind::PowerLoss);
        // After the restart offsets 3, 4, 5 and 6 are handed out again; the consumer, at 6, passes
        // over 3..=5 but reads 6.
        for (seq, offset) in [(10, 3), (11, 4), (12, 5), (13, 6)] {
            run.send(20_000 + seq, id(0, seq), "async", 0, offset);
            run.send(20_000 + seq, id(1, seq), "sync", 0, offset);
        }
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(promise(&ix, id(0, 10)), Some(Promise::Excused)), "offset 3 was passed before the loss");
        assert!(matches!(promise(&ix, id(0, 12)), Some(Promise::Excused)), "offset 5 was passed before the loss");
        assert!(matches!(promise(&ix, id(0, 13)), Some(Promise::Kept(_))), "offset 6 was never reached");
        assert!(matches!(promise(&ix, id(1, 10)), Some(Promise::Kept(_))), "a SYNC_FLUSH broker reuses nothing");
        let lost = verdict_of("lost", &run.history, &cfg);
        assert!(!lost.pass);
        let lost_ids: Vec<MsgId> = lost.violations.iter().flat_map(|v| v.ids.clone()).collect();
        assert_eq!(lost_ids, [id(0, 13), id(1, 10), id(1, 11), id(1, 12), id(1, 13)]);
    }

    #[test]
    fn a_delivery_served_before_the_restart_marks_the_offsets_passed() {
        // Offsets 0..=2 consumed; offset 3's acknowledgement and its pull answer were both in
        // flight when the broker lost power at 1 s, so both arrive after the loss.
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        for offset in 0..3 {
            run.send(10 * offset as u64, id(0, offset as u64), "b1", 0, offset);
            run.consume(10 * offset as u64 + 1, "g1-c0", "g1", id(0, offset as u64), "b1", 0, offset);
        }
        run.invoke(990, id(0, 3));
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.ack(1_001, id(0, 3), "b1", 0, 3, AckStatus::SendOk);
        run.consume(1_001, "g1-c0", "g1", id(0, 3), "b1", 0, 3);
        run.push(5_000, Op::NodeStarted { node: "b1".into(), role: Role::Broker });
        // The restarted broker hands out offsets 2, 3 and 4 again; the consumer, at 4, passes
        // over 2 and 3. A delivery of offset 4 after the restart marks nothing.
        for (seq, offset) in [(10, 2), (11, 3), (12, 4)] {
            run.send(6_000 + seq, id(0, seq), "b1", 0, offset);
        }
        run.consume(6_100, "g1-c0", "g1", id(0, 12), "b1", 0, 4);
        run.send(6_200, id(0, 13), "b1", 0, 5);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(promise(&ix, id(0, 10)), Some(Promise::Excused)), "offset 2 was passed before the loss");
        assert!(matches!(promise(&ix, id(0, 11)), Some(Promise::Excused)), "offset 3 was served before the restart");
        assert!(matches!(promise(&ix, id(0, 13)), Some(Promise::Kept(_))), "offset 5 was never reached before");
    }

    #[test]
    fn an_acknowledgement_in_flight_at_the_power_loss_is_inside_the_window() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.invoke(990, id(0, 0));
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        run.ack(1_003, id(0, 0), "b1", 0, 0, AckStatus::SendOk);
        run.invoke(1_001, id(0, 1));
        run.ack(1_004, id(0, 1), "b1", 0, 0, AckStatus::SendOk);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(promise(&ix, id(0, 0)), Some(Promise::Excused)), "sent before the loss, answered after it");
        assert!(matches!(promise(&ix, id(0, 1)), Some(Promise::Kept(_))), "sent after the loss");
    }

    #[test]
    fn promise_is_kept_when_any_ack_is_not_excused() {
        let cfg = clustering(&[("b1", Some(100))]);
        let mut run = Run::new();
        run.send(950, id(0, 0), "b1", 0, 0);
        run.send(950, id(0, 1), "b1", 0, 1);
        run.ack(960, id(0, 1), "b2", 0, 0, AckStatus::SendOk);
        run.crash(1_000, "b1", CrashKind::PowerLoss);
        let ix = Index::build(&run.history, &cfg);
        assert!(matches!(promise(&ix, id(0, 0)), Some(Promise::Excused)));
        assert!(matches!(promise(&ix, id(0, 1)), Some(Promise::Kept(ack)) if ix.queue(ack.queue).broker == "b2"));
        assert!(promise(&ix, id(0, 2)).is_none());
    }
}
