//! `SimDisk` through the `Disk` seam: the crash model, fault injection, capacity, stalls and
//! memory use, plus a property test of power loss against a byte-level model.

use std::collections::BTreeSet;
use std::time::Duration;

use petrel_core::store::disk::{Disk, DiskError, DiskOp, FileRef};
use petrel_sim::disk::{Corruption, CrashKind, FaultConfig, PowerLossWeights, SimDisk, SimDiskConfig};
use proptest::prelude::*;

const PAGE: u64 = 4096;

fn disk_with(config: SimDiskConfig) -> SimDisk {
    SimDisk::new(config).expect("valid config")
}

fn weights(written_back: u32, lost: u32, torn: u32) -> PowerLossWeights {
    PowerLossWeights { written_back, lost, torn }
}

fn read_all_of(file: &FileRef) -> Vec<u8> {
    file.read_at(0, file.len() as usize).expect("read").to_vec()
}

fn is_stale(err: &DiskError) -> bool {
    matches!(err, DiskError::Io { detail, .. } if detail.starts_with("stale handle"))
}

fn is_injected(err: &DiskError) -> bool {
    matches!(err, DiskError::Io { detail, .. } if detail.starts_with("injected EIO"))
}

/// A process kill keeps unsynced writes (the OS page cache survives), and they stay dirty.
#[test]
fn process_kill_keeps_unsynced_writes() {
    let disk = SimDisk::with_seed(1);
    let file = disk.create("commitlog/0", 2 * PAGE).expect("create");
    file.write_at(10, b"unsynced").expect("write");
    assert_eq!(disk.crash(CrashKind::ProcessKill), Default::default());
    let file = disk.open("commitlog/0").expect("reopen");
    assert_eq!(file.read_at(10, 8).expect("read").as_ref(), b"unsynced");
    assert_eq!(disk.dirty_bytes(), PAGE, "still not durable");
    assert_eq!(disk.durable_snapshot("commitlog/0").expect("exists")[10..18], [0; 8]);
}

/// Whatever a power loss does to unsynced pages, synced data comes back exactly.
#[test]
fn power_loss_keeps_synced_data_exactly() {
    for seed in 0..20 {
        let disk = SimDisk::with_seed(seed);
        let file = disk.create("f", 4 * PAGE).expect("create");
        file.write_at(0, &[7; 2 * PAGE as usize]).expect("write");
        file.sync_range(0, 2 * PAGE).expect("sync");
        file.write_at(2 * PAGE, &[9; 2 * PAGE as usize]).expect("write, not synced");
        disk.crash(CrashKind::PowerLoss);
        let file = disk.open("f").expect("reopen");
        assert_eq!(file.read_at(0, 2 * PAGE as usize).expect("read").as_ref(), &[7; 2 * PAGE as usize][..]);
        assert_eq!(disk.dirty_bytes(), 0);
        assert_eq!(disk.cache_snapshot("f"), disk.durable_snapshot("f"), "cache = durable after power loss");
    }
}

/// Content of a 16-page file whose synced content 0xAA was overwritten with 0xBB, unsynced, after
/// a power loss on a disk seeded with `seed`.
fn after_power_loss(seed: u64, fates: PowerLossWeights) -> Vec<u8> {
    let disk = disk_with(SimDiskConfig { seed, power_loss: fates, ..SimDiskConfig::default() });
    let file = disk.create("f", 16 * PAGE).expect("create");
    file.write_at(0, &[0xAA; 16 * PAGE as usize]).expect("write");
    file.sync_all().expect("sync");
    file.write_at(0, &[0xBB; 16 * PAGE as usize]).expect("overwrite");
    disk.crash(CrashKind::PowerLoss);
    read_all_of(&disk.open("f").expect("reopen"))
}

