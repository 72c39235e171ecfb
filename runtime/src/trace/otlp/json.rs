//! The `http/json` protocol's body: the same `ExportTraceServiceRequest` as `encode.rs` writes in
//! protobuf, written as OTLP's JSON (the protobuf JSON mapping with OTLP's exceptions: trace and
//! span ids as lowercase hex rather than base64, enums as integers, field names in lowerCamelCase,
//! 64-bit integers as decimal strings), straight from the records into one reused buffer.

use super::value::Typed;
use core::fmt::Write as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// `value` as a JSON string (quotes included), escaped.
pub(super) fn string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        match escape {
            Some(escape) => out.extend_from_slice(escape),
            None => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `bytes` as a JSON string of lowercase hex (OTLP's form of trace and span ids).
pub(super) fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xf)]);
    }
    out.push(b'"');
}

/// A number written with `Display` (integers; finite floats).
fn number(out: &mut Vec<u8>, value: impl core::fmt::Display) {
    let mut text = String::new();
    let _ = write!(text, "{value}");
    out.extend_from_slice(text.as_bytes());
}

/// A 64-bit integer as the protobuf JSON mapping writes it: a decimal string.
pub(super) fn int64(out: &mut Vec<u8>, value: impl core::fmt::Display) {
    out.push(b'"');
    number(out, value);
    out.push(b'"');
}

/// An `AnyValue` object.
pub(super) fn any_value(out: &mut Vec<u8>, value: &Typed<'_>) {
    match value {
        Typed::Str(text) => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, text);
        }
        Typed::Bool(flag) => {
            out.extend_from_slice(b"{\"boolValue\":");
            out.extend_from_slice(if *flag { b"true" } else { b"false" });
        }
        Typed::Int(int) => {
            out.extend_from_slice(b"{\"intValue\":");
            int64(out, int);
        }
        Typed::Double(float) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            if float.is_finite() {
                number(out, float);
            } else if float.is_nan() {
                out.extend_from_slice(b"\"NaN\"");
            } else if *float > 0.0 {
                out.extend_from_slice(b"\"Infinity\"");
            } else {
                out.extend_from_slice(b"\"-Infinity\"");
            }
        }
    }
    out.push(b'}');
}

/// A `KeyValue` object.
pub(super) fn key_value(out: &mut Vec<u8>, key: &str, value: &Typed<'_>) {
    out.extend_from_slice(b"{\"key\":");
    string(out, key);
    out.extend_from_slice(b",\"value\":");
    any_value(out, value);
    out.push(b'}');
}

/// The string attributes of the resource or the scope (all keel puts there) as a JSON array.
fn attributes(out: &mut Vec<u8>, attributes: &[KeyValue]) {
    out.push(b'[');
    let mut first = true;
    for attribute in attributes {
        let Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }) = &attribute.value
        else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        key_value(out, &attribute.key, &Typed::Str(value.into()));
    }
    out.push(b']');
}

/// `ResourceSpans.resource` as a JSON object.
pub(super) fn resource(resource: &Resource) -> Vec<u8> {
    let mut out = b"{\"attributes\":".to_vec();
    attributes(&mut out, &resource.attributes);
    out.push(b'}');
    out
}

/// `ScopeSpans.scope` as a JSON object.
pub(super) fn scope(scope: &InstrumentationScope) -> Vec<u8> {
    let mut out = b"{\"name\":".to_vec();
    string(&mut out, &scope.name);
    out.extend_from_slice(b",\"version\":");
    string(&mut out, &scope.version);
    if !scope.attributes.is_empty() {
        out.extend_from_slice(b",\"attributes\":");
        attributes(&mut out, &scope.attributes);
    }
    out.push(b'}');
    out
}

/// The receiver's `ExportTraceServiceResponse` in JSON: the `partialSuccess` rejected span
/// count and message, when there are any (`(0, "")` otherwise or when the answer is not JSON).
pub(super) fn partial_success(body: &[u8]) -> (u64, String) {
    let Ok(text) = core::str::from_utf8(body) else {
        return (0, String::new());
    };
    let rejected = value_after(text, "rejectedSpans")
        .map(|value| {
            let digits: String = value
                .trim_start_matches('"')
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().unwrap_or(0)
        })
        .unwrap_or(0);
    let message = value_after(text, "errorMessage")
        .and_then(unquote)
        .unwrap_or_default();
    (rejected, message)
}

/// The text after `"key":` (and any white space) in `text`.
fn value_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let after = &text[text.find(&quoted)? + quoted.len()..];
    Some(after.trim_start().strip_prefix(':')?.trim_start())
}

/// The JSON string `value` starts with, unescaped.
fn unquote(value: &str) -> Option<String> {
    let mut chars = value.strip_prefix('"')?.chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let code: String = chars.by_ref().take(4).collect();
                    out.push(
                        char::from_u32(u32::from_str_radix(&code, 16).ok()?).unwrap_or('\u{fffd}'),
                    );
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_and_numbers_follow_the_protobuf_json_mapping() {
        assert_eq!(
            text(|o| string(o, "a\"b\\c\nd\u{1}é")),
            r#""a\"b\\c\nd\u0001é""#
        );
        assert_eq!(text(|o| hex(o, &[0x0a, 0xf7, 0x65])), r#""0af765""#);
        assert_eq!(
            text(|o| any_value(o, &Typed::Int(-5))),
            r#"{"intValue":"-5"}"#
        );
        assert_eq!(
            text(|o| any_value(o, &Typed::Bool(true))),
            r#"{"boolValue":true}"#
        );
        assert_eq!(
            text(|o| any_value(o, &Typed::Double(2.5))),
            r#"{"doubleValue":2.5}"#
        );
        assert_eq!(
            text(|o| any_value(o, &Typed::Double(f64::NEG_INFINITY))),
            r#"{"doubleValue":"-Infinity"}"#
        );
        assert_eq!(
            text(|o| any_value(o, &Typed::Double(f64::NAN))),
            r#"{"doubleValue":"NaN"}"#
        );
        assert_eq!(
            text(|o| key_value(o, "path", &Typed::Str("/orders/0".into()))),
            r#"{"key":"path","value":{"stringValue":"/orders/0"}}"#
        );
    }

    #[test]
    fn partial_success_is_read_from_the_answer() {
        let answer =
            br#"{"partialSuccess": {"rejectedSpans": "3", "errorMessage": "too \"old\""}}"#;
        assert_eq!(partial_success(answer), (3, "too \"old\"".to_string()));
        assert_eq!(
            partial_success(br#"{"partialSuccess":{"rejectedSpans":2}}"#),
            (2, String::new())
        );
        assert_eq!(partial_success(b"{}"), (0, String::new()));
        assert_eq!(partial_success(b"\xff"), (0, String::new()));
    }
}
