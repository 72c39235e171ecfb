//! The runtime of keel: everything that runs, usable without the macros.
//!
//! One module per concern; see each module's documentation. Most users depend on the `keel`
//! facade crate, which re-exports all of this together with the macros.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
// docs.rs builds with every feature and `--cfg docsrs`: each feature-gated item is marked with the
// feature that enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod audit;
pub mod bounds;
#[cfg(feature = "buffer")]
pub mod buffer;
pub mod cache;
// The current-call record (a leaf): `context` carries it, `trace` writes it.
mod call;
pub mod context;
pub mod finalize;
pub mod layout;
#[cfg(feature = "mmap")]
pub mod mmap;
#[cfg(feature = "oob")]
pub mod oob;
#[cfg(feature = "pickle")]
pub mod pickle;
pub mod plugin;
#[cfg(all(unix, feature = "shm"))]
pub mod shm;
#[cfg(feature = "trace")]
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
    #[cfg(feature = "trace")]
    pub mod trace {
        pub use crate::trace::__private::*;
    }
    pub use crate::__keel_with_async_tx as with_async_tx;
    pub use crate::__keel_with_trace as with_trace;
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
    pub use crate::__keel_with_arrow as with_arrow;

    /// `#[derive(Compact)]`'s Arrow conversions (keel's `arrow` feature).
    #[cfg(feature = "arrow")]
    pub mod arrow {
        pub use crate::arrow::{
            ArrowColumns, ArrowVec, AsI128, Columns, Error, FromArrow, FullColumn,
            arena_into_array, arena_to_array, arena_to_array_range, bitmap_into_array,
            bitmap_to_array, bitmap_to_array_range, bounds_metadata, int_type, interned_to_array,
            interned_to_array_range, interned_type, nested_field, packed_to_array,
            packed_to_array_range, range_metadata,
        };
        pub use arrow_array::ArrayRef;
        pub use arrow_schema::{DataType, Field, SchemaRef};
        pub use core::ops::Range;
        pub use std::collections::HashMap;
        pub use std::vec;
    }
    pub use crate::__keel_bounded_newtype_compact as bounded_newtype_compact;
    pub use crate::__keel_bounded_newtype_serde as bounded_newtype_serde;

    /// `#[keel::transaction]` expands to `tx::run` / `tx::run_retrying`.
    pub mod tx {
        pub use crate::tx::blocking::connection;
        pub use crate::tx::{Behavior, Isolation, Nested, Options, run, run_retrying};
        // `#[keel::transaction]` on an `async fn`.
        #[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
        pub use crate::tx::asynchronous::{AsyncTransaction, async_connection, catch_unwind};
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

/// `with_arrow! { items }`: the Arrow code `#[derive(Compact)]` and `#[derive(Bounded)]`
/// generate, kept when keel's `arrow` feature is on and dropped when it is off (so the user's
/// crate needs no feature of its own).
#[cfg(feature = "arrow")]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_arrow {
    ($($items:tt)*) => {
        $($items)*
    };
}

/// Without keel's `arrow` feature: no Arrow code.
#[cfg(not(feature = "arrow"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_arrow {
    ($($items:tt)*) => {};
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

/// `with_trace! { { expanded } { original } }`: what `#[keel::instrument]` emits. With keel's
/// `trace` feature the instrumented item; without it, one error naming the feature, and the
/// original item so that nothing else fails to resolve.
#[cfg(feature = "trace")]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_trace {
    ({ $($expanded:tt)* } { $($original:tt)* }) => {
        $($expanded)*
    };
}

/// Without the `trace` feature: `#[keel::instrument]` has no runtime to call.
#[cfg(not(feature = "trace"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_trace {
    ({ $($expanded:tt)* } { $($original:tt)* }) => {
        ::core::compile_error!(
            "`#[keel::instrument]` needs keel's `trace` feature: \
             `keel = { version = \"..\", features = [\"trace\"] }`"
        );
        $($original)*
    };
}

/// `with_async_tx! { { expanded } { original } }`: the body `#[keel::transaction]` gives an
/// `async fn`. With an async driver feature (`tokio-postgres` or `sqlx`) the transaction; without
/// one, one error naming them, and the body as written.
#[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_async_tx {
    ({ $($expanded:tt)* } { $($original:tt)* }) => {
        { $($expanded)* }
    };
}

/// Without an async driver: `#[keel::transaction]` on an `async fn` has nothing to run on.
#[cfg(not(any(feature = "tokio-postgres", feature = "sqlx")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_with_async_tx {
    ({ $($expanded:tt)* } { $($original:tt)* }) => {
        {
            ::core::compile_error!(
                "`#[keel::transaction]` on an `async fn` needs one of keel's async driver \
                 features: `keel = { version = \"..\", features = [\"tokio-postgres\"] }` or \
                 `[\"sqlx\"]`"
            );
            $($original)*
        }
    };
}
