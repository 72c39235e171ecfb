//! `keel::context` follows PEP 567: get/set/reset with tokens, O(1) snapshots, `run` isolation,
//! nesting and panic safety, and propagation into threads, a thread pool and async tasks.

#![deny(warnings, clippy::all)]

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use keel::context::{self, Context, ContextError, ContextVar};
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::Poll;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

/// Each test runs in a fresh empty context, so tests sharing a thread (or a static) never see
/// each other's values.
fn isolated<R>(f: impl FnOnce() -> R) -> R {
    Context::new().run(f)
}

#[test]
fn get_set_reset_follow_pep_567() {
    isolated(|| {
        static V: ContextVar<u32> = ContextVar::new("v");
        assert_eq!(V.get(), None);
        let t1 = V.set(1);
        let t2 = V.set(2);
        let t3 = V.set(3);
        assert_eq!(V.get(), Some(3));
        assert_eq!(
            (t1.old_value(), t2.old_value(), t3.old_value()),
            (None, Some(&1), Some(&2))
        );
        // reset restores the value from before *that* set, whatever happened since.
        V.reset(t2).unwrap();
        assert_eq!(V.get(), Some(1));
        V.reset(t3).unwrap();
        assert_eq!(V.get(), Some(2));
        V.reset(t1).unwrap();
        assert_eq!(V.get(), None);
        assert!(
            !Context::current().contains(&V),
            "resetting to missing removes the entry"
        );
    });
}

#[test]
fn a_default_applies_where_the_variable_is_unset() {
    isolated(|| {
        static LANG: ContextVar<&str> = ContextVar::with_default("lang", "en");
        assert_eq!(LANG.get(), Some("en"));
        assert_eq!(LANG.with(|l| l.copied()), Some("en"));
        let token = LANG.set("fr");
        assert_eq!(LANG.get(), Some("fr"));
        assert_eq!(
            std::thread::spawn(|| LANG.get()).join().unwrap(),
            Some("en")
        );
        LANG.reset(token).unwrap();
        assert_eq!(LANG.get(), Some("en"));
        // The mapping view, like Python's `ctx.get(var)`, does not apply defaults.
        assert_eq!(Context::current().get(&LANG), None);
    });
}

