//! Attribute options: `conn = ident`, `name = "..."`, `retry = N`, `nested = "savepoint" |
//! "join" | "fail"`, `read_only`, `isolation = "..."`, `behavior = "..."`, `crate = path`.

use crate::common::crate_path::{CratePath, parse_crate_option};
use crate::common::errors::Errors;
use crate::common::options::{Seen, path_text, unknown};
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr};

const ATTR: &str = "`#[keel::transaction]`";

/// Every option name, for "unknown option" messages.
const OPTIONS: &str =
    "one of `conn`, `name`, `retry`, `nested`, `read_only`, `isolation`, `behavior`, `crate`";

/// A value with the span of the whole `key = value` option, for later messages.
pub struct WithSpan<T> {
    pub value: T,
    pub span: Span,
}

/// `nested = "..."`.
#[derive(Clone, Copy)]
pub enum Nested {
    Savepoint,
    Join,
    Fail,
}

/// `isolation = "..."`.
#[derive(Clone, Copy)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

/// `behavior = "..."`.
#[derive(Clone, Copy)]
pub enum Behavior {
    Auto,
    Deferred,
    Immediate,
    Exclusive,
}

/// The parsed attribute.
#[derive(Default)]
pub struct Args {
    pub conn: Option<Ident>,
    pub name: Option<LitStr>,
    pub retry: Option<WithSpan<u32>>,
    pub nested: Option<Nested>,
    pub read_only: bool,
    pub isolation: Option<Isolation>,
    pub behavior: Option<Behavior>,
    pub krate: Option<CratePath>,
    seen: Seen,
}

/// Parses the attribute's tokens, recording every mistake in `errors` and carrying on where the
/// syntax allows.
pub fn parse_args(attr: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        args.option(&meta, errors)?;
        Ok(())
    });
    if let Err(error) = parser.parse2(attr) {
        errors.push(error);
    }
    args
}

impl Args {
    fn option(
        &mut self,
        meta: &syn::meta::ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let span = meta.path.span();
        let Some(key) = meta.path.get_ident().map(Ident::to_string) else {
            skip_value(meta)?;
            errors.push(unknown(span, path_text(&meta.path), ATTR, OPTIONS));
            return Ok(());
        };
        if let Err(error) = self.seen.first(&key, span) {
            skip_value(meta)?;
            errors.push(error);
            return Ok(());
        }
        match key.as_str() {
            "conn" => self.conn = Some(meta.value()?.parse()?),
            "name" => self.name = Some(meta.value()?.parse()?),
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
                            self.retry = Some(WithSpan {
                                value: n,
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
            "nested" => {
                let lit: LitStr = meta.value()?.parse()?;
                self.nested = match lit.value().as_str() {
                    "savepoint" => Some(Nested::Savepoint),
                    "join" => Some(Nested::Join),
                    "fail" => Some(Nested::Fail),
                    other => {
                        errors.push_spanned(
                            &lit,
                            format!(
                                "unknown `nested` value {other:?}; expected \"savepoint\" (the default), \"join\" or \"fail\""
                            ),
                        );
                        None
                    }
                };
            }
            "read_only" => {
                if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitBool = meta.value()?.parse()?;
                    self.read_only = lit.value;
                } else {
                    self.read_only = true;
                }
            }
            "isolation" => {
                let lit: LitStr = meta.value()?.parse()?;
                self.isolation = match lit.value().as_str() {
                    "read_uncommitted" => Some(Isolation::ReadUncommitted),
                    "read_committed" => Some(Isolation::ReadCommitted),
                    "repeatable_read" => Some(Isolation::RepeatableRead),
                    "serializable" => Some(Isolation::Serializable),
                    other => {
                        errors.push_spanned(
                            &lit,
                            format!(
                                "unknown `isolation` value {other:?}; expected \"read_uncommitted\", \"read_committed\", \"repeatable_read\" or \"serializable\""
                            ),
                        );
                        None
                    }
                };
            }
            "behavior" => {
                let lit: LitStr = meta.value()?.parse()?;
                self.behavior = match lit.value().as_str() {
                    "auto" => Some(Behavior::Auto),
                    "deferred" => Some(Behavior::Deferred),
                    "immediate" => Some(Behavior::Immediate),
                    "exclusive" => Some(Behavior::Exclusive),
                    other => {
                        errors.push_spanned(
                            &lit,
                            format!(
                                "unknown `behavior` value {other:?}; expected \"auto\" (the default: SQLite writers begin IMMEDIATE, read-only transactions DEFERRED), \"deferred\", \"immediate\" or \"exclusive\" (SQLite's BEGIN modes)"
                            ),
                        );
                        None
                    }
                };
            }
            "crate" => self.krate = Some(parse_crate_option(meta)?),
            _ => {
                skip_value(meta)?;
                errors.push(unknown(span, &key, ATTR, OPTIONS));
            }
        }
        Ok(())
    }
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
