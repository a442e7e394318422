//! petrel-sim: deterministic simulation of Petrel.
//!
//! - [`disk`]: the simulated disk (page cache, kill vs power-loss crash model, injectable faults).
//! - [`store_chaos`]: the seeded store crash scenario and the model it is checked against.
//! - [`history`]: what a cluster run records; [`checkers`] judge it; [`report`] renders it.
//! - [`scenario`]: scenario files (TOML) and their validation.
//! - `cluster` (built with `--cfg madsim` only): runs a scenario as madsim nodes.

pub mod checkers;
pub mod disk;
pub mod history;
pub mod report;
pub mod scenario;
pub mod store_chaos;

#[cfg(madsim)]
pub mod cluster;
