//! One framed connection's driver, the same on the server and the client side: either end may
//! send requests and answer the other's.
//!
//! `open` returns a `Channel` (`channel.rs`, the handle callers use) and the driver future (the
//! caller spawns it). The driver runs two loops until either ends or the channel is closed:
//! - the reader fills a buffer from the socket and decodes frames from it. A response goes to the
//!   caller waiting for its opaque (`PendingTable`); a request goes to the handler in a task of
//!   its own, at most `inbound_in_flight_max` at once (one more is answered `SYSTEM_BUSY`); a
//!   frame that does not decode, or whose length prefix passes `frame_size_max_bytes`, ends the
//!   connection. The reader never waits for anything but the socket, so a peer that stops
//!   reading cannot stall the responses this side receives.
//! - the writer (`writer.rs`) takes encoded frames from a queue of at most
//!   `write_queue_frames_max` and hands each batch's prefixes and body parts to the socket as
//!   they are, by vectored writes (no body is copied into a frame buffer), flushing after every
//!   batch of at most `WRITE_BATCH_FRAMES_MAX` frames: nothing written waits for later traffic,
//!   and madsim's TCP sends on flush.
//!
//! Both loops run in the one driver task over halves from `tokio::io::split` (madsim's
//! `TcpStream` has neither `split` nor `into_split`); the socket closes when the driver returns.
//!
//! When the driver ends, every request still waiting fails at once with the close reason (not
//! by timeout), later calls on the channel fail with it, the socket is dropped (closed) and the
//! handler hears `on_connection_closed`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use petrel_core::remoting::{decode_frame, FrameError, RemotingCommand, ResponseCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tracing::{debug, info, warn};

use super::channel::{Channel, ConnectionId, DriverEnds, OutboundFrame, Shared};
use super::config::ConnectionConfig;
use super::error::{CloseReason, TransportError};
use super::writer::write_loop;
use super::{RequestContext, RequestHandler};

/// Bytes the reader's buffer is grown by when it runs short of room.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Room the reader wants free before a read; with less, it grows the buffer by
/// `READ_CHUNK_BYTES`. Frames are split off the front of the buffer and may live on (a pulled
/// body is read from them), so the buffer is usually shared: growing it means a new
/// allocation. Reading into the room left behind the frames instead serves many small frames
/// from one allocation.
pub const READ_ROOM_MIN_BYTES: usize = 8 * 1024;

/// Wraps `stream` as a connection to `peer`. Returns the channel and the driver, which the caller
/// must spawn; the driver resolves with the reason the connection ended.
pub(crate) fn open<S>(
    stream: S,
    id: ConnectionId,
    peer: SocketAddr,
    handler: Arc<dyn RequestHandler>,
    config: &ConnectionConfig,
) -> (Channel, impl Future<Output = CloseReason> + Send + 'static)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    config.assert_valid();
    let (shared, ends) = Shared::new(id, peer, config);
    let channel = Channel::new(shared.clone());
    let driver = Driver { shared, handler, frame_size_max_bytes: config.frame_size_max_bytes };
    (channel, driver.run(stream, ends))
}

/// What the driver of one connection needs besides the stream and its queues.
struct Driver {
    /// The connection's shared state.
    shared: Arc<Shared>,
    /// Answers the peer's requests.
    handler: Arc<dyn RequestHandler>,
    /// Largest frame accepted from the peer (`ConnectionConfig::frame_size_max_bytes`).
    frame_size_max_bytes: usize,
}

