//! The "where does my context go?" matrix of `keel::context`'s module docs: one case per row,
//! each asserting what the child sees (the parent's value and the parent as its caller, or
//! nothing), that a value the child sets never shows in its parent, and, for tokio, that this
//! holds in tasks that yield and migrate between the workers of a multi-thread runtime.

#![deny(warnings, clippy::all)]

use keel::__private::trace::current_call_id;
use keel::context::{self, ContextVar, FutureExt};
use rayon::prelude::*;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once, mpsc};
use std::thread::ThreadId;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

/// What a child sees: the parent's value, and the call it would report as its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    value: Option<String>,
    caller: Option<u64>,
}

impl Seen {
    /// The parent's context: its value and the parent call as caller.
    fn carried(parent: u64) -> Self {
        Self {
            value: Some("req-1".into()),
            caller: Some(parent),
        }
    }

    /// An empty context: no value, no caller.
    fn empty() -> Self {
        Self {
            value: None,
            caller: None,
        }
    }
}

/// Looks at the context, then sets a value of the child's own (which the parent must never
/// see). For hand-offs that carry a copy.
fn look() -> Seen {
    let seen = peek();
    drop(REQUEST_ID.set("set by the child".into()));
    seen
}

/// Looks without setting: for the plain thread-pool and rayon hand-offs, whose child runs in the
/// worker thread's own context, where a set would stay for whatever that worker runs next (the
/// leak the keel hand-offs prevent). (Plain tokio tasks have a context of their own instead.)
fn peek() -> Seen {
    Seen {
        value: REQUEST_ID.get(),
        caller: current_call_id(),
    }
}

/// Tracing on, with a sink on every thread, so that instrumented calls are current calls.
fn tracing_on() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| keel::trace::add_sink(keel::trace::Stats::new()));
    keel::trace::enable();
}

/// The parent: an instrumented call that sets the request id, hands off, and checks that
/// nothing the child set came back. Returns its call id and what the child saw.
#[keel::instrument]
fn parent(handoff: &dyn Fn() -> Seen) -> (u64, Seen) {
    let _token = REQUEST_ID.set("req-1".into());
    let me = current_call_id().expect("the instrumented parent is the current call");
    let seen = handoff();
    assert_eq!(
        REQUEST_ID.get().as_deref(),
        Some("req-1"),
        "the child's value leaked"
    );
    assert_eq!(current_call_id(), Some(me));
    (me, seen)
}

fn case(handoff: impl Fn() -> Seen, expect: fn(u64) -> Seen) {
    tracing_on();
    context::Context::new().run(|| {
        let (me, seen) = parent(&handoff);
        assert_eq!(seen, expect(me));
        assert_eq!(current_call_id(), None);
    });
}

// ---------------------------------------------------------------- threads

#[test]
fn std_thread_spawn_starts_empty() {
    case(
        || std::thread::spawn(peek).join().unwrap(),
        |_| Seen::empty(),
    );
}

#[test]
fn keel_context_spawn_carries_a_copy() {
    case(|| context::spawn(look).join().unwrap(), Seen::carried);
}

#[test]
fn a_thread_pool_carries_it_only_through_wrap() {
    let pool = threadpool::ThreadPool::new(2);
    let run_in_pool = |job: Box<dyn FnOnce() -> Seen + Send>| {
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(job()).unwrap());
        rx.recv().unwrap()
    };
    case(|| run_in_pool(Box::new(peek)), |_| Seen::empty());
    case(|| run_in_pool(Box::new(context::wrap(look))), Seen::carried);
}

// ---------------------------------------------------------------- tokio

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// What a child task saw: at its start, and on each later poll (its thread, whether its own
/// value was still there, and its caller).
#[derive(Debug)]
struct TaskSeen {
    start: Seen,
    polls: Vec<(ThreadId, bool, Option<u64>)>,
}

type Child = Pin<Box<dyn Future<Output = TaskSeen> + Send>>;
type Handoff = Box<dyn Fn() -> Child + Send + Sync>;

/// A child task body: looks, sets its own value, then yields many times (moving between
/// workers), checking at each poll that its own value stayed and who its caller is. The token
/// is held to the end: in a plain task's own context, dropping it would end the set.
async fn yielding_child() -> TaskSeen {
    let start = peek();
    let _own = REQUEST_ID.set("set by the child".into());
    let mut polls = Vec::new();
    for i in 0..20 {
        if i % 2 == 0 {
            tokio::task::yield_now().await;
        } else {
            woken_from_outside().await;
        }
        let own = REQUEST_ID.get().as_deref() == Some("set by the child");
        polls.push((std::thread::current().id(), own, current_call_id()));
    }
    TaskSeen { start, polls }
}

