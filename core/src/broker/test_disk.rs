//! `MetadataDisk`: just enough of a disk for the broker's metadata files in unit tests: whole
//! small files, a count of the replaces, and a switch that makes every replace fail.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::store::disk::{Disk, DiskError, DiskOp, FileRef};

/// A disk of small whole files only.
#[derive(Default)]
pub(crate) struct MetadataDisk {
    /// Path -> content of every file written.
    files: Mutex<BTreeMap<String, Bytes>>,
    /// When true, `replace_atomic` fails as a full device would.
    full: Mutex<bool>,
    /// Successful `replace_atomic` calls so far.
    replaces: Mutex<usize>,
}

impl MetadataDisk {
    fn unsupported(path: &str, op: DiskOp) -> DiskError {
        DiskError::Io { path: path.to_owned(), op, detail: "not supported by the metadata test disk".to_owned() }
    }

    /// The content of `path`, if it was written.
    pub(crate) fn file(&self, path: &str) -> Option<Bytes> {
        self.files.lock().expect("unpoisoned").get(path).cloned()
    }

    /// Makes every later `replace_atomic` fail with NoSpace (`true`) or succeed (`false`).
    pub(crate) fn set_full(&self, full: bool) {
        *self.full.lock().expect("unpoisoned") = full;
    }

    /// How many `replace_atomic` calls succeeded.
    pub(crate) fn replaces(&self) -> usize {
        *self.replaces.lock().expect("unpoisoned")
    }
}

impl Disk for MetadataDisk {
    fn create(&self, path: &str, _len: u64) -> Result<FileRef, DiskError> {
        Err(Self::unsupported(path, DiskOp::Create))
    }

    fn open(&self, path: &str) -> Result<FileRef, DiskError> {
        Err(Self::unsupported(path, DiskOp::Open))
    }

    fn list(&self, _dir: &str) -> Result<Vec<String>, DiskError> {
        Ok(Vec::new())
    }

    fn remove(&self, path: &str) -> Result<(), DiskError> {
        Err(Self::unsupported(path, DiskOp::Remove))
    }

    fn rename(&self, from: &str, _to: &str) -> Result<(), DiskError> {
        Err(Self::unsupported(from, DiskOp::Rename))
    }

    fn read_all(&self, path: &str) -> Result<Option<Bytes>, DiskError> {
        Ok(self.file(path))
    }

    fn replace_atomic(&self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        if *self.full.lock().expect("unpoisoned") {
            return Err(DiskError::NoSpace { path: path.to_owned(), op: DiskOp::Replace });
        }
        self.files.lock().expect("unpoisoned").insert(path.to_owned(), Bytes::copy_from_slice(data));
        *self.replaces.lock().expect("unpoisoned") += 1;
        Ok(())
    }
}
