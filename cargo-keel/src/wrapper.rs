//! The `RUSTC_WRAPPER` half: cargo runs `cargo-keel <rustc> <args>` for every crate. An
//! unselected crate compiles as cargo asked (with the shim's directory on the library path, for
//! links). A selected one is copied (its whole directory, so `#[path]` modules, `include!` and
//! `include_str!` find their files), its selected functions rewritten in the copy, and the copy
//! compiled instead. Any failure, to parse, to rewrite or to compile the rewritten copy, builds
//! the crate unchanged after one warning naming the file and why: the transform never fails a
//! build.

use keel_transform::foreign::{self, ModDecl};
use keel_transform::selection::Selection;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The selectors, comma-separated (set by the subcommand).
pub const SELECTION_VAR: &str = "KEEL_CARGO_SELECTION";
/// The directory holding `libkeel_foreign_shim.rlib`.
pub const SHIM_VAR: &str = "KEEL_CARGO_SHIM_DIR";
/// The no-op entry points (an object file in the shim's directory) that build scripts and proc
/// macros link: they may use an instrumented crate, and never link keel-runtime.
pub const NULL_OBJECT: &str = "keel_foreign_null.o";
/// The same no-op entry points as an archive, for doctests (`cargo keel test`).
pub const NULL_ARCHIVE: &str = "libkeel_foreign_null.a";
/// keel-runtime's rlib, when `cargo keel` brings the runtime into a program without keel.
pub const RUNTIME_VAR: &str = "KEEL_CARGO_RUNTIME";
/// The variable holding what is selected in one crate (`KEEL_CARGO_SELECT_regex=regex::Regex::new`),
/// set by the subcommand for each selected crate and recorded in every crate's dep-info, so
/// that cargo rebuilds exactly the crates whose instrumentation changed.
pub fn crate_var(krate: &str) -> String {
    format!("KEEL_CARGO_SELECT_{krate}")
}

/// A stamp of this tool (its shim's source and its executable's modification time, set by the
/// subcommand), recorded in the dep-info of each crate it rewrote: a new shim or transform
/// rebuilds them, and only them.
pub const TOOL_STAMP_VAR: &str = "KEEL_CARGO_TOOL_STAMP";
/// A stamp of the runtime's rlib (its modification time, set by the subcommand), recorded in
/// the dep-info of each program it is linked into: a rebuilt runtime relinks them.
pub const RUNTIME_STAMP_VAR: &str = "KEEL_CARGO_RUNTIME_STAMP";

/// Set while building the keel-runtime `cargo keel` brings in (read by keel-runtime with
/// `option_env!`): that runtime configures its outputs from `KEEL_TRACE` and `OTEL_*`.
pub const BRINGS_RUNTIME_VAR: &str = "KEEL_CARGO_BRINGS_RUNTIME";

fn value_after<'a>(args: &'a [OsString], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, arg)| {
        let text = arg.to_str()?;
        if text == flag {
            args.get(i + 1)?.to_str()
        } else {
            text.strip_prefix(&prefix)
        }
    })
}

