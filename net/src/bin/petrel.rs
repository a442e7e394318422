//! `petrel`: Petrel's production entry point, one subcommand per role.
//!
//! - `petrel namesrv [--listen ADDR] [--config FILE]`: a name server (`NamesrvNode`). Prints
//!   `petrel namesrv listening on <addr>` on stdout once it listens (scripts and tests read the
//!   port from it), runs until SIGTERM or Ctrl-C, then shuts down cleanly.
//!
//! Configuration: a TOML file (`--config`) whose `[namesrv]` table may set `listen`; a
//! command-line flag overrides the file; `0.0.0.0:9876` (RocketMQ's port) when neither says.
//! Logs: structured, to stderr, as text or JSON lines (`--log-format`), filtered by
//! `--log-level` or else `RUST_LOG` (default `info`); stdout carries only the line above.
//!
//! Exit codes: 0 after a clean shutdown; 2 for a bad command line, a bad configuration file or
//! an address that cannot be listened on; 1 for any other failure.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::TransportError;
use serde::Deserialize;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Where a name server listens when neither the command line nor the file says: RocketMQ's
/// port, on every interface.
const NAMESRV_LISTEN_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9876);

/// The log filter when neither `--log-level` nor `RUST_LOG` gives one.
const LOG_FILTER_DEFAULT: &str = "info";

/// Exit code for a problem the operator must fix before a retry can work (usage, configuration,
/// address in use); clap uses the same code for a bad command line.
const EXIT_CONFIG: u8 = 2;

/// Exit code for any other failure.
const EXIT_FAILURE: u8 = 1;

/// Petrel: a RocketMQ-4.x-compatible messaging system.
#[derive(Debug, Parser)]
#[command(name = "petrel", version)]
struct Cli {
    /// Format of the log lines written to stderr.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Log filter (`info`, `debug`, `petrel_net=debug,warn`, ...); overrides `RUST_LOG`.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    /// The role to run.
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The roles `petrel` runs.
#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a name server: brokers register their routes with it, clients look them up.
    Namesrv(NamesrvArgs),
}

/// `petrel namesrv`'s options.
#[derive(Debug, Args)]
struct NamesrvArgs {
    /// Address to listen on, `ip:port` (port 0 picks a free one); overrides the file's
    /// `[namesrv] listen` [default: 0.0.0.0:9876].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The configuration file. Unknown tables and keys are errors, so a typo is not silently
/// ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Settings of `petrel namesrv`.
    #[serde(default)]
    namesrv: NamesrvSection,
}

/// The file's `[namesrv]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesrvSection {
    /// Address to listen on.
    listen: Option<SocketAddr>,
}

