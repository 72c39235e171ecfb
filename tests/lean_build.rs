//! keel as a user crate gets it with the default features (`tests/lean/`, its own workspace so
//! that this workspace's `--all-features` cannot reach it): one `syn` major and no C library or
//! libc in its dependency graph, the derives working, and the macros whose runtime part is behind
//! a feature failing with an error that names the feature (trybuild cases in `tests/lean/tests/ui/`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo <args>` on the lean crate, with its own target directory and this workspace's lockfile
/// (so the versions are the ones every other test ran with).
fn lean_cargo(args: &[&str]) -> std::process::Output {
    let root = root();
    let lean = root.join("tests/lean");
    std::fs::copy(root.join("Cargo.lock"), lean.join("Cargo.lock")).expect("copy Cargo.lock");
    let target = target_dir(&root).join("lean");
    let output = Command::new(env!("CARGO"))
        .args(args)
        .arg("--manifest-path")
        .arg(lean.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} on tests/lean failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// This workspace's target directory (`CARGO_TARGET_DIR` when set).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

#[test]
fn the_default_features_pull_one_syn_and_no_native_code() {
    let tree = lean_cargo(&[
        "tree",
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "--no-dedupe",
    ]);
    let tree = String::from_utf8(tree.stdout).expect("utf-8");
    let mut syn_majors: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.strip_prefix("syn v"))
        .map(|version| version.split('.').next().unwrap_or(version))
        .collect();
    syn_majors.sort_unstable();
    syn_majors.dedup();
    assert_eq!(
        syn_majors.len(),
        1,
        "syn majors in the default graph: {syn_majors:?}\n{tree}"
    );
    for heavy in [
        "libsqlite3-sys",
        "cc ",
        "libc ",
        "rustix ",
        "quanta ",
        "zerocopy ",
        "memmap2 ",
        "bytes ",
        "tokio ",
    ] {
        assert!(
            !tree.lines().any(|line| line.starts_with(heavy)),
            "`{}` is in the default graph:\n{tree}",
            heavy.trim()
        );
    }
}

#[test]
fn default_features_build_the_derives_and_name_the_missing_feature() {
    lean_cargo(&["test", "--quiet"]);
}

/// keel-runtime's features as `cargo tree` resolves them from the root for `packages` (none: the
/// default members, as the README's first command does), dev-dependencies included.
fn runtime_features(packages: &[&str]) -> Vec<String> {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(root())
        .args(["tree", "--offline", "-e", "normal,build,dev"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command
        .args(["-i", "keel-runtime", "--depth", "0", "--format", "{p} {f}"])
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("keel-runtime "))
        .unwrap_or_else(|| panic!("no keel-runtime line in cargo tree's output:\n{stdout}"));
    line.rsplit(' ')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// The README's first command (`cargo run --release --example tour` from the root) resolves
/// features for both default members, the facade and the tour (issue 31): the facade's
/// dev-dependencies may add to the tour's keel-runtime only `tracing` and `http`, whose crates the
/// tour's graph builds anyway. (With `keel-runtime/full` there, the tour's first run also built
/// parquet and the PostgreSQL drivers.)
#[test]
fn the_facades_dev_dependencies_add_no_runtime_feature_to_the_tours_build() {
    let tour = runtime_features(&["keel-tour"]);
    let from_root = runtime_features(&[]);
    assert!(
        tour.iter().any(|f| f == "sqlx"),
        "the tour's features: {tour:?}"
    );
    let extra: Vec<&String> = from_root
        .iter()
        .filter(|f| !tour.contains(f) && !["tracing", "http"].contains(&f.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "the facade's [dev-dependencies] switch on keel-runtime features the tour does not use, \
         built into the README's first command: {extra:?} (the tour's: {tour:?})"
    );
}
