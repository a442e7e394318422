//! Message ids: the broker's offsetMsgId and the producer's UNIQ_KEY.
//!
//! offsetMsgId (`MessageDecoder.createMessageId`) is upper-case hex of
//! `store ip (4 or 16 bytes) + store port (i32) + physical offset (i64)`: 32 characters for an
//! IPv4 store host, 56 for IPv6. It locates the record directly.
//!
//! UNIQ_KEY (`MessageClientIDSetter.createUniqID`) is upper-case hex of
//! `ip (4 or 16) + pid (low 16 bits) + a 4-byte hash (Java: the class loader's hashCode) +
//! ms since the start of the current month (u32) + a 16-bit counter`: 32 characters for IPv4.
//! Java computes the month start in the JVM's local time zone; Petrel uses UTC so that ids do
//! not depend on the host's configuration. Every input is explicit: no clock is read here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

/// Why a string is not a message id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Not one of the lengths the id form allows.
    #[error("id has {len} characters, expected {expected}")]
    BadLength { len: usize, expected: &'static str },
    /// A character that is not a hex digit.
    #[error("non-hex character at {index}")]
    BadHex { index: usize },
    /// The port field is outside 0..=65535.
    #[error("bad port {port}")]
    BadPort { port: i32 },
}

/// Hex characters of an offsetMsgId with an IPv4 store host.
pub const OFFSET_MSG_ID_V4_LEN: usize = 2 * (4 + 4 + 8);
/// Hex characters of an offsetMsgId with an IPv6 store host.
pub const OFFSET_MSG_ID_V6_LEN: usize = 2 * (16 + 4 + 8);
/// Hex characters of a UNIQ_KEY made on an IPv4 host.
pub const UNIQ_ID_V4_LEN: usize = 2 * (4 + 2 + 4 + 4 + 2);
/// Hex characters of a UNIQ_KEY made on an IPv6 host.
pub const UNIQ_ID_V6_LEN: usize = 2 * (16 + 2 + 4 + 4 + 2);

const _: () = assert!(OFFSET_MSG_ID_V4_LEN == 32 && OFFSET_MSG_ID_V6_LEN == 56);
const _: () = assert!(UNIQ_ID_V4_LEN == 32 && UNIQ_ID_V6_LEN == 56);

const MS_PER_DAY: i64 = 86_400_000;

/// The offsetMsgId of the record at `physical_offset` stored by `store_host`.
pub fn offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    // Every stored and every delivered message gets one: written straight into the string.
    let mut id = String::with_capacity(OFFSET_MSG_ID_V6_LEN);
    match store_host.ip() {
        IpAddr::V4(ip) => push_hex(&mut id, &ip.octets()),
        IpAddr::V6(ip) => push_hex(&mut id, &ip.octets()),
    }
    push_hex(&mut id, &i32::from(store_host.port()).to_be_bytes());
    push_hex(&mut id, &physical_offset.to_be_bytes());
    debug_assert_eq!(parse_offset_msg_id(&id), Ok((store_host_without_scope(store_host), physical_offset)));
    id
}

/// The store host and physical offset inside an offsetMsgId (hex digits of either case).
pub fn parse_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), IdError> {
    let ip_len = match id.len() {
        OFFSET_MSG_ID_V4_LEN => 4,
        OFFSET_MSG_ID_V6_LEN => 16,
        len => return Err(IdError::BadLength { len, expected: "32 or 56" }),
    };
    let raw = from_hex(id)?;
    let (ip, rest) = raw.split_at(ip_len);
    let (port, offset) = rest.split_at(4);
    let port = i32::from_be_bytes(to_array(port));
    let port = u16::try_from(port).map_err(|_| IdError::BadPort { port })?;
    Ok((SocketAddr::new(ip_from_bytes(ip), port), i64::from_be_bytes(to_array(offset))))
}

/// Generates producer UNIQ_KEY ids. Holds the fixed prefix, the counter and the current month;
/// the caller passes the time in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqIdGenerator {
    /// Upper-case hex of ip + pid + hash: the same for every id this generator makes.
    prefix: String,
    /// Low 16 bits of the sequence number; wraps like Java's `(short) counter`.
    counter: u16,
    /// [start, next start) of the UTC month of the last id, in ms; None before the first id.
    month: Option<(i64, i64)>,
}

impl UniqIdGenerator {
    /// `pid` keeps its low 16 bits (Java writes `(short) pid`); `hash` stands for Java's class
    /// loader hash code and should differ between generators on one host.
    pub fn new(ip: IpAddr, pid: u32, hash: i32) -> Self {
        let mut raw = Vec::with_capacity(16 + 2 + 4);
        push_ip(&mut raw, ip);
        raw.extend_from_slice(&pid.to_be_bytes()[2..]);
        raw.extend_from_slice(&hash.to_be_bytes());
        Self { prefix: to_hex(&raw), counter: 0, month: None }
    }

