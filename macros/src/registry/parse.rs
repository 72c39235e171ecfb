//! Reading `#[keel::registry(args = Type, crate = path)]` and the trait it is on.

use super::model::Options;
use crate::common::crate_path::parse_crate_option;
use crate::common::errors::Errors;
use crate::common::item::{first_token_span, item_keyword_span};
use crate::common::options::{path_text, set_once, unknown};
use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Item, ItemTrait, Type};

/// The options; every mistake is recorded in `errors`.
pub fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        let span = meta.path.span();
        if meta.path.is_ident("args") {
            let ty: Type = meta.value()?.parse()?;
            set_once(&mut options.args, ty, "args", span)
        } else if meta.path.is_ident("crate") {
            set_once(
                &mut options.krate,
                parse_crate_option(&meta)?,
                "crate",
                span,
            )
        } else {
            Err(unknown(
                span,
                path_text(&meta.path),
                "`#[keel::registry]`",
                "`args = Type` or `crate = path`",
            ))
        }
    });
    errors.ok(parser.parse2(args));
    options
}

/// The trait under the attribute; any other item is an error at its keyword.
pub fn parse_item(item: TokenStream) -> syn::Result<ItemTrait> {
    syn::parse2::<ItemTrait>(item.clone()).map_err(|_| {
        let span = syn::parse2::<Item>(item.clone()).map_or_else(
            |_| first_token_span(&item),
            |parsed| item_keyword_span(&parsed),
        );
        syn::Error::new(span, "`#[keel::registry]` goes on a trait declaration")
    })
}