pub fn main(args: &[OsString]) -> ExitCode {
    let (rustc, args) = (&args[0], &args[1..]);
    let shim_dir = PathBuf::from(std::env::var_os(SHIM_VAR).unwrap_or_default());
    let Some(krate) = value_after(args, "--crate-name").map(str::to_owned) else {
        return exit(Command::new(rustc).args(args).status());
    };
    let compile = |with: &[OsString]| {
        let status = Command::new(rustc).args(with).status();
        if status.as_ref().is_ok_and(|s| s.success()) {
            record_selection(&krate, args, &[]);
        }
        exit(status)
    };
    let mut plain: Vec<OsString> = args.to_vec();
    plain.push("-L".into());
    plain.push(format!("dependency={}", shim_dir.display()).into());
    let proc_macro = args
        .iter()
        .zip(args.iter().skip(1))
        .any(|(flag, value)| flag == "--crate-type" && value == "proc-macro");
    if krate.starts_with("build_script_") || proc_macro {
        plain.push("-C".into());
        plain.push(format!("link-arg={}", shim_dir.join(NULL_OBJECT).display()).into());
    }
    let selectors = std::env::var(SELECTION_VAR).unwrap_or_default();
    let selection =
        Selection::parse_all(selectors.split(',').filter(|s| !s.is_empty())).unwrap_or_default();
    if let Some(runtime) = std::env::var_os(RUNTIME_VAR)
        && links_program(&krate, args)
    {
        // A selected crate's own tests (`--test`) are rewritten too, then given the runtime.
        let runtime = Path::new(&runtime);
        let own = selection.selects_crate(&krate).then_some(&selection);
        let mut attempt = with_runtime(&krate, args, &shim_dir, runtime, own);
        if let Ok((linked, copy, true)) = &attempt {
            if let Some(done) = compile_rewritten(
                rustc,
                linked,
                &krate,
                args,
                copy,
                &[TOOL_STAMP_VAR, RUNTIME_STAMP_VAR],
            ) {
                return done;
            }
            attempt = with_runtime(&krate, args, &shim_dir, runtime, None);
        }
        return match attempt {
            Ok((linked, copy, _)) => {
                let status = Command::new(rustc).args(&linked).status();
                if status.as_ref().is_ok_and(|s| s.success()) {
                    point_dep_info_at_originals(&krate, args, &copy);
                    record_selection(&krate, args, &[TOOL_STAMP_VAR, RUNTIME_STAMP_VAR]);
                }
                exit(status)
            }
            Err((file, reason)) => {
                eprintln!(
                    "warning: cargo keel: keel-runtime not brought into `{krate}`: {file}: {reason}"
                );
                compile(&plain)
            }
        };
    }
    if !selection.selects_crate(&krate) {
        return compile(&plain);
    }
    // `plain`: a selected proc macro links the no-op entry points too.
    match instrumented_args(&krate, &plain, &selection, &shim_dir) {
        Ok(Some((instrumented, copy))) => {
            if let Some(done) =
                compile_rewritten(rustc, &instrumented, &krate, args, &copy, &[TOOL_STAMP_VAR])
            {
                return done;
            }
        }
        Ok(None) => {}
        Err((file, reason)) => warn(&krate, &file, &reason),
    }
    compile(&plain)
}

/// Compiles a rewritten copy (`rewritten`: rustc's arguments for it). On success the copy's
/// dep-info is pointed back at the original files, the selection and `stamps` are recorded, and
/// rustc's own output is passed on: the crate is built. On failure one warning names the crate
/// and why, and `None` tells the caller to build the original instead.
fn compile_rewritten(
    rustc: &OsStr,
    rewritten: &[OsString],
    krate: &str,
    args: &[OsString],
    copy: &Path,
    stamps: &[&str],
) -> Option<ExitCode> {
    use std::io::Write;
    match Command::new(rustc).args(rewritten).output() {
        Ok(output) if output.status.success() => {
            point_dep_info_at_originals(krate, args, copy);
            record_selection(krate, args, stamps);
            let _ = std::io::stderr().write_all(&output.stderr);
            let _ = std::io::stdout().write_all(&output.stdout);
            Some(ExitCode::SUCCESS)
        }
        Ok(output) => {
            let first = rejected(&output.stderr);
            warn(
                krate,
                "the rewritten copy",
                &format!("did not compile ({first})"),
            );
            None
        }
        Err(error) => {
            warn(
                krate,
                "the rewritten copy",
                &format!("rustc did not run: {error}"),
            );
            None
        }
    }
}

/// Whether this rustc run links one of the workspace's programs (a bin, test, example or
/// bench of a package being built; build scripts excluded).
fn links_program(krate: &str, args: &[OsString]) -> bool {
    let is_bin = args.iter().any(|a| a == "--test")
        || args
            .iter()
            .zip(args.iter().skip(1))
            .any(|(flag, value)| flag == "--crate-type" && value == "bin");
    is_bin
        && !krate.starts_with("build_script_")
        && std::env::var_os("CARGO_PRIMARY_PACKAGE").is_some()
}

