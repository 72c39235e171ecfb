//! Attribute values typed for the receiver.
//!
//! `#[keel::instrument(args(..), ret)]` records each argument and the return value typed at
//! the source: the generated code picks, from the value's type at compile time, a typed form
//! for the standard types (and references to them, `&u64`, `&String`), which travels to the
//! export thread as is (no text made on the traced thread, none parsed on the export thread).
//! [`Span::enter_with_values`](crate::trace::Span::enter_with_values) and
//! [`FieldValue`](crate::trace::FieldValue) do the same for hand-made spans, and keel's own
//! spans record their attributes that way (a transaction's `database`, the HTTP layer's method,
//! path and status code):
//!
//! | recorded type | sent as |
//! | --- | --- |
//! | `i8` .. `i64`, `isize`; `u8` .. `u64`, `usize` up to `i64::MAX` | `int_value` |
//! | a `u64` / `usize` above `i64::MAX` | `string_value` of its digits (OTLP has no unsigned integer) |
//! | `f64` | `double_value` |
//! | `bool` | `bool_value` |
//! | `&str`, `str`, `String` | `string_value`, as is (not quoted) |
//!
//! Any other type (an `f32`, a generic `T`, a reference to a reference, and any field recorded
//! through [`Span::enter_with`](crate::trace::Span::enter_with)'s `&dyn Debug`) arrives as its
//! `Debug` text, which is read back:
//!
//! | `Debug` text | sent as |
//! | --- | --- |
//! | a quoted string (`"/orders/0"`), a quoted `char` | `string_value`, unquoted and unescaped |
//! | `true`, `false` | `bool_value` |
//! | an integer in `i64`'s range (`-3`, `42`) | `int_value` |
//! | a larger integer (a `u128`) | `string_value` of its digits (OTLP has no unsigned or wider integer) |
//! | a float (an `f32`'s `1.5`, `1e-7`, `NaN`, `inf`) | `double_value` |
//! | anything else (`Some(3)`, `Order { id: 1 }`) | `string_value` of the `Debug` text, as is |
//!
//! A type whose own `Debug` prints like one of these literals is sent as that type. Events
//! (`Event::field`, the stderr sink, captures) show every field as its `Debug` text either way.

use super::record::Packed;
use std::borrow::Cow;

/// An attribute value as sent: OTLP's `AnyValue` kinds keel uses.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Typed<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
}

/// The OTLP value of a recorded field: as recorded when its type was known, else read from its
/// `Debug` text (see [`parsed`]).
pub(super) fn typed(value: Packed<'_>) -> Typed<'_> {
    match value {
        Packed::Text(text) => parsed(text),
        Packed::Str(text) => Typed::Str(Cow::Borrowed(text)),
        Packed::Int(int) => Typed::Int(int),
        Packed::UInt(int) => match i64::try_from(int) {
            Ok(int) => Typed::Int(int),
            Err(_) => Typed::Str(Cow::Owned(int.to_string())),
        },
        Packed::Double(float) => Typed::Double(float),
        Packed::Bool(flag) => Typed::Bool(flag),
    }
}

/// The OTLP value of a field recorded as `text` (its `Debug` form). Borrows `text` unless a
/// string had escapes to undo.
pub(super) fn parsed(text: &str) -> Typed<'_> {
    let bytes = text.as_bytes();
    match bytes {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if bytes.len() >= 2 => {
            let inner = &text[1..text.len() - 1];
            let quote = bytes[0];
            if !inner.bytes().any(|byte| byte == b'\\' || byte == quote) {
                return Typed::Str(Cow::Borrowed(inner));
            }
            match unescape(inner, bytes[0]) {
                Some(plain) => Typed::Str(Cow::Owned(plain)),
                None => Typed::Str(Cow::Borrowed(text)),
            }
        }
        b"true" => Typed::Bool(true),
        b"false" => Typed::Bool(false),
        _ if is_integer(bytes) => match text.parse::<i64>() {
            Ok(int) => Typed::Int(int),
            Err(_) => Typed::Str(Cow::Borrowed(text)),
        },
        _ if is_float(text) => match text.parse::<f64>() {
            Ok(float) => Typed::Double(float),
            Err(_) => Typed::Str(Cow::Borrowed(text)),
        },
        _ => Typed::Str(Cow::Borrowed(text)),
    }
}

fn is_integer(bytes: &[u8]) -> bool {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// The forms `f32`'s and `f64`'s `Debug` prints: digits with a `.` or an exponent, `NaN`, `inf`.
fn is_float(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if matches!(unsigned, "inf" | "NaN") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            is_integer(whole.as_bytes())
                && is_integer(fraction.as_bytes())
                && !whole.starts_with('-')
        }
        None => exponent.is_some() && is_integer(mantissa.as_bytes()),
    };
    let exponent_ok = exponent.is_none_or(|exponent| is_integer(exponent.as_bytes()));
    mantissa_ok && exponent_ok
}

