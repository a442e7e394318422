//! Path rules of the simulated disk: the same as `petrel_net::disk::MmapDisk`'s, so that a bad
//! path fails in simulation exactly as in production.

use petrel_core::store::disk::{DiskError, DiskOp};

/// Suffix reserved for the real backend's `replace_atomic` temporary files.
const TMP_SUFFIX: &str = ".tmp";
/// Longest path accepted, in bytes.
const PATH_LEN_MAX_BYTES: usize = 1024;
/// Longest path component accepted, in bytes.
const NAME_LEN_MAX_BYTES: usize = 250;

/// Which kind of path [`check_path`] validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathKind {
    /// A file: non-empty, last component not ending in `.tmp`.
    File,
    /// A directory to list: may be empty (the root).
    Dir,
}

/// Rejects absolute paths, `.`/`..`/empty components, NUL bytes, overlong paths and the
/// reserved `.tmp` suffix, with `DiskError::Io` whose detail starts with `invalid path`.
pub(super) fn check_path(path: &str, op: DiskOp, kind: PathKind) -> Result<(), DiskError> {
    let invalid = |why: &str| {
        Err(DiskError::Io { path: path.to_string(), op, detail: format!("invalid path: {why}") })
    };
    if path.is_empty() {
        return if kind == PathKind::Dir { Ok(()) } else { invalid("empty") };
    }
    if path.len() > PATH_LEN_MAX_BYTES {
        return invalid("longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return invalid("absolute paths are not allowed");
    }
    for component in path.split('/') {
        match component {
            "" => return invalid("empty component"),
            "." | ".." => return invalid("`.` and `..` components are not allowed"),
            c if c.len() > NAME_LEN_MAX_BYTES => return invalid("component longer than 250 bytes"),
            c if c.contains('\0') => return invalid("NUL byte"),
            _ => {}
        }
    }
    if kind == PathKind::File && path.ends_with(TMP_SUFFIX) {
        return invalid("the `.tmp` suffix is reserved for replace_atomic");
    }
    Ok(())
}

/// The proper ancestors of `path` (`a/b/c` -> `a`, `a/b`).
pub(super) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(at, _)| &path[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

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
