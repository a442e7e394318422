//! `PendingTable`: the requests one side of a connection has sent and still waits for, keyed by
//! opaque, so each response reaches the caller that sent its request however many are in flight.
//!
//! Plain synchronous state (the connection keeps it behind a mutex that is never held across an
//! `.await`). Invariants:
//! - at most `in_flight_max` requests wait at once;
//! - no two waiting requests share an opaque (allocation skips opaques in use, so wrapping
//!   around `i32` after 2^32 requests is harmless);
//! - once `close` ran, every waiter has been told why and no new one is accepted, so no caller
//!   waits for a response that cannot come.

use std::collections::BTreeMap;

use petrel_core::remoting::RemotingCommand;
use tokio::sync::oneshot;

use super::error::CloseReason;

/// What a waiting caller eventually receives: the response, or why the connection ended first.
pub(crate) type ResponseResult = Result<RemotingCommand, CloseReason>;

/// One request waiting for its response.
#[derive(Debug)]
struct Waiter {
    /// Identifies this registration, so a caller that gives up removes its own entry and never a
    /// later request that happens to reuse the opaque.
    ticket: u64,
    /// Where the response (or the close reason) goes.
    reply: oneshot::Sender<ResponseResult>,
}

/// A request slot handed to a caller by `register`.
#[derive(Debug)]
pub(crate) struct Registration {
    /// The opaque to send the request with.
    pub opaque: i32,
    /// The ticket to pass to `forget` when the caller gives up.
    pub ticket: u64,
    /// Resolves with the response or the close reason.
    pub reply: oneshot::Receiver<ResponseResult>,
}

/// Why a request could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// The connection has ended.
    Closed(CloseReason),
    /// `in_flight_max` requests already wait.
    Full,
}

/// The requests one side of a connection waits for.
#[derive(Debug)]
pub(crate) struct PendingTable {
    /// Waiting requests by opaque: a response's opaque finds its caller.
    waiting: BTreeMap<i32, Waiter>,
    /// The next opaque to hand out (requests and one-way requests share the sequence, as in
    /// RocketMQ); wraps around.
    next_opaque: i32,
    /// The next ticket; a u64 that never wraps in practice.
    next_ticket: u64,
    /// Size bound of `waiting` (`ConnectionConfig::outbound_in_flight_max`).
    in_flight_max: usize,
    /// Set once the connection has ended; from then on nothing registers.
    closed: Option<CloseReason>,
}

impl PendingTable {
    /// An empty table that lets `in_flight_max` requests wait at once.
    pub fn new(in_flight_max: usize) -> Self {
        assert!(in_flight_max > 0);
        PendingTable { waiting: BTreeMap::new(), next_opaque: 0, next_ticket: 0, in_flight_max, closed: None }
    }

    /// Registers a request that expects a response.
    pub fn register(&mut self) -> Result<Registration, RegisterError> {
        if let Some(reason) = &self.closed {
            return Err(RegisterError::Closed(reason.clone()));
        }
        if self.waiting.len() >= self.in_flight_max {
            return Err(RegisterError::Full);
        }
        let opaque = self.allocate_opaque();
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let (reply_tx, reply_rx) = oneshot::channel();
        let previous = self.waiting.insert(opaque, Waiter { ticket, reply: reply_tx });
        assert!(previous.is_none(), "opaque {opaque} allocated twice");
        Ok(Registration { opaque, ticket, reply: reply_rx })
    }

    /// An opaque for a one-way request, which waits for nothing and so takes no slot.
    pub fn oneway_opaque(&mut self) -> Result<i32, CloseReason> {
        match &self.closed {
            Some(reason) => Err(reason.clone()),
            None => Ok(self.allocate_opaque()),
        }
    }

    /// The next opaque that no waiting request uses. Among `waiting.len() + 1` consecutive
    /// values at least one is free, which bounds the loop.
    fn allocate_opaque(&mut self) -> i32 {
        for _ in 0..=self.waiting.len() {
            let opaque = self.next_opaque;
            self.next_opaque = opaque.wrapping_add(1);
            if !self.waiting.contains_key(&opaque) {
                return opaque;
            }
        }
        unreachable!("{} waiting requests cannot use more opaques", self.waiting.len())
    }

