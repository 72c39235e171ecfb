//! Checking the model and deciding each field's column.

use super::model::{Container, Data, Field, TypeClass};
use crate::common::errors::Errors;
use crate::common::range::RangeSpec;

/// How one field is stored in `<Name>Vec`.
pub enum Column {
    /// `Vec<T>` (numbers at full width, `char`); `bounds` for a bounded float (checked, not
    /// packed).
    Full { bounds: Option<Box<RangeSpec>> },
    /// A bit-packed integer: offset from the lower bound of a range, or from the smallest value
    /// of `bits = N`.
    Packed { int: String, width: Width },
    /// `bool` as a bitmap.
    Bitmap,
    /// `String` in the container's arena.
    Arena,
    /// `#[compact(intern)] String`.
    Interned,
    /// A type implementing `keel::Compact`.
    Nested,
}

/// Where a packed field's width comes from.
pub enum Width {
    Range(Box<RangeSpec>),
    /// `bits = N`: the smallest and largest storable value.
    Bits {
        bits: u32,
        min: i128,
        max: i128,
    },
}

/// What expansion needs: one column per field, or `None` for an enum.
pub struct Plan {
    pub columns: Vec<Column>,
}

/// Methods of `<Name>Vec` that a per-field getter must not shadow.
const RESERVED: &[&str] = &[
    "new",
    "with_capacity",
    "len",
    "is_empty",
    "push",
    "try_extend",
    "get",
    "set",
    "pop",
    "swap_remove",
    "truncate",
    "clear",
    "reserve",
    "shrink_to_fit",
    "memory_bytes",
    "iter",
];

/// Validates every field, adding its mistakes to those `errors` already holds, and returns the
/// plan when there are none at all.
pub fn plan(container: &Container, mut errors: Errors) -> syn::Result<Plan> {
    let Data::Struct(fields) = &container.data else {
        errors.finish()?;
        return Ok(Plan {
            columns: Vec::new(),
        });
    };
    let names: Vec<String> = fields.iter().map(|f| unraw(&f.ident)).collect();
    let mut columns = Vec::new();
    for field in fields {
        let name = unraw(&field.ident);
        if RESERVED.contains(&name.as_str()) {
            errors.push_spanned(
                &field.ident,
                format!(
                    "a field named `{name}` would clash with `{}Vec::{name}`; rename the field",
                    container.ident
                ),
            );
        }
        if let Some(base) = name.strip_suffix("_column")
            && names.iter().any(|n| n == base)
        {
            errors.push_spanned(
                &field.ident,
                format!(
                    "a field named `{name}` would clash with the column view of field `{base}` \
                     (`{}Vec::{name}`); rename the field",
                    container.ident
                ),
            );
        }
        if let Some(column) = column(field, &mut errors) {
            columns.push(column);
        }
    }
    errors.finish()?;
    Ok(Plan { columns })
}

fn unraw(ident: &syn::Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}

fn column(field: &Field, errors: &mut Errors) -> Option<Column> {
    let mut ok = true;
    let mut fail = |errors: &mut Errors, error: syn::Error| {
        errors.push(error);
        ok = false;
    };
    if let TypeClass::Unsupported(message) = &field.class {
        fail(errors, syn::Error::new_spanned(&field.ty, message));
        return None;
    }
    // `intern` applies to `String` only.
    if let Some(intern) = &field.intern
        && !matches!(field.class, TypeClass::String)
    {
        fail(
            errors,
            syn::Error::new(
                intern.span(),
                "`#[compact(intern)]` applies to `String` fields only",
            ),
        );
    }
    if let Some(range) = &field.range {
        match &field.class {
            TypeClass::Int(_) | TypeClass::Float(_) => {
                if let Err(error) = range.check_not_empty() {
                    fail(errors, error);
                }
            }
            other => fail(
                errors,
                syn::Error::new_spanned(
                    &range.expr,
                    format!(
                        "`#[bounded(..)]` applies to integer and float fields; this field is {}",
                        describe(other)
                    ),
                ),
            ),
        }
    }
    if let Some((lit, bits)) = &field.bits {
        match &field.class {
            TypeClass::Int(int) => {
                let width = TypeClass::int_bits(int);
                if *bits == 0 {
                    fail(
                        errors,
                        syn::Error::new(
                            lit.span(),
                            "`bits = 0` stores nothing: a field needs at least 1 bit",
                        ),
                    );
                } else if *bits > width {
                    fail(
                        errors,
                        syn::Error::new(
                            lit.span(),
                            format!(
                                "`bits = {bits}` is wider than the field's type `{int}` \
                                 ({width} bits)"
                            ),
                        ),
                    );
                } else if *bits > 64 {
                    fail(
                        errors,
                        syn::Error::new(
                            lit.span(),
                            format!("`bits = {bits}`: a packed column holds at most 64 bits"),
                        ),
                    );
                }
                if field.range.is_some() {
                    fail(
                        errors,
                        syn::Error::new(
                            lit.span(),
                            "`bits = N` and `#[bounded(..)]` on the same field: the range already \
                             decides the width; keep one of them",
                        ),
                    );
                }
            }
            TypeClass::Float(float) => fail(
                errors,
                syn::Error::new(
                    lit.span(),
                    format!(
                        "`bits` cannot apply to a float: `{float}` is stored at full width; \
                         `#[compact(bits = N)]` narrows integer fields only"
                    ),
                ),
            ),
            other => fail(
                errors,
                syn::Error::new(
                    lit.span(),
                    format!(
                        "`bits` applies to integer fields only; this field is {}",
                        describe(other)
                    ),
                ),
            ),
        }
    }
    if !ok {
        return None;
    }
    Some(match &field.class {
        TypeClass::Int(int) => match (&field.range, &field.bits) {
            (Some(range), _) => Column::Packed {
                int: int.clone(),
                width: Width::Range(Box::new(range.clone())),
            },
            (None, Some((_, bits))) => {
                let (min, max) = if TypeClass::is_signed(int) {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, ((1u128 << bits) - 1) as i128)
                };
                Column::Packed {
                    int: int.clone(),
                    width: Width::Bits {
                        bits: *bits,
                        min,
                        max,
                    },
                }
            }
            (None, None) => Column::Full { bounds: None },
        },
        TypeClass::Float(_) => Column::Full {
            bounds: field.range.clone().map(Box::new),
        },
        TypeClass::Char => Column::Full { bounds: None },
        TypeClass::Bool => Column::Bitmap,
        TypeClass::String if field.intern.is_some() => Column::Interned,
        TypeClass::String => Column::Arena,
        TypeClass::Nested => Column::Nested,
        TypeClass::Unsupported(_) => return None,
    })
}

fn describe(class: &TypeClass) -> &'static str {
    match class {
        TypeClass::Int(_) => "an integer",
        TypeClass::Float(_) => "a float",
        TypeClass::Bool => "a `bool` (stored in 1 bit already)",
        TypeClass::Char => "a `char`",
        TypeClass::String => "a `String`",
        TypeClass::Nested => "a nested `Compact` type (stored in its own columns)",
        TypeClass::Unsupported(_) => "unsupported",
    }
}
