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
