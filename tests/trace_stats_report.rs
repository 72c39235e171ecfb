//! An empty `Stats` report says why it is empty: tracing never enabled, the `Stats` never added
//! as a sink, or no call since. Each scenario runs in a child process (the switch is process-wide
//! and "never enabled" cannot be undone), with `KEEL_TRACE` set for it.

#![deny(warnings, clippy::all)]

use keel::trace::{self, Stats};
#[path = "support/child.rs"]
mod child;

#[keel::instrument]
mod work {
    pub fn step(n: u32) -> u32 {
        n + 1
    }
}

const NEVER_ENABLED: &str = "no calls recorded: tracing was never enabled";
const NEVER_ADDED: &str = "no calls recorded: this Stats was never added as a sink";
const NO_CALLS: &str = "no calls recorded: no traced call has finished since this Stats was added";

#[test]
#[ignore = "run in a child process by a_report_says_tracing_was_never_enabled"]
fn child_never_enabled() {
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    work::step(1); // tracing is off: not recorded
    let table = stats.report().to_string();
    assert!(stats.report().functions().is_empty());
    assert!(table.starts_with("function "), "the header stays:\n{table}");
    assert!(table.contains(NEVER_ENABLED), "{table}");
    assert!(table.contains("keel::trace::enable()"), "{table}");
    assert!(table.contains("KEEL_TRACE"), "{table}");

    // Enabled later: the same Stats now records, and the note goes.
    trace::enable();
    work::step(1);
    let table = stats.report().to_string();
    assert!(table.contains("trace_stats_report::work::step"), "{table}");
    assert!(!table.contains("no calls recorded"), "{table}");
}

#[test]
fn a_report_says_tracing_was_never_enabled() {
    // An empty KEEL_TRACE counts as unset: tracing starts off.
    child::run_ignored_test("child_never_enabled", "");
}

#[test]
#[ignore = "run in a child process by a_report_says_the_stats_was_never_added"]
fn child_enabled_by_env() {
    let installed = Stats::new();
    trace::add_sink(installed.clone());
    let forgotten = Stats::new(); // never given to add_sink
    work::step(1);
    let table = forgotten.report().to_string();
    assert!(table.contains(NEVER_ADDED), "{table}");
    assert!(!table.contains(NEVER_ENABLED), "{table}");
    assert_eq!(installed.report().functions().len(), 1);

    // Installed (through a clone) but nothing called since: no call, and it says so.
    trace::add_sink(forgotten.clone());
    let table = forgotten.report().to_string();
    assert!(table.contains(NO_CALLS), "{table}");
    trace::disable();
    work::step(1);
    assert!(forgotten.report().to_string().contains(NO_CALLS));
}

#[test]
fn a_report_says_the_stats_was_never_added() {
    // Enabled by the environment alone, not by `enable()`.
    child::run_ignored_test("child_enabled_by_env", "trace_stats_report::work");
}
