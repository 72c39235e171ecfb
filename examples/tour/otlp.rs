//! OpenTelemetry export: `OtlpSink` sends finished spans as OTLP/HTTP protobuf. Here the
//! receiver is in the tour itself (a small HTTP server on 127.0.0.1 that decodes each request
//! with the OpenTelemetry project's protobuf types and counts the spans), standing for a
//! collector, Jaeger or Tempo. (Python: opentelemetry-sdk's `BatchSpanProcessor` +
//! `OTLPSpanExporter`.)

use crate::measure::Table;
use keel::trace::{self, otlp::OtlpSink};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the receiver has seen.
#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
    spans: AtomicU64,
    services: Mutex<Vec<String>>,
}

/// Answers OTLP/HTTP requests on one connection (keep-alive) until the client closes it.
fn connection(stream: TcpStream, received: &Received) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut length = None;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // closed
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.unwrap_or(0)];
        reader.read_exact(&mut body)?;
        let status = match ExportTraceServiceRequest::decode(body.as_slice()) {
            Ok(request) => {
                for resource in &request.resource_spans {
                    let spans: usize = resource.scope_spans.iter().map(|s| s.spans.len()).sum();
                    received.spans.fetch_add(spans as u64, Ordering::Relaxed);
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref())
                        .and_then(|v| match &v.value {
                            Some(Value::StringValue(name)) => Some(name.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let mut services = received.services.lock().unwrap();
                    if !services.contains(&service) {
                        services.push(service);
                    }
                }
                "200 OK"
            }
            Err(_) => "400 Bad Request",
        };
        received.requests.fetch_add(1, Ordering::Relaxed);
        received
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        // One write: split small writes would wait on Nagle's algorithm and delayed ACKs.
        writer.write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
            )
            .as_bytes(),
        )?;
    }
}

/// Starts the receiver on a free loopback port; its threads live as long as the process.
fn receiver() -> (u16, Arc<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    let received = Arc::new(Received::default());
    let shared = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let received = shared.clone();
            std::thread::spawn(move || connection(stream, &received));
        }
    });
    (port, received)
}

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[keel::instrument]
#[inline(never)]
fn lookup(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Nanoseconds per call, the fastest of `rounds` rounds of 1000 calls (filters out time spent
/// descheduled).
fn fastest(rounds: u32, mut f: impl FnMut(u64) -> u64) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for i in 0..1000 {
                black_box(f(i));
            }
            start.elapsed().as_secs_f64() * 1e9 / 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

pub fn run() {
    let (port, received) = receiver();
    let sink = OtlpSink::builder()
        .endpoint(format!("http://127.0.0.1:{port}/v1/traces"))
        .service_name("keel-tour")
        .queue_capacity(32_768) // every span of this burst fits: none is dropped
        .build()
        .expect("OTLP sink");
    trace::clear_sinks();
    let floor = fastest(20, bare);
    trace::add_sink(sink.clone());
    trace::enable();
    let start = Instant::now();
    let worker = std::thread::spawn(|| {
        for i in 0..10_000 {
            black_box(lookup(i));
        }
    });
    let on = fastest(20, lookup);
    worker.join().unwrap();
    let flushed = sink.flush();
    let elapsed = start.elapsed();
    trace::disable();
    trace::clear_sinks();
    let stats = match flushed {
        Ok(stats) => stats,
        Err(e) => {
            println!("flush failed: {e}");
            sink.stats()
        }
    };

    println!(
        "30,000 calls of an #[keel::instrument] fn on 2 threads, exported to an OTLP/HTTP \
         receiver on 127.0.0.1:{port} and flushed in {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    let (requests, bytes, spans) = (
        received.requests.load(Ordering::Relaxed),
        received.bytes.load(Ordering::Relaxed),
        received.spans.load(Ordering::Relaxed),
    );
    let mut table = Table::new(&["", "OtlpSink (sender)", "receiver"]);
    table
        .row(&[
            &"spans",
            &format!("{} exported", stats.exported),
            &format!("{spans} decoded"),
        ])
        .row(&[&"requests", &stats.requests, &requests])
        .row(&[
            &"dropped / failed",
            &format!("{} / {}", stats.dropped, stats.failed),
            &"-",
        ])
        .row(&[
            &"protobuf bytes",
            &"-",
            &format!(
                "{bytes} ({:.0} per span)",
                bytes as f64 / spans.max(1) as f64
            ),
        ]);
    table.print();
    println!(
        "service.name as received: {}",
        received.services.lock().unwrap().join(", ")
    );
    let mut table = Table::new(&["per call (fastest of 20 rounds of 1000)", "time"]);
    table.row(&[&"bare fn", &format!("{floor:.1} ns")]).row(&[
        &"#[keel::instrument] fn, span queued for OTLP",
        &format!("{on:.1} ns"),
    ]);
    table.print();
    println!(
        "(the traced thread only writes a 64-byte record to its own queue; a background thread batches and POSTs)"
    );
    assert_eq!(stats.exported, 30_000);
    assert_eq!(spans, 30_000);
}
