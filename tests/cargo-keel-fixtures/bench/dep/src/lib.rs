//! The dependency: `work` is selected (`cargo keel --instrument keel_fixture_benchdep::work`),
//! `work_plain` is its uninstrumented twin. Never inlined, like most functions of a crate that
//! are called across crates.

/// A few cycles of arithmetic.
#[inline(never)]
pub fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x
}

/// `work`, never instrumented.
#[inline(never)]
pub fn work_plain(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x
}
