//! RocketMQ's `PermName`: the permission bits of a topic on a broker, carried in `TopicConfig`
//! and `QueueData` as `perm`. A broker without WRITE takes no sends for the topic (how an
//! operator drains a broker); one without READ serves no pulls.

/// Priority bit (reserved by RocketMQ, unused by clients).
pub const PRIORITY: i32 = 1 << 3;
/// Consumers may read the topic's queues on this broker.
pub const READ: i32 = 1 << 2;
/// Producers may write the topic's queues on this broker.
pub const WRITE: i32 = 1 << 1;
/// Topics auto-created from this (template) topic inherit its configuration.
pub const INHERIT: i32 = 1;

/// The default of a `TopicConfig`: readable and writable.
pub const READ_WRITE: i32 = READ | WRITE;

const _: () = assert!(READ == 4 && WRITE == 2 && INHERIT == 1 && READ_WRITE == 6);

/// True if `perm` has the READ bit.
pub const fn is_readable(perm: i32) -> bool {
    perm & READ == READ
}

/// True if `perm` has the WRITE bit (Java spells it `isWriteable`).
pub const fn is_writeable(perm: i32) -> bool {
    perm & WRITE == WRITE
}

/// True if `perm` has the INHERIT bit.
pub const fn is_inherited(perm: i32) -> bool {
    perm & INHERIT == INHERIT
}

/// `perm` as Java's `perm2String` shows it in logs and admin output: `RWX` with `-` for an
/// absent bit.
pub fn to_display(perm: i32) -> String {
    let bit = |set: bool, letter: char| if set { letter } else { '-' };
    [bit(is_readable(perm), 'R'), bit(is_writeable(perm), 'W'), bit(is_inherited(perm), 'X')].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bits test and display as Java's `PermName` does.
    #[test]
    fn bits_match_java() {
        assert!(is_readable(6) && is_writeable(6) && !is_inherited(6));
        assert!(!is_writeable(READ) && !is_readable(WRITE));
        assert_eq!(to_display(READ_WRITE), "RW-");
        assert_eq!(to_display(READ | INHERIT), "R-X");
        assert_eq!(to_display(0), "---");
        assert_eq!(to_display(PRIORITY | 7), "RWX");
    }
}
