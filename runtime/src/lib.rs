//! The runtime of keel: everything that runs, usable without the macros.
//!
//! One module per concern; see each module's documentation. Most users depend on the `keel`
//! facade crate, which re-exports all of this together with the macros.

#![warn(missing_docs)]

pub mod audit;
pub mod bounds;
pub mod cache;
pub mod finalize;
pub mod mmap;

pub use bounds::{Bounds, BoundsError};

/// Items that macro-generated code names by absolute path (`::keel::__private::…`).
/// Not a public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::bounds::{Bounds, BoundsError, Violation};
    pub use core::ops::Bound;
}