/// A power loss is a function of the seed: the same seed tears the same way, another seed
/// differently.
#[test]
fn power_loss_is_reproducible_from_the_seed() {
    let any = weights(1, 1, 1);
    assert_eq!(after_power_loss(42, any), after_power_loss(42, any));
    let torn = weights(0, 0, 1);
    assert_eq!(after_power_loss(42, torn), after_power_loss(42, torn));
    assert_ne!(after_power_loss(42, torn), after_power_loss(43, torn));
}

/// Torn pages mix old and new content at sector granularity, never within a sector.
#[test]
fn torn_pages_mix_whole_sectors_only() {
    for sector in [512u64, 1024, 4096] {
        let config = SimDiskConfig {
            seed: 5,
            sector_size_bytes: sector,
            power_loss: weights(0, 0, 1),
            ..SimDiskConfig::default()
        };
        let disk = disk_with(config);
        let file = disk.create("f", 8 * PAGE).expect("create");
        file.write_at(0, &[0xAA; 8 * PAGE as usize]).expect("write");
        file.sync_all().expect("sync");
        file.write_at(0, &[0xBB; 8 * PAGE as usize]).expect("overwrite");
        let fates = disk.crash(CrashKind::PowerLoss);
        assert_eq!(fates.torn, 8);
        let bytes = read_all_of(&disk.open("f").expect("reopen"));
        let mut seen = BTreeSet::new();
        for chunk in bytes.chunks(sector as usize) {
            assert!(chunk.iter().all(|b| *b == chunk[0]), "a sector of {sector} bytes is whole");
            seen.insert(chunk[0]);
        }
        if sector < PAGE {
            assert_eq!(seen, BTreeSet::from([0xAA, 0xBB]), "torn pages hold both");
        }
    }
}

/// The three fates each happen under their own weight.
#[test]
fn power_loss_weights_select_the_fate() {
    assert_eq!(after_power_loss(3, weights(1, 0, 0)), vec![0xBB; 16 * PAGE as usize]);
    assert_eq!(after_power_loss(3, weights(0, 1, 0)), vec![0xAA; 16 * PAGE as usize]);
}

/// After any crash, handles from before it fail every operation; a reopened handle works.
#[test]
fn handles_from_before_a_crash_are_stale() {
    for kind in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        let disk = SimDisk::with_seed(9);
        let file = disk.create("f", PAGE).expect("create");
        disk.crash(kind);
        assert_eq!(disk.epoch(), 1);
        assert!(is_stale(&file.write_at(0, b"x").expect_err("write")));
        assert!(is_stale(&file.read_at(0, 1).expect_err("read")));
        assert!(is_stale(&file.sync_all().expect_err("sync")));
        let again = disk.open("f").expect("reopen");
        again.write_at(0, b"x").expect("write through a fresh handle");
        drop(file);
        assert_eq!(again.read_at(0, 1).expect("read").as_ref(), b"x");
    }
}

/// Probabilistic read errors fail about the configured share of reads, the same ones for the
/// same seed.
#[test]
fn probabilistic_read_errors_are_seeded() {
    let pattern = |seed| {
        let disk = SimDisk::with_seed(seed);
        let file = disk.create("f", PAGE).expect("create");
        disk.set_faults(FaultConfig { read_eio_probability: 0.5, ..FaultConfig::default() }).expect("faults");
        let failed: Vec<bool> = (0..400).map(|_| file.read_at(0, 1).is_err()).collect();
        assert_eq!(disk.counters().injected_faults, failed.iter().filter(|f| **f).count() as u64);
        failed
    };
    let first = pattern(11);
    let failures = first.iter().filter(|f| **f).count();
    assert!((120..=280).contains(&failures), "{failures} of 400");
    assert_eq!(first, pattern(11));
    assert_ne!(first, pattern(12));
}

