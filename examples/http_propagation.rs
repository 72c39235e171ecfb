//! W3C Trace Context over HTTP with hyper (feature `http`): the server takes its caller's
//! `traceparent` from the request's `HeaderMap` (`keel::trace::http::extract`), runs its
//! instrumented handler in that trace (`TraceParent::scope`), and writes the current call into
//! the headers of what it would send on (`keel::trace::http::inject`).
//!
//! Python's OpenTelemetry does the same with `TraceContextTextMapPropagator().extract(headers)`
//! and `inject(headers)`.
//!
//! ```text
//! cargo run --example http_propagation
//! ```

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use keel::trace::{self, Stats, http as trace_http};
use std::convert::Infallible;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The caller's trace, as an OpenTelemetry SDK client sends it (sampled, and W3C Level 2's
/// random flag: `03`, which keel keeps and sends on).
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

/// The handler: an instrumented call, a child of the caller's span.
#[keel::instrument(args(path))]
async fn handle(path: String) -> String {
    // The headers of the request this service would make to the next one.
    let mut outgoing = http::HeaderMap::new();
    trace_http::inject(&mut outgoing);
    let traceparent = outgoing["traceparent"].to_str().unwrap_or_default();
    format!("handled {path}; the next service gets traceparent {traceparent}")
}

async fn serve(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let body = match trace_http::extract(request.headers()) {
        Some(caller) => caller.scope(handle(path)).await,
        // No (or an invalid) traceparent: the handler starts a new trace.
        None => handle(path).await,
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    trace::enable();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(serve))
            .await
            .unwrap();
    });

    // A client sending the caller's traceparent (raw HTTP/1.1, to show the header as sent).
    let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /orders/7 HTTP/1.1\r\nHost: {address}\r\ntraceparent: {CALLER}\r\n\
         tracestate: vendor=opaque\r\nConnection: close\r\n\r\n"
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    client.read_to_string(&mut response).await.unwrap();
    server.await.unwrap();

    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    println!("caller sent traceparent {CALLER}");
    println!("{body}");
    assert!(
        body.contains("traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the handler continued the caller's trace"
    );
    assert!(!body.contains("00f067aa0ba902b7"), "with its own span id");
    println!("{}", stats.report());
}
