//! Reading the item and its `#[compact(..)]` and `#[bounded(..)]` attributes into the model.

use super::model::{Container, Data, Field, Options, TypeClass};
use crate::common::bounded_attr::{self, Site};
use crate::common::crate_path::{CratePath, parse_crate_option};
use crate::common::errors::Errors;
use crate::common::options::{path_text, set_once, unknown};
use crate::common::primitive::Primitive;
use crate::common::range::type_text;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, DeriveInput, Fields, GenericArgument, Ident, LitInt, PathArguments, Type};

/// Every supported field type, for messages.
pub const SUPPORTED: &str = "integers (`u8`..`u128`, `i8`..`i128`, `usize`, `isize`), `f32`, \
    `f64`, `bool`, `char`, `String` (add `#[compact(intern)]` for values that repeat), and \
    fieldless enums or structs that `#[derive(Compact)]` themselves";

/// Reads the whole item, recording every error in `errors` (the model is still returned so
/// that validation can report its own findings alongside).
pub fn container(input: &DeriveInput, errors: &mut Errors) -> Container {
    let options = options(&input.attrs, errors);
    if input.generics.lt_token.is_some() || input.generics.where_clause.is_some() {
        errors.push_spanned(
            &input.generics,
            "`#[derive(Compact)]` does not support generic types: a column layout is fixed at \
             compile time, so write the struct with concrete field types",
        );
    }
    let data = match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Data::Struct(
                named
                    .named
                    .iter()
                    .filter_map(|f| field(f, errors))
                    .collect(),
            ),
            other => {
                errors.push_spanned(
                    other,
                    "`#[derive(Compact)]` needs a struct with named fields: each field becomes a \
                     named column (`rows.field(i)`)",
                );
                Data::Struct(Vec::new())
            }
        },
        syn::Data::Enum(data) => {
            if data.variants.is_empty() {
                errors.push_spanned(
                    &input.ident,
                    "`#[derive(Compact)]` on an enum without variants: there is no value to store",
                );
            }
            for variant in &data.variants {
                if !matches!(variant.fields, Fields::Unit) {
                    errors.push_spanned(
                        &variant.fields,
                        format!(
                            "`#[derive(Compact)]` stores fieldless enums only (as their variant \
                             index); variant `{}` carries data",
                            variant.ident
                        ),
                    );
                }
            }
            Data::Enum(data.variants.iter().map(|v| v.ident.clone()).collect())
        }
        syn::Data::Union(data) => {
            errors.push_spanned(
                data.union_token,
                "`#[derive(Compact)]` cannot be used on a union: only one of its fields is valid \
                 at a time, so it has no columns; use a struct or a fieldless enum",
            );
            Data::Struct(Vec::new())
        }
    };
    Container {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        options,
        data,
    }
}

/// Everything the `#[compact(..)]` attributes of the type or of one field said.
#[derive(Default)]
struct CompactAttrs {
    /// On the type: `crate = path`.
    krate: Option<CratePath>,
    /// On the type: `max_size = N`.
    max_size: Option<(LitInt, usize)>,
    /// On a field: `bits = N`.
    bits: Option<(LitInt, u32)>,
    /// On a field: `intern`.
    intern: Option<Ident>,
}

/// Reads every `#[compact(..)]` in `attrs`, written at `site`; mistakes go to `errors`.
fn compact_attrs(attrs: &[Attribute], site: Site, errors: &mut Errors) -> CompactAttrs {
    let mut out = CompactAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("compact")) {
        let result = attr.parse_nested_meta(|meta| {
            let span = meta.path.span();
            let name = path_text(&meta.path);
            match (name.as_str(), site) {
                ("crate", Site::Struct) => {
                    set_once(&mut out.krate, parse_crate_option(&meta)?, "crate", span)
                }
                ("max_size", Site::Struct) => {
                    let lit: LitInt = meta.value()?.parse()?;
                    let value = lit.base10_parse::<usize>()?;
                    set_once(&mut out.max_size, (lit, value), "max_size", span)
                }
                ("bits", Site::Field) => {
                    let lit: LitInt = meta.value()?.parse()?;
                    let value = lit.base10_parse::<u32>()?;
                    set_once(&mut out.bits, (lit, value), "bits", span)
                }
                ("intern", Site::Field) => {
                    set_once(&mut out.intern, Ident::new("intern", span), "intern", span)
                }
                ("bits" | "intern", Site::Struct) => Err(syn::Error::new(
                    span,
                    format!("`{name}` belongs on a field, not on the type"),
                )),
                ("crate" | "max_size", Site::Field) => Err(syn::Error::new(
                    span,
                    format!("`{name}` belongs on the type, not on a field"),
                )),
                (_, Site::Struct) => Err(unknown(
                    span,
                    name,
                    "`#[compact(..)]` on the type",
                    "`max_size = N` or `crate = path`",
                )),
                (_, Site::Field) => Err(unknown(
                    span,
                    name,
                    "`#[compact(..)]` on a field",
                    "`bits = N` or `intern`",
                )),
            }
        });
        errors.ok(result);
    }
    out
}

