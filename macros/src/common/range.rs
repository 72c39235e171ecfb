//! Rust range syntax as written in `#[bounded(..)]`: `a..=b`, `a..b`, `a..`, `..=b`, `..b`.
//!
//! Bounds stay expressions (consts, `i64::MAX`, `-5`, `0.0` all work); [`ConstValue::eval`]
//! additionally evaluates the literal cases so macros can reject empty ranges and wrongly typed
//! literals at compile time.

use crate::common::primitive::Primitive;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprRange, RangeLimits};

/// A parsed range: optional bounds and whether the upper one is inclusive.
#[derive(Clone)]
pub struct RangeSpec {
    /// The lower bound, if written (`a` in `a..=b`).
    pub lo: Option<Expr>,
    /// The upper bound, if written.
    pub hi: Option<Expr>,
    /// `..=` (true) or `..` (false).
    pub inclusive: bool,
    /// The whole range expression, for spans.
    pub expr: ExprRange,
}

impl Parse for RangeSpec {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let expr: Expr = input.parse()?;
        Self::from_expr(expr)
    }
}

impl RangeSpec {
    /// Interprets an expression as a range, or explains what was expected.
    pub fn from_expr(expr: Expr) -> syn::Result<Self> {
        match expr {
            Expr::Range(range) => {
                let inclusive = matches!(range.limits, RangeLimits::Closed(_));
                if inclusive && range.end.is_none() {
                    return Err(syn::Error::new_spanned(
                        &range,
                        "an inclusive range needs an upper bound: write `a..=b` or `a..`",
                    ));
                }
                Ok(Self {
                    lo: range.start.as_deref().cloned(),
                    hi: range.end.as_deref().cloned(),
                    inclusive,
                    expr: range,
                })
            }
            Expr::Paren(paren) => Self::from_expr(*paren.expr),
            other => Err(syn::Error::new_spanned(
                &other,
                "expected a range such as `1..=10`, `0..100`, `5..`, `..=50` or `..50`",
            )),
        }
    }

    /// The range's source text, normalised (`1..=65535`), for messages.
    pub fn text(&self) -> String {
        let lo = self.lo.as_ref().map(expr_text).unwrap_or_default();
        let hi = self.hi.as_ref().map(expr_text).unwrap_or_default();
        let op = if self.inclusive { "..=" } else { ".." };
        format!("{lo}{op}{hi}")
    }

    /// When both bounds are literals: an error if the range can hold no value
    /// (`10..=5`, `5..5`), spanned at the range.
    pub fn check_not_empty(&self) -> syn::Result<()> {
        let (Some(lo), Some(hi)) = (&self.lo, &self.hi) else {
            return Ok(());
        };
        let (Some(lo_v), Some(hi_v)) = (ConstValue::eval(lo), ConstValue::eval(hi)) else {
            return Ok(());
        };
        let empty = match lo_v.partial_cmp_value(&hi_v) {
            Some(std::cmp::Ordering::Greater) => true,
            Some(std::cmp::Ordering::Equal) => !self.inclusive,
            Some(std::cmp::Ordering::Less) => false,
            None => false,
        };
        if empty {
            return Err(syn::Error::new_spanned(
                &self.expr,
                format!(
                    "the range `{}` is empty: no value can satisfy it",
                    self.text()
                ),
            ));
        }
        Ok(())
    }
}

/// Source text of an expression with token spacing removed (`- 5` becomes `-5`).
pub fn expr_text(expr: &Expr) -> String {
    let text = expr.to_token_stream().to_string();
    text.replace(' ', "")
}

/// A bound evaluated at macro-expansion time.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstValue {
    /// An integer literal (with its sign), and its type suffix if any (`5u8`).
    Int(i128, Option<String>),
    /// A float literal and its suffix if any.
    Float(f64, Option<String>),
}

impl ConstValue {
    /// Evaluates literals, negated literals, parenthesised literals and the `MIN`/`MAX`
    /// constants of primitive integer types. Anything else (a user `const`) is `None`.
    pub fn eval(expr: &Expr) -> Option<Self> {
        match expr {
            Expr::Lit(lit) => match &lit.lit {
                syn::Lit::Int(int) => {
                    let suffix = (!int.suffix().is_empty()).then(|| int.suffix().to_owned());
                    int.base10_parse::<i128>()
                        .ok()
                        .map(|v| Self::Int(v, suffix))
                }
                syn::Lit::Float(float) => {
                    let suffix = (!float.suffix().is_empty()).then(|| float.suffix().to_owned());
                    float
                        .base10_parse::<f64>()
                        .ok()
                        .map(|v| Self::Float(v, suffix))
                }
                _ => None,
            },
            Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
                match Self::eval(&unary.expr)? {
                    Self::Int(v, s) => Some(Self::Int(-v, s)),
                    Self::Float(v, s) => Some(Self::Float(-v, s)),
                }
            }
            Expr::Paren(paren) => Self::eval(&paren.expr),
            Expr::Group(group) => Self::eval(&group.expr),
            Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 2 => {
                let ty = path.path.segments[0].ident.to_string();
                let which = path.path.segments[1].ident.to_string();
                let (min, max) = Primitive::from_name(&ty)?.int_range()?;
                match which.as_str() {
                    "MIN" => Some(Self::Int(min, Some(ty))),
                    "MAX" => Some(Self::Int(max, Some(ty))),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Compares two evaluated bounds (ints and floats compare by value).
    pub fn partial_cmp_value(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.as_f64_or_int().partial_cmp(&other.as_f64_or_int())
    }

    fn as_f64_or_int(&self) -> Number {
        match self {
            Self::Int(v, _) => Number::Int(*v),
            Self::Float(v, _) => Number::Float(*v),
        }
    }

    /// The literal's type suffix, if written.
    pub fn suffix(&self) -> Option<&str> {
        match self {
            Self::Int(_, s) | Self::Float(_, s) => s.as_deref(),
        }
    }
}

#[derive(PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.partial_cmp(b),
            (Self::Int(a), Self::Float(b)) => (*a as f64).partial_cmp(b),
            (Self::Float(a), Self::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(b),
        }
    }
}

/// A type as source text, with token spacing tidied (`&'static str`, `Vec<u8>`).
pub fn type_text(ty: &syn::Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(from, to);
    }
    text
}
