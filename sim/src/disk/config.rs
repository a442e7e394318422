//! Configuration of a [`super::SimDisk`]: geometry, capacity, faults and the power-loss model.

use std::time::Duration;

/// Largest page size accepted, in bytes.
const PAGE_SIZE_MAX_BYTES: u64 = 1 << 20;

/// Everything a simulated disk needs to behave reproducibly.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDiskConfig {
    /// Seed of the disk's own RNG: the only source of its randomness (faults, tears, latency).
    pub seed: u64,
    /// Unit of the page cache: writes dirty whole pages, syncs and power loss act on pages.
    /// A power of two, at most 1 MiB.
    pub page_size_bytes: u64,
    /// Unit of atomicity of the device: a torn page mixes old and new sectors, never bytes
    /// within a sector. Must divide `page_size_bytes`.
    pub sector_size_bytes: u64,
    /// Device size; `None` is unlimited. A file takes its whole length from `create` on.
    pub capacity_bytes: Option<u64>,
    /// Longest read served in one call (a read copies into fresh memory; this bounds it).
    /// The default, 1 GiB, is RocketMQ's largest mapped file.
    pub read_len_max_bytes: u64,
    /// Injected errors and latency.
    pub faults: FaultConfig,
    /// What a power loss does to each dirty page.
    pub power_loss: PowerLossWeights,
}

impl Default for SimDiskConfig {
    fn default() -> Self {
        SimDiskConfig {
            seed: 0,
            page_size_bytes: 4096,
            sector_size_bytes: 512,
            capacity_bytes: None,
            read_len_max_bytes: 1 << 30,
            faults: FaultConfig::default(),
            power_loss: PowerLossWeights::default(),
        }
    }
}

/// Errors that fail fast, on a probability drawn per operation, and latency the host is asked to
/// wait. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Chance in [0, 1] that a read (`read_at`, `read_all`) fails with EIO.
    pub read_eio_probability: f64,
    /// Chance in [0, 1] that a write (`write_at`, the write half of `replace_atomic`) fails with
    /// EIO, changing nothing.
    pub write_eio_probability: f64,
    /// Chance in [0, 1] that a sync (`sync_range`, the sync half of `replace_atomic`) fails with
    /// EIO, leaving its pages dirty.
    pub sync_eio_probability: f64,
    /// Stall added by every read.
    pub read_latency: Duration,
    /// Stall added by every write.
    pub write_latency: Duration,
    /// Lower bound of the stall added by every sync (also by create, remove and replace, which
    /// sync a directory); drawn uniformly up to `sync_latency_max`.
    pub sync_latency_min: Duration,
    /// Upper bound of the sync stall; not below `sync_latency_min`.
    pub sync_latency_max: Duration,
}

/// Relative weights of the three fates of a dirty page at power loss. The default gives each
/// one third.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerLossWeights {
    /// The page reached the device whole before power failed.
    pub written_back: u32,
    /// The page never left the cache: the durable content stays.
    pub lost: u32,
    /// The device was mid-way: each sector is independently old or new.
    pub torn: u32,
}

impl Default for PowerLossWeights {
    fn default() -> Self {
        PowerLossWeights { written_back: 1, lost: 1, torn: 1 }
    }
}

/// A configuration the simulated disk refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimDiskConfigError {
    #[error("page size {0} is not a power of two between 1 and 1 MiB")]
    PageSize(u64),
    #[error("sector size {sector} does not divide page size {page}")]
    SectorSize { sector: u64, page: u64 },
    #[error("{name} = {value} is not a probability in [0, 1]")]
    Probability { name: &'static str, value: f64 },
    #[error("sync latency min {min:?} exceeds max {max:?}")]
    SyncLatency { min: Duration, max: Duration },
    #[error("power-loss weights are all zero")]
    PowerLossWeights,
}

impl SimDiskConfig {
    /// Checks every relation between the fields.
    pub fn validate(&self) -> Result<(), SimDiskConfigError> {
        let page = self.page_size_bytes;
        if !page.is_power_of_two() || page > PAGE_SIZE_MAX_BYTES {
            return Err(SimDiskConfigError::PageSize(page));
        }
        let sector = self.sector_size_bytes;
        if sector == 0 || !page.is_multiple_of(sector) {
            return Err(SimDiskConfigError::SectorSize { sector, page });
        }
        let weights = self.power_loss;
        if weights.written_back == 0 && weights.lost == 0 && weights.torn == 0 {
            return Err(SimDiskConfigError::PowerLossWeights);
        }
        self.faults.validate()
    }
}

impl FaultConfig {
    /// Checks that probabilities are probabilities and latency bounds are ordered.
    pub fn validate(&self) -> Result<(), SimDiskConfigError> {
        let probabilities = [
            ("read_eio_probability", self.read_eio_probability),
            ("write_eio_probability", self.write_eio_probability),
            ("sync_eio_probability", self.sync_eio_probability),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimDiskConfigError::Probability { name, value });
            }
        }
        if self.sync_latency_min > self.sync_latency_max {
            let (min, max) = (self.sync_latency_min, self.sync_latency_max);
            return Err(SimDiskConfigError::SyncLatency { min, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_bad_relations_are_rejected() {
        assert_eq!(SimDiskConfig::default().validate(), Ok(()));
        let bad_page = SimDiskConfig { page_size_bytes: 3000, ..SimDiskConfig::default() };
        assert_eq!(bad_page.validate(), Err(SimDiskConfigError::PageSize(3000)));
        let bad_sector = SimDiskConfig { sector_size_bytes: 768, ..SimDiskConfig::default() };
        assert!(matches!(bad_sector.validate(), Err(SimDiskConfigError::SectorSize { .. })));
        let nan = FaultConfig { sync_eio_probability: f64::NAN, ..FaultConfig::default() };
        assert!(matches!(nan.validate(), Err(SimDiskConfigError::Probability { .. })));
        let latency = FaultConfig { sync_latency_min: Duration::from_millis(2), ..FaultConfig::default() };
        assert!(matches!(latency.validate(), Err(SimDiskConfigError::SyncLatency { .. })));
        let weights = PowerLossWeights { written_back: 0, lost: 0, torn: 0 };
        let no_fate = SimDiskConfig { power_loss: weights, ..SimDiskConfig::default() };
        assert_eq!(no_fate.validate(), Err(SimDiskConfigError::PowerLossWeights));
    }
}
