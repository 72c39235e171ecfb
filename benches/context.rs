//! `keel::context` costs against the budgets (`ContextVar::get` ≤ 10 ns,
//! `Context::current()` ≤ 10 ns, `set` ≤ 60 ns), next to plain `thread_local!` access as the
//! floor (group `context`); and the storage choice, keel's `Arc`'d sorted vector against the
//! persistent hash maps `rpds::HashTrieMapSync` and `imbl::HashMap` (group `context_storage`).
//!
//! Hand-offs (features `tokio` and `rayon`, so run with `--all-features`): `context::tokio::spawn`
//! of an empty task against `tokio::spawn` (group `context_tokio_spawn`); the per-poll cost of a
//! context-carrying future against the bare future and `tracing`'s `Instrumented` with a registry
//! subscriber (group `context_poll`); `par_iter().map(bind(f)).sum()` against the same without
//! `bind` over 1,000,000 items (group `context_rayon`).
//!
//! Where the code runs (feature `tokio`, group `context_task`): `get`, `set` + `reset`, `set` with
//! the token dropped, and `Context::current()` + drop, with three variables set, in the thread's
//! context (a `block_on` future, not a task), in the own context of a task spawned with plain
//! `tokio::spawn` (a lock of the shared table of task contexts), and in a task spawned with a
//! context of its own (`Context::scope`, as `keel::context::tokio::spawn` makes). On a
//! current-thread runtime, so the task runs on the measuring thread and either clock applies.
//!
//! `cargo bench --bench context -- --warm-up-time 1 --measurement-time 3`
//! (`KEEL_BENCH_CLOCK=cpu` in front counts thread CPU time instead of wall time; see
//! `benches/cpu_time.rs`.)

mod cpu_time;

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion};
use keel::context::{Context, ContextVar};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::Arc;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<u64> = ContextVar::new("user");
static UNSET: ContextVar<u64> = ContextVar::new("unset");
static COUNTER: ContextVar<u64> = ContextVar::new("counter");

thread_local! {
    static CELL: Cell<u64> = const { Cell::new(7) };
    static REF_CELL: RefCell<Option<Arc<u64>>> = const { RefCell::new(None) };
}

fn api<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("context");
    REF_CELL.with(|r| *r.borrow_mut() = Some(Arc::new(7)));
    let _request = REQUEST_ID.set("req-42".to_string());
    let _user = USER.set(42);
    let _counter = COUNTER.set(0);

    group.bench_function("floor/thread_local_cell_get", |b| {
        b.iter(|| CELL.with(|c| c.get()))
    });
    group.bench_function("floor/thread_local_refcell_borrow", |b| {
        b.iter(|| REF_CELL.with(|r| r.borrow().as_deref().copied()))
    });
    group.bench_function("floor/thread_local_refcell_write", |b| {
        b.iter(|| REF_CELL.with(|r| *r.borrow_mut() = None))
    });
    // What every access now asks tokio first: which task is running (none here).
    group.bench_function("floor/tokio_try_id", |b| b.iter(tokio::task::try_id));
    group.bench_function("floor/arc_clone_drop", |b| {
        let arc = Arc::new(7u64);
        b.iter(|| Arc::clone(black_box(&arc)))
    });

    group.bench_function("get/u64", |b| b.iter(|| black_box(&USER).get()));
    group.bench_function("get/unset", |b| b.iter(|| black_box(&UNSET).get()));
    group.bench_function("get/string_clone", |b| {
        b.iter(|| black_box(&REQUEST_ID).get())
    });
    group.bench_function("with/string_borrow", |b| {
        b.iter(|| black_box(&REQUEST_ID).with(|id| id.map(String::len)))
    });

    group.bench_function("current/3_vars", |b| b.iter(Context::current));
    Context::new().run(|| {
        group.bench_function("current/empty", |b| b.iter(Context::current));
    });

    let mut value = 0u64;
    group.bench_function("set/u64", |b| {
        b.iter(|| {
            value += 1;
            black_box(&COUNTER).set(value)
        })
    });
    group.bench_function("set_reset/u64", |b| {
        b.iter(|| {
            let token = black_box(&COUNTER).set(1);
            COUNTER.reset(token)
        })
    });
    group.bench_function("set_after_snapshot/u64", |b| {
        b.iter(|| {
            let snapshot = Context::current();
            let token = black_box(&COUNTER).set(2);
            (snapshot, token)
        })
    });

    let mut ctx = Context::current();
    group.bench_function("run/enter_get_exit", |b| b.iter(|| ctx.run(|| USER.get())));
    group.finish();
}

type Value = Arc<dyn Any + Send + Sync>;

