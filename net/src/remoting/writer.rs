//! A connection's writer: takes encoded frames from the connection's queue and writes them to
//! the socket without copying them.
//!
//! A batch is the first queued frame and whatever else is queued already, at most
//! `WRITE_BATCH_FRAMES_MAX` frames. Its bytes stay where the frames hold them (each prefix, and
//! each body part: for a pull response, every stored record as a slice of the mmap'd CommitLog)
//! and go to the socket by vectored writes of up to `WRITE_SLICES_MAX` slices each, so many
//! small frames cost one system call and no body is copied in user space. A socket without
//! vectored writes gets the chunks one by one. The writer flushes after every batch: nothing
//! written waits for later traffic, and madsim's TCP sends on flush.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::channel::OutboundFrame;
use super::error::CloseReason;

/// Frames the writer writes before it flushes, so one busy connection cannot delay the flush of
/// the frames it already wrote for long.
pub const WRITE_BATCH_FRAMES_MAX: usize = 64;
/// Slices one vectored write hands the socket at most (Linux accepts up to 1024, `IOV_MAX`).
pub const WRITE_SLICES_MAX: usize = 256;

const _: () = assert!(WRITE_SLICES_MAX <= 1024);

/// Writes queued frames until a write fails (or the queue's senders are all gone).
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    queue: &mut mpsc::Receiver<OutboundFrame>,
) -> CloseReason {
    let mut chunks = WriteChunks::default();
    loop {
        let Some(first) = queue.recv().await else {
            return CloseReason::ClosedLocally;
        };
        if let Err(error) = write_batch(&mut writer, &mut chunks, first, queue).await {
            return CloseReason::write_failed(&error);
        }
    }
}

/// Writes `first` and whatever else is queued (up to `WRITE_BATCH_FRAMES_MAX` frames), then
/// flushes. `chunks` is empty before and after.
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunks: &mut WriteChunks,
    first: OutboundFrame,
    queue: &mut mpsc::Receiver<OutboundFrame>,
) -> io::Result<()> {
    assert!(!chunks.has_remaining());
    chunks.push_frame(&first);
    for _ in 1..WRITE_BATCH_FRAMES_MAX {
        let Ok(next) = queue.try_recv() else {
            break;
        };
        chunks.push_frame(&next);
    }
    write_all_chunks(writer, chunks).await?;
    writer.flush().await
}

