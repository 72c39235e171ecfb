//! Reached through a symbolic link (`src/linked.rs`): `cargo keel` copies what a link points to.

pub fn linked() -> u32 {
    4
}
