//! Reading `#[keel::plugin(Trait, name = "..", aliases = [..], new = path, crate = path)]` and the
//! struct or enum it is on.

use super::model::{Options, PluginType};
use crate::common::crate_path;
use crate::common::errors::Errors;
use crate::common::item::item_keyword_span;
use crate::common::options::{Seen, unknown};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Item, Lit, LitStr, Meta, Path, Token};

const OPTIONS: &str = "`name = \"..\"`, `aliases = [\"..\"]`, `new = path` or `crate = path`";

/// The arguments; an unknown or repeated option is recorded in `errors` and parsing goes on,
/// a syntax error ends it.
pub fn parse_options(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Options> {
    if input.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[keel::plugin]` needs the plugin trait first: `#[keel::plugin(Trait)]`",
        ));
    }
    if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
        return Err(input.error(
            "the first argument of `#[keel::plugin]` is the plugin trait: `#[keel::plugin(Trait, name = \"..\")]`",
        ));
    }
    let trait_path = input.call(Path::parse_mod_style)?;
    let mut options = Options {
        trait_path,
        name: None,
        aliases: Vec::new(),
        new: None,
        krate: None,
    };
    let mut seen = Seen::default();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        let key = input.call(Ident::parse_any)?;
        let key_text = key.to_string();
        errors.ok(seen.first(&key_text, key.span()));
        match key_text.as_str() {
            "name" => {
                input.parse::<Token![=]>()?;
                options.name = Some(input.parse()?);
            }
            "aliases" => {
                input.parse::<Token![=]>()?;
                let content;
                syn::bracketed!(content in input);
                let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                options.aliases.extend(list);
            }
            "new" => {
                input.parse::<Token![=]>()?;
                options.new = Some(input.parse()?);
            }
            "crate" => {
                input.parse::<Token![=]>()?;
                options.krate = Some(crate_path::parse_value(input)?);
            }
            _ => {
                errors.push(unknown(key.span(), &key_text, "`#[keel::plugin]`", OPTIONS));
                // Skip the value so the remaining options are still checked.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
            }
        }
    }
    Ok(options)
}

/// The struct or enum under the attribute; any other item is an error.
pub fn parse_item(item: &Item, errors: &mut Errors) -> Option<PluginType> {
    let (ident, generics, attrs) = match item {
        Item::Struct(item) => (&item.ident, &item.generics, &item.attrs),
        Item::Enum(item) => (&item.ident, &item.generics, &item.attrs),
        other => {
            errors.push(syn::Error::new(
                item_keyword_span(other),
                "`#[keel::plugin]` goes on a struct or an enum",
            ));
            return None;
        }
    };
    Some(PluginType {
        ident: ident.clone(),
        generics: generics.clone(),
        description: description(attrs),
    })
}

/// The doc comment, one leading space stripped per line, surrounding blank lines dropped.
fn description(attrs: &[Attribute]) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    for attr in attrs {
        let Meta::NameValue(meta) = &attr.meta else {
            continue;
        };
        if !meta.path.is_ident("doc") {
            continue;
        }
        let Expr::Lit(expr) = &meta.value else {
            continue;
        };
        let Lit::Str(text) = &expr.lit else {
            continue;
        };
        for line in text.value().split('\n') {
            let line = line.strip_prefix(' ').unwrap_or(line);
            lines.push(line.trim_end().to_owned());
        }
    }
    let first = lines.iter().position(|line| !line.is_empty())?;
    let last = lines.iter().rposition(|line| !line.is_empty())?;
    Some(lines[first..=last].join("\n"))
}
