//! Remoting protocol (being written).