/// The text `str::escape_debug` (what `Debug` of a `str` or `char` uses between its quotes)
/// came from; `None` when `quoted` is not such an escape (an unescaped quote inside: the text
/// was not a single string's `Debug`).
fn unescape(quoted: &str, quote: u8) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == quote as char {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn value(typed: Typed<'_>) -> Value {
        match typed {
            Typed::Str(text) => Value::StringValue(text.into_owned()),
            Typed::Bool(flag) => Value::BoolValue(flag),
            Typed::Int(int) => Value::IntValue(int),
            Typed::Double(float) => Value::DoubleValue(float),
        }
    }

    fn sent(recorded: impl core::fmt::Debug) -> Value {
        value(parsed(&format!("{recorded:?}")))
    }

    #[test]
    fn standard_types_are_sent_typed() {
        assert_eq!(sent("/orders/0"), Value::StringValue("/orders/0".into()));
        assert_eq!(
            sent("SQLite".to_string()),
            Value::StringValue("SQLite".into())
        );
        assert_eq!(
            sent("tab\t\"quote\" back\\slash é \u{7f} ✓"),
            Value::StringValue("tab\t\"quote\" back\\slash é \u{7f} ✓".into())
        );
        assert_eq!(sent('x'), Value::StringValue("x".into()));
        assert_eq!(sent('\''), Value::StringValue("'".into()));
        assert_eq!(
            sent("42"),
            Value::StringValue("42".into()),
            "a string stays one"
        );
        assert_eq!(sent(""), Value::StringValue(String::new()));
        assert_eq!(sent(true), Value::BoolValue(true));
        assert_eq!(sent(false), Value::BoolValue(false));
        assert_eq!(sent(0_u8), Value::IntValue(0));
        assert_eq!(sent(-7_i32), Value::IntValue(-7));
        assert_eq!(sent(i64::MIN), Value::IntValue(i64::MIN));
        assert_eq!(sent(i64::MAX as u64), Value::IntValue(i64::MAX));
        assert_eq!(
            sent(u64::MAX),
            Value::StringValue("18446744073709551615".into()),
            "above i64::MAX: its digits as a string"
        );
        assert_eq!(sent(u128::MAX), Value::StringValue(u128::MAX.to_string()));
        assert_eq!(sent(1.5_f64), Value::DoubleValue(1.5));
        assert_eq!(sent(-2.0_f32), Value::DoubleValue(-2.0));
        assert_eq!(sent(1e-7_f64), Value::DoubleValue(1e-7));
        assert_eq!(sent(1e300_f64), Value::DoubleValue(1e300));
        assert_eq!(sent(f64::INFINITY), Value::DoubleValue(f64::INFINITY));
        assert!(matches!(sent(f64::NAN), Value::DoubleValue(nan) if nan.is_nan()));
    }

    #[test]
    fn values_typed_when_recorded_are_sent_as_recorded() {
        assert_eq!(value(typed(Packed::Int(-3))), Value::IntValue(-3));
        assert_eq!(
            value(typed(Packed::UInt(i64::MAX as u64))),
            Value::IntValue(i64::MAX)
        );
        assert_eq!(
            value(typed(Packed::UInt(u64::MAX))),
            Value::StringValue(u64::MAX.to_string()),
            "above i64::MAX: its digits as a string"
        );
        assert_eq!(value(typed(Packed::Double(0.5))), Value::DoubleValue(0.5));
        assert_eq!(value(typed(Packed::Bool(false))), Value::BoolValue(false));
        assert_eq!(
            value(typed(Packed::Str("\"42\"")),),
            Value::StringValue("\"42\"".into()),
            "a string is sent as is, never read as a literal"
        );
        assert_eq!(value(typed(Packed::Text("42"))), Value::IntValue(42));
    }

    #[test]
    fn other_types_keep_their_debug_text() {
        assert_eq!(sent(Some(3)), Value::StringValue("Some(3)".into()));
        assert_eq!(sent([1, 2]), Value::StringValue("[1, 2]".into()));
        assert_eq!(sent(()), Value::StringValue("()".into()));
        assert_eq!(
            sent(("a", "b")),
            Value::StringValue("(\"a\", \"b\")".into())
        );
        // Quoted at both ends but not one string's Debug.
        assert_eq!(
            value(parsed("\"a\" \"b\"")),
            Value::StringValue("\"a\" \"b\"".into())
        );
        for text in ["-", "1.", ".5", "1e", "1.2.3", "--1", "+1", "e5", "1_000"] {
            assert_eq!(
                value(parsed(text)),
                Value::StringValue(text.into()),
                "{text}"
            );
        }
    }
}
