//! Pieces shared by every macro: the options layer (unknown / duplicate options, `crate = path`,
//! the error rule), error accumulation, range parsing and constant evaluation of range bounds,
//! and the `#[bounded(..)]` attribute both derives read.

pub mod bounded_attr;
pub mod bounds;
pub mod crate_path;
pub mod errors;
pub mod item;
pub mod options;
pub mod primitive;
pub mod range;