    /// The next id at wall-clock time `now_ms` (ms since the Unix epoch).
    pub fn next_id(&mut self, now_ms: i64) -> String {
        let (start, next) = match self.month {
            Some((start, next)) if (start..next).contains(&now_ms) => (start, next),
            _ => month_bounds_utc(now_ms),
        };
        self.month = Some((start, next));
        let since_start = now_ms.checked_sub(start).and_then(|ms| u32::try_from(ms).ok()).unwrap_or(u32::MAX);
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&since_start.to_be_bytes());
        tail[4..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter = self.counter.wrapping_add(1);
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        push_hex(&mut id, &tail);
        id
    }
}

/// The fields of a UNIQ_KEY, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniqIdParts {
    /// Address of the producer host.
    pub ip: IpAddr,
    /// Low 16 bits of the producer's process id.
    pub pid: u16,
    /// The per-generator hash (Java: class loader hash code).
    pub hash: i32,
    /// Milliseconds since the start of the month the id was made in.
    pub ms_since_month_start: u32,
    /// The generator's counter.
    pub counter: u16,
}

/// Splits a UNIQ_KEY into its fields (hex digits of either case).
pub fn parse_uniq_id(id: &str) -> Result<UniqIdParts, IdError> {
    let ip_len = match id.len() {
        UNIQ_ID_V4_LEN => 4,
        UNIQ_ID_V6_LEN => 16,
        len => return Err(IdError::BadLength { len, expected: "32 or 56" }),
    };
    let raw = from_hex(id)?;
    let (ip, rest) = raw.split_at(ip_len);
    Ok(UniqIdParts {
        ip: ip_from_bytes(ip),
        pid: u16::from_be_bytes(to_array(&rest[0..2])),
        hash: i32::from_be_bytes(to_array(&rest[2..6])),
        ms_since_month_start: u32::from_be_bytes(to_array(&rest[6..10])),
        counter: u16::from_be_bytes(to_array(&rest[10..12])),
    })
}

/// [start, next start) in ms of the UTC calendar month containing `now_ms`.
pub fn month_bounds_utc(now_ms: i64) -> (i64, i64) {
    let days = now_ms.div_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let start_days = days - (day - 1);
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let next_days = days_from_civil(next_year, next_month, 1);
    let bounds = (start_days.saturating_mul(MS_PER_DAY), next_days.saturating_mul(MS_PER_DAY));
    debug_assert!(bounds.0 <= now_ms && (now_ms < bounds.1 || bounds.1 == i64::MAX));
    debug_assert!(bounds.0 == i64::MIN || now_ms - bounds.0 < 31 * MS_PER_DAY);
    bounds
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> IpAddr {
    match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(to_array::<4>(bytes))),
        _ => IpAddr::V6(Ipv6Addr::from(to_array::<16>(bytes))),
    }
}

/// What an offsetMsgId can carry of a host: address and port (no IPv6 flow label or scope).
fn store_host_without_scope(host: SocketAddr) -> SocketAddr {
    SocketAddr::new(host.ip(), host.port())
}

/// Copies a slice whose length the caller has fixed into an array (zero-padded if shorter).
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let len = bytes.len().min(N);
    out[..len].copy_from_slice(&bytes[..len]);
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Upper-case hex, as Java's `UtilAll.bytes2string`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends the upper-case hex digits of `bytes` to `out`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(byte & 0x0F)]));
    }
}