impl Driver {
    /// Runs the reader and the writer until either ends or the channel is closed, then closes.
    async fn run<S>(self, stream: S, ends: DriverEnds) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let DriverEnds { mut outbound, mut closing } = ends;
        let (reader, writer) = tokio::io::split(stream);
        let reason = tokio::select! {
            biased;
            () = closed_locally(&mut closing) => CloseReason::ClosedLocally,
            reason = self.read_loop(reader) => reason,
            reason = write_loop(writer, &mut outbound) => reason,
        };
        // The queue stays open until the reason is recorded, so a sender that finds it closed
        // also finds the reason.
        self.shared.finish(reason.clone());
        drop(outbound);
        let (id, peer) = (self.shared.id, self.shared.peer);
        match &reason {
            CloseReason::PeerClosed | CloseReason::ClosedLocally => {
                debug!(%id, %peer, %reason, "connection closed");
            }
            CloseReason::MalformedFrame(_) => warn!(%id, %peer, %reason, "connection closed"),
            _ => info!(%id, %peer, %reason, "connection closed"),
        }
        self.handler.on_connection_closed(id, peer);
        reason
    }

    /// Reads and dispatches frames until the peer closes, a read fails or a frame is bad.
    async fn read_loop<R: AsyncRead + Unpin>(&self, mut reader: R) -> CloseReason {
        let mut buffer = BytesMut::with_capacity(READ_CHUNK_BYTES);
        loop {
            if let Err(error) = self.dispatch_frames(&mut buffer) {
                return CloseReason::MalformedFrame(error);
            }
            if buffer.capacity() - buffer.len() < READ_ROOM_MIN_BYTES {
                buffer.reserve(READ_CHUNK_BYTES);
            }
            match reader.read_buf(&mut buffer).await {
                Ok(0) => return CloseReason::PeerClosed,
                Ok(_) => {}
                Err(error) => return CloseReason::read_failed(&error),
            }
        }
    }

    /// Dispatches every whole frame at the front of `buffer`; leaves a partial one there.
    fn dispatch_frames(&self, buffer: &mut BytesMut) -> Result<(), FrameError> {
        loop {
            check_frame_size(buffer, self.frame_size_max_bytes)?;
            match decode_frame(buffer)? {
                Some(command) => self.dispatch(command),
                None => return Ok(()),
            }
        }
    }

    fn dispatch(&self, command: RemotingCommand) {
        if command.is_response() {
            if let Err(orphan) = self.shared.pending().complete(command) {
                debug!(id = %self.shared.id, opaque = orphan.opaque,
                    "response nobody waits for (timed out or never asked), dropped");
            }
            return;
        }
        match self.shared.inbound_permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let channel = Channel::new(self.shared.clone());
                // Boxed where it is made: the task is then moved through the spawn as a pointer
                // rather than copied, once per layer, as a whole state machine.
                tokio::spawn(Box::pin(serve_request(channel, self.handler.clone(), command, permit)));
            }
            Err(_) => self.reject_busy(&command),
        }
    }

    /// Answers a request over the inbound bound with SYSTEM_BUSY, as RocketMQ does when its
    /// executor rejects one. Never waits: with the write queue full the answer is dropped and
    /// the peer's request times out.
    fn reject_busy(&self, request: &RemotingCommand) {
        let id = self.shared.id;
        if request.is_oneway() {
            warn!(%id, code = request.code, "one-way request over the in-flight bound, dropped");
            return;
        }
        let remark =
            format!("[OVERLOAD] {} requests already in flight on this connection", self.shared.inbound_in_flight_max);
        let busy = RemotingCommand::response_to(request, ResponseCode::SystemBusy, Some(remark));
        let queued = OutboundFrame::encode(busy).ok().is_some_and(|frame| self.shared.outbound.try_send(frame).is_ok());
        if !queued {
            warn!(%id, opaque = request.opaque, "write queue full, SYSTEM_BUSY answer dropped");
        }
    }
}

/// Resolves once the channel asks the connection to close.
async fn closed_locally(closing: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which cannot happen while the driver holds `Shared`;
    // treat it as a close all the same.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Rejects a frame whose length prefix passes `frame_size_max_bytes` as soon as the prefix is
/// in, before buffering it (the codec applies the protocol's 16 MiB itself).
fn check_frame_size(buffer: &[u8], frame_size_max_bytes: usize) -> Result<(), FrameError> {
    let Some(prefix) = buffer.first_chunk::<4>() else {
        return Ok(());
    };
    let frame_len_bytes = i64::from(i32::from_be_bytes(*prefix)) + 4;
    if frame_len_bytes > frame_size_max_bytes as i64 {
        return Err(FrameError::FrameTooLarge { frame_len_bytes });
    }
    Ok(())
}

/// Runs the handler for one request from the peer and sends its answer, holding one inbound
/// permit throughout.
async fn serve_request(
    channel: Channel,
    handler: Arc<dyn RequestHandler>,
    request: RemotingCommand,
    _permit: OwnedSemaphorePermit,
) {
    let (opaque, code, oneway) = (request.opaque, request.code, request.is_oneway());
    let serialize_type = request.serialize_type;
    let ctx = RequestContext { connection: channel.id(), peer: channel.peer(), channel: channel.clone() };
    let Some(mut response) = handler.handle(ctx, request).await else {
        return;
    };
    if oneway {
        debug!(id = %channel.id(), code, "answer to a one-way request, dropped");
        return;
    }
    response.opaque = opaque;
    response.serialize_type = serialize_type;
    let sent = match channel.send_response(response).await {
        Err(TransportError::Encode { source, .. }) => {
            warn!(id = %channel.id(), code, %source, "response cannot be encoded");
            let remark = format!("response cannot be encoded: {source}");
            let error = RemotingCommand::response(ResponseCode::SystemError, Some(remark))
                .with_opaque(opaque)
                .with_serialize_type(serialize_type);
            channel.send_response(error).await
        }
        other => other,
    };
    if let Err(error) = sent {
        debug!(id = %channel.id(), code, %error, "response not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size check waits for the 4-byte prefix and rejects one over the limit, counting the
    /// length field itself.
    #[test]
    fn frame_size_check_counts_the_length_field() {
        assert_eq!(check_frame_size(&[0, 0, 1], 10), Ok(()));
        assert_eq!(check_frame_size(&6i32.to_be_bytes(), 10), Ok(()));
        assert_eq!(check_frame_size(&7i32.to_be_bytes(), 10), Err(FrameError::FrameTooLarge { frame_len_bytes: 11 }));
        assert_eq!(check_frame_size(&(-5i32).to_be_bytes(), 10), Ok(()), "codec's job");
    }
}