/// A failed write changes nothing; a failed sync leaves its pages dirty, so a power loss may
/// still lose them.
#[test]
fn failed_writes_change_nothing_and_failed_syncs_stay_dirty() {
    let disk = disk_with(SimDiskConfig { power_loss: weights(0, 1, 0), ..SimDiskConfig::default() });
    let file = disk.create("f", PAGE).expect("create");
    disk.set_faults(FaultConfig { write_eio_probability: 1.0, ..FaultConfig::default() }).expect("faults");
    assert!(is_injected(&file.write_at(0, b"lost").expect_err("write")));
    assert_eq!(file.read_at(0, 4).expect("read").as_ref(), &[0; 4]);
    assert_eq!(disk.dirty_bytes(), 0);
    let faults = FaultConfig { sync_eio_probability: 1.0, ..FaultConfig::default() };
    disk.set_faults(faults).expect("faults");
    file.write_at(0, b"data").expect("write");
    assert!(is_injected(&file.sync_all().expect_err("sync")));
    assert_eq!(disk.dirty_bytes(), PAGE);
    disk.crash(CrashKind::PowerLoss);
    assert_eq!(disk.durable_snapshot("f").expect("exists")[..4], [0; 4]);
}

/// `fail_next` fails exactly the next `count` matching operations, only on matching paths.
#[test]
fn fail_next_is_one_shot_and_targeted() {
    let disk = SimDisk::with_seed(0);
    let log = disk.create("commitlog/0", PAGE).expect("create");
    let config = disk.create("config/x", PAGE).expect("create");
    disk.fail_next(DiskOp::Write, Some("commitlog/".to_string()), 2);
    config.write_at(0, b"ok").expect("other prefix unaffected");
    assert!(is_injected(&log.write_at(0, b"a").expect_err("first")));
    assert!(is_injected(&log.write_at(0, b"a").expect_err("second")));
    log.write_at(0, b"a").expect("third succeeds");
    disk.fail_next(DiskOp::Open, None, 1);
    assert!(is_injected(&disk.open("config/x").err().expect("open fails")));
    disk.open("config/x").expect("then opens");
    disk.fail_next(DiskOp::List, None, 1);
    assert!(is_injected(&disk.list("commitlog").expect_err("list fails")));
    assert_eq!(disk.counters().injected_faults, 4);
}

/// A full device refuses new files with `NoSpace`; removing one frees its space.
#[test]
fn capacity_runs_out_with_no_space() {
    let disk = disk_with(SimDiskConfig { capacity_bytes: Some(10_000), ..SimDiskConfig::default() });
    disk.create("a", 8_000).expect("fits");
    let err = disk.create("b", 4_000).err().expect("does not fit");
    assert_eq!(err, DiskError::NoSpace { path: "b".into(), op: DiskOp::Create });
    assert_eq!(disk.file_names(), vec!["a".to_string()], "a failed create leaves nothing");
    disk.remove("a").expect("remove");
    disk.create("b", 4_000).expect("fits now");
    disk.set_capacity(Some(0));
    let err = disk.replace_atomic("meta", b"x").expect_err("full");
    assert_eq!(err, DiskError::NoSpace { path: "meta".into(), op: DiskOp::Replace });
    disk.set_capacity(None);
    disk.replace_atomic("meta", b"x").expect("unlimited again");
    assert_eq!(disk.allocated_bytes(), 4_001);
}

/// `replace_atomic` is all or nothing: a failed sync keeps the old content, also after power
/// loss; a successful one is durable on return.
#[test]
fn replace_atomic_is_atomic_under_sync_failure() {
    let disk = SimDisk::with_seed(2);
    disk.replace_atomic("config/offsets.json", b"version 1").expect("replace");
    disk.fail_next(DiskOp::Sync, None, 1);
    assert!(is_injected(&disk.replace_atomic("config/offsets.json", b"version 2!").expect_err("fails")));
    let old = disk.read_all("config/offsets.json").expect("read").expect("exists");
    assert_eq!(old.as_ref(), b"version 1");
    disk.crash(CrashKind::PowerLoss);
    assert_eq!(disk.durable_snapshot("config/offsets.json").expect("exists"), b"version 1");
    disk.replace_atomic("config/offsets.json", b"version 2!").expect("replace");
    disk.crash(CrashKind::PowerLoss);
    let new = disk.read_all("config/offsets.json").expect("read").expect("exists");
    assert_eq!(new.as_ref(), b"version 2!");
    assert_eq!(disk.read_all("config/missing").expect("read"), None);
}