/// Pending once, woken by a thread outside the runtime: the task then goes to the runtime's
/// shared queue, and whichever worker is free polls it next, so tasks move between workers.
fn woken_from_outside() -> impl Future<Output = ()> {
    static WAKER_THREAD: Mutex<Option<mpsc::Sender<std::task::Waker>>> = Mutex::new(None);
    let mut pending = true;
    std::future::poll_fn(move |cx| {
        if !std::mem::take(&mut pending) {
            return std::task::Poll::Ready(());
        }
        let mut sender = WAKER_THREAD.lock().unwrap();
        let sender = sender.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<std::task::Waker>();
            std::thread::spawn(move || rx.into_iter().for_each(std::task::Waker::wake));
            tx
        });
        sender.send(cx.waker().clone()).unwrap();
        std::task::Poll::Pending
    })
}

/// The async parent: sets the request id, yields (moving between workers), hands off
/// `CHILDREN` children, awaits them, and checks after every `.await` that nothing came back and
/// that it is still the current call. Returns its call id and what the children saw.
#[keel::instrument]
async fn async_parent(handoff: Arc<Handoff>) -> (u64, Vec<TaskSeen>) {
    let _token = REQUEST_ID.set("req-1".into());
    tokio::task::yield_now().await;
    let me = current_call_id().expect("the instrumented async parent is current in its polls");
    let children: Vec<Child> = (0..CHILDREN).map(|_| handoff()).collect();
    let mut seen = Vec::new();
    for child in children {
        seen.push(child.await);
        assert_eq!(
            REQUEST_ID.get().as_deref(),
            Some("req-1"),
            "a child's value leaked"
        );
        assert_eq!(
            current_call_id(),
            Some(me),
            "the parent is current again after .await"
        );
    }
    tokio::task::yield_now().await;
    assert_eq!(current_call_id(), Some(me));
    (me, seen)
}

const CHILDREN: usize = 32;

/// Runs the async parent as a task of a 4-worker runtime; checks every child against `expect`
/// and returns how many children ran on more than one worker.
fn tokio_case(handoff: Handoff, expect: fn(u64) -> Seen) -> usize {
    tracing_on();
    let handoff = Arc::new(handoff);
    let rt = runtime();
    // The parent task has a context of its own, or its value would stay on the worker where it
    // set it and be missing wherever it resumed.
    let parent = async_parent(handoff).in_context(context::Context::new());
    let (me, seen) = rt.block_on(async move { tokio::spawn(parent).await.unwrap() });
    // Nothing stays current, and no value stays, on the workers once the tasks are done.
    let leftovers: Vec<Seen> = rt.block_on(async {
        let probes: Vec<_> = (0..16).map(|_| tokio::spawn(async { peek() })).collect();
        let mut out = Vec::new();
        for probe in probes {
            out.push(probe.await.unwrap());
        }
        out
    });
    assert!(
        leftovers.iter().all(|seen| *seen == Seen::empty()),
        "{leftovers:?}"
    );
    let expected = expect(me);
    let mut migrated = 0;
    for child in &seen {
        assert_eq!(child.start, expected);
        for &(_, own, caller) in &child.polls {
            assert!(own, "the child's own value was lost between polls");
            assert_eq!(caller, expected.caller);
        }
        let threads: HashSet<ThreadId> = child.polls.iter().map(|(t, _, _)| *t).collect();
        migrated += usize::from(threads.len() > 1);
    }
    migrated
}

fn boxed<T: Send + 'static>(
    handle: tokio::task::JoinHandle<T>,
) -> Pin<Box<dyn Future<Output = T> + Send>> {
    Box::pin(async move { handle.await.unwrap() })
}

/// Plain `tokio::spawn`: isolation without inheritance. The task starts empty and has a context
/// of its own, whose values follow it across workers and die with it.
#[test]
fn tokio_spawn_starts_empty_and_keeps_its_own_values_across_yields_and_workers() {
    let migrated = tokio_case(Box::new(|| boxed(tokio::spawn(yielding_child()))), |_| {
        Seen::empty()
    });
    assert!(
        migrated > 0,
        "no child task moved between workers: the case proves less"
    );
}

