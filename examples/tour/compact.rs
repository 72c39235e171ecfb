//! `__slots__` -> `#[derive(Compact)]`: a compile-time layout and rows stored by column.

use crate::measure::{Table, ns, per_call};
use keel::Compact;
use std::hint::black_box;
use std::time::Instant;

#[derive(Compact, Clone, Debug, PartialEq)]
#[compact(max_size = 48)]
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
        unit: "°C".to_owned(),
        active: !i.is_multiple_of(7),
    }
}

fn python_slots_bytes_per_object(objects: u32) -> Option<String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/python/slots_memory.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(objects.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("python SensorReadingSlotted"))?;
    Some(line.rsplit("bytes_per_row=").next()?.to_owned())
}

pub fn run() {
    print!("{}", SensorReading::LAYOUT);

    const N: u64 = 1_000_000;
    let mut rows = SensorReadingVec::new();
    let mut plain = Vec::with_capacity(N as usize);
    for i in 0..N {
        rows.push(reading(i)).expect("every reading is in range");
        plain.push(reading(i));
    }
    let plain_bytes = plain.capacity() * size_of::<SensorReading>()
        + plain.iter().map(|r| r.unit.capacity()).sum::<usize>();
    let python = match python_slots_bytes_per_object(100_000) {
        Some(b) => format!("{b} (tracemalloc, measured now)"),
        None => "python3 not found (124 on 3.11)".to_string(),
    };
    let mut table = Table::new(&["1M readings", "bytes per row"]);
    table
        .row(&[
            &"SensorReadingVec (memory_bytes)",
            &format!("{:.2}", rows.memory_bytes() as f64 / N as f64),
        ])
        .row(&[
            &"Vec<SensorReading> + its Strings",
            &format!("{:.2}", plain_bytes as f64 / N as f64),
        ])
        .row(&[&"CPython __slots__ class", &python]);
    table.print();

    let err = rows
        .push(SensorReading {
            celsius: 151,
            ..reading(0)
        })
        .unwrap_err();
    println!(
        "push(celsius = 151) -> Err({err}); len still {}",
        rows.len()
    );

    let n = rows.len();
    let mut i = 0;
    let mut next = move || {
        i += 1;
        if i == n {
            i = 0;
        }
        i
    };
    let get = per_call(1_000_000, || rows.get(black_box(next())));
    let mut row = rows.get(0).expect("row 0");
    let get_into = per_call(1_000_000, || rows.get_into(black_box(next()), &mut row));
    let field = per_call(1_000_000, || rows.timestamp(black_box(next())));
    let mut table = Table::new(&["SensorReadingVec access (median of 7)", "per call"]);
    table
        .row(&[&"get(i) (allocates the unit String)", &ns(get)])
        .row(&[&"get_into(i, &mut row) (reuses it)", &ns(get_into)])
        .row(&[&"timestamp(i) (one column, rows in order)", &ns(field)]);
    table.print();

    let column = rows.value_column();
    let start = Instant::now();
    let mut total = 0.0;
    for _ in 0..10 {
        total += black_box(column).iter().sum::<f64>();
    }
    let per_pass = start.elapsed() / 10;
    println!(
        "sum(value_column()) over 1M rows: {:.2} ms, {:.1} GB/s (checksum {total:.3e})",
        per_pass.as_secs_f64() * 1e3,
        (column.len() * 8) as f64 / per_pass.as_secs_f64() / 1e9,
    );
    arrow(rows);
}

/// The rows as Arrow (keel's `arrow` feature): the schema the derive generates, and the
/// full-width `timestamp` column handed to Arrow without a copy.
fn arrow(rows: SensorReadingVec) {
    let schema = SensorReading::arrow_schema();
    let mut table = Table::new(&[
        "SensorReading::arrow_schema()",
        "Arrow type",
        "keel.min..=keel.max",
    ]);
    for field in schema.fields() {
        let metadata = field.metadata();
        let range = match (metadata.get("keel.min"), metadata.get("keel.max")) {
            (Some(min), Some(max)) => format!("{min}..={max}"),
            _ => "-".to_owned(),
        };
        table.row(&[field.name(), &field.data_type().to_string(), &range]);
    }
    table.print();

    let start = Instant::now();
    let copied = rows.to_record_batch().expect("every column converts");
    let to = start.elapsed();
    drop(copied);
    let column = rows.timestamp_column().as_ptr();
    let start = Instant::now();
    let batch = rows.into_record_batch().expect("every column converts");
    let into = start.elapsed();
    let timestamps = batch.column(0).to_data();
    let shared = timestamps.buffers()[0].as_ptr() == column.cast();
    let mut table = Table::new(&[
        "1M rows to an Arrow RecordBatch",
        "time",
        "timestamp column",
    ]);
    table
        .row(&[
            &"to_record_batch(&rows) (keeps the rows)",
            &format!("{:.2} ms", to.as_secs_f64() * 1e3),
            &"copied once (memcpy)",
        ])
        .row(&[
            &"into_record_batch(rows)",
            &format!("{:.2} ms", into.as_secs_f64() * 1e3),
            &if shared {
                "the same memory: not copied"
            } else {
                "copied"
            },
        ]);
    table.print();
}
