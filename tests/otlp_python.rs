//! The OTLP sink against a real peer (issue 30): a Python receiver (`tests/python/otlp_receiver.py`)
//! serving HTTPS with a certificate signed by a CA made in this test, decoding with the
//! OpenTelemetry protobuf definitions (`opentelemetry-proto`). The sink is configured with the
//! standard variables only (endpoint, CA certificate, headers, gzip, service name); the receiver
//! sees the headers percent-decoded, a gzip body, and typed attribute values.
//!
//! Skipped with a notice when `python3` or its `opentelemetry-proto` package is missing
//! (`.ci/run` installs it).

use keel::trace::otlp::OtlpSink;
use keel::trace::{self};
use std::ffi::OsStr;
use std::time::Duration;

#[keel::instrument(args(order, path, express))]
fn ship(order: u32, path: &str, express: bool) -> Result<u32, String> {
    let _ = (path, express);
    if order == 0 {
        Err("no order 0".to_string())
    } else {
        Ok(order * 2)
    }
}

#[path = "support/pki.rs"]
mod pki;
#[path = "support/python.rs"]
mod python;
use pki::Pki;

fn python_has_opentelemetry_proto() -> bool {
    python::python_imports("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
}

#[test]
fn a_python_receiver_over_tls_gets_decoded_headers_gzip_and_typed_values() {
    if !python_has_opentelemetry_proto() {
        eprintln!("skipped: python3 with opentelemetry-proto is not installed");
        return;
    }
    let pki = Pki::new("python");
    let (ca_path, cert_path, key_path) = (
        pki.path("ca.pem"),
        pki.path("server.pem"),
        pki.path("server.key"),
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_receiver.py");
    let python::Peer {
        child: mut receiver,
        mut lines,
        port,
    } = python::start_peer(&[
        OsStr::new(script),
        OsStr::new(&cert_path),
        OsStr::new(&key_path),
    ]);

    // Nothing but the standard variables (through a lookup: no process-wide environment).
    let vars = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://localhost:{port}"),
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path.clone()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=k%C3%A9y%20%3D1,x-dataset=orders".to_string(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_string()),
        ("OTEL_SERVICE_NAME", "checkout".to_string()),
    ];
    let sink = OtlpSink::builder()
        .env(move |name: &str| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.clone())
        })
        .batch_interval(Duration::from_secs(600))
        .build()
        .unwrap();
    trace::clear_sinks();
    trace::add_sink(sink.clone());
    trace::enable();
    let _ = ship(21, "/orders/21", true);
    let _ = ship(0, "/orders/0", false);
    let stats = sink.flush().unwrap();
    trace::clear_sinks();
    assert_eq!((stats.exported, stats.failed), (2, 0), "{stats}");

    let line = lines.next().unwrap().unwrap();
    drop(receiver.stdin.take()); // the receiver exits when its stdin closes
    let _ = receiver.wait();

    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(request["path"], "/v1/traces");
    assert_eq!(request["gzipped"], true);
    assert_eq!(request["headers"]["x-honeycomb-team"], "kéy =1");
    assert_eq!(request["headers"]["x-dataset"], "orders");
    let spans = request["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{line}");
    let attr = |span: &serde_json::Value, key: &str| span["attributes"][key].clone();
    for span in spans {
        assert_eq!(span["service"], "checkout");
        assert!(span["name"].as_str().unwrap().ends_with("ship"));
        // Sampled (01), and W3C Level 2's random (02): keel's roots have random trace ids.
        assert_eq!(span["flags"].as_u64().unwrap() & 0xff, 3, "sampled, random");
    }
    let (ok, failed) = (&spans[0], &spans[1]);
    assert_eq!(attr(ok, "order")["kind"], "int_value");
    assert_eq!(attr(ok, "order")["value"], 21);
    assert_eq!(attr(ok, "path")["kind"], "string_value");
    assert_eq!(attr(ok, "path")["value"], "/orders/21");
    assert_eq!(attr(ok, "express")["kind"], "bool_value");
    assert_eq!(attr(ok, "express")["value"], true);
    assert_eq!(ok["status_code"], 1, "STATUS_CODE_OK");
    assert_eq!(failed["status_code"], 2, "STATUS_CODE_ERROR");
    assert_eq!(failed["status_message"], "no order 0");
    assert_eq!(attr(failed, "path")["value"], "/orders/0");
}
