//! W3C Trace Context Level 2 across a process boundary with the OpenTelemetry Python SDK
//! (issue 30; `tests/python/otlp_sdk_peer.py`). The SDK sends trace flags `03` (sampled, and the
//! `random` flag of Level 2): a keel server continuing the trace keeps both bits in the spans it
//! exports and in the `traceparent` it sends on. A trace keel starts reaches an SDK server with
//! `03` too, which the SDK keeps for its own child.
//!
//! Skipped with a notice when `python3` or its `opentelemetry-sdk` package is missing.

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;

use keel::trace::otlp::OtlpSink;
use keel::trace::{self, TraceParent};
use otlp_receiver::{Behaviour, Receiver};
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_sdk_peer.py");

#[path = "support/python.rs"]
mod python;

fn python_has_the_sdk() -> bool {
    python::python_imports("opentelemetry.sdk.trace")
}

/// The keel server's handler: answers with the `traceparent` it would send on.
#[keel::instrument(args(path))]
fn serve(path: &str) -> String {
    let _ = path;
    TraceParent::current()
        .expect("inside a traced call")
        .to_string()
}

/// A keel root calling the SDK server: the header it sent, and the server's answer.
#[keel::instrument]
fn call_python(url: &str) -> (String, String) {
    let header = TraceParent::current()
        .expect("inside a traced call")
        .to_string();
    let answer = ureq::get(url)
        .header("traceparent", &header)
        .call()
        .expect("the SDK server answers")
        .body_mut()
        .read_to_string()
        .expect("a text answer");
    (header, answer)
}

fn fields(traceparent: &str) -> (String, String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (
        parts[1].to_string(),
        parts[2].to_string(),
        parts[3].to_string(),
    )
}

#[test]
fn flags_03_cross_the_python_sdk_both_ways() {
    if !python_has_the_sdk() {
        eprintln!("skipped: python3 with opentelemetry-sdk is not installed");
        return;
    }
    let receiver = Receiver::start(Behaviour::Accept);
    let sink = OtlpSink::builder()
        .endpoint(receiver.endpoint())
        .service_name("keel-interop")
        .build()
        .unwrap();
    trace::add_sink(sink.clone());
    trace::enable();

    // In: the SDK's client calls a keel server.
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/orders",
        server.server_addr().to_ip().unwrap().port()
    );
    let serving = std::thread::spawn(move || {
        let request = server.recv().unwrap();
        let header = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("traceparent"))
            .map(|h| h.value.as_str().to_string())
            .expect("a traceparent header");
        let parent: TraceParent = header.parse().unwrap();
        let next = parent.run(|| serve(request.url()));
        request
            .respond(tiny_http::Response::from_string(next))
            .unwrap();
    });
    let client = Command::new("python3")
        .args([PEER, "client", &url])
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    serving.join().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    let sent = answer["sent"].as_str().unwrap();
    let next = answer["body"].as_str().unwrap();
    let (sdk_trace, sdk_span, sdk_flags) = fields(sent);
    assert_eq!(sdk_flags, "03", "the SDK sends sampled + random");
    let (next_trace, _, next_flags) = fields(next);
    assert_eq!(next_trace, sdk_trace, "the trace continues");
    assert_eq!(next_flags, "03", "keel sends on what it received: {next}");

    // Out: a keel root calls the SDK's server.
    let python::Peer {
        child: mut peer,
        port,
        ..
    } = python::start_peer(&[OsStr::new(PEER), OsStr::new("server")]);
    let (header, answer) = call_python(&format!("http://127.0.0.1:{port}/"));
    assert!(peer.wait().unwrap().success());
    let (root_trace, root_span, root_flags) = fields(&header);
    assert_eq!(
        root_flags, "03",
        "keel's roots are sampled and random: {header}"
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["received_flags"], 3, "{answer}");
    let (python_trace, _, python_flags) = fields(answer["next"].as_str().unwrap());
    assert_eq!(python_trace, root_trace);
    assert_eq!(python_flags, "03", "the SDK keeps keel's flags: {answer}");

    // The exported spans carry the same flags (OTLP's span flags, low byte).
    let stats = sink.flush().unwrap();
    assert_eq!(stats.exported, 2, "{stats}");
    assert_eq!(receiver.wait_for(2, Duration::from_secs(10)), 2);
    let spans = receiver.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.span.name.ends_with(name))
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
    };
    let served = find("::serve");
    assert_eq!(served.trace_id(), sdk_trace);
    assert_eq!(served.parent_id(), sdk_span, "under the SDK's span");
    assert_eq!(served.span.flags & 0xff, 3);
    let root = find("::call_python");
    assert_eq!(root.trace_id(), root_trace);
    assert_eq!(root.span_id(), root_span);
    assert_eq!(root.span.flags & 0xff, 3);
}
