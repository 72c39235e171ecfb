//! `#[derive(Compact)]`: a compile-time `Layout` constant and a columnar `<Name>Vec` container.
//!
//! Pipeline: [`parse`] reads the item and its `#[compact(..)]` / `#[bounded(..)]` attributes into
//! the [`model`]; [`validate`] decides each field's column (or reports every mistake, spanned);
//! [`expand`] writes the code.

mod column;
mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Runs the derive on `input`, turning errors into `compile_error!` invocations.
pub fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = crate::common::errors::Errors::new();
    let container = parse::container(&input, &mut errors);
    match validate::plan(&container, errors) {
        Ok(plan) => expand::expand(&container, &plan),
        Err(error) => error.to_compile_error(),
    }
}