/// Why `petrel` stopped with a failure.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter {
        /// The filter as given.
        filter: String,
        /// The parser's reason.
        reason: String,
    },
    /// The configuration file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ConfigRead {
        /// The file named by `--config`.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not valid TOML or holds unknown or ill-typed settings.
    #[error("invalid config file {}: {source}", path.display())]
    ConfigParse {
        /// The file named by `--config`.
        path: PathBuf,
        /// The TOML parser's error (it names line and column).
        #[source]
        source: toml::de::Error,
    },
    /// The node could not start (its address is in use or not local).
    #[error("{0}")]
    Start(#[from] TransportError),
    /// Waiting for a shutdown signal failed.
    #[error("cannot wait for shutdown signals: {0}")]
    Signal(#[source] io::Error),
}

impl RunError {
    fn exit_code(&self) -> u8 {
        match self {
            RunError::LogFilter { .. }
            | RunError::ConfigRead { .. }
            | RunError::ConfigParse { .. }
            | RunError::Start(TransportError::Bind { .. }) => EXIT_CONFIG,
            RunError::Start(_) | RunError::Signal(_) => EXIT_FAILURE,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match init_logging(cli.log_format, cli.log_level.as_deref()) {
        Ok(()) => match cli.command {
            Command::Namesrv(args) => run_namesrv(args).await,
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Plain text on stderr whatever the log filter, so the reason is never hidden.
            eprintln!("petrel: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Sends structured logs to stderr, filtered by `level`, else `RUST_LOG`, else `info`.
fn init_logging(format: LogFormat, level: Option<&str>) -> Result<(), RunError> {
    let filter = match level {
        Some(level) => EnvFilter::try_new(level).map_err(|error| RunError::LogFilter {
            filter: level.to_owned(),
            reason: error.to_string(),
        })?,
        None => {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(LOG_FILTER_DEFAULT))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// `petrel namesrv`: starts the node, announces its address, serves until a shutdown signal.
async fn run_namesrv(args: NamesrvArgs) -> Result<(), RunError> {
    let file = match &args.config {
        Some(path) => load_config(path)?,
        None => ConfigFile::default(),
    };
    let listen = args
        .listen
        .or(file.namesrv.listen)
        .unwrap_or(NAMESRV_LISTEN_DEFAULT);
    // Listening for signals before announcing the address: a SIGTERM sent as soon as the line
    // is read must reach this handler, not the default action that kills the process.
    let shutdown = ShutdownSignals::install().map_err(RunError::Signal)?;
    let node = NamesrvNode::start(listen, NamesrvConfig::default()).await?;
    announce(&format!(
        "petrel namesrv listening on {}",
        node.local_addr()
    ));
    let received = shutdown.recv().await.map_err(RunError::Signal);
    match &received {
        Ok(signal) => info!(signal, "shutting down"),
        Err(error) => error!(%error, "shutting down"),
    }
    node.shutdown().await;
    received.map(drop)
}

/// Reads and parses the configuration file at `path`.
fn load_config(path: &Path) -> Result<ConfigFile, RunError> {
    let text = read_config_file(path).map_err(|source| RunError::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| RunError::ConfigParse {
        path: path.to_owned(),
        source,
    })
}

/// Writes `line` to stdout and flushes it at once, so a reader of a pipe sees it now.
fn announce(line: &str) {
    let mut stdout = io::stdout().lock();
    // A closed stdout (nobody reading) must not stop the server.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// The signals that ask `petrel` to shut down: SIGTERM and Ctrl-C (SIGINT).
struct ShutdownSignals {
    /// SIGTERM, as sent by `kill`, systemd or a container runtime.
    #[cfg(not(madsim))]
    terminate: tokio::signal::unix::Signal,
    /// SIGINT, as sent by Ctrl-C in a terminal.
    #[cfg(not(madsim))]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Starts listening for the signals.
    #[cfg(not(madsim))]
    fn install() -> io::Result<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Under the simulator only the node's Ctrl-C exists; it is listened for in `recv`.
    #[cfg(madsim)]
    fn install() -> io::Result<ShutdownSignals> {
        Ok(ShutdownSignals {})
    }

    /// Waits for the first signal; returns its name.
    #[cfg(not(madsim))]
    async fn recv(mut self) -> io::Result<&'static str> {
        tokio::select! {
            biased;
            _ = self.terminate.recv() => Ok("SIGTERM"),
            _ = self.interrupt.recv() => Ok("SIGINT"),
        }
    }

    /// Waits for the first signal; returns its name.
    #[cfg(madsim)]
    async fn recv(self) -> io::Result<&'static str> {
        tokio::signal::ctrl_c().await.map(|()| "SIGINT")
    }
}

/// Largest configuration file accepted: far more than any real one needs.
const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Reads the `--config` file whole, as UTF-8 text, failing with `InvalidData` past
/// `CONFIG_FILE_BYTES_MAX`. The production binary's one real-file read outside the `Disk`
/// seam: it runs once when a real process starts, never under simulation.
fn read_config_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(CONFIG_FILE_BYTES_MAX + 1).read_to_string(&mut text)?;
    if text.len() as u64 > CONFIG_FILE_BYTES_MAX {
        let detail = format!("larger than {CONFIG_FILE_BYTES_MAX} bytes");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, detail));
    }
    Ok(text)
}
