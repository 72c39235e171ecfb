//! The request body, encoded straight from the records: each span is written as protobuf into
//! one reused buffer (the OpenTelemetry `trace.proto` field numbers, with prost's varint
//! helpers), without building `opentelemetry-proto`'s owned message tree (a dozen allocations
//! per span) first. The resource and the scope, the same in every request, are encoded once
//! with `opentelemetry-proto`'s types. `tests` decodes the result with those types.

use super::json;
use super::value::Typed;
use crate::trace::CallSite;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use prost::encoding::encoded_len_varint;
use std::borrow::Cow;
use std::collections::HashMap;

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// An attribute's value as encoded.
pub(super) type AttributeValue<'a> = Typed<'a>;

/// One span's fields, borrowed from the record and the call site.
pub(super) struct SpanFields<'a> {
    pub(super) trace_id: [u8; 16],
    pub(super) span_id: [u8; 8],
    /// `None` for a root.
    pub(super) parent_span_id: Option<[u8; 8]>,
    pub(super) flags: u32,
    pub(super) name: &'a str,
    pub(super) kind: i32,
    pub(super) start_time_unix_nano: u64,
    pub(super) end_time_unix_nano: u64,
    pub(super) status_code: i32,
    pub(super) status_message: &'a str,
}

/// The batch being encoded: the spans so far, each as a `ScopeSpans.spans` entry (protobuf), or
/// as an element of its JSON array (`http/json`, `json.rs`).
pub(super) struct Encoder {
    /// OTLP's JSON rather than protobuf.
    json: bool,
    /// `ResourceSpans.resource`: protobuf with key and length, or a JSON object.
    resource: Vec<u8>,
    /// `ScopeSpans.scope`: protobuf with key and length, or a JSON object.
    scope: Vec<u8>,
    /// The batch's spans (protobuf: after [`room`](Self::room) bytes kept for the header).
    spans: Vec<u8>,
    count: usize,
    /// Each call site's own attributes, encoded the first time one of its spans is (protobuf
    /// only): by the site's address.
    sites: SiteAttributes,
}

/// The protobuf of the attributes every span of a call site carries (`code.file.path`,
/// `code.line.number`), by the site's address: written once per site, copied into each span.
type SiteAttributes = HashMap<usize, Box<[u8]>, foldhash::fast::RandomState>;

/// Sites whose attributes are kept; past it the table starts again (call sites are statics, so
/// only a program with more instrumented functions than this fills it).
const MAX_SITES: usize = 4096;

impl Encoder {
    /// An encoder of protobuf bodies, or of OTLP JSON ones if `json`.
    pub(super) fn new(resource: &Resource, scope: &InstrumentationScope, json: bool) -> Self {
        if json {
            return Encoder {
                json,
                resource: json::resource(resource),
                scope: json::scope(scope),
                spans: Vec::new(),
                count: 0,
                sites: SiteAttributes::default(),
            };
        }
        let field = |tag: u32, message: &dyn Fn(&mut Vec<u8>)| {
            let mut body = Vec::new();
            message(&mut body);
            let mut out = Vec::with_capacity(body.len() + 6);
            key(&mut out, tag, LEN);
            varint(body.len() as u64, &mut out);
            out.extend_from_slice(&body);
            out
        };
        let mut encoder = Encoder {
            json,
            resource: field(1, &|out| resource.encode_raw(out)),
            scope: field(1, &|out| scope.encode_raw(out)),
            spans: Vec::new(),
            count: 0,
            sites: SiteAttributes::default(),
        };
        encoder.clear();
        encoder
    }

    /// Spans in the batch.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Forgets the batch's spans (keeps the memory).
    pub(super) fn clear(&mut self) {
        self.spans.clear();
        self.spans.resize(self.room(), 0);
        self.count = 0;
    }

