#![deny(warnings, clippy::all)]
//! `keel::finalize::Finalizer`: runs at most once, on drop, call, or at process exit.
//!
//! The at-exit tests re-invoke this test binary as a child process (the ignored test
//! `exit_child_process`) and read what its finalizers printed after `main` ended.

use keel::finalize::Finalizer;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ENV_MODE: &str = "KEEL_FINALIZE_CHILD";

fn counter() -> (Arc<AtomicUsize>, impl FnOnce() + Send + 'static) {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    (runs, move || {
        r.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn drop_runs_the_callback_once() {
    let (runs, callback) = counter();
    let fin = Finalizer::new(callback);
    assert!(fin.alive());
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    drop(fin);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn call_runs_once_and_drop_then_does_nothing() {
    let (runs, callback) = counter();
    let fin = Finalizer::new(callback);
    assert!(fin.call());
    assert!(!fin.alive());
    assert!(!fin.call());
    assert!(!fin.detach());
    drop(fin);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn detach_means_never() {
    let (runs, callback) = counter();
    let fin = Finalizer::new(callback);
    assert!(fin.detach());
    assert!(!fin.alive());
    assert!(!fin.call());
    drop(fin);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[test]
fn set_atexit_is_reported_and_does_not_stop_drop() {
    let (runs, callback) = counter();
    let fin = Finalizer::new(callback);
    assert!(fin.atexit());
    fin.set_atexit(false);
    assert!(!fin.atexit());
    assert!(format!("{fin:?}").contains("atexit: false"));
    drop(fin);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_in_call_propagates_and_the_finalizer_is_dead() {
    let fin = Finalizer::new(|| panic!("close failed"));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fin.call()));
    assert!(result.is_err());
    assert!(!fin.alive());
    drop(fin); // does not run again (it would panic again)
}

#[test]
fn a_panic_on_drop_is_contained() {
    let fin = Finalizer::new(|| panic!("close failed on drop"));
    drop(fin); // reported on stderr, not propagated
}

#[test]
fn callbacks_run_on_the_dropping_thread_and_may_use_finalizers() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = Arc::clone(&order);
    let fin = Finalizer::new(move || {
        o.lock()
            .unwrap()
            .push(format!("{:?}", std::thread::current().name()));
        let o2 = Arc::clone(&o);
        Finalizer::new(move || o2.lock().unwrap().push("nested".into())).call();
    });
    std::thread::Builder::new()
        .name("dropper".into())
        .spawn(move || drop(fin))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(*order.lock().unwrap(), ["Some(\"dropper\")", "nested"]);
}

/// The child side of the at-exit tests; does nothing unless started by them.
#[test]
#[ignore = "child process of the at-exit tests"]
fn exit_child_process() {
    let Ok(mode) = std::env::var(ENV_MODE) else {
        return;
    };
    let say = |what: &'static str| move || println!("finalized {what}");
    std::mem::forget(Finalizer::new(say("first")));
    let opted_out = Finalizer::new(say("opted-out"));
    opted_out.set_atexit(false);
    std::mem::forget(opted_out);
    let detached = Finalizer::new(say("detached"));
    detached.detach();
    std::mem::forget(detached);
    drop(Finalizer::new(say("dropped-early")));
    std::mem::forget(Finalizer::new(|| panic!("the third one panics")));
    std::mem::forget(Finalizer::new(|| {
        println!("finalized fourth");
        // Registered during the sweep: still swept.
        std::mem::forget(Finalizer::new(|| println!("finalized made-during-exit")));
    }));
    println!("main done");
    if mode == "exit" {
        std::process::exit(3);
    }
    // mode "return": the test harness's main returns normally.
}

fn run_child(mode: &str) -> (Option<i32>, Vec<String>, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "exit_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ENV_MODE, mode)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines = stdout
        .lines()
        .filter(|l| l.starts_with("finalized") || *l == "main done")
        .map(str::to_owned)
        .collect();
    (
        output.status.code(),
        lines,
        String::from_utf8(output.stderr).unwrap(),
    )
}

const EXPECTED: [&str; 5] = [
    "finalized dropped-early",
    "main done",
    "finalized fourth",
    "finalized made-during-exit",
    "finalized first",
];

#[test]
fn at_exit_after_main_returns_newest_first_skipping_opted_out_and_detached() {
    let (code, lines, stderr) = run_child("return");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(lines, EXPECTED, "stderr: {stderr}");
    assert!(
        stderr.contains("panicked: the third one panics"),
        "the panic is reported: {stderr}"
    );
}

#[test]
fn at_exit_after_process_exit() {
    let (code, lines, stderr) = run_child("exit");
    assert_eq!(code, Some(3), "stderr: {stderr}");
    assert_eq!(lines, EXPECTED, "stderr: {stderr}");
    assert!(
        stderr.contains("panicked: the third one panics"),
        "{stderr}"
    );
}
