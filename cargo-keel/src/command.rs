//! The subcommand: reads the selection, checks the program links keel's trace (or builds the
//! runtime it brings in), builds the shim, and runs cargo with this binary as `RUSTC_WRAPPER`
//! in `target/keel/`, with each selected crate's selection in its own variable
//! ([`wrapper::crate_var`]) so that cargo rebuilds only the crates whose instrumentation changed.

use crate::wrapper;
use keel_transform::selection::Selection;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo keel <run|build|test|check> [--instrument SELECTOR]... [-- cargo args]\n\
SELECTOR: a crate (`regex`), a path glob (`serde_json::de::*`) or an item (`regex::Regex::new`);\n\
also read from `[package.metadata.keel] instrument = [..]` in the manifest.";

/// The shim's source, compiled once per target directory.
const SHIM_SOURCE: &str = include_str!("../shim/lib.rs");
/// The no-op entry points for build scripts and proc macros.
const NULL_SOURCE: &str = include_str!("../shim/null.rs");

struct Request {
    subcommand: String,
    selectors: Vec<String>,
    manifest_path: Option<PathBuf>,
    cargo_args: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Request, String> {
    let mut args = args.iter().peekable();
    if args.peek().is_some_and(|a| *a == "keel") {
        args.next(); // `cargo keel ...` runs `cargo-keel keel ...`
    }
    let subcommand = args
        .next()
        .and_then(|a| a.to_str())
        .ok_or_else(|| USAGE.to_owned())?
        .to_owned();
    if !["run", "build", "test", "check", "bench"].contains(&subcommand.as_str()) {
        return Err(format!("unknown subcommand `{subcommand}`\n{USAGE}"));
    }
    let mut request = Request {
        subcommand,
        selectors: Vec::new(),
        manifest_path: None,
        cargo_args: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or_default();
        if text == "--" {
            request.cargo_args.extend(args.by_ref().cloned());
            break;
        } else if text == "--instrument" {
            let value = args
                .next()
                .and_then(|a| a.to_str())
                .ok_or("--instrument needs a selector")?;
            request.selectors.push(value.to_owned());
        } else if let Some(value) = text.strip_prefix("--instrument=") {
            request.selectors.push(value.to_owned());
        } else {
            return Err(format!(
                "unexpected argument `{text}` (cargo's own go after `--`)\n{USAGE}"
            ));
        }
    }
    let mut cargo_args = request.cargo_args.iter();
    while let Some(arg) = cargo_args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--manifest-path" {
            request.manifest_path = cargo_args.next().map(PathBuf::from);
        } else if let Some(path) = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--manifest-path="))
        {
            request.manifest_path = Some(PathBuf::from(path));
        }
    }
    Ok(request)
}

