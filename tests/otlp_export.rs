//! The OTLP sink against scripted receivers on 127.0.0.1 (issue 30): headers from the standard
//! variable arrive percent-decoded, gzip bodies decode with the OpenTelemetry protobuf
//! definitions, values arrive typed, `429` + `Retry-After` is honoured and the spans finished
//! meanwhile are shed unencoded and counted, a `partial_success` is counted, and HTTPS works
//! with a CA made in the test (and fails without it).
//!
//! Tests here share the process's one sink list, so they take turns.

use keel::trace::otlp::OtlpSink;
use keel::trace::{self, CallSite, Outcome, Span};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use prost::Message;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[path = "support/pki.rs"]
mod pki;
use pki::Pki;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// One request as the receiver got it.
#[derive(Clone, Debug)]
struct Request {
    at: Instant,
    headers: Vec<(String, String)>,
    /// The body, gunzipped if it came gzipped.
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn spans(&self) -> Vec<OtlpSpan> {
        let request = ExportTraceServiceRequest::decode(&self.body[..]).expect("OTLP protobuf");
        request
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

/// An answer the receiver gives: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

#[derive(Default)]
struct Log {
    requests: Vec<Request>,
    script: VecDeque<Answer>,
}

/// An OTLP/HTTP receiver answering each request with the next scripted answer (then 200).
struct Scripted {
    port: u16,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl Scripted {
    fn start(script: Vec<Answer>) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new((
            Mutex::new(Log {
                requests: Vec::new(),
                script: script.into(),
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let headers: Vec<(String, String)> = request
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string(), h.value.to_string()))
                    .collect();
                let mut raw = Vec::new();
                request.as_reader().read_to_end(&mut raw).unwrap();
                let gzipped = headers
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
                let body = if gzipped { gunzip(&raw) } else { raw };
                let (status, answer_headers, answer_body) = {
                    let (log, changed) = &*shared;
                    let mut log = log.lock().unwrap();
                    log.requests.push(Request {
                        at: Instant::now(),
                        headers,
                        body,
                    });
                    changed.notify_all();
                    log.script
                        .pop_front()
                        .unwrap_or((200, Vec::new(), Vec::new()))
                };
                let mut response =
                    tiny_http::Response::from_data(answer_body).with_status_code(status);
                for (name, value) in answer_headers {
                    response.add_header(
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap(),
                    );
                }
                let _ = request.respond(response);
            }
        });
        Scripted { port, log }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// Waits until `count` requests came (at most 10 s) and returns them all.
    fn wait_for(&self, count: usize) -> Vec<Request> {
        let (log, changed) = &*self.log;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut log = log.lock().unwrap();
        while log.requests.len() < count && Instant::now() < deadline {
            log = changed
                .wait_timeout(log, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        log.requests.clone()
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn install(sink: &OtlpSink) {
    trace::clear_sinks();
    trace::add_sink(sink.clone());
    trace::enable();
}

/// A sink to `endpoint` that sends only when flushed, installed as the only sink.
fn installed_sink(endpoint: String) -> OtlpSink {
    let sink = OtlpSink::builder()
        .endpoint(endpoint)
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&sink);
    sink
}

#[keel::instrument(args(order, path, express, weight, huge))]
fn ship(order: u32, path: &str, express: bool, weight: f64, huge: u64) -> i64 {
    let _ = (path, express, weight, huge);
    -i64::from(order)
}

#[keel::instrument]
fn tick(i: u32) -> u32 {
    i
}

fn attribute(span: &OtlpSpan, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .clone()
}

#[test]
fn headers_from_the_variable_arrive_decoded_the_body_gzipped_and_values_typed() {
    let _turn = turn();
    let receiver = Scripted::start(Vec::new());
    let endpoint = receiver.endpoint();
    let sink = OtlpSink::builder()
        .env(move |name: &str| match name {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=s%3Dcr%2Cet,x-team=a%20b".into()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
            "OTEL_SERVICE_NAME" => Some("otlp-export".into()),
            "OTEL_RESOURCE_ATTRIBUTES" => Some("deployment.environment=test".into()),
            _ => None,
        })
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&sink);
    ship(7, "/orders/0", true, 2.5, u64::MAX);
    let stats = sink.flush().unwrap();
    assert_eq!((stats.exported, stats.failed), (1, 0), "{stats}");

    let requests = receiver.wait_for(1);
    let request = &requests[0];
    assert_eq!(request.header("api-key"), Some("s=cr,et"));
    assert_eq!(request.header("x-team"), Some("a b"));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    let decoded = ExportTraceServiceRequest::decode(&request.body[..]).unwrap();
    let resource = decoded.resource_spans[0].resource.clone().unwrap();
    let resource_value = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(
        resource_value("service.name"),
        Some(Value::StringValue("otlp-export".into()))
    );
    assert_eq!(
        resource_value("deployment.environment"),
        Some(Value::StringValue("test".into()))
    );
    let spans = request.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert!(span.name.ends_with("ship"), "{}", span.name);
    assert_eq!(attribute(span, "order"), Some(Value::IntValue(7)));
    assert_eq!(
        attribute(span, "path"),
        Some(Value::StringValue("/orders/0".into()))
    );
    assert_eq!(attribute(span, "express"), Some(Value::BoolValue(true)));
    assert_eq!(attribute(span, "weight"), Some(Value::DoubleValue(2.5)));
    assert_eq!(
        attribute(span, "huge"),
        Some(Value::StringValue(u64::MAX.to_string()))
    );
    trace::clear_sinks();
}

#[test]
fn retry_after_is_honoured_and_spans_finished_meanwhile_are_shed_and_counted() {
    let _turn = turn();
    let receiver = Scripted::start(vec![(429, vec![("Retry-After", "1".into())], Vec::new())]);
    let sink = installed_sink(receiver.endpoint());
    for i in 0..5 {
        tick(i);
    }
    let stats = sink.flush().unwrap();
    assert_eq!(
        (stats.exported, stats.failed, stats.requests),
        (0, 0, 1),
        "{stats}"
    );
    assert!(stats.last_error.unwrap().contains("HTTP 429"));
    // While the batch waits for its retry, new spans are dropped before being encoded.
    for i in 0..3 {
        tick(i);
    }
    let stats = sink.flush().unwrap();
    assert_eq!((stats.shed, stats.failed), (3, 3), "{stats}");

    let requests = receiver.wait_for(2);
    assert_eq!(requests.len(), 2, "the batch was sent again");
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert_eq!(requests[0].body, requests[1].body, "the same batch");
    assert_eq!(requests[1].spans().len(), 5);
    // The retry's outcome is counted once it is answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sink.stats().exported < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = sink.stats();
    assert_eq!(
        (stats.exported, stats.retries, stats.failed),
        (5, 1, 3),
        "{stats}"
    );
    // Healthy again: spans are encoded and sent.
    tick(9);
    let stats = sink.flush().unwrap();
    assert_eq!(stats.exported, 6, "{stats}");
    trace::clear_sinks();
}

#[test]
fn a_partial_success_counts_the_rejected_spans() {
    let _turn = turn();
    let answer = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "spans too old".into(),
        }),
    };
    let receiver = Scripted::start(vec![(
        200,
        vec![("Content-Type", "application/x-protobuf".into())],
        answer.encode_to_vec(),
    )]);
    let sink = installed_sink(receiver.endpoint());
    for i in 0..5 {
        tick(i);
    }
    let stats = sink.flush().unwrap();
    assert_eq!(
        (stats.exported, stats.rejected, stats.failed),
        (3, 2, 0),
        "{stats}"
    );
    let error = stats.last_error.unwrap();
    assert!(
        error.contains("rejected 2 span(s): spans too old"),
        "{error}"
    );
    trace::clear_sinks();
}

#[test]
fn http_json_from_the_variable_sends_otlp_json_and_reads_its_partial_success() {
    let _turn = turn();
    let receiver = Scripted::start(vec![(
        200,
        vec![("Content-Type", "application/json".into())],
        br#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"one too old"}}"#.to_vec(),
    )]);
    let sink = OtlpSink::builder()
        .env(|name: &str| {
            (name == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").then(|| "http/json".to_string())
        })
        .endpoint(receiver.endpoint())
        .service_name("json")
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&sink);
    ship(7, "/orders/7", true, 2.5, u64::MAX);
    tick(1);
    let stats = sink.flush().unwrap();
    assert_eq!((stats.exported, stats.rejected), (1, 1), "{stats}");
    assert!(stats.last_error.unwrap().contains("one too old"));
    let request = receiver.wait_for(1).remove(0);
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON");
    let resource_spans = &body["resourceSpans"][0];
    assert_eq!(
        resource_spans["resource"]["attributes"][0]["value"]["stringValue"],
        "json"
    );
    let spans = resource_spans["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let shipped = spans
        .iter()
        .find(|span| span["name"].as_str().unwrap().ends_with("::ship"))
        .unwrap();
    // OTLP's JSON: ids in lowercase hex, 64-bit integers as strings, enums as numbers.
    let trace_id = shipped["traceId"].as_str().unwrap();
    assert!(
        trace_id.len() == 32
            && trace_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(shipped["spanId"].as_str().unwrap().len(), 16);
    assert!(
        shipped["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(shipped["kind"], 1);
    assert_eq!(shipped["flags"].as_u64().unwrap() & 0xff, 3);
    let value = |key: &str| {
        shipped["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|attribute| attribute["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {shipped}"))["value"]
            .clone()
    };
    assert_eq!(value("order"), serde_json::json!({"intValue": "7"}));
    assert_eq!(
        value("path"),
        serde_json::json!({"stringValue": "/orders/7"})
    );
    assert_eq!(value("express"), serde_json::json!({"boolValue": true}));
    assert_eq!(value("weight"), serde_json::json!({"doubleValue": 2.5}));
    assert_eq!(
        value("huge"),
        serde_json::json!({"stringValue": u64::MAX.to_string()})
    );
    trace::clear_sinks();
}

#[test]
fn a_non_retryable_status_fails_the_batch_without_retrying() {
    let _turn = turn();
    let receiver = Scripted::start(vec![(401, Vec::new(), Vec::new())]);
    let sink = installed_sink(receiver.endpoint());
    tick(1);
    let stats = sink.flush().unwrap();
    assert_eq!(
        (stats.failed, stats.retries, stats.requests),
        (1, 0, 1),
        "{stats}"
    );
    assert!(stats.last_error.unwrap().contains("HTTP 401"));
    trace::clear_sinks();
}

/// An HTTPS receiver: answers every request 200 and keeps its headers and span count; each
/// handshake failure is counted instead.
struct TlsReceiver {
    port: u16,
    spans: Arc<Mutex<Vec<OtlpSpan>>>,
}

impl TlsReceiver {
    /// With `mutual`, only clients with a certificate the test's CA signed are served.
    fn start(pki: &Pki, mutual: bool) -> Self {
        // The crate's one crypto provider (ring, as the sink's ureq uses).
        let config = rustls::ServerConfig::builder();
        let config = if mutual {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca_der.clone().into()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            config.with_client_cert_verifier(verifier)
        } else {
            config.with_no_client_auth()
        };
        let config = config
            .with_single_cert(
                vec![pki.server_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(pki.server_key_der.clone().into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // One request per connection is enough here (the client reconnects).
                if let Some(body) = read_request(&mut tls) {
                    let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                    kept.lock().unwrap().extend(
                        request
                            .resource_spans
                            .into_iter()
                            .flat_map(|r| r.scope_spans)
                            .flat_map(|s| s.spans),
                    );
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        TlsReceiver { port, spans }
    }
}

/// Reads one HTTP/1.1 request with a `Content-Length` body; `None` if the handshake or the
/// read failed.
fn read_request(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())?;
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(data[header_end..header_end + length].to_vec())
}

#[test]
fn https_with_the_given_ca_and_refused_without_it() {
    let _turn = turn();
    let pki = Pki::new("export-tls");
    let receiver = TlsReceiver::start(&pki, false);
    let ca_path = pki.path("ca.pem");
    let endpoint = format!("https://localhost:{}/v1/traces", receiver.port);

    // Without the CA: the platform's roots do not trust the test's server.
    let untrusting = OtlpSink::builder()
        .env(|_| None)
        .endpoint(endpoint.clone())
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&untrusting);
    tick(1);
    let stats = untrusting.flush().unwrap();
    assert_eq!(
        (stats.exported, stats.failed, stats.retries),
        (0, 1, 0),
        "{stats}"
    );
    let error = stats.last_error.unwrap();
    assert!(error.contains("UnknownIssuer"), "not retried: {error}");

    // With the CA from the standard variable.
    let ca = ca_path;
    let trusting = OtlpSink::builder()
        .env(move |name: &str| (name == "OTEL_EXPORTER_OTLP_CERTIFICATE").then(|| ca.clone()))
        .endpoint(endpoint)
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&trusting);
    tick(2);
    tick(3);
    let stats = trusting.flush().unwrap();
    assert_eq!((stats.exported, stats.failed), (2, 0), "{stats}");
    let spans = receiver.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 2);
    assert_eq!(attribute(&spans[0], "i"), None, "tick records no arguments");
    trace::clear_sinks();
}

#[test]
fn a_disabled_sdk_exports_nothing() {
    let _turn = turn();
    let receiver = Scripted::start(Vec::new());
    let endpoint = receiver.endpoint();
    let sink = OtlpSink::builder()
        .env(move |name: &str| match name {
            "OTEL_SDK_DISABLED" => Some("true".into()),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(endpoint.clone()),
            _ => None,
        })
        .build()
        .unwrap();
    install(&sink);
    tick(1);
    let stats = sink.flush().unwrap();
    assert_eq!((stats.queued, stats.requests), (0, 0), "{stats}");
    trace::clear_sinks();
}

/// The call site the hand-written span below reports to.
static MANUAL: CallSite = CallSite::new("otlp_export::manual", "otlp_export", file!(), line!());

#[test]
fn a_spans_error_status_survives_the_typed_encoding() {
    let _turn = turn();
    let receiver = Scripted::start(Vec::new());
    let sink = installed_sink(receiver.endpoint());
    let span = Span::enter_with(&MANUAL, &[("database", &"SQLite")]);
    span.finish(Outcome::Err("disk full".into()));
    let stats = sink.flush().unwrap();
    assert_eq!(stats.exported, 1, "{stats}");
    let spans = receiver.wait_for(1)[0].spans();
    assert_eq!(
        attribute(&spans[0], "database"),
        Some(Value::StringValue("SQLite".into())),
        "no Debug quotes"
    );
    assert_eq!(spans[0].status.clone().unwrap().message, "disk full");
    trace::clear_sinks();
}

#[test]
fn mutual_tls_with_the_client_certificate_and_refused_without_it() {
    let _turn = turn();
    let pki = Pki::new("export-mtls");
    let receiver = TlsReceiver::start(&pki, true);
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    let endpoint = format!("https://localhost:{}/v1/traces", receiver.port);

    let anonymous = OtlpSink::builder()
        .env(|_| None)
        .endpoint(endpoint.clone())
        .certificate(ca.clone())
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&anonymous);
    tick(1);
    let stats = anonymous.flush().unwrap();
    assert_eq!(
        stats.exported, 0,
        "no client certificate: refused ({stats})"
    );

    let vars = [
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", cert),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key),
    ];
    let identified = OtlpSink::builder()
        .env(move |name: &str| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.clone())
        })
        .endpoint(endpoint)
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    install(&identified);
    tick(2);
    let stats = identified.flush().unwrap();
    assert_eq!((stats.exported, stats.failed), (1, 0), "{stats}");
    assert_eq!(receiver.spans.lock().unwrap().len(), 1);
    trace::clear_sinks();
}
