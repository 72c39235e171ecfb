//! `keel::arrow`: `#[derive(Compact)]` containers as Arrow record batches, IPC and Parquet
//! files; every column kind round-trips, full-width columns are handed over without copying,
//! and bad batches are rejected naming the column and the row. The Python tests read keel's
//! files with pyarrow and polars and write files for keel to read (skipped, with a notice, when
//! `python3` with pyarrow and polars is absent).

#![cfg(all(feature = "arrow", feature = "parquet"))]
#![deny(warnings, clippy::all)]

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int32Type, UInt16Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use keel::Compact;
use keel::arrow::Error;

use std::process::Command;
use std::sync::Arc;

#[derive(Compact, Clone, Debug, PartialEq)]
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

fn readings(n: u64) -> SensorReadingVec {
    (0..n).map(reading).collect()
}

#[derive(Compact, Clone, Copy, Debug, PartialEq)]
pub enum Level {
    Low,
    Mid,
    High,
}

#[derive(keel::Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(1..=65535)]
pub struct Port(u32);

#[derive(Compact, Clone, Copy, Debug, PartialEq)]
pub struct Position {
    #[bounded(-90..=90)]
    lat: i32,
    #[compact(bits = 12)]
    code: u16,
}

/// One field of every column kind.
#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Everything {
    id: u64,
    small: i8,
    ratio: f32,
    letter: char,
    big: u128,
    #[bounded(1000..=1999)]
    packed_u: u32,
    #[bounded(-1000..=1000)]
    packed_i: i64,
    #[bounded(0.0..=1.0)]
    fraction: f64,
    flag: bool,
    name: String,
    #[compact(intern)]
    tag: String,
    level: Level,
    port: Port,
    at: Position,
}

fn everything(i: u32) -> Everything {
    Everything {
        id: u64::from(i) * 1_000_003,
        small: (i % 200) as i8,
        ratio: i as f32 / 3.0,
        letter: ['a', 'é', '∑', '🦀'][i as usize % 4],
        big: u128::MAX - u128::from(i),
        packed_u: 1000 + i % 1000,
        packed_i: i64::from(i % 2001) - 1000,
        fraction: f64::from(i % 101) / 100.0,
        flag: i.is_multiple_of(3),
        name: format!("row-{i}-{}", "x".repeat(i as usize % 5)),
        tag: ["red", "green", "blue"][i as usize % 3].to_owned(),
        level: [Level::Low, Level::Mid, Level::High][i as usize % 3],
        port: Port::try_new(1 + i % 65535).unwrap(),
        at: Position {
            lat: (i % 181) as i32 - 90,
            code: (i % 4096) as u16,
        },
    }
}

fn everythings(n: u32) -> EverythingVec {
    (0..n).map(everything).collect()
}

#[test]
fn schema_types_are_the_narrowest_and_carry_the_bounds() {
    let schema = Everything::arrow_schema();
    let types: Vec<(&str, &DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    let dict = |key: DataType| DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8));
    let position = DataType::Struct(
        vec![
            Field::new("lat", DataType::Int8, false).with_metadata(meta("-90", "90")),
            Field::new("code", DataType::UInt16, false).with_metadata(meta("0", "4095")),
        ]
        .into(),
    );
    assert_eq!(
        types,
        [
            ("id", &DataType::UInt64),
            ("small", &DataType::Int8),
            ("ratio", &DataType::Float32),
            ("letter", &DataType::UInt32),
            ("big", &DataType::FixedSizeBinary(16)),
            ("packed_u", &DataType::UInt16),
            ("packed_i", &DataType::Int16),
            ("fraction", &DataType::Float64),
            ("flag", &DataType::Boolean),
            ("name", &DataType::Utf8),
            ("tag", &dict(DataType::Int32)),
            ("level", &dict(DataType::Int8)),
            ("port", &DataType::UInt16),
            ("at", &position),
        ]
    );
    assert!(schema.fields().iter().all(|f| !f.is_nullable()));
    let field = |name: &str| schema.field_with_name(name).unwrap().metadata().clone();
    assert_eq!(field("packed_u"), meta("1000", "1999"));
    assert_eq!(field("packed_i"), meta("-1000", "1000"));
    assert_eq!(field("fraction"), meta("0", "1"));
    assert_eq!(field("port"), meta("1", "65535"));
    assert!(field("id").is_empty());
    assert_eq!(EverythingVec::arrow_schema(), schema);

    let sensor = SensorReading::arrow_schema();
    assert_eq!(sensor.field(1).data_type(), &DataType::Int16);
    assert_eq!(sensor.field(1).metadata(), &meta("-50", "150"));
}

