//! The keel tour: every pattern that exists so far, run, checked and measured.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Each section lives in its own file beside this one and prints what it demonstrates next to
//! the Python original, with figures measured on this machine.

#![deny(warnings, clippy::all)]

mod audit;
mod cache;
mod measure;
mod mmap;

fn main() {
    println!("keel tour: Python's production patterns as zero-cost Rust");
    println!("(every figure below is measured now, on this machine)\n");
    let sections: &[(&str, fn())] = &[
        ("sys.addaudithook  ->  keel::audit", audit::run),
        ("mmap + os.replace  ->  keel::mmap", mmap::run),
        (
            "weakref.WeakValueDictionary + finalize  ->  keel::cache + keel::finalize",
            cache::run,
        ),
    ];
    for (title, run) in sections {
        println!("== {title}");
        run();
        println!();
    }
}
