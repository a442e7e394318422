//! Big-endian field readers and writers shared by the record and batch codecs.
//!
//! `Reader` never indexes out of bounds and never overflows: every read checks what is left
//! and reports `Short` with the position the read would have needed, so callers can turn it into
//! the error that fits (a torn buffer or a record whose lengths do not add up).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::RecordError;

/// A read that would run past the end of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    /// How many bytes from the reader's start the read needed (saturating).
    pub needed: usize,
}

/// A forward-only cursor over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    /// The bytes being read; reads never look past its end.
    buf: &'a [u8],
    /// Bytes consumed so far; always <= `buf.len()`.
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(len).ok_or(Short { needed: usize::MAX })?;
        let slice = self.buf.get(self.pos..end).ok_or(Short { needed: end })?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.array::<1>()?[0])
    }

    pub fn i16(&mut self) -> Result<i16, Short> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, Short> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A host as RocketMQ writes it: 4 (or 16 if `v6`) address bytes, then the port as an i32.
    /// Returns `Ok(Err(..))` for a port outside 0..=65535, which is corruption, not shortness.
    pub fn host(&mut self, v6: bool) -> Result<Result<SocketAddr, RecordError>, Short> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))
        };
        let port = self.i32()?;
        Ok(u16::try_from(port).map(|port| SocketAddr::new(ip, port)).map_err(|_| RecordError::BadPort { port }))
    }
}

/// Appends a host as RocketMQ writes it: address octets (4 or 16), then the port as an i32.
/// Only the address and port are kept; an IPv6 flow label and scope id are not part of the format.
pub(crate) fn put_host(out: &mut Vec<u8>, host: SocketAddr) {
    match host.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(host.port()).to_be_bytes());
}

/// RocketMQ's body checksum (`UtilAll.crc32`): CRC-32 (IEEE) masked to a non-negative i32.
pub fn body_crc(body: &[u8]) -> i32 {
    let masked = crc32fast::hash(body) & 0x7FFF_FFFF;
    i32::try_from(masked).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads that would pass the end report how far they needed and consume nothing.
    #[test]
    fn reader_reports_short_reads_without_panicking() {
        let mut r = Reader::new(&[0, 0, 0, 7, 1]);
        assert_eq!(r.i32(), Ok(7));
        assert_eq!(r.i32(), Err(Short { needed: 8 }));
        assert_eq!(r.pos(), 4);
        assert_eq!(r.bytes(usize::MAX), Err(Short { needed: usize::MAX }));
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.remaining(), 0);
    }

    /// A host is address octets then a big-endian i32 port; bad ports are typed errors.
    #[test]
    fn hosts_round_trip_and_bad_ports_are_rejected() {
        let host: SocketAddr = "10.0.0.1:10911".parse().expect("valid address");
        let mut out = Vec::new();
        put_host(&mut out, host);
        assert_eq!(out, vec![10, 0, 0, 1, 0, 0, 0x2A, 0x9F]);
        assert_eq!(Reader::new(&out).host(false), Ok(Ok(host)));
        let bad = [1, 2, 3, 4, 0, 1, 0, 0];
        assert_eq!(Reader::new(&bad).host(false), Ok(Err(RecordError::BadPort { port: 65536 })));
    }

    /// Matches Java's `UtilAll.crc32`: CRC32("Hello") = 0xF7D18982, masked to 0x77D18982.
    #[test]
    fn body_crc_is_masked_crc32() {
        assert_eq!(body_crc(b"Hello"), 0x77D1_8982);
        assert_eq!(body_crc(b""), 0);
    }
}