fn meta(lo: &str, hi: &str) -> std::collections::HashMap<String, String> {
    [("keel.min", lo), ("keel.max", hi)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn every_column_kind_round_trips_through_a_batch() {
    let rows = everythings(5000);
    let batch = rows.to_record_batch().unwrap();
    assert_eq!(batch.num_rows(), 5000);
    assert_eq!(batch.schema(), Everything::arrow_schema());
    let back = EverythingVec::try_from_record_batch(&batch).unwrap();
    assert_eq!(back, rows);
    assert_eq!(back.get(4321), Some(everything(4321)));

    // The values themselves, decoded by Arrow.
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(col("packed_i").as_primitive::<Int16Type>().value(7), -993);
    assert_eq!(
        col("packed_u").as_primitive::<UInt16Type>().value(1001),
        1001
    );
    assert_eq!(col("name").as_string::<i32>().value(3), "row-3-xxx");
    let tag = col("tag");
    let tag = tag.as_dictionary::<Int32Type>();
    assert_eq!(tag.values().len(), 3, "each interned string once");
    assert_eq!(tag.keys().value(4), 1);
    let level = col("level");
    let level = level.as_dictionary::<Int8Type>();
    assert_eq!(level.values().as_string::<i32>().value(2), "High");
    assert_eq!(level.keys().value(5), 2);
    let flags = col("flag");
    assert_eq!(flags.as_boolean().true_count(), 5000usize.div_ceil(3));
    let at = col("at");
    let at = at.as_struct();
    assert_eq!(at.column(0).as_primitive::<Int8Type>().value(200), -71);

    // The zero-copy path gives the same batch.
    assert_eq!(rows.clone().into_record_batch().unwrap(), batch);
}

#[test]
fn into_record_batch_hands_the_columns_over_without_copying() {
    let rows = everythings(1000);
    let id = rows.id_column().as_ptr() as *const u8;
    let small = rows.small_column().as_ptr() as *const u8;
    let flag = rows.flag_column().words().as_ptr() as *const u8;
    let name = rows.name_column().text().as_ptr();
    let batch = rows.into_record_batch().unwrap();
    let buffer = |name: &str| batch.column_by_name(name).unwrap().to_data();
    assert_eq!(buffer("id").buffers()[0].as_ptr(), id);
    assert_eq!(buffer("small").buffers()[0].as_ptr(), small);
    assert_eq!(buffer("flag").buffers()[0].as_ptr(), flag);
    assert_eq!(buffer("name").buffers()[1].as_ptr(), name);

    // `to_record_batch` keeps the container, so it copies.
    let rows = readings(100);
    let batch = rows.to_record_batch().unwrap();
    let timestamps = batch.column(0).as_primitive::<UInt64Type>();
    assert_ne!(
        timestamps.values().as_ptr(),
        rows.timestamp_column().as_ptr()
    );
    assert_eq!(&timestamps.values()[..], rows.timestamp_column());
}

#[test]
fn record_batches_and_row_ranges_convert_each_part() {
    let rows = readings(10_001);
    let batches: Vec<RecordBatch> = rows.record_batches(4000).map(Result::unwrap).collect();
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [4000, 4000, 2001]
    );
    assert_eq!(
        SensorReadingVec::try_from_record_batches(&batches).unwrap(),
        rows
    );
    let empty: Vec<RecordBatch> = readings(0).record_batches(10).map(Result::unwrap).collect();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].num_rows(), 0);

    // Every column kind, cut at offsets that do not fall on a word or a byte.
    let rows = everythings(1000);
    let whole = rows.to_record_batch().unwrap();
    for (start, end) in [(0, 1000), (3, 700), (64, 128), (999, 1000), (500, 500)] {
        let part = rows.to_record_batch_range(start..end).unwrap();
        assert_eq!(part, whole.slice(start, end - start), "{start}..{end}");
    }
    let parts: Vec<RecordBatch> = rows.record_batches(333).map(Result::unwrap).collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(
        EverythingVec::try_from_record_batches(&parts).unwrap(),
        rows
    );
}

