//! `#[keel::registry]` (on a trait): declares the trait's plugin registry.
//!
//! [`parse`] (options → [`model::Options`], the trait) → [`validate`] (dyn compatibility →
//! [`model::Registry`]) → [`expand`]. The trait is always emitted as written.

mod expand;
mod model;
mod parse;
mod validate;

use crate::common::errors::{self, Errors};
use proc_macro2::TokenStream;

/// Entry point of `#[keel::registry]`: the trait and its registry, or the errors and the item.
pub fn registry(args: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(try_registry(args, item.clone()), item)
}

fn try_registry(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let options = parse::parse_options(args, &mut errors);
    let registry = errors
        .ok(parse::parse_item(item))
        .and_then(|item| validate::validate(options, item, &mut errors));
    match registry {
        Some(registry) if errors.is_empty() => Ok(expand::expand(&registry)),
        _ => Err(errors.into_error()),
    }
}
