//! Attribute options: `conn = ident`, `name = "..."`, `retry = N`, `nested = "savepoint" |
//! "join" | "fail"`, `read_only`, `isolation = "..."`, `behavior = "..."`, `crate = path`.

use super::model::{Choice, Options, Retry};
use crate::common::crate_path::parse_crate_option;
use crate::common::errors::Errors;
use crate::common::options::{Seen, path_text, unknown};
use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr};

const ATTR: &str = "`#[keel::transaction]`";

/// Every option name, for "unknown option" messages.
const OPTIONS: &str =
    "one of `conn`, `name`, `retry`, `nested`, `read_only`, `isolation`, `behavior`, `crate`";

/// Parses the attribute's tokens, recording every mistake in `errors` and carrying on where the
/// syntax allows.
pub fn parse_options(attr: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut seen = Seen::default();
    let parser = syn::meta::parser(|meta| option(&mut options, &mut seen, &meta, errors));
    if let Err(error) = parser.parse2(attr) {
        errors.push(error);
    }
    options
}

/// Reads one option into `options`, recording its mistakes in `errors`.
fn option(
    options: &mut Options,
    seen: &mut Seen,
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let span = meta.path.span();
    let Some(key) = meta.path.get_ident().map(Ident::to_string) else {
        skip_value(meta)?;
        errors.push(unknown(span, path_text(&meta.path), ATTR, OPTIONS));
        return Ok(());
    };
    if let Err(error) = seen.first(&key, span) {
        skip_value(meta)?;
        errors.push(error);
        return Ok(());
    }
    match key.as_str() {
        "conn" => options.conn = Some(meta.value()?.parse()?),
        "name" => options.name = Some(meta.value()?.parse()?),
        "retry" => {
            if !meta.input.peek(syn::Token![=]) {
                errors.push_spanned(
                    &meta.path,
                    "`retry` needs the number of retries: `retry = 3`",
                );
                return Ok(());
            }
            let value: Expr = meta.value()?.parse()?;
            match &value {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(int), ..
                }) => match int.base10_parse::<u32>() {
                    Ok(n) => {
                        options.retry = Some(Retry {
                            times: n,
                            span: meta.path.span().join(int.span()).unwrap_or(int.span()),
                        })
                    }
                    Err(_) => errors.push_spanned(
                        int,
                        format!("`retry` must be an integer from 0 to {}", u32::MAX),
                    ),
                },
                other => errors.push_spanned(
                    other,
                    "`retry` takes a non-negative integer literal, the number of retries: `retry = 3`",
                ),
            }
        }
        "nested" => options.nested = choice(meta, errors)?,
        "read_only" => {
            if meta.input.peek(syn::Token![=]) {
                let lit: syn::LitBool = meta.value()?.parse()?;
                options.read_only = lit.value;
            } else {
                options.read_only = true;
            }
        }
        "isolation" => options.isolation = choice(meta, errors)?,
        "behavior" => options.behavior = choice(meta, errors)?,
        "crate" => options.krate = Some(parse_crate_option(meta)?),
        _ => {
            skip_value(meta)?;
            errors.push(unknown(span, &key, ATTR, OPTIONS));
        }
    }
    Ok(())
}

/// `option = "value"` for a [`Choice`]; an unknown string is recorded in `errors` (`None`).
fn choice<C: Choice>(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<C>> {
    let lit: LitStr = meta.value()?.parse()?;
    let text = lit.value();
    let found = C::VALUES.iter().find(|(name, ..)| *name == text);
    if found.is_none() {
        errors.push_spanned(
            &lit,
            format!(
                "unknown `{}` value {text:?}; expected {}",
                C::OPTION,
                C::EXPECTED
            ),
        );
    }
    Ok(found.map(|(_, value, _)| *value))
}

/// Consumes `= value` or `(...)` after an option we are not going to use, so parsing can go on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}
