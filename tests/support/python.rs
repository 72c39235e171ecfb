//! Whether the machine's `python3` has what an interop test needs (the test skips with a notice
//! otherwise; `.ci/run` installs every module these tests import).

use std::process::{Command, Stdio};

/// True when `python3 -c "import <modules>"` succeeds (`modules`: comma-separated, as Python
/// writes them).
pub fn python_imports(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
