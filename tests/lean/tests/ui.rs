//! Compile errors of the macros whose runtime part is behind a feature keel's defaults leave off.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
