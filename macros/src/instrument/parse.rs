//! Parse: the attribute's options, and which kind of item it sits on.

use super::model::{ErrOption, Options};
use crate::common::crate_path::{CratePath, parse_crate_option};
use crate::common::options::{path_text, set_once, unknown};
use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Item, LitStr, Path};

const ATTR: &str = "`#[keel::instrument]`";

const KNOWN: &str =
    "`args(..)`, `ret`, `err`, `err(Debug)`, `skip`, `name = \"..\"` or `crate = path`";

impl Options {
    /// The options of the attribute macro's own arguments.
    pub fn parse_tokens(tokens: TokenStream) -> syn::Result<Self> {
        let mut options = Self::default();
        let parser = syn::meta::parser(|meta| options.parse_one(meta));
        syn::parse::Parser::parse2(parser, tokens)?;
        Ok(options)
    }

    /// The options of an attribute found on an item inside an instrumented impl or module.
    pub fn parse_attribute(attr: &Attribute) -> syn::Result<Self> {
        let mut options = Self::default();
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return Ok(options);
        }
        attr.parse_nested_meta(|meta| options.parse_one(meta))?;
        Ok(options)
    }

    fn parse_one(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let span = meta.path.span();
        let Some(keyword) = meta.path.get_ident().cloned() else {
            return Err(unknown(span, path_text(&meta.path), ATTR, KNOWN));
        };
        match keyword.to_string().as_str() {
            "args" => {
                let mut args = Vec::new();
                meta.parse_nested_meta(|arg| match arg.path.get_ident() {
                    Some(ident) if arg.input.is_empty() || arg.input.peek(syn::Token![,]) => {
                        args.push(ident.clone());
                        Ok(())
                    }
                    _ => Err(arg.error("expected a parameter name, as in `args(id, name)`")),
                })?;
                set_once(&mut self.args_keyword, keyword, "args", span)?;
                self.args = args;
            }
            "ret" => set_once(&mut self.ret, keyword, "ret", span)?,
            "err" => {
                let mut debug = false;
                if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|form| {
                        if form.path.is_ident("Debug") {
                            debug = true;
                            Ok(())
                        } else if form.path.is_ident("Display") {
                            Ok(())
                        } else {
                            Err(form.error("expected `err(Display)` or `err(Debug)`"))
                        }
                    })?;
                }
                set_once(&mut self.err, ErrOption { keyword, debug }, "err", span)?;
            }
            "skip" => set_once(&mut self.skip, keyword, "skip", span)?,
            "name" => {
                let name: LitStr = meta.value()?.parse()?;
                if name.value().trim().is_empty() {
                    return Err(syn::Error::new(name.span(), "`name` must not be empty"));
                }
                set_once(&mut self.name, name, "name", span)?;
            }
            "crate" => set_once(&mut self.krate, parse_crate_option(&meta)?, "crate", span)?,
            other => return Err(unknown(span, other, ATTR, KNOWN)),
        }
        Ok(())
    }
}

/// The item under the attribute, parsed.
pub fn parse_item(tokens: TokenStream) -> syn::Result<Item> {
    syn::parse2(tokens)
}

/// Whether `attr` is `#[keel::instrument]` (any spelling that can name it): `instrument`,
/// `keel::instrument`, `::keel::instrument`, or `<crate path>::instrument`.
pub fn is_instrument_attribute(attr: &Attribute, krate: &CratePath) -> bool {
    is_keel_attribute(attr, krate, "instrument")
}

/// Whether `attr` is keel's attribute `name`, spelt `name`, `keel::name`, `::keel::name` or
/// `<crate path>::name`.
pub fn is_keel_attribute(attr: &Attribute, krate: &CratePath, name: &str) -> bool {
    let path: &Path = attr.path();
    let Some(last) = path.segments.last() else {
        return false;
    };
    if last.ident != name {
        return false;
    }
    if path.segments.len() == 1 {
        return path.leading_colon.is_none();
    }
    let prefix: Vec<String> = path
        .segments
        .iter()
        .take(path.segments.len() - 1)
        .map(|s| s.ident.to_string())
        .collect();
    let crate_prefix: Vec<String> = krate
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    prefix == ["keel"] || prefix == crate_prefix
}

/// Takes the instrument attributes off `attrs`, returning the options of the last one.
pub fn take_instrument_attribute(
    attrs: &mut Vec<Attribute>,
    krate: &CratePath,
) -> Option<syn::Result<(Options, Span)>> {
    let mut found = None;
    attrs.retain(|attr| {
        if is_instrument_attribute(attr, krate) {
            found = Some(Options::parse_attribute(attr).map(|o| (o, attr.span())));
            false
        } else {
            true
        }
    });
    found
}
