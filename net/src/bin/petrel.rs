//! `petrel`: Petrel's production entry point, one subcommand per role.
//!
//! - `petrel namesrv [--listen ADDR] [--config FILE]`: a name server (`NamesrvNode`). Prints
//!   `petrel namesrv listening on <addr>` on stdout once it listens (scripts and tests read the
//!   port from it), runs until SIGTERM or Ctrl-C, then shuts down cleanly.
//! - `petrel broker [--config FILE] [--store-dir DIR] [--listen ADDR] [--namesrv ADDRS] ...`: a
//!   broker (`BrokerNode`) over an mmap'd store in `store_dir`. Prints
//!   `petrel broker listening on <addr>`, runs until SIGTERM or Ctrl-C, then unregisters from
//!   its NameServers, persists its offsets and topics, flushes and closes its store.
//!
//! - `petrel admin <command> -n NAMESRV ...`: mqadmin's everyday commands (`updateTopic`,
//!   `deleteTopic`, `topicList`, `topicRoute`, `topicStatus`, `clusterList`,
//!   `consumerProgress`, `queryMsgById`, `queryMsgByKey`, `resetOffsetByTime`) through
//!   `AdminClient`, printing a table (or JSON with `--json`) on stdout.
//! - `petrel produce -n NAMESRV -t TOPIC [--count N] ...`: sends messages with a `Producer`,
//!   one line per send result on stdout.
//! - `petrel consume -n NAMESRV -t TOPIC -g GROUP ...`: a `PushConsumer` printing one line per
//!   message until `--count` messages or SIGTERM/Ctrl-C, then a clean shutdown (offsets
//!   committed) and a summary line.
//! - `petrel bench -n NAMESRV ...`: the workload of `petrel_net::bench`, progress lines every
//!   5 s and a summary (text or `--json`).
//!
//! Configuration: a TOML file (`--config`) with a `[namesrv]` and a `[broker]` table (see
//! `BrokerSection` for the broker's keys); a command-line flag overrides the file. A name
//! server listens on `0.0.0.0:9876` (RocketMQ's port) when neither says, a broker on
//! `0.0.0.0:10911`; a broker needs a store directory.
//! Logs: structured, to stderr, as text or JSON lines (`--log-format`), filtered by
//! `--log-level` or else `RUST_LOG` (default `info`); a server's stdout carries only the line
//! above, a command's its results.
//!
//! Exit codes: 0 after a clean shutdown or a command that succeeded; 2 for a bad command line,
//! a bad configuration file or an address that cannot be listened on; 1 for any other failure
//! (a refused or failed admin request or send included).

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use petrel_core::broker::config::BROKER_PORT_DEFAULT;
use petrel_core::message::Message;
use petrel_core::protocol::{JsonBody, TopicConfig};
use petrel_core::store::FlushMode;
use petrel_net::bench::{BenchConfig, BenchError};
use petrel_net::broker::{BrokerNode, BrokerNodeConfig, BrokerStartError};
use petrel_net::client::admin::{table, AdminClient, AdminError, MessageList, MessageView, TopicTarget};
use petrel_net::client::{Producer, ProducerConfig, ProducerError, SendResult};
use petrel_net::disk::{MmapDisk, MmapOptions};
use petrel_net::namesrv::{NamesrvConfig, NamesrvNode};
use petrel_net::remoting::TransportError;
use serde::Deserialize;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Where a name server listens when neither the command line nor the file says: RocketMQ's
/// port, on every interface.
const NAMESRV_LISTEN_DEFAULT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9876);

/// Where a broker listens when neither the command line nor the file says: RocketMQ's port,
/// on every interface.
const BROKER_LISTEN_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), BROKER_PORT_DEFAULT);

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
    /// Runs a broker: stores messages, serves producers and consumers, registers with the
    /// name servers.
    Broker(BrokerArgs),
    /// Administers topics, consumer groups and messages (mqadmin's everyday commands).
    Admin(AdminArgs),
    /// Sends messages to a topic.
    Produce(ProduceArgs),
    /// Consumes a topic with a push consumer, printing one line per message.
    Consume(ConsumeArgs),
    /// Runs an OpenMessaging-Benchmark-style workload against a running cluster.
    Bench(BenchArgs),
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

