//! The trait unchanged, plus `impl Pluggable for dyn Trait` holding the registry's lazily built
//! static.

use super::model::Registry;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

/// The trait and its registry.
pub fn expand(registry: &Registry) -> TokenStream {
    let Registry { item, args, krate } = registry;
    let private = krate.private();
    let ident = &item.ident;
    let name = ident.to_string();
    let (args, construct) = match args {
        Some(ty) => (ty.to_token_stream(), quote!(#private::plugin::ByFrom)),
        None => (quote!(()), quote!(#private::plugin::ByDefault)),
    };
    let span = ident.span();
    let impl_tokens = quote::quote_spanned! {span=>
        impl #private::plugin::Pluggable for dyn #ident {
            type Args = #args;
            type Construct = #construct;
            const NAME: &'static str = #name;

            fn registry() -> &'static #private::plugin::Registry<Self> {
                static REGISTRY: #private::plugin::OnceLock<#private::plugin::Registry<dyn #ident>> =
                    #private::plugin::OnceLock::new();
                #private::plugin::Registry::get_or_collect(&REGISTRY)
            }
        }
    };
    quote! {
        #item
        #impl_tokens
    }
}
