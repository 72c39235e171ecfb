//! `#[keel::transaction]`: wraps a function body in `keel::tx::run` (or `run_retrying`).
//!
//! [`parse`] (the attribute's options → [`model::Options`]) → [`validate`] (the function and its
//! connection parameter → [`model::Transaction`], with a [`model::Connection`]) → [`expand`].

mod expand;
mod model;
mod parse;
mod validate;

use crate::common::errors::{self, Errors};
use proc_macro2::TokenStream;

/// The attribute's output: the expanded function, or the errors *and the item unchanged*, so a
/// mistake in the attribute never cascades into "cannot find function" errors where the
/// function is called.
pub fn transaction(attr: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(expand_transaction(attr, item.clone()), item)
}

/// The whole pipeline; every error comes back spanned, combined with the others.
pub fn expand_transaction(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let options = parse::parse_options(attr, &mut errors);
    let function = errors.ok(syn::parse2::<syn::ItemFn>(item));
    let model = function.and_then(|function| validate::validate(options, function, &mut errors));
    match model {
        Some(model) if errors.is_empty() => Ok(expand::expand(model)),
        _ => Err(errors.into_error()),
    }
}
