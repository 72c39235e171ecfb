//! `keel::trace::capture` gives the same answer whatever the environment: this binary runs its
//! scenario in a child process whose `KEEL_TRACE` is set before keel first reads it (as
//! `KEEL_TRACE=… cargo test` does from a shell), to a filter that matches nothing, and checks that
//! a capture still records every call.

#![deny(warnings, clippy::all)]

use keel::trace::{self, Event};
#[path = "support/child.rs"]
mod child;

#[keel::instrument]
mod orders {
    pub fn place(quantity: u32) -> Result<u32, String> {
        if quantity == 0 {
            return Err("empty order".into());
        }
        Ok(price(quantity) * quantity)
    }

    pub fn price(_quantity: u32) -> u32 {
        3
    }
}

fn calls(events: &[Event]) -> Vec<(&'static str, bool)> {
    events.iter().map(|e| (e.name(), e.is_enter())).collect()
}

const EVERY_CALL: [(&str, bool); 6] = [
    ("trace_capture_env::orders::place", true),
    ("trace_capture_env::orders::price", true),
    ("trace_capture_env::orders::price", false),
    ("trace_capture_env::orders::place", false),
    ("trace_capture_env::orders::place", true),
    ("trace_capture_env::orders::place", false),
];

fn scenario() -> Vec<Event> {
    let ((), events) = trace::capture(|| {
        assert_eq!(orders::place(2), Ok(6));
        assert!(orders::place(0).is_err());
    });
    events
}

/// Run by the tests below, in a child process with `KEEL_TRACE` set.
#[test]
#[ignore = "run in a child process by the tests of this file"]
fn child() {
    assert!(
        std::env::var("KEEL_TRACE").is_ok(),
        "run me through the parent tests"
    );
    // The very first use of keel::trace in this process: a capture.
    let events = scenario();
    assert_eq!(calls(&events), EVERY_CALL);
    assert_eq!(events[3].outcome(), Some(&trace::Outcome::Ok));
    assert_eq!(
        events[5].outcome(),
        Some(&trace::Outcome::Err("empty order".into()))
    );
    // The environment did switch tracing on, with its filter; the sinks obey it.
    assert!(trace::is_enabled());
    assert!(trace::filter().is_some());
    // Switched off, a capture still records.
    trace::disable();
    assert_eq!(calls(&scenario()), EVERY_CALL);
    println!("child scenario passed");
}

fn run_child(keel_trace: &str) -> String {
    let (stdout, stderr) = child::run_ignored_test("child", keel_trace);
    assert!(stdout.contains("child scenario passed"), "{stdout}");
    stderr
}

#[test]
fn capture_records_every_call_under_a_filter_matching_nothing() {
    let stderr = run_child("nothing::matches::this");
    // The filter did apply to the sinks (KEEL_TRACE's stderr output): no call printed.
    assert!(!stderr.contains("enter "), "{stderr}");
}

#[test]
fn capture_records_every_call_under_an_unrelated_filter() {
    // The issue's `KEEL_TRACE=keel::tx cargo test`.
    let stderr = run_child("keel::tx");
    assert!(!stderr.contains("enter trace_capture_env"), "{stderr}");
}

#[test]
fn capture_records_every_call_under_an_exclusion() {
    let stderr = run_child("trace_capture_env::orders=off");
    assert!(!stderr.contains("enter trace_capture_env"), "{stderr}");
}

/// In this process (no `KEEL_TRACE` needed), without `enable`: the same answer.
#[test]
fn capture_works_without_enable() {
    trace::disable();
    assert_eq!(calls(&scenario()), EVERY_CALL);
}
