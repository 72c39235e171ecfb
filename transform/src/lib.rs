//! The syntax-tree rewrite behind `#[keel::instrument]` and `cargo keel`: one transform, two
//! entry points, so the two cannot drift.
//!
//! * [`body::instrument_block`] turns one function body into its instrumented form. The
//!   proc macro calls it with [`Runtime::Keel`] (generated code names
//!   `<crate>::__private::trace`); `cargo keel` calls it with [`Runtime::Foreign`] (generated
//!   code names the small shim crate `cargo keel` links into a dependency, which forwards to
//!   the extern symbols keel-runtime defines).
//! * [`foreign`] walks a whole source file of a dependency and rewrites every function with a
//!   body that a [`selection::Selection`] picks.
//!
//! ```
//! use keel_transform::{foreign, selection::Selection};
//! let mut file: syn::File = syn::parse_str("pub fn add(a: u32, b: u32) -> u32 { a + b }").unwrap();
//! let selection = Selection::parse_all(["mycrate"]).unwrap();
//! let report = foreign::instrument_file(&mut file, &["mycrate".to_string()], &selection);
//! assert_eq!(report.rewritten, 1);
//! ```

pub mod body;
pub mod foreign;
pub mod selection;

pub use body::{BodyOptions, Naming, Runtime};
