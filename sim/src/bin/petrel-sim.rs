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
use petrel_core::store::FlushMode;
use petrel_sim::scenario::Scenario;
use petrel_sim::store_chaos::{run_seed, ChaosRun};

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
    match Cli::parse().command {
        Command::List => list(),
        Command::Run { scenario, seed, seeds, check_determinism, out, steps, flush } => {
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
            let scenario = match load(&scenario) {
                Ok(scenario) => scenario,
                Err(error) => {
                    eprintln!("petrel-sim: {error}");
                    return ExitCode::from(2);
                }
            };
            cluster_run(&scenario, seeds, check_determinism, &out)
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
    let mut names: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    names.sort();
    println!("store-crash  the storage engine alone under crashes and disk faults (built in)");
    for path in names {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| Scenario::parse(&t).map_err(|e| e.to_string())) {
            Ok(scenario) => {
                let first = scenario.description.split(". ").next().unwrap_or("").trim_end_matches('.');
                println!("{stem:<12} {first}");
            }
            Err(error) => println!("{stem:<12} INVALID: {error}"),
        }
    }
    ExitCode::SUCCESS
}

#[cfg(not(madsim))]
fn cluster_run(scenario: &Scenario, _seeds: std::ops::Range<u64>, _check: bool, _out: &Path) -> ExitCode {
    eprintln!(
        "petrel-sim: cluster scenario {:?} needs the simulator's build (--cfg madsim); run it with `cargo sim run {}`",
        scenario.name, scenario.name
    );
    ExitCode::from(2)
}

#[cfg(madsim)]
fn cluster_run(scenario: &Scenario, seeds: std::ops::Range<u64>, check: bool, out: &Path) -> ExitCode {
    use petrel_sim::cluster::{run, RunOptions};
    use petrel_sim::report::{render, RunMeta};

    let total = seeds.end - seeds.start;
    let mut failed = Vec::new();
    let (mut sim_ms_total, mut wall_ms_total) = (0u64, 0u64);
    for (n, seed) in seeds.enumerate() {
        let started = petrel_core::clock::wall_now();
        let outcome = run(scenario, seed, &RunOptions::default());
        let wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        sim_ms_total += outcome.sim_ms;
        wall_ms_total += wall_ms;
        let reproduce = format!("cargo sim run {} --seed {seed}", scenario.name);
        let meta = RunMeta { scenario: scenario.name.clone(), seed, sim_ms: outcome.sim_ms, wall_ms, reproduce: reproduce.clone() };
        let report = render(&meta, &outcome.history, &outcome.verdicts);
        let dir = out.join(&scenario.name).join(format!("seed-{seed}"));
        let written = write_report(&dir, &report, &outcome.history.to_json_lines());
        let mut ok = outcome.pass;
        let speed = if wall_ms == 0 { "-".to_owned() } else { format!("{:.0}x", outcome.sim_ms as f64 / wall_ms as f64) };
        let failing: Vec<&str> =
            outcome.verdicts.iter().filter(|v| !v.pass).map(|v| v.checker.as_str()).collect();
        println!(
            "[{}/{total}] {} seed {seed}: {}  ({} events, {:.1} s simulated, {speed}){}",
            n + 1,
            scenario.name,
            if ok { "PASS" } else { "FAIL" },
            outcome.history.events.len(),
            outcome.sim_ms as f64 / 1000.0,
            if failing.is_empty() { String::new() } else { format!("  failing: {}", failing.join(", ")) },
        );
        if let Some(panic) = &outcome.panic {
            println!("  panicked: {panic}");
        }
        if check {
            let again = run(scenario, seed, &RunOptions::default());
            if let Some((index, first, second)) = outcome.history.first_difference(&again.history) {
                let show = |e: Option<&petrel_sim::history::Event>| {
                    e.map_or("(end of history)".to_owned(), |e| serde_json::to_string(e).unwrap_or_default())
                };
                println!("  NOT DETERMINISTIC at event {index}:\n    first run:  {}\n    second run: {}", show(first), show(second));
                ok = false;
            } else {
                println!("  deterministic: the second run's {} events are identical", again.history.events.len());
            }
        }
        match written {
            Ok(()) => println!("  report: {}", dir.join("summary.txt").display()),
            Err(error) => println!("  report not written to {}: {error}", dir.display()),
        }
        if !ok {
            println!("  reproduce: {reproduce}{}", if check { " --check-determinism" } else { "" });
            failed.push(seed);
        }
    }
    let speed = if wall_ms_total == 0 { 0.0 } else { sim_ms_total as f64 / wall_ms_total as f64 };
    println!(
        "{}: {} passed, {} failed; {:.0} simulated s in {:.1} wall s ({speed:.0}x)",
        scenario.name,
        total as usize - failed.len(),
        failed.len(),
        sim_ms_total as f64 / 1000.0,
        wall_ms_total as f64 / 1000.0
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failing seeds: {failed:?}");
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
                println!("  NOT DETERMINISTIC at step {step}:\n    first run:  {first}\n    second run: {second}");
                println!("  reproduce: cargo sim run store-crash --seed {seed} --steps {steps} --flush {flush_name} --check-determinism");
                ok = false;
            }
        }
        if !ok {
            failed += 1;
        }
    }
    println!("{} passed, {} failed", total - failed, failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_run(run: &ChaosRun, flush: &str) {
    let s = &run.summary;
    let verdict = if run.violation.is_none() { "ok" } else { "VIOLATION" };
    println!(
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
        println!("  step {step}: {violation}");
        println!("  reproduce: cargo sim run store-crash --seed {} --steps {} --flush {flush}", run.seed, run.steps);
    }
}