    /// Hands `response` to the request with its opaque. Gives the response back when nobody
    /// waits for it (the caller timed out, or the peer sent a response nobody asked for).
    pub fn complete(&mut self, response: RemotingCommand) -> Result<(), RemotingCommand> {
        let Some(waiter) = self.waiting.remove(&response.opaque) else {
            return Err(response);
        };
        match waiter.reply.send(Ok(response)) {
            Ok(()) => Ok(()),
            // The caller is gone (its future was dropped and `forget` has not run yet).
            Err(Ok(response)) => Err(response),
            Err(Err(_)) => unreachable!("only Ok was sent"),
        }
    }

    /// Removes the registration with this opaque and ticket, if it still waits: its caller gave
    /// up (timeout, send failure, dropped future).
    pub fn forget(&mut self, opaque: i32, ticket: u64) {
        if self.waiting.get(&opaque).is_some_and(|w| w.ticket == ticket) {
            self.waiting.remove(&opaque);
        }
    }

    /// Ends the table: every waiting caller receives `reason`, and later registrations fail with
    /// it. Only the first reason is kept.
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
        }
        let reason = self.closed.clone().unwrap_or(CloseReason::ClosedLocally);
        for (_, waiter) in std::mem::take(&mut self.waiting) {
            // A caller that already gave up does not need the reason.
            let _ = waiter.reply.send(Err(reason.clone()));
        }
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }

    /// Requests waiting now.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use petrel_core::remoting::{ResponseCode, SerializeType};

    use super::*;

    fn response(opaque: i32) -> RemotingCommand {
        RemotingCommand::response(ResponseCode::Success, None)
            .with_opaque(opaque)
            .with_serialize_type(SerializeType::Json)
    }

    /// Each response reaches the registration with its opaque, in whatever order they arrive.
    #[test]
    fn responses_match_by_opaque_in_any_order() {
        let mut table = PendingTable::new(8);
        let mut first = table.register().expect("room");
        let mut second = table.register().expect("room");
        assert_eq!((first.opaque, second.opaque), (0, 1));
        assert_eq!(table.complete(response(1)), Ok(()));
        assert_eq!(table.complete(response(0)), Ok(()));
        assert_eq!(second.reply.try_recv().map(|r| r.map(|c| c.opaque)), Ok(Ok(1)));
        assert_eq!(first.reply.try_recv().map(|r| r.map(|c| c.opaque)), Ok(Ok(0)));
        assert_eq!(table.len(), 0);
        assert_eq!(table.complete(response(0)), Err(response(0)), "nobody waits any more");
    }

    /// The table holds at most `in_flight_max` waiting requests; a freed slot is usable again.
    #[test]
    fn bound_is_enforced() {
        let mut table = PendingTable::new(2);
        let first = table.register().expect("room");
        let _second = table.register().expect("room");
        assert_eq!(table.register().map(|r| r.opaque), Err(RegisterError::Full));
        table.forget(first.opaque, first.ticket);
        assert!(table.register().is_ok());
    }

    /// Opaques wrap around i32 and skip values still waiting.
    #[test]
    fn opaques_wrap_and_skip_values_in_use() {
        let mut table = PendingTable::new(4);
        table.next_opaque = i32::MAX;
        let at_max = table.register().expect("room");
        assert_eq!(at_max.opaque, i32::MAX);
        assert_eq!(table.oneway_opaque(), Ok(i32::MIN));
        table.next_opaque = i32::MAX;
        assert_eq!(table.register().map(|r| r.opaque), Ok(i32::MIN), "skips MAX, in use");
    }

    /// `forget` with a stale ticket leaves a newer registration with the same opaque alone.
    #[test]
    fn forget_needs_the_matching_ticket() {
        let mut table = PendingTable::new(4);
        let old = table.register().expect("room");
        table.forget(old.opaque, old.ticket);
        table.next_opaque = old.opaque;
        let new = table.register().expect("room");
        assert_eq!(new.opaque, old.opaque);
        table.forget(old.opaque, old.ticket);
        assert_eq!(table.len(), 1);
    }

    /// Closing tells every waiter the first reason and refuses later registrations.
    #[test]
    fn close_fails_waiters_and_later_registrations() {
        let mut table = PendingTable::new(4);
        let mut waiting = table.register().expect("room");
        table.close(CloseReason::PeerClosed);
        table.close(CloseReason::ClosedLocally);
        assert_eq!(waiting.reply.try_recv(), Ok(Err(CloseReason::PeerClosed)));
        assert_eq!(table.register().map(|r| r.opaque), Err(RegisterError::Closed(CloseReason::PeerClosed)));
        assert_eq!(table.oneway_opaque(), Err(CloseReason::PeerClosed));
        assert_eq!(table.close_reason(), Some(&CloseReason::PeerClosed));
    }
}
