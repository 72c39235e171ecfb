//! Tasks spawned with plain `tokio::spawn` (issue 25, point 1): each has a context of its own,
//! empty at its start, that no other task sees and that dies with the task, however the tasks
//! interleave on the workers of a multi-thread runtime and in whatever order their tokens go.
//! `keel::context::tokio::spawn` is the way to hand a task a copy of the spawner's context.

#![deny(warnings, clippy::all)]

use keel::context::{self, Context, ContextVar};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static STEP: ContextVar<u32> = ContextVar::new("step");

/// The tests of this file check that the process-wide table of task contexts is empty at their
/// end, so they run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Times a worker thread, parking between tasks, found a value in its own (thread) context.
static WORKER_LEAKS: AtomicUsize = AtomicUsize::new(0);

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_park(|| {
            if REQUEST_ID.get().is_some() || STEP.get().is_some() {
                WORKER_LEAKS.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap()
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

/// An await of one of three kinds, picked by `n`: a yield, a short sleep, a wake from outside.
async fn pause(n: u32) {
    match n % 3 {
        0 => tokio::task::yield_now().await,
        1 => tokio::time::sleep(Duration::from_micros(20 + u64::from(n % 7) * 15)).await,
        _ => woken_from_outside().await,
    }
}

/// A permutation of `0..n`, different for each `seed` (a small LCG; no dependency needed).
fn shuffled(n: usize, seed: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for i in (1..n).rev() {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        order.swap(i, (state >> 8) as usize % (i + 1));
    }
    order
}

const STEPS: u32 = 6;

/// One request, as a plain task: starts empty, sets its id and a step per await, checks after
/// every await that it sees exactly its own values, then ends its sets one of four ways (by
/// `i % 4`): resets in order, drops in a shuffled order, drops the first set before the later
/// ones, or leaves every token to die with the task. Returns the threads it ran on.
async fn request(i: u32) -> HashSet<ThreadId> {
    assert_eq!(REQUEST_ID.get(), None, "task {i} started with a value");
    assert!(Context::current().is_empty(), "task {i} started non-empty");
    let own = format!("req-{i}");
    let id_token = REQUEST_ID.set(own.clone());
    let mut steps = Vec::new();
    let mut threads = HashSet::new();
    for k in 0..STEPS {
        pause(i + k).await;
        threads.insert(std::thread::current().id());
        assert_eq!(
            REQUEST_ID.get().as_deref(),
            Some(own.as_str()),
            "task {i} after await {k}"
        );
        assert_eq!(STEP.get(), k.checked_sub(1), "task {i} after await {k}");
        steps.push(STEP.set(k));
    }
    match i % 4 {
        0 => {
            // Python's order: each reset brings back the value before its set.
            for (k, token) in steps.into_iter().enumerate().rev() {
                STEP.reset(token).unwrap();
                assert_eq!(STEP.get(), (k as u32).checked_sub(1));
            }
            REQUEST_ID.reset(id_token).unwrap();
        }
        1 => {
            // Dropped in a shuffled order, awaiting between: the variable always shows the
            // latest set whose token is still alive, never a value whose token is gone.
            let mut live: Vec<Option<_>> = steps.into_iter().map(Some).collect();
            for (n, k) in shuffled(live.len(), i).into_iter().enumerate() {
                drop(live[k].take());
                if n % 2 == 0 {
                    pause(i + n as u32).await;
                }
                let latest = live.iter().rposition(Option::is_some).map(|k| k as u32);
                assert_eq!(STEP.get(), latest, "task {i} after dropping step {k}");
                assert_eq!(REQUEST_ID.get().as_deref(), Some(own.as_str()));
            }
            drop(id_token);
        }
        2 => {
            // The first set dropped under the later ones, which then die with the task.
            drop(id_token);
            pause(i).await;
            assert_eq!(
                REQUEST_ID.get(),
                None,
                "task {i}: its dropped value is gone"
            );
            assert_eq!(STEP.get(), Some(STEPS - 1));
            return threads;
        }
        _ => {
            // Never reset: the tokens die with the task's future.
            let _keep = (id_token, steps);
            pause(i).await;
            assert_eq!(REQUEST_ID.get().as_deref(), Some(own.as_str()));
            return threads;
        }
    }
    assert!(Context::current().is_empty(), "task {i} ended its sets");
    threads
}

#[test]
fn hundreds_of_plain_tasks_never_see_each_other_s_values() {
    let _serial = serial();
    let rt = runtime(4);
    WORKER_LEAKS.store(0, Ordering::Relaxed);
    // The test thread's own context, which the tasks must not see or change.
    let _main = REQUEST_ID.set("main".into());
    let before: Vec<&str> = Context::current().names().collect();

    let migrated = rt.block_on(async {
        let handles: Vec<_> = (0..400).map(|i| tokio::spawn(request(i))).collect();
        let mut migrated = 0;
        for handle in handles {
            migrated += usize::from(handle.await.unwrap().len() > 1);
        }
        assert_eq!(
            REQUEST_ID.get().as_deref(),
            Some("main"),
            "block_on's future is in the test thread's context"
        );
        migrated
    });
    assert!(
        migrated > 0,
        "no task moved between workers: the test proves less"
    );
    assert_eq!(
        context::__live_task_contexts(),
        0,
        "every task's values died with it"
    );

    // A fresh batch, spawned after all of them, sees nothing either.
    rt.block_on(async {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                tokio::spawn(async move {
                    for k in 0..3 {
                        assert_eq!(REQUEST_ID.get(), None, "fresh task {i}");
                        assert_eq!(STEP.get(), None, "fresh task {i}");
                        assert!(Context::current().is_empty());
                        pause(i + k).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    drop(rt);
    assert_eq!(
        WORKER_LEAKS.load(Ordering::Relaxed),
        0,
        "a worker thread's own context received a task's value"
    );
    let after: Vec<&str> = Context::current().names().collect();
    assert_eq!(after, before);
    assert_eq!(REQUEST_ID.get().as_deref(), Some("main"));
}

#[test]
fn a_plain_task_isolates_its_children_unless_they_are_spawned_with_keel() {
    let _serial = serial();
    let rt = runtime(2);
    rt.block_on(async {
        tokio::spawn(async {
            let _token = REQUEST_ID.set("parent".into());
            tokio::task::yield_now().await;
            // Plain tokio::spawn: isolation, no inheritance.
            let plain = tokio::spawn(async {
                let seen = REQUEST_ID.get();
                let _token = REQUEST_ID.set("plain child".into());
                tokio::task::yield_now().await;
                seen
            });
            assert_eq!(plain.await.unwrap(), None);
            // keel's spawn: a copy of the task's context.
            let carried = context::tokio::spawn(async {
                woken_from_outside().await;
                let seen = REQUEST_ID.get();
                let _token = REQUEST_ID.set("keel child".into());
                tokio::task::yield_now().await;
                seen
            });
            assert_eq!(carried.await.unwrap().as_deref(), Some("parent"));
            // The same for blocking closures.
            let blocking = tokio::task::spawn_blocking(|| {
                let seen = REQUEST_ID.get();
                let _token = REQUEST_ID.set("blocking child".into());
                seen
            });
            assert_eq!(blocking.await.unwrap(), None);
            let blocking = context::tokio::spawn_blocking(|| REQUEST_ID.get());
            assert_eq!(blocking.await.unwrap().as_deref(), Some("parent"));
            // A snapshot of the task's context carries it anywhere.
            let snapshot = Context::current();
            let bound = context::bind(|(): ()| REQUEST_ID.get());
            assert_eq!(snapshot.get(&REQUEST_ID).as_deref(), Some("parent"));
            assert_eq!(
                std::thread::spawn(move || bound(())).join().unwrap(),
                Some("parent".into())
            );
            // Nothing the children set came back.
            assert_eq!(REQUEST_ID.get().as_deref(), Some("parent"));
        })
        .await
        .unwrap();
    });
    // The blocking pool's threads keep no value either: the next closures on them see none.
    let seen: Vec<Option<String>> = rt.block_on(async {
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(
                tokio::task::spawn_blocking(|| REQUEST_ID.get())
                    .await
                    .unwrap(),
            );
        }
        seen
    });
    assert!(seen.iter().all(Option::is_none), "{seen:?}");
    assert_eq!(context::__live_task_contexts(), 0);
}

#[test]
fn an_aborted_task_and_a_runtime_shut_down_drop_their_tasks_values() {
    let _serial = serial();
    let rt = runtime(2);
    rt.block_on(async {
        let (set_tx, set_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _token = REQUEST_ID.set("aborted".into());
            set_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        set_rx.await.unwrap();
        assert_eq!(context::__live_task_contexts(), 1);
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(
            context::__live_task_contexts(),
            0,
            "abort dropped the token"
        );
    });
    let (set_tx, set_rx) = mpsc::channel();
    for i in 0..4 {
        let set_tx = set_tx.clone();
        rt.spawn(async move {
            let _token = REQUEST_ID.set(format!("pending-{i}"));
            set_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
    }
    for _ in 0..4 {
        set_rx.recv().unwrap();
    }
    assert_eq!(context::__live_task_contexts(), 4);
    drop(rt);
    assert_eq!(
        context::__live_task_contexts(),
        0,
        "shutdown dropped the tokens"
    );
}

#[test]
fn tasks_polled_inside_an_entered_context_still_have_their_own() {
    let _serial = serial();
    // A current-thread runtime driven from inside `Context::run`: its tasks are polled on this
    // thread, in that entered context, yet neither see it nor write to it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut ctx = Context::new();
    let seen = ctx.run(|| {
        let _outer = REQUEST_ID.set("entered".into());
        rt.block_on(async {
            assert_eq!(REQUEST_ID.get().as_deref(), Some("entered"));
            let plain = tokio::spawn(async {
                let seen = REQUEST_ID.get();
                let _token = REQUEST_ID.set("task".into());
                tokio::task::yield_now().await;
                (seen, REQUEST_ID.get())
            });
            let carried = context::tokio::spawn(async { REQUEST_ID.get() });
            (plain.await.unwrap(), carried.await.unwrap())
        })
    });
    assert_eq!(seen.0, (None, Some("task".into())));
    assert_eq!(seen.1.as_deref(), Some("entered"));
    assert_eq!(ctx.get(&REQUEST_ID).as_deref(), Some("entered"));
    assert_eq!(context::__live_task_contexts(), 0);
}
