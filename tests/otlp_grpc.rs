//! OTLP over gRPC (feature `grpc`, issue 30) against a real peer: a Python `grpcio` TraceService
//! server (`tests/python/otlp_grpc_receiver.py`) decoding with the OpenTelemetry protobuf
//! definitions. The sink is configured with the standard variables only; the receiver sees the
//! headers as gRPC metadata and typed values, and its partial success is counted. Over TLS
//! (`grpc.ssl_server_credentials`, a CA made in the test), over mutual TLS (a client
//! certificate required), and gzip-compressed (the receiver sees the compressed bytes).
//! `RESOURCE_EXHAUSTED` is retried after the `google.rpc.RetryInfo` delay it carries, and not
//! retried without one.
//!
//! Skipped with a notice when `python3` with `grpcio` and `opentelemetry-proto` is missing.

use keel::trace::otlp::{ExportStats, OtlpSink};
use keel::trace::{self};
use std::ffi::OsStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[keel::instrument(args(order, path))]
fn ship(order: u32, path: &str) -> u32 {
    let _ = path;
    order * 2
}

#[path = "support/pki.rs"]
mod pki;
#[path = "support/python.rs"]
mod python;
use pki::Pki;

/// One test at a time: the sinks are process-wide.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when the receiver's Python modules are there; else says the test is skipped.
fn python_has_grpc() -> bool {
    let found =
        python::python_imports("grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2");
    if !found {
        eprintln!("skipped: python3 with grpcio and opentelemetry-proto is not installed");
    }
    found
}

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/otlp_grpc_receiver.py"
);

/// A sink configured through nothing but these variables.
fn sink(vars: Vec<(&'static str, String)>) -> OtlpSink {
    OtlpSink::builder()
        .env(move |name: &str| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.clone())
        })
        .build()
        .unwrap()
}

/// Sends `ship(order)` through `sink` alone and flushes.
fn ship_through(sink: &OtlpSink, order: u32) -> ExportStats {
    trace::clear_sinks();
    trace::add_sink(sink.clone());
    trace::enable();
    assert_eq!(ship(order, &format!("/orders/{order}")), order * 2);
    let stats = sink.flush().unwrap();
    trace::clear_sinks();
    stats
}

/// The receiver's JSON line for the next request.
fn next_request(peer: &mut python::Peer) -> serde_json::Value {
    let line = peer.lines.next().unwrap().unwrap();
    serde_json::from_str(&line).unwrap()
}

fn stop(mut peer: python::Peer) {
    drop(peer.child.stdin.take());
    let _ = peer.child.wait();
}

#[test]
fn spans_reach_a_python_grpc_trace_service_typed_with_metadata() {
    if !python_has_grpc() {
        return;
    }
    let _turn = turn();
    let mut receiver = python::start_peer(&[OsStr::new(SCRIPT)]);

    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let sink = sink(vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=abc%20123".to_string(),
        ),
        ("OTEL_SERVICE_NAME", "grpc-checkout".to_string()),
    ]);
    assert_eq!(sink.endpoint(), endpoint);
    trace::clear_sinks();
    trace::add_sink(sink.clone());
    trace::enable();
    assert_eq!(ship(21, "/orders/21"), 42);
    assert_eq!(ship(22, "/orders/22"), 44);
    let stats = sink.flush().unwrap();
    trace::clear_sinks();
    assert_eq!((stats.exported, stats.rejected), (1, 1), "{stats}");
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("one span rejected by the test")),
        "{stats}"
    );

    let request = next_request(&mut receiver);
    stop(receiver);
    assert_eq!(request["metadata"]["x-api-key"], "abc 123");
    assert_eq!(request["compressed"], false, "no compression asked for");
    let spans = request["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{request}");
    for (span, order) in spans.iter().zip([21, 22]) {
        assert_eq!(span["service"], "grpc-checkout");
        assert!(span["name"].as_str().unwrap().ends_with("::ship"));
        assert_eq!(span["trace_id"].as_str().unwrap().len(), 32);
        assert_eq!(span["flags"].as_u64().unwrap() & 0xff, 3);
        assert_eq!(span["attributes"]["order"]["kind"], "int_value");
        assert_eq!(span["attributes"]["order"]["value"], order);
        assert_eq!(span["attributes"]["path"]["kind"], "string_value");
        assert_eq!(
            span["attributes"]["path"]["value"],
            format!("/orders/{order}")
        );
    }
}

