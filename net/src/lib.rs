//! petrel-net: the seams' real-world side, and the nodes that serve Petrel's roles over it.
//!
//! - [`disk`]: `MmapDisk`, the memmap2 backend of the `Disk` seam over preallocated files.
//! - [`remoting`]: the remoting transport over `tokio::net` (madsim's simulated TCP under
//!   `cfg(madsim)`): `RemotingServer`, `RemotingClient`, `Channel`, request dispatch by code.
//! - [`broker`]: `BrokerNode`, the async shell that serves `petrel_core::broker` and the message
//!   store over the transport: sends, pulls with long polling, consumer groups, offsets,
//!   topic administration, registration with the NameServers.
//! - [`client`]: `Producer`, the async shell that sends messages using the pure client logic
//!   of `petrel_core::client` (routes, queue selection, fault avoidance, retries).
//! - [`namesrv`]: `NamesrvNode`, the async shell that serves `petrel_core::namesrv::NameServer`
//!   over the transport and expires silent brokers.
//!
//! - [`bench`]: `petrel bench`'s OpenMessaging-Benchmark-style workload (producers, push
//!   consumers, publish and end-to-end latency histograms) against a running cluster.
//!
//! The `petrel` binary (`src/bin/petrel.rs`) is the production entry point: `petrel namesrv`,
//! `petrel broker`.

pub mod bench;
pub mod broker;
pub mod client;
pub mod disk;
pub mod namesrv;
pub mod remoting;
