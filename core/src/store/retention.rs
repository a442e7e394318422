//! Retention: which CommitLog files to delete, decided without I/O (RocketMQ's
//! CleanCommitLogService). The file being written is never deleted.

use crate::store::config::StoreConfig;

/// Most files deleted in one pass (RocketMQ `deleteCommitLogFilesBatchMax` is 10).
pub const DELETE_FILES_PER_PASS_MAX: usize = 10;

/// What retention knows about the store at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionInput {
    /// Current time (ms since the epoch).
    pub now_ms: i64,
    /// For each CommitLog file, oldest first: the store time of its newest message (or an
    /// upper bound of it). The last entry is the file being written.
    pub file_last_store_ms: Vec<i64>,
    /// Disk usage in percent, if the device reports it.
    pub disk_used_percent: Option<u64>,
}

/// How many of the oldest CommitLog files to delete now.
pub fn files_to_delete(config: &StoreConfig, input: &RetentionInput) -> usize {
    let used = input.disk_used_percent.unwrap_or(0);
    let hour_utc = (input.now_ms.rem_euclid(86_400_000) / 3_600_000) as u8;
    let time_up = hour_utc == config.delete_hour_utc;
    let space_low = used >= config.disk_clean_ratio_percent;
    let force = used >= config.disk_force_clean_ratio_percent;
    if !(time_up || space_low) {
        return 0;
    }
    let deletable = input.file_last_store_ms.len().saturating_sub(1);
    input.file_last_store_ms[..deletable]
        .iter()
        .take(DELETE_FILES_PER_PASS_MAX)
        .take_while(|&&last| force || input.now_ms.saturating_sub(last) >= config.file_reserved_ms)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn input(now_ms: i64, files: &[i64], used: Option<u64>) -> RetentionInput {
        RetentionInput { now_ms, file_last_store_ms: files.to_vec(), disk_used_percent: used }
    }

    #[test]
    fn expired_files_go_at_the_delete_hour_but_never_the_current_one() {
        let config = StoreConfig::default();
        let now = 100 * 24 * HOUR_MS + 4 * HOUR_MS; // 04:00 UTC
        let old = now - 73 * HOUR_MS;
        let young = now - HOUR_MS;
        assert_eq!(files_to_delete(&config, &input(now, &[old, old, young, young], None)), 2);
        assert_eq!(files_to_delete(&config, &input(now, &[old, old], None)), 1, "the last file stays");
        assert_eq!(
            files_to_delete(&config, &input(now + HOUR_MS, &[old, old, young], None)),
            0,
            "05:00 is not the hour"
        );
    }

    #[test]
    fn a_full_disk_deletes_expired_files_at_any_hour_and_young_ones_when_critical() {
        let config = StoreConfig::default();
        let now = 100 * 24 * HOUR_MS + 13 * HOUR_MS;
        let old = now - 80 * HOUR_MS;
        let young = now - HOUR_MS;
        let files = [old, young, young];
        assert_eq!(files_to_delete(&config, &input(now, &files, Some(50))), 0);
        assert_eq!(files_to_delete(&config, &input(now, &files, Some(76))), 1, "only the expired one");
        assert_eq!(files_to_delete(&config, &input(now, &files, Some(86))), 2, "forced: all but the last");
    }
}