    /// Adds a span, with the attributes `attributes` writes.
    #[inline]
    pub(super) fn push(
        &mut self,
        span: &SpanFields<'_>,
        attributes: impl FnOnce(&mut Attributes<'_>),
    ) {
        if self.json {
            if self.count > 0 {
                self.spans.push(b',');
            }
            push_json(&mut self.spans, span, attributes);
            self.count += 1;
            return;
        }
        // ScopeSpans.spans = 2, then the span's length in two bytes (the usual size of a span,
        // 128 bytes to 16 KiB), set once it is written; the span is written in place after it.
        key(&mut self.spans, 2, LEN);
        let length_at = self.spans.len();
        self.spans.extend_from_slice(&[0, 0]);
        let out = &mut self.spans;
        bytes_field(out, 1, &span.trace_id);
        bytes_field(out, 2, &span.span_id);
        if let Some(parent) = &span.parent_span_id {
            bytes_field(out, 4, parent);
        }
        bytes_field(out, 5, span.name.as_bytes());
        if span.kind != 0 {
            key(out, 6, VARINT);
            varint(span.kind as u64, out);
        }
        key(out, 7, FIXED64);
        out.extend_from_slice(&span.start_time_unix_nano.to_le_bytes());
        key(out, 8, FIXED64);
        out.extend_from_slice(&span.end_time_unix_nano.to_le_bytes());
        attributes(&mut Attributes {
            out,
            json: false,
            count: 0,
            sites: Some(&mut self.sites),
        });
        // Status { message = 2, code = 3 }.
        let message_len = if span.status_message.is_empty() {
            0
        } else {
            1 + encoded_len_varint(span.status_message.len() as u64) + span.status_message.len()
        };
        let code_len = if span.status_code == 0 {
            0
        } else {
            1 + encoded_len_varint(span.status_code as u64)
        };
        key(out, 15, LEN);
        varint((message_len + code_len) as u64, out);
        if message_len > 0 {
            bytes_field(out, 2, span.status_message.as_bytes());
        }
        if code_len > 0 {
            key(out, 3, VARINT);
            varint(span.status_code as u64, out);
        }
        key(out, 16, FIXED32);
        out.extend_from_slice(&span.flags.to_le_bytes());
        let length = out.len() - length_at - 2;
        if (128..16384).contains(&length) {
            out[length_at] = length as u8 | 0x80;
            out[length_at + 1] = (length >> 7) as u8;
        } else {
            // A length of another size: its varint replaces the two bytes.
            let mut prefix = Vec::with_capacity(3);
            varint(length as u64, &mut prefix);
            out.splice(length_at..length_at + 2, prefix);
        }
        self.count += 1;
    }

    /// The `ExportTraceServiceRequest` of the batch, in `out` (whose bytes are replaced); the
    /// batch is emptied.
    ///
    /// In protobuf, the spans are already where they go: their buffer starts with room for the
    /// request's header (the resource and the scope, with their keys and lengths), which is
    /// written into the end of that room; `out` takes the buffer, and its memory becomes the
    /// next batch's. So a batch is not copied again to be sent.
    pub(super) fn finish(&mut self, out: &mut Body) {
        if self.json {
            out.start = 0;
            let out = &mut out.bytes;
            out.clear();
            out.reserve(self.spans.len() + self.resource.len() + self.scope.len() + 64);
            out.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":");
            out.extend_from_slice(&self.resource);
            out.extend_from_slice(b",\"scopeSpans\":[{\"scope\":");
            out.extend_from_slice(&self.scope);
            out.extend_from_slice(b",\"spans\":[");
            out.extend_from_slice(&self.spans);
            out.extend_from_slice(b"]}]}]}");
            self.clear();
            return;
        }
        let room = self.room();
        let spans = self.spans.len() - room;
        let scope_spans = self.scope.len() + spans;
        let resource_spans =
            self.resource.len() + 1 + encoded_len_varint(scope_spans as u64) + scope_spans;
        let mut header = Vec::with_capacity(room);
        // ExportTraceServiceRequest.resource_spans = 1.
        key(&mut header, 1, LEN);
        varint(resource_spans as u64, &mut header);
        header.extend_from_slice(&self.resource);
        // ResourceSpans.scope_spans = 2.
        key(&mut header, 2, LEN);
        varint(scope_spans as u64, &mut header);
        header.extend_from_slice(&self.scope);
        let start = room - header.len();
        self.spans[start..room].copy_from_slice(&header);
        core::mem::swap(&mut out.bytes, &mut self.spans);
        out.start = start;
        self.clear();
    }

    /// The bytes a protobuf batch's buffer keeps in front of its spans for the request's
    /// header: the resource and the scope, and two keys and lengths of at most 11 bytes.
    fn room(&self) -> usize {
        if self.json {
            0
        } else {
            self.resource.len() + self.scope.len() + 22
        }
    }
}

/// A request body: the bytes from `start` on of a buffer (see [`Encoder::finish`]).
#[derive(Default)]
pub(super) struct Body {
    bytes: Vec<u8>,
    start: usize,
}

impl Body {
    /// A body of all of `bytes`.
    pub(super) fn whole(bytes: Vec<u8>) -> Self {
        Body { bytes, start: 0 }
    }

