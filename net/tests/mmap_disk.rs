//! `MmapDisk` against real files in a temporary directory: the `Disk` contract as the storage
//! engine relies on it.

use petrel_core::store::disk::{Disk, DiskError, DiskOp};
use petrel_net::disk::{MmapDisk, MmapOptions};
use tempfile::TempDir;

fn disk(dir: &TempDir, warm_up: bool) -> MmapDisk {
    MmapDisk::new(dir.path().join("store"), MmapOptions { warm_up })
}

fn temp_dir() -> TempDir {
    TempDir::new().expect("temporary directory")
}

fn is_invalid_path(err: &DiskError) -> bool {
    matches!(err, DiskError::Io { detail, .. } if detail.starts_with("invalid path"))
}

/// Data written and synced through one handle is there, byte for byte, after every handle and
/// the disk itself were dropped and the file reopened; with and without warm-up.
#[test]
fn written_data_survives_reopen_with_and_without_warm_up() {
    for warm_up in [false, true] {
        let dir = temp_dir();
        {
            let disk = disk(&dir, warm_up);
            let file = disk.create_warm("commitlog/00000000000000000000", 3 * 4096 + 100).expect("create");
            assert_eq!(file.len(), 3 * 4096 + 100);
            assert_eq!(file.read_at(0, 8).expect("read").as_ref(), &[0u8; 8], "new files read as zeros");
            file.write_at(4090, b"hello, petrel").expect("write across a page boundary");
            file.write_at(3 * 4096 + 95, b"tail!").expect("write up to the last byte");
            file.sync_range(4090, 13).expect("sync");
            file.sync_all().expect("sync all");
        }
        let disk = disk(&dir, warm_up);
        let file = disk.open("commitlog/00000000000000000000").expect("open");
        assert_eq!(file.len(), 3 * 4096 + 100);
        assert_eq!(file.read_at(4090, 13).expect("read").as_ref(), b"hello, petrel");
        assert_eq!(file.read_at(3 * 4096 + 95, 5).expect("read").as_ref(), b"tail!");
        assert_eq!(file.read_at(0, 4090).expect("read").as_ref(), vec![0u8; 4090].as_slice());
    }
}

/// `read_at` shares the map: two reads of adjacent ranges point into one contiguous region.
#[test]
fn read_at_is_zero_copy() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    let file = disk.create("f", 8192).expect("create");
    file.write_at(100, b"abcdefgh").expect("write");
    let first = file.read_at(100, 4).expect("read");
    let second = file.read_at(104, 4).expect("read");
    assert_eq!(second.as_ptr(), first.as_ptr().wrapping_add(4), "adjacent reads are adjacent in memory");
    let again = file.read_at(100, 4).expect("read");
    assert_eq!(again.as_ptr(), first.as_ptr(), "two reads of one range share memory");
    assert_eq!((first.as_ref(), second.as_ref()), (&b"abcd"[..], &b"efgh"[..]));
}

/// Accesses that reach past the end, or overflow, fail with `OutOfBounds` and change nothing.
#[test]
fn out_of_range_accesses_are_rejected() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    let file = disk.create("f", 100).expect("create");
    let err = file.write_at(98, b"abc").expect_err("write past the end");
    assert_eq!(err, DiskError::OutOfBounds { path: "f".into(), op: DiskOp::Write, offset: 98, len: 3, file_len: 100 });
    assert!(matches!(file.read_at(100, 1), Err(DiskError::OutOfBounds { op: DiskOp::Read, .. })));
    assert!(matches!(file.read_at(u64::MAX, 2), Err(DiskError::OutOfBounds { .. })));
    assert!(matches!(file.sync_range(50, 51), Err(DiskError::OutOfBounds { op: DiskOp::Sync, .. })));
    assert_eq!(file.read_at(100, 0).expect("empty read at the end").len(), 0);
    assert_eq!(file.read_at(0, 100).expect("read").as_ref(), &[0u8; 100][..]);
}

/// Creating an existing file fails, opening a missing one fails, and a zero-length file works.
#[test]
fn create_and_open_report_existing_and_missing_files() {
    let dir = temp_dir();
    let disk = disk(&dir, true);
    disk.create("a/b", 10).expect("create");
    assert_eq!(disk.create("a/b", 10).err(), Some(DiskError::AlreadyExists { path: "a/b".into() }));
    assert_eq!(disk.create("a", 10).err(), Some(DiskError::AlreadyExists { path: "a".into() }), "a directory");
    assert_eq!(disk.open("a/c").err(), Some(DiskError::NotFound { path: "a/c".into() }));
    assert_eq!(disk.open("a").err(), Some(DiskError::NotFound { path: "a".into() }), "a directory");
    assert!(matches!(disk.create("a/b/c", 10), Err(DiskError::Io { .. })), "parent is a file");
    let empty = disk.create("empty", 0).expect("zero-length file");
    assert_eq!(empty.read_at(0, 0).expect("read").len(), 0);
    empty.sync_all().expect("sync of nothing");
}