/// The same three operations on each storage at `n` variables: read one, snapshot, write one
/// while a snapshot is alive (the copy-on-write path). keel is measured through its public API
/// (so including the thread-local access); the peers are the bare maps, which favours them.
fn storage<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("context_storage");
    for n in [4usize, 32] {
        let vars: Vec<&'static ContextVar<u64>> = (0..n)
            .map(|_| &*Box::leak(Box::new(ContextVar::new("v"))))
            .collect();
        let mut ctx = Context::new();
        let mut rpds_map = rpds::HashTrieMapSync::<usize, Value>::new_sync();
        let mut imbl_map = imbl::HashMap::<usize, Value>::new();
        for (i, var) in vars.iter().enumerate() {
            ctx.run(|| std::mem::forget(var.set(i as u64)));
            rpds_map.insert_mut(i, Arc::new(i as u64));
            imbl_map.insert(i, Arc::new(i as u64));
        }
        let probe = vars[n / 2];
        let key = n / 2;

        ctx.run(|| {
            group.bench_function(BenchmarkId::new("get/keel", n), |b| {
                b.iter(|| black_box(probe).get())
            });
            group.bench_function(BenchmarkId::new("snapshot/keel", n), |b| {
                b.iter(Context::current)
            });
            group.bench_function(BenchmarkId::new("set_after_snapshot/keel", n), |b| {
                b.iter(|| {
                    let snapshot = Context::current();
                    (snapshot, black_box(probe).set(1))
                })
            });
        });

        group.bench_function(BenchmarkId::new("get/rpds", n), |b| {
            b.iter(|| {
                black_box(&rpds_map)
                    .get(&key)
                    .and_then(|v| v.downcast_ref::<u64>())
                    .copied()
            })
        });
        group.bench_function(BenchmarkId::new("snapshot/rpds", n), |b| {
            b.iter(|| black_box(&rpds_map).clone())
        });
        group.bench_function(BenchmarkId::new("set_after_snapshot/rpds", n), |b| {
            b.iter(|| {
                let snapshot = rpds_map.clone();
                rpds_map.insert_mut(key, Arc::new(1u64));
                snapshot
            })
        });

        group.bench_function(BenchmarkId::new("get/imbl", n), |b| {
            b.iter(|| {
                black_box(&imbl_map)
                    .get(&key)
                    .and_then(|v| v.downcast_ref::<u64>())
                    .copied()
            })
        });
        group.bench_function(BenchmarkId::new("snapshot/imbl", n), |b| {
            b.iter(|| black_box(&imbl_map).clone())
        });
        group.bench_function(BenchmarkId::new("set_after_snapshot/imbl", n), |b| {
            b.iter(|| {
                let snapshot = imbl_map.clone();
                imbl_map.insert(key, Arc::new(1u64));
                snapshot
            })
        });
    }
    group.finish();
}

/// A future that is never ready: each poll is the cost being measured.
struct Pending;

impl std::future::Future for Pending {
    type Output = ();
    #[inline(never)]
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        black_box(());
        std::task::Poll::Pending
    }
}

#[cfg(feature = "macros")]
#[keel::instrument]
async fn instrumented_pending() {
    Pending.await
}

/// Times one poll of `future` (which never completes), polled again and again.
fn bench_polls<M: Measurement, F: std::future::Future>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
    name: &str,
    future: F,
) {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    group.bench_function(name, |b| {
        b.iter(|| black_box(future.as_mut().poll(&mut cx)))
    });
}

fn poll<M: Measurement>(c: &mut Criterion<M>) {
    use keel::context::FutureExt;
    let mut group = c.benchmark_group("context_poll");
    let _request = REQUEST_ID.set("req-42".to_string());
    let _user = USER.set(42);
    bench_polls(&mut group, "bare_future", Pending);
    bench_polls(
        &mut group,
        "keel_in_current_context",
        Pending.in_current_context(),
    );
    {
        use tracing::Instrument;
        let subscriber = tracing_subscriber::registry();
        let _default = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("poll");
        bench_polls(
            &mut group,
            "tracing_instrumented_registry",
            Pending.instrument(span),
        );
    }
    #[cfg(feature = "macros")]
    {
        keel::trace::add_sink(keel::trace::Stats::new());
        keel::trace::enable();
        bench_polls(
            &mut group,
            "keel_instrumented_async_fn_stats",
            instrumented_pending(),
        );
        keel::trace::disable();
        keel::trace::clear_sinks();
    }
    group.finish();
}

