//! Distributed tracing: a client and a server (two threads standing for two processes) talk
//! HTTP over loopback; the `traceparent` header carries the trace, and both export their spans
//! over OTLP to the endpoint in `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (default
//! `http://localhost:4318/v1/traces`: a local OpenTelemetry collector or Jaeger).
//!
//! ```text
//! docker run --rm -p 16686:16686 -p 4318:4318 jaegertracing/all-in-one
//! cargo run --release --features otlp --example distributed_trace
//! # then open http://localhost:16686 and look for the service "distributed_trace"
//! ```

use keel::trace::otlp::OtlpSink;
use keel::trace::{self, TraceParent};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

#[keel::instrument(args(order))]
fn load_order(order: u32) -> Result<String, String> {
    Ok(format!("order {order}: 3 items"))
}

#[keel::instrument(args(path))]
fn handle(path: &str) -> Result<String, String> {
    let order = path
        .trim_start_matches("/orders/")
        .parse()
        .map_err(|_| "bad id")?;
    load_order(order)
}

/// The server side: reads one request, continues the caller's trace, answers.
fn serve(listener: TcpListener) {
    let (mut stream, _) = listener.accept().unwrap();
    // Read the whole header block: a request may arrive in several segments.
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let parent = request
        .lines()
        .find_map(|line| line.strip_prefix("traceparent: "))
        .and_then(|value| value.trim().parse::<TraceParent>().ok());
    let body = match parent {
        Some(parent) => parent.run(|| handle(&path)),
        None => handle(&path),
    }
    .unwrap_or_else(|e| e);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).unwrap();
}

#[keel::instrument(args(port))]
fn fetch_order(port: u16) -> Result<String, String> {
    let traceparent = TraceParent::current().unwrap();
    println!("client sends   traceparent: {traceparent}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let request = format!(
        "GET /orders/42 HTTP/1.1\r\nhost: 127.0.0.1\r\ntraceparent: {traceparent}\r\nconnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string())
}

fn main() {
    let sink = OtlpSink::builder()
        .service_name("distributed_trace")
        .build()
        .unwrap();
    println!("exporting to   {}", sink.endpoint());
    trace::add_sink(sink.clone());
    trace::enable();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || serve(listener));
    let body = fetch_order(port).unwrap();
    server.join().unwrap();
    println!("server answers {body}");

    match sink.flush() {
        Ok(stats) => println!("export         {stats}"),
        Err(error) => println!("export         {error}"),
    }
    println!("(nothing listening? the spans are counted as failed and the program is not held)");
}
