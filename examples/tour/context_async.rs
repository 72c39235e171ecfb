//! `contextvars` across asyncio tasks, `run_in_executor` and a process pool's `map` →
//! `keel::context::tokio` and `keel::context::rayon`: the request id follows the work into
//! tokio tasks, tokio's blocking threads and rayon's pool, each with a copy of its own.

use crate::measure::{Table, dur, median};
use keel::context::{self, Context, ContextVar, FutureExt};
use rayon::prelude::*;
use std::sync::mpsc;
use std::time::{Duration, Instant};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

fn show(value: Option<String>) -> String {
    match value {
        Some(id) => format!("{id:?}"),
        None => "(unset)".into(),
    }
}

/// What each way of handing work off sees of the caller's `request_id`.
struct Seen {
    rows: Vec<(&'static str, String, &'static str, String)>,
    caller_after: Option<String>,
}

async fn handoffs() -> Seen {
    let _token = REQUEST_ID.set("req-42".into());
    tokio::task::yield_now().await; // may resume on the other worker: the value follows the task
    let read = || async {
        tokio::task::yield_now().await;
        REQUEST_ID.get()
    };
    let keel_task = context::tokio::spawn(async move {
        let seen = read().await;
        let _own = REQUEST_ID.set("set-in-the-task".into()); // stays in the task's copy
        seen
    });
    let keel_task = keel_task.await.unwrap();
    let plain_task = tokio::spawn(read()).await.unwrap();
    let keel_blocking = context::tokio::spawn_blocking(|| REQUEST_ID.get())
        .await
        .unwrap();
    let plain_blocking = tokio::task::spawn_blocking(|| REQUEST_ID.get())
        .await
        .unwrap();
    // rayon from a blocking thread (rayon blocks its caller), the pool's workers doing the work.
    let (keel_rayon, plain_rayon, keel_map, plain_map) = context::tokio::spawn_blocking(|| {
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        context::rayon::spawn(move || tx.send(REQUEST_ID.get()).unwrap());
        let keel_rayon = rx.recv().unwrap();
        rayon::spawn(move || tx2.send(REQUEST_ID.get()).unwrap());
        let plain_rayon = rx.recv().unwrap();
        let items: Vec<u32> = (0..64).collect();
        let tagged = context::bind(|_: &u32| REQUEST_ID.get());
        let keel_map: Vec<_> = items.par_iter().map(tagged).collect();
        let plain_map: Vec<_> = items.par_iter().map(|_| REQUEST_ID.get()).collect();
        let all = |v: Vec<Option<String>>| {
            let first = v[0].clone();
            if v.iter().all(|x| *x == first) {
                format!("{} (all 64 items)", show(first))
            } else {
                let set = v.iter().filter(|x| x.is_some()).count();
                format!("{set} of 64 items set")
            }
        };
        (keel_rayon, plain_rayon, all(keel_map), all(plain_map))
    })
    .await
    .unwrap();
    Seen {
        rows: vec![
            (
                "context::tokio::spawn",
                show(keel_task),
                "tokio::spawn",
                show(plain_task),
            ),
            (
                "context::tokio::spawn_blocking",
                show(keel_blocking),
                "tokio::task::spawn_blocking",
                show(plain_blocking),
            ),
            (
                "context::rayon::spawn",
                show(keel_rayon),
                "rayon::spawn",
                show(plain_rayon),
            ),
            (
                "par_iter().map(context::bind(f))",
                keel_map,
                "par_iter().map(f)",
                plain_map,
            ),
        ],
        caller_after: REQUEST_ID.get(),
    }
}

/// Spawn and await `n` empty tasks, `keel` choosing the spawn function; time per task.
async fn spawn_cost(keel: bool, n: u32) -> Duration {
    let _token = REQUEST_ID.set("req-42".into());
    let start = Instant::now();
    for _ in 0..n {
        let task = if keel {
            context::tokio::spawn(async {})
        } else {
            tokio::spawn(async {})
        };
        task.await.unwrap();
    }
    start.elapsed() / n
}

pub fn run() {
    println!(
        "python: asyncio.create_task(f()), loop.run_in_executor(None, copy_context().run, g) and \
         the tasks of a pool each get a copy of request_id"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Each request runs as its own task, in a context of its own.
    let seen = runtime.block_on(async {
        tokio::spawn(handoffs().in_context(Context::new()))
            .await
            .unwrap()
    });
    let mut table = Table::new(&[
        "request_id = \"req-42\", then",
        "keel sees",
        "plain",
        "it sees",
    ]);
    for (keel, keel_seen, plain, plain_seen) in &seen.rows {
        table.row(&[keel, keel_seen, plain, plain_seen]);
    }
    table.print();
    assert!(seen.rows.iter().all(|r| r.1.starts_with("\"req-42\"")));
    println!(
        "the keel task set its own request_id; the caller still has {}",
        show(seen.caller_after)
    );

    // What a plain tokio::spawn task gives a later one: on one worker thread, a task sets
    // request_id and returns without resetting it; what does the next plain task see?
    // (On a thread of its own, so that nothing is left in this one.)
    let later = std::thread::spawn(|| {
        let single = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        single.block_on(async {
            tokio::spawn(async {
                std::mem::forget(REQUEST_ID.set("left-by-an-earlier-task".into()));
            })
            .await
            .unwrap();
            tokio::spawn(async { REQUEST_ID.get() }).await.unwrap()
        })
    })
    .join()
    .unwrap();
    println!(
        "plain tokio::spawn: a task after one that set request_id (and never reset it) sees {} \
         (an isolated task sees (unset))",
        show(later)
    );

    // Cost per spawn + await of an empty task, from inside a request's task; rounds alternate.
    let (mut plain, mut keel) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        for (keel_spawn, samples) in [(false, &mut plain), (true, &mut keel)] {
            samples.push(runtime.block_on(async move {
                tokio::spawn(spawn_cost(keel_spawn, 5_000).in_context(Context::new()))
                    .await
                    .unwrap()
            }));
        }
    }
    let (plain, keel) = (median(&mut plain), median(&mut keel));
    let mut table = Table::new(&["spawn + await an empty task (median of 7 x 5000)", "time"]);
    table.row(&[&"tokio::spawn", &dur(plain)]).row(&[
        &"context::tokio::spawn (carries the context)",
        &format!(
            "{} ({:.2}x)",
            dur(keel),
            keel.as_secs_f64() / plain.as_secs_f64()
        ),
    ]);
    table.print();
}