/// rustc's arguments for a program that does not mention keel, compiled from a copy whose root
/// file names keel-runtime (`extern crate keel_runtime as _;`), so the runtime, its trace
/// state and the extern symbols the instrumented crates call are linked in, once.
///
/// With `selection` (the crate is selected: its own unit tests), its functions are rewritten in
/// the copy first; the third value says whether any was. A crate that fails to rewrite is
/// copied again and given the runtime alone, after the warning.
fn with_runtime(
    krate: &str,
    args: &[OsString],
    shim_dir: &Path,
    runtime: &Path,
    selection: Option<&Selection>,
) -> Result<(Vec<OsString>, PathBuf, bool), Unchanged> {
    let no_file = |reason: String| (String::from("(crate)"), reason);
    let (mut index, mut root, mut manifest_dir, mut copy) =
        copy_crate(krate, args, shim_dir, "with-runtime")?;
    let relative = root.strip_prefix(&manifest_dir).unwrap_or(&root).to_owned();
    let mut instrumented = false;
    if let Some(selection) = selection
        && value_after(args, "--edition").is_some_and(|e| e != "2015")
    {
        match instrument_copy(krate, &copy, &relative, &manifest_dir, selection) {
            Ok(rewritten) => instrumented = rewritten > 0,
            Err((file, reason)) => {
                warn(krate, &file, &reason);
                (index, root, manifest_dir, copy) =
                    copy_crate(krate, args, shim_dir, "with-runtime")?;
            }
        }
    }
    let copied_root = copy.join(root.strip_prefix(&manifest_dir).unwrap_or(&root));
    let source = std::fs::read_to_string(&copied_root).map_err(|e| no_file(e.to_string()))?;
    let file = syn::parse_file(&source).map_err(|e| (root.display().to_string(), e.to_string()))?;
    // Before the first item (its outer attributes and doc comments included): after every inner
    // attribute, which must come first, and never at the end of a `//!` line, which would make
    // it part of the comment. A file with no item gets it at its end.
    let insertion = match file.items.first() {
        Some(item) => {
            use syn::spanned::Spanned;
            let at = item.span().start();
            foreign::Insertion {
                line: at.line,
                column: at.column,
                text: "extern crate keel_runtime as _; ".to_owned(),
            }
        }
        None => foreign::Insertion {
            line: source.split('\n').count(),
            column: source.rsplit('\n').next().unwrap_or("").chars().count(),
            text: "\nextern crate keel_runtime as _;\n".to_owned(),
        },
    };
    let text = foreign::apply(&source, &[insertion]);
    std::fs::write(&copied_root, text).map_err(|e| no_file(e.to_string()))?;
    let mut linked: Vec<OsString> = args.to_vec();
    linked[index] = copied_root.into_os_string();
    linked.push("--extern".into());
    linked.push(format!("keel_runtime={}", runtime.display()).into());
    // Its dependencies are in `deps/` beside the uplifted rlib.
    let deps = runtime.parent().unwrap_or(runtime).join("deps");
    for dir in [deps.as_path(), shim_dir] {
        linked.push("-L".into());
        linked.push(format!("dependency={}", dir.display()).into());
    }
    if instrumented {
        push_shim_args(&mut linked, shim_dir);
    }
    linked.push(
        format!(
            "--remap-path-prefix={}={}",
            copy.display(),
            manifest_dir.display()
        )
        .into(),
    );
    Ok((linked, copy, instrumented))
}

/// The dep-info file rustc writes for this compilation (`<out-dir>/<crate><extra-filename>.d`).
fn dep_info_file(krate: &str, args: &[OsString]) -> Option<PathBuf> {
    let out_dir = value_after(args, "--out-dir")?;
    let extra = args
        .iter()
        .zip(args.iter().skip(1))
        .find_map(|(flag, value)| {
            (flag == "-C")
                .then(|| value.to_str()?.strip_prefix("extra-filename="))
                .flatten()
        })
        .unwrap_or("");
    Some(Path::new(out_dir).join(format!("{krate}{extra}.d")))
}

