//! `keel::plugin`: `create("csv")` next to a hand-written `match name { .. => Box::new(..) }`,
//! and the first-access build of a registry holding 1,000 plugins (generated below).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel::plugin::{PluginError, Registry, registry};
use std::hint::black_box;
use std::time::Instant;

/// Formats a series of numbers.
#[keel::registry]
pub trait Exporter: Send + Sync {
    fn export(&self, data: &[i64]) -> String;
}

/// Comma-separated values.
#[keel::plugin(Exporter, name = "csv", aliases = ["comma"])]
#[derive(Default)]
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn export(&self, data: &[i64]) -> String {
        data.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A JSON array.
#[keel::plugin(Exporter, name = "json")]
#[derive(Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, data: &[i64]) -> String {
        format!("{data:?}")
    }
}

/// The peer: what one writes by hand without a registry.
#[inline(always)]
fn hand_written_match(name: &str) -> Option<Box<dyn Exporter>> {
    match name {
        "csv" | "comma" => Some(Box::new(CsvExporter)),
        "json" => Some(Box::new(JsonExporter)),
        _ => None,
    }
}

/// The same match behind a call, next to `keel_create`.
#[inline(never)]
fn hand_written(name: &str) -> Option<Box<dyn Exporter>> {
    hand_written_match(name)
}

#[inline(never)]
fn keel_create(
    exporters: &Registry<dyn Exporter>,
    name: &str,
) -> Result<Box<dyn Exporter>, Box<PluginError>> {
    exporters.create(name)
}

fn create(c: &mut Criterion) {
    let exporters = registry::<dyn Exporter>();
    assert_eq!(exporters.create("csv").unwrap().export(&[1, 2]), "1,2");
    assert_eq!(hand_written("csv").unwrap().export(&[1, 2]), "1,2");

    let mut group = c.benchmark_group("plugin_create");
    group.bench_function("hand_written_match_box", |b| {
        b.iter(|| hand_written(black_box("csv")))
    });
    group.bench_function("hand_written_match_box_inlined", |b| {
        b.iter(|| hand_written_match(black_box("csv")))
    });
    group.bench_function("keel_create", |b| {
        b.iter(|| keel_create(exporters, black_box("csv")))
    });
    // The usage: the registry fetched once (`let reg = registry::<dyn Exporter>()`),
    // then `reg.create("csv")`, inlined into the loop like the match above.
    group.bench_function("keel_create_inlined", |b| {
        b.iter(|| exporters.create(black_box("csv")))
    });
    group.bench_function("keel_registry_then_create", |b| {
        b.iter(|| registry::<dyn Exporter>().create(black_box("csv")))
    });
    group.finish();

    paired(c, exporters);
}

/// The constructors of the match below, reached through function pointers.
static CONSTRUCTORS: [fn() -> Box<dyn Exporter>; 2] =
    [|| Box::new(CsvExporter), || Box::new(JsonExporter)];

/// The floor of any registry that learns its plugins at link time: the same match, calling the
/// plugin's constructor through a function pointer, as such a registry has to.
#[inline(always)]
fn hand_written_match_via_pointer(
    constructors: &[fn() -> Box<dyn Exporter>; 2],
    name: &str,
) -> Option<Box<dyn Exporter>> {
    match name {
        "csv" | "comma" => Some(constructors[0]()),
        "json" => Some(constructors[1]()),
        _ => None,
    }
}

