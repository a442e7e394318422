//! `petrel-sim`: runs Petrel's seeded chaos scenarios and prints a verdict per seed.
//!
//! `petrel-sim run SCENARIO --seed N [--seeds COUNT | --seeds A..B] [--check-determinism]`
//! runs a cluster scenario from `scenarios/SCENARIO.toml` (or a path to a `.toml` file) as madsim
//! nodes, or the built-in `store-crash` (the storage engine alone, no cluster). Cluster scenarios
//! need the simulator's build (`--cfg madsim`); the `cargo sim` alias in `.cargo/config.toml`
//! builds it. Each cluster run writes its report to `runs/<scenario>/seed-<N>/`.
//! `petrel-sim list` prints the catalogue's scenario files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use petrel_core::planted::PlantedBug;
use petrel_core::store::FlushMode;
use petrel_sim::scenario::Scenario;
use petrel_sim::store_chaos::{run_seed, ChaosRun};

/// mimalloc: a run allocates and frees per simulated message, and glibc's malloc spent about a
/// fifth of a run in allocation and in handing heap pages back to the kernel.
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc through its plain entry points whenever they give the alignment asked for.
///
/// Every mimalloc block is 8-byte aligned (block sizes are multiples of 8), so layouts aligned
/// to 8 or less (nearly all of a run's millions of allocations) take `mi_malloc`'s fast path;
/// the `mimalloc` crate sends every layout through the aligned entry points, which test the
/// alignment on each call and for some sizes fall back to over-allocating.
struct Mimalloc;

/// The largest alignment every mimalloc block has.
const MI_BLOCK_ALIGN: usize = 8;

