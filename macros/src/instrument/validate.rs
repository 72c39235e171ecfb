//! Validate: every misuse becomes a `syn::Error` spanned at the offending token.

use super::model::Options;
use crate::common::errors::Errors;
use syn::{FnArg, Item, Pat, ReturnType, Signature, Type};

/// Refuses items the attribute cannot go on.
pub fn check_target(item: &Item) -> syn::Result<()> {
    let (span_of, what): (Box<dyn quote::ToTokens>, &str) = match item {
        Item::Fn(_) | Item::Impl(_) => return Ok(()),
        Item::Mod(module) if module.content.is_some() => return Ok(()),
        Item::Mod(module) => {
            return Err(syn::Error::new_spanned(
                module.mod_token,
                format!(
                    "`#[keel::instrument]` can only rewrite an inline module (`mod {0} {{ .. }}`): \
                     the contents of `mod {0};` are in another file; put \
                     `#[keel::instrument]` on the functions and impl blocks inside that file instead",
                    module.ident
                ),
            ));
        }
        Item::Struct(s) => (Box::new(s.struct_token), "a struct"),
        Item::Enum(e) => (Box::new(e.enum_token), "an enum"),
        Item::Union(u) => (Box::new(u.union_token), "a union"),
        Item::Trait(t) => (Box::new(t.trait_token), "a trait definition"),
        Item::TraitAlias(t) => (Box::new(t.trait_token), "a trait alias"),
        Item::ForeignMod(f) => (Box::new(f.abi.extern_token), "an extern block"),
        Item::Type(t) => (Box::new(t.type_token), "a type alias"),
        Item::Const(c) => (Box::new(c.const_token), "a const"),
        Item::Static(s) => (Box::new(s.static_token), "a static"),
        Item::Use(u) => (Box::new(u.use_token), "a use declaration"),
        Item::ExternCrate(e) => (Box::new(e.extern_token), "an extern crate"),
        Item::Macro(m) => (Box::new(m.mac.path.clone()), "a macro"),
        other => (Box::new(other.clone()), "this item"),
    };
    Err(syn::Error::new_spanned(
        span_of,
        format!(
            "`#[keel::instrument]` goes on a function, an impl block or an inline module, not on {what}"
        ),
    ))
}

/// Options given on an impl block or module apply to many functions: only `skip` and `crate`
/// make sense there.
pub fn check_container_options(options: &Options, container: &str, errors: &mut Errors) {
    if let Some(keyword) = &options.args_keyword {
        errors.push_spanned(keyword, format!(
            "`args(..)` names parameters of one function: put `#[keel::instrument(args(..))]` on a function inside the {container}"
        ));
    }
    if let Some(keyword) = &options.ret {
        errors.push_spanned(keyword, format!(
            "`ret` applies to one function: put `#[keel::instrument(ret)]` on a function inside the {container}"
        ));
    }
    if let Some(err) = &options.err {
        errors.push_spanned(&err.keyword, format!(
            "`err` applies to one function: put `#[keel::instrument(err)]` on a function inside the {container} \
             (errors of functions returning `Result` are recorded without it)"
        ));
    }
    if let Some(name) = &options.name {
        errors.push_spanned(name, format!(
            "`name` applies to one function: put `#[keel::instrument(name = \"..\")]` on a function inside the {container}"
        ));
    }
}

/// Checks one function's options against its signature. `explicit` is true when the attribute
/// names this function (alone, or on it inside an instrumented container).
pub fn check_fn(sig: &Signature, options: &Options, explicit: bool, errors: &mut Errors) {
    if let (Some(constness), true) = (&sig.constness, explicit) {
        errors.push_spanned(
            constness,
            format!(
                "`#[keel::instrument]` cannot instrument `const fn {}`: a traced call reads a clock \
                 and reports to sinks, which a const fn cannot do; remove the attribute \
                 (inside an instrumented impl block or module, const fns are left untouched)",
                sig.ident
            ),
        );
    }
    if let Some(skip) = &options.skip {
        let others = options.args_keyword.is_some()
            || options.ret.is_some()
            || options.err.is_some()
            || options.name.is_some();
        if others {
            errors.push_spanned(skip, "`skip` leaves the function untouched: it cannot be combined with `args`, `ret`, `err` or `name`");
        }
        return;
    }
    let params = parameter_names(sig);
    for arg in &options.args {
        if !params.iter().any(|p| arg == p) {
            let listed = if params.is_empty() {
                "it has no parameters".to_owned()
            } else {
                format!(
                    "its parameters are {}",
                    params
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            errors.push_spanned(
                arg,
                format!(
                    "`args({arg})`: `fn {}` has no parameter named `{arg}` ({listed})",
                    sig.ident
                ),
            );
        }
    }
    let returns = returns_text(&sig.output);
    if let Some(ret) = &options.ret {
        if is_unit(&sig.output) {
            errors.push_spanned(
                ret,
                format!(
                    "`ret` records the return value, but `fn {}` returns `()`",
                    sig.ident
                ),
            );
        } else if is_never(&sig.output) {
            errors.push_spanned(
                ret,
                format!(
                    "`ret` records the return value, but `fn {}` never returns",
                    sig.ident
                ),
            );
        }
    }
    if let Some(err) = &options.err {
        let could_be_result = match &sig.output {
            ReturnType::Type(_, ty) => matches!(strip_group(ty), Type::Path(_)),
            ReturnType::Default => false,
        };
        if !could_be_result {
            errors.push_spanned(
                &err.keyword,
                format!(
                    "`err` records the error of a `Result`, but `fn {}` returns `{returns}`",
                    sig.ident
                ),
            );
        }
    }
}

/// `self` (for a receiver) and every parameter bound to a plain identifier.
pub fn parameter_names(sig: &Signature) -> Vec<syn::Ident> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Receiver(receiver) => Some(syn::Ident::new("self", receiver.self_token.span)),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(ident) => Some(ident.ident.clone()),
                _ => None,
            },
        })
        .collect()
}

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip_group(&group.elem),
        Type::Paren(paren) => strip_group(&paren.elem),
        other => other,
    }
}

pub use keel_transform::body::{is_never, is_unit};

fn returns_text(output: &ReturnType) -> String {
    match output {
        ReturnType::Default => "()".to_owned(),
        ReturnType::Type(_, ty) => quote::quote!(#ty).to_string(),
    }
}
