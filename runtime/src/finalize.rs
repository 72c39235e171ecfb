//! Run-once cleanup: Python's `weakref.finalize`.
//!
//! A [`Finalizer`] holds a callback that runs **at most once**, at the first of:
//!
//! * the `Finalizer` is dropped (put it in the struct whose death it marks),
//! * [`Finalizer::call`] is called,
//! * the process exits normally (returning from `main`, or `std::process::exit`) while the
//!   finalizer is still registered and its [`atexit`](Finalizer::atexit) flag is set (the
//!   default): an at-exit sweep runs the remaining callbacks, newest first.
//!
//! [`detach`](Finalizer::detach) unregisters it without running. A callback that panics is
//! reported on stderr; on drop and in the at-exit sweep the panic is contained (the sweep goes on
//! with the next callback), while an explicit [`call`](Finalizer::call) passes it on to its
//! caller.
//!
//! ```
//! use keel_runtime::finalize::Finalizer;
//! use std::sync::{Arc, Mutex};
//!
//! let log = Arc::new(Mutex::new(Vec::new()));
//! struct Handle { _cleanup: Finalizer }
//!
//! let l = Arc::clone(&log);
//! let handle = Handle { _cleanup: Finalizer::new(move || l.lock().unwrap().push("closed")) };
//! drop(handle);
//! assert_eq!(*log.lock().unwrap(), ["closed"]);
//! ```
//!
//! # How the at-exit sweep hooks process exit
//!
//! Rust has no at-exit API of its own, but both ways a Rust program exits normally end in the C
//! library's `exit()`: `main` returning (the runtime calls `exit` with its code) and
//! `std::process::exit`. The first `Finalizer::new` registers one handler with the C library's `atexit`,
//! which `exit()` runs after Rust's `main` has returned and its locals are dropped, on the exiting
//! thread. Abnormal ends run nothing, as in Python: a signal such as `SIGKILL`, `abort()` (and so
//! `panic = "abort"`), `_exit`. The handler never unwinds into C: panics are caught there.

use core::fmt;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

type Callback = Box<dyn FnOnce() + Send + 'static>;

// `atexit` is ISO C and in every C library that std links against; declaring the one function
// here spares every user a clean build of the `libc` crate (several seconds) for it.
unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> core::ffi::c_int;
}

struct Registered {
    callback: Callback,
    atexit: bool,
}

/// Live finalizers by id; ids grow, so the newest is the last.
static REGISTRY: Mutex<BTreeMap<u64, Registered>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static AT_EXIT_HOOK: Once = Once::new();

fn registry() -> MutexGuard<'static, BTreeMap<u64, Registered>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A callback that runs at most once: on drop, on [`call`](Self::call), or at process exit; see
/// the [module documentation](self).
///
/// `Send + Sync`: the callback may run on whichever thread drops or calls the finalizer, or on
/// the exiting thread.
///
/// ```
/// use keel_runtime::finalize::Finalizer;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let runs = Arc::new(AtomicUsize::new(0));
/// let r = Arc::clone(&runs);
/// let fin = Finalizer::new(move || { r.fetch_add(1, Ordering::SeqCst); });
/// assert!(fin.alive());
/// assert!(fin.call());   // runs now
/// assert!(!fin.call());  // never twice
/// drop(fin);             // nor on drop
/// assert_eq!(runs.load(Ordering::SeqCst), 1);
/// ```
pub struct Finalizer {
    id: u64,
}