pub fn main(args: &[OsString]) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cargo keel: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn run(args: &[OsString]) -> Result<ExitCode, String> {
    let mut request = parse(args)?;
    let metadata = metadata(request.manifest_path.as_deref())?;
    let root = metadata["resolve"]["root"].as_str().map(str::to_owned);
    // The selection shared in the manifest, then the command line's.
    let mut selectors = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let is_member = metadata["workspace_members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|id| id == &package["id"]));
        if !is_member {
            continue;
        }
        for s in package["metadata"]["keel"]["instrument"]
            .as_array()
            .into_iter()
            .flatten()
        {
            selectors.push(
                s.as_str()
                    .ok_or("[package.metadata.keel] instrument must be a list of strings")?
                    .to_owned(),
            );
        }
    }
    selectors.append(&mut request.selectors);
    selectors.sort();
    selectors.dedup();
    let selection =
        Selection::parse_all(selectors.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    if selection.selectors.is_empty() {
        return Err(format!(
            "nothing selected: pass `--instrument CRATE` or add `[package.metadata.keel] instrument = [\"CRATE\"]`\n{USAGE}"
        ));
    }
    let target = PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .ok_or("cargo metadata gave no target_directory")?,
    );
    // One target directory for every selection: each crate's dep-info records what was selected
    // in it (`wrapper::crate_var`), so cargo rebuilds the crates whose instrumentation changed
    // and what depends on them, and nothing else.
    let keel_target = target.join("keel");
    let shim_dir = keel_target.join("keel-shim");
    // A program that does not link keel's trace gets keel-runtime (feature trace) from this
    // tool's own source tree, linked into its binaries; without that tree, it is refused.
    let runtime = match check_links_trace(&metadata, root.as_deref()) {
        Ok(()) => None,
        Err(message) => match keel_source() {
            Some(source) => Some(build_runtime(&source, &target, &request.cargo_args)?),
            None => return Err(message),
        },
    };
    build_shim(&shim_dir, &request.cargo_args)?;

    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut command = Command::new(cargo());
    if let Some(rlib) = &runtime {
        let modified = std::fs::metadata(rlib)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        command
            .env(wrapper::RUNTIME_VAR, rlib)
            .env(wrapper::RUNTIME_STAMP_VAR, modified.as_nanos().to_string());
    }
    let built = std::fs::metadata(&me)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    command.env(
        wrapper::TOOL_STAMP_VAR,
        format!(
            "{:016x}-{}",
            fnv1a(SHIM_SOURCE.as_bytes()),
            built.as_nanos()
        ),
    );
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(&wrapper::crate_var("")))
        {
            command.env_remove(name);
        }
    }
    for krate in selection.crates() {
        command.env(wrapper::crate_var(krate), selection.of_crate(krate));
    }
    if request.subcommand == "test" && std::env::var_os("CARGO_ENCODED_RUSTDOCFLAGS").is_none() {
        command.env("RUSTDOCFLAGS", rustdoc_flags(&shim_dir));
    }
    let status = command
        .arg(&request.subcommand)
        .args(&request.cargo_args)
        .env("RUSTC_WRAPPER", &me)
        .env(wrapper::SELECTION_VAR, selectors.join(","))
        .env(wrapper::SHIM_VAR, &shim_dir)
        .env("CARGO_TARGET_DIR", &keel_target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn metadata(manifest: Option<&Path>) -> Result<serde_json::Value, String> {
    let mut command = Command::new(cargo());
    command.args(["metadata", "--format-version", "1"]);
    if let Some(manifest) = manifest {
        command.arg("--manifest-path").arg(manifest);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata's output: {e}"))
}

/// The instrumented crates call symbols keel-runtime defines: the program must link keel's
/// `trace`. Fails before building, with what to add, when the dependency graph lacks it.
fn check_links_trace(metadata: &serde_json::Value, root: Option<&str>) -> Result<(), String> {
    let has_trace = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|node| {
            node["id"].as_str().is_some_and(|id| {
                id.contains("keel-runtime")
                    || id.contains("keel_runtime")
                    || id.contains("#keel-runtime@")
            }) && node["features"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "trace"))
        });
    if has_trace {
        return Ok(());
    }
    let package = root
        .and_then(|id| id.rsplit('/').next())
        .unwrap_or("your package");
    Err(format!(
        "the program must link keel's trace runtime, which the instrumented crates report to: add `keel = {{ version = \"0.1\", features = [\"trace\"] }}` to [dependencies] of {package} and `use keel as _;` to its main.rs or lib.rs"
    ))
}

/// keel's source tree this tool was built from (its `runtime/`), if it is still there.
fn keel_source() -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_owned();
    source
        .join("runtime/Cargo.toml")
        .is_file()
        .then_some(source)
}

/// Builds keel-runtime with features `trace` and `otlp` (release) into `target/keel-runtime/`,
/// one build for every selection (it does not depend on the selection), and returns its rlib;
/// its dependencies are beside it. Built with `KEEL_CARGO_BRINGS_RUNTIME` set, so that it
/// configures its outputs from `KEEL_TRACE` and `OTEL_*` (the program has no code to do so).
fn build_runtime(source: &Path, target: &Path, cargo_args: &[OsString]) -> Result<PathBuf, String> {
    let mut command = Command::new(cargo());
    command
        .args([
            "build",
            "--release",
            "-p",
            "keel-runtime",
            "--features",
            "trace,otlp",
        ])
        .env(wrapper::BRINGS_RUNTIME_VAR, "1")
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(source.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target.join("keel-runtime"));
    if cargo_args.iter().any(|a| a == "--offline") {
        command.arg("--offline");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo build for keel-runtime: {e}"))?;
    if !output.status.success() {
        return Err("keel-runtime (feature trace) did not build (see above)".to_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "keel_runtime")
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "rlib"))
        .ok_or_else(|| "cargo build of keel-runtime named no rlib".to_owned())
}