/// Records what is selected in `krate` (its [`crate_var`], or its absence) in the dep-info, as
/// rustc records an `env!` it read: cargo compares it with the variable's value at each build
/// and rebuilds the crate (and so its dependents) when it differs. One target directory then
/// serves every selection, and a new selection rebuilds only the crates whose instrumentation
/// changed, and what depends on them. `stamps` are further variables recorded alike (the tool's
/// for a crate it rewrote, the runtime's for a program it is linked into).
fn record_selection(krate: &str, args: &[OsString], stamps: &[&str]) {
    let Some(file) = dep_info_file(krate, args) else {
        return;
    };
    let Ok(mut text) = std::fs::read_to_string(&file) else {
        return;
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for var in std::iter::once(crate_var(krate)).chain(stamps.iter().map(|v| (*v).to_owned())) {
        match std::env::var(&var) {
            // rustc's escaping of env-dep values (these have no `\\` and no newline).
            Ok(value) => text.push_str(&format!("# env-dep:{var}={value}\n")),
            Err(_) => text.push_str(&format!("# env-dep:{var}\n")),
        }
    }
    let _ = std::fs::write(&file, text);
}

/// rustc's dep-info names the copy's files; cargo decides freshness from it, so it must name
/// the crate's own files instead (an edit to them rebuilds, an untouched crate stays fresh).
fn point_dep_info_at_originals(krate: &str, args: &[OsString], copy: &Path) {
    let (Some(file), Some(manifest_dir)) = (
        dep_info_file(krate, args),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return;
    };
    if let Ok(text) = std::fs::read_to_string(&file) {
        let original = Path::new(&manifest_dir).display().to_string();
        let _ = std::fs::write(&file, text.replace(&copy.display().to_string(), &original));
    }
}

/// The message of a rustc error line (JSON, as cargo asks for, or text).
fn first_error(line: &str) -> Option<String> {
    if line.starts_with('{') {
        if line.contains("\"level\":\"error\"") {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            return value["message"].as_str().map(str::to_owned);
        }
        return None;
    }
    line.starts_with("error").then(|| line.to_owned())
}

/// The first error of a rejected rewritten copy; with `KEEL_CARGO_VERBOSE` set, rustc's whole
/// output is printed first.
fn rejected(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    if std::env::var_os("KEEL_CARGO_VERBOSE").is_some() {
        eprintln!("{text}");
    }
    text.lines()
        .find_map(first_error)
        .unwrap_or_else(|| "rustc failed".to_owned())
}

fn warn(krate: &str, file: &str, reason: &str) {
    eprintln!("warning: cargo keel: crate `{krate}` built uninstrumented: {file}: {reason}");
}

fn exit(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        ),
        Err(error) => {
            eprintln!("cargo keel: cannot run rustc: {error}");
            ExitCode::FAILURE
        }
    }
}

/// rustc's arguments for the rewritten copy, and the copy's directory.
type Instrumented = (Vec<OsString>, PathBuf);
/// Why a crate is built unchanged: the file (or `(crate)`) and the reason.
type Unchanged = (String, String);

/// rustc's arguments for the rewritten copy, or `None` when nothing was selected inside the
/// crate; `Err((file, reason))` when the crate must be built unchanged.
fn instrumented_args(
    krate: &str,
    args: &[OsString],
    selection: &Selection,
    shim_dir: &Path,
) -> Result<Option<Instrumented>, Unchanged> {
    let no_file = |reason: String| (String::from("(crate)"), reason);
    if value_after(args, "--edition").is_none_or(|e| e == "2015") {
        return Err(no_file(
            "edition 2015 is not rewritten (paths such as `::core` differ)".into(),
        ));
    }
    let (index, root, manifest_dir, copy) = copy_crate(krate, args, shim_dir, "instrumented")?;
    let relative = root.strip_prefix(&manifest_dir).unwrap_or(&root).to_owned();
    let rewritten = instrument_copy(krate, &copy, &relative, &manifest_dir, selection)?;
    if rewritten == 0 {
        return Ok(None);
    }
    let mut instrumented: Vec<OsString> = args.to_vec();
    instrumented[index] = copy.join(&relative).into_os_string();
    push_shim_args(&mut instrumented, shim_dir);
    // file!() and panics name the crate's own files, as without cargo keel.
    instrumented.push(
        format!(
            "--remap-path-prefix={}={}",
            copy.display(),
            manifest_dir.display()
        )
        .into(),
    );
    Ok(Some((instrumented, copy)))
}

/// `--extern keel_foreign_shim=..` and its directory, for a crate rewritten to call the shim.
fn push_shim_args(args: &mut Vec<OsString>, shim_dir: &Path) {
    let rlib = shim_dir.join("libkeel_foreign_shim.rlib");
    args.push("--extern".into());
    args.push(format!("keel_foreign_shim={}", rlib.display()).into());
    args.push("-L".into());
    args.push(format!("dependency={}", shim_dir.display()).into());
}

/// Rewrites the selected functions in `copy` (of the package at `manifest_dir`, whose root file
/// is `relative` in it), file by file from the root through its `mod` declarations; returns how
/// many were rewritten. Warnings name the original files.
fn instrument_copy(
    krate: &str,
    copy: &Path,
    relative: &Path,
    manifest_dir: &Path,
    selection: &Selection,
) -> Result<usize, Unchanged> {
    let mut rewritten = 0;
    // (file in the copy, its module path, the directory its child modules live in)
    let root_copy = copy.join(relative);
    let children = root_copy.parent().map(Path::to_owned).unwrap_or_default();
    let mut queue = vec![(root_copy, vec![krate.to_owned()], children)];
    while let Some((file, module, children)) = queue.pop() {
        if !selection.may_select_under(&module) {
            continue;
        }
        let shown = manifest_dir
            .join(file.strip_prefix(copy).unwrap_or(&file))
            .display()
            .to_string();
        let source = std::fs::read_to_string(&file).map_err(|e| (shown.clone(), e.to_string()))?;
        let (text, report) =
            foreign::instrument_source(&source, &module, selection).map_err(|e| {
                let at = e.span().start();
                (
                    format!("{shown}:{}:{}", at.line, at.column + 1),
                    e.to_string(),
                )
            })?;
        if report.rewritten > 0 {
            std::fs::write(&file, text).map_err(|e| (shown.clone(), e.to_string()))?;
            rewritten += report.rewritten;
        }
        for declaration in &report.modules {
            if let Some(found) = module_file(&file, &children, declaration) {
                queue.push((found.0, declaration.module.clone(), found.1));
            }
        }
    }
    Ok(rewritten)
}