fn tokio_spawn<M: Measurement<Value = std::time::Duration>>(c: &mut Criterion<M>) {
    use keel::context::FutureExt;
    let mut group = c.benchmark_group("context_tokio_spawn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // Spawn and await `n` empty tasks from inside a task, the context holding a request id.
    let run = |n: u64, keel: bool| {
        runtime.block_on(async move {
            tokio::spawn(
                async move {
                    let _request = REQUEST_ID.set("req-42".to_string());
                    let start = std::time::Instant::now();
                    for _ in 0..n {
                        let handle = if keel {
                            keel::context::tokio::spawn(async {})
                        } else {
                            tokio::spawn(async {})
                        };
                        handle.await.unwrap();
                    }
                    start.elapsed()
                }
                // The measuring task has a context of its own, so its request id follows it.
                .in_context(Context::new()),
            )
            .await
            .unwrap()
        })
    };
    group.bench_function("tokio_spawn", |b| b.iter_custom(|n| run(n, false)));
    group.bench_function("keel_context_tokio_spawn", |b| {
        b.iter_custom(|n| run(n, true))
    });
    group.finish();
}

fn rayon_bind<M: Measurement<Value = std::time::Duration>>(c: &mut Criterion<M>) {
    use rayon::prelude::*;
    let mut group = c.benchmark_group("context_rayon");
    let items: Vec<u64> = (0..1_000_000).collect();
    let _request = REQUEST_ID.set("req-42".to_string());
    let f = |x: &u64| x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
    // Wall clock whichever clock was chosen: the work runs on rayon's threads.
    let time = |n: u64, run: &dyn Fn() -> u64| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(run());
        }
        start.elapsed()
    };
    // A trivial `f` (a multiply and a shift) shows the per-item cost of entering the context;
    // one that reads the context variable is what `bind` is for.
    let reads = |x: &u64| x + USER.get().unwrap_or(0);
    let bound = keel::context::bind(f);
    group.bench_function("one_thread/bound_call", |b| b.iter(|| bound(black_box(&7))));
    let mut ctx = Context::current();
    group.bench_function("one_thread/run_call", |b| {
        b.iter(|| ctx.run(|| f(black_box(&7))))
    });
    group.bench_function("par_iter_map_sum", |b| {
        b.iter_custom(|n| time(n, &|| black_box(&items).par_iter().map(f).sum::<u64>()))
    });
    group.bench_function("par_iter_map_bind_sum", |b| {
        b.iter_custom(|n| {
            time(n, &|| {
                black_box(&items)
                    .par_iter()
                    .map(keel::context::bind(f))
                    .sum::<u64>()
            })
        })
    });
    group.bench_function("par_iter_map_sum_reading_a_var", |b| {
        b.iter_custom(|n| time(n, &|| black_box(&items).par_iter().map(reads).sum::<u64>()))
    });
    group.bench_function("par_iter_map_bind_sum_reading_a_var", |b| {
        b.iter_custom(|n| {
            time(n, &|| {
                black_box(&items)
                    .par_iter()
                    .map(keel::context::bind(reads))
                    .sum::<u64>()
            })
        })
    });
    group.finish();
}

/// Where a `context_task` row runs.
#[derive(Clone, Copy)]
enum Place {
    /// `block_on`'s own future: the thread's context.
    Thread,
    /// A task spawned with plain `tokio::spawn`: the task's own context in the shared table.
    PlainTask,
    /// A task whose polls enter a context of its own.
    KeelTask,
}

fn task<M: Measurement<Value = std::time::Duration>>(c: &mut Criterion<M>) {
    use keel::context::FutureExt;
    use std::time::{Duration, Instant};
    let mut group = c.benchmark_group("context_task");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cpu = cpu_time::cpu_clock_requested();
    // `op` `n` times, timed by the clock criterion was given (the thread's CPU time or the wall).
    let timed = move |n: u64, op: fn()| -> Duration {
        if cpu {
            let start = ::cpu_time::ThreadTime::now();
            (0..n).for_each(|_| op());
            start.elapsed()
        } else {
            let start = Instant::now();
            (0..n).for_each(|_| op());
            start.elapsed()
        }
    };
    let run = |place: Place, n: u64, op: fn()| -> Duration {
        let body = async move {
            let (r, u, k) = (
                REQUEST_ID.set("req-42".to_string()),
                USER.set(42),
                COUNTER.set(0),
            );
            let elapsed = timed(n, op);
            // Reset, so the thread's context is left as it was found.
            let _ = (COUNTER.reset(k), USER.reset(u), REQUEST_ID.reset(r));
            elapsed
        };
        runtime.block_on(async move {
            match place {
                Place::Thread => body.await,
                Place::PlainTask => tokio::spawn(body).await.unwrap(),
                Place::KeelTask => tokio::spawn(body.in_context(Context::new())).await.unwrap(),
            }
        })
    };
    let ops: [(&str, fn()); 4] = [
        ("get_u64", || {
            black_box(black_box(&USER).get());
        }),
        ("set_reset_u64", || {
            let token = black_box(&COUNTER).set(1);
            black_box(COUNTER.reset(token)).unwrap();
        }),
        ("set_token_dropped_u64", || {
            drop(black_box(&COUNTER).set(1));
        }),
        ("current_drop", || drop(black_box(Context::current()))),
    ];
    for (name, op) in ops {
        for (place, label) in [
            (Place::Thread, "thread"),
            (Place::PlainTask, "plain_task"),
            (Place::KeelTask, "keel_task"),
        ] {
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter_custom(|n| run(place, n, op))
            });
        }
    }
    group.finish();
}

cpu_time::main_with_clock!(api, storage, poll, tokio_spawn, rayon_bind, task);
