//! A registry's fast table spares `create` the audit check while no hook is installed, so the
//! first hook must switch it off: in a registry built and used before the hook, and in one
//! first built after it, and on threads that race the installation. One test, since hooks are
//! process-wide and the order matters. It also checks that a panicking constructor unwinds out
//! of `create` on the out-of-line path.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};

use keel::audit::{self, Denied};
use keel::plugin::{PluginError, registry};

#[keel::registry]
pub trait Early {
    fn id(&self) -> u8;
}

#[keel::plugin(Early, name = "a")]
#[derive(Default)]
pub struct EarlyA;
impl Early for EarlyA {
    fn id(&self) -> u8 {
        b'a'
    }
}

#[keel::plugin(Early, name = "b")]
#[derive(Default)]
pub struct EarlyB;
impl Early for EarlyB {
    fn id(&self) -> u8 {
        b'b'
    }
}

#[keel::registry]
pub trait Late {
    fn id(&self) -> u8;
}

#[keel::plugin(Late, name = "c")]
#[derive(Default)]
pub struct LateC;
impl Late for LateC {
    fn id(&self) -> u8 {
        b'c'
    }
}

/// Its constructor panics; with a hook installed it is built by the out-of-line path, which a
/// panic must unwind through like any Rust function (that path uses the C calling convention for
/// its return value, in its `-unwind` form: the plain one would abort the process).
#[keel::plugin(Late, name = "boom", new = boom)]
pub struct LateBoom;
impl Late for LateBoom {
    fn id(&self) -> u8 {
        b'!'
    }
}

fn boom() -> LateBoom {
    panic!("the constructor of boom failed")
}

/// The `(registry, name)` of every `plugin.create` the hook saw on the test's own thread.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen() -> Vec<String> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

thread_local! {
    /// Set on the threads that create plugins while the hook is being installed: the hook
    /// counts their events apart, in `MARKED_SEEN` once `MARKED` is set, and ignores the others.
    static RACER: Cell<bool> = const { Cell::new(false) };
    static MARKED: Cell<bool> = const { Cell::new(false) };
}

/// How many of the racing threads' marked `create`s the hook saw.
static MARKED_SEEN: AtomicUsize = AtomicUsize::new(0);

const RACERS: usize = 2;

/// Installs the hook: it records each `plugin.create` in `SEEN` (or counts a racing thread's
/// marked one), and denies the plugin named "b".
fn install_the_hook() {
    audit::add_hook(|event| {
        if event.name() == "plugin.create" {
            if RACER.get() {
                if MARKED.get() {
                    MARKED_SEEN.fetch_add(1, Ordering::SeqCst);
                }
                return Ok(());
            }
            let arg = |key| format!("{:?}", event.arg(key).unwrap());
            let (registry, name) = (arg("registry"), arg("name"));
            SEEN.lock().unwrap().push(format!("{registry}/{name}"));
            if name == "\"b\"" {
                return Err(Denied::new("no b"));
            }
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_first_hook_sees_every_create_after_it_even_on_the_fast_path() {
    // Before any hook: the registry is built (its table armed) and used.
    let early = registry::<dyn Early>();
    assert_eq!(early.create("a").unwrap().id(), b'a');
    assert_eq!(early.create("b").unwrap().id(), b'b');

    // Threads create plugins (on the fast path) while the hook is installed. Each learns that
    // `add_hook` has returned through `INSTALLED` (release/acquire), and its next `create` must
    // be seen, whatever it saw during the installation.
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    let started = Barrier::new(RACERS + 1);
    std::thread::scope(|scope| {
        for _ in 0..RACERS {
            scope.spawn(|| {
                RACER.set(true);
                started.wait();
                while !INSTALLED.load(Ordering::Acquire) {
                    assert_eq!(early.create("a").unwrap().id(), b'a');
                }
                MARKED.set(true);
                assert_eq!(early.create("a").unwrap().id(), b'a');
            });
        }
        started.wait();
        install_the_hook();
        INSTALLED.store(true, Ordering::Release);
    });
    assert_eq!(MARKED_SEEN.load(Ordering::SeqCst), RACERS);
    assert_eq!(
        seen(),
        Vec::<String>::new(),
        "the racers' events are counted apart"
    );

    // The registry built before the hook, on this thread: seen, and a denial is honoured.
    assert_eq!(early.create("a").unwrap().id(), b'a');
    let denied = early.create("b").err().expect("the hook denies b");
    assert!(
        matches!(*denied, PluginError::Denied { name: "b", .. }),
        "{denied:?}"
    );
    assert_eq!(seen(), ["\"Early\"/\"a\"", "\"Early\"/\"b\""]);

    // A registry first built after the hook never arms its table.
    assert_eq!(registry::<dyn Late>().create("c").unwrap().id(), b'c');
    assert_eq!(seen(), ["\"Late\"/\"c\""]);

    // A panicking constructor unwinds out of `create` to the caller.
    let panic = std::panic::catch_unwind(|| registry::<dyn Late>().create("boom").map(|_| ()))
        .expect_err("the constructor panics");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"the constructor of boom failed")
    );
    assert_eq!(seen(), ["\"Late\"/\"boom\""]);

    // Unknown names are errors, not events.
    assert!(matches!(
        *early.create("z").err().unwrap(),
        PluginError::Unknown { .. }
    ));
    assert_eq!(seen(), Vec::<String>::new());
}
