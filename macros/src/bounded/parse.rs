//! Reading `#[bounded(..)]` attributes.
//!
//! The attribute takes a comma-separated list of items: a Rust range (`1..=65535`, `..50`,
//! `0.0..`) and, on the struct, `crate = path`. The same attribute may be split over several
//! `#[bounded(..)]` lines; validation rejects an item given twice.

use crate::common::crate_path::CratePath;
use crate::common::errors::Errors;
use crate::common::range::RangeSpec;
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Meta, Path, Token};

/// Where an attribute was written, which decides the options it may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// On the struct itself.
    Struct,
    /// On a field.
    Field,
}

/// Everything the `#[bounded(..)]` attributes of one item or field said.
#[derive(Default)]
pub struct Attrs {
    /// Every range written, in order (more than one is an error reported by validation).
    pub ranges: Vec<RangeSpec>,
    /// `crate = path`, with the span of the `crate` keyword.
    pub krate: Option<(Span, CratePath)>,
}

enum Item {
    Range(Box<RangeSpec>),
    Crate(Token![crate], CratePath),
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            let keyword: Token![crate] = input.parse()?;
            input.parse::<Token![=]>()?;
            // Both `crate = path` and serde's spelling `crate = "path"`.
            let path = if input.peek(syn::LitStr) {
                input.parse::<syn::LitStr>()?.parse::<Path>()?
            } else {
                Path::parse_mod_style(input)?
            };
            return Ok(Self::Crate(keyword, CratePath::from_path(path)));
        }
        // `name`, `name = ..` and `name(..)` read as options, not ranges; none but `crate`
        // exists.
        let expr: Expr = input.parse()?;
        let option = match &expr {
            Expr::Path(path) => path.path.get_ident(),
            Expr::Assign(assign) => match &*assign.left {
                Expr::Path(path) => path.path.get_ident(),
                _ => None,
            },
            Expr::Call(call) => match &*call.func {
                Expr::Path(path) => path.path.get_ident(),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = option {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown option `{name}`: `#[bounded(..)]` takes a range such as `1..=10`, \
                     `0..100`, `5..`, `..=50` or `..50`, and on the struct `crate = path`"
                ),
            ));
        }
        RangeSpec::from_expr(expr).map(|range| Self::Range(Box::new(range)))
    }
}

/// Reads every `#[bounded(..)]` in `attrs`, recording mistakes in `errors`.
pub fn attrs(attrs: &[Attribute], site: Site, errors: &mut Errors) -> Attrs {
    let mut out = Attrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("bounded")) {
        let list = match &attr.meta {
            Meta::List(list) if !list.tokens.is_empty() => list,
            _ => {
                errors.push_spanned(
                    attr,
                    "`#[bounded]` needs a range: write `#[bounded(1..=10)]` (or `a..b`, `a..`, \
                     `..=b`, `..b`)",
                );
                continue;
            }
        };
        let items = match list.parse_args_with(Punctuated::<Item, Token![,]>::parse_terminated) {
            Ok(items) => items,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for item in items {
            match item {
                Item::Range(range) => out.ranges.push(*range),
                Item::Crate(keyword, _) if site == Site::Field => errors.push(syn::Error::new(
                    keyword.span(),
                    "`crate = path` belongs on the struct, not on a field",
                )),
                Item::Crate(keyword, path) => {
                    if out.krate.is_some() {
                        errors.push(syn::Error::new(
                            keyword.span(),
                            "duplicate `crate = path` option",
                        ));
                    } else {
                        out.krate = Some((keyword.span(), path));
                    }
                }
            }
        }
    }
    out
}
