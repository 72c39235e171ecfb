//! Where an error about the item itself points.

use proc_macro2::Span;
use syn::Item;
use syn::spanned::Spanned;

/// The span of the keyword that says what kind of item this is (`fn`, `struct`, ...), where an
/// error about putting an attribute on the wrong kind of item should point.
pub fn item_keyword_span(item: &Item) -> Span {
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

/// The span of the first token of `tokens` (the call site when there is none).
pub fn first_token_span(tokens: &proc_macro2::TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}
