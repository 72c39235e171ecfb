//! The keel tour: every pattern that exists so far, run, checked and measured.
//!
//! ```text
//! cargo run --release --example tour               # every section
//! cargo run --release --example tour -- context    # one section (several names: several)
//! cargo run --release --example tour -- list       # the section names
//! ```
//!
//! The tour is its own package (`examples/tour/Cargo.toml`), so that its first build compiles keel
//! with the features it shows and not the tests' or benchmarks' dependencies. Each section lives
//! in its own file beside this one and prints what it demonstrates next to the Python original,
//! with figures measured on this machine.

#![deny(warnings, clippy::all)]

// The `cargo-keel` section compiles a dependency's source as `cargo keel` rewrites it; the
// rewritten code calls `::keel_foreign_shim::...`, the small crate `cargo keel` links into an
// instrumented dependency. Here that crate is this one, re-exporting the shim's very source.
extern crate self as keel_foreign_shim;
#[allow(clippy::all, dead_code, unused_attributes)]
#[rustfmt::skip] // cargo-keel/shim/lib.rs is cargo keel's file, compiled by it with rustc alone
#[path = "../../cargo-keel/shim/lib.rs"]
mod foreign_shim;
pub use foreign_shim::*;

mod async_tx;
mod audit;
mod bounded;
mod cache;
mod compact;
mod context;
mod context_async;
mod foreign;
mod instrument;
mod measure;
mod mmap;
mod otlp;
mod pickle;
mod plugin;
mod spans;
mod transaction;
mod zero_copy;

use std::process::ExitCode;
use std::time::Instant;

/// A section: its command-line name, its heading, and what it runs (in order).
struct Section {
    name: &'static str,
    title: &'static str,
    parts: &'static [fn()],
}

// `audit` comes last: it installs a hook, and every other section's sensitive operations
// (plugin creation, shared memory, file commits, transactions) raise audit events.
const SECTIONS: &[Section] = &[
    Section {
        name: "compact",
        title: "__slots__  ->  #[derive(keel::Compact)]",
        parts: &[compact::run],
    },
    Section {
        name: "bounded",
        title: "Bounded(min, max) descriptor  ->  #[derive(keel::Bounded)]",
        parts: &[bounded::run],
    },
    Section {
        name: "plugin",
        title: "__init_subclass__ registries  ->  #[keel::registry] + #[keel::plugin]",
        parts: &[plugin::run],
    },
    Section {
        name: "instrument",
        title: "import-time AST transform  ->  #[keel::instrument]",
        parts: &[instrument::run],
    },
    Section {
        name: "cargo-keel",
        title: "an import hook rewriting third-party modules  ->  cargo keel (instrumented dependencies)",
        parts: &[foreign::run],
    },
    Section {
        name: "spans",
        title: "OpenTelemetry spans, traceparent  ->  keel::trace span tree, TraceParent",
        parts: &[spans::run],
    },
    Section {
        name: "otlp",
        title: "OTLP exporter  ->  keel::trace::otlp::OtlpSink",
        parts: &[otlp::run],
    },
    Section {
        name: "context",
        title: "contextvars  ->  keel::context (threads, tokio, rayon)",
        parts: &[context::run, context_async::run],
    },
    Section {
        name: "transaction",
        title: "@contextmanager managed_transaction  ->  #[keel::transaction] (sync and async)",
        parts: &[transaction::run, async_tx::run],
    },
    Section {
        name: "zero-copy",
        title: "memoryview, pickle 5, shared_memory  ->  keel::buffer, keel::oob, keel::shm",
        parts: &[zero_copy::run],
    },
    Section {
        name: "pickle",
        title: "pickle.dumps(protocol=5, buffer_callback) to Python + numpy  ->  keel::pickle",
        parts: &[pickle::run],
    },
    Section {
        name: "mmap",
        title: "mmap + os.replace  ->  keel::mmap",
        parts: &[mmap::run],
    },
    Section {
        name: "cache",
        title: "weakref.WeakValueDictionary + finalize  ->  keel::cache + keel::finalize",
        parts: &[cache::run],
    },
    Section {
        name: "audit",
        title: "sys.addaudithook  ->  keel::audit",
        parts: &[audit::run],
    },
];

fn list() {
    eprintln!("sections (run one with `cargo run --release --example tour -- <name>`):");
    for section in SECTIONS {
        eprintln!("  {:<12} {}", section.name, section.title);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| a == "list" || a == "--list" || a == "-h" || a == "--help")
    {
        list();
        return ExitCode::SUCCESS;
    }
    let unknown: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !SECTIONS.iter().any(|s| s.name == *a))
        .collect();
    if !unknown.is_empty() {
        eprintln!("unknown section {}", unknown.join(", "));
        list();
        return ExitCode::from(2);
    }
    let chosen = SECTIONS
        .iter()
        .filter(|s| args.is_empty() || args.iter().any(|a| a == s.name));

    println!("keel tour: Python's production patterns as zero-cost Rust");
    println!("(every figure below is measured now, on this machine; one section: `-- <name>`)\n");
    let start = Instant::now();
    let mut took = Vec::new();
    for section in chosen {
        println!("== {}  [{}]", section.title, section.name);
        let section_start = Instant::now();
        for part in section.parts {
            part();
        }
        took.push((section.name, section_start.elapsed()));
        println!();
    }
    let total = start.elapsed();
    if took.len() > 1 {
        let mut table = measure::Table::new(&["section", "run time"]);
        for (name, elapsed) in &took {
            table.row(&[name, &measure::dur(*elapsed)]);
        }
        table.row(&[&"tour", &measure::dur(total)]);
        table.print();
    }
    println!(
        "These are quick single runs on a machine that may be busy; the careful figures (criterion, \
         each peer measured in the same run, the commands that produced them) are in BENCHMARKS.md."
    );
    ExitCode::SUCCESS
}
