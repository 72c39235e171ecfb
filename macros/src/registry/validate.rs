//! Checks that the trait can be a registry: usable as `dyn Trait` (dyn-compatible, no generics,
//! no associated types), checked here so the error points at the offending item rather than at
//! generated code.

use super::model::{Options, Registry};
use crate::common::crate_path::CratePath;
use crate::common::errors::Errors;
use proc_macro2::Span;
use quote::ToTokens;
use syn::{
    FnArg, GenericParam, ItemTrait, ReturnType, Signature, TraitItem, Type, TypeParamBound,
    WherePredicate,
};

/// The checked registry, or `None` with every mistake in `errors`.
pub fn validate(options: Options, item: ItemTrait, errors: &mut Errors) -> Option<Registry> {
    check_trait(&item, errors);
    let krate = options
        .krate
        .unwrap_or_else(|| CratePath::default_at(Span::call_site()));
    errors.is_empty().then_some(Registry {
        item,
        args: options.args,
        krate,
    })
}

/// Everything that would stop `dyn Trait` from being a type, or a registry key.
fn check_trait(item: &ItemTrait, errors: &mut Errors) {
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
