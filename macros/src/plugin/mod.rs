//! `#[keel::registry]` (on a trait) and `#[keel::plugin]` (on a struct or enum).
//!
//! Each attribute is a pipeline: parse the arguments and the item into a typed model, validate
//! it (every error spanned at the offending token, all of them reported together), then expand.
//! The item itself is always emitted unchanged, so a mistake in the attribute does not also
//! produce a cascade of errors about a missing item.

mod attribute;
mod naming;
mod registry;

use proc_macro2::TokenStream;

/// Entry point of `#[keel::registry]`.
pub fn registry(args: TokenStream, item: TokenStream) -> TokenStream {
    registry::expand(args, item)
}

/// Entry point of `#[keel::plugin]`.
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute::expand(args, item)
}
