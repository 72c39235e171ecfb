//! The runtime of keel: everything that runs, usable without the macros.
//!
//! One module per concern; see each module's documentation. Most users depend on the `keel`
//! facade crate, which re-exports all of this together with the macros.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod audit;
pub mod bounds;
pub mod buffer;
pub mod cache;
pub mod context;
pub mod finalize;
pub mod layout;
pub mod mmap;
#[cfg(feature = "serde")]
pub mod oob;
pub mod plugin;
#[cfg(unix)]
pub mod shm;
pub mod trace;
pub mod tx;

pub use bounds::{Bounds, BoundsError};
pub use layout::{Compact, FieldLayout, Layout};

/// Items that macro-generated code names by absolute path (`::keel::__private::…`).
/// Not a public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::bounds::{Bounds, BoundsError, Violation};
    pub use core::ops::Bound;

    /// `#[keel::instrument]`.
    pub mod trace {
        pub use crate::trace::__private::*;
    }
    pub use inventory;

    /// What `#[keel::registry]` and `#[keel::plugin]` expand to.
    pub mod plugin {
        pub use crate::plugin::{
            ByDefault, ByFrom, Construct, Constructor, Pluggable, PluginInfo, Registration,
            Registry, construct_with, registry_id,
        };
        pub use std::boxed::Box;
        pub use std::sync::OnceLock;
    }

    #[cfg(feature = "serde")]
    pub use serde;

    pub use crate::__keel_bounded_deserialize as bounded_deserialize;
    pub use crate::__keel_bounded_newtype_compact as bounded_newtype_compact;
    pub use crate::__keel_bounded_newtype_serde as bounded_newtype_serde;

    /// `#[keel::transaction]` expands to `tx::run` / `tx::run_retrying`.
    pub mod tx {
        pub use crate::tx::run::connection;
        pub use crate::tx::{Behavior, Isolation, Nested, Options, run, run_retrying};
        // `#[keel::transaction]` on an `async fn`.
        #[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
        pub use crate::tx::run_async::{AsyncTransaction, async_connection, catch_unwind};
    }

    // #[derive(Compact)]
    pub use crate::layout::{
        Bitmap, Compact, CompactEnum, CompactVec, EnumVec, FieldLayout, InternedStrs, Layout,
        PackedColumn, RowDebug, Rows, Storage, StrArena, bits_for, range_bits_signed,
        range_bits_unsigned, range_is_ordered_signed, range_is_ordered_unsigned,
    };
    pub use crate::layout::{Column, ColumnSet, StructVec};
    pub use core::fmt::{Debug, Formatter, Result as FmtResult};
    pub use core::mem::{align_of, offset_of, size_of};
    pub use core::option::Option;
    pub use core::result::Result;
    pub use std::string::String;
    pub use std::vec::Vec;
}

/// `bounded_newtype_serde!(Newtype, Inner)`: the `serde` impls of a `#[derive(Bounded)]` newtype,
/// a transparent `Serialize` and a `Deserialize` that validates through `Newtype::try_new` (its
/// error text is the `BoundsError` message). The derive always emits this call; it expands to the
/// impls when keel's `serde` feature is on, so the user's crate needs no feature of its own.
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_bounded_newtype_serde {
    ($newtype:ident, $inner:ty) => {
        impl $crate::__private::serde::Serialize for $newtype {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: $crate::__private::serde::Serializer,
            {
                $crate::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $newtype {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: $crate::__private::serde::Deserializer<'de>,
            {
                let value = <$inner as $crate::__private::serde::Deserialize<'de>>::deserialize(
                    deserializer,
                )?;
                $newtype::try_new(value)
                    .map_err(<D::Error as $crate::__private::serde::de::Error>::custom)
            }
        }
    };
}

/// Without keel's `serde` feature a bounded newtype has no `serde` impls.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_bounded_newtype_serde {
    ($($tokens:tt)*) => {};
}

/// `bounded_deserialize! { impl .. }`: the validating `Deserialize` that
/// `#[bounded(deserialize)]` generates, passed through when keel's `serde` feature is on, and a
/// compile error saying which feature to enable when it is off.
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_bounded_deserialize {
    ($($impl:tt)*) => {
        $($impl)*
    };
}

/// Without the `serde` feature: `#[bounded(deserialize)]` cannot generate anything.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_bounded_deserialize {
    ($($impl:tt)*) => {
        ::core::compile_error!(
            "`#[bounded(deserialize)]` needs keel's `serde` feature: \
             `keel = { version = \"..\", features = [\"serde\"] }`"
        );
    };
}