// SAFETY: each method hands the request to the mimalloc function made for it: the plain ones
// only when `MI_BLOCK_ALIGN` covers the layout's alignment, else the aligned ones; `dealloc`
// frees blocks from either (mimalloc frees every block with `mi_free`).
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions take any size and alignment.
        unsafe {
            if layout.align() <= MI_BLOCK_ALIGN {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            if layout.align() <= MI_BLOCK_ALIGN {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`'s alignment, which the resized
        // block keeps.
        unsafe {
            if layout.align() <= MI_BLOCK_ALIGN {
                libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// mimalloc 3's `mi_option_purge_delay` (its place in `mi_option_e`; the crate names no constant
/// for it). Cargo.lock pins the mimalloc sources this number belongs to.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A run lives for seconds and peaks at tens of MiB: giving freed pages back to the kernel only
/// for them to be faulted in and zeroed again cost as much CPU as the simulation itself.
fn keep_freed_pages() {
    // SAFETY: mi_option_set stores a number in mimalloc's option table; any value is valid
    // (-1 means never purge), and it may be called at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// `println!` that never panics: a reader that closed our stdout early (`| head`) loses the
/// rest of the output, and the run goes on to its verdict and exit code.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[derive(Parser)]
#[command(name = "petrel-sim", about = "Seeded chaos scenarios for Petrel")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario for one seed or a range of seeds.
    Run {
        /// A scenario in scenarios/ (e.g. `smoke`), a path to a scenario file, or `store-crash`.
        scenario: String,
        /// The first seed to run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds to run from --seed, or a range `A..B` (B excluded).
        #[arg(long, default_value = "1")]
        seeds: String,
        /// Run each seed twice and compare the traces.
        #[arg(long)]
        check_determinism: bool,
        /// Where cluster runs write their reports.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Internal: run exactly --seed in this process (the batch runner starts one process per
        /// seed, because madsim and std keep per-thread state that would make a seed's run
        /// depend on the seeds run before it in the same process).
        #[arg(long, hide = true)]
        single: bool,
        /// Test only: plant a deliberate defect (ack-before-flush, skip-consume-queue-on-recovery,
        /// commit-before-process) to show the checkers catch it.
        #[arg(long, hide = true, value_parser = parse_planted)]
        planted_bug: Option<PlantedBug>,
        /// store-crash only: random steps per seed.
        #[arg(long, default_value_t = 400)]
        steps: usize,
        /// store-crash only: the broker's flush mode.
        #[arg(long, value_enum, default_value_t = Mode::Async)]
        flush: Mode,
    },
    /// Lists the scenario files in scenarios/.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Async,
    Sync,
}

fn main() -> ExitCode {
    keep_freed_pages();
    match Cli::parse().command {
        Command::List => list(),
        Command::Run { scenario, seed, seeds, check_determinism, out, single, planted_bug, steps, flush } => {
            let seeds = match parse_seeds(seed, &seeds) {
                Ok(seeds) => seeds,
                Err(error) => {
                    eprintln!("petrel-sim: --seeds: {error}");
                    return ExitCode::from(2);
                }
            };
            if scenario == "store-crash" {
                return store_crash(seeds, steps, flush, check_determinism);
            }
            let loaded = match load(&scenario) {
                Ok(loaded) => loaded,
                Err(error) => {
                    eprintln!("petrel-sim: {error}");
                    return ExitCode::from(2);
                }
            };
            if single {
                cluster_seed(&loaded, seeds.start, &out, planted_bug)
            } else {
                cluster_batch(&scenario, &loaded, seeds, check_determinism, &out, planted_bug)
            }
        }
    }
}

/// `A..B`, or a count of seeds from `first`.
fn parse_seeds(first: u64, text: &str) -> Result<std::ops::Range<u64>, String> {
    if let Some((a, b)) = text.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|_| format!("{a:?} is not a seed"))?;
        let b: u64 = b.trim().parse().map_err(|_| format!("{b:?} is not a seed"))?;
        if a >= b {
            return Err(format!("empty range {a}..{b}"));
        }
        return Ok(a..b);
    }
    let count: u64 = text.trim().parse().map_err(|_| format!("{text:?} is neither a count nor a range A..B"))?;
    Ok(first..first.saturating_add(count.max(1)))
}

/// The scenarios directory: next to the workspace root when run through cargo, else ./scenarios.
fn scenarios_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_tree = manifest.join("../scenarios");
    if in_tree.is_dir() {
        in_tree
    } else {
        PathBuf::from("scenarios")
    }
}

/// Loads a scenario by name (scenarios/NAME.toml) or by path.
fn load(name_or_path: &str) -> Result<Scenario, String> {
    let path = if name_or_path.ends_with(".toml") {
        PathBuf::from(name_or_path)
    } else {
        scenarios_dir().join(format!("{name_or_path}.toml"))
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!("cannot read scenario {}: {error} (`petrel-sim list` shows the catalogue)", path.display())
    })?;
    Scenario::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn list() -> ExitCode {
    let dir = scenarios_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("petrel-sim: cannot read {}", dir.display());
        return ExitCode::FAILURE;
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    say!("store-crash  the storage engine alone under crashes and disk faults (built in)");
    for path in names {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| Scenario::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(scenario) => {
                let first = scenario.description.split(". ").next().unwrap_or("").trim_end_matches('.');
                say!("{stem:<12} {first}");
            }
            Err(error) => say!("{stem:<12} INVALID: {error}"),
        }
    }
    ExitCode::SUCCESS
}

/// Runs each seed in its own process (see `--single`), the determinism check as two processes
/// whose histories are compared, and prints a total.
fn cluster_batch(
    arg: &str,
    scenario: &Scenario,
    seeds: std::ops::Range<u64>,
    check: bool,
    out: &Path,
    planted: Option<PlantedBug>,
) -> ExitCode {
    if !cfg!(madsim) {
        eprintln!(
            "petrel-sim: cluster scenario {:?} needs the simulator's build (--cfg madsim); run it with `cargo sim run {}`",
            scenario.name, scenario.name
        );
        return ExitCode::from(2);
    }
    let total = seeds.end - seeds.start;
    let started = petrel_core::clock::wall_now();
    let mut failed = Vec::new();
    for (n, seed) in seeds.enumerate() {
        print!("[{}/{total}] ", n + 1);
        // The child writes to the same stdout: ours must be out first.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut ok = run_child(arg, seed, out, planted);
        if check {
            let again_dir = out.join(".determinism");
            let again = run_child_quiet(arg, seed, &again_dir, planted);
            let history =
                |dir: &Path| std::fs::read(dir.join(&scenario.name).join(format!("seed-{seed}")).join("history.jsonl"));
            match (history(out), history(&again_dir), again) {
                (Ok(first), Ok(second), true) if first == second => {
                    say!("  deterministic: a second process replayed the same {} history bytes", first.len());
                }
                (Ok(first), Ok(second), _) => {
                    let line =
                        first.split(|b| *b == b'\n').zip(second.split(|b| *b == b'\n')).position(|(a, b)| a != b);
                    say!("  NOT DETERMINISTIC: the second run's history differs at event {line:?}");
                    ok = false;
                }
                _ => {
                    say!("  determinism not checked: a history file is missing");
                    ok = false;
                }
            }
        }
        if !ok {
            let flag = if check { " --check-determinism" } else { "" };
            say!("  reproduce: cargo sim run {arg} --seed {seed}{flag}");
            failed.push(seed);
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    say!("{}: {} passed, {} failed in {wall_s:.1} wall s", scenario.name, total as usize - failed.len(), failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        say!("failing seeds: {failed:?}");
        ExitCode::FAILURE
    }
}

/// Runs one seed in a child process, its output shown; true when it passed.
fn run_child(arg: &str, seed: u64, out: &Path, planted: Option<PlantedBug>) -> bool {
    child_command(arg, seed, out, planted).status().is_ok_and(|status| status.success())
}

/// Runs one seed in a child process, its output hidden; true when it passed.
fn run_child_quiet(arg: &str, seed: u64, out: &Path, planted: Option<PlantedBug>) -> bool {
    child_command(arg, seed, out, planted).output().is_ok_and(|output| output.status.success())
}

fn child_command(arg: &str, seed: u64, out: &Path, planted: Option<PlantedBug>) -> std::process::Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("petrel-sim"));
    let mut command = std::process::Command::new(exe);
    command.args(["run", arg, "--seed", &seed.to_string(), "--single", "--out"]).arg(out);
    if let Some(bug) = planted {
        command.args(["--planted-bug", bug.name()]);
    }
    command
}

fn parse_planted(name: &str) -> Result<PlantedBug, String> {
    PlantedBug::ALL.into_iter().find(|bug| bug.name() == name).ok_or_else(|| format!("unknown planted bug {name:?}"))
}

#[cfg(not(madsim))]
fn cluster_seed(scenario: &Scenario, _seed: u64, _out: &Path, _planted: Option<PlantedBug>) -> ExitCode {
    eprintln!("petrel-sim: cluster scenario {:?} needs the simulator's build (--cfg madsim)", scenario.name);
    ExitCode::from(2)
}

/// Runs one seed in this process, prints its line and writes its report.
#[cfg(madsim)]
fn cluster_seed(scenario: &Scenario, seed: u64, out: &Path, planted: Option<PlantedBug>) -> ExitCode {
    use petrel_sim::cluster::{run, RunOptions};
    use petrel_sim::report::{render, RunMeta};

    let started = petrel_core::clock::wall_now();
    let outcome = run(scenario, seed, &RunOptions { planted });
    let wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let reproduce = format!("cargo sim run {} --seed {seed}", scenario.name);
    let meta = RunMeta { scenario: scenario.name.clone(), seed, sim_ms: outcome.sim_ms, wall_ms, reproduce };
    let report = render(&meta, &outcome.history, &outcome.verdicts);
    let dir = out.join(&scenario.name).join(format!("seed-{seed}"));
    let written = write_report(&dir, &report, &outcome.history.to_json_lines());
    let speed = if wall_ms == 0 { "-".to_owned() } else { format!("{:.0}x", outcome.sim_ms as f64 / wall_ms as f64) };
    let failing: Vec<&str> = outcome.verdicts.iter().filter(|v| !v.pass).map(|v| v.checker.as_str()).collect();
    say!(
        "{} seed {seed}: {}  ({} events, {:.1} s simulated in {:.2} wall s, {speed}){}",
        scenario.name,
        if outcome.pass { "PASS" } else { "FAIL" },
        outcome.history.events.len(),
        outcome.sim_ms as f64 / 1000.0,
        wall_ms as f64 / 1000.0,
        if failing.is_empty() { String::new() } else { format!("  failing: {}", failing.join(", ")) },
    );
    if let Some(panic) = &outcome.panic {
        say!("  panicked: {panic}");
    }
    match written {
        Ok(()) => say!("  report: {}", dir.join("summary.txt").display()),
        Err(error) => say!("  report not written to {}: {error}", dir.display()),
    }
    if outcome.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(madsim)]
fn write_report(dir: &Path, report: &petrel_sim::report::Report, history: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.txt"), &report.summary)?;
    std::fs::write(dir.join("report.json"), &report.json)?;
    std::fs::write(dir.join("timeline.txt"), &report.timeline)?;
    std::fs::write(dir.join("throughput.svg"), &report.svg)?;
    std::fs::write(dir.join("history.jsonl"), history)
}

fn store_crash(seeds: std::ops::Range<u64>, steps: usize, flush: Mode, check_determinism: bool) -> ExitCode {
    let mode = match flush {
        Mode::Async => FlushMode::Async(Default::default()),
        Mode::Sync => FlushMode::Sync,
    };
    let flush_name = match flush {
        Mode::Async => "async",
        Mode::Sync => "sync",
    };
    let total = seeds.end - seeds.start;
    let mut failed = 0;
    for seed in seeds {
        let run = run_seed(seed, mode, steps);
        print_run(&run, flush_name);
        let mut ok = run.violation.is_none();
        if check_determinism {
            let again = run_seed(seed, mode, steps);
            if let Some((step, first, second)) = run.first_difference(&again) {
                say!("  NOT DETERMINISTIC at step {step}:\n    first run:  {first}\n    second run: {second}");
                say!("  reproduce: cargo sim run store-crash --seed {seed} --steps {steps} --flush {flush_name} --check-determinism");
                ok = false;
            }
        }
        if !ok {
            failed += 1;
        }
    }
    say!("{} passed, {} failed", total - failed, failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_run(run: &ChaosRun, flush: &str) {
    let s = &run.summary;
    let verdict = if run.violation.is_none() { "ok" } else { "VIOLATION" };
    say!(
        "store-crash seed={} flush={flush} steps={}: {verdict}: put {} refused {} kept {} lost-unsynced {} restarts {} kills {} power-losses {} disk-faults {} reads {}",
        run.seed,
        run.steps,
        s.messages_put,
        s.refused_puts,
        s.messages_kept,
        s.lost_unsynced,
        s.restarts,
        s.kills,
        s.power_losses,
        s.faults,
        s.reads
    );
    if let Some((step, violation)) = &run.violation {
        say!("  step {step}: {violation}");
        say!("  reproduce: cargo sim run store-crash --seed {} --steps {} --flush {flush}", run.seed, run.steps);
    }
}
