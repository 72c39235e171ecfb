//! `keel::audit::emit` cost, with no hook installed (the common case) and through one hook,
//! next to an empty call as the floor.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

#[inline(never)]
fn empty(name: &str) -> Result<(), keel::audit::Denied> {
    black_box(name);
    Ok(())
}

fn emit(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_emit");
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

criterion_group!(benches, emit);
criterion_main!(benches);