fn options(attrs: &[Attribute], errors: &mut Errors) -> Options {
    let CompactAttrs {
        krate, max_size, ..
    } = compact_attrs(attrs, Site::Struct, errors);
    // `#[bounded(crate = path)]` serves both derives: a struct deriving `Bounded` and `Compact`
    // names its renamed keel once. Its mistakes are `#[derive(Bounded)]`'s to report.
    let krate = krate.or_else(|| {
        bounded_attr::attrs(attrs, Site::Struct, &mut Errors::new())
            .krate
            .map(|(_, path)| path)
    });
    Options {
        krate: krate.unwrap_or_else(|| CratePath::default_at(proc_macro2::Span::call_site())),
        max_size,
    }
}

fn field(field: &syn::Field, errors: &mut Errors) -> Option<Field> {
    let ident = field.ident.clone()?;
    let CompactAttrs { bits, intern, .. } = compact_attrs(&field.attrs, Site::Field, errors);
    let bounded = bounded_attr::attrs(&field.attrs, Site::Field, errors);
    let name = ident.unraw().to_string();
    let range =
        bounded_attr::single_range(&bounded.ranges, &format!("field `{name}`"), errors).cloned();
    Some(Field {
        ident,
        vis: field.vis.clone(),
        class: classify(&field.ty),
        ty: field.ty.clone(),
        bits,
        intern,
        range,
    })
}

fn is_named(ty: &Type, name: &str, std_module: &str) -> bool {
    let Type::Path(path) = ty else { return false };
    if path.qself.is_some() {
        return false;
    }
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let plain = path.path.segments.iter().all(|s| s.arguments.is_empty());
    plain
        && match segments.as_slice() {
            [only] => only == name,
            [krate, module, last] => {
                (krate == "std" || krate == "core" || krate == "alloc")
                    && module == std_module
                    && last == name
            }
            _ => false,
        }
}

fn is_str(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident("str"))
}

const STRING_HINT: &str = "store text as `String`: it lives in one arena per container (no \
    allocation per row); add `#[compact(intern)]` for values that repeat, like units or labels";

/// Decides from the syntax what a field's type is.
pub fn classify(ty: &Type) -> TypeClass {
    match ty {
        Type::Group(group) => return classify(&group.elem),
        Type::Paren(paren) => return classify(&paren.elem),
        Type::Reference(reference) if is_str(&reference.elem) => {
            return TypeClass::Unsupported(format!(
                "`#[derive(Compact)]` cannot store `{}` (a borrowed string): {STRING_HINT}",
                type_text(ty)
            ));
        }
        _ => {}
    }
    match Primitive::of(ty) {
        Some(Primitive::Bool) => return TypeClass::Bool,
        Some(Primitive::Char) => return TypeClass::Char,
        Some(float) if float.is_float() => return TypeClass::Float(float),
        Some(int) => return TypeClass::Int(int),
        None => {}
    }
    if is_named(ty, "String", "string") {
        return TypeClass::String;
    }
    let text = type_text(ty);
    if let Type::Path(path) = ty
        && path.qself.is_none()
    {
        let last = path.path.segments.last();
        let args = last.map(|s| &s.arguments);
        match args {
            None | Some(PathArguments::None) => {
                if is_str(ty) {
                    return TypeClass::Unsupported(format!(
                        "`#[derive(Compact)]` cannot store `str`: {STRING_HINT}"
                    ));
                }
                return TypeClass::Nested;
            }
            Some(PathArguments::AngleBracketed(generic)) => {
                let holds_str = generic
                    .args
                    .iter()
                    .any(|arg| matches!(arg, GenericArgument::Type(inner) if is_str(inner)));
                if holds_str {
                    return TypeClass::Unsupported(format!(
                        "`#[derive(Compact)]` cannot store `{text}`: {STRING_HINT}"
                    ));
                }
            }
            Some(PathArguments::Parenthesized(_)) => {}
        }
    }
    TypeClass::Unsupported(format!(
        "`#[derive(Compact)]` cannot store `{text}` in a column; supported field types are \
         {SUPPORTED}"
    ))
}
