//! Running the `petrel` binary as real processes: start a role and read the address it
//! announces, send it SIGTERM, wait for its exit status, run one-shot commands (`admin`,
//! `produce`). Shared by the real-process tests (`namesrv_process.rs`, `broker_process.rs`,
//! `admin_process.rs`).

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

/// Bound on polls for a process to exit.
pub const EXIT_POLLS_MAX: u32 = 200;
/// Pause between two such polls: a process has `EXIT_POLLS_MAX` times this to exit.
pub const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// `petrel --log-level warn ARGS` with nothing on stdin.
pub fn petrel(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_petrel"));
    command.args(["--log-level", "warn"]).args(args).stdin(Stdio::null());
    command
}

/// Runs `petrel ARGS` to its end; its exit code, stdout and stderr.
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let Output { status, stdout, stderr } = petrel(args).output().expect("petrel runs");
    (status.code(), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// A running `petrel` role; killed when dropped, so a failed test leaves no process behind.
pub struct Petrel {
    /// The process.
    pub child: Child,
    /// Its stdout, kept open so that the process never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// The address it announced.
    pub addr: SocketAddr,
}

impl Petrel {
    /// Starts `petrel ROLE ARGS` and waits for its announcement.
    pub fn start(role: &str, args: &[&str]) -> Petrel {
        let mut child =
            petrel(&[role]).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("petrel starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("stdout is readable");
        let announcement = format!("petrel {role} listening on ");
        let Some(addr) = line.trim_end().strip_prefix(&announcement) else {
            let status = child.wait();
            panic!("petrel announced {line:?} instead of its address; exit: {status:?}");
        };
        let addr = addr.parse().expect("the announced address parses");
        Petrel { child, _stdout: stdout, addr }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit, for `EXIT_POLLS_MAX` polls at most; `None` if it did not.
    pub async fn exit_status(&mut self) -> Option<ExitStatus> {
        for _ in 0..EXIT_POLLS_MAX {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return Some(status);
            }
            tokio::time::sleep(EXIT_POLL_INTERVAL).await;
        }
        None
    }
}

impl Drop for Petrel {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
