//! Instrumented dependencies (`cargo keel`): Python's import hook rewrites any module it
//! imports, a third-party one included; `cargo keel run --instrument <crate or path>` rewrites
//! the selected dependencies' sources before rustc compiles them, and their calls join the same
//! span tree as the program's own `#[keel::instrument]` functions.
//!
//! What the section runs: the rewrite `cargo keel` applies (keel_transform::foreign), done by
//! the tour's build script on `foreign/tinyparse.rs`, a stand-in for a crate from crates.io; the
//! rewritten text is compiled into the tour and calls keel's foreign entry points through the
//! same shim `cargo keel` links into a dependency (cargo-keel/shim/lib.rs, included by
//! tour.rs). What it skips: `cargo keel` itself (a cargo wrapper that rebuilds the selected
//! dependencies from their registry sources: minutes of compiling, not for a tour).

use crate::measure::{Table, dur, fastest_per_call, ns};
use keel::trace::{self, Event};
use std::hint::black_box;

/// The dependency as crates.io ships it.
mod plain {
    include!("foreign/tinyparse.rs");
}

/// The same source after the rewrite (`OUT_DIR/tinyparse_instrumented.rs`, from build.rs).
/// Lints allowed as cargo does for a dependency (`--cap-lints`): the rewrite's outcome check
/// borrows on purpose (it picks `IsResult` or `NotResult` by autoref), which clippy's
/// `needless_borrow` flags.
#[allow(clippy::all)]
mod tinyparse {
    include!(concat!(env!("OUT_DIR"), "/tinyparse_instrumented.rs"));
}

/// The program's own function, calling into the instrumented dependency.
#[keel::instrument]
fn load_ports(text: &str) -> Result<Vec<u16>, tinyparse::ParseError> {
    tinyparse::parse_list(text)
}

/// Prints captured events as a tree: a row per call, in the order the calls began.
fn tree(events: &[Event]) {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for event in events {
        if event.is_enter() {
            let name = event.name().trim_start_matches("tour::foreign::");
            rows.push((
                format!("{}{name}", "  ".repeat(open.len())),
                String::new(),
                String::new(),
            ));
            open.push(rows.len() - 1);
        } else if let Some(row) = open.pop() {
            rows[row].1 = match event.outcome() {
                Some(outcome) if outcome.is_ok() => "ok".to_string(),
                Some(outcome) => format!("err {}", outcome.error().unwrap_or("?")),
                None => "-".to_string(),
            };
            rows[row].2 = dur(event.elapsed().unwrap_or_default());
        }
    }
    let mut table = Table::new(&["span (tree, from keel::trace::capture)", "outcome", "time"]);
    for (name, outcome, time) in &rows {
        table.row(&[name, outcome, time]);
    }
    table.print();
}

pub fn run() {
    let rewritten = env!("KEEL_TOUR_FOREIGN_REWRITTEN");
    let original = include_str!("foreign/tinyparse.rs");
    let instrumented = include_str!(concat!(env!("OUT_DIR"), "/tinyparse_instrumented.rs"));
    println!(
        "`cargo keel run --instrument tinyparse -- --release` rewrites a dependency's source \
         before rustc sees it; the tour's build script applied the same rewrite \
         (keel_transform::foreign::instrument_source) to a stand-in, examples/tour/foreign/tinyparse.rs: \
         {rewritten} functions, {} lines before and {} after (each original line keeps its number), \
         {} bytes -> {} bytes. One of them, rewritten:",
        original.lines().count(),
        instrumented.lines().count(),
        original.len(),
        instrumented.len(),
    );
    let start = instrumented
        .find("pub fn parse_item")
        .expect("parse_item in the rewrite");
    let end = instrumented[start..]
        .find("\n}")
        .and_then(|i| {
            instrumented[start + i + 1..]
                .find('\n')
                .map(|j| start + i + 1 + j)
        })
        .unwrap_or(instrumented.len());
    for line in instrumented[start..end].lines() {
        if line.len() <= 100 {
            println!("    {line}");
            continue;
        }
        // The wrapping is one line in the file (every original line keeps its number); here
        // it is broken after each statement.
        for (n, statement) in line.split_inclusive("; ").enumerate() {
            println!(
                "    {}{}",
                if n == 0 { "" } else { "    " },
                statement.trim_end()
            );
        }
    }
    println!(
        "    (each inserted text is on its body's first or last line in the file; broken up here)"
    );

    trace::disable();
    let (result, events) = trace::capture(|| load_ports("8080, 8443, http"));
    println!(
        "load_ports(\"8080, 8443, http\") = {result:?}: the program's #[keel::instrument] fn and \
         the dependency's calls in one tree (the program's error by its Debug, the dependency's by \
         its type name only: no Debug bound is assumed of a dependency's types)"
    );
    tree(&events);
    assert_eq!(result, Err(tinyparse::ParseError { at: 2 }));
    assert_eq!(
        events.len(),
        2 * 5,
        "load_ports, parse_list, three parse_item: enter + exit"
    );

    // What the rewrite costs the dependency, tracing off (one relaxed load and a branch per
    // call) and on (a span per call, to a sink that only counts).
    let text = "80, 443, 8080, 8443";
    let plain = fastest_per_call(15, 100_000, || plain::parse_list(black_box(text)));
    let off = fastest_per_call(15, 100_000, || tinyparse::parse_list(black_box(text)));
    let stats = trace::Stats::new();
    trace::add_sink(stats.clone());
    trace::enable();
    let on = fastest_per_call(15, 20_000, || tinyparse::parse_list(black_box(text)));
    trace::disable();
    trace::clear_sinks();
    let mut table = Table::new(&[
        "parse_list of 4 items (5 calls), fastest of 15",
        "per call",
        "vs the original",
    ]);
    table
        .row(&[&"the original source", &ns(plain), &"1.00x"])
        .row(&[
            &"rewritten, tracing off",
            &ns(off),
            &crate::measure::ratio(off, plain),
        ])
        .row(&[
            &"rewritten, tracing on (5 spans to a Stats sink)",
            &ns(on),
            &crate::measure::ratio(on, plain),
        ]);
    table.print();
    println!(
        "skipped here: `cargo keel` itself, which rebuilds real dependencies from their registry \
         sources (minutes); README.md's instrument section shows its command lines."
    );
}
