//! The machine's `python3` for the interop tests: whether it has what a test needs (the test
//! skips with a notice otherwise; `.ci/run` installs every module these tests import), and a
//! Python peer started on a port of its own.

// Each test that includes this file uses part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

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

/// A Python peer that printed the port it listens on as its first line.
pub struct Peer {
    /// The process; its stdin is a pipe (the receivers exit when it closes).
    pub child: Child,
    /// The rest of what it prints.
    pub lines: Lines<BufReader<ChildStdout>>,
    /// The port from its first line.
    pub port: u16,
}

/// Starts `python3 <args>` and reads the port from its first line.
pub fn start_peer(args: &[&OsStr]) -> Peer {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next().unwrap().unwrap().trim().parse().unwrap();
    Peer { child, lines, port }
}
