//! Python's `contextvars` across asyncio tasks, executors and a process pool's `map`, in keel
//! with tokio and rayon: a request id and the calling function follow the work.
//!
//! ```python
//! request_id = contextvars.ContextVar("request_id")
//! async def handle():
//!     request_id.set("req-42")
//!     child = asyncio.create_task(audit())        # the task gets a copy of the context
//!     await loop.run_in_executor(None, contextvars.copy_context().run, checksum)
//!     await child
//! ```
//!
//! `cargo run --release --example context_tokio --features tokio,rayon`

#![deny(warnings, clippy::all)]

use keel::context::{self, ContextVar, FutureExt};
use rayon::prelude::*;
use std::time::{Duration, Instant};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

/// An instrumented async call: the call is current around each of its polls, on whichever
/// worker, so the spawned `audit` below gets it as its caller.
#[keel::instrument]
async fn handle(id: u32) -> (Option<String>, Option<String>, u64) {
    let _token = REQUEST_ID.set(format!("req-{id}"));
    tokio::task::yield_now().await; // may resume on another worker: the value follows the task

    // asyncio.create_task(audit()): the task has a copy of this context.
    let carried = context::tokio::spawn(audit()).await.unwrap();
    // A plain tokio::spawn starts in an empty context of its own (isolation, no inheritance).
    let plain = tokio::spawn(audit()).await.unwrap();
    // run_in_executor(None, ctx.run, checksum): a blocking thread with a copy, and rayon inside.
    let sum = context::tokio::spawn_blocking(checksum).await.unwrap();
    (carried, plain, sum)
}

async fn audit() -> Option<String> {
    tokio::task::yield_now().await;
    REQUEST_ID.get()
}

/// Blocking work fanned out with rayon; `bind` gives every item a copy of this context (the
/// length of the request id, 6, weighs each item).
fn checksum() -> u64 {
    let items: Vec<u64> = (1..=1_000).collect();
    let tagged = context::bind(|x: &u64| {
        let tag = REQUEST_ID.with(|id| id.map_or(0, |id| id.len() as u64));
        x * tag
    });
    items.par_iter().map(tagged).sum()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Each request runs as its own task, in a context of its own.
    let (carried, plain, sum) = runtime.block_on(async {
        tokio::spawn(handle(42).in_context(context::Context::new()))
            .await
            .unwrap()
    });
    println!("python: asyncio.create_task(audit()) sees request_id = 'req-42'");
    println!("keel:   context::tokio::spawn(audit()) saw {carried:?}; tokio::spawn saw {plain:?}");
    println!("keel:   spawn_blocking + rayon par_iter().map(bind(f)) checksum = {sum}");
    assert_eq!(carried.as_deref(), Some("req-42"));
    assert_eq!(plain, None);
    assert_eq!(sum, (1..=1_000u64).sum::<u64>() * 6);

    // What carrying the context costs per spawn (criterion measures it carefully in
    // benches/context.rs): spawn and await 20,000 empty tasks, each way, from inside a task.
    let per_spawn = |keel: bool| {
        runtime.block_on(async move {
            tokio::spawn(
                async move {
                    let _token = REQUEST_ID.set("req-42".into());
                    let start = Instant::now();
                    for _ in 0..20_000 {
                        let task = if keel {
                            context::tokio::spawn(async {})
                        } else {
                            tokio::spawn(async {})
                        };
                        task.await.unwrap();
                    }
                    start.elapsed() / 20_000
                }
                .in_context(context::Context::new()),
            )
            .await
            .unwrap()
        })
    };
    // Rounds alternate, so that a shared machine's drift hits both alike; medians of 9.
    let (mut plain, mut keel) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        plain.push(per_spawn(false));
        keel.push(per_spawn(true));
    }
    let (plain, keel) = (median(plain), median(keel));
    println!(
        "spawn + await an empty task: tokio::spawn {plain:?}, context::tokio::spawn {keel:?} ({:.2}x)",
        keel.as_secs_f64() / plain.as_secs_f64()
    );
}
