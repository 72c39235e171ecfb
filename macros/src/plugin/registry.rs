//! `#[keel::registry]`: declares a trait's plugin registry.
//!
//! Model: the trait and its options (`args = Type`, `crate = path`). Validation: the trait must
//! be usable as `dyn Trait` (dyn-compatible, no generics, no associated types), checked here so
//! the error points at the offending item rather than at generated code. Expansion: the trait
//! unchanged, plus `impl Pluggable for dyn Trait` holding the registry's lazily built static.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::{
    FnArg, GenericParam, Item, ItemTrait, ReturnType, Signature, TraitItem, Type, TypeParamBound,
    WherePredicate,
};

use crate::common::crate_path::{CratePath, parse_crate_option};
use crate::common::errors::{self, Errors};
use crate::common::options::{path_text, set_once, unknown};
use syn::spanned::Spanned;

/// The parsed `#[keel::registry(..)]` options.
struct Options {
    args: Option<Type>,
    krate: Option<CratePath>,
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options {
        args: None,
        krate: None,
    };
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

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    errors::or_item(try_expand(args, item.clone()), item)
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let options = parse_options(args, &mut errors);
    let item_trait = match syn::parse2::<ItemTrait>(item.clone()) {
        Ok(item_trait) => item_trait,
        Err(_) => {
            let span = syn::parse2::<Item>(item.clone()).map_or_else(
                |_| first_token_span(&item),
                |parsed| super::item_keyword_span(&parsed),
            );
            errors.push(syn::Error::new(
                span,
                "`#[keel::registry]` goes on a trait declaration",
            ));
            return Err(errors.into_error());
        }
    };
    validate(&item_trait, &mut errors);
    errors.finish()?;
    let krate = options
        .krate
        .unwrap_or_else(|| CratePath::default_at(Span::call_site()));
    Ok(generate(&item_trait, options.args.as_ref(), &krate))
}

fn first_token_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

/// Everything that would stop `dyn Trait` from being a type, or a registry key.
fn validate(item: &ItemTrait, errors: &mut Errors) {
    if let Some(param) = item.generics.params.first() {
        errors.push_spanned(
            &item.generics,
            format!(
                "a plugin registry trait cannot be generic (`{}`): each registry is keyed by one `dyn Trait` type",
                param.to_token_stream().to_string().replace(' ', "")
            ),
        );
    }
    for bound in &item.supertraits {
        if let TypeParamBound::Trait(bound) = bound
            && bound.path.is_ident("Sized")
        {
            errors.push_spanned(
                bound,
                "a plugin registry trait cannot require `Sized`: plugins are used as `dyn Trait`",
            );
        }
    }
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Const(item_const) => errors.push_spanned(
                &item_const.ident,
                format!(
                    "a plugin registry trait cannot have associated constants (`{}`): it must be usable as `dyn {}`",
                    item_const.ident, item.ident
                ),
            ),
            TraitItem::Type(item_type) => errors.push_spanned(
                &item_type.ident,
                format!(
                    "a plugin registry trait cannot have associated types (`{}`): every plugin must fit one `dyn {}` type",
                    item_type.ident, item.ident
                ),
            ),
            TraitItem::Fn(method) if !requires_sized(&method.sig) => {
                check_method(&method.sig, &item.ident, errors);
            }
            _ => {}
        }
    }
}

/// `where Self: Sized` exempts a method from dyn compatibility.
fn requires_sized(sig: &Signature) -> bool {
    sig.generics.where_clause.as_ref().is_some_and(|clause| {
        clause.predicates.iter().any(|predicate| match predicate {
            WherePredicate::Type(predicate) => is_self(&predicate.bounded_ty)
                && predicate.bounds.iter().any(
                    |bound| matches!(bound, TypeParamBound::Trait(t) if t.path.is_ident("Sized")),
                ),
            _ => false,
        })
    })
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
}

fn check_method(sig: &Signature, trait_ident: &syn::Ident, errors: &mut Errors) {
    let fix = "or add `where Self: Sized` to exclude it from `dyn";
    let name = &sig.ident;
    if let Some(asyncness) = &sig.asyncness {
        errors.push_spanned(
            asyncness,
            format!(
                "`async fn {name}` makes the trait unusable as `dyn {trait_ident}`, which a plugin registry needs; return a boxed future instead, {fix} {trait_ident}`"
            ),
        );
    }
    if sig.receiver().is_none() {
        errors.push_spanned(
            name,
            format!(
                "`{name}` has no `self` receiver, so the trait cannot be used as `dyn {trait_ident}`, which a plugin registry needs; add a `&self` receiver, {fix} {trait_ident}`"
            ),
        );
        // Its `Self` in the signature would be the same mistake said twice.
        return;
    }
    for param in &sig.generics.params {
        if let GenericParam::Type(param) = param {
            errors.push_spanned(
                param,
                format!(
                    "`{name}` has a type parameter `{}`, so the trait cannot be used as `dyn {trait_ident}`, which a plugin registry needs; take `&dyn Trait` instead, {fix} {trait_ident}`",
                    param.ident
                ),
            );
        }
    }
    let typed_inputs = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => Some(&*typed.ty),
        FnArg::Receiver(_) => None,
    });
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    for ty in typed_inputs.chain(output) {
        if let Some(offending) = find_self_or_impl(ty) {
            errors.push_spanned(
                offending,
                format!(
                    "`{name}` uses `{}` in its signature, so the trait cannot be used as `dyn {trait_ident}`, which a plugin registry needs; add `where Self: Sized` to exclude `{name}` from `dyn {trait_ident}`",
                    offending.to_token_stream().to_string().replace(' ', "")
                ),
            );
        }
    }
}

/// A `Self` (by value, outside a receiver) or `impl Trait` inside `ty`, if any.
fn find_self_or_impl(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(_) => Some(ty),
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self") => Some(ty),
        Type::Path(path) => path.path.segments.iter().find_map(|segment| {
            let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                syn::GenericArgument::Type(inner) => find_self_or_impl(inner),
                _ => None,
            })
        }),
        Type::Reference(reference) => find_self_or_impl(&reference.elem),
        Type::Slice(slice) => find_self_or_impl(&slice.elem),
        Type::Array(array) => find_self_or_impl(&array.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(find_self_or_impl),
        Type::Paren(paren) => find_self_or_impl(&paren.elem),
        Type::Group(group) => find_self_or_impl(&group.elem),
        _ => None,
    }
}

fn generate(item: &ItemTrait, args: Option<&Type>, krate: &CratePath) -> TokenStream {
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
