//! OpenTelemetry export (feature `otlp`): [`OtlpSink`] sends every finished, sampled span to an
//! OTLP/HTTP receiver (an OpenTelemetry collector, Jaeger, Grafana Tempo, a hosted backend over
//! HTTPS) as protobuf (the OpenTelemetry `trace.proto` messages, optionally gzipped) or OTLP's
//! JSON (`http/json`, [`OtlpSinkBuilder::json`]), or over gRPC with the `grpc` feature
//! (tonic's client, with its rustls and gzip; `OtlpSinkBuilder::grpc`), configured
//! by its builder or the OpenTelemetry SDK's `OTEL_*` variables
//! ([`OtlpSinkBuilder`] lists them).
//!
//! The traced thread does almost nothing: it writes a 64-byte record of the span into its own
//! bounded queue (one per thread and sink, a wait-free single-producer ring from `rtrb`: no
//! lock, no atomic read-modify-write) and returns. A full queue drops the span and counts it;
//! it never blocks. A background thread collects the records of every thread's queue (woken
//! each time a thread has queued [`max_batch`](OtlpSinkBuilder::max_batch) records, or a
//! quarter of its queue if that is less, by a flush, and at least every
//! [`batch_interval`](OtlpSinkBuilder::batch_interval)), batches them and POSTs them;
//! [`OtlpSink::flush`] reaches the spans of every thread, running or exited. A receiver
//! that is down, answers errors or never answers costs the program nothing but those spans
//! (a retryable answer, 429, 502, 503 or 504, gets the batch again after a backoff or its
//! `Retry-After`, and meanwhile new spans are dropped before they are encoded): they are
//! counted in [`ExportStats`], which [`OtlpSink::stats`] returns and which is printed
//! on stderr at exit when anything was lost.
//!
//! ```no_run
//! use keel_runtime::trace::{self, otlp::OtlpSink};
//!
//! let sink = OtlpSink::builder()
//!     .endpoint("http://127.0.0.1:4318/v1/traces")
//!     .service_name("checkout")
//!     .build()
//!     .unwrap();
//! trace::add_sink(sink.clone());
//! trace::enable();
//! // ... traced work ...
//! sink.flush().unwrap(); // also done at exit
//! println!("{}", sink.stats());
//! ```
//!
//! Where the parts live: [`OtlpSink`] and its [`Sink`](crate::trace::Sink) side in `sink.rs`;
//! its settings ([`OtlpSinkBuilder`], the checks) in `config.rs`, the OpenTelemetry SDK's
//! `OTEL_*` variables in `env.rs` and the HTTPS files (CA, client certificate) in `tls.rs`; the
//! 64-byte record a span travels as in `record.rs`; the per-thread queues in `ring.rs`; the
//! state the handles, the traced threads and the export thread share in `pipeline.rs`, with
//! [`ExportStats`] and the export thread's counters in `counters.rs`; the export thread
//! (batching, retries, shedding while the receiver fails) in `export.rs`, the protobuf body it
//! writes straight from the records in `encode.rs` (the JSON one in `json.rs`), and the typing of recorded values in
//! `value.rs`; the endpoint's address lookup, kept between requests, in `resolve.rs`; the gRPC transport in
//! `grpc.rs`. A new transport or setting adds its field to the builder and to `Config` in
//! `config.rs` (and its variable to `env.rs`), and its sending to `export.rs`.

mod config;
#[cfg(test)]
mod config_tests;
mod counters;
mod encode;
mod env;
mod error;
mod export;
#[cfg(feature = "grpc")]
mod grpc;
mod json;
mod pipeline;
mod record;
mod resolve;
mod ring;
mod sink;
#[cfg(test)]
mod tests;
mod tls;
mod value;

pub use config::{DEFAULT_ENDPOINT, OtlpSinkBuilder};
pub use counters::ExportStats;
pub use error::OtlpError;
pub use sink::OtlpSink;
