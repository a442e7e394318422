//! `petrel-sim`: runs Petrel's seeded chaos scenarios and prints a verdict per seed.
//!
//! Scenarios today: `store-crash` (the storage engine on the simulated disk under random puts,
//! flushes, restarts, process kills and power losses, checked against a model). The cluster
//! scenarios under madsim come with the simulation issue.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use petrel_core::store::FlushMode;
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
        /// Scenario name.
        #[arg(value_enum)]
        scenario: Scenario,
        /// The seed to run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run this many seeds, starting at --seed.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Random steps per seed.
        #[arg(long, default_value_t = 400)]
        steps: usize,
        /// The broker's flush mode.
        #[arg(long, value_enum, default_value_t = Mode::Async)]
        flush: Mode,
        /// Run each seed twice and compare the traces step by step.
        #[arg(long)]
        check_determinism: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// The storage engine under crashes on the simulated disk.
    StoreCrash,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Async,
    Sync,
}

fn main() -> ExitCode {
    let Cli { command: Command::Run { scenario: Scenario::StoreCrash, seed, seeds, steps, flush, check_determinism } } =
        Cli::parse();
    let mode = match flush {
        Mode::Async => FlushMode::Async(Default::default()),
        Mode::Sync => FlushMode::Sync,
    };
    let flush_name = match flush {
        Mode::Async => "async",
        Mode::Sync => "sync",
    };
    let mut failed = 0;
    for seed in seed..seed.saturating_add(seeds.max(1)) {
        let run = run_seed(seed, mode, steps);
        print_run(&run, flush_name);
        let mut ok = run.violation.is_none();
        if check_determinism {
            let again = run_seed(seed, mode, steps);
            if let Some((step, first, second)) = run.first_difference(&again) {
                println!("  NOT DETERMINISTIC at step {step}:\n    first run:  {first}\n    second run: {second}");
                println!("  reproduce: cargo run --release -p petrel-sim -- run store-crash --seed {seed} --steps {steps} --flush {flush_name} --check-determinism");
                ok = false;
            }
        }
        if !ok {
            failed += 1;
        }
    }
    println!("{} passed, {} failed", seeds.max(1) - failed, failed);
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
        println!(
            "  reproduce: cargo run --release -p petrel-sim -- run store-crash --seed {} --steps {} --flush {flush}",
            run.seed, run.steps
        );
    }
}
