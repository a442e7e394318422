//! petrel-net: the seams' real-world side.
//!
//! - [`disk`]: `MmapDisk`, the memmap2 backend of the `Disk` seam over preallocated files.

pub mod disk;