impl Finalizer {
    /// Registers `callback` to run once: when this `Finalizer` is dropped or called, or at
    /// normal process exit if it is still registered then.
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| println!("cleaned up"));
    /// assert!(fin.alive() && fin.atexit());
    /// # fin.detach();
    /// ```
    pub fn new(callback: impl FnOnce() + Send + 'static) -> Self {
        AT_EXIT_HOOK.call_once(|| {
            // SAFETY: `run_at_exit` is an `extern "C" fn()` that never unwinds (it catches every
            // panic) and only touches statics that live for the whole process. A failure to
            // register (non-zero return: the C library's table is full) leaves finalizers working
            // on drop and `call`, without the at-exit sweep.
            unsafe {
                atexit(run_at_exit);
            }
        });
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        registry().insert(
            id,
            Registered {
                callback: Box::new(callback),
                atexit: true,
            },
        );
        Finalizer { id }
    }

    /// Runs the callback now if it has not run and is not detached; returns whether it ran.
    /// A panic in the callback propagates to the caller (the finalizer is dead either way).
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| ());
    /// assert!(fin.call());
    /// assert!(!fin.alive());
    /// assert!(!fin.call());
    /// ```
    pub fn call(&self) -> bool {
        match take(self.id) {
            Some(callback) => {
                callback();
                true
            }
            None => false,
        }
    }

    /// Unregisters the callback without running it; returns whether it was still alive.
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| unreachable!("detached"));
    /// assert!(fin.detach());
    /// assert!(!fin.detach());
    /// drop(fin); // nothing runs
    /// ```
    pub fn detach(&self) -> bool {
        take(self.id).is_some()
    }

    /// True until the callback has run or been detached.
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| ());
    /// assert!(fin.alive());
    /// fin.detach();
    /// assert!(!fin.alive());
    /// ```
    pub fn alive(&self) -> bool {
        registry().contains_key(&self.id)
    }

    /// Whether the callback runs at process exit if still alive then (default: true).
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| ());
    /// assert!(fin.atexit());
    /// fin.set_atexit(false);
    /// assert!(!fin.atexit());
    /// ```
    pub fn atexit(&self) -> bool {
        registry().get(&self.id).is_some_and(|r| r.atexit)
    }

    /// Chooses whether the callback runs at process exit if still alive then. It still runs on
    /// drop or [`call`](Self::call) either way. No effect on a dead finalizer.
    ///
    /// ```
    /// let fin = keel_runtime::finalize::Finalizer::new(|| eprintln!("only on drop or call"));
    /// fin.set_atexit(false);
    /// std::mem::forget(fin); // leaked: with atexit off, it never runs
    /// ```
    pub fn set_atexit(&self, atexit: bool) {
        if let Some(registered) = registry().get_mut(&self.id) {
            registered.atexit = atexit;
        }
    }
}

impl Drop for Finalizer {
    /// Runs the callback if it is still alive; a panic in it is reported and contained.
    fn drop(&mut self) {
        if let Some(callback) = take(self.id) {
            run_contained(self.id, callback);
        }
    }
}

impl fmt::Debug for Finalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (alive, atexit) = match registry().get(&self.id) {
            Some(r) => (true, r.atexit),
            None => (false, false),
        };
        f.debug_struct("Finalizer")
            .field("id", &self.id)
            .field("alive", &alive)
            .field("atexit", &atexit)
            .finish()
    }
}

/// Unregisters `id`; the callback, if it was alive. The lock is released before the callback
/// runs, so callbacks may create, call or drop finalizers.
fn take(id: u64) -> Option<Callback> {
    registry().remove(&id).map(|r| r.callback)
}

fn run_contained(id: u64, callback: Callback) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(callback)) {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(non-string panic payload)");
        eprintln!("keel::finalize: the callback of finalizer #{id} panicked: {message}");
    }
}

/// The at-exit sweep: runs every still-registered callback whose `atexit` flag is set, newest
/// first, including ones registered by callbacks during the sweep.
fn sweep_at_exit() {
    loop {
        let next = {
            let mut registry = registry();
            let id = registry
                .iter()
                .rev()
                .find(|(_, r)| r.atexit)
                .map(|(id, _)| *id);
            id.and_then(|id| registry.remove(&id).map(|r| (id, r.callback)))
        };
        match next {
            Some((id, callback)) => run_contained(id, callback),
            None => return,
        }
    }
}

extern "C" fn run_at_exit() {
    // Nothing may unwind across the C boundary: a panic outside the callbacks (which
    // `run_contained` already catches) ends the sweep.
    if catch_unwind(sweep_at_exit).is_err() {
        eprintln!("keel::finalize: the at-exit sweep stopped after an internal panic");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn finalizers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Finalizer>();
    }

    #[test]
    fn a_callback_may_create_and_drop_finalizers() {
        let inner_runs = Arc::new(AtomicUsize::new(0));
        let i = Arc::clone(&inner_runs);
        let outer = Finalizer::new(move || {
            let i = Arc::clone(&i);
            drop(Finalizer::new(move || {
                i.fetch_add(1, Ordering::SeqCst);
            }));
        });
        drop(outer);
        assert_eq!(inner_runs.load(Ordering::SeqCst), 1);
    }
}
