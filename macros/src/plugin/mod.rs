//! `#[keel::registry]` (on a trait) and `#[keel::plugin]` (on a struct or enum).
//!
//! Each attribute is a pipeline: parse the arguments and the item into a typed model, validate
//! it (every error spanned at the offending token, all of them reported together), then expand.
//! The item itself is always emitted unchanged, so a mistake in the attribute does not also
//! produce a cascade of errors about a missing item.

mod attribute;
mod naming;
mod registry;

use proc_macro2::{Span, TokenStream};
use syn::Item;
use syn::spanned::Spanned;

/// Entry point of `#[keel::registry]`.
pub fn registry(args: TokenStream, item: TokenStream) -> TokenStream {
    registry::expand(args, item)
}

/// Entry point of `#[keel::plugin]`.
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute::expand(args, item)
}

/// The span of the keyword that says what kind of item this is (`fn`, `struct`, ...), where an
/// error about putting an attribute on the wrong kind of item should point.
pub(crate) fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Fn(item) => item.sig.fn_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::Union(item) => item.union_token.span,
        Item::Struct(item) => item.struct_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Type(item) => item.type_token.span,
        Item::Mod(item) => item.mod_token.span,
        other => other.span(),
    }
}
