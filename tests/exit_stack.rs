//! `keel::tx::ExitStack`: LIFO unwinding, `pop_all`, `close` collecting every error, panics.

#![deny(warnings, clippy::all)]

use keel::tx::ExitStack;
use std::cell::RefCell;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// A guard that records its release.
struct Guard<'a> {
    name: &'static str,
    log: &'a RefCell<Vec<String>>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.log.borrow_mut().push(format!("release {}", self.name));
    }
}

#[test]
fn guards_and_callbacks_unwind_last_in_first_out_on_drop() {
    let log = RefCell::new(Vec::new());
    {
        let mut stack: ExitStack = ExitStack::new();
        stack.push(Guard {
            name: "a",
            log: &log,
        });
        stack.callback(|| log.borrow_mut().push("callback b".into()));
        stack.push(Guard {
            name: "c",
            log: &log,
        });
        assert_eq!(stack.len(), 3);
        assert!(
            log.borrow().is_empty(),
            "nothing runs before the stack ends"
        );
    }
    assert_eq!(*log.borrow(), ["release c", "callback b", "release a"]);
}

#[test]
fn close_runs_every_callback_and_returns_all_errors() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.callback(|| {
        log.borrow_mut().push("flush journal");
        Err("journal: disk full")
    });
    stack.callback(|| log.borrow_mut().push("close socket"));
    stack.callback(|| {
        log.borrow_mut().push("unlink temp");
        Err("temp: permission denied")
    });
    assert_eq!(
        stack.close(),
        Err(vec!["temp: permission denied", "journal: disk full"])
    );
    assert_eq!(
        *log.borrow(),
        ["unlink temp", "close socket", "flush journal"]
    );
}

#[test]
fn close_with_no_errors_is_ok() {
    let mut stack = ExitStack::<std::io::Error>::new();
    let ran = RefCell::new(0);
    stack.callback(|| {
        *ran.borrow_mut() += 1;
        Ok(())
    });
    stack.callback(|| *ran.borrow_mut() += 1);
    assert!(stack.close().is_ok());
    assert_eq!(*ran.borrow(), 2);
}

/// Acquires every named lock or none: on failure the ones already taken are released.
fn lock_all<'a>(locks: &'a [Mutex<u32>], wanted: &[usize]) -> Result<ExitStack<'a>, String> {
    let mut stack = ExitStack::new();
    for &i in wanted {
        let guard = locks[i]
            .try_lock()
            .map_err(|_| format!("lock {i} is busy"))?;
        stack.push(guard);
    }
    Ok(stack.pop_all())
}

#[test]
fn pop_all_hands_on_everything_or_releases_everything() {
    let locks: Vec<Mutex<u32>> = (0..4).map(Mutex::new).collect();
    let held = lock_all(&locks, &[0, 1]).unwrap();
    assert!(locks[0].try_lock().is_err() && locks[1].try_lock().is_err());

    // Lock 1 is held, so this acquisition fails halfway: locks 2 and 3 must be released again.
    let err = lock_all(&locks, &[2, 3, 1]).unwrap_err();
    assert_eq!(err, "lock 1 is busy");
    assert!(locks[2].try_lock().is_ok() && locks[3].try_lock().is_ok());

    drop(held);
    assert!(locks.iter().all(|l| l.try_lock().is_ok()));
}

#[test]
fn pop_all_leaves_the_original_empty() {
    let log = RefCell::new(Vec::new());
    let mut stack: ExitStack = ExitStack::new();
    stack.callback(|| log.borrow_mut().push("moved"));
    let moved = stack.pop_all();
    assert!(stack.is_empty());
    drop(stack);
    assert!(log.borrow().is_empty());
    drop(moved);
    assert_eq!(*log.borrow(), ["moved"]);
}

#[test]
fn a_panicking_callback_does_not_stop_the_others() {
    let log = RefCell::new(Vec::new());
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let mut stack = ExitStack::<&str>::new();
        stack.callback(|| log.borrow_mut().push("first registered"));
        stack.callback(|| -> Result<(), &str> { panic!("cleanup bug") });
        stack.callback(|| log.borrow_mut().push("last registered"));
        stack.close()
    }))
    .unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"cleanup bug"));
    assert_eq!(*log.borrow(), ["last registered", "first registered"]);
}

#[test]
fn unwinding_through_a_stack_runs_it() {
    let log = RefCell::new(Vec::new());
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let mut stack: ExitStack = ExitStack::new();
        stack.push(Guard {
            name: "file",
            log: &log,
        });
        stack.callback(|| -> Result<(), Infallible> {
            panic!("second panic while unwinding is swallowed")
        });
        stack.callback(|| log.borrow_mut().push("callback".into()));
        panic!("body failed");
    }))
    .unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"body failed"));
    assert_eq!(*log.borrow(), ["callback", "release file"]);
}
