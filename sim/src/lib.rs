//! petrel-sim: deterministic simulation of Petrel.
//!
//! - [`disk`]: the simulated disk (page cache, kill vs power-loss crash model, injectable faults).

pub mod disk;