    /// The buffer's capacity (to keep the larger of two for reuse).
    pub(super) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

impl core::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Writes a span's attributes, one call each (no iterator of attributes to build and chain).
pub(super) struct Attributes<'a> {
    out: &'a mut Vec<u8>,
    json: bool,
    count: usize,
    /// The encoder's [`SiteAttributes`] (protobuf).
    sites: Option<&'a mut SiteAttributes>,
}

impl Attributes<'_> {
    /// Adds the attribute `name` = `value`.
    #[inline]
    /// The attributes of the span's call site: `code.file.path` and `code.line.number`.
    pub(super) fn add_site(&mut self, site: &'static CallSite) {
        let Some(sites) = self.sites.as_deref_mut() else {
            self.add("code.file.path", &Typed::Str(Cow::Borrowed(site.file())));
            self.add("code.line.number", &Typed::Int(i64::from(site.line())));
            return;
        };
        let key = core::ptr::from_ref(site) as usize;
        if let Some(encoded) = sites.get(&key) {
            self.out.extend_from_slice(encoded);
        } else {
            let mut encoded = Vec::new();
            key_value(
                &mut encoded,
                9,
                "code.file.path",
                &Typed::Str(Cow::Borrowed(site.file())),
            );
            key_value(
                &mut encoded,
                9,
                "code.line.number",
                &Typed::Int(i64::from(site.line())),
            );
            self.out.extend_from_slice(&encoded);
            if sites.len() >= MAX_SITES {
                sites.clear();
            }
            sites.insert(key, encoded.into_boxed_slice());
        }
        self.count += 2;
    }

    pub(super) fn add(&mut self, name: &str, value: &AttributeValue<'_>) {
        if self.json {
            if self.count > 0 {
                self.out.push(b',');
            }
            json::key_value(self.out, name, value);
        } else {
            key_value(self.out, 9, name, value);
        }
        self.count += 1;
    }
}

/// One span as an OTLP JSON object.
fn push_json(
    out: &mut Vec<u8>,
    span: &SpanFields<'_>,
    attributes: impl FnOnce(&mut Attributes<'_>),
) {
    out.extend_from_slice(b"{\"traceId\":");
    json::hex(out, &span.trace_id);
    out.extend_from_slice(b",\"spanId\":");
    json::hex(out, &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        out.extend_from_slice(b",\"parentSpanId\":");
        json::hex(out, parent);
    }
    out.extend_from_slice(b",\"flags\":");
    out.extend_from_slice(span.flags.to_string().as_bytes());
    out.extend_from_slice(b",\"name\":");
    json::string(out, span.name);
    out.extend_from_slice(b",\"kind\":");
    out.extend_from_slice(span.kind.to_string().as_bytes());
    out.extend_from_slice(b",\"startTimeUnixNano\":");
    json::int64(out, span.start_time_unix_nano);
    out.extend_from_slice(b",\"endTimeUnixNano\":");
    json::int64(out, span.end_time_unix_nano);
    out.extend_from_slice(b",\"attributes\":[");
    attributes(&mut Attributes {
        out,
        json: true,
        count: 0,
        sites: None,
    });
    out.extend_from_slice(b"],\"status\":{");
    if span.status_code != 0 {
        out.extend_from_slice(b"\"code\":");
        out.extend_from_slice(span.status_code.to_string().as_bytes());
    }
    if !span.status_message.is_empty() {
        if span.status_code != 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"message\":");
        json::string(out, span.status_message);
    }
    out.extend_from_slice(b"}}");
}

/// `value` as a protobuf varint: prost's `encode_varint` writes through `BufMut` a byte at a time
/// and is not inlined (7% of the export thread's samples); most values here take one byte.
#[inline(always)]
fn varint(value: u64, out: &mut Vec<u8>) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let (bytes, len) = varint_bytes(value);
    out.extend_from_slice(&bytes[..len]);
}

/// `value` as a LEB128 varint (protobuf's): its bytes, and how many of them.
#[inline(always)]
pub(super) fn varint_bytes(value: u64) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let mut rest = value;
    let mut len = 0;
    while rest >= 0x80 {
        bytes[len] = rest as u8 | 0x80;
        rest >>= 7;
        len += 1;
    }
    bytes[len] = rest as u8;
    (bytes, len + 1)
}

#[inline]
fn key(out: &mut Vec<u8>, tag: u32, wire_type: u32) {
    varint(u64::from(tag << 3 | wire_type), out);
}

