//! Python's `contextvars` + `copy_context()` carrying a request id into a thread pool, in keel.
//!
//! ```python
//! request_id = contextvars.ContextVar("request_id")
//! def blocking_task():
//!     return request_id.get(None)
//! async def main():
//!     request_id.set("req-42")
//!     ctx = contextvars.copy_context()
//!     with ThreadPoolExecutor() as pool:
//!         print(await loop.run_in_executor(pool, ctx.run, blocking_task))   # req-42
//! ```
//!
//! `cargo run --release --example context_threads`

#![deny(warnings, clippy::all)]

use keel::context::{self, Context, ContextVar};
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Instant;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

fn blocking_task() -> Option<String> {
    // Runs on a pool thread, yet sees the value of the request that submitted it.
    REQUEST_ID.get()
}

/// Median nanoseconds per call over a few rounds (criterion does the careful job in benches/).
fn ns_per_call<R>(mut f: impl FnMut() -> R) -> f64 {
    const N: u32 = 2_000_000;
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..N {
                black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(N)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn main() {
    let pool = threadpool::ThreadPool::new(4);

    // The Python original, line for line.
    let token = REQUEST_ID.set("req-42".into());
    let (tx, rx) = mpsc::channel();
    let ctx = Context::current();
    let sender = tx.clone();
    pool.execute(move || {
        let mut ctx = ctx;
        sender.send(ctx.run(blocking_task)).unwrap();
    });
    println!(
        "ctx.run(blocking_task) in the pool   -> {:?}",
        rx.recv().unwrap()
    );

    // The same with `wrap`, and without it.
    let sender = tx.clone();
    pool.execute(context::wrap(move || sender.send(blocking_task()).unwrap()));
    println!(
        "wrap(blocking_task) in the pool      -> {:?}",
        rx.recv().unwrap()
    );
    let sender = tx.clone();
    pool.execute(move || sender.send(blocking_task()).unwrap());
    println!(
        "blocking_task unwrapped in the pool  -> {:?}",
        rx.recv().unwrap()
    );
    println!(
        "context::spawn / std::thread::spawn  -> {:?} / {:?}",
        context::spawn(blocking_task).join().unwrap(),
        std::thread::spawn(blocking_task).join().unwrap()
    );
    REQUEST_ID
        .reset(token)
        .expect("same variable, same context");

    // Many requests at once, each fanning work into the shared pool: every piece of work
    // reports the request that caused it, never a neighbour's.
    let requests = 8;
    let jobs_per_request = 16;
    std::thread::scope(|s| {
        for r in 0..requests {
            let (pool, tx) = (pool.clone(), tx.clone());
            s.spawn(move || {
                let _token = REQUEST_ID.set(format!("req-{r}"));
                for _ in 0..jobs_per_request {
                    let tx = tx.clone();
                    pool.execute(context::wrap(move || tx.send(blocking_task()).unwrap()));
                }
            });
        }
    });
    drop(tx);
    let mut per_request = vec![0; requests];
    for seen in rx.iter() {
        let id = seen.expect("every job saw its request id");
        let r: usize = id.trim_start_matches("req-").parse().unwrap();
        per_request[r] += 1;
    }
    assert!(per_request.iter().all(|&n| n == jobs_per_request));
    println!(
        "{requests} concurrent requests x {jobs_per_request} pool jobs: every job saw its own request id"
    );

    let _token = REQUEST_ID.set("req-42".into());
    println!(
        "cost: get {:.1} ns, with (borrow) {:.1} ns, Context::current() {:.1} ns, set+reset {:.1} ns",
        ns_per_call(|| REQUEST_ID.get()),
        ns_per_call(|| REQUEST_ID.with(|id| id.map(String::len))),
        ns_per_call(Context::current),
        ns_per_call(|| REQUEST_ID.reset(REQUEST_ID.set(String::new())))
    );
}
