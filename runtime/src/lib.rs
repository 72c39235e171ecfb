//! The runtime of keel: everything that runs, usable without the macros.
//!
//! One module per concern; see each module's documentation. Most users depend on the `keel`
//! facade crate, which re-exports all of this together with the macros.

#![warn(missing_docs)]

pub mod audit;
pub mod bounds;
pub mod layout;

pub use bounds::{Bounds, BoundsError};
pub use layout::{Compact, FieldLayout, Layout};

/// Items that macro-generated code names by absolute path (`::keel::__private::…`).
/// Not a public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::bounds::{Bounds, BoundsError, Violation};
    pub use core::ops::Bound;

    // #[derive(Compact)]
    pub use crate::layout::{
        Bitmap, Compact, CompactEnum, CompactVec, EnumVec, FieldLayout, InternedStrs, Layout,
        PackedColumn, RowDebug, Rows, Storage, StrArena, bits_for, range_bits_signed,
        range_bits_unsigned, range_is_ordered_signed, range_is_ordered_unsigned,
    };
    pub use core::fmt::{Debug, Formatter, Result as FmtResult};
    pub use core::mem::{align_of, offset_of, size_of};
    pub use core::option::Option;
    pub use core::result::Result;
    pub use std::string::String;
    pub use std::vec::Vec;
}
