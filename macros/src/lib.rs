//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;
