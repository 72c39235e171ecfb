//! `cargo keel run|build|test [--instrument SELECTOR]... [-- cargo args]`: cargo with the selected
//! dependencies' sources rewritten by keel's instrument transform, the build-time analogue of
//! Python's import hook.
//!
//! The same binary is the `RUSTC_WRAPPER` of the cargo it starts ([`wrapper`]): for a selected
//! crate it rewrites a copy of the crate's directory and compiles the copy.

mod command;
mod wrapper;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if std::env::var_os(wrapper::SELECTION_VAR).is_some() && args.len() > 1 && args[1] != "keel" {
        return wrapper::main(&args[1..]);
    }
    command::main(&args[1..])
}
