//! Tidy: the workspace's determinism rules, enforced on the source text.
//!
//! A seed replays a simulated cluster only if time, randomness, threads, files and scheduling
//! all enter through Petrel's seams (DESIGN.md, "Known determinism traps under madsim"). This
//! test reads every Rust file of the workspace crates and fails, naming file and line, when one
//! of the banned constructs appears outside the few places allowed to use it.

use std::path::{Path, PathBuf};

/// One banned construct: what to look for, why it is banned, and where it is allowed.
struct Rule {
    /// Text that marks a use of the construct (matched after comments are stripped).
    needle: &'static str,
    /// Why the construct breaks determinism: printed with each violation.
    why: &'static str,
    /// Path prefixes (relative to the workspace root) where the construct is allowed.
    allowed: &'static [&'static str],
}

/// Benchmarks measure real elapsed time; nothing they do reaches a simulation.
const BENCHES: &str = "benches/";
/// The tidy test itself names every banned construct.
const TIDY: &str = "sim/tests/tidy.rs";
/// The time seam: the one library file that reads the clocks (madsim virtualises both).
const CLOCK: &str = "core/src/clock.rs";
/// The memmap2 backend of the Disk seam is the one place that touches real files.
const REAL_DISK: &str = "net/src/disk.rs";
/// The production binary reads its configuration file once at start (never simulated).
const BINARY: &str = "net/src/bin/";
/// The scenario runner reads scenario files and writes run reports, outside any simulation.
const SIM_BINARY: &str = "sim/src/bin/";
/// The cluster tests start the runner as a process and read its reports.
const SIM_PROCESS_TESTS: &str = "sim/tests/cluster.rs";
/// Real-disk tests create and inspect files in a temporary directory.
const REAL_DISK_TESTS: &str = "net/tests/";

const RULES: &[Rule] = &[
    Rule {
        needle: "Instant::now",
        why: "clock read: use petrel_core::clock or a `now` passed in",
        allowed: &[CLOCK, BENCHES, TIDY],
    },
    Rule {
        needle: "SystemTime::now",
        why: "clock read: use petrel_core::clock or a `now` passed in",
        allowed: &[CLOCK, BENCHES, TIDY],
    },
    Rule { needle: "thread_rng", why: "unseeded randomness: hand the component a seeded RNG", allowed: &[TIDY] },
    Rule { needle: "rand::random", why: "unseeded randomness: hand the component a seeded RNG", allowed: &[TIDY] },
    Rule { needle: "from_entropy", why: "unseeded randomness: hand the component a seeded RNG", allowed: &[TIDY] },
    Rule { needle: "OsRng", why: "unseeded randomness: hand the component a seeded RNG", allowed: &[TIDY] },
    Rule { needle: "thread::spawn", why: "OS thread: madsim cannot schedule it", allowed: &[TIDY] },
    Rule { needle: "thread::Builder", why: "OS thread: madsim cannot schedule it", allowed: &[TIDY] },
    Rule { needle: "spawn_blocking", why: "OS thread pool: madsim cannot schedule it", allowed: &[TIDY] },
    Rule {
        needle: "std::fs",
        why: "real file access: go through the Disk seam",
        allowed: &[REAL_DISK, REAL_DISK_TESTS, BINARY, SIM_BINARY, SIM_PROCESS_TESTS, BENCHES, TIDY],
    },
    Rule {
        needle: "tokio::fs",
        why: "real file access (even under madsim): go through the Disk seam",
        allowed: &[TIDY],
    },
    Rule { needle: "HashMap", why: "iteration order is random per process: use BTreeMap or sort", allowed: &[TIDY] },
    Rule { needle: "HashSet", why: "iteration order is random per process: use BTreeSet or sort", allowed: &[TIDY] },
    Rule { needle: "static mut", why: "global state survives between runs in one process", allowed: &[TIDY] },
    Rule { needle: "thread_local!", why: "global state survives between runs in one process", allowed: &[TIDY] },
    Rule { needle: "lazy_static!", why: "global state survives between runs in one process", allowed: &[TIDY] },
];

/// How many lines after `select!` may pass before `biased;` must have appeared.
const SELECT_BIASED_WINDOW_LINES: usize = 3;

/// A rule broken at one place.
#[derive(Debug, PartialEq)]
struct Violation {
    path: String,
    line: usize,
    why: String,
}

/// Drops a `//` comment (and doc comment) from a line; string contents with `//` in them are
/// cut too, which can only hide a violation inside a string literal.
fn code_part(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn is_allowed(path: &str, allowed: &[&str]) -> bool {
    allowed.iter().any(|prefix| path.starts_with(prefix) || path.contains(&format!("/{prefix}")))
}

/// Checks one file's text; `path` is relative to the workspace root.
fn check_source(path: &str, text: &str) -> Vec<Violation> {
    let lines: Vec<&str> = text.lines().map(code_part).collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        for rule in RULES {
            if line.contains(rule.needle) && !is_allowed(path, rule.allowed) {
                found.push(Violation { path: path.to_string(), line: index + 1, why: rule.why.to_string() });
            }
        }
        if line.contains("select!") && !is_allowed(path, &[TIDY]) {
            let window_end = (index + 1 + SELECT_BIASED_WINDOW_LINES).min(lines.len());
            if !lines[index..window_end].iter().any(|l| l.contains("biased;")) {
                found.push(Violation {
                    path: path.to_string(),
                    line: index + 1,
                    why: "select! without `biased;`: its branch order is random and unseeded".to_string(),
                });
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sim/ has a parent").to_path_buf()
}

#[test]
fn workspace_sources_keep_the_determinism_rules() {
    let root = workspace_root();
    let mut files = Vec::new();
    for crate_dir in ["core", "net", "sim"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 3, "tidy found too few files under {}: is the layout right?", root.display());
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source file is readable UTF-8");
        let relative = file.strip_prefix(&root).expect("file is under the root");
        violations.extend(check_source(&relative.to_string_lossy(), &text));
    }
    let report: Vec<String> = violations.iter().map(|v| format!("{}:{}: {}", v.path, v.line, v.why)).collect();
    assert!(report.is_empty(), "determinism rules broken:\n{}", report.join("\n"));
}

#[test]
fn tidy_catches_each_banned_construct_outside_its_allowed_place() {
    let clock = "fn f() { let t = std::time::Instant::now(); }";
    assert_eq!(check_source("core/src/x.rs", clock).len(), 1);
    assert!(check_source("core/benches/append.rs", clock).is_empty());

    let files = "use std::fs::File;";
    assert_eq!(check_source("core/src/store/x.rs", files).len(), 1);
    assert!(check_source("net/src/disk.rs", files).is_empty());

    for banned in [
        "rand::thread_rng()",
        "std::thread::spawn(f)",
        "tokio::task::spawn_blocking(f)",
        "HashMap::new()",
        "static mut X: u8 = 0;",
    ] {
        assert_eq!(check_source("sim/src/x.rs", banned).len(), 1, "{banned} should be caught");
    }
}

#[test]
fn tidy_requires_biased_in_every_select_and_ignores_comments() {
    let unbiased = "tokio::select! {\n    _ = a => {},\n    _ = b => {},\n}";
    assert_eq!(check_source("core/src/x.rs", unbiased).len(), 1);
    let biased = "tokio::select! {\n    biased;\n    _ = a => {},\n}";
    assert!(check_source("core/src/x.rs", biased).is_empty());
    let commented = "// never call Instant::now() here\nlet x = 1; // nor thread_rng";
    assert!(check_source("core/src/x.rs", commented).is_empty());
}
