//! OTLP over gRPC (feature `grpc`, issue 30) against a real peer: a Python `grpcio` TraceService
//! server (`tests/python/otlp_grpc_receiver.py`) decoding with the OpenTelemetry protobuf
//! definitions. The sink is configured with the standard variables only; the receiver sees the
//! headers as gRPC metadata and typed values, and its partial success is counted.
//!
//! Skipped with a notice when `python3` with `grpcio` and `opentelemetry-proto` is missing.

use keel::trace::otlp::OtlpSink;
use keel::trace::{self};
use std::ffi::OsStr;

#[keel::instrument(args(order, path))]
fn ship(order: u32, path: &str) -> u32 {
    let _ = path;
    order * 2
}

#[path = "support/python.rs"]
mod python;

fn python_has_grpc() -> bool {
    python::python_imports("grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc")
}

#[test]
fn spans_reach_a_python_grpc_trace_service_typed_with_metadata() {
    if !python_has_grpc() {
        eprintln!("skipped: python3 with grpcio and opentelemetry-proto is not installed");
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/otlp_grpc_receiver.py"
    );
    let python::Peer {
        child: mut receiver,
        mut lines,
        port,
    } = python::start_peer(&[OsStr::new(script)]);

    let endpoint = format!("http://127.0.0.1:{port}");
    let sink = OtlpSink::builder()
        .env(move |name: &str| match name {
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_string()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=abc%20123".to_string()),
            "OTEL_SERVICE_NAME" => Some("grpc-checkout".to_string()),
            _ => None,
        })
        .build()
        .unwrap();
    assert_eq!(sink.endpoint(), format!("http://127.0.0.1:{port}"));
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

    let line = lines.next().unwrap().unwrap();
    drop(receiver.stdin.take());
    let _ = receiver.wait();
    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(request["metadata"]["x-api-key"], "abc 123");
    let spans = request["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{line}");
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