/// `petrel broker`'s options; each overrides the same setting of the file's `[broker]` table.
#[derive(Debug, Args)]
struct BrokerArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Directory of the store (CommitLog, ConsumeQueues, indexes, offsets, topics).
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,

    /// Address to listen on, `ip:port` (port 0 picks a free one) [default: 0.0.0.0:10911].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Name servers, `ip:port` separated by `;` (RocketMQ's `namesrvAddr` form).
    #[arg(long, value_name = "ADDRS")]
    namesrv: Option<String>,

    /// Broker name (a master and its slaves share it).
    #[arg(long, value_name = "NAME")]
    broker_name: Option<String>,

    /// When a send is acknowledged: `sync` after a disk sync, `async` once in the page cache.
    #[arg(long, value_enum)]
    flush: Option<FlushArg>,
}

/// `--flush`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FlushArg {
    /// SYNC_FLUSH.
    Sync,
    /// ASYNC_FLUSH.
    Async,
}

/// The configuration file. Unknown tables and keys are errors, so a typo is not silently
/// ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Settings of `petrel namesrv`.
    #[serde(default)]
    namesrv: NamesrvSection,
    /// Settings of `petrel broker`.
    #[serde(default)]
    broker: BrokerSection,
}

/// The file's `[namesrv]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesrvSection {
    /// Address to listen on.
    listen: Option<SocketAddr>,
}

/// The file's `[broker]` table, with RocketMQ's setting names in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerSection {
    /// Directory of the store (`storePathRootDir`).
    store_dir: Option<PathBuf>,
    /// Address to listen on (`listenPort`, with the interface).
    listen: Option<SocketAddr>,
    /// Address registered with the name servers and written into message ids (`brokerIP1`);
    /// default: the listen IP, or 127.0.0.1 when listening on every interface.
    broker_ip: Option<std::net::IpAddr>,
    /// Name servers: a list, or RocketMQ's `"a:9876;b:9876"` (`namesrvAddr`).
    namesrv_addr: Option<NamesrvAddrs>,
    /// `brokerClusterName`.
    cluster_name: Option<String>,
    /// `brokerName`.
    broker_name: Option<String>,
    /// `brokerId`: 0 for the master.
    broker_id: Option<i64>,
    /// `flushDiskType`: `ASYNC_FLUSH` or `SYNC_FLUSH`.
    flush_disk_type: Option<FlushDiskType>,
    /// `brokerRole`: `ASYNC_MASTER`, `SYNC_MASTER` or `SLAVE` (not supported yet).
    broker_role: Option<BrokerRole>,
    /// `autoCreateTopicEnable`.
    auto_create_topic_enable: Option<bool>,
    /// `mappedFileSizeCommitLog`, in bytes.
    commit_log_file_size: Option<u64>,
    /// `sendThreadPoolQueueCapacity`: sends in progress before SYSTEM_BUSY.
    send_queue_capacity: Option<usize>,
}

