//! `#[derive(Bounded)]`: range-checked struct fields and bounded newtypes.
//!
//! Pipeline: [`parse`] reads the item and its `#[bounded(..)]` attributes (through
//! `common::bounded_attr`, shared with `#[derive(Compact)]`), [`validate`] checks them against
//! the item and builds the [`model`], [`expand`] writes the impls.

mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Runs the derive on one item: the impls, or the errors (the item itself stays in place).
pub fn derive(input: TokenStream) -> TokenStream {
    syn::parse2::<syn::DeriveInput>(input)
        .and_then(|input| validate::model(&input))
        .map_or_else(syn::Error::into_compile_error, |model| {
            expand::expand(&model)
        })
}
