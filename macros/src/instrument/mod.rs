//! `#[keel::instrument]`: [`parse`] the options ([`model::Options`]) and the item → [`validate`] →
//! [`expand`].
//!
//! On a function the body is wrapped (a closure for a plain fn, an `async move` block for an
//! `async fn`, nothing for `-> !`) between a `Span` entry and exit; on an impl block or inline
//! module every function inside is treated the same way, honouring attributes on the items
//! themselves (`#[keel::instrument(skip)]`, `#[keel::instrument(args(id))]`).

mod expand;
mod model;
mod parse;
mod transaction_order;
mod validate;

use crate::common::crate_path::CratePath;
use crate::common::errors::{self, Errors};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::Item;

/// The attribute's expansion; on error, the errors followed by the item unchanged (so one
/// mistake does not cascade into "cannot find function" errors elsewhere).
pub fn instrument(attr: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(try_instrument(attr, item.clone()), item)
}

fn try_instrument(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = model::Options::parse_tokens(attr)?;
    let original = item.clone();
    let mut item = parse::parse_item(item)?;
    validate::check_target(&item)?;
    let krate = options
        .krate
        .clone()
        .unwrap_or_else(|| CratePath::default_at(Span::call_site()));
    let mut errors = Errors::new();
    match &mut item {
        Item::Fn(function) => {
            validate::check_fn(&function.sig, &options, true, &mut errors);
            errors.finish()?;
            let transaction_expanded = options.skip.is_some()
                || transaction_order::expand_transaction_first(
                    &mut function.attrs,
                    &function.vis,
                    &mut function.sig,
                    &mut function.block,
                    &krate,
                );
            if options.skip.is_none() && transaction_expanded {
                let naming = if expand::mentions_self(&function.sig) {
                    expand::Naming::FromSelf
                } else {
                    expand::Naming::Function
                };
                let block = expand::instrument_block(
                    &function.sig,
                    &function.block,
                    &options,
                    &naming,
                    &krate,
                );
                *function.block = block;
            }
        }
        Item::Impl(block) => {
            validate::check_container_options(&options, "impl block", &mut errors);
            if options.skip.is_none() {
                expand::rewrite_impl(block, None, &krate, &mut errors);
            }
            errors.finish()?;
        }
        Item::Mod(module) => {
            validate::check_container_options(&options, "module", &mut errors);
            if options.skip.is_none() {
                expand::rewrite_mod(module, &krate, &mut errors);
            }
            errors.finish()?;
        }
        _ => {}
    }
    if options.skip.is_some() {
        return Ok(item.into_token_stream());
    }
    // The runtime part is behind keel's `trace` feature: `with_trace!` keeps the expansion when
    // it is on, and otherwise reports the feature to enable and keeps the item as written.
    let private = krate.private();
    Ok(quote!(#private::with_trace! { { #item } { #original } }))
}
