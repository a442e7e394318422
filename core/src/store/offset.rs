//! Kinds of numbers the store must never mix up, each its own type.
//!
//! A CommitLog offset is a byte position in the one log of all topics; a queue offset counts
//! messages in one (topic, queue). Both are `i64` on the wire, non-negative here.

use std::fmt;

/// A byte position in the CommitLog (RocketMQ's "physical offset").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CommitLogOffset(pub u64);

/// The position of a message in its (topic, queue): 0, 1, 2, ... (RocketMQ's "logical" or
/// "queue offset").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct QueueOffset(pub u64);

impl CommitLogOffset {
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn plus(self, bytes: u64) -> CommitLogOffset {
        CommitLogOffset(self.0 + bytes)
    }
}

impl QueueOffset {
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn next(self) -> QueueOffset {
        QueueOffset(self.0 + 1)
    }
}

impl fmt::Display for CommitLogOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for QueueOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// RocketMQ's file name for a file starting at `offset`: 20 zero-padded decimal digits.
pub fn file_name_for(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit file name back into its start offset.
pub fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_twenty_digits_and_parse_back() {
        assert_eq!(file_name_for(0), "00000000000000000000");
        assert_eq!(file_name_for(1073741824), "00000000001073741824");
        assert_eq!(parse_file_name("00000000001073741824"), Some(1073741824));
        assert_eq!(parse_file_name("1073741824"), None);
        assert_eq!(parse_file_name("0000000000107374182x"), None);
        assert_eq!(parse_file_name("00000000000000000000.tmp"), None);
    }
}
