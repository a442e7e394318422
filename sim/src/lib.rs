//! petrel-sim: deterministic simulation of Petrel.
//!
//! - [`disk`]: the simulated disk (page cache, kill vs power-loss crash model, injectable faults).
//! - [`store_chaos`]: the seeded store crash scenario and the model it is checked against.

pub mod disk;
pub mod store_chaos;
