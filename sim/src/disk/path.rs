//! Path helpers of the simulated disk. The path rules themselves are the seam's
//! (`petrel_core::store::disk::check_path`), shared with `MmapDisk`.

pub(super) use petrel_core::store::disk::{check_path, PathKind};

/// The proper ancestors of `path` (`a/b/c` -> `a`, `a/b`).
pub(super) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(at, _)| &path[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_core::store::disk::{DiskError, DiskOp};

    #[test]
    fn check_path_rejects_escapes_and_reserved_names() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/", "x.tmp", "a\0b"] {
            let err = check_path(bad, DiskOp::Create, PathKind::File).expect_err(bad);
            assert!(matches!(&err, DiskError::Io { detail, .. } if detail.starts_with("invalid path")));
        }
        for good in ["a", "commitlog/00000000000000000000", "config/topics.json", "x.tmp.bak"] {
            assert!(check_path(good, DiskOp::Create, PathKind::File).is_ok(), "{good}");
        }
        assert!(check_path("", DiskOp::List, PathKind::Dir).is_ok());
        assert!(check_path("..", DiskOp::List, PathKind::Dir).is_err());
    }

    #[test]
    fn ancestors_are_the_proper_prefixes() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
