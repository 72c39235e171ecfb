//! `#[keel::plugin(Trait, name = "..", aliases = [..], new = path, crate = path)]`: registers a
//! struct or enum in `Trait`'s registry at link time.
//!
//! Model: the trait path, the options and the plugin type (ident, generics, doc comment).
//! Validation: names non-empty and without whitespace, no name claimed twice by one plugin, no
//! generics. Errors only the type checker can see (the type does not implement the trait, the
//! trait has no registry, no constructor) are produced by generated code spanned at the user's
//! token, with messages set by `#[diagnostic::on_unimplemented]` in the runtime.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Generics, Ident, Item, Lit, LitStr, Meta, Path, Token};

use super::naming;
use crate::common::crate_path::{self, CratePath};
use crate::common::errors::{self, Errors};
use crate::common::options::{Seen, unknown};

/// The parsed and validated `#[keel::plugin(..)]` arguments.
struct Options {
    trait_path: Path,
    name: Option<LitStr>,
    aliases: Vec<LitStr>,
    new: Option<Path>,
    krate: Option<CratePath>,
}

/// The item the attribute is on.
struct PluginType {
    ident: Ident,
    description: Option<String>,
}

const OPTIONS: &str = "`name = \"..\"`, `aliases = [\"..\"]`, `new = path` or `crate = path`";

fn parse_options(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Options> {
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

/// Names must be valid and claimed once; returns the name and aliases as strings.
fn validate_names(options: &Options, default_name: &str, errors: &mut Errors) -> Vec<String> {
    let mut claimed: Vec<String> = Vec::new();
    let name = match &options.name {
        Some(lit) => errors.ok(naming::validate(lit, "name")),
        None => Some(default_name.to_owned()),
    };
    if let Some(name) = name {
        claimed.push(name);
    }
    for alias in &options.aliases {
        if let Some(value) = errors.ok(naming::validate(alias, "alias")) {
            if claimed.contains(&value) {
                errors.push_spanned(alias, format!("{value:?} is already a name of this plugin"));
            } else {
                claimed.push(value);
            }
        }
    }
    claimed
}

fn parse_item(item: &Item, errors: &mut Errors) -> Option<PluginType> {
    let (ident, generics, attrs): (&Ident, &Generics, &[Attribute]) = match item {
        Item::Struct(item) => (&item.ident, &item.generics, &item.attrs),
        Item::Enum(item) => (&item.ident, &item.generics, &item.attrs),
        other => {
            errors.push(syn::Error::new(
                super::item_keyword_span(other),
                "`#[keel::plugin]` goes on a struct or an enum",
            ));
            return None;
        }
    };
    if !generics.params.is_empty() {
        let params: Vec<String> = generics
            .params
            .iter()
            .map(|param| match param {
                syn::GenericParam::Type(param) => param.ident.to_string(),
                syn::GenericParam::Const(param) => param.ident.to_string(),
                syn::GenericParam::Lifetime(param) => param.lifetime.to_string(),
            })
            .collect();
        errors.push_spanned(
            generics,
            format!(
                "a plugin type cannot be generic: the registry constructs `{ident}` by name, with no way to choose `{}`; register a concrete type instead, such as a newtype around one instantiation of `{ident}`",
                params.join("`, `")
            ),
        );
    }
    Some(PluginType {
        ident: ident.clone(),
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

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(try_expand(args, item.clone()), item)
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let mut option_errors = Errors::new();
    let parsed_options =
        (|input: ParseStream<'_>| parse_options(input, &mut option_errors)).parse2(args);
    let options = errors.ok(parsed_options);
    if let Err(error) = option_errors.finish() {
        errors.push(error);
    }
    let parsed_item = errors.ok(syn::parse2::<Item>(item.clone()));
    let plugin = parsed_item.and_then(|parsed| parse_item(&parsed, &mut errors));
    let (Some(options), Some(plugin)) = (options, plugin) else {
        return Err(errors.into_error());
    };
    let names = validate_names(
        &options,
        &naming::snake_case(&plugin.ident.to_string()),
        &mut errors,
    );
    errors.finish()?;
    let registration = generate(&options, &plugin, &names);
    Ok(quote! {
        #item
        #registration
    })
}

fn generate(options: &Options, plugin: &PluginType, names: &[String]) -> TokenStream {
    let krate = options
        .krate
        .clone()
        .unwrap_or_else(|| CratePath::default_at(Span::call_site()));
    let private = krate.private();
    let ident = &plugin.ident;
    let ident_text = ident.to_string();
    let ident_text = ident_text.strip_prefix("r#").unwrap_or(&ident_text);
    let trait_path = &options.trait_path;
    let trait_span = trait_path.span();
    let type_span = ident.span();

    // `dyn Trait` spanned at the trait: "not a plugin registry" errors point there.
    let dyn_trait = quote_spanned!(trait_span=> dyn #trait_path + 'static);
    let pluggable = quote_spanned!(trait_span=> <#dyn_trait as #private::plugin::Pluggable>);

    // One identifier for the parameter and its uses: spelled inside `quote_spanned!` with
    // different spans, they would not resolve to each other when the plugin is declared by a
    // `macro_rules!` macro (the spans then carry different hygiene).
    let args = Ident::new("__keel_args", Span::mixed_site());
    let construct = match &options.new {
        Some(new) => {
            let new_span = new.span();
            // `new = Self::make` means the plugin type: the constructor is called from a free
            // function, where `Self` does not exist.
            let mut new = new.clone();
            if let Some(first) = new.segments.first_mut()
                && first.ident == "Self"
                && new.leading_colon.is_none()
            {
                let mut type_ident = ident.clone();
                type_ident.set_span(first.ident.span());
                first.ident = type_ident;
            }
            quote_spanned! {new_span=>
                #private::plugin::construct_with::<#ident, _, #pluggable::Construct, _>(#new, #args)
            }
        }
        None => quote_spanned! {type_span=>
            <#ident as #private::plugin::Construct<#pluggable::Args, #pluggable::Construct>>::construct(#args)
        },
    };
    // Boxing spanned at the type: "does not implement the trait" points at it.
    let boxed = quote_spanned! {type_span=>
        {
            let __keel_plugin: #private::plugin::Box<#ident> =
                #private::plugin::Box::new(#construct);
            __keel_plugin
        }
    };
    let name = &names[0];
    let aliases = &names[1..];
    let description = match &plugin.description {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let line = quote_spanned!(type_span=> ::core::line!());
    let constructor_ref = quote_spanned!(trait_span=> &__KEEL_CONSTRUCTOR);
    let constructor_type =
        quote_spanned!(trait_span=> fn(#pluggable::Args) -> #private::plugin::Box<#dyn_trait>);
    // Spanned at the trait: type errors about the registry (the trait has none) point there.
    // Every generated name starts with `__keel` so that none can capture the user's `new = path`.
    quote_spanned! {trait_span=>
        const _: () = {
            fn __keel_construct(#args: #pluggable::Args) -> #private::plugin::Box<#dyn_trait> {
                #boxed
            }

            static __KEEL_CONSTRUCTOR: #constructor_type = __keel_construct;

            #private::inventory::submit! {
                #private::plugin::Registration::new(
                    #private::plugin::PluginInfo::new(
                        #name,
                        &[#(#aliases),*],
                        ::core::concat!(::core::module_path!(), "::", #ident_text),
                        ::core::file!(),
                        #line,
                        #description,
                    ),
                    #private::plugin::registry_id::<#dyn_trait>,
                    #constructor_ref,
                )
            }
        };
    }
}
