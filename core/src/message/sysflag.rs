//! SYSFLAG bits of a stored record (RocketMQ's `MessageSysFlag`).
//!
//! The two transaction bits form one two-bit field (`TRANSACTION_ROLLBACK` is the mask); the two
//! host bits say whether BORNHOST / STOREHOST are 16-byte IPv6 addresses and so change the
//! record's layout. Bits not named here are kept as they are.

/// The body is zlib-compressed (the producer compresses bodies over 4 KiB).
pub const COMPRESSED: i32 = 0x1;
/// The TAGS property holds several tags (never set by 4.x clients; kept for completeness).
pub const MULTI_TAGS: i32 = 0x2;
/// Not a transaction message.
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// A transaction's half message: stored, not consumable until committed.
pub const TRANSACTION_PREPARED: i32 = 0x4;
/// A committed transaction message.
pub const TRANSACTION_COMMIT: i32 = 0x8;
/// A rolled-back transaction message; also the mask of the two transaction bits.
pub const TRANSACTION_ROLLBACK: i32 = 0xC;
/// BORNHOST is an IPv6 address (16 bytes + port) instead of IPv4 (4 bytes + port).
pub const BORNHOST_V6: i32 = 0x10;
/// STOREHOST is an IPv6 address (16 bytes + port) instead of IPv4 (4 bytes + port).
pub const STOREHOST_V6: i32 = 0x20;

const _: () = assert!(TRANSACTION_ROLLBACK == TRANSACTION_PREPARED | TRANSACTION_COMMIT);
const _: () = assert!((COMPRESSED | MULTI_TAGS | TRANSACTION_ROLLBACK | BORNHOST_V6 | STOREHOST_V6) == 0x3F);

/// The transaction type bits of `sys_flag`: one of the four `TRANSACTION_*` values.
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_ROLLBACK
}

/// `sys_flag` with its transaction type replaced by `ty` (one of the `TRANSACTION_*` values).
pub fn reset_transaction_value(sys_flag: i32, ty: i32) -> i32 {
    debug_assert_eq!(ty & !TRANSACTION_ROLLBACK, 0, "not a transaction type: {ty:#x}");
    (sys_flag & !TRANSACTION_ROLLBACK) | ty
}

/// Whether the body is stored compressed.
pub fn is_compressed(sys_flag: i32) -> bool {
    sys_flag & COMPRESSED != 0
}

/// `sys_flag` without the compressed bit.
pub fn clear_compressed(sys_flag: i32) -> i32 {
    sys_flag & !COMPRESSED
}

/// Bytes a host takes in a record (address + i32 port) given whether it is IPv6.
pub(crate) const fn host_len(v6: bool) -> usize {
    if v6 {
        16 + 4
    } else {
        4 + 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transaction field is two bits: reading and replacing it leaves every other bit alone.
    #[test]
    fn transaction_type_round_trips_and_keeps_other_bits() {
        let base = COMPRESSED | BORNHOST_V6 | STOREHOST_V6 | 0x100;
        for ty in [TRANSACTION_NOT_TYPE, TRANSACTION_PREPARED, TRANSACTION_COMMIT, TRANSACTION_ROLLBACK] {
            let flag = reset_transaction_value(base | TRANSACTION_ROLLBACK, ty);
            assert_eq!(transaction_type(flag), ty);
            assert_eq!(flag & !TRANSACTION_ROLLBACK, base);
        }
        assert!(is_compressed(base));
        assert!(!is_compressed(clear_compressed(base)));
    }
}
