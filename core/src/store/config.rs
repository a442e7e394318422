//! The storage engine's settings, with RocketMQ 4.9's defaults.

use crate::store::flush::FlushMode;

/// Everything the store can be told; `StoreConfig::default()` is RocketMQ's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Size of each CommitLog file (RocketMQ `mappedFileSizeCommitLog`, 1 GiB).
    pub commit_log_file_size_bytes: u64,
    /// ConsumeQueue units per file (RocketMQ `mappedFileSizeConsumeQueue` / 20 = 300,000).
    pub consume_queue_units_per_file: u64,
    /// Hash slots per IndexFile (RocketMQ `maxHashSlotNum`, 5,000,000).
    pub index_slots_per_file: u32,
    /// Entries per IndexFile (RocketMQ `maxIndexNum`, 20,000,000).
    pub index_entries_per_file: u32,
    /// Whether keys and UNIQ_KEY ids are indexed (RocketMQ `messageIndexEnable`).
    pub index_enabled: bool,
    /// Largest encoded record accepted (RocketMQ `maxMessageSize` is 4 MiB of body; the record
    /// adds its header, topic and properties).
    pub message_size_max_bytes: usize,
    /// SYNC_FLUSH or ASYNC_FLUSH, and the async policy.
    pub flush_mode: FlushMode,
    /// How long a SYNC_FLUSH put waits for its group commit before FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout_ms: u64,
    /// How often ConsumeQueues, IndexFiles and the checkpoint are flushed.
    pub flush_consume_queue_interval_ms: u64,
    /// Retention: how long CommitLog files are kept after their last write (72 h).
    pub file_reserved_ms: i64,
    /// Retention: disk usage (percent) above which the oldest files go regardless of age.
    pub disk_clean_ratio_percent: u64,
    /// Retention: disk usage (percent) above which files go even when it is not the hour.
    pub disk_force_clean_ratio_percent: u64,
    /// Disk usage (percent) above which puts are refused.
    pub disk_refuse_writes_ratio_percent: u64,
    /// Retention: the hour of day (UTC) when expired files are deleted (04:00).
    pub delete_hour_utc: u8,
    /// A deliberate defect for checker tests (`None` in every real configuration).
    pub planted: Option<crate::planted::PlantedBug>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            commit_log_file_size_bytes: 1 << 30,
            consume_queue_units_per_file: 300_000,
            index_slots_per_file: 5_000_000,
            index_entries_per_file: 20_000_000,
            index_enabled: true,
            message_size_max_bytes: 4 * 1024 * 1024 + 64 * 1024,
            flush_mode: FlushMode::Async(Default::default()),
            sync_flush_timeout_ms: 5_000,
            flush_consume_queue_interval_ms: 1_000,
            file_reserved_ms: 72 * 3_600_000,
            disk_clean_ratio_percent: 75,
            disk_force_clean_ratio_percent: 85,
            disk_refuse_writes_ratio_percent: 90,
            delete_hour_utc: 4,
            planted: None,
        }
    }
}

impl StoreConfig {
    /// Small files for tests and simulation: a few KiB per CommitLog file so that file
    /// boundaries, blanks and retention are exercised by a handful of messages.
    pub fn small_for_tests() -> Self {
        StoreConfig {
            commit_log_file_size_bytes: 64 * 1024,
            consume_queue_units_per_file: 128,
            index_slots_per_file: 1024,
            index_entries_per_file: 256,
            message_size_max_bytes: 16 * 1024,
            ..StoreConfig::default()
        }
    }
}
