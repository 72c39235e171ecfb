//! `#[keel::transaction]`: wraps a function body in `keel::tx::run` (or `run_retrying`).
//!
//! parse (attribute options → [`parse::Args`]) → validate (the function and its connection
//! parameter → [`validate::Transaction`]) → expand.

mod expand;
mod parse;
mod validate;

use crate::common::errors::Errors;
use proc_macro2::TokenStream;

/// The whole pipeline; every error comes back spanned, combined with the others.
pub fn transaction(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let args = parse::parse_args(attr, &mut errors);
    let item: syn::ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(error) => {
            errors.push(error);
            errors.finish()?;
            unreachable!("an error was pushed");
        }
    };
    let model = validate::validate(args, item, &mut errors);
    errors.finish()?;
    match model {
        Some(model) => Ok(expand::expand(model)),
        None => Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[keel::transaction] could not understand this function",
        )),
    }
}
