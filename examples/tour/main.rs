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
mod bounded;
mod cache;
mod compact;
mod context;
mod instrument;
mod measure;
mod mmap;
mod plugin;
mod transaction;
mod zero_copy;

fn main() {
    println!("keel tour: Python's production patterns as zero-cost Rust");
    println!("(every figure below is measured now, on this machine)\n");
    // `audit` comes last: it installs a hook, and every other section's sensitive operations
    // (plugin creation, shared memory, file commits, transactions) raise audit events.
    let sections: &[(&str, fn())] = &[
        ("__slots__  ->  #[derive(keel::Compact)]", compact::run),
        (
            "Bounded(min, max) descriptor  ->  #[derive(keel::Bounded)]",
            bounded::run,
        ),
        (
            "__init_subclass__ registries  ->  #[keel::registry] + #[keel::plugin]",
            plugin::run,
        ),
        (
            "import-time AST transform  ->  #[keel::instrument]",
            instrument::run,
        ),
        ("contextvars  ->  keel::context", context::run),
        (
            "@contextmanager managed_transaction  ->  #[keel::transaction]",
            transaction::run,
        ),
        (
            "memoryview, pickle 5, shared_memory  ->  keel::buffer, keel::oob, keel::shm",
            zero_copy::run,
        ),
        ("mmap + os.replace  ->  keel::mmap", mmap::run),
        (
            "weakref.WeakValueDictionary + finalize  ->  keel::cache + keel::finalize",
            cache::run,
        ),
        ("sys.addaudithook  ->  keel::audit", audit::run),
    ];
    for (title, run) in sections {
        println!("== {title}");
        run();
        println!();
    }
}