/// Latencies accumulate into one stall that `take_stall` drains.
#[test]
fn stalls_accumulate_until_taken() {
    let disk = SimDisk::with_seed(4);
    let file = disk.create("f", PAGE).expect("create");
    let faults = FaultConfig {
        read_latency: Duration::from_millis(1),
        write_latency: Duration::from_millis(2),
        sync_latency_min: Duration::from_millis(5),
        sync_latency_max: Duration::from_millis(5),
        ..FaultConfig::default()
    };
    disk.set_faults(faults).expect("faults");
    file.write_at(0, b"x").expect("write");
    file.read_at(0, 1).expect("read");
    file.sync_all().expect("sync");
    assert_eq!(disk.take_stall(), Duration::from_millis(8));
    assert_eq!(disk.take_stall(), Duration::ZERO);
    let ranged = FaultConfig {
        sync_latency_min: Duration::from_millis(1),
        sync_latency_max: Duration::from_millis(10),
        ..FaultConfig::default()
    };
    disk.set_faults(ranged).expect("faults");
    for _ in 0..50 {
        file.sync_all().expect("sync");
        let stall = disk.take_stall();
        assert!(stall >= Duration::from_millis(1) && stall <= Duration::from_millis(10), "{stall:?}");
    }
    assert!(disk.set_faults(FaultConfig { read_eio_probability: 2.0, ..FaultConfig::default() }).is_err());
}

/// A 1 GiB file costs only the pages written, and syncing shares rather than copies them.
#[test]
fn memory_is_sparse() {
    let disk = SimDisk::with_seed(0);
    let file = disk.create("commitlog/00000000000000000000", 1 << 30).expect("create");
    assert_eq!(disk.resident_bytes(), 0);
    file.write_at((1 << 30) - 1, b"x").expect("write the last byte");
    assert_eq!(disk.resident_bytes(), PAGE);
    assert_eq!(disk.dirty_bytes(), PAGE);
    file.sync_all().expect("sync");
    assert_eq!((disk.resident_bytes(), disk.dirty_bytes()), (PAGE, 0));
    assert_eq!(file.read_at((1 << 30) - 2, 2).expect("read").as_ref(), b"\0x");
}

/// A removed file stays usable through open handles and is freed when the last one drops.
#[test]
fn remove_keeps_open_handles_usable() {
    let disk = SimDisk::with_seed(0);
    let file = disk.create("dir/f", PAGE).expect("create");
    file.write_at(0, b"kept").expect("write");
    disk.remove("dir/f").expect("remove");
    assert_eq!(disk.open("dir/f").err(), Some(DiskError::NotFound { path: "dir/f".into() }));
    assert_eq!(disk.list("dir").expect("list"), Vec::<String>::new());
    assert_eq!(file.read_at(0, 4).expect("read").as_ref(), b"kept");
    assert_eq!(disk.allocated_bytes(), PAGE, "still held");
    drop(file);
    assert_eq!(disk.allocated_bytes(), 0, "freed with the last handle");
}

