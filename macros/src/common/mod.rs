//! Pieces shared by every macro: `crate = path` resolution, range parsing and constant
//! evaluation of range bounds, and error accumulation.

pub mod bounded_attr;
pub mod crate_path;
pub mod errors;
pub mod range;
