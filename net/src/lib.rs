//! petrel-net: the seams' real-world side.
//!
//! - [`disk`]: `MmapDisk`, the memmap2 backend of the `Disk` seam over preallocated files.
//! - [`remoting`]: the remoting transport over `tokio::net` (madsim's simulated TCP under
//!   `cfg(madsim)`): `RemotingServer`, `RemotingClient`, `Channel`, request dispatch by code.

pub mod disk;
pub mod remoting;
