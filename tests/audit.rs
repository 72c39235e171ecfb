//! `keel::audit` follows PEP 578: hooks see every event in registration order, cannot be
//! removed, the first denial stops the rest and the audited operation, and adding a hook is
//! itself audited.
//!
//! Hooks are process-wide and tests run in parallel, so every test reacts only to event names
//! under its own prefix.

#![deny(warnings, clippy::all)]

use keel::audit::{self, Denied, Event};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An operation that audits itself before acting, as keel's own sensitive operations do.
fn remove_record(store: &Mutex<Vec<String>>, key: &str) -> Result<(), Denied> {
    audit::emit("it.store.remove", &[("key", &key)])?;
    store.lock().unwrap().retain(|k| k != key);
    Ok(())
}

#[test]
fn a_denied_operation_returns_the_error_and_does_nothing() {
    audit::add_hook(
        |e| match (e.name(), e.arg("key").map(|k| format!("{k:?}"))) {
            ("it.store.remove", Some(key)) if key == "\"admin\"" => {
                Err(Denied::new("the admin record is protected"))
            }
            _ => Ok(()),
        },
    )
    .unwrap();
    let store = Mutex::new(vec!["admin".to_string(), "guest".to_string()]);

    let err = remove_record(&store, "admin").unwrap_err();
    assert_eq!(err.event(), "it.store.remove");
    assert_eq!(err.reason(), "the admin record is protected");
    assert_eq!(
        err.to_string(),
        "audit hook denied `it.store.remove`: the admin record is protected"
    );
    assert_eq!(
        *store.lock().unwrap(),
        ["admin", "guest"],
        "nothing was removed"
    );

    remove_record(&store, "guest").unwrap();
    assert_eq!(*store.lock().unwrap(), ["admin"]);
}

#[test]
fn hooks_run_in_registration_order_and_the_first_denial_stops_the_rest() {
    static CALLS: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    fn record(tag: &'static str, deny: bool) -> impl Fn(&Event<'_>) -> Result<(), Denied> {
        move |e| {
            if !e.name().starts_with("it.order.") {
                return Ok(());
            }
            CALLS.lock().unwrap().push(tag);
            if deny && e.name() == "it.order.deny" {
                return Err(Denied::new(format!("{tag} says no")));
            }
            Ok(())
        }
    }
    audit::add_hook(record("first", false)).unwrap();
    audit::add_hook(record("second", true)).unwrap();
    audit::add_hook(record("third", true)).unwrap();

    audit::emit("it.order.allow", &[]).unwrap();
    assert_eq!(*CALLS.lock().unwrap(), ["first", "second", "third"]);
    CALLS.lock().unwrap().clear();

    let err = audit::emit("it.order.deny", &[]).unwrap_err();
    assert_eq!(
        err.reason(),
        "second says no",
        "the first denial is the one returned"
    );
    assert_eq!(
        *CALLS.lock().unwrap(),
        ["first", "second"],
        "third never ran"
    );
}

#[test]
fn hooks_see_the_event_name_and_arguments() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    audit::add_hook(|e| {
        if e.name().starts_with("it.args.") {
            let user = e.arg("user").map(|u| format!("{u:?}"));
            SEEN.lock()
                .unwrap()
                .push(format!("{e} user={user:?} n={}", e.args().len()));
        }
        Ok(())
    })
    .unwrap();
    let attempts = 3u8;
    let roles = vec!["admin", "ops"];
    audit::emit(
        "it.args.login",
        &[("user", &"ada"), ("attempt", &attempts), ("roles", &roles)],
    )
    .unwrap();
    audit::emit("it.args.logout", &[]).unwrap();
    assert_eq!(
        *SEEN.lock().unwrap(),
        [
            r#"it.args.login(user="ada", attempt=3, roles=["admin", "ops"]) user=Some("\"ada\"") n=3"#,
            "it.args.logout() user=None n=0",
        ]
    );
}

#[test]
fn adding_a_hook_is_audited_and_a_refused_hook_is_never_installed() {
    static ADDED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static REFUSED_RAN: AtomicUsize = AtomicUsize::new(0);
    fn marker_refused_hook(e: &Event<'_>) -> Result<(), Denied> {
        if e.name() == "it.add.after" {
            REFUSED_RAN.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
    fn marker_accepted_hook(_: &Event<'_>) -> Result<(), Denied> {
        Ok(())
    }
    audit::add_hook(|e| {
        if e.name() == "audit.add_hook" {
            let hook = format!("{:?}", e.arg("hook").expect("add_hook names the hook"));
            if hook.contains("marker_") {
                ADDED.lock().unwrap().push(hook.clone());
            }
            if hook.contains("marker_refused_hook") {
                return Err(Denied::new("no more hooks"));
            }
        }
        Ok(())
    })
    .unwrap();

    let err = audit::add_hook(marker_refused_hook).unwrap_err();
    assert_eq!(err.event(), "audit.add_hook");
    assert_eq!(err.reason(), "no more hooks");
    audit::add_hook(marker_accepted_hook).unwrap();

    audit::emit("it.add.after", &[]).unwrap();
    assert_eq!(
        REFUSED_RAN.load(Ordering::SeqCst),
        0,
        "the refused hook was not installed"
    );
    let added = ADDED.lock().unwrap();
    assert_eq!(added.len(), 2);
    assert!(added[0].contains("marker_refused_hook") && added[1].contains("marker_accepted_hook"));
}

#[test]
fn events_from_many_threads_all_reach_the_hooks() {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    audit::add_hook(|e| {
        if e.name() == "it.threads.tick" {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            s.spawn(move || {
                for i in 0..250u32 {
                    audit::emit("it.threads.tick", &[("thread", &t), ("i", &i)]).unwrap();
                }
            });
        }
    });
    assert_eq!(COUNT.load(Ordering::Relaxed), 1000);
    assert!(audit::is_active());
}

#[test]
fn a_panicking_hook_propagates_and_leaves_auditing_usable() {
    static AFTER: AtomicUsize = AtomicUsize::new(0);
    audit::add_hook(|e| {
        match e.name() {
            "it.panic.now" => panic!("hook bug"),
            "it.panic.after" => {
                AFTER.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| audit::emit("it.panic.now", &[])));
    assert!(caught.is_err(), "the hook's panic reaches the emitter");
    audit::emit("it.panic.after", &[]).unwrap();
    assert_eq!(
        AFTER.load(Ordering::SeqCst),
        1,
        "hooks still run after a panic"
    );
}
