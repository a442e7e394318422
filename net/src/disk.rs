//! Real mmap disk (being written).