/// Writes every chunk in order: vectored, `WRITE_SLICES_MAX` slices at a time, when the writer
/// supports it, else one chunk per write. An interrupted write is tried again; a write of zero
/// bytes is an error (`WriteZero`).
async fn write_all_chunks<W: AsyncWrite + Unpin>(writer: &mut W, chunks: &mut WriteChunks) -> io::Result<()> {
    while chunks.has_remaining() {
        let written = if writer.is_write_vectored() {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES_MAX];
            let count = chunks.chunks_vectored(&mut slices);
            writer.write_vectored(&slices[..count]).await
        } else {
            writer.write(chunks.chunk()).await
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => chunks.advance(written),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The bytes of a batch of frames as the frames hold them, in wire order, referenced (a
/// `Bytes` clone shares the memory) rather than copied into a buffer.
#[derive(Debug, Default)]
struct WriteChunks {
    /// What is left to write; no chunk is empty. The front one may be partly written already
    /// (`Bytes::advance` moved its start).
    chunks: VecDeque<Bytes>,
    /// Bytes left in `chunks`, all together.
    remaining_bytes: usize,
}

impl WriteChunks {
    /// Appends a frame's prefix and body parts.
    fn push_frame(&mut self, frame: &OutboundFrame) {
        for chunk in frame.chunks() {
            self.push(chunk.clone());
        }
    }

    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.remaining_bytes += chunk.len();
        self.chunks.push_back(chunk);
    }
}

impl Buf for WriteChunks {
    fn remaining(&self) -> usize {
        self.remaining_bytes
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[][..], |chunk| &chunk[..])
    }

    fn chunks_vectored<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for (slice, chunk) in slices.iter_mut().zip(&self.chunks) {
            *slice = IoSlice::new(chunk);
            count += 1;
        }
        count
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining_bytes, "advance by {cnt} past the {} bytes left", self.remaining_bytes);
        self.remaining_bytes -= cnt;
        while cnt > 0 {
            let Some(front) = self.chunks.front_mut() else {
                unreachable!("remaining_bytes counts the chunks");
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use petrel_core::remoting::{Body, RemotingCommand, ResponseCode};

    use super::*;

    /// A socket that takes at most `accept_max_bytes` per write and records what it got.
    struct TrickleSocket {
        /// Every byte written, in order.
        written: Vec<u8>,
        /// Most bytes one write accepts.
        accept_max_bytes: usize,
        /// Whether it takes vectored writes.
        vectored: bool,
        /// Slices handed to each vectored write.
        slices_per_write: Vec<usize>,
        /// Flushes asked for.
        flushes: usize,
    }

    impl TrickleSocket {
        fn new(accept_max_bytes: usize, vectored: bool) -> Self {
            TrickleSocket { written: Vec::new(), accept_max_bytes, vectored, slices_per_write: Vec::new(), flushes: 0 }
        }
    }

    impl AsyncWrite for TrickleSocket {
        fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let taken = buf.len().min(self.accept_max_bytes);
            self.written.extend_from_slice(&buf[..taken]);
            Poll::Ready(Ok(taken))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            slices: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.slices_per_write.push(slices.len());
            let mut taken = 0;
            for slice in slices {
                let take = slice.len().min(self.accept_max_bytes - taken);
                self.written.extend_from_slice(&slice[..take]);
                taken += take;
            }
            Poll::Ready(Ok(taken))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A response with `part_count` body parts of growing sizes (one empty), and its frame
    /// encoded in one piece.
    fn multi_part_frame(part_count: usize) -> (OutboundFrame, Vec<u8>) {
        let parts: Vec<Bytes> = (0..part_count).map(|n| Bytes::from(vec![n as u8; n * 7])).collect();
        let command =
            RemotingCommand::response(ResponseCode::Success, None).with_opaque(4).with_body(Body::from_parts(parts));
        let mut whole = bytes::BytesMut::new();
        petrel_core::remoting::encode_frame(&command, &mut whole).expect("encodes");
        (OutboundFrame::encode(command).expect("encodes"), whole.to_vec())
    }

    /// Chunks advance across their boundaries, partly into one, and hand out slices in order.
    #[test]
    fn chunks_advance_across_boundaries() {
        let mut chunks = WriteChunks::default();
        for chunk in [&b"abc"[..], b"", b"de", b"fgh"] {
            chunks.push(Bytes::copy_from_slice(chunk));
        }
        assert_eq!((chunks.remaining(), chunks.chunks.len()), (8, 3));
        chunks.advance(4);
        assert_eq!((chunks.remaining(), chunks.chunk()), (4, &b"e"[..]));
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(chunks.chunks_vectored(&mut slices), 2);
        assert_eq!((&slices[0][..], &slices[1][..]), (&b"e"[..], &b"fgh"[..]));
        chunks.advance(4);
        assert!(!chunks.has_remaining() && chunks.chunks.is_empty());
    }

    /// A frame with more body parts than one vectored write takes, to a socket that takes only
    /// some bytes per write, arrives byte for byte as the frame encoded in one piece; the body
    /// parts went to the socket as they are, never more than `WRITE_SLICES_MAX` per write.
    #[tokio::test]
    async fn multi_part_frame_is_written_whole_by_partial_vectored_writes() {
        for (accept_max_bytes, vectored) in [(usize::MAX, true), (1_000, true), (13, true), (100, false)] {
            let (frame, whole) = multi_part_frame(WRITE_SLICES_MAX + 40);
            let mut socket = TrickleSocket::new(accept_max_bytes, vectored);
            let mut chunks = WriteChunks::default();
            let (_sender, mut queue) = mpsc::channel(1);
            write_batch(&mut socket, &mut chunks, frame, &mut queue).await.expect("written");
            assert!(socket.written == whole, "bytes differ ({accept_max_bytes}, vectored {vectored})");
            assert!(!chunks.has_remaining());
            assert_eq!(socket.flushes, 1);
            assert!(socket.slices_per_write.iter().all(|&n| n <= WRITE_SLICES_MAX));
            if vectored && accept_max_bytes == usize::MAX {
                assert_eq!(socket.slices_per_write.len(), 2, "all parts in two vectored writes");
            }
        }
    }

    /// Frames already queued go out in one batch, in order, with one flush.
    #[tokio::test]
    async fn queued_frames_share_one_batch_and_flush() {
        let (sender, mut queue) = mpsc::channel(8);
        let mut expected = Vec::new();
        for part_count in [2, 0, 5] {
            let (frame, whole) = multi_part_frame(part_count);
            expected.extend_from_slice(&whole);
            sender.try_send(frame).expect("room");
        }
        let mut socket = TrickleSocket::new(usize::MAX, true);
        let first = queue.try_recv().expect("queued");
        write_batch(&mut socket, &mut WriteChunks::default(), first, &mut queue).await.expect("written");
        assert!(socket.written == expected);
        assert_eq!((socket.flushes, socket.slices_per_write.len()), (1, 1));
    }

    /// A socket that takes nothing is a WriteZero error, not a busy loop.
    #[tokio::test]
    async fn a_socket_that_takes_nothing_fails() {
        let (frame, _) = multi_part_frame(3);
        let mut socket = TrickleSocket::new(0, true);
        let (_sender, mut queue) = mpsc::channel(1);
        let result = write_batch(&mut socket, &mut WriteChunks::default(), frame, &mut queue).await;
        assert_eq!(result.map_err(|error| error.kind()), Err(io::ErrorKind::WriteZero));
    }
}
