//! Checking the model and deciding each field's column.

use super::model::{Container, Data, Field, TypeClass};
use crate::common::bounded_attr::check_range;
use crate::common::errors::Errors;
use crate::common::primitive::Primitive;
use crate::common::range::RangeSpec;

/// How one field is stored in `<Name>Vec`.
pub enum Column {
    /// `Vec<T>` (numbers at full width, `char`); `bounds` for a bounded float (checked, not
    /// packed).
    Full { bounds: Option<Box<RangeSpec>> },
    /// A bit-packed integer: offset from the lower bound of a range, or from the smallest value
    /// of `bits = N`.
    Packed { int: Primitive, width: Width },
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

/// Methods a per-field reader would be hidden behind: `StructVec`'s own (the readers are
/// reached through `Deref`, so these win) and those of the prelude traits it implements.
const RESERVED: &[&str] = &[
    "columns",
    "get_into",
    "clone",
    "eq",
    "ne",
    "extend",
    "into_iter",
    "deref",
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
                    "a field named `{name}` would clash with `{}Vec::{name}` (its reader \
                     `rows.{name}(i)` would call that method instead); rename the field",
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
    // The checks `#[derive(Bounded)]` makes on a range, with its messages.
    let range_ok = match (&field.class, &field.range) {
        (TypeClass::Unsupported(_), _) | (_, None) => true,
        (_, Some(range)) => check_range(range, &field.ty, &unraw(&field.ident), errors),
    };
    let mut ok = range_ok;
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
        // What a column needs beyond that.
        if range_ok && !matches!(field.class, TypeClass::Int(_) | TypeClass::Float(_)) {
            fail(
                errors,
                syn::Error::new_spanned(
                    &range.expr,
                    format!(
                        "`#[derive(Compact)]` honours `#[bounded(..)]` on integer and float \
                         fields only; this field is {}: remove the range",
                        describe(&field.class)
                    ),
                ),
            );
        }
    }
    if let Some((lit, bits)) = &field.bits {
        match &field.class {
            TypeClass::Int(int) => {
                let width = int.bits();
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
                int: *int,
                width: Width::Range(Box::new(range.clone())),
            },
            (None, Some((_, bits))) => {
                let (min, max) = if int.is_signed() {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, ((1u128 << bits) - 1) as i128)
                };
                Column::Packed {
                    int: *int,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::parse;

    fn errors_of(item: syn::DeriveInput) -> String {
        match plan_of(item) {
            Ok(_) => String::from("no error"),
            Err(errors) => errors,
        }
    }

    fn plan_of(item: syn::DeriveInput) -> Result<Vec<Column>, String> {
        let mut errors = Errors::new();
        let container = parse::container(&item, &mut errors);
        plan(&container, errors)
            .map(|plan| plan.columns)
            .map_err(|error| {
                error
                    .into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn each_field_kind_gets_its_column() {
        let columns = plan_of(syn::parse_quote! {
            struct Row {
                a: u64,
                #[bounded(-5..5)] b: i8,
                #[compact(bits = 3)] c: u16,
                d: bool,
                e: String,
                #[compact(intern)] f: String,
                g: Kind,
                #[bounded(0.0..=1.0)] h: f32,
                i: char,
            }
        })
        .unwrap();
        let kinds: Vec<&str> = columns
            .iter()
            .map(|c| match c {
                Column::Full { bounds: None } => "full",
                Column::Full { bounds: Some(_) } => "full+bounds",
                Column::Packed {
                    width: Width::Range(_),
                    ..
                } => "packed-range",
                Column::Packed {
                    width: Width::Bits { bits, min, max },
                    ..
                } => {
                    assert_eq!((*bits, *min, *max), (3, 0, 7));
                    "packed-bits"
                }
                Column::Bitmap => "bitmap",
                Column::Arena => "arena",
                Column::Interned => "interned",
                Column::Nested => "nested",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "full",
                "packed-range",
                "packed-bits",
                "bitmap",
                "arena",
                "interned",
                "nested",
                "full+bounds",
                "full"
            ]
        );
    }

    #[test]
    fn signed_bits_cover_the_twos_complement_range() {
        let columns = plan_of(syn::parse_quote! {
            struct Row { #[compact(bits = 4)] d: i32 }
        })
        .unwrap();
        let Column::Packed {
            width: Width::Bits { min, max, .. },
            ..
        } = &columns[0]
        else {
            panic!("expected a packed column");
        };
        assert_eq!((*min, *max), (-8, 7));
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let errors = errors_of(syn::parse_quote! {
            #[compact(max_size = 8, bogus)]
            struct Row {
                #[compact(bits = 0)] a: u8,
                #[compact(bits = 9)] b: u8,
                #[compact(bits = 4)] c: f64,
                #[compact(intern)] d: u32,
                e: Vec<u8>,
                f: &'static str,
                len: u8,
            }
        });
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 8, "{errors}");
        assert!(lines[0].starts_with("unknown option `bogus`"));
        assert!(lines[1].contains("`bits = 0` stores nothing"));
        assert!(lines[2].contains("wider than the field's type `u8` (8 bits)"));
        assert!(lines[3].contains("cannot apply to a float"));
        assert!(lines[4].contains("applies to `String` fields only"));
        assert!(lines[5].contains("cannot store `Vec<u8>`"));
        assert!(lines[6].contains("`&'static str`") && lines[6].contains("#[compact(intern)]"));
        assert!(lines[7].contains("would clash with `RowVec::len`"));
    }

    #[test]
    fn bounded_ranges_get_the_messages_of_derive_bounded() {
        let errors = errors_of(syn::parse_quote! {
            struct Row {
                #[bounded(0..=300)] n: u8,
                #[bounded(1..=10)] name: String,
                #[bounded(0..=1)] #[bounded(0..=2)] twice: u8,
            }
        });
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 3, "{errors}");
        let too_big = "the bound `300` does not fit in `u8` (0..=255), the type of `n`";
        assert!(lines.iter().any(|l| l.starts_with(too_big)), "{errors}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("`name` cannot be bounded: `String`"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("duplicate range: field `twice`"))
        );
    }

    #[test]
    fn reserved_names_and_shapes_are_refused() {
        let errors = errors_of(syn::parse_quote! { struct Q { len: u8 } });
        assert!(errors.contains("would clash with `QVec::len`"));
        let errors = errors_of(syn::parse_quote! { struct T(u8); });
        assert!(errors.contains("named fields"));
        let errors = errors_of(syn::parse_quote! { enum E { A, B(u8) } });
        assert!(errors.contains("variant `B` carries data"));
        let errors = errors_of(syn::parse_quote! { union U { a: u8 } });
        assert!(errors.contains("cannot be used on a union"));
        assert!(plan_of(syn::parse_quote! { enum E { A, B } }).is_ok());
    }
}