/// Compiles the shim (`keel_foreign_shim`) into `dir`, unless already there.
fn build_shim(dir: &Path, cargo_args: &[OsString]) -> Result<(), String> {
    let rlib = dir.join("libkeel_foreign_shim.rlib");
    let source = dir.join("keel_foreign_shim.rs");
    let null = dir.join("keel_foreign_null.rs");
    let built = rlib.exists()
        && dir.join(wrapper::NULL_OBJECT).exists()
        && dir.join(wrapper::NULL_ARCHIVE).exists();
    if built
        && std::fs::read_to_string(&source).is_ok_and(|s| s == SHIM_SOURCE)
        && std::fs::read_to_string(&null).is_ok_and(|s| s == NULL_SOURCE)
    {
        return Ok(());
    }
    // Two `cargo keel` runs may share a target directory (two terminals, parallel tests): each
    // builds in a directory of its own and renames the results into place, so neither ever
    // links or overwrites the other's half-written files. The sources are renamed last: they
    // are what says the build is complete.
    let scratch = dir.join(format!(".build-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = build_shim_in(&scratch, cargo_args).and_then(|()| {
        for name in [
            "libkeel_foreign_shim.rlib",
            wrapper::NULL_OBJECT,
            wrapper::NULL_ARCHIVE,
            "keel_foreign_null.rs",
            "keel_foreign_shim.rs",
        ] {
            let (from, to) = (scratch.join(name), dir.join(name));
            std::fs::rename(&from, &to)
                .map_err(|e| format!("cannot move {} into place: {e}", to.display()))?;
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Builds the shim (an rlib), the no-op entry points (an object and an archive) and writes both
/// sources into `dir`.
fn build_shim_in(dir: &Path, cargo_args: &[OsString]) -> Result<(), String> {
    let rlib = dir.join("libkeel_foreign_shim.rlib");
    let source = dir.join("keel_foreign_shim.rs");
    let null = dir.join("keel_foreign_null.rs");
    std::fs::write(&source, SHIM_SOURCE)
        .map_err(|e| format!("cannot write {}: {e}", source.display()))?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(rustc);
    command
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "rlib",
            "--crate-name",
            "keel_foreign_shim",
        ])
        .args(["-C", "opt-level=3", "-C", "debuginfo=0"])
        .arg("-o")
        .arg(&rlib)
        .arg(&source);
    // A cross build's shim is for the target.
    let mut args = cargo_args.iter();
    while let Some(arg) = args.next() {
        if arg == "--target" {
            if let Some(target) = args.next() {
                command.arg("--target").arg(target);
            }
        } else if let Some(target) = arg.to_str().and_then(|a| a.strip_prefix("--target=")) {
            command.arg("--target").arg(target);
        }
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !status.success() {
        return Err("the shim keel_foreign_shim did not compile (see above)".to_owned());
    }
    // Build scripts and proc macros run on the host: no --target for them.
    std::fs::write(&null, NULL_SOURCE)
        .map_err(|e| format!("cannot write {}: {e}", null.display()))?;
    let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--edition", "2024", "--crate-type", "lib", "--emit", "obj"])
        .args([
            "--crate-name",
            "keel_foreign_null",
            "-C",
            "panic=abort",
            "-C",
            "opt-level=2",
        ])
        .arg("-o")
        .arg(dir.join(wrapper::NULL_OBJECT))
        .arg(&null)
        .status()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !status.success() {
        return Err("keel_foreign_null did not compile (see above)".to_owned());
    }
    // The same as an archive, for doctests: the linker takes its no-op entry points only when
    // nothing linked before it (keel-runtime) defines them.
    let archive = dir.join(wrapper::NULL_ARCHIVE);
    let status = Command::new(std::env::var_os("AR").unwrap_or_else(|| "ar".into()))
        .arg("crs")
        .arg(&archive)
        .arg(dir.join(wrapper::NULL_OBJECT))
        .status()
        .map_err(|e| format!("cannot run ar: {e}"))?;
    if !status.success() {
        return Err(format!("ar did not make {}", archive.display()));
    }
    Ok(())
}

/// `RUSTDOCFLAGS` for `cargo keel test`'s doctests, which rustdoc compiles without the wrapper:
/// the shim's directory (an instrumented crate names the shim) and the no-op entry points as an
/// archive (taken only if keel-runtime is not linked: a doctest that uses keel reports to it,
/// one that does not runs with its dependencies' instrumentation silent). Appended to the
/// caller's `RUSTDOCFLAGS`.
fn rustdoc_flags(shim_dir: &Path) -> OsString {
    let mut flags = std::env::var_os("RUSTDOCFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(" ");
    }
    flags.push(format!(
        "-L dependency={} -C link-arg={}",
        shim_dir.display(),
        shim_dir.join(wrapper::NULL_ARCHIVE).display()
    ));
    flags
}

/// FNV-1a: a hash that stays the same across builds of this tool (part of the tool's stamp).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