/// `list` names the files and subdirectories directly inside a directory, sorted; a directory
/// exists while a file lives below it; the namespace rejects
/// collisions between files and directories as the real disk does.
#[test]
fn list_and_namespace_rules() {
    let disk = SimDisk::with_seed(0);
    assert_eq!(disk.list("commitlog").expect("missing dir"), Vec::<String>::new());
    for name in ["commitlog/00000000000000001024", "commitlog/00000000000000000000", "commitlog/sub/x", "top"] {
        disk.create(name, 16).expect("create");
    }
    let names = disk.list("commitlog").expect("list");
    assert_eq!(names, ["00000000000000000000", "00000000000000001024", "sub"]);
    assert_eq!(disk.list("").expect("root"), ["commitlog", "top"]);
    disk.create("q/b-x", 1).expect("create");
    disk.create("q/b/c", 1).expect("create");
    disk.create("q/b/d", 1).expect("create");
    assert_eq!(disk.list("q").expect("list"), ["b", "b-x"], "sorted bytewise, directories once");
    disk.remove("commitlog/sub/x").expect("remove");
    assert_eq!(disk.list("commitlog").expect("list").len(), 2, "an emptied directory disappears");
    assert_eq!(disk.create("commitlog", 1).err(), Some(DiskError::AlreadyExists { path: "commitlog".into() }));
    assert!(matches!(disk.create("top/x", 1), Err(DiskError::Io { .. })), "parent is a file");
    assert_eq!(disk.open("commitlog").err(), Some(DiskError::NotFound { path: "commitlog".into() }));
    for bad in ["../x", "/abs", "a//b", "x.tmp", ""] {
        let err = disk.create(bad, 1).err().expect("invalid");
        assert!(matches!(&err, DiskError::Io { detail, .. } if detail.starts_with("invalid path")), "{bad:?}");
    }
}

/// Corruption flips bits in both images: no sync or crash repairs it.
#[test]
fn corruption_reaches_both_images() {
    let disk = SimDisk::with_seed(0);
    let file = disk.create("f", PAGE).expect("create");
    file.write_at(0, &[0x10; 64]).expect("write");
    file.sync_all().expect("sync");
    disk.corrupt("f", 3, Corruption::FlipBits { mask: 0x01 }).expect("flip");
    disk.corrupt("f", 10, Corruption::Garbage { len: 20 }).expect("garbage");
    let bytes = file.read_at(0, 64).expect("read").to_vec();
    assert_eq!(bytes[3], 0x11);
    assert!(bytes[10..30].iter().all(|b| *b != 0x10), "every garbage byte changed");
    assert_eq!(disk.dirty_bytes(), 0, "corruption is not a write");
    disk.crash(CrashKind::PowerLoss);
    assert_eq!(disk.durable_snapshot("f").expect("exists")[..64], bytes[..]);
    assert!(matches!(disk.corrupt("f", PAGE, Corruption::FlipBits { mask: 1 }), Err(DiskError::OutOfBounds { .. })));
}

/// Out-of-range accesses fail with `OutOfBounds` before any fault is drawn.
#[test]
fn out_of_range_accesses_are_rejected() {
    let disk = SimDisk::with_seed(0);
    let file = disk.create("f", 100).expect("create");
    disk.fail_next(DiskOp::Write, None, 1);
    let err = file.write_at(98, b"abc").expect_err("past the end");
    assert_eq!(err, DiskError::OutOfBounds { path: "f".into(), op: DiskOp::Write, offset: 98, len: 3, file_len: 100 });
    assert!(matches!(file.read_at(u64::MAX, 2), Err(DiskError::OutOfBounds { .. })));
    assert!(matches!(file.sync_range(50, 51), Err(DiskError::OutOfBounds { .. })));
    assert!(is_injected(&file.write_at(0, b"a").expect_err("the armed fault is still there")));
}

/// One operation on the single file of the property test.
#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, len: u64, value: u8 },
    Sync { offset: u64, len: u64 },
    FailedSync { offset: u64, len: u64 },
    Crash(CrashKind),
}

/// Length of the property test's file: eight 64-byte pages of eight 8-byte sectors.
const MODEL_FILE_LEN: u64 = 512;