#[test]
fn over_tls_with_the_given_ca_gzipped_and_refused_without_the_ca() {
    if !python_has_grpc() {
        return;
    }
    let _turn = turn();
    let pki = Pki::new("grpc-tls");
    let mut receiver = python::start_peer(&[
        OsStr::new(SCRIPT),
        OsStr::new(&pki.path("server.pem")),
        OsStr::new(&pki.path("server.key")),
    ]);
    let port = receiver.port;

    // Without the CA: the platform's roots do not trust the test's server; counted, not retried.
    let untrusting = sink(vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://localhost:{port}"),
        ),
        ("OTEL_BSP_EXPORT_TIMEOUT", "5000".to_string()),
    ]);
    let stats = ship_through(&untrusting, 1);
    assert_eq!(
        (stats.exported, stats.failed, stats.retries),
        (0, 1, 0),
        "{stats}"
    );
    let error = stats.last_error.unwrap();
    assert!(error.contains("UnknownIssuer"), "{error}");

    // No scheme: TLS, as the specification says when _INSECURE is not true. The CA, gzip and
    // the headers from the standard variables.
    let trusting = sink(vec![
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_string()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("localhost:{port}"),
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_string()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20t0ken,x-team=a".to_string(),
        ),
    ]);
    assert_eq!(trusting.endpoint(), format!("https://localhost:{port}"));
    let stats = ship_through(&trusting, 7);
    assert_eq!(
        (stats.exported, stats.rejected, stats.failed),
        (0, 1, 0),
        "one span sent, and the receiver rejects one ({stats})"
    );
    assert_eq!(stats.requests, 1, "{stats}");

    let request = next_request(&mut receiver);
    stop(receiver);
    assert_eq!(request["compressed"], true, "{request}");
    assert_eq!(request["metadata"]["authorization"], "Bearer t0ken");
    assert_eq!(request["metadata"]["x-team"], "a");
    assert_eq!(
        request["client"],
        serde_json::json!([]),
        "no client certificate"
    );
    let spans = request["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{request}");
    assert_eq!(spans[0]["attributes"]["order"]["value"], 7);
}

#[test]
fn mutual_tls_with_the_client_certificate_and_refused_without_it() {
    if !python_has_grpc() {
        return;
    }
    let _turn = turn();
    let pki = Pki::new("grpc-mtls");
    let mut receiver = python::start_peer(&[
        OsStr::new(SCRIPT),
        OsStr::new(&pki.path("server.pem")),
        OsStr::new(&pki.path("server.key")),
        OsStr::new(&pki.path("ca.pem")),
    ]);
    let endpoint = format!("https://127.0.0.1:{}", receiver.port);

    let anonymous = sink(vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")),
        // How the refusal shows depends on timing (TLS 1.3: the server's alert comes after the
        // client's handshake is done): a broken pipe fails at once, a cancelled request is
        // retried until this batch timeout; either way the span ends up counted as failed.
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000".to_string()),
    ]);
    let stats = ship_through(&anonymous, 1);
    assert_eq!(stats.exported, 0, "{stats}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stats = anonymous.stats();
    while stats.failed == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        stats = anonymous.stats();
    }
    assert_eq!(
        (stats.exported, stats.failed),
        (0, 1),
        "no client certificate: refused and counted ({stats})"
    );

    let identified = sink(vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pki.path("ca.pem")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            pki.path("client.pem"),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            pki.path("client.key"),
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k".to_string()),
    ]);
    let stats = ship_through(&identified, 2);
    assert_eq!(
        (stats.exported, stats.rejected, stats.failed),
        (0, 1, 0),
        "{stats}"
    );
    let request = next_request(&mut receiver);
    stop(receiver);
    assert_eq!(
        request["client"],
        serde_json::json!(["keel-client"]),
        "{request}"
    );
    assert_eq!(request["metadata"]["x-api-key"], "k");
    assert_eq!(request["compressed"], false);
    assert_eq!(request["spans"][0]["attributes"]["order"]["value"], 2);
}

#[test]
fn resource_exhausted_is_retried_after_its_retry_info_and_not_without_one() {
    if !python_has_grpc() {
        return;
    }
    let _turn = turn();
    let plain_sink = |port: u16| {
        sink(vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
        ])
    };

    // RESOURCE_EXHAUSTED with a RetryInfo of one second: the batch waits for it, then is sent
    // again (and answered, with the receiver's one rejected span).
    let mut receiver = python::start_peer(&[
        OsStr::new(SCRIPT),
        OsStr::new("--exhausted-once=retry-info"),
    ]);
    let throttled = plain_sink(receiver.port);
    let stats = ship_through(&throttled, 3);
    assert_eq!(
        (stats.exported, stats.rejected, stats.failed, stats.requests),
        (0, 0, 0, 1),
        "refused once, waiting for its retry: {stats}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stats = throttled.stats();
    while stats.rejected == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        stats = throttled.stats();
    }
    assert_eq!(
        (stats.rejected, stats.failed, stats.retries, stats.requests),
        (1, 0, 1, 2),
        "{stats}"
    );
    let refused = next_request(&mut receiver);
    assert_eq!(refused["refused"], "retry-info", "{refused}");
    let answered = next_request(&mut receiver);
    stop(receiver);
    let waited = answered["at"].as_f64().unwrap() - refused["at"].as_f64().unwrap();
    assert!(
        waited >= 0.95,
        "the RetryInfo's second honoured, waited {waited} s"
    );
    assert_eq!(answered["spans"][0]["attributes"]["order"]["value"], 3);

    // RESOURCE_EXHAUSTED without one: not retryable, the batch fails at once.
    let mut receiver =
        python::start_peer(&[OsStr::new(SCRIPT), OsStr::new("--exhausted-once=bare")]);
    let refusing = plain_sink(receiver.port);
    let stats = ship_through(&refusing, 4);
    assert_eq!(
        (stats.exported, stats.failed, stats.retries),
        (0, 1, 0),
        "{stats}"
    );
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap()
            .contains("ResourceExhausted"),
        "{stats}"
    );
    assert_eq!(next_request(&mut receiver)["refused"], "bare");
    stop(receiver);
}
