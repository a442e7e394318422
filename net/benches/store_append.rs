//! Storage engine throughput on the real (memmap2) disk. Prints numbers; asserts nothing.
//!
//! `cargo bench -p petrel-net --bench store_append` runs:
//! 1. ASYNC_FLUSH appends of 1 KiB messages straight into `MessageStore` (in process, one
//!    appender, 16 queues of one topic), with the CommitLog file pre-touched (warm-up).
//! 2. The machine's sync cost: an mmap + msync loop writing 1 KiB records and syncing every
//!    1, 16 and 64 records (the ceiling a group commit of that size can reach).
//! 3. SYNC_FLUSH through `StoreService` with 1, 16 and 64 concurrent appenders (group commit).
//!
//! Files go to a temporary directory under `target/` (a real disk, not tmpfs) unless
//! `PETREL_BENCH_DIR` names another.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_core::message::properties::keys;
use petrel_core::message::{MessageToStore, Properties};
use petrel_core::store::disk::DiskRef;
use petrel_core::store::service::StoreService;
use petrel_core::store::{FlushMode, MessageStore, StoreConfig};
use petrel_net::disk::{MmapDisk, MmapOptions};

const BODY_BYTES: usize = 1024;
const ASYNC_MESSAGES: u64 = 2_000_000;
const SYNC_RUN: Duration = Duration::from_secs(4);

fn bench_root() -> PathBuf {
    let base = std::env::var_os("PETREL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data"));
    std::fs::create_dir_all(&base).expect("bench dir");
    base
}

fn message(queue_id: i32, body: &Bytes) -> MessageToStore {
    let mut properties = Properties::new();
    properties.set(keys::TAGS, "TagA");
    let host: SocketAddr = "127.0.0.1:10911".parse().expect("address");
    MessageToStore {
        topic: "BenchTopic".into(),
        queue_id,
        flag: 0,
        body: body.clone(),
        properties,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn open_store(dir: &tempfile::TempDir, flush_mode: FlushMode) -> MessageStore {
    // Warm-up (writing the file's zeros and touching every page) makes mmap appends fast,
    // but measured here it halves a single appender's SYNC_FLUSH rate (every msync then waits
    // on writeback of the warm-up), so the SYNC_FLUSH runs use cold files, like the msync loop.
    // PETREL_BENCH_WARM=on|off overrides it for experiments.
    let warm_up = match std::env::var("PETREL_BENCH_WARM").as_deref() {
        Ok("on") => true,
        Ok("off") => false,
        _ => flush_mode != FlushMode::Sync,
    };
    let options = MmapOptions { warm_up };
    let disk: DiskRef = Arc::new(MmapDisk::new(dir.path().to_path_buf(), options));
    let config = StoreConfig { flush_mode, index_enabled: false, ..StoreConfig::default() };
    MessageStore::open(disk, config).expect("store opens").0
}

fn async_appends() {
    let dir = tempfile::tempdir_in(bench_root()).expect("temp dir");
    let mut store = open_store(&dir, FlushMode::Async(Default::default()));
    let body = Bytes::from(vec![b'x'; BODY_BYTES]);
    let messages: Vec<MessageToStore> = (0..16).map(|q| message(q, &body)).collect();
    // The service's allocator creates (and warms) each next CommitLog file in the background
    // before it is needed; here that happens between timed stretches, each half a file long.
    store.put_messages(&messages[..1], 1).expect("put");
    let (mut elapsed, mut done, mut create_time) = (Duration::ZERO, 0u64, Duration::ZERO);
    while done < ASYNC_MESSAGES {
        if let Some((base, path, size)) = store.commit_log_file_wanted() {
            let creating = Instant::now();
            drop(store.disk().create_warm(&path, size).expect("create next file"));
            assert!(store.publish_commit_log_file(base, &path).expect("publish"));
            create_time += creating.elapsed();
        }
        let started = Instant::now();
        let stretch = (ASYNC_MESSAGES - done).min(200_000);
        for n in done..done + stretch {
            store.put_messages(&messages[(n % 16) as usize..][..1], 1).expect("put");
        }
        elapsed += started.elapsed();
        done += stretch;
    }
    println!(
        "async-flush: creating and warming CommitLog files took {create_time:.2?} (background work in the service)"
    );
    let rate = ASYNC_MESSAGES as f64 / elapsed.as_secs_f64();
    let bytes = store.commit_log_max_offset().0 as f64 / elapsed.as_secs_f64() / (1 << 20) as f64;
    println!("async-flush appends: {ASYNC_MESSAGES} x {BODY_BYTES} B in {elapsed:.2?}: {rate:.0} msg/s ({bytes:.0} MiB/s of records)");
}

fn msync_baseline(batch: u64) -> f64 {
    let dir = tempfile::tempdir_in(bench_root()).expect("temp dir");
    let path = dir.path().join("baseline");
    let file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).expect("open");
    let len = 1u64 << 30;
    file.set_len(len).expect("set_len");
    // SAFETY: the file is private to this benchmark and not resized while mapped.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.expect("map");
    for page in (0..len as usize).step_by(4096) {
        map[page] = 0;
    }
    let record = vec![b'y'; BODY_BYTES + 150];
    let started = Instant::now();
    let (mut written, mut synced_from, mut count) = (0usize, 0usize, 0u64);
    while started.elapsed() < SYNC_RUN && written + record.len() * batch as usize <= len as usize {
        for _ in 0..batch {
            map[written..written + record.len()].copy_from_slice(&record);
            written += record.len();
            count += 1;
        }
        let from = synced_from - synced_from % 4096;
        map.flush_range(from, written - from).expect("msync");
        synced_from = written;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Returns msg/s and the mean number of puts each sync released.
fn sync_group_commit(appenders: u64) -> (f64, f64) {
    let dir = tempfile::tempdir_in(bench_root()).expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let mut store = open_store(&dir, FlushMode::Sync);
        let body = Bytes::from(vec![b'z'; BODY_BYTES]);
        // The first put creates and warms the first CommitLog file: not part of the timing.
        store.put_messages(&[message(0, &body)], 1).expect("put");
        let service = StoreService::start(store);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for appender in 0..appenders {
            let service = service.clone();
            let batch = [message((appender % 16) as i32, &body)];
            tasks.push(tokio::spawn(async move {
                let mut done = 0u64;
                while started.elapsed() < SYNC_RUN {
                    let outcome = service.put_messages(&batch).await.expect("put");
                    assert!(!outcome.flush_timed_out);
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("appender");
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        let stats = service.group_commit_stats();
        service.shutdown().await.expect("shutdown");
        (rate, stats.puts as f64 / stats.syncs.max(1) as f64)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let only = |part: &str| args.iter().skip(1).all(|a| a.starts_with('-')) || args.iter().any(|a| a == part);
    if only("async") {
        async_appends();
    }
    let batches: Vec<u64> = args.iter().filter_map(|a| a.strip_prefix("batch=")?.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![1, 16, 64] } else { batches };
    for batch in batches.into_iter().filter(|_| only("sync")) {
        let baseline = msync_baseline(batch);
        let (petrel, group) = sync_group_commit(batch);
        let same_group = msync_baseline(group.round().max(1.0) as u64);
        println!(
            "sync-flush, {batch:>2} appenders: Petrel {petrel:>8.0} msg/s, mean group {group:.1} puts/sync | msync loop every {batch:>2}: {baseline:>8.0} msg/s ({:.0}%) | every {:.0} (Petrel's mean group): {same_group:>8.0} msg/s ({:.0}%)",
            petrel / baseline * 100.0,
            group.round().max(1.0),
            petrel / same_group * 100.0
        );
    }
}
