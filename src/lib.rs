//! # keel
//!
//! The Python patterns that production engineers reach for, as zero-cost Rust: derive and
//! attribute macros plus a small runtime. See the README for each pattern next to its Python
//! original.
//!
//! This crate only re-exports: the runtime ([`keel_runtime`]) at the crate root, the macros
//! (feature `macros`, on by default) beside it.
//!
//! ```
//! let err = keel::Bounds::inclusive(1u32, 65535)
//!     .check(99999, "NetworkConfig", Some("port"))
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
//! ```

#![no_std]
#![forbid(unsafe_code)]

#[doc(inline)]
pub use keel_runtime::*;

#[cfg(feature = "macros")]
#[doc(inline)]
#[allow(unused_imports)] // until the first macro lands
pub use keel_macros::*;

/// Paths that generated code names (`::keel::__private::…`). Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use keel_runtime::__private::*;
}
