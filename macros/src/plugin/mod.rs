//! `#[keel::plugin(Trait, ..)]` (on a struct or enum): registers the type in `Trait`'s registry
//! at link time.
//!
//! [`parse`] (arguments → [`model::Options`], item → [`model::PluginType`]) → [`validate`]
//! (→ [`model::Plugin`]) → [`expand`]. The item is always emitted as written.

mod expand;
mod model;
mod naming;
mod parse;
mod validate;

use crate::common::errors::{self, Errors};
use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{ParseStream, Parser};

/// Entry point of `#[keel::plugin]`: the item and its registration, or the errors and the item.
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(try_plugin(args, item.clone()), item)
}

fn try_plugin(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let mut option_errors = Errors::new();
    let parsed_options =
        (|input: ParseStream<'_>| parse::parse_options(input, &mut option_errors)).parse2(args);
    let options = errors.ok(parsed_options);
    if let Err(error) = option_errors.finish() {
        errors.push(error);
    }
    let parsed_item = errors.ok(syn::parse2::<syn::Item>(item.clone()));
    let ty = parsed_item.and_then(|parsed| parse::parse_item(&parsed, &mut errors));
    let plugin = match (options, ty) {
        (Some(options), Some(ty)) => validate::validate(options, ty, &mut errors),
        _ => None,
    };
    match plugin {
        Some(plugin) if errors.is_empty() => {
            let registration = expand::expand(&plugin);
            Ok(quote! {
                #item
                #registration
            })
        }
        _ => Err(errors.into_error()),
    }
}
