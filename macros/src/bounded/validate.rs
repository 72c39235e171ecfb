//! Checks the parsed input against the rules of `#[derive(Bounded)]` and builds the [`Bounded`]
//! model. Every mistake is reported at the token that causes it, all at once.

use super::model::{Bound, Bounded, Field, Record, Shape};
use super::parse::{self, Input, ParsedShape, mentions};
use crate::common::bounded_attr::{check_range, single_range};
use crate::common::crate_path::CratePath;
use crate::common::errors::Errors;
use crate::common::primitive::Primitive;
use crate::common::range::{RangeSpec, type_text};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::ext::IdentExt;
use syn::{DeriveInput, GenericArgument, GenericParam, Ident, Member, PathArguments, Type};

/// Parses and validates `input` and builds the model, or returns every error found.
pub fn model(input: &DeriveInput) -> syn::Result<Bounded> {
    let mut errors = Errors::new();
    let parsed = parse::parse(input, &mut errors)?;
    let ident = &input.ident;
    let shape = match &parsed.shape {
        ParsedShape::Unit => {
            errors.push_spanned(
                ident,
                format!(
                    "`{ident}` has no fields to bound: derive `Bounded` on a struct with \
                     `#[bounded(..)]` fields, or on a newtype such as \
                     `#[bounded(1..=10)] struct Level(u8);`"
                ),
            );
            None
        }
        ParsedShape::Newtype(field) => newtype(&parsed, field, &mut errors),
        ParsedShape::Record { named, fields } => record(&parsed, *named, fields, &mut errors),
    };
    if let Some(shape) = &shape {
        check_deserialize(&parsed, shape, &mut errors);
    }
    errors.finish()?;
    let shape = shape.ok_or_else(|| syn::Error::new_spanned(ident, "invalid input"))?;
    Ok(Bounded {
        ident: ident.clone(),
        vis: input.vis.clone(),
        generics: input.generics.clone(),
        krate: match &parsed.top.krate {
            Some((_, path)) => path.clone(),
            None => CratePath::default_at(Span::call_site()),
        },
        shape,
        deserialize: parsed.top.deserialize.is_some(),
        serde_attrs: parsed.serde_attrs,
    })
}

/// A single-field tuple struct: one range (on the struct or its field), a concrete non-`Option`
/// type.
fn newtype(parsed: &Input<'_>, field: &parse::Field<'_>, errors: &mut Errors) -> Option<Shape> {
    let input = parsed.input;
    let ident = &input.ident;
    let ty = &field.field.ty;
    let first = single_range(
        parsed.top.ranges.iter().chain(&field.attrs.ranges),
        &format!("the newtype `{ident}`"),
        errors,
    );
    if !input.generics.params.is_empty() {
        errors.push_spanned(
            &input.generics,
            format!(
                "a bounded newtype cannot be generic: its bounds are constants of one \
                 concrete type; remove the parameters from `{ident}`"
            ),
        );
    }
    match first {
        None => {
            errors.push_spanned(
                ident,
                format!(
                    "the newtype `{ident}` needs its range: add \
                     `#[bounded(1..=10)]` (or `a..b`, `a..`, `..=b`, `..b`) above the \
                     struct"
                ),
            );
            None
        }
        Some(_) if option_inner(ty).is_some() => {
            errors.push_spanned(
                ty,
                format!(
                    "a bounded newtype cannot wrap an `Option`: its value is always \
                     checked, and `None` has no place in a range. Bound the inner type \
                     (`struct {ident}({});`) and write `Option<{ident}>` where the \
                     value may be absent",
                    option_inner(ty).map(type_text).unwrap_or_default()
                ),
            );
            None
        }
        Some(range) => {
            bound(range, ty, &ident.to_string(), &[], errors).map(|b| Shape::Newtype(Box::new(b)))
        }
    }
}