#[inline]
fn bytes_field(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    key(out, tag, LEN);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A `KeyValue { key = 1, value = 2: AnyValue }` as field `tag`.
fn key_value(out: &mut Vec<u8>, tag: u32, name: &str, value: &AttributeValue<'_>) {
    // AnyValue { string_value = 1, bool_value = 2, int_value = 3, double_value = 4 }.
    let any_len = match value {
        Typed::Str(text) => 1 + encoded_len_varint(text.len() as u64) + text.len(),
        Typed::Bool(_) => 2,
        Typed::Int(int) => 1 + encoded_len_varint(*int as u64),
        Typed::Double(_) => 9,
    };
    let kv_len = 1
        + encoded_len_varint(name.len() as u64)
        + name.len()
        + 1
        + encoded_len_varint(any_len as u64)
        + any_len;
    key(out, tag, LEN);
    varint(kv_len as u64, out);
    bytes_field(out, 1, name.as_bytes());
    key(out, 2, LEN);
    varint(any_len as u64, out);
    match value {
        Typed::Str(text) => bytes_field(out, 1, text.as_bytes()),
        Typed::Bool(flag) => {
            key(out, 2, VARINT);
            out.push(u8::from(*flag));
        }
        Typed::Int(int) => {
            key(out, 3, VARINT);
            varint(*int as u64, out);
        }
        Typed::Double(float) => {
            key(out, 4, FIXED64);
            out.extend_from_slice(&float.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::trace::v1::{Span, Status};
    use std::borrow::Cow;

    /// The attributes `list` as a writer of them.
    fn all<'a, const N: usize>(
        list: [(&'a str, Typed<'a>); N],
    ) -> impl FnOnce(&mut Attributes<'_>) + 'a {
        move |attributes| {
            for (name, value) in &list {
                attributes.add(name, value);
            }
        }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn varints_match_prosts() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let (mut ours, mut prosts) = (Vec::new(), Vec::new());
            varint(value, &mut ours);
            prost::encoding::encode_varint(value, &mut prosts);
            assert_eq!(ours, prosts, "{value}");
            assert_eq!(ours.len(), encoded_len_varint(value));
        }
    }

    #[test]
    fn the_json_body_decodes_with_the_opentelemetry_types_as_the_protobuf_one_does() {
        let resource = Resource {
            attributes: vec![
                kv("service.name", Value::StringValue("svc \"quoted\"".into())),
                kv("deployment.environment", Value::StringValue("prod".into())),
            ],
            ..Resource::default()
        };
        let scope = InstrumentationScope {
            name: "keel".into(),
            version: "0.1.0".into(),
            ..InstrumentationScope::default()
        };
        let decoded = |json: bool| {
            let mut encoder = Encoder::new(&resource, &scope, json);
            let mut body = Body::default();
            for (index, parent) in [Some([9; 8]), None, Some([1; 8])].into_iter().enumerate() {
                encoder.push(
                    &SpanFields {
                        trace_id: [0xa7; 16],
                        span_id: [index as u8 + 1; 8],
                        parent_span_id: parent,
                        flags: 0x303,
                        name: "app::load\n",
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: u64::MAX,
                        status_code: index as i32,
                        status_message: if index == 2 { "disk \"full\"" } else { "" },
                    },
                    all([
                        ("s", Typed::Str(Cow::Borrowed("/orders/0"))),
                        ("b", Typed::Bool(false)),
                        ("i", Typed::Int(i64::MIN)),
                        ("d", Typed::Double(-0.125)),
                        // (Non-finite doubles are written as the protobuf JSON mapping says,
                        // "NaN", "Infinity": json.rs; opentelemetry-proto's serde reads
                        // numbers only.)
                        ("big", Typed::Double(1e300)),
                    ]),
                );
            }
            encoder.finish(&mut body);
            if json {
                serde_json::from_slice::<ExportTraceServiceRequest>(&body)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
            } else {
                ExportTraceServiceRequest::decode(&body[..]).unwrap()
            }
        };
        let protobuf = decoded(false);
        assert_eq!(protobuf.resource_spans[0].scope_spans[0].spans.len(), 3);
        assert_eq!(decoded(true), protobuf);
    }

    #[test]
    fn a_sites_attributes_are_encoded_once_and_copied_into_each_of_its_spans() {
        static LOAD: CallSite = CallSite::new("app::load", "app", "src/app.rs", 42);
        static SAVE: CallSite = CallSite::new("app::save", "app", "src/db \"x\".rs", 7);
        let span = |name| SpanFields {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            flags: 1,
            name,
            kind: 1,
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            status_code: 1,
            status_message: "",
        };
        let decoded = |json: bool| {
            let mut encoder =
                Encoder::new(&Resource::default(), &InstrumentationScope::default(), json);
            let mut body = Body::default();
            for site in [&LOAD, &SAVE, &LOAD] {
                encoder.push(&span(site.name()), |attributes| {
                    attributes.add_site(site);
                    attributes.add("id", &Typed::Int(3));
                });
            }
            // A span past 16 KiB: its length takes three bytes.
            encoder.push(&span("big"), |attributes| {
                attributes.add("text", &Typed::Str(Cow::Owned("x".repeat(20_000))));
            });
            encoder.finish(&mut body);
            if json {
                serde_json::from_slice::<ExportTraceServiceRequest>(&body).unwrap()
            } else {
                ExportTraceServiceRequest::decode(&body[..]).unwrap()
            }
        };
        let protobuf = decoded(false);
        let spans = &protobuf.resource_spans[0].scope_spans[0].spans;
        let attributes = |file: &str, line| {
            vec![
                kv("code.file.path", Value::StringValue(file.into())),
                kv("code.line.number", Value::IntValue(line)),
                kv("id", Value::IntValue(3)),
            ]
        };
        assert_eq!(spans[0].attributes, attributes("src/app.rs", 42));
        assert_eq!(spans[1].attributes, attributes("src/db \"x\".rs", 7));
        assert_eq!(spans[2].attributes, spans[0].attributes);
        assert_eq!(
            spans[3].attributes,
            [kv("text", Value::StringValue("x".repeat(20_000)))]
        );
        // JSON writes the same attributes each time, without the table.
        assert_eq!(decoded(true), protobuf);
    }

    #[test]
    fn the_body_decodes_with_the_opentelemetry_types_as_the_same_spans() {
        let resource = Resource {
            attributes: vec![kv("service.name", Value::StringValue("svc".into()))],
            ..Resource::default()
        };
        let scope = InstrumentationScope {
            name: "keel".into(),
            version: "0.1.0".into(),
            ..InstrumentationScope::default()
        };
        let mut encoder = Encoder::new(&resource, &scope, false);
        let mut body = Body::default();
        for round in 0..2 {
            encoder.push(
                &SpanFields {
                    trace_id: [7; 16],
                    span_id: [1, 2, 3, 4, 5, 6, 7, 8],
                    parent_span_id: Some([9; 8]),
                    flags: 0x301,
                    name: "app::load",
                    kind: 2,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_000_000_999,
                    status_code: 2,
                    status_message: "disk full",
                },
                all([
                    ("s", Typed::Str(Cow::Borrowed("/orders/0"))),
                    ("long", Typed::Str(Cow::Owned("x".repeat(300)))),
                    ("b", Typed::Bool(true)),
                    ("i", Typed::Int(-5)),
                    ("d", Typed::Double(2.5)),
                ]),
            );
            encoder.push(
                &SpanFields {
                    trace_id: [8; 16],
                    span_id: [2; 8],
                    parent_span_id: None,
                    flags: 0,
                    name: "",
                    kind: 0,
                    start_time_unix_nano: 0,
                    end_time_unix_nano: 0,
                    status_code: 0,
                    status_message: "",
                },
                all([]),
            );
            assert_eq!(encoder.len(), 2);
            encoder.finish(&mut body);
            assert_eq!(encoder.len(), 0, "round {round}: emptied");
            let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
            assert_eq!(request.resource_spans.len(), 1);
            let resource_spans = &request.resource_spans[0];
            assert_eq!(resource_spans.resource.as_ref(), Some(&resource));
            assert_eq!(resource_spans.scope_spans.len(), 1);
            let scope_spans = &resource_spans.scope_spans[0];
            assert_eq!(scope_spans.scope.as_ref(), Some(&scope));
            let expected = vec![
                Span {
                    trace_id: vec![7; 16],
                    span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                    parent_span_id: vec![9; 8],
                    flags: 0x301,
                    name: "app::load".into(),
                    kind: 2,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_000_000_999,
                    attributes: vec![
                        kv("s", Value::StringValue("/orders/0".into())),
                        kv("long", Value::StringValue("x".repeat(300))),
                        kv("b", Value::BoolValue(true)),
                        kv("i", Value::IntValue(-5)),
                        kv("d", Value::DoubleValue(2.5)),
                    ],
                    status: Some(Status {
                        code: 2,
                        message: "disk full".into(),
                    }),
                    ..Span::default()
                },
                Span {
                    trace_id: vec![8; 16],
                    span_id: vec![2; 8],
                    status: Some(Status::default()),
                    ..Span::default()
                },
            ];
            assert_eq!(scope_spans.spans, expected);
        }
    }
}
