//! `#[bounded(..)]`, read and checked in one place for both derives that honour it
//! (`#[derive(Bounded)]` and `#[derive(Compact)]`), so a mistake gets the same message whichever
//! derive reports it.
//!
//! The attribute takes a comma-separated list of items: a Rust range (`1..=65535`, `..50`,
//! `0.0..`) and, on the struct, `crate = path`. The same attribute may be split over several
//! `#[bounded(..)]` lines; an item given twice is an error.

use crate::common::crate_path::{self, CratePath};
use crate::common::errors::Errors;
use crate::common::options;
use crate::common::primitive::Primitive;
use crate::common::range::RangeSpec;
use crate::common::range::{ConstValue, expr_text};
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Meta, Token, Type};

/// Where an attribute was written, which decides the options it may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// On the struct itself.
    Struct,
    /// On a field.
    Field,
}

/// Everything the `#[bounded(..)]` attributes of one item or field said.
#[derive(Default)]
pub struct Attrs {
    /// Every range written, in order (more than one is an error reported by validation).
    pub ranges: Vec<RangeSpec>,
    /// `crate = path`, with the span of the `crate` keyword.
    pub krate: Option<(Span, CratePath)>,
    /// `deserialize`: generate a `Deserialize` that checks every bound (feature `serde`).
    pub deserialize: Option<Span>,
}

enum Item {
    Range(Box<RangeSpec>),
    Crate(Token![crate], CratePath),
    Deserialize(Span),
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            let keyword: Token![crate] = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(Self::Crate(keyword, crate_path::parse_value(input)?));
        }
        if input.peek(syn::Ident) && (input.peek2(Token![,]) || input.peek2(syn::parse::End)) {
            let fork = input.fork();
            let word: syn::Ident = fork.parse()?;
            if word == "deserialize" {
                input.parse::<syn::Ident>()?;
                return Ok(Self::Deserialize(word.span()));
            }
        }
        // `name`, `name = ..` and `name(..)` read as options, not ranges; none but `crate`
        // exists.
        let expr: Expr = input.parse()?;
        let option = match &expr {
            Expr::Path(path) => path.path.get_ident(),
            Expr::Assign(assign) => match &*assign.left {
                Expr::Path(path) => path.path.get_ident(),
                _ => None,
            },
            Expr::Call(call) => match &*call.func {
                Expr::Path(path) => path.path.get_ident(),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = option {
            return Err(options::unknown(
                name.span(),
                name,
                "`#[bounded(..)]`",
                "a range such as `1..=10`, `0..100`, `5..`, `..=50` or `..50`, and on the struct \
                 `crate = path` and `deserialize`",
            ));
        }
        RangeSpec::from_expr(expr).map(|range| Self::Range(Box::new(range)))
    }
}

/// Reads every `#[bounded(..)]` in `attrs`, recording mistakes in `errors`.
pub fn attrs(attrs: &[Attribute], site: Site, errors: &mut Errors) -> Attrs {
    let mut out = Attrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("bounded")) {
        let list = match &attr.meta {
            Meta::List(list) if !list.tokens.is_empty() => list,
            _ => {
                errors.push_spanned(
                    attr,
                    "`#[bounded]` needs a range: write `#[bounded(1..=10)]` (or `a..b`, `a..`, \
                     `..=b`, `..b`)",
                );
                continue;
            }
        };
        let items = match list.parse_args_with(Punctuated::<Item, Token![,]>::parse_terminated) {
            Ok(items) => items,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for item in items {
            match item {
                Item::Range(range) => out.ranges.push(*range),
                Item::Crate(keyword, _) if site == Site::Field => errors.push(syn::Error::new(
                    keyword.span(),
                    "`crate = path` belongs on the struct, not on a field",
                )),
                Item::Deserialize(span) if site == Site::Field => errors.push(syn::Error::new(
                    span,
                    "`deserialize` belongs on the struct, not on a field: \
                     `#[bounded(deserialize)]` above it",
                )),
                Item::Deserialize(span) => {
                    errors.ok(options::set_once(
                        &mut out.deserialize,
                        span,
                        "deserialize",
                        span,
                    ));
                }
                Item::Crate(keyword, path) => {
                    let span = keyword.span();
                    errors.ok(options::set_once(
                        &mut out.krate,
                        (span, path),
                        "crate",
                        span,
                    ));
                }
            }
        }
    }
    out
}

/// The one range of a field (or newtype), from every `#[bounded(..)]` range written on it; each
/// extra range is an error naming `name` ("field `port`", "the newtype `Port`").
pub fn single_range<'a>(
    ranges: impl IntoIterator<Item = &'a RangeSpec>,
    name: &str,
    errors: &mut Errors,
) -> Option<&'a RangeSpec> {
    let mut ranges = ranges.into_iter();
    let first = ranges.next();
    for extra in ranges {
        errors.push_spanned(
            &extra.expr,
            format!("duplicate range: {name} already has bounds; keep one `#[bounded(..)]`"),
        );
    }
    first
}