fn sensor_batch(celsius: ArrayRef) -> RecordBatch {
    let n = celsius.len();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "timestamp",
            Arc::new(UInt64Array::from_iter_values(0..n as u64)),
        ),
        ("celsius", celsius),
        ("value", Arc::new(Float64Array::from(vec![1.5; n]))),
        ("unit", Arc::new(StringArray::from(vec!["K"; n]))),
        ("active", Arc::new(BooleanArray::from(vec![true; n]))),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn a_batch_from_elsewhere_is_checked_and_wider_integers_accepted() {
    // pandas writes every integer as int64: accepted when the values fit.
    let ok = sensor_batch(Arc::new(Int64Array::from(vec![-50, 0, 150])));
    let rows = SensorReadingVec::try_from_record_batch(&ok).unwrap();
    assert_eq!(rows.celsius_column().iter().count(), 3);
    assert_eq!(rows.celsius(2), Some(150));
    assert_eq!(rows.unit(1), Some("K"));

    let err = |batch: &RecordBatch| {
        SensorReadingVec::try_from_record_batch(batch)
            .unwrap_err()
            .to_string()
    };
    let above = sensor_batch(Arc::new(Int64Array::from(vec![20, 151, 30])));
    assert_eq!(
        err(&above),
        "row 1: SensorReading.celsius must be <= 150, got 151"
    );
    let huge = sensor_batch(Arc::new(Int64Array::from(vec![20, 30, 1 << 40])));
    assert_eq!(
        err(&huge),
        "column `celsius` row 2: 1099511627776 does not fit i16"
    );
    let null = sensor_batch(Arc::new(Int64Array::from(vec![Some(1), None])));
    assert_eq!(
        err(&null),
        "column `celsius` row 1 is null: a Compact field has no null"
    );
    let text = sensor_batch(Arc::new(StringArray::from(vec!["1"])));
    assert_eq!(err(&text), "column `celsius` must be an integer, got Utf8");
    let missing = ok.project(&[0, 2, 3, 4]).unwrap();
    assert_eq!(
        err(&missing),
        "column `celsius` is missing: the batch has timestamp, value, unit, active"
    );
}

