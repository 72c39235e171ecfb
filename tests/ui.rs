//! Compile-error snapshots: every misuse of a keel macro, with the spanned message it produces.
//! Cases live in `tests/ui/<macro>/*.rs` beside their `.stderr`; regenerate with
//! `TRYBUILD=overwrite cargo test --test ui` (toolchain pinned in rust-toolchain.toml).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/**/*.rs");
}