fn op_strategy() -> impl Strategy<Value = Op> {
    let range = (0..MODEL_FILE_LEN).prop_flat_map(|offset| (Just(offset), 0..=MODEL_FILE_LEN - offset));
    prop_oneof![
        4 => (range.clone(), any::<u8>()).prop_map(|((offset, len), value)| Op::Write { offset, len, value }),
        2 => range.clone().prop_map(|(offset, len)| Op::Sync { offset, len }),
        1 => range.prop_map(|(offset, len)| Op::FailedSync { offset, len }),
        1 => Just(Op::Crash(CrashKind::ProcessKill)),
        1 => Just(Op::Crash(CrashKind::PowerLoss)),
    ]
}

/// What the property test knows about each byte.
struct Model {
    /// The last value written (what reads must see).
    current: Vec<u8>,
    /// Values the byte may hold after a power loss: the value at its last covering sync and
    /// every value written since.
    candidates: Vec<BTreeSet<u8>>,
    /// `Some(v)` if a sync covered the byte since its last write: a power loss must leave `v`.
    exact: Vec<Option<u8>>,
}

impl Model {
    fn new(len: usize) -> Model {
        Model { current: vec![0; len], candidates: vec![BTreeSet::from([0]); len], exact: vec![Some(0); len] }
    }

    fn settle(&mut self, observed: &[u8]) {
        for (i, value) in observed.iter().enumerate() {
            prop_assert_model(self.candidates[i].contains(value), i, *value, &self.candidates[i]);
            if let Some(exact) = self.exact[i] {
                assert_eq!(*value, exact, "byte {i} was synced since its last write");
            }
            self.current[i] = *value;
            self.candidates[i] = BTreeSet::from([*value]);
            self.exact[i] = Some(*value);
        }
    }
}

fn prop_assert_model(ok: bool, index: usize, value: u8, candidates: &BTreeSet<u8>) {
    assert!(ok, "byte {index} = {value} after power loss, expected one of {candidates:?}");
}

/// Applies `ops` to a disk and the model; panics on the first disagreement.
fn run_model(seed: u64, ops: &[Op]) {
    let config = SimDiskConfig { seed, page_size_bytes: 64, sector_size_bytes: 8, ..SimDiskConfig::default() };
    let disk = disk_with(config);
    let mut file = disk.create("f", MODEL_FILE_LEN).expect("create");
    let mut model = Model::new(MODEL_FILE_LEN as usize);
    for op in ops {
        match *op {
            Op::Write { offset, len, value } => {
                file.write_at(offset, &vec![value; len as usize]).expect("write");
                for i in offset as usize..(offset + len) as usize {
                    model.current[i] = value;
                    model.candidates[i].insert(value);
                    model.exact[i] = None;
                }
            }
            Op::Sync { offset, len } => {
                file.sync_range(offset, len).expect("sync");
                for i in offset as usize..(offset + len) as usize {
                    model.candidates[i] = BTreeSet::from([model.current[i]]);
                    model.exact[i] = Some(model.current[i]);
                }
            }
            Op::FailedSync { offset, len } => {
                disk.fail_next(DiskOp::Sync, None, 1);
                file.sync_range(offset, len).expect_err("injected");
            }
            Op::Crash(kind) => {
                disk.crash(kind);
                file = disk.open("f").expect("reopen");
                if kind == CrashKind::PowerLoss {
                    model.settle(&read_all_of(&file));
                }
            }
        }
        assert_eq!(read_all_of(&file), model.current, "reads see the last writes");
        let durable = disk.durable_snapshot("f").expect("exists");
        for (i, value) in durable.iter().enumerate() {
            prop_assert_model(model.candidates[i].contains(value), i, *value, &model.candidates[i]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After a power loss every byte is its synced value or a value written since, and every
    /// byte synced since its last write is exactly that write; reads always see the last write.
    #[test]
    fn power_loss_matches_the_byte_model(seed in any::<u64>(), ops in prop::collection::vec(op_strategy(), 1..40)) {
        run_model(seed, &ops);
    }
}