/// A struct whose fields are checked one by one: no range on the struct itself, each field at
/// most one range.
fn record(
    parsed: &Input<'_>,
    named: bool,
    fields: &[parse::Field<'_>],
    errors: &mut Errors,
) -> Option<Shape> {
    let input = parsed.input;
    let ident = &input.ident;
    let generic_names = generic_names(input);
    for range in &parsed.top.ranges {
        errors.push_spanned(
            &range.expr,
            format!(
                "a range on the struct applies only to a single-field newtype; `{ident}` \
                 has {}: put `#[bounded(..)]` on each field it should check",
                if named {
                    "named fields".to_owned()
                } else {
                    format!("{} fields", fields.len())
                }
            ),
        );
    }
    let mut out = Vec::with_capacity(fields.len());
    for (index, parsed_field) in fields.iter().enumerate() {
        let field = parsed_field.field;
        let (member, name, param) = match &field.ident {
            Some(id) => (
                Member::Named(id.clone()),
                id.unraw().to_string(),
                id.clone(),
            ),
            None => (
                Member::Unnamed(index.into()),
                index.to_string(),
                format_ident!("value_{}", index),
            ),
        };
        let bound = single_range(
            &parsed_field.attrs.ranges,
            &format!("field `{name}`"),
            errors,
        )
        .and_then(|range| bound(range, &field.ty, &name, &generic_names, errors));
        out.push(Field {
            member,
            name,
            param,
            ty: field.ty.clone(),
            bound,
            serde_attrs: parsed_field.serde_attrs.clone(),
        });
    }
    if !named && parsed.top.ranges.is_empty() && out.iter().all(|f| f.bound.is_none()) {
        errors.push_spanned(
            ident,
            format!(
                "the tuple struct `{ident}` has {} fields and none has bounds: put \
                 `#[bounded(..)]` on the fields to check (a range on the struct \
                 applies only to single-field newtypes)",
                out.len()
            ),
        );
    }
    Some(Shape::Record(Record { named, fields: out }))
}

/// `#[bounded(deserialize)]` applies to non-generic records; serde's own derive on a record
/// would skip its bounds.
fn check_deserialize(parsed: &Input<'_>, shape: &Shape, errors: &mut Errors) {
    let input = parsed.input;
    let ident = &input.ident;
    let serde_on_struct = &parsed.serde_attrs;
    match (shape, parsed.top.deserialize) {
        (Shape::Newtype(_), Some(span)) => errors.push(syn::Error::new(
            span,
            format!(
                "the newtype `{ident}` already has a validating `Deserialize` (through \
                 `try_new`, with keel's `serde` feature); remove `deserialize`"
            ),
        )),
        (Shape::Record(_), Some(span)) if !input.generics.params.is_empty() => {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`#[bounded(deserialize)]` does not support generic structs: remove the \
                     parameters from `{ident}`, or implement `Deserialize` by hand and call \
                     `validate()` on the result"
                ),
            ))
        }
        (Shape::Record(record), None) => {
            // serde's own derive fills the fields directly and skips the bounds; `#[serde(..)]`
            // on the struct says it is about to be used (unless the struct converts through a
            // validating `try_from`).
            let converts = serde_on_struct
                .iter()
                .any(|attr| mentions(attr, "try_from"));
            let first = serde_on_struct
                .iter()
                .chain(record.fields.iter().flat_map(|f| &f.serde_attrs))
                .next();
            if let (Some(attr), false) = (first, converts) {
                errors.push_spanned(
                    attr,
                    format!(
                        "`#[serde(..)]` on a `Bounded` struct: serde's `derive(Deserialize)` \
                         writes the fields directly and skips their bounds. Write \
                         `#[bounded(deserialize)]` on `{ident}` instead of deriving \
                         `Deserialize`: it honours these attributes and checks every bound"
                    ),
                );
            }
        }
        _ => {}
    }
}

/// Names of the type and const parameters (lifetimes cannot appear in a bounded type's value).
fn generic_names(input: &DeriveInput) -> Vec<Ident> {
    input
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            GenericParam::Const(c) => Some(c.ident.clone()),
            GenericParam::Lifetime(_) => None,
        })
        .collect()
}

/// The first generic parameter named anywhere in `tokens`.
fn mentioned_param(tokens: TokenStream, params: &[Ident]) -> Option<Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(id) => params.iter().find(|p| **p == id).cloned(),
        TokenTree::Group(group) => mentioned_param(group.stream(), params),
        _ => None,
    })
}

