//! `keel::arrow`: a million `SensorReading` rows into an Arrow `RecordBatch` and a Parquet file,
//! against serde_arrow on the same rows as `Vec<SensorReading>` and against building the arrays
//! by hand with arrow-rs builders (the memory of the batch beside the container is printed
//! before the timings).
//!
//! `cargo bench --bench arrow -- --warm-up-time 1 --measurement-time 5`

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, StringDictionaryBuilder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keel::Compact;
use parquet::arrow::ArrowWriter;
use std::hint::black_box;
use std::sync::Arc;

#[derive(Compact, serde::Serialize, Clone, Debug, PartialEq)]
pub struct SensorReading {
    timestamp: u64,
    #[bounded(-50..=150)]
    celsius: i16,
    value: f64,
    #[compact(intern)]
    unit: String,
    active: bool,
}

fn reading(i: u64) -> SensorReading {
    SensorReading {
        timestamp: 1_719_000_000 + i,
        celsius: (i % 120) as i16 - 20,
        value: 42.5 + (i % 1000) as f64 * 0.01,
        unit: ["°C", "°F", "K"][(i % 3) as usize].to_owned(),
        active: !i.is_multiple_of(7),
    }
}

const ROWS: u64 = 1_000_000;

/// The batch built by hand from `Vec<SensorReading>` with arrow-rs builders, the same schema as
/// keel's.
fn hand_built(rows: &[SensorReading]) -> RecordBatch {
    let mut timestamp = UInt64Builder::with_capacity(rows.len());
    let mut celsius = Int16Builder::with_capacity(rows.len());
    let mut value = Float64Builder::with_capacity(rows.len());
    let mut unit = StringDictionaryBuilder::<Int32Type>::new();
    let mut active = BooleanBuilder::with_capacity(rows.len());
    for row in rows {
        timestamp.append_value(row.timestamp);
        celsius.append_value(row.celsius);
        value.append_value(row.value);
        unit.append_value(&row.unit);
        active.append_value(row.active);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(timestamp.finish()),
        Arc::new(celsius.finish()),
        Arc::new(value.finish()),
        Arc::new(unit.finish()),
        Arc::new(active.finish()),
    ];
    RecordBatch::try_new(SensorReading::arrow_schema(), columns).unwrap()
}

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 << 20);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

fn memory_report(rows: &SensorReadingVec, plain: &[SensorReading]) {
    let per_row = |bytes: usize| bytes as f64 / ROWS as f64;
    let batch = rows.to_record_batch().unwrap();
    let hand = hand_built(plain);
    let vec_bytes = size_of_val(plain) + plain.iter().map(|r| r.unit.capacity()).sum::<usize>();
    println!("memory, {ROWS} rows:");
    println!(
        "  SensorReadingVec (shrunk)            {:.2} B/row",
        per_row(rows.memory_bytes())
    );
    println!(
        "  its RecordBatch (to_record_batch)    {:.2} B/row",
        per_row(batch.get_array_memory_size())
    );
    println!(
        "  hand-built RecordBatch               {:.2} B/row",
        per_row(hand.get_array_memory_size())
    );
    println!(
        "  Vec<SensorReading> + Strings         {:.2} B/row",
        per_row(vec_bytes)
    );
    println!(
        "  Parquet file (default properties)    {:.2} B/row",
        per_row(parquet_bytes(&batch).len())
    );
}

fn bench(c: &mut Criterion) {
    let plain: Vec<SensorReading> = (0..ROWS).map(reading).collect();
    let mut rows: SensorReadingVec = plain.iter().cloned().collect();
    rows.shrink_to_fit();
    memory_report(&rows, &plain);
    let schema = SensorReading::arrow_schema();
    let fields = schema.fields().to_vec();
    assert_eq!(
        serde_arrow::to_record_batch(&fields, &plain).unwrap(),
        rows.to_record_batch().unwrap()
    );
    assert_eq!(hand_built(&plain), rows.to_record_batch().unwrap());

    let mut group = c.benchmark_group("arrow_record_batch_1m");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(20);
    group.bench_function("keel_to_record_batch", |b| {
        b.iter(|| black_box(rows.to_record_batch().unwrap()))
    });
    group.bench_function("keel_into_record_batch", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| black_box(rows.into_record_batch().unwrap()),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("arrow_rs_builders_from_vec", |b| {
        b.iter(|| black_box(hand_built(black_box(&plain))))
    });
    group.bench_function("serde_arrow_from_vec", |b| {
        b.iter(|| black_box(serde_arrow::to_record_batch(&fields, black_box(&plain)).unwrap()))
    });
    group.finish();

    let hand = hand_built(&plain);
    let mut group = c.benchmark_group("arrow_parquet_write_1m");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.bench_function("keel_write_parquet", |b| {
        b.iter(|| black_box(rows.write_parquet_to(Vec::with_capacity(8 << 20)).unwrap()))
    });
    group.bench_function("keel_to_record_batch_and_write", |b| {
        b.iter(|| black_box(parquet_bytes(&rows.to_record_batch().unwrap())))
    });
    group.bench_function("write_prebuilt_hand_batch", |b| {
        b.iter(|| black_box(parquet_bytes(&hand)))
    });
    let prebuilt = rows.to_record_batch().unwrap();
    group.bench_function("write_prebuilt_keel_batch", |b| {
        b.iter(|| black_box(parquet_bytes(&prebuilt)))
    });
    group.bench_function("hand_build_and_write", |b| {
        b.iter(|| black_box(parquet_bytes(&hand_built(&plain))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