/// Types `#[bounded(..)]` can never apply to: owned std types that are not `Copy` (a bound is
/// checked on a copy of the value, and its limits are constants of the type).
const UNBOUNDABLE: &[&str] = &[
    "String", "str", "Vec", "VecDeque", "Box", "Rc", "Arc", "Cow", "HashMap", "BTreeMap",
    "HashSet", "BTreeSet", "PathBuf", "Path", "OsString", "OsStr", "CString", "CStr",
];

/// The types a bounded field can have, for messages.
pub const BOUNDABLE: &str = "an integer (`u8`..`u128`, `i8`..`i128`, `usize`, `isize`), a \
    float (`f32`, `f64`), `char`, or a `Copy + PartialOrd + Debug` type of your own, such as a \
    `#[derive(Bounded)]` newtype";

/// The std type `ty` names when it is one a range cannot bound (`String`, `&str`, `Vec<T>`, ...).
fn unboundable(ty: &Type) -> Option<String> {
    match ty {
        Type::Reference(reference) => unboundable(&reference.elem),
        Type::Group(group) => unboundable(&group.elem),
        Type::Paren(paren) => unboundable(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?.ident.to_string();
            UNBOUNDABLE.contains(&last.as_str()).then_some(last)
        }
        Type::Slice(_) => Some("a slice".to_owned()),
        _ => None,
    }
}

/// Checks `range`, written on `name` of type `ty`: the range bounds something, is not empty, its
/// literal bounds are values of the type, and the type is one a range can bound. Returns whether
/// it is valid; every mistake goes to `errors`, spanned at the offending token.
pub fn check_range(range: &RangeSpec, ty: &Type, name: &str, errors: &mut Errors) -> bool {
    if let Some(std_type) = unboundable(ty) {
        let length = if std_type == "String" || std_type == "str" {
            "; to limit a string's length, check it where the value is built"
        } else {
            ""
        };
        errors.push_spanned(
            ty,
            format!(
                "`{name}` cannot be bounded: `{}` is not a type a range can check. A \
                 `#[bounded(..)]` field is {BOUNDABLE}{length}",
                crate::common::range::type_text(ty)
            ),
        );
        return false;
    }
    if range.lo.is_none() && range.hi.is_none() {
        errors.push_spanned(
            &range.expr,
            "the range `..` bounds nothing: give a lower bound, an upper bound or both",
        );
        return false;
    }
    let mut ok = true;
    if let Err(error) = range.check_not_empty() {
        errors.push(error);
        ok = false;
    }
    let primitive = Primitive::number(ty);
    for expr in range.lo.iter().chain(&range.hi) {
        if let Err(error) = check_literal(expr, primitive, name) {
            errors.push(error);
            ok = false;
        }
    }
    ok
}

/// A literal bound must be a value of the bounded primitive type; NaN is never a bound.
fn check_literal(expr: &Expr, primitive: Option<Primitive>, name: &str) -> syn::Result<()> {
    if let Expr::Path(path) = expr {
        let last = path.path.segments.last().map(|s| s.ident.to_string());
        if path.path.segments.len() == 2 && last.as_deref() == Some("NAN") {
            return Err(syn::Error::new_spanned(
                expr,
                "NaN cannot be a bound: no value compares with it",
            ));
        }
    }
    let (Some(primitive), Some(value)) = (primitive, ConstValue::eval(expr)) else {
        return Ok(());
    };
    let text = expr_text(expr);
    let is_float = primitive.is_float();
    if let Some(suffix) = value.suffix()
        && suffix != primitive.name()
    {
        return Err(syn::Error::new_spanned(
            expr,
            format!("the bound `{text}` has type `{suffix}`, but `{name}` has type `{primitive}`"),
        ));
    }
    match value {
        ConstValue::Float(..) if !is_float => Err(syn::Error::new_spanned(
            expr,
            format!(
                "the bound `{text}` is a float, but `{name}` has type `{primitive}`: write \
                 an integer"
            ),
        )),
        ConstValue::Int(v, _) if is_float => Err(syn::Error::new_spanned(
            expr,
            format!(
                "the bound `{text}` is an integer, but `{name}` has type `{primitive}`: \
                 write `{v}.0`"
            ),
        )),
        ConstValue::Int(v, _) => match primitive.int_range() {
            Some((min, max)) if v < min || v > max => Err(syn::Error::new_spanned(
                expr,
                format!(
                    "the bound `{text}` does not fit in `{primitive}` ({min}..={max}), the \
                     type of `{name}`: write a bound within that range, or give `{name}` a \
                     wider type"
                ),
            )),
            _ => Ok(()),
        },
        ConstValue::Float(..) => Ok(()),
    }
}
