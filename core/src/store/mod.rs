//! The storage engine (being written): see `disk` for the seam it stands on.

pub mod disk;
