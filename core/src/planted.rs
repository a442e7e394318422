//! Planted bugs: deliberate defects that prove the simulation's checkers bite.
//!
//! Each is switched on by a field that defaults to `None` (`StoreConfig::planted`,
//! `ConsumerConfig::planted` in petrel-net) and that no configuration file or command line can
//! set: only test code that builds the configuration in Rust turns one on. The sim's
//! `planted_bugs` test runs the scenario catalogue with each one and expects a checker to fail
//! within a bounded number of seeds.

use serde::{Deserialize, Serialize};

/// A deliberate defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlantedBug {
    /// A SYNC_FLUSH store acknowledges a put as synced without waiting for the group commit.
    AckBeforeFlush,
    /// Recovery does not redo ConsumeQueue entries for records past the checkpoint's dispatched
    /// offset: those messages become unreachable and their queue offsets are handed out again.
    SkipConsumeQueueOnRecovery,
    /// A push consumer commits a pulled batch's next offset before the listener has run.
    CommitBeforeProcess,
}

impl PlantedBug {
    /// Every planted bug.
    pub const ALL: [PlantedBug; 3] =
        [PlantedBug::AckBeforeFlush, PlantedBug::SkipConsumeQueueOnRecovery, PlantedBug::CommitBeforeProcess];

    /// Its name (as in reports and the test).
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::AckBeforeFlush => "ack-before-flush",
            PlantedBug::SkipConsumeQueueOnRecovery => "skip-consume-queue-on-recovery",
            PlantedBug::CommitBeforeProcess => "commit-before-process",
        }
    }
}
