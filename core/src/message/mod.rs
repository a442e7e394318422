//! Message model (being written).