#[test]
fn keel_tokio_spawn_carries_a_copy_across_yields_and_workers() {
    let migrated = tokio_case(
        Box::new(|| boxed(context::tokio::spawn(yielding_child()))),
        Seen::carried,
    );
    assert!(
        migrated > 0,
        "no child task moved between workers: the case proves less"
    );
}

/// A blocking closure's view, as a child task's.
fn blocking_look() -> TaskSeen {
    TaskSeen {
        start: look(),
        polls: Vec::new(),
    }
}

/// A plain blocking closure looks, then sets a value of its own until it returns: the next
/// closures on the same blocking thread must not see it.
fn blocking_peek() -> TaskSeen {
    let start = peek();
    let _own = REQUEST_ID.set("set by the child".into());
    TaskSeen {
        start,
        polls: Vec::new(),
    }
}

#[test]
fn tokio_spawn_blocking_starts_empty_and_keel_s_carries_a_copy() {
    tokio_case(
        Box::new(|| boxed(tokio::task::spawn_blocking(blocking_peek))),
        |_| Seen::empty(),
    );
    tokio_case(
        Box::new(|| boxed(context::tokio::spawn_blocking(blocking_look))),
        Seen::carried,
    );
}

#[test]
fn keel_tokio_spawn_local_carries_a_copy() {
    tracing_on();
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let (me, seen) = local.block_on(&rt, async {
        let _token = REQUEST_ID.set("req-1".into());
        #[keel::instrument]
        async fn local_parent() -> (u64, TaskSeen) {
            let me = current_call_id().unwrap();
            let seen = context::tokio::spawn_local(yielding_child()).await.unwrap();
            assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
            assert_eq!(current_call_id(), Some(me));
            (me, seen)
        }
        local_parent().await
    });
    assert_eq!(seen.start, Seen::carried(me));
    assert!(
        seen.polls
            .iter()
            .all(|&(_, own, caller)| own && caller == Some(me))
    );
}

// ---------------------------------------------------------------- rayon

/// Runs `f` for 1,000 items on rayon's pool (from outside it, so every item runs on a worker)
/// and returns what each saw, all of which must be alike.
fn every_item(f: impl Fn(u32) -> Seen + Send + Sync) -> Seen {
    let seen: Vec<Seen> = (0..1000u32).into_par_iter().map(f).collect();
    let first = seen[0].clone();
    assert!(
        seen.iter().all(|s| *s == first),
        "items saw different contexts"
    );
    first
}

#[test]
fn rayon_par_iter_starts_empty_and_bind_carries_a_fresh_copy_to_every_item() {
    case(|| every_item(|_| peek()), |_| Seen::empty());
    // With bind, every item starts from the captured values, though each sets its own.
    case(|| every_item(context::bind(|_| look())), Seen::carried);
}

#[test]
fn rayon_spawn_join_and_scope_carry_a_copy() {
    case(
        || {
            let (tx, rx) = mpsc::channel();
            context::rayon::spawn(move || tx.send(look()).unwrap());
            rx.recv().unwrap()
        },
        Seen::carried,
    );
    case(
        || {
            let (a, b) = context::rayon::join(look, look);
            assert_eq!(a, b, "each side has a copy of its own");
            a
        },
        Seen::carried,
    );
    case(
        || {
            let seen = Mutex::new(Vec::new());
            context::rayon::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|_| seen.lock().unwrap().push(look()));
                }
            });
            let seen = seen.into_inner().unwrap();
            assert!(seen.iter().all(|s| *s == seen[0]));
            seen[0].clone()
        },
        Seen::carried,
    );
    // Plain rayon, for contrast.
    case(
        || {
            let (tx, rx) = mpsc::channel();
            rayon::spawn(move || tx.send(peek()).unwrap());
            rx.recv().unwrap()
        },
        |_| Seen::empty(),
    );
}

// ---------------------------------------------------------------- any executor

#[test]
fn a_futures_executor_sees_the_context_through_in_current_context() {
    let on_another_thread = |future: Pin<Box<dyn Future<Output = Seen> + Send>>| {
        std::thread::spawn(move || futures::executor::block_on(future))
            .join()
            .unwrap()
    };
    case(
        || on_another_thread(Box::pin(async { look() }.in_current_context())),
        Seen::carried,
    );
    case(
        || on_another_thread(Box::pin(async { peek() })),
        |_| Seen::empty(),
    );
}
