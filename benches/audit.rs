//! `keel::audit::emit` cost, with no hook installed (the common case) and through one hook,
//! next to an empty call as the floor.
//!
//! `cargo bench --bench audit -- --warm-up-time 1 --measurement-time 3`
//! (`KEEL_BENCH_CLOCK=cpu` in front counts thread CPU time instead of wall time; see
//! `benches/cpu_time.rs`.)

mod cpu_time;

use criterion::Criterion;
use criterion::measurement::Measurement;
use std::hint::black_box;

#[inline(never)]
fn empty(name: &str) -> Result<(), keel::audit::Denied> {
    black_box(name);
    Ok(())
}

fn emit<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("audit_emit");
    // The harness alone: the same black_box'd input and `Result` output, no call, no load.
    group.bench_function("harness_floor", |b| {
        b.iter(|| {
            black_box("app.read");
            Ok::<(), keel::audit::Denied>(())
        })
    });
    group.bench_function("empty_fn_floor", |b| {
        b.iter(|| empty(black_box("app.read")))
    });
    group.bench_function("keel_no_hooks", |b| {
        b.iter(|| keel::audit::emit(black_box("app.read"), &[]))
    });
    keel::audit::add_hook(|e| {
        black_box(e.name());
        Ok(())
    })
    .unwrap();
    let id = 42u64;
    group.bench_function("keel_one_hook", |b| {
        b.iter(|| keel::audit::emit(black_box("app.read"), &[("id", &id)]))
    });
    group.finish();
}

cpu_time::main_with_clock!(emit);
