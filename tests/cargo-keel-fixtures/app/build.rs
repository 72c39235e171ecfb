//! Uses the dependency at build time, as build scripts do; under `cargo keel` its calls report
//! nothing (a build script links no keel-runtime) and it still links and runs.
fn main() {
    println!("cargo::rustc-env=KEEL_FIXTURE_BUILD={}", dep::add(2, 3));
}
