//! `#[derive(Compact)]`: a compile-time `Layout` constant and a columnar `<Name>Vec` container.
//!
//! Pipeline: [`parse`] reads the item and its `#[compact(..)]` / `#[bounded(..)]` attributes into
//! the [`model`]; [`validate`] decides each field's column (or reports every mistake, spanned);
//! [`expand`] writes the code.

mod arrow;
mod column;
mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Runs the derive on `input`: the code, or the errors as `compile_error!` invocations (the item
/// itself stays in place).
pub fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let mut errors = crate::common::errors::Errors::new();
    let container = parse::container(&input, &mut errors);
    match validate::plan(&container, errors) {
        Ok(plan) => expand::expand(&container, &plan),
        Err(error) => error.to_compile_error(),
    }
}
