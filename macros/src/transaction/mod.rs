//! `#[keel::transaction]`: wraps a function body in `keel::tx::run` (or `run_retrying`).
//!
//! parse (attribute options → [`parse::Args`]) → validate (the function and its connection
//! parameter → [`validate::Transaction`]) → expand.

mod expand;
mod parse;
mod validate;

use crate::common::errors::Errors;
use proc_macro2::TokenStream;

/// The whole pipeline; every error comes back spanned, combined with the others. On error the
/// output is the errors *and the item unchanged*, so a mistake in the attribute never cascades
/// into "cannot find function" errors where the function is called. (`Err` only when the item
/// is not a function at all.)
pub fn transaction(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let args = parse::parse_args(attr, &mut errors);
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            errors.push(error);
            return Err(errors.finish().expect_err("an error was pushed"));
        }
    };
    let model = validate::validate(args, function, &mut errors);
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => Ok(expand::expand(model)),
        (Err(errors), _) => {
            let errors = errors.into_compile_error();
            Ok(quote::quote!(#errors #item))
        }
        (Ok(()), None) => Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[keel::transaction] could not understand this function",
        )),
    }
}