#[test]
fn nested_and_enum_columns_are_checked_by_path() {
    let batch = everythings(10).to_record_batch().unwrap();
    let replace = |name: &str, array: ArrayRef| {
        let schema = batch.schema();
        let mut columns = batch.columns().to_vec();
        let index = schema.index_of(name).unwrap();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[index] = Field::new(name, array.data_type().clone(), false);
        columns[index] = array;
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        match EverythingVec::try_from_record_batch(&batch) {
            Err(error) => error,
            Ok(_) => panic!("{name}: accepted"),
        }
    };
    let mut levels = vec!["Low"; 10];
    levels[6] = "Extreme";
    let error = replace("level", Arc::new(StringArray::from(levels)));
    assert!(
        matches!(error, Error::UnknownVariant { row: 6, .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "column `level` row 6: `Extreme` is not one of [\"Low\", \"Mid\", \"High\"]"
    );

    let mut ports: Vec<i64> = vec![80; 10];
    ports[3] = 0;
    assert_eq!(
        replace("port", Arc::new(Int64Array::from(ports))).to_string(),
        "column `port` row 3: 0 does not fit 1..=65535"
    );

    let at = batch.column_by_name("at").unwrap().as_struct().clone();
    let (fields, mut columns, nulls) = at.into_parts();
    let mut lat: Vec<i64> = vec![0; 10];
    lat[8] = 91;
    columns[0] = Arc::new(Int64Array::from(lat));
    let fields: Vec<Field> = fields
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), false))
        .collect();
    let at = arrow_array::StructArray::new(fields.into(), columns, nulls);
    assert_eq!(
        replace("at", Arc::new(at)).to_string(),
        "row 8: Position.lat must be <= 90, got 91"
    );
}

#[test]
fn ipc_and_parquet_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let rows = everythings(3000);
    let ipc = dir.path().join("rows.arrow");
    rows.write_ipc(&ipc).unwrap();
    assert_eq!(EverythingVec::read_ipc(&ipc).unwrap(), rows);
    let parquet = dir.path().join("rows.parquet");
    rows.write_parquet(&parquet).unwrap();
    assert_eq!(EverythingVec::read_parquet(&parquet).unwrap(), rows);

    let missing = dir.path().join("absent.parquet");
    let error = EverythingVec::read_parquet(&missing).unwrap_err();
    assert!(matches!(error, Error::Io { .. }));
    assert!(error.to_string().contains("absent.parquet"), "{error}");
    // A file of other rows: an error naming the first column it lacks.
    assert_eq!(
        SensorReadingVec::read_parquet(&parquet)
            .unwrap_err()
            .to_string(),
        "column `timestamp` is missing: the batch has id, small, ratio, letter, big, packed_u, \
         packed_i, fraction, flag, name, tag, level, port, at"
    );
}

/// `python3` with pyarrow, polars and pandas, or `None` (and a notice) when absent.
fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import pyarrow, polars, pandas, numpy"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ok {
        println!("    notice: python3 with pyarrow, polars and pandas not found; skipped");
        return None;
    }
    Some("python3")
}

