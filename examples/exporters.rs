//! The `__init_subclass__` plugin registry from the Python original, in keel.
//!
//! ```python
//! class PluginBase:
//!     _registry: dict[str, type] = {}
//!     def __init_subclass__(cls, plugin_name=None, **kwargs):
//!         ...  # register cls under plugin_name, raise on duplicates
//!
//! class CSVExporter(PluginBase, plugin_name="csv"):
//!     def export(self, data): return ",".join(str(d) for d in data)
//!
//! class JSONExporter(PluginBase, plugin_name="json"):
//!     def export(self, data): return json.dumps(data)
//!
//! PluginBase.create("csv").export([1, 2, 3])  # "1,2,3"
//! ```
//!
//! ```text
//! cargo run --release --example exporters
//! ```

#![deny(warnings, clippy::all)]

use keel::plugin::{PluginError, registry};
use std::hint::black_box;
use std::time::Instant;

/// Turns a series of numbers into text.
#[keel::registry]
pub trait Exporter: Send + Sync {
    /// The exported text.
    fn export(&self, data: &[i64]) -> String;
}

/// Comma-separated values, no spaces.
#[keel::plugin(Exporter, name = "csv")]
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

/// A JSON array, spaced like Python's `json.dumps`.
#[keel::plugin(Exporter, name = "json")]
#[derive(Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, data: &[i64]) -> String {
        let items: Vec<String> = data.iter().map(i64::to_string).collect();
        format!("[{}]", items.join(", "))
    }
}

fn main() -> Result<(), PluginError> {
    let start = Instant::now();
    let exporters = registry::<dyn Exporter>();
    let first_access = start.elapsed();
    exporters.check()?; // no name is claimed twice

    let data = [1, 2, 3];
    let csv = exporters.create("csv")?.export(&data);
    let json = exporters.create("json")?.export(&data);
    assert_eq!(csv, "1,2,3");
    assert_eq!(json, "[1, 2, 3]");
    println!("create(\"csv\").export([1, 2, 3])  -> {csv}");
    println!("create(\"json\").export([1, 2, 3]) -> {json}");

    println!("registry:");
    for plugin in exporters.iter() {
        println!(
            "  {:<5} {}  ({})",
            plugin.name(),
            plugin.type_path(),
            plugin.description().unwrap_or("")
        );
    }

    // Python: KeyError: "Unknown plugin: 'cvs'. Available: ['csv', 'json']"
    let unknown = exporters.create("cvs").err().expect("cvs is a typo");
    println!("create(\"cvs\") -> {unknown}");

    let rounds = 1_000_000u32;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(exporters.create(black_box("csv"))?);
    }
    let per_create = start.elapsed() / rounds;
    println!(
        "registry built on first access in {first_access:?}; create(\"csv\") then takes {per_create:?}"
    );
    Ok(())
}