/// Bytes of an even-length hex string of either case.
fn from_hex(hex: &str) -> Result<Vec<u8>, IdError> {
    let digits = hex.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(IdError::BadLength { len: digits.len(), expected: "an even number" });
    }
    let nibble = |index: usize| -> Result<u8, IdError> {
        let digit = digits.get(index).copied().ok_or(IdError::BadHex { index })?;
        char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok()).ok_or(IdError::BadHex { index })
    };
    (0..digits.len() / 2).map(|i| Ok(nibble(2 * i)? << 4 | nibble(2 * i + 1)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("valid socket address")
    }

    /// A known IPv4 example: 10.0.0.1, port 10911 (0x2A9F), offset 0x1234.
    #[test]
    fn offset_msg_id_known_example() {
        let id = offset_msg_id(addr("10.0.0.1:10911"), 0x1234);
        assert_eq!(id, "0A00000100002A9F0000000000001234");
        assert_eq!(parse_offset_msg_id(&id), Ok((addr("10.0.0.1:10911"), 0x1234)));
        assert_eq!(parse_offset_msg_id(&id.to_lowercase()), Ok((addr("10.0.0.1:10911"), 0x1234)));
    }

    /// An IPv6 store host makes a 56-character id: 16 + 4 + 8 bytes.
    #[test]
    fn offset_msg_id_ipv6_is_56_chars() {
        let host = addr("[2001:db8::1]:10911");
        let id = offset_msg_id(host, 42);
        assert_eq!(id, "20010DB800000000000000000000000100002A9F000000000000002A");
        assert_eq!(id.len(), 56);
        assert_eq!(parse_offset_msg_id(&id), Ok((host, 42)));
    }

    /// Bad lengths, non-hex digits and out-of-range ports are typed errors.
    #[test]
    fn parse_offset_msg_id_rejects_garbage() {
        assert!(matches!(parse_offset_msg_id("ABC"), Err(IdError::BadLength { len: 3, .. })));
        let bad_hex = "0A00000100002A9F000000000000123G";
        assert_eq!(parse_offset_msg_id(bad_hex), Err(IdError::BadHex { index: 31 }));
        let bad_port = "0A000001000100000000000000001234";
        assert_eq!(parse_offset_msg_id(bad_port), Err(IdError::BadPort { port: 65536 }));
        assert!(parse_offset_msg_id("é0000001000100000000000000001234").is_err());
    }

    /// Month bounds agree with a calendar (values from Python's datetime in UTC), including a
    /// leap February, a year end and a time before the epoch.
    #[test]
    fn month_bounds_match_the_calendar() {
        assert_eq!(month_bounds_utc(1_707_998_400_000), (1_706_745_600_000, 1_709_251_200_000));
        assert_eq!(month_bounds_utc(1_704_067_199_999), (1_701_388_800_000, 1_704_067_200_000));
        assert_eq!(month_bounds_utc(1_704_067_200_000).0, 1_704_067_200_000);
        assert_eq!(month_bounds_utc(-3_600_000), (-2_678_400_000, 0));
        assert_eq!(month_bounds_utc(951_786_123_000), (949_363_200_000, 951_868_800_000));
    }

    /// Ids carry ip, pid, hash, ms since the month start and a counter, and parse back.
    #[test]
    fn uniq_ids_encode_their_inputs() {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 7));
        let mut generator = UniqIdGenerator::new(ip, 0x0001_2345, -2);
        let now = 1_707_998_400_000; // 2024-02-15T12:00:00Z
        let first = generator.next_id(now);
        assert_eq!(first, "C0A800072345FFFFFFFE4AAC36000000");
        let second = generator.next_id(now + 5);
        let parts = parse_uniq_id(&second).expect("valid id");
        let expected_ms = u32::try_from(now + 5 - 1_706_745_600_000).expect("fits");
        assert_eq!(parts, UniqIdParts { ip, pid: 0x2345, hash: -2, ms_since_month_start: expected_ms, counter: 1 });
    }

    /// Crossing into a new month restarts the millisecond field; the counter keeps counting.
    #[test]
    fn uniq_ids_restart_time_at_month_start() {
        let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut generator = UniqIdGenerator::new(ip, 1, 1);
        let _ = generator.next_id(1_709_251_199_999); // last ms of February 2024
        let id = generator.next_id(1_709_251_200_003); // March 1st + 3 ms
        assert_eq!(id.len(), UNIQ_ID_V6_LEN);
        let parts = parse_uniq_id(&id).expect("valid id");
        assert_eq!((parts.ip, parts.ms_since_month_start, parts.counter), (ip, 3, 1));
    }

    proptest! {
        /// Every store host and offset round-trips through an offsetMsgId.
        #[test]
        fn offset_msg_id_round_trips(
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            port in any::<u16>(),
            offset in any::<i64>(),
        ) {
            let ip = if v6 {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            };
            let host = SocketAddr::new(ip, port);
            prop_assert_eq!(parse_offset_msg_id(&offset_msg_id(host, offset)), Ok((host, offset)));
        }

        /// Arbitrary strings never panic the parsers.
        #[test]
        fn parsers_never_panic(s in ".{0,60}") {
            let _ = parse_offset_msg_id(&s);
            let _ = parse_uniq_id(&s);
        }

        /// Any time maps into the month that contains it, and the month is 28..=31 days long.
        #[test]
        fn month_bounds_contain_now(now in -4_000_000_000_000i64..8_000_000_000_000) {
            let (start, next) = month_bounds_utc(now);
            prop_assert!(start <= now && now < next);
            prop_assert!((28 * MS_PER_DAY..=31 * MS_PER_DAY).contains(&(next - start)));
            prop_assert_eq!(start.rem_euclid(MS_PER_DAY), 0);
        }
    }
}
