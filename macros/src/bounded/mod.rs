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

/// Runs the derive on one item.
pub fn derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let model = validate::model(input)?;
    Ok(expand::expand(&model))
}
