//! The async store host on the simulated disk with a slow fsync: SYNC_FLUSH group commit
//! acknowledges a put only as durable, shares one sync among concurrent puts, and everything it
//! acknowledged survives a power loss. Runs on real tokio in the normal build and on madsim's
//! runtime in the `--cfg madsim` build (the stall is slept on the runtime's clock).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use petrel_core::message::{MessageToStore, Properties};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::service::StoreService;
use petrel_core::store::{Durability, FlushMode, MessageStore, QueueOffset, StoreConfig};
use petrel_sim::disk::{CrashKind, FaultConfig, SimDisk, SimDiskConfig};

fn message(queue_id: i32, n: u64) -> MessageToStore {
    let host = "127.0.0.1:10911".parse().expect("address");
    MessageToStore {
        topic: "G".into(),
        queue_id,
        flag: 0,
        body: Bytes::from(format!("{queue_id}-{n}")),
        properties: Properties::new(),
        sys_flag: 0,
        born_timestamp: 0,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

#[tokio::test]
async fn group_commit_shares_syncs_and_survives_power_loss() {
    let faults = FaultConfig {
        sync_latency_min: Duration::from_millis(2),
        sync_latency_max: Duration::from_millis(2),
        ..FaultConfig::default()
    };
    let sim = SimDisk::new(SimDiskConfig { seed: 3, faults, ..SimDiskConfig::default() }).expect("config");
    let disk: DiskRef = Arc::new(sim.clone());
    let config = StoreConfig { flush_mode: FlushMode::Sync, ..StoreConfig::small_for_tests() };
    let (store, _) = MessageStore::open(disk.clone(), config.clone()).expect("open");
    let syncs_before = sim.counters().syncs;
    let service = StoreService::start(store);
    let mut tasks = Vec::new();
    for queue in 0..8 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let outcome = service.put_messages(&[message(queue, n)]).await.expect("put");
                assert_eq!(outcome.durability, Durability::Disk, "SYNC_FLUSH acknowledged a put that was not synced");
            }
        }));
    }
    for task in tasks {
        task.await.expect("appender");
    }
    let syncs = sim.counters().syncs - syncs_before;
    assert!(syncs < 160, "160 puts took {syncs} syncs: group commit did not group");
    drop(service);
    sim.crash(CrashKind::PowerLoss);
    let (store, _) = MessageStore::open(disk, config).expect("reopen");
    for queue in 0..8 {
        assert_eq!(store.max_offset("G", queue), QueueOffset(20), "an acknowledged put was lost in queue {queue}");
    }
}
