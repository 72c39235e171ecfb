//! Rewrites `foreign/tinyparse.rs` the way `cargo keel` rewrites a dependency's source
//! (keel_transform::foreign, the same library `cargo keel` and `#[keel::instrument]` use), so
//! the tour's `foreign` section can show the rewritten text and run it without building
//! `cargo keel` or any crate from crates.io.

use keel_transform::foreign;
use keel_transform::selection::Selection;
use std::path::PathBuf;

fn main() {
    let input = "foreign/tinyparse.rs";
    println!("cargo::rerun-if-changed={input}");
    let source = std::fs::read_to_string(input).expect("read foreign/tinyparse.rs");
    // `cargo keel run --instrument tinyparse`: every function of the crate.
    let selection = Selection::parse_all(["tinyparse"]).expect("a valid selector");
    let (text, report) =
        foreign::instrument_source(&source, &["tinyparse".to_string()], &selection)
            .expect("foreign/tinyparse.rs parses");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("tinyparse_instrumented.rs"), text).expect("write the rewrite");
    println!(
        "cargo::rustc-env=KEEL_TOUR_FOREIGN_REWRITTEN={}",
        report.rewritten
    );
}
