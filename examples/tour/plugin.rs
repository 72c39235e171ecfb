//! `__init_subclass__` → `#[keel::registry]` + `#[keel::plugin]`: plugins register themselves at
//! link time; names resolve in O(1) after a lazy, one-time build.

use crate::measure::{Table, ns, per_call, ratio};
use keel::plugin::registry;
use std::hint::black_box;
use std::time::Instant;

/// Turns a series of numbers into text.
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
#[keel::plugin(Exporter)]
#[derive(Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, data: &[i64]) -> String {
        format!("{data:?}")
    }
}

#[inline(never)]
fn hand_written(name: &str) -> Option<Box<dyn Exporter>> {
    match name {
        "csv" | "comma" => Some(Box::new(CsvExporter)),
        "json_exporter" => Some(Box::new(JsonExporter)),
        _ => None,
    }
}

pub fn run() {
    let start = Instant::now();
    let exporters = registry::<dyn Exporter>();
    let built = start.elapsed();
    println!(
        "registry::<dyn Exporter>() names: {:?} (built on first access in {built:?})",
        exporters.names()
    );
    let csv = exporters.create("comma").expect("alias of csv");
    println!(
        "create(\"comma\").export(&[1, 2, 3]) -> {}",
        csv.export(&[1, 2, 3])
    );
    match exporters.create("cvs") {
        Ok(_) => println!("cvs resolved (unexpected)"),
        Err(err) => println!("create(\"cvs\") -> {err}"),
    }
    let keel = per_call(2_000_000, || exporters.create(black_box("csv")));
    let by_hand = per_call(2_000_000, || hand_written(black_box("csv")));
    // `create` raises the audit event `plugin.create`: its cost depends on installed hooks.
    let hooks = if keel::audit::is_active() {
        "with audit hooks installed"
    } else {
        "no audit hook installed"
    };
    let mut table = Table::new(&[
        "per call (median of 7 rounds)",
        "keel",
        "hand-written match + Box::new",
        "ratio",
    ]);
    table.row(&[
        &format!("create(\"csv\") ({hooks})"),
        &ns(keel),
        &ns(by_hand),
        &ratio(keel, by_hand),
    ]);
    table.print();
}
