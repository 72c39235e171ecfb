//! `cargo keel` on the fixture workspace `tests/cargo-keel-fixtures/` (an app and local crates
//! standing in for dependencies): selection by crate, by glob and by item, one span tree from
//! the app's own instrumented function into the dependencies, the Stats table, a crate that
//! forbids unsafe code and denies warnings, a dependency's async fn on tokio workers, a
//! transform failure degrading to a warning, a new selection rebuilding only what it changes,
//! and a program that never mentions keel getting keel-runtime from `cargo keel` (its stderr
//! lines, its Stats table at exit with `KEEL_TRACE=stats`, OTLP from `OTEL_*`, a selected
//! crate's own unit tests instrumented too). Slow the
//! first time (it builds the tool and the fixture's graph once per selection, under
//! target/cargo-keel-test/); later runs reuse those builds.

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
        .join("cargo-keel-test")
}

/// Builds `cargo-keel` into its own target directory (the outer cargo holds the main one), once
/// per test process (a build while another test runs the tool would replace it under that test).
fn tool() -> PathBuf {
    static TOOL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TOOL.get_or_init(build_tool).clone()
}

fn build_tool() -> PathBuf {
    let target = target_dir().join("tool");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "cargo-keel", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo build -p cargo-keel");
    assert!(status.success(), "cargo-keel did not build");
    target.join("debug/cargo-keel")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `cargo keel <args>` in `dir`, with this workspace's lockfile and the fixtures' target dir.
fn cargo_keel(tool: &Path, dir: &Path, args: &[&str]) -> Output {
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    Command::new(tool)
        .arg("keel")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir().join("fixtures"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("KEEL_TRACE")
        .output()
        .expect("run cargo keel")
}

fn run_ok(tool: &Path, args: &[&str]) -> (String, String) {
    let output = cargo_keel(tool, &root().join("tests/cargo-keel-fixtures"), args);
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "cargo keel {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn cargo_keel_instruments_selected_dependencies_into_the_programs_trace() {
    let tool = tool();
    let whole_crates = [
        "run",
        "--instrument",
        "keel_fixture_dep",
        "--instrument",
        "keel-fixture-broken",
        "--",
        "--offline",
    ];
    let (stdout, stderr) = run_ok(&tool, &whole_crates);
    // The program's outputs are unchanged by the instrumentation.
    assert!(stdout.contains("results (Ok(60), true, 6, 26)"), "{stdout}");
    // A build script that uses the instrumented dependency links (no-op entry points) and runs.
    assert!(stdout.contains("build script computed 5"), "{stdout}");
    // One span tree: the app's own #[keel::instrument] fn → the dependency's fns → their callees.
    for line in [
        "enter keel_fixture_dep::de::parse parent=keel_fixture_app::handle",
        "enter keel_fixture_dep::add parent=keel_fixture_app::handle",
        "enter keel_fixture_dep::Counter::new parent=keel_fixture_dep::add",
        "enter keel_fixture_dep::Counter::bump parent=keel_fixture_dep::add",
        // An Err reported by its type name, never its text.
        "exit keel_fixture_dep::de::parse Err(\"keel_fixture_dep::ParseError\")",
        // An async fn of the dependency, polled to completion.
        "exit keel_fixture_dep::fetch Ok",
        // A #[path] module whose body uses include_str!.
        "exit keel_fixture_dep::extra::text Ok",
        // A module whose file is a symbolic link.
        "exit keel_fixture_dep::linked::linked Ok",
        // Selected by the manifest's [package.metadata.keel]: forbid(unsafe_code), deny(warnings).
        "enter keel_fixture_strict::double parent=keel_fixture_app::handle",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    assert!(
        !stdout.contains("constant"),
        "a const fn is left alone:\n{stdout}"
    );
    // The Stats table counts the dependency's calls with the program's own.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("keel_fixture_dep::de::parse "))
        .unwrap_or_else(|| panic!("no Stats row for parse:\n{stdout}"));
    let counts: Vec<&str> = row.split_whitespace().skip(1).take(3).collect();
    assert_eq!(counts, ["2", "1", "0"], "calls errors panics: {row}");
    // The crate whose file does not parse is built unchanged, after one warning naming it.
    assert!(!stdout.contains("keel_fixture_broken::len"), "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cargo keel:"))
        .collect();
    if stderr.contains("Compiling keel-fixture-broken") {
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(
            warnings[0].contains("`keel_fixture_broken` built uninstrumented")
                && warnings[0].contains("broken/src/elsewhere.rs"),
            "{stderr}"
        );
    }

    // Another selection: a glob and one item, in a target directory of its own.
    let narrow = [
        "run",
        "--instrument",
        "keel_fixture_dep::de::*",
        "--instrument",
        "keel_fixture_dep::Counter::new",
        "--",
        "--offline",
    ];
    let (stdout, stderr) = run_ok(&tool, &narrow);
    assert!(stdout.contains("results (Ok(60), true, 6, 26)"), "{stdout}");
    // In the same target directory: the rest of the graph is not rebuilt.
    assert!(!compiled(&stderr).contains(&"tokio"), "{stderr}");
    assert!(stdout.contains("enter keel_fixture_dep::de::parse parent=keel_fixture_app::handle"));
    assert!(
        stdout.contains("enter keel_fixture_dep::Counter::new parent=keel_fixture_app::handle")
    );
    for absent in [
        "keel_fixture_dep::add",
        "Counter::bump",
        "keel_fixture_dep::fetch",
    ] {
        assert!(
            !stdout.contains(absent),
            "`{absent}` is not selected:\n{stdout}"
        );
    }

    // Switching back rebuilds only the crates whose instrumentation changed (dep: selected
    // otherwise; broken: selected again) and what depends on them (the app, its build script).
    let (_, stderr) = run_ok(&tool, &whole_crates);
    let compiled = compiled(&stderr);
    for changed in [
        "keel-fixture-dep",
        "keel-fixture-broken",
        "keel-fixture-app",
    ] {
        assert!(compiled.contains(&changed), "{changed}: {stderr}");
    }
    // Not the crate selected alike in both (strict, by the manifest), nor the rest of the graph.
    for unchanged in ["keel-fixture-strict", "keel-runtime", "keel", "tokio"] {
        assert!(!compiled.contains(&unchanged), "{unchanged}: {stderr}");
    }
    // The same selection again: nothing recompiles.
    let (_, stderr) = run_ok(&tool, &whole_crates);
    assert!(compiled_none(&stderr), "{stderr}");
}

/// The packages cargo says it compiled.
fn compiled(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

fn compiled_none(stderr: &str) -> bool {
    compiled(stderr).is_empty()
}

/// `cargo keel run --instrument keel_fixture_dep` of the program that never mentions keel
/// (`plain/`), with `env` set for it; its stdout must be unchanged (`3`). Returns its stderr.
fn run_plain(tool: &Path, env: &[(&str, &str)]) -> String {
    let plain = root().join("tests/cargo-keel-fixtures/plain");
    std::fs::copy(root().join("Cargo.lock"), plain.join("Cargo.lock")).expect("copy Cargo.lock");
    let mut command = Command::new(tool);
    command
        .args([
            "keel",
            "run",
            "--instrument",
            "keel_fixture_dep",
            "--",
            "-q",
            "--offline",
        ])
        .current_dir(&plain)
        // Not the app's: both build keel-fixture-dep, selected differently.
        .env("CARGO_TARGET_DIR", target_dir().join("plain"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("KEEL_TRACE");
    for var in std::env::vars().map(|(name, _)| name) {
        if var.starts_with("OTEL_") {
            command.env_remove(var);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run cargo keel");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{env:?}: {stdout}\n{stderr}");
    assert_eq!(stdout, "3\n", "the program's output is unchanged ({env:?})");
    stderr
}

/// The Stats row of `name` in `stderr`: calls, errors, panics.
fn stats_row<'a>(stderr: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let row = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))?;
    Some(row.split_whitespace().skip(1).take(3).collect())
}

#[test]
fn a_program_that_never_mentions_keel_gets_the_runtime_from_cargo_keel() {
    let tool = tool();
    // Without KEEL_TRACE or OTEL_*, nothing is printed.
    let quiet = run_plain(&tool, &[]);
    assert!(!quiet.contains("keel_fixture_dep"), "{quiet}");

    // keel-runtime, linked in by cargo keel, prints the calls KEEL_TRACE selects; a directive
    // naming a dependency's function is not reported as matching nothing.
    let stderr = run_plain(&tool, &[("KEEL_TRACE", "keel_fixture_dep")]);
    for line in [
        "enter keel_fixture_dep::add",
        "exit  keel_fixture_dep::Counter::bump",
    ] {
        assert!(stderr.contains(line), "missing `{line}` in:\n{stderr}");
    }
    assert!(!stderr.contains("matches no"), "{stderr}");

    // The filter applies to the dependency's functions.
    let stderr = run_plain(&tool, &[("KEEL_TRACE", "keel_fixture_dep::Counter")]);
    assert!(
        stderr.contains("enter keel_fixture_dep::Counter::new"),
        "{stderr}"
    );
    assert!(!stderr.contains("keel_fixture_dep::add"), "{stderr}");
    assert!(!stderr.contains("matches no"), "{stderr}");

    // KEEL_TRACE=stats: the Stats table at exit, one row per function called.
    let stderr = run_plain(&tool, &[("KEEL_TRACE", "stats")]);
    for name in [
        "keel_fixture_dep::add",
        "keel_fixture_dep::Counter::new",
        "keel_fixture_dep::Counter::bump",
    ] {
        assert_eq!(
            stats_row(&stderr, name),
            Some(vec!["1", "0", "0"]),
            "calls errors panics of {name}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("enter "),
        "no stderr lines with stats:\n{stderr}"
    );
    assert!(!stderr.contains("matches no"), "{stderr}");
    // With a filter beside it: only what it lets through is counted.
    let stderr = run_plain(&tool, &[("KEEL_TRACE", "stats,keel_fixture_dep::Counter")]);
    assert!(
        stats_row(&stderr, "keel_fixture_dep::Counter::bump").is_some(),
        "{stderr}"
    );
    assert!(
        stats_row(&stderr, "keel_fixture_dep::add").is_none(),
        "{stderr}"
    );
}

#[test]
fn a_selected_crates_own_unit_tests_are_instrumented_with_the_runtime_brought_in() {
    let tool = tool();
    let plain = root().join("tests/cargo-keel-fixtures/plain");
    std::fs::copy(root().join("Cargo.lock"), plain.join("Cargo.lock")).expect("copy Cargo.lock");
    let output = Command::new(&tool)
        .args([
            "keel",
            "test",
            "--instrument",
            "keel_fixture_plain",
            "--instrument",
            "keel_fixture_dep",
            "--",
            "-q",
            "--offline",
        ])
        .current_dir(&plain)
        // Its own directory: the program's crate is selected here, not in `run_plain`'s.
        .env("CARGO_TARGET_DIR", target_dir().join("plain-test"))
        .env("KEEL_TRACE", "stats")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo keel test");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(!stderr.contains("built uninstrumented"), "{stderr}");
    // The test binary's table at exit: the crate's own function and the dependency's.
    for name in ["keel_fixture_plain::sum", "keel_fixture_dep::add"] {
        assert_eq!(
            stats_row(&stderr, name),
            Some(vec!["1", "0", "0"]),
            "calls errors panics of {name}:\n{stderr}"
        );
    }
}

#[test]
fn a_program_that_never_mentions_keel_exports_to_the_otel_endpoint() {
    let tool = tool();
    let receiver = otlp_receiver::Receiver::start(otlp_receiver::Behaviour::Accept);
    let endpoint = receiver.endpoint();
    let stderr = run_plain(
        &tool,
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "plain"),
        ],
    );
    // Flushed at exit: the three calls arrived before the program ended.
    assert_eq!(receiver.span_count(), 3, "{stderr}");
    let spans = receiver.spans();
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.span.name == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
    };
    let add = named("keel_fixture_dep::add");
    assert_eq!(add.service, "plain");
    assert!(add.span.parent_span_id.is_empty(), "add is a root");
    for child in [
        "keel_fixture_dep::Counter::new",
        "keel_fixture_dep::Counter::bump",
    ] {
        let child = named(child);
        assert_eq!(child.parent_id(), add.span_id(), "{child:?}");
        assert_eq!(child.trace_id(), add.trace_id());
    }
}