/// The name servers, as a TOML list or one `;`-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NamesrvAddrs {
    /// `["a:9876", "b:9876"]`.
    List(Vec<String>),
    /// `"a:9876;b:9876"`.
    Joined(String),
}

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum FlushDiskType {
    /// Acknowledge once in the page cache.
    AsyncFlush,
    /// Acknowledge after a sync.
    SyncFlush,
}

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum BrokerRole {
    /// A master that does not wait for slaves.
    AsyncMaster,
    /// A master that waits for a slave (served as ASYNC_MASTER: there are no slaves yet).
    SyncMaster,
    /// A slave.
    Slave,
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
    /// Another process holds the store directory (RocketMQ: "Lock failed,MQ already started").
    #[error("store directory {} is in use by another broker (lock on {} is held): {detail}", dir.display(), dir.join(STORE_LOCK_FILE).display())]
    StoreLocked {
        /// The store directory.
        dir: PathBuf,
        /// What the operating system said.
        detail: String,
    },
    /// The node could not start (its address is in use or not local).
    #[error("{0}")]
    Start(#[from] TransportError),
    /// The broker's settings are incomplete or invalid.
    #[error("invalid broker configuration{}: {reason}", origin(path.as_deref()))]
    BrokerConfig {
        /// The file named by `--config`, if any.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// The broker could not start.
    #[error("{0}")]
    BrokerStart(#[from] BrokerStartError),
    /// The broker's store did not close cleanly.
    #[error("broker shutdown: {0}")]
    BrokerShutdown(#[source] petrel_core::store::StoreError),
    /// Waiting for a shutdown signal failed.
    #[error("cannot wait for shutdown signals: {0}")]
    Signal(#[source] io::Error),
    /// A command-line value clap cannot check (a name server list).
    #[error("{0}")]
    Usage(String),
    /// An admin command failed.
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// `petrel bench` could not run.
    #[error("{0}")]
    Bench(#[from] BenchError),
    /// A send of `petrel produce` failed.
    #[error("send {index} failed: {source}")]
    Produce {
        /// Which send (0 for the first).
        index: u32,
        /// Why.
        #[source]
        source: ProducerError,
    },
}

impl RunError {
    fn exit_code(&self) -> u8 {
        match self {
            RunError::LogFilter { .. }
            | RunError::ConfigRead { .. }
            | RunError::ConfigParse { .. }
            | RunError::Start(TransportError::Bind { .. })
            | RunError::BrokerConfig { .. }
            | RunError::StoreLocked { .. }
            | RunError::Usage(_)
            | RunError::BrokerStart(
                BrokerStartError::Bind(TransportError::Bind { .. })
                | BrokerStartError::Config(_)
                | BrokerStartError::SlaveNotSupported
                | BrokerStartError::ZeroBound { .. },
            ) => EXIT_CONFIG,
            RunError::Start(_)
            | RunError::Signal(_)
            | RunError::BrokerStart(_)
            | RunError::BrokerShutdown(_)
            | RunError::Admin(_)
            | RunError::Bench(_)
            | RunError::Produce { .. } => EXIT_FAILURE,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match init_logging(cli.log_format, cli.log_level.as_deref()) {
        Ok(()) => match cli.command {
            Command::Namesrv(args) => run_namesrv(args).await,
            Command::Broker(args) => run_broker(args).await,
            Command::Admin(args) => run_admin(args).await,
            Command::Produce(args) => run_produce(args).await,
            Command::Consume(args) => run_consume(args).await,
            Command::Bench(args) => run_bench(args).await,
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
        Some(level) => EnvFilter::try_new(level)
            .map_err(|error| RunError::LogFilter { filter: level.to_owned(), reason: error.to_string() })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(LOG_FILTER_DEFAULT)),
    };
    let builder =
        tracing_subscriber::fmt().with_writer(io::stderr).with_ansi(io::stderr().is_terminal()).with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// `petrel namesrv`: starts the node, announces its address, serves until a shutdown signal.
async fn run_namesrv(args: NamesrvArgs) -> Result<(), RunError> {
    let file = load_optional_config(args.config.as_deref())?;
    let listen = args.listen.or(file.namesrv.listen).unwrap_or(NAMESRV_LISTEN_DEFAULT);
    // Listening for signals before announcing the address: a SIGTERM sent as soon as the line
    // is read must reach this handler, not the default action that kills the process.
    let shutdown = ShutdownSignals::install().map_err(RunError::Signal)?;
    let node = NamesrvNode::start(listen, NamesrvConfig::default()).await?;
    announce(&format!("petrel namesrv listening on {}", node.local_addr()));
    let received = wait_for_shutdown(shutdown).await;
    node.shutdown().await;
    received
}

/// `petrel broker`: opens the store, starts the node, announces its address, serves until a
/// shutdown signal, then shuts down cleanly.
async fn run_broker(args: BrokerArgs) -> Result<(), RunError> {
    let file = load_optional_config(args.config.as_deref())?;
    let (config, store_dir) = broker_config(&args, file.broker)
        .map_err(|reason| RunError::BrokerConfig { path: args.config.clone(), reason })?;
    // Pre-touching new CommitLog files pays off only when acknowledgements do not wait for
    // syncs (measured: it slows SYNC_FLUSH down).
    let warm_up = matches!(config.store.flush_mode, FlushMode::Async(_));
    let _store_lock = lock_store_dir(&store_dir)?;
    let disk = Arc::new(MmapDisk::new(store_dir, MmapOptions { warm_up }));
    let shutdown = ShutdownSignals::install().map_err(RunError::Signal)?;
    let node = BrokerNode::start(config, disk).await?;
    announce(&format!("petrel broker listening on {}", node.local_addr()));
    let received = wait_for_shutdown(shutdown).await;
    let closed = node.shutdown().await.map_err(RunError::BrokerShutdown);
    received.and(closed)
}

/// The broker's configuration from the file's `[broker]` table and the command line (which
/// wins), and its store directory; the reason when something is missing or invalid.
fn broker_config(args: &BrokerArgs, file: BrokerSection) -> Result<(BrokerNodeConfig, PathBuf), String> {
    let store_dir = args
        .store_dir
        .clone()
        .or(file.store_dir)
        .ok_or("no store directory: set --store-dir or store_dir in the [broker] table")?;
    if file.broker_role == Some(BrokerRole::Slave) {
        return Err("broker_role SLAVE is not supported: replication is not implemented yet".into());
    }
    let listen = args.listen.or(file.listen).unwrap_or(BROKER_LISTEN_DEFAULT);
    let namesrv = match (&args.namesrv, file.namesrv_addr) {
        (Some(joined), _) => parse_namesrv_addrs(&NamesrvAddrs::Joined(joined.clone()))?,
        (None, Some(addrs)) => parse_namesrv_addrs(&addrs)?,
        (None, None) => Vec::new(),
    };
    let mut config = BrokerNodeConfig::new(listen, namesrv);
    let advertised_ip = file.broker_ip.unwrap_or(listen.ip());
    config.broker.broker_addr = SocketAddr::new(advertised_ip, listen.port());
    config.broker.store_host = config.broker.broker_addr;
    let broker = &mut config.broker;
    broker.cluster_name = file.cluster_name.unwrap_or(broker.cluster_name.clone());
    broker.broker_name = args.broker_name.clone().or(file.broker_name).unwrap_or(broker.broker_name.clone());
    broker.broker_id = file.broker_id.unwrap_or(broker.broker_id);
    broker.auto_create_topic_enable = file.auto_create_topic_enable.unwrap_or(broker.auto_create_topic_enable);
    broker.send_queue_capacity = file.send_queue_capacity.unwrap_or(broker.send_queue_capacity);
    if let Some(size) = file.commit_log_file_size {
        config.store.commit_log_file_size_bytes = size;
    }
    let sync = match (args.flush, file.flush_disk_type) {
        (Some(flush), _) => flush == FlushArg::Sync,
        (None, Some(flush)) => flush == FlushDiskType::SyncFlush,
        (None, None) => false,
    };
    if sync {
        config.store.flush_mode = FlushMode::Sync;
    }
    config.validate().map_err(|error| error.to_string())?;
    Ok((config, store_dir))
}

/// The name server addresses of a list or a `;`-separated string; blanks are skipped.
fn parse_namesrv_addrs(addrs: &NamesrvAddrs) -> Result<Vec<SocketAddr>, String> {
    let items: Vec<&str> = match addrs {
        NamesrvAddrs::List(list) => list.iter().map(String::as_str).collect(),
        NamesrvAddrs::Joined(joined) => joined.split(';').collect(),
    };
    items
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| item.parse().map_err(|_| format!("name server address {item:?} is not ip:port")))
        .collect()
}

/// " in FILE" when the settings came with a file.
fn origin(path: Option<&Path>) -> String {
    path.map(|path| format!(" in {}", path.display())).unwrap_or_default()
}

/// Waits for a shutdown signal and logs it.
async fn wait_for_shutdown(shutdown: ShutdownSignals) -> Result<(), RunError> {
    let received = shutdown.recv().await.map_err(RunError::Signal);
    match &received {
        Ok(signal) => info!(signal, "shutting down"),
        Err(error) => error!(%error, "shutting down"),
    }
    received.map(drop)
}

/// The `--config` file when one is given, else an empty configuration.
fn load_optional_config(path: Option<&Path>) -> Result<ConfigFile, RunError> {
    path.map_or_else(|| Ok(ConfigFile::default()), load_config)
}

/// Reads and parses the configuration file at `path`.
fn load_config(path: &Path) -> Result<ConfigFile, RunError> {
    let text = read_config_file(path).map_err(|source| RunError::ConfigRead { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| RunError::ConfigParse { path: path.to_owned(), source })
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
        Ok(ShutdownSignals { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
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

/// Bound on each request of `petrel admin` when `--timeout-ms` does not say.
const ADMIN_TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// Most messages one `petrel produce` sends.
const PRODUCE_COUNT_MAX: u32 = 1_000_000;

/// `petrel admin`'s options.
#[derive(Debug, Args)]
struct AdminArgs {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,

    /// Bound on each request, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = ADMIN_TIMEOUT_MS_DEFAULT)]
    timeout_ms: u64,

    /// The command.
    #[command(subcommand)]
    command: AdminCommand,
}

/// The name servers, as every admin command and `produce` take them.
#[derive(Debug, Args)]
struct NamesrvOpt {
    /// Name servers, `ip:port` separated by `;`.
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv: String,
}

/// `petrel admin`'s commands, named as mqadmin names them.
#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Creates or updates a topic on one broker (-b) or every master of a cluster (-c).
    #[command(name = "updateTopic")]
    UpdateTopic(UpdateTopicArgs),
    /// Deletes a topic from a cluster's brokers and from the name servers.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        /// Name servers.
        #[command(flatten)]
        ns: NamesrvOpt,
        /// Cluster the topic is deleted from.
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Lists every topic the name servers know.
    #[command(name = "topicList")]
    TopicList(NamesrvOpt),
    /// Shows a topic's route (queues and brokers).
    #[command(name = "topicRoute")]
    TopicRoute(TopicOpt),
    /// Shows a topic's queues: min and max offset, oldest store time.
    #[command(name = "topicStatus")]
    TopicStatus(TopicOpt),
    /// Lists the clusters and their brokers.
    #[command(name = "clusterList")]
    ClusterList(NamesrvOpt),
    /// Shows a consumer group's progress per queue.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        /// Name servers.
        #[command(flatten)]
        ns: NamesrvOpt,
        /// Consumer group.
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// Only this topic.
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
    },
    /// Shows the message an offset message id names.
    #[command(name = "queryMsgById")]
    QueryMsgById {
        /// Name servers.
        #[command(flatten)]
        ns: NamesrvOpt,
        /// The offsetMsgId (store host + CommitLog offset, hex).
        #[arg(short = 'i', long = "msgId")]
        id: String,
    },
    /// Lists a topic's messages carrying a key.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        /// Topic and name servers.
        #[command(flatten)]
        topic: TopicOpt,
        /// The key.
        #[arg(short = 'k', long = "msgKey")]
        key: String,
    },
    /// Commits, for every queue of a topic, the offset of the first message stored at or after
    /// a time. Consumers of the group must be stopped: running ones overwrite the reset.
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        /// Topic and name servers.
        #[command(flatten)]
        topic: TopicOpt,
        /// Consumer group.
        #[arg(short = 'g', long = "group")]
        group: String,
        /// Time, in milliseconds since the epoch.
        #[arg(short = 's', long = "timestamp", value_name = "TIMESTAMP_MS")]
        timestamp_ms: i64,
    },
}

/// Name servers and a topic.
#[derive(Debug, Args)]
struct TopicOpt {
    /// Name servers.
    #[command(flatten)]
    ns: NamesrvOpt,
    /// Topic.
    #[arg(short = 't', long = "topic")]
    topic: String,
}

/// `petrel admin updateTopic`'s options (mqadmin's defaults: 8 queues each way, perm 6).
#[derive(Debug, Args)]
struct UpdateTopicArgs {
    /// Topic and name servers.
    #[command(flatten)]
    topic: TopicOpt,
    /// Every master of this cluster.
    #[arg(short = 'c', long = "clusterName", required_unless_present = "broker")]
    cluster: Option<String>,
    /// Only this broker, `ip:port`.
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
    broker: Option<SocketAddr>,
    /// Read queues.
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    read: i32,
    /// Write queues.
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    write: i32,
    /// Permission bits: READ 4, WRITE 2, INHERIT 1.
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    perm: i32,
}

/// `petrel produce`'s options.
#[derive(Debug, Args)]
struct ProduceArgs {
    /// Name servers.
    #[command(flatten)]
    ns: NamesrvOpt,
    /// Topic (created from TBW102 by the broker when auto-creation is on).
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Messages to send.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(PRODUCE_COUNT_MAX)))]
    count: u32,
    /// Body size in bytes, when `--body` is not given.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    size: usize,
    /// Key of every message.
    #[arg(long)]
    key: Option<String>,
    /// Tag of every message.
    #[arg(long)]
    tag: Option<String>,
    /// Body of every message (instead of `--size` generated bytes).
    #[arg(long)]
    body: Option<String>,
    /// Producer group.
    #[arg(long, default_value = "PETREL_PRODUCE")]
    group: String,
    /// Print only the summary line, not one line per send.
    #[arg(long)]
    quiet: bool,
}

/// The name servers of `-n`.
fn namesrv_list(ns: &NamesrvOpt) -> Result<Vec<SocketAddr>, RunError> {
    let addrs = parse_namesrv_addrs(&NamesrvAddrs::Joined(ns.namesrv.clone())).map_err(RunError::Usage)?;
    if addrs.is_empty() {
        return Err(RunError::Usage("-n: no name server address".into()));
    }
    Ok(addrs)
}

/// The name servers a command names.
fn admin_namesrv(command: &AdminCommand) -> &NamesrvOpt {
    match command {
        AdminCommand::UpdateTopic(args) => &args.topic.ns,
        AdminCommand::DeleteTopic { ns, .. }
        | AdminCommand::TopicList(ns)
        | AdminCommand::ClusterList(ns)
        | AdminCommand::ConsumerProgress { ns, .. }
        | AdminCommand::QueryMsgById { ns, .. } => ns,
        AdminCommand::TopicRoute(topic)
        | AdminCommand::TopicStatus(topic)
        | AdminCommand::QueryMsgByKey { topic, .. }
        | AdminCommand::ResetOffsetByTime { topic, .. } => &topic.ns,
    }
}

/// `petrel admin`: runs one command and prints its result.
async fn run_admin(args: AdminArgs) -> Result<(), RunError> {
    let namesrv = namesrv_list(admin_namesrv(&args.command))?;
    if args.timeout_ms == 0 {
        return Err(RunError::Usage("--timeout-ms must be > 0".into()));
    }
    let admin = AdminClient::new(namesrv, std::time::Duration::from_millis(args.timeout_ms));
    let result = admin_command(&admin, args.command, args.json).await;
    admin.shutdown().await;
    announce(result?.trim_end());
    Ok(())
}

/// Text or JSON, as `--json` asks.
fn render<B: JsonBody>(json: bool, body: &B, text: fn(&B) -> String) -> String {
    if json {
        body.to_json()
    } else {
        text(body)
    }
}

/// Runs `command`; what to print.
async fn admin_command(admin: &AdminClient, command: AdminCommand, json: bool) -> Result<String, RunError> {
    let out = match command {
        AdminCommand::UpdateTopic(args) => update_topic(admin, &args).await?,
        AdminCommand::DeleteTopic { cluster, topic, .. } => {
            admin.delete_topic(&topic, &cluster).await?;
            format!("delete topic [{topic}] from cluster [{cluster}] success.")
        }
        AdminCommand::TopicList(_) => render(json, &admin.topic_list().await?, table::topic_list_text),
        AdminCommand::TopicRoute(t) => render(json, &admin.topic_route(&t.topic).await?, table::route_table),
        AdminCommand::TopicStatus(t) => render(json, &admin.topic_status(&t.topic).await?, table::status_table),
        AdminCommand::ClusterList(_) => render(json, &admin.cluster_list().await?, table::cluster_table),
        AdminCommand::ConsumerProgress { group, topic, .. } => {
            let progress = admin.consumer_progress(&group, topic.as_deref()).await?;
            render(json, &progress, table::progress_table)
        }
        AdminCommand::QueryMsgById { id, .. } => {
            let view = MessageView::from(&admin.query_msg_by_id(&id).await?);
            let list = MessageList { messages: vec![view] };
            render(json, &list, |list| table::message_detail(&list.messages[0]))
        }
        AdminCommand::QueryMsgByKey { topic, key } => {
            let found = admin.query_msg_by_key(&topic.topic, &key).await?;
            let messages = found.iter().map(MessageView::from).collect();
            render(json, &MessageList { messages }, table::message_table)
        }
        AdminCommand::ResetOffsetByTime { topic, group, timestamp_ms } => {
            let reset = admin.reset_offset_by_time(&group, &topic.topic, timestamp_ms).await?;
            eprintln!("petrel: note: running consumers of {group} overwrite this reset with their next commit; stop them first");
            render(json, &reset, table::reset_table)
        }
    };
    Ok(out)
}

/// `updateTopic`: the topic's configuration to one broker or a cluster's masters.
async fn update_topic(admin: &AdminClient, args: &UpdateTopicArgs) -> Result<String, RunError> {
    let target = match (&args.broker, &args.cluster) {
        (Some(addr), _) => TopicTarget::Broker(*addr),
        (None, Some(cluster)) => TopicTarget::Cluster(cluster.clone()),
        (None, None) => return Err(RunError::Usage("updateTopic needs -b or -c".into())),
    };
    let config = TopicConfig {
        read_queue_nums: args.read,
        write_queue_nums: args.write,
        perm: args.perm,
        ..TopicConfig::new(args.topic.topic.clone(), args.read)
    };
    let updated = admin.update_topic(&target, &config).await?;
    let lines: Vec<String> = updated.iter().map(|addr| format!("create topic to {addr} success.")).collect();
    Ok(format!(
        "{}\nTopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}]",
        lines.join("\n"),
        config.topic_name,
        config.read_queue_nums,
        config.write_queue_nums,
        petrel_core::protocol::perm::to_display(config.perm)
    ))
}

/// `petrel produce`: sends `--count` messages, printing each result, then a summary.
async fn run_produce(args: ProduceArgs) -> Result<(), RunError> {
    let namesrv = namesrv_list(&args.ns)?;
    let producer = Producer::start(ProducerConfig::new(args.group.clone(), namesrv));
    let mut outcome = Ok(());
    for index in 0..args.count {
        match producer.send(produce_message(&args, index)).await {
            Ok(result) if !args.quiet => announce(&send_line(&result)),
            Ok(_) => {}
            Err(source) => {
                outcome = Err(RunError::Produce { index, source });
                break;
            }
        }
    }
    producer.shutdown().await;
    outcome?;
    announce(&format!("sent {} messages to {}", args.count, args.topic));
    Ok(())
}

/// Message `index` of `petrel produce`.
fn produce_message(args: &ProduceArgs, index: u32) -> Message {
    let body = match &args.body {
        Some(text) => text.clone().into_bytes(),
        None => {
            let mut body = format!("petrel-{index}-").into_bytes();
            body.resize(args.size, b'x');
            body
        }
    };
    let mut message = Message::new(args.topic.clone(), body);
    if let Some(key) = &args.key {
        message = message.with_keys([key.clone()]);
    }
    if let Some(tag) = &args.tag {
        message = message.with_tags(tag.clone());
    }
    message
}

/// One line per send: status, ids, queue and offset.
fn send_line(result: &SendResult) -> String {
    format!(
        "{} msgId={} offsetMsgId={} queue={}:{} queueOffset={}",
        result.status.java_name(),
        result.msg_id,
        result.offset_msg_id,
        result.message_queue.broker_name,
        result.message_queue.queue_id,
        result.queue_offset
    )
}

/// `petrel consume`'s options.
#[derive(Debug, Args)]
struct ConsumeArgs {
    /// Name servers.
    #[command(flatten)]
    ns: NamesrvOpt,
    /// Topic.
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Consumer group.
    #[arg(short = 'g', long = "group")]
    group: String,
    /// Subscription expression: `*` or tags such as `TagA || TagB`.
    #[arg(long = "sub", value_name = "EXPR", default_value = "*")]
    sub: String,
    /// Broadcasting: every member gets every message, offsets kept in memory only.
    #[arg(long)]
    broadcast: bool,
    /// Where a queue without a committed offset starts: `first`, `last` or a time in ms since
    /// the epoch.
    #[arg(long, value_name = "first|last|TIMESTAMP_MS", default_value = "last",
          value_parser = parse_consume_from)]
    from: petrel_net::client::ConsumeFrom,
    /// Stop after this many messages (default: run until SIGTERM or Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Print only the summary line, not one line per message.
    #[arg(long)]
    quiet: bool,
}

/// `--from`'s value.
fn parse_consume_from(value: &str) -> Result<petrel_net::client::ConsumeFrom, String> {
    use petrel_net::client::ConsumeFrom;
    match value {
        "first" => Ok(ConsumeFrom::FirstOffset),
        "last" => Ok(ConsumeFrom::LastOffset),
        other => other
            .parse()
            .map(ConsumeFrom::Timestamp)
            .map_err(|_| format!("{other:?} is not first, last or a time in ms")),
    }
}

/// `petrel consume`'s listener: prints the messages and counts them.
struct PrintListener {
    /// Messages to print before the run ends; later ones are answered `Later` (not committed).
    count_max: u64,
    /// Messages printed so far.
    printed: std::sync::atomic::AtomicU64,
    /// Told when `count_max` messages were printed.
    done: Arc<tokio::sync::Notify>,
    /// Print only the summary.
    quiet: bool,
}

impl petrel_net::client::MessageListener for PrintListener {
    fn consume(
        &self,
        msgs: std::sync::Arc<[petrel_core::message::MessageExt]>,
        queue: &petrel_net::client::MessageQueue,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = petrel_net::client::ConsumeResult> + Send>> {
        use petrel_net::client::ConsumeResult;
        use std::sync::atomic::Ordering;
        let wanted = u64::try_from(msgs.len()).unwrap_or(u64::MAX);
        let before = self.printed.fetch_add(wanted, Ordering::SeqCst);
        if before >= self.count_max || wanted > self.count_max - before {
            // Not all of the batch fits under --count: leave it uncommitted for a later run.
            self.printed.fetch_sub(wanted, Ordering::SeqCst);
            return Box::pin(async { ConsumeResult::Later });
        }
        if !self.quiet {
            for message in msgs.iter() {
                announce(&consume_line(message, queue));
            }
        }
        if before + wanted >= self.count_max {
            self.done.notify_one();
        }
        Box::pin(async { ConsumeResult::Success })
    }
}

/// One line per message: queue, offset, ids, keys, body length.
fn consume_line(message: &petrel_core::message::MessageExt, queue: &petrel_net::client::MessageQueue) -> String {
    let keys: Vec<&str> = message.properties.keys().collect();
    format!(
        "queue={}:{} queueOffset={} msgId={} offsetMsgId={} keys={} bodyLen={}",
        queue.broker_name,
        queue.queue_id,
        message.queue_offset,
        message.properties.uniq_key().unwrap_or("-"),
        message.msg_id,
        if keys.is_empty() { "-".to_owned() } else { keys.join(",") },
        message.body.len()
    )
}

/// `petrel consume`: consumes until `--count` messages or a shutdown signal, then shuts the
/// consumer down (offsets committed) and prints a summary.
async fn run_consume(args: ConsumeArgs) -> Result<(), RunError> {
    use petrel_core::protocol::heartbeat::MessageModel;
    let namesrv = namesrv_list(&args.ns)?;
    let instance = format!("petrel-consume-{}", std::process::id());
    let mut config = petrel_net::client::ConsumerConfig::new(args.group.clone(), namesrv, &instance)
        .subscribe(&args.topic, &args.sub);
    config.consume_from = args.from;
    if args.broadcast {
        config.message_model = MessageModel::Broadcasting;
    }
    // One batch at a time keeps --count exact and lines in queue order.
    config.consume_concurrency = 1;
    let done = Arc::new(tokio::sync::Notify::new());
    let listener = Arc::new(PrintListener {
        count_max: args.count.unwrap_or(u64::MAX),
        printed: std::sync::atomic::AtomicU64::new(0),
        done: done.clone(),
        quiet: args.quiet,
    });
    let shutdown = ShutdownSignals::install().map_err(RunError::Signal)?;
    let consumer = petrel_net::client::PushConsumer::start(config, listener.clone()).await;
    let received = tokio::select! {
        biased;
        received = wait_for_shutdown(shutdown) => received,
        () = done.notified() => Ok(()),
    };
    consumer.shutdown().await;
    let printed = listener.printed.load(std::sync::atomic::Ordering::SeqCst);
    announce(&format!("consumed {printed} messages from {}", args.topic));
    received
}

/// `petrel bench`'s options.
#[derive(Debug, Args)]
struct BenchArgs {
    /// Name servers.
    #[command(flatten)]
    ns: NamesrvOpt,
    /// Topic, created on every master of the cluster.
    #[arg(long, default_value = "petrel-bench")]
    topic: String,
    /// Read and write queues per broker.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(i32).range(1..=1024))]
    queues: i32,
    /// Body size in bytes (16 at least: the run id and the send time).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    size: usize,
    /// Producers.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Consumers (push consumers of one group).
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Total sends per second; 0 sends as fast as possible.
    #[arg(long, value_name = "MSGS_PER_S", default_value_t = 0)]
    rate: u64,
    /// Sends outstanding per producer at most.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Seconds run and discarded before measuring.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    duration: u64,
    /// Bound on waiting, after the window, for its messages to be consumed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    drain_timeout: u64,
    /// Print the summary as JSON on stdout (progress lines then go to stderr).
    #[arg(long)]
    json: bool,
}

/// `petrel bench`: runs the workload, printing progress and the summary.
async fn run_bench(args: BenchArgs) -> Result<(), RunError> {
    use std::time::Duration;
    let config = BenchConfig {
        namesrv: namesrv_list(&args.ns)?,
        topic: args.topic,
        queues: args.queues,
        size: args.size,
        producers: args.producers,
        consumers: args.consumers,
        rate: args.rate,
        in_flight: args.in_flight,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    let json = args.json;
    let mut progress = |line: petrel_net::bench::Progress| {
        if json {
            eprintln!("{line}");
        } else {
            announce(&line.to_string());
        }
    };
    let report = petrel_net::bench::run(config, &mut progress).await?;
    announce(&if json { report.to_json() } else { report.to_string() });
    Ok(())
}

/// The file a broker locks in its store directory for as long as it runs.
const STORE_LOCK_FILE: &str = "lock";

/// Takes an exclusive lock on `<store_dir>/lock` so that two brokers never share a store (they
/// would append over each other). The lock lives as long as the returned file.
fn lock_store_dir(dir: &std::path::Path) -> Result<std::fs::File, RunError> {
    let locked = |detail: String| RunError::StoreLocked { dir: dir.to_path_buf(), detail };
    std::fs::create_dir_all(dir).map_err(|e| locked(e.to_string()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(STORE_LOCK_FILE))
        .map_err(|e| locked(e.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(locked("held by another process".into())),
        Err(std::fs::TryLockError::Error(e)) => Err(locked(e.to_string())),
    }
}
