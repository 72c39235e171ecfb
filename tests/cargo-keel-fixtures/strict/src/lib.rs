//! A crate that forbids unsafe code and denies every warning.
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs, unused_qualifications)]

/// Twice `n`.
pub fn double(n: u32) -> u32 {
    n * 2
}
