//! An OTLP/HTTP traces receiver for tests and benches: listens on 127.0.0.1, decodes each
//! request with the OpenTelemetry protobuf definitions (`opentelemetry-proto`), keeps the spans.
//! It can also misbehave: answer 503, or accept requests and never answer.

#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Decodes and answers 200.
    Accept,
    /// Answers 503 without decoding.
    Unavailable,
    /// Reads the request and never answers (the connection stays open).
    NeverAnswer,
}

/// A span as received, with the `service.name` of its resource.
#[derive(Clone, Debug)]
pub struct Received {
    pub service: String,
    pub span: Span,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[derive(Default)]
struct State {
    spans: Vec<Received>,
    span_count: usize,
    requests: usize,
    /// When false, spans are counted but not kept (benches).
    keep: bool,
}

pub struct Receiver {
    port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Receiver {
    pub fn start(behaviour: Behaviour) -> Self {
        Self::start_with(behaviour, true)
    }

    /// A receiver that only counts spans (no memory growth).
    pub fn counting() -> Self {
        Self::start_with(Behaviour::Accept, false)
    }

    fn start_with(behaviour: Behaviour, keep: bool) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new((
            Mutex::new(State {
                keep,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let mut unanswered = Vec::new();
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                match behaviour {
                    Behaviour::NeverAnswer => {
                        unanswered.push(request);
                        continue;
                    }
                    Behaviour::Unavailable => {
                        let _ = request.respond(tiny_http::Response::empty(503));
                        continue;
                    }
                    Behaviour::Accept => {}
                }
                let decoded = ExportTraceServiceRequest::decode(&body[..]);
                let status = if decoded.is_ok() { 200 } else { 400 };
                if let Ok(decoded) = decoded {
                    let (lock, changed) = &*shared;
                    let mut state = lock.lock().unwrap();
                    state.requests += 1;
                    for resource_spans in decoded.resource_spans {
                        let service = resource_spans
                            .resource
                            .as_ref()
                            .and_then(|r| attribute(&r.attributes, "service.name"))
                            .unwrap_or_default();
                        for scope in resource_spans.scope_spans {
                            state.span_count += scope.spans.len();
                            if state.keep {
                                for span in scope.spans {
                                    state.spans.push(Received {
                                        service: service.clone(),
                                        span,
                                    });
                                }
                            }
                        }
                    }
                    changed.notify_all();
                }
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        Self { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.state.0.lock().unwrap().spans.clone()
    }

    /// How many spans were received.
    pub fn span_count(&self) -> usize {
        self.state.0.lock().unwrap().span_count
    }

    /// Waits until at least `count` spans arrived or `timeout` passed; returns the count.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap();
        while state.span_count < count {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        state.span_count
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