/// `list` gives the sorted names of files and subdirectories directly inside a directory,
/// without temporary files; a missing directory lists as empty; `remove` deletes and prunes the
/// directories it empties.
#[test]
fn list_and_remove() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    assert_eq!(disk.list("commitlog").expect("list missing"), Vec::<String>::new());
    for name in ["commitlog/00000000000000001024", "commitlog/00000000000000000000", "commitlog/sub/x"] {
        disk.create(name, 16).expect("create");
    }
    std::fs::write(dir.path().join("store/commitlog/leftover.tmp"), b"x").expect("plant a leftover");
    let names = disk.list("commitlog").expect("list");
    assert_eq!(names, ["00000000000000000000", "00000000000000001024", "sub"]);
    assert_eq!(disk.list("").expect("list root"), ["commitlog"]);
    disk.create("q/b-x", 1).expect("create");
    disk.create("q/b/c", 1).expect("create");
    assert_eq!(disk.list("q").expect("list"), ["b", "b-x"], "sorted bytewise");
    disk.remove("commitlog/00000000000000000000").expect("remove");
    assert_eq!(disk.list("commitlog").expect("list"), ["00000000000000001024", "sub"]);
    disk.remove("commitlog/sub/x").expect("remove");
    assert_eq!(disk.list("commitlog").expect("list"), ["00000000000000001024"], "emptied directory pruned");
    assert!(!dir.path().join("store/commitlog/sub").exists());
    disk.remove("q/b/c").expect("remove");
    disk.remove("q/b-x").expect("remove");
    assert_eq!(disk.list("").expect("list root"), ["commitlog"], "pruned up to the root");
    assert!(dir.path().join("store").is_dir(), "the root itself stays");
    assert_eq!(
        disk.remove("commitlog/00000000000000000000").err(),
        Some(DiskError::NotFound { path: "commitlog/00000000000000000000".into() })
    );
}

/// A removed file's handle and the `Bytes` read from it stay readable: the map outlives the
/// directory entry.
#[test]
fn remove_keeps_live_handles_and_bytes_readable() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    let file = disk.create("old", 4096).expect("create");
    file.write_at(0, b"still here").expect("write");
    let bytes = file.read_at(0, 10).expect("read");
    disk.remove("old").expect("remove");
    assert_eq!(disk.open("old").err(), Some(DiskError::NotFound { path: "old".into() }));
    assert_eq!(file.read_at(0, 10).expect("read after remove").as_ref(), b"still here");
    drop(file);
    assert_eq!(bytes.as_ref(), b"still here", "Bytes outlives the handle and the file");
}

/// `replace_atomic` replaces whole content, creates parents, and `read_all` sees it; a missing
/// file reads as `None`.
#[test]
fn replace_atomic_and_read_all() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    assert_eq!(disk.read_all("config/topics.json").expect("read missing"), None);
    disk.replace_atomic("config/topics.json", b"{\"version\":1,\"long\":\"content\"}").expect("replace");
    disk.replace_atomic("config/topics.json", b"{\"version\":2}").expect("replace again");
    let content = disk.read_all("config/topics.json").expect("read").expect("exists");
    assert_eq!(content.as_ref(), b"{\"version\":2}");
    assert_eq!(disk.list("config").expect("list"), vec!["topics.json".to_string()], "no .tmp left");
    assert!(!dir.path().join("store/config/topics.json.tmp").exists());
    disk.replace_atomic("config/empty", b"").expect("empty content");
    assert_eq!(disk.read_all("config/empty").expect("read").expect("exists").len(), 0);
}

/// No path can leave the root: absolute paths, `..` and empty components are rejected with a
/// typed error for every operation, and nothing is created outside the root.
#[test]
fn paths_cannot_escape_the_root() {
    let dir = temp_dir();
    let disk = disk(&dir, false);
    for bad in ["../escape", "/tmp/escape", "a/../../escape", "a//b", "", "a/./b", "x.tmp"] {
        assert!(is_invalid_path(&disk.create(bad, 1).err().expect("create")), "create {bad:?}");
        assert!(is_invalid_path(&disk.open(bad).err().expect("open")), "open {bad:?}");
        assert!(is_invalid_path(&disk.remove(bad).expect_err("remove")), "remove {bad:?}");
        assert!(is_invalid_path(&disk.read_all(bad).expect_err("read_all")), "read_all {bad:?}");
        assert!(is_invalid_path(&disk.replace_atomic(bad, b"x").expect_err("replace")), "replace {bad:?}");
    }
    assert!(is_invalid_path(&disk.list("..").expect_err("list")));
    assert!(is_invalid_path(&disk.list("/").expect_err("list")));
    assert!(!dir.path().join("escape").exists());
}

/// Warm-up leaves a new file all zeros and fully usable, including a length that is not a
/// multiple of the page size.
#[test]
fn warm_up_keeps_new_files_zeroed() {
    let dir = temp_dir();
    let disk = disk(&dir, true);
    let len = (1 << 20) + 4096 * 3 + 17;
    let file = disk.create_warm("warm", len).expect("create");
    let all = file.read_at(0, len as usize).expect("read");
    assert!(all.iter().all(|b| *b == 0));
    file.write_at(len - 1, b"z").expect("write last byte");
    file.sync_all().expect("sync");
    assert_eq!(std::fs::metadata(dir.path().join("store/warm")).expect("stat").len(), len);
}