fn run_python(python: &str, script: &str, args: &[&str]) -> String {
    let script = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pyarrow_and_polars_read_a_million_rows_keel_wrote() {
    let Some(python) = python() else { return };
    const N: u64 = 1_000_000;
    let rows = readings(N);
    let dir = tempfile::tempdir().unwrap();
    let (ipc, parquet) = (dir.path().join("r.arrow"), dir.path().join("r.parquet"));
    rows.write_ipc(&ipc).unwrap();
    rows.write_parquet(&parquet).unwrap();
    let spot = [0u64, 1, 123_456, 999_999];
    let spot_text = spot.map(|r| r.to_string()).join(",");
    let out = run_python(
        python,
        "arrow_read.py",
        &[ipc.to_str().unwrap(), parquet.to_str().unwrap(), &spot_text],
    );
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();

    let timestamp_sum: u64 = rows.timestamp_column().iter().sum();
    let celsius_sum: i64 = rows.iter().map(|r| i64::from(r.celsius)).sum();
    let value_sum: f64 = rows.value_column().iter().sum();
    let active = rows.active_column().count_ones() as u64;
    let kelvin = rows.iter().filter(|r| r.unit == "K").count() as u64;
    for reader in [
        "pyarrow_ipc",
        "pyarrow_parquet",
        "polars_ipc",
        "polars_parquet",
    ] {
        let r = &out[reader];
        assert_eq!(r["num_rows"], N, "{reader}");
        let sums = &r["sums"];
        assert_eq!(sums["timestamp"].as_u64(), Some(timestamp_sum), "{reader}");
        assert_eq!(sums["celsius"].as_i64(), Some(celsius_sum), "{reader}");
        let value = sums["value"].as_f64().unwrap();
        assert!(
            (value - value_sum).abs() < 1e-6 * value_sum,
            "{reader}: {value}"
        );
        assert_eq!(sums["active"].as_u64(), Some(active), "{reader}");
        assert_eq!(sums["kelvin"].as_u64(), Some(kelvin), "{reader}");
        for (i, &row) in spot.iter().enumerate() {
            let expected = reading(row);
            let got = &r["rows"][i];
            assert_eq!(
                got[0].as_u64(),
                Some(expected.timestamp),
                "{reader} row {row}"
            );
            assert_eq!(
                got[1].as_i64(),
                Some(i64::from(expected.celsius)),
                "{reader}"
            );
            assert_eq!(got[2].as_f64(), Some(expected.value), "{reader} row {row}");
            assert_eq!(got[3].as_str(), Some(expected.unit.as_str()), "{reader}");
            assert_eq!(
                got[4].as_bool(),
                Some(expected.active),
                "{reader} row {row}"
            );
        }
    }
    for reader in ["pyarrow_ipc", "pyarrow_parquet"] {
        let r = &out[reader];
        let types = &r["types"];
        assert_eq!(types["timestamp"], "uint64", "{reader}");
        assert_eq!(types["celsius"], "int16", "{reader}");
        assert_eq!(types["value"], "double", "{reader}");
        assert_eq!(
            types["unit"], "dictionary<values=string, indices=int32, ordered=0>",
            "{reader}"
        );
        assert_eq!(types["active"], "bool", "{reader}");
        assert_eq!(r["metadata"]["celsius"]["keel.min"], "-50", "{reader}");
        assert_eq!(r["metadata"]["celsius"]["keel.max"], "150", "{reader}");
        assert_eq!(r["nullable"]["celsius"], false, "{reader}");
    }
    for reader in ["polars_ipc", "polars_parquet"] {
        let types = &out[reader]["types"];
        assert_eq!(types["timestamp"], "UInt64", "{reader}");
        assert_eq!(types["celsius"], "Int16", "{reader}");
        assert_eq!(types["value"], "Float64", "{reader}");
        assert_eq!(types["active"], "Boolean", "{reader}");
    }
}

#[test]
fn keel_reads_parquet_that_pandas_and_polars_wrote_checking_bounds() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pandas, polars) = (dir.path().join("pd.parquet"), dir.path().join("pl.parquet"));
    let paths = [pandas.to_str().unwrap(), polars.to_str().unwrap()];
    run_python(
        python,
        "arrow_write.py",
        &[paths[0], paths[1], "20000", "-1"],
    );
    for path in paths {
        let rows = SensorReadingVec::read_parquet(path).unwrap();
        assert_eq!(rows, readings(20_000), "{path}");
    }
    run_python(
        python,
        "arrow_write.py",
        &[paths[0], paths[1], "20000", "17321"],
    );
    for path in paths {
        let error = SensorReadingVec::read_parquet(path).unwrap_err();
        assert!(
            matches!(error, Error::Bounds { row: 17321, .. }),
            "{path}: {error}"
        );
        assert_eq!(
            error.to_string(),
            "row 17321: SensorReading.celsius must be <= 150, got 151"
        );
    }
}

#[test]
fn pyarrow_reads_the_columns_in_place_from_shared_memory() {
    let Some(python) = python() else { return };
    let rows = readings(100_000);
    let (segment, length) = rows.to_shm_ipc().unwrap();
    let out = run_python(
        python,
        "arrow_shm.py",
        &[segment.name(), &length.to_string()],
    );
    let sum: u64 = rows.timestamp_column().iter().sum();
    assert!(out.contains("rows 100000\n"), "{out}");
    assert!(out.contains(&format!("timestamp_sum {sum}\n")), "{out}");
    assert!(out.contains("in_place True\n"), "{out}");
}