/// Copies the crate rustc is asked to compile (its whole package directory) under the
/// selection's target directory: (index of the source argument, the source file, the package
/// directory, the copy).
fn copy_crate(
    krate: &str,
    args: &[OsString],
    shim_dir: &Path,
    purpose: &str,
) -> Result<(usize, PathBuf, PathBuf, PathBuf), Unchanged> {
    let no_file = |reason: String| (String::from("(crate)"), reason);
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR")
            .ok_or_else(|| no_file("no CARGO_MANIFEST_DIR".into()))?,
    );
    let cwd = std::env::current_dir().map_err(|e| no_file(e.to_string()))?;
    let (index, root) = args
        .iter()
        .enumerate()
        .find_map(|(i, arg)| {
            let path = Path::new(arg);
            (path.extension().is_some_and(|e| e == "rs") && cwd.join(path).is_file())
                .then(|| (i, cwd.join(path)))
        })
        .ok_or_else(|| no_file("no source file among rustc's arguments".into()))?;
    if !root.starts_with(&manifest_dir) {
        return Err(no_file(format!(
            "{} is outside {}",
            root.display(),
            manifest_dir.display()
        )));
    }
    let metadata = args
        .iter()
        .zip(args.iter().skip(1))
        .find_map(|(flag, value)| {
            (flag == "-C")
                .then(|| value.to_str()?.strip_prefix("metadata="))
                .flatten()
        })
        .unwrap_or("none");
    let copy = shim_dir
        .parent()
        .unwrap_or(shim_dir)
        .join("keel-sources")
        .join(format!("{krate}-{metadata}-{purpose}"));
    if copy.exists() {
        std::fs::remove_dir_all(&copy)
            .map_err(|e| no_file(format!("cannot clear {}: {e}", copy.display())))?;
    }
    copy_dir(&manifest_dir, &copy).map_err(|e| no_file(format!("cannot copy the crate: {e}")))?;
    Ok((index, root, manifest_dir, copy))
}

/// The file of `mod x;` declared in `file` (whose child modules live in `children`), and the
/// directory of that module's own children.
fn module_file(file: &Path, children: &Path, declaration: &ModDecl) -> Option<(PathBuf, PathBuf)> {
    let name = declaration.module.last()?;
    let mut base = children.to_owned();
    for inline in &declaration.inline {
        base.push(inline);
    }
    if let Some(path) = &declaration.path_attr {
        let dir = if declaration.inline.is_empty() {
            file.parent()?.to_owned()
        } else {
            base
        };
        let found = dir.join(path);
        let children = found.parent()?.to_owned();
        return found.is_file().then_some((found, children));
    }
    let flat = base.join(format!("{name}.rs"));
    if flat.is_file() {
        return Some((flat, base.join(name)));
    }
    let nested = base.join(name).join("mod.rs");
    nested.is_file().then(|| (nested, base.join(name)))
}

/// Copies `from` into `to`. A symbolic link is copied as what it points to (a file's content, a
/// directory's files), never as a link: the rewrite writes into the copy, and must never write
/// through a link into the original. Links are followed at most 8 deep (a cycle stops there).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    copy_dir_within(from, to, 0)
}

fn copy_dir_within(from: &Path, to: &Path, links: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let mut kind = entry.file_type()?;
        let mut depth = links;
        if kind.is_symlink() {
            depth += 1;
            match std::fs::metadata(entry.path()) {
                Ok(target) if depth <= 8 => kind = target.file_type(),
                // A dangling link or too deep: left out, as rustc would not find it either.
                _ => continue,
            }
        }
        if kind.is_dir() {
            copy_dir_within(&entry.path(), &to.join(&name), depth)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}
