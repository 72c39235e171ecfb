//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;

mod bounded;

use proc_macro::TokenStream;

/// PLACEHOLDER
#[proc_macro_derive(Bounded, attributes(bounded))]
pub fn derive_bounded(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    bounded::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