/// The match, `create` and the match via a pointer, all inlined, alternated in chunks of
/// `CHUNK` calls inside one measurement, so that all three see the same moments of a shared
/// host: the row reports `create`'s time, and the lines printed after it the medians over all
/// chunk triples of `create`'s time over the match's, and of the pointer match's over the match's.
/// On a host whose speed drifts by tens of percent between seconds, separate rows can disagree
/// about a ratio; these lines do not.
fn paired(c: &mut Criterion, exporters: &'static Registry<dyn Exporter>) {
    const CHUNK: u64 = 10_000;
    let ratios = std::cell::RefCell::new((Vec::new(), Vec::new()));
    let constructors = black_box(&CONSTRUCTORS);
    assert_eq!(
        hand_written_match_via_pointer(constructors, "csv")
            .unwrap()
            .export(&[1, 2]),
        "1,2"
    );
    let mut group = c.benchmark_group("plugin_create_paired");
    group.bench_function("keel_create_inlined_alternating_with_the_match", |b| {
        b.iter_custom(|iters| {
            let mut keel = std::time::Duration::ZERO;
            let mut ratios = ratios.borrow_mut();
            for _ in 0..iters.div_ceil(CHUNK) {
                let start = Instant::now();
                for _ in 0..CHUNK {
                    black_box(hand_written_match(black_box("csv")));
                }
                let hand = start.elapsed().as_secs_f64();
                let start = Instant::now();
                for _ in 0..CHUNK {
                    let _ = black_box(exporters.create(black_box("csv")));
                }
                let chunk = start.elapsed();
                let start = Instant::now();
                for _ in 0..CHUNK {
                    black_box(hand_written_match_via_pointer(
                        constructors,
                        black_box("csv"),
                    ));
                }
                let via_pointer = start.elapsed().as_secs_f64();
                keel += chunk;
                ratios.0.push(chunk.as_secs_f64() / hand);
                ratios.1.push(via_pointer / hand);
            }
            keel.mul_f64(iters as f64 / (iters.div_ceil(CHUNK) * CHUNK) as f64)
        })
    });
    group.finish();
    let (keel, via_pointer) = ratios.into_inner();
    for (what, mut ratios) in [
        ("create / match", keel),
        ("match via a pointer / match", via_pointer),
    ] {
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q) as usize];
        println!(
            "plugin_create_paired: {what}, median over {} chunk triples of {CHUNK} calls: {:.2}x (quartiles {:.2}x, {:.2}x)",
            ratios.len(),
            at(0.5),
            at(0.25),
            at(0.75)
        );
    }
}

// 1,000 plugins, `Bulk000` .. `Bulk999` (registered as "bulk000" .. "bulk999").

#[keel::registry]
pub trait Bulk {
    fn id(&self) -> u32;
}

macro_rules! bulk_hundreds {
    ($($h:literal)*) => { $( bulk_tens!($h; 0 1 2 3 4 5 6 7 8 9); )* };
}
macro_rules! bulk_tens {
    ($h:literal; $($t:literal)*) => { $( bulk_ones!($h $t; 0 1 2 3 4 5 6 7 8 9); )* };
}
macro_rules! bulk_ones {
    ($h:literal $t:literal; $($o:literal)*) => {
        $(
            paste::paste! {
                #[keel::plugin(Bulk)]
                #[derive(Default)]
                pub struct [<Bulk $h $t $o>];

                impl Bulk for [<Bulk $h $t $o>] {
                    fn id(&self) -> u32 {
                        $h * 100 + $t * 10 + $o
                    }
                }
            }
        )*
    };
}
bulk_hundreds!(0 1 2 3 4 5 6 7 8 9);

fn build(c: &mut Criterion) {
    // The real first access, once (criterion below repeats the same build on fresh registries).
    let start = Instant::now();
    let bulk = registry::<dyn Bulk>();
    let first_access = start.elapsed();
    assert_eq!(bulk.len(), 1000);
    assert!(bulk.check().is_ok());
    assert_eq!(bulk.create("bulk742").unwrap().id(), 742);
    eprintln!("registry::<dyn Bulk>() first access (1,000 plugins): {first_access:?}");

    let mut group = c.benchmark_group("plugin_registry_build");
    group.bench_function("collect_1000_plugins", |b| {
        b.iter_batched(
            || (),
            |()| Registry::<dyn Bulk>::collect(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("keel_create_among_1000", |b| {
        b.iter(|| bulk.create(black_box("bulk742")))
    });
    group.finish();
}

criterion_group!(benches, create, build);
criterion_main!(benches);