/// `T` when `ty` is `Option<T>` (`Option`, `std::option::Option` or `core::option::Option`, told
/// by the last path segment with one type argument).
fn option_inner(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Group(group) => option_inner(&group.elem),
        Type::Paren(paren) => option_inner(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if last.ident != "Option" {
                return None;
            }
            let PathArguments::AngleBracketed(generic) = &last.arguments else {
                return None;
            };
            match generic.args.iter().collect::<Vec<_>>().as_slice() {
                [GenericArgument::Type(inner)] => Some(inner),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Checks one range against the type it bounds; on an `Option<T>` field the range bounds `T`.
fn bound(
    range: &RangeSpec,
    ty: &Type,
    name: &str,
    generic_names: &[Ident],
    errors: &mut Errors,
) -> Option<Bound> {
    let (ty, optional) = match option_inner(ty) {
        Some(inner) => (inner, true),
        None => (ty, false),
    };
    if optional && option_inner(ty).is_some() {
        errors.push_spanned(
            ty,
            format!(
                "`{name}` cannot be bounded: `Option<{}>` nests one `Option` in another; a \
                 bounded field is a value or an `Option` of one",
                type_text(ty)
            ),
        );
        return None;
    }
    let mut ok = true;
    if let Some(param) = mentioned_param(ty.to_token_stream(), generic_names) {
        errors.push_spanned(
            ty,
            format!(
                "`{name}` cannot be bounded: its type depends on the generic parameter \
                 `{param}`, but bounds are constants of one concrete type (bound a concrete \
                 type, or make the field a bounded newtype)"
            ),
        );
        ok = false;
    }
    if mentioned_param(ty.to_token_stream(), generic_names).is_none()
        && !check_range(range, ty, name, errors)
    {
        ok = false;
    }
    let primitive = Primitive::number(ty);
    ok.then(|| Bound {
        range: range.clone(),
        ty: ty.clone(),
        optional,
        primitive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn message(input: DeriveInput) -> String {
        match model(&input) {
            Ok(_) => String::from("ok"),
            Err(error) => error
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn named_struct_becomes_a_record_with_bounds_on_marked_fields() {
        let input: DeriveInput = parse_quote! {
            pub struct NetworkConfig {
                #[bounded(1..=65535)] port: u32,
                name: String,
            }
        };
        let model = model(&input).unwrap();
        let Shape::Record(record) = &model.shape else {
            panic!("expected a record")
        };
        assert!(record.named);
        assert_eq!(record.fields.len(), 2);
        let port = record.fields[0].bound.as_ref().unwrap();
        assert_eq!(port.primitive, Some(Primitive::U32));
        assert_eq!(port.range.text(), "1..=65535");
        assert!(record.fields[1].bound.is_none());
    }

    #[test]
    fn newtype_range_may_sit_on_the_struct_or_its_field() {
        let on_struct: DeriveInput = parse_quote!(
            #[bounded(0..10)]
            struct Digit(u8);
        );
        let on_field: DeriveInput = parse_quote!(
            struct Digit(#[bounded(0..10)] u8);
        );
        for input in [on_struct, on_field] {
            assert!(matches!(model(&input).unwrap().shape, Shape::Newtype(_)));
        }
        let both: DeriveInput = parse_quote!(
            #[bounded(0..10)]
            struct Digit(#[bounded(0..9)] u8);
        );
        assert!(message(both).starts_with("duplicate range"));
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let input: DeriveInput = parse_quote! {
            struct S {
                #[bounded(10..=5)] a: u8,
                #[bounded(..=300)] b: u8,
                #[bounded(0..=1)] c: f64,
            }
        };
        let text = message(input);
        assert_eq!(text.matches(" | ").count(), 3, "{text}");
        assert!(text.contains("the range `10..=5` is empty"), "{text}");
        assert!(text.contains("`300` does not fit in `u8`"), "{text}");
        assert!(text.contains("write `0.0`"), "{text}");
    }

    #[test]
    fn non_literal_bounds_are_left_to_the_compiler() {
        let input: DeriveInput = parse_quote! {
            struct S { #[bounded(MIN..=Self::MAX)] a: u8, #[bounded(Celsius(0.0)..)] t: Celsius }
        };
        assert_eq!(message(input), "ok");
    }

    #[test]
    fn option_fields_bound_the_type_inside() {
        let input: DeriveInput = parse_quote! {
            struct S {
                #[bounded(1..=9)] a: Option<u8>,
                #[bounded(1..=9)] b: ::std::option::Option<u8>,
                #[bounded(1..=9)] c: core::option::Option<u8>,
                #[bounded(1..=9)] d: u8,
                #[bounded(C(0)..)] e: MyOption<u8>,
            }
        };
        let model = model(&input).unwrap();
        let Shape::Record(record) = &model.shape else {
            panic!("expected a record")
        };
        let optional: Vec<_> = record
            .fields
            .iter()
            .map(|f| f.bound.as_ref().unwrap())
            .map(|b| (b.optional, b.primitive))
            .collect();
        let u8 = || Some(Primitive::U8);
        assert_eq!(
            optional,
            [
                (true, u8()),
                (true, u8()),
                (true, u8()),
                (false, u8()),
                (false, None)
            ]
        );
        let newtype: DeriveInput = parse_quote!(
            #[bounded(1..=9)]
            struct Level(Option<u8>);
        );
        assert!(message(newtype).starts_with("a bounded newtype cannot wrap an `Option`"));
    }

    #[test]
    fn generic_parameters_may_not_reach_a_bounded_type() {
        let input: DeriveInput = parse_quote! {
            struct S<T, const N: usize> {
                #[bounded(0..=1)] ok: u8,
                #[bounded(0..=1)] bad: Option<T>,
                #[bounded(0..=1)] arr: [u8; N],
                other: T,
            }
        };
        let text = message(input);
        assert!(text.contains("parameter `T`"), "{text}");
        assert!(text.contains("parameter `N`"), "{text}");
        assert_eq!(text.matches(" | ").count(), 1, "{text}");
    }
}
