//! The runner's console output: a reader that goes away early (`petrel-sim ... | head`) must not
//! make the runner panic; it loses the output and keeps its exit code.

use std::process::Command;

/// `petrel-sim list` with its stdout a pipe whose reading end is already closed: every write
/// fails with a broken pipe, and the runner still exits 0 without a panic.
#[test]
fn a_closed_stdout_does_not_panic_the_runner() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_petrel-sim"))
        .arg("list")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(writer)
        .output()
        .expect("petrel-sim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}
