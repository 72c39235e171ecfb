//! Reading the derive input: the struct's `#[bounded(..)]` and `#[serde(..)]` attributes, its
//! shape, and each field's attributes (read by `common::bounded_attr`, shared with
//! `#[derive(Compact)]`).

use crate::common::bounded_attr::{self, Attrs, Site};
use crate::common::errors::Errors;
use quote::ToTokens;
use syn::{Attribute, Data, DeriveInput, Fields};

/// The derive input as read, before any check.
pub struct Input<'a> {
    pub input: &'a DeriveInput,
    /// The struct's own `#[bounded(..)]`.
    pub top: Attrs,
    /// The struct's own `#[serde(..)]` attributes.
    pub serde_attrs: Vec<Attribute>,
    pub shape: ParsedShape<'a>,
}

/// The struct's fields, each with what its attributes said.
pub enum ParsedShape<'a> {
    /// `struct S;`
    Unit,
    /// A single-field tuple struct: a newtype.
    Newtype(Field<'a>),
    /// Named fields, or a tuple struct with more than one field.
    Record { named: bool, fields: Vec<Field<'a>> },
}

/// One field and its attributes.
pub struct Field<'a> {
    pub field: &'a syn::Field,
    pub attrs: Attrs,
    pub serde_attrs: Vec<Attribute>,
}

/// Reads `input`; an enum or a union is an error (nothing else can be checked then), attribute
/// mistakes go to `errors`.
pub fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> syn::Result<Input<'a>> {
    let data = match &input.data {
        Data::Struct(data) => data,
        Data::Enum(data) => return Err(not_a_struct(data.enum_token, "an enum")),
        Data::Union(data) => return Err(not_a_struct(data.union_token, "a union")),
    };
    let top = bounded_attr::attrs(&input.attrs, Site::Struct, errors);
    let mut field = |field: &'a syn::Field| Field {
        field,
        attrs: bounded_attr::attrs(&field.attrs, Site::Field, errors),
        serde_attrs: serde_attrs(&field.attrs),
    };
    let shape = match &data.fields {
        Fields::Unit => ParsedShape::Unit,
        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
            ParsedShape::Newtype(field(&fields.unnamed[0]))
        }
        fields => ParsedShape::Record {
            named: matches!(fields, Fields::Named(_)),
            fields: fields.iter().map(field).collect(),
        },
    };
    Ok(Input {
        input,
        top,
        serde_attrs: serde_attrs(&input.attrs),
        shape,
    })
}

fn not_a_struct(token: impl ToTokens, what: &str) -> syn::Error {
    syn::Error::new_spanned(
        token,
        format!(
            "`#[derive(Bounded)]` works on structs, not on {what}: bound the fields of a \
             struct, or make a newtype such as `#[bounded(1..=10)] struct Level(u8);`"
        ),
    )
}

/// The `#[serde(..)]` attributes among `attrs`.
pub fn serde_attrs(attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .cloned()
        .collect()
}

/// Whether the attribute's arguments name `word` (`#[serde(try_from = "..")]`).
pub fn mentions(attr: &syn::Attribute, word: &str) -> bool {
    match &attr.meta {
        syn::Meta::List(list) => list
            .tokens
            .clone()
            .into_iter()
            .any(|tree| matches!(tree, proc_macro2::TokenTree::Ident(ident) if ident == word)),
        _ => false,
    }
}
