//! Runs one ignored test of the current test binary in a child process, with `KEEL_TRACE` set
//! before the child's first use of keel.

use std::process::Command;

/// Runs the ignored test `name` of this binary with `KEEL_TRACE=keel_trace`, asserts that it ran
/// and passed, and returns its stdout and stderr.
pub fn run_ignored_test(name: &str, keel_trace: &str) -> (String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEL_TRACE", keel_trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{name}:\n{stdout}");
    (stdout, stderr)
}
