//! The registration: a constructor function and an `inventory::submit!` of the plugin's
//! `Registration`, spanned so that type errors point at the user's tokens.

use super::model::Plugin;
use crate::common::crate_path::CratePath;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

/// The item's registration (the item itself is emitted as written, before it).
pub fn expand(plugin: &Plugin) -> TokenStream {
    let Plugin {
        options,
        ty: plugin,
        names,
    } = plugin;
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