#[test]
fn a_token_of_another_variable_is_refused_and_changes_nothing() {
    isolated(|| {
        static A: ContextVar<u8> = ContextVar::new("a");
        static B: ContextVar<u8> = ContextVar::new("b");
        let ta = A.set(1);
        let _tb = B.set(2);
        let err = B.reset(ta).unwrap_err();
        assert_eq!(
            err,
            ContextError::WrongVariable {
                var: "b",
                token_var: "a"
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot reset context variable `b` with a token created by context variable `a`"
        );
        assert_eq!((A.get(), B.get()), (Some(1), Some(2)));
    });
}

#[test]
fn a_token_of_another_context_is_refused_and_changes_nothing() {
    isolated(|| {
        static V: ContextVar<u8> = ContextVar::new("ctx_v");
        let outer = V.set(1);
        let mut inner = Context::current();
        // A token made inside a run cannot be reset outside it...
        let made_inside = inner.run(|| V.set(2));
        let err = V.reset(made_inside).unwrap_err();
        match &err {
            ContextError::WrongContext {
                var,
                token_context,
                current_context,
            } => {
                assert_eq!(*var, "ctx_v");
                assert_ne!(token_context, current_context);
            }
            other => panic!("expected WrongContext, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("the token was created in context #")
        );
        assert_eq!(V.get(), Some(1), "the refused reset left the value alone");
        assert_eq!(inner.get(&V), Some(2));
        // ...nor one made outside inside it.
        let outer_again = V.set(3);
        let err = inner.run(|| V.reset(outer_again)).unwrap_err();
        assert!(matches!(err, ContextError::WrongContext { .. }));
        assert_eq!((V.get(), inner.get(&V)), (Some(3), Some(2)));
        // Another thread is another context too.
        let from_thread = std::thread::spawn(|| V.set(5)).join().unwrap();
        assert!(matches!(
            V.reset(from_thread),
            Err(ContextError::WrongContext { .. })
        ));
        V.reset(outer).unwrap();
        assert_eq!(V.get(), None);
    });
}

#[test]
fn a_snapshot_is_independent_of_later_sets_in_either_context() {
    isolated(|| {
        let _t = REQUEST_ID.set("req-1".into());
        let mut snapshot = Context::current();
        let _t2 = REQUEST_ID.set("req-2".into());
        assert_eq!(snapshot.get(&REQUEST_ID).as_deref(), Some("req-1"));
        snapshot.run(|| {
            assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
            let _t3 = REQUEST_ID.set("req-3".into());
        });
        assert_eq!(REQUEST_ID.get().as_deref(), Some("req-2"));
        assert_eq!(snapshot.get(&REQUEST_ID).as_deref(), Some("req-3"));
        // clone() is ctx.copy(): same values, and from now on independent.
        let copy = snapshot.clone();
        snapshot.run(|| drop(REQUEST_ID.set("req-4".into())));
        assert_eq!(copy.get(&REQUEST_ID).as_deref(), Some("req-3"));
        assert_eq!(snapshot.get(&REQUEST_ID).as_deref(), Some("req-4"));
    });
}

#[test]
fn run_nests_and_each_level_restores_its_outer_context() {
    isolated(|| {
        static DEPTH: ContextVar<u32> = ContextVar::new("depth");
        let _t = DEPTH.set(0);
        let mut one = Context::current();
        let mut two = Context::new();
        let seen = one.run(|| {
            let _t1 = DEPTH.set(1);
            let inner = two.run(|| {
                let before = DEPTH.get();
                let _t2 = DEPTH.set(2);
                (before, DEPTH.get())
            });
            (inner, DEPTH.get())
        });
        assert_eq!(seen, ((None, Some(2)), Some(1)));
        assert_eq!(DEPTH.get(), Some(0));
        assert_eq!(one.get(&DEPTH), Some(1));
        assert_eq!(two.get(&DEPTH), Some(2));
    });
}

#[test]
fn run_restores_the_outer_context_when_the_closure_panics() {
    isolated(|| {
        static V: ContextVar<u32> = ContextVar::new("panic_v");
        let _t = V.set(1);
        let mut ctx = Context::current();
        let result = catch_unwind(AssertUnwindSafe(|| {
            ctx.run(|| {
                let _t = V.set(2);
                std::mem::forget(V.set(3));
                panic!("boom");
            })
        }));
        assert!(result.is_err());
        assert_eq!(V.get(), Some(1), "outer context restored after the panic");
        // `_t` was dropped during unwinding (dropping a token does not reset), so the context
        // keeps what was set before the panic, as Python's does.
        assert_eq!(ctx.get(&V), Some(3));
        // The thread still works normally afterwards.
        let t = V.set(4);
        V.reset(t).unwrap();
        assert_eq!(V.get(), Some(1));
    });
}

#[test]
fn with_borrows_and_may_use_context_inside() {
    isolated(|| {
        let _t = REQUEST_ID.set("req-9".into());
        let len = REQUEST_ID.with(|id| {
            // Setting (and entering contexts) inside the closure is allowed.
            let t = REQUEST_ID.set("nested".into());
            let inner = Context::new().run(|| REQUEST_ID.get());
            REQUEST_ID.reset(t).unwrap();
            assert_eq!(inner, None);
            id.map(String::len)
        });
        assert_eq!(len, Some(5));
    });
}

#[test]
fn a_value_whose_drop_uses_the_context_is_safe_to_reset() {
    struct Noisy(u32);
    impl Drop for Noisy {
        fn drop(&mut self) {
            // Runs when `reset` displaces the value: the context must be usable here.
            static SEEN: ContextVar<u32> = ContextVar::new("seen_by_drop");
            std::mem::forget(SEEN.set(self.0));
        }
    }
    isolated(|| {
        static NOISY: ContextVar<Noisy> = ContextVar::new("noisy");
        let t = NOISY.set(Noisy(1));
        NOISY.reset(t).unwrap();
        assert!(!Context::current().contains(&NOISY));
    });
}

#[test]
fn threads_start_empty_unless_the_context_is_carried() {
    isolated(|| {
        let _t = REQUEST_ID.set("req-42".into());
        assert_eq!(
            std::thread::spawn(|| REQUEST_ID.get()).join().unwrap(),
            None
        );
        let child = context::spawn(|| {
            let seen = REQUEST_ID.get();
            let _mine = REQUEST_ID.set("child".into());
            (seen, REQUEST_ID.get())
        });
        let (seen, after) = child.join().unwrap();
        assert_eq!(seen.as_deref(), Some("req-42"));
        assert_eq!(after.as_deref(), Some("child"));
        assert_eq!(
            REQUEST_ID.get().as_deref(),
            Some("req-42"),
            "the child's set stayed there"
        );
    });
}

#[test]
fn a_thread_pool_sees_the_submitter_context_only_through_wrap() {
    isolated(|| {
        // One worker, so every job below runs on the same thread, one after another.
        let pool = threadpool::ThreadPool::new(1);
        let (tx, rx) = mpsc::channel();
        for i in 0..4 {
            let token = REQUEST_ID.set(format!("req-{i}"));
            let tx = tx.clone();
            pool.execute(context::wrap(move || {
                let seen = REQUEST_ID.get();
                // A job's own changes must not outlive it on the worker.
                let _scratch = REQUEST_ID.set("scratch".into());
                tx.send((i, seen)).unwrap();
            }));
            REQUEST_ID.reset(token).unwrap();
        }
        let plain_tx = tx.clone();
        pool.execute(move || plain_tx.send((99, REQUEST_ID.get())).unwrap());
        drop(tx);
        pool.join();
        let mut results: Vec<(u32, Option<String>)> = rx.iter().collect();
        results.sort();
        assert_eq!(
            results,
            vec![
                (0, Some("req-0".into())),
                (1, Some("req-1".into())),
                (2, Some("req-2".into())),
                (3, Some("req-3".into())),
                (99, None),
            ]
        );
    });
}

/// A future that is pending once (waking itself), so tasks interleave on a single thread.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Two tasks on one thread: each sets the request id, yields to the other, then reads it back.
/// Returns what each task read and the order the steps ran in.
fn interleave(scoped: bool) -> (Vec<(u32, Option<String>)>, Vec<String>) {
    let mut pool = LocalPool::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::new(RefCell::new(Vec::new()));
    for task in 1..=2u32 {
        let (log, seen) = (Rc::clone(&log), Rc::clone(&seen));
        let body = async move {
            let _t = REQUEST_ID.set(format!("task-{task}"));
            log.borrow_mut().push(format!("set {task}"));
            YieldOnce(false).await;
            log.borrow_mut().push(format!("read {task}"));
            seen.borrow_mut().push((task, REQUEST_ID.get()));
        };
        if scoped {
            pool.spawner()
                .spawn_local(Context::current().scope(body))
                .unwrap();
        } else {
            pool.spawner().spawn_local(body).unwrap();
        }
    }
    pool.run();
    let seen = seen.borrow().clone();
    let log = log.borrow().clone();
    (seen, log)
}

#[test]
fn async_tasks_scoped_in_their_own_context_do_not_leak_into_each_other() {
    isolated(|| {
        let _t = REQUEST_ID.set("caller".into());
        let (seen, log) = interleave(true);
        assert_eq!(
            log,
            ["set 1", "set 2", "read 1", "read 2"],
            "the tasks interleaved"
        );
        assert_eq!(
            seen,
            vec![(1, Some("task-1".into())), (2, Some("task-2".into()))]
        );
        assert_eq!(
            REQUEST_ID.get().as_deref(),
            Some("caller"),
            "nothing leaked out"
        );
    });
}

#[test]
fn without_scope_the_same_interleaving_leaks_which_is_why_scope_exists() {
    isolated(|| {
        let (seen, log) = interleave(false);
        assert_eq!(log, ["set 1", "set 2", "read 1", "read 2"]);
        // Task 1 reads task 2's value: the executor thread has one context for both.
        assert_eq!(seen[0], (1, Some("task-2".into())));
    });
}

#[test]
fn a_scoped_future_carries_its_context_across_threads() {
    isolated(|| {
        let _t = REQUEST_ID.set("req-7".into());
        let future = Context::current().scope(async { REQUEST_ID.get() });
        let seen = std::thread::spawn(move || futures::executor::block_on(future))
            .join()
            .unwrap();
        assert_eq!(seen.as_deref(), Some("req-7"));
    });
}

#[test]
fn a_context_is_what_a_tracer_can_keep() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    assert_traits::<Context>();
    fn assert_send<T: Send>(_: &T) {}
    isolated(|| {
        static USER: ContextVar<u64> = ContextVar::new("user");
        let _r = REQUEST_ID.set("req-1".into());
        let _u = USER.set(7);
        let ctx = Context::current();
        let from_other_thread = {
            let ctx = ctx.clone();
            std::thread::spawn(move || (ctx.get(&REQUEST_ID), ctx.get(&USER)))
                .join()
                .unwrap()
        };
        assert_eq!(from_other_thread, (Some("req-1".into()), Some(7)));
        let mut names: Vec<&str> = ctx.names().collect();
        names.sort();
        assert_eq!(names, ["request_id", "user"]);
        assert_eq!(ctx.len(), 2);
        let debug = format!("{ctx:?}");
        assert!(
            debug.contains("\"request_id\"") && debug.contains("\"user\""),
            "{debug}"
        );
        assert_send(&context::wrap(|| ()));
        assert_send(&Context::new().scope(async {}));
        assert_send(&USER.set(1));
    });
}
