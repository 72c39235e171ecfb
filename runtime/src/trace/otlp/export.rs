//! The export thread: collects the spans every traced thread queued, batches them, encodes them
//! (`encode.rs`, straight into one reused buffer) and POSTs them to the OTLP/HTTP endpoint,
//! retrying what the specification calls retryable and shedding spans unencoded while the
//! receiver is failing.

use super::encode::{Body, Encoder, SpanFields};
use super::env::Compression;
use super::json;
use super::pipeline::Pipeline;
use super::record::{Fields, PackedOutcome, Record};
use super::value::{self, Typed};
use crate::trace::clock;
use crate::trace::id::SpanId;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// OTLP span flags: the "is remote" bit below is meaningful.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flags: the parent is in another process.
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// A raw clock reading paired with the wall-clock time, to turn readings into Unix nanoseconds.
pub(super) struct TimeAnchor {
    raw: u64,
    unix_nanos: u64,
}

impl TimeAnchor {
    pub(super) fn now() -> Self {
        let raw = clock::now();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        Self { raw, unix_nanos }
    }

    fn unix_nanos(&self, raw: u64) -> u64 {
        if raw >= self.raw {
            self.unix_nanos
                .saturating_add(clock::elapsed_nanos(self.raw, raw))
        } else {
            self.unix_nanos
                .saturating_sub(clock::elapsed_nanos(raw, self.raw))
        }
    }
}

pub(super) struct Exporter {
    pipeline: Arc<Pipeline>,
    resource: Resource,
    anchor: TimeAnchor,
    max_batch: usize,
    interval: Duration,
    /// Entry fields waiting for their exit, by call id; at most `pending_limit` of them. The
    /// latest entry waits in `last_entry` instead: its exit is usually the next record of the
    /// same queue (a call with no traced callees), which then needs no hashing.
    pending: HashMap<u64, Fields, foldhash::fast::RandomState>,
    last_entry: Option<(u64, Fields)>,
    pending_limit: usize,
    /// Exits of calls entered on another thread, read before that thread's queue was: they
    /// wait one pass for their entry record.
    waiting: Vec<Record>,
    /// The records of one pass, taken out of the queues before they are turned into spans.
    scratch: Vec<Record>,
    agent: ureq::Agent,
    /// The gRPC client, when the protocol is `grpc` (or why it could not be made: then every
    /// batch fails with that error, rather than going over HTTP to a gRPC endpoint).
    #[cfg(feature = "grpc")]
    grpc: Option<Result<super::grpc::GrpcClient, String>>,
    /// A batch waiting to be sent again after a retryable failure, and the backoff.
    retry: Option<Retry>,
    backoff: Backoff,
    /// The request body's buffer, reused from batch to batch.
    body: Body,
}

/// An encoded batch the receiver could not take yet (429, 502, 503, 504, or no connection).
struct Retry {
    body: Body,
    spans: u64,
    /// When the batch was first sent: it is given up `batch_timeout` after that.
    first_sent: Instant,
}

/// Exponential backoff with jitter between the requests to a failing receiver; until `until`,
/// the records taken out of the queues are dropped before they are encoded (and counted).
struct Backoff {
    failures: u32,
    until: Option<Instant>,
    /// xorshift state for the jitter.
    seed: u64,
}

/// The first wait after a failure; doubled at each failure in a row, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait a receiver's `Retry-After` (or gRPC `RetryInfo`) is honoured for: a longer
/// one (a bogus header, `u64::MAX` seconds) is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl Backoff {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |since| since.as_nanos() as u64)
            | 1;
        Backoff {
            failures: 0,
            until: None,
            seed,
        }
    }

    /// The wait after one more failure: `retry_after` if the receiver gave one (at most
    /// [`MAX_RETRY_AFTER`]), else
    /// `FIRST_BACKOFF * 2^(failures - 1)` capped at `MAX_BACKOFF`, less a random part of up to
    /// half of it (so that many clients do not come back at once).
    fn fail(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = match retry_after {
            Some(wait) => wait.min(MAX_RETRY_AFTER),
            None => {
                let exponential = FIRST_BACKOFF
                    .saturating_mul(1 << (self.failures - 1).min(16))
                    .min(MAX_BACKOFF);
                self.seed ^= self.seed << 13;
                self.seed ^= self.seed >> 7;
                self.seed ^= self.seed << 17;
                let jitter = exponential.mul_f64((self.seed % 1000) as f64 / 2000.0);
                exponential - jitter
            }
        };
        self.until = Some(Instant::now() + wait);
        wait
    }

    fn succeed(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    /// Whether the receiver is being left alone now.
    fn waiting(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// How a request ended.
pub(super) enum Sent {
    /// A 2xx answer: the spans the receiver said it rejected (`partial_success`), and its
    /// message.
    Accepted { rejected: u64, message: String },
    /// Worth trying again later (429, 502, 503, 504, no connection, no answer in time), after
    /// the `Retry-After` the receiver gave, if any.
    Retryable {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Not worth trying again (another error status).
    Failed { error: String },
}

impl Exporter {
    pub(super) fn new(pipeline: Arc<Pipeline>, anchor: TimeAnchor) -> Self {
        let config = &pipeline.config;
        let mut agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.export_timeout))
            .http_status_as_error(false);
        if let Some(tls) = &config.tls {
            agent = agent.tls_config(tls.clone());
        }
        // ureq's own connector (TCP, and rustls for https://), with the endpoint's lookup kept.
        let agent = ureq::Agent::with_parts(
            agent.build(),
            ureq::unversioned::transport::DefaultConnector::default(),
            super::resolve::CachingResolver::default(),
        );
        let mut attributes = vec![
            string_attribute("service.name", config.service_name.clone()),
            string_attribute("telemetry.sdk.name", "keel".to_string()),
            string_attribute("telemetry.sdk.language", "rust".to_string()),
        ];
        for (key, value) in &config.resource {
            attributes.retain(|attribute| attribute.key != *key);
            attributes.push(string_attribute(key, value.clone()));
        }
        let resource = Resource {
            attributes,
            ..Resource::default()
        };
        Self {
            resource,
            anchor,
            max_batch: config.max_batch,
            interval: config.batch_interval,
            pending: HashMap::default(),
            last_entry: None,
            pending_limit: config.queue_capacity,
            waiting: Vec::new(),
            scratch: Vec::new(),
            agent,
            #[cfg(feature = "grpc")]
            grpc: config.grpc.then(|| {
                super::grpc::GrpcClient::new(config).map_err(|error| {
                    format!(
                        "{}: the gRPC client could not be made: {error}",
                        config.endpoint
                    )
                })
            }),
            retry: None,
            backoff: Backoff::new(),
            body: Body::default(),
            pipeline,
        }
    }

    /// Runs for the life of the process: collects the records of every thread's queue when
    /// woken (a thread queued `wake_every` records, or a flush was asked for) or when the batch
    /// interval has passed, and sends full batches at once and partial ones at the interval.
    pub(super) fn run(mut self) {
        let scope = InstrumentationScope {
            name: "keel".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..InstrumentationScope::default()
        };
        let mut batch = Encoder::new(&self.resource, &scope, self.pipeline.config.json);
        let mut deadline = Instant::now() + self.interval;
        let mut flushed = 0;
        loop {
            // The flag, not the park token alone, says whether someone asked: code this thread
            // runs (the HTTP client) may park too and so consume a token meant for this loop.
            if !self.pipeline.wake.swap(false, Ordering::Acquire) {
                // At the backoff's end too: the retry is due, or the traced threads may queue
                // their spans again.
                let wake_at = match self.backoff.until {
                    Some(until) if until > Instant::now() => deadline.min(until),
                    _ => deadline,
                };
                std::thread::park_timeout(wake_at.saturating_duration_since(Instant::now()));
                self.pipeline.wake.store(false, Ordering::Relaxed);
            }
            // Acquire: pairs with the flush's Release, so every record queued before the flush
            // was asked for is in the queues read below.
            let ticket = self.pipeline.flush_requested.load(Ordering::Acquire);
            if self.retry.is_some() && !self.backoff.waiting(Instant::now()) {
                self.send_again();
            }
            self.collect(&mut batch);
            if ticket > flushed {
                // A second pass settles the exits that waited for an entry in another queue.
                self.collect(&mut batch);
                self.send(&mut batch);
                flushed = ticket;
                let mut done = self
                    .pipeline
                    .flushed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *done = (*done).max(ticket);
                self.pipeline.flushed_changed.notify_all();
            }
            if Instant::now() >= deadline {
                self.send(&mut batch);
                deadline = Instant::now() + self.interval;
            }
        }
    }

    /// Takes every record queued so far out of the queues (retiring those of exited threads)
    /// and turns the finished spans into OTLP spans, sending each batch that fills up.
    ///
    /// An exit whose call was entered on another thread may be read before that call's entry
    /// record: it waits for the next pass, which reads every queue again after this one and so
    /// sees any entry queued before the exit.
    fn collect(&mut self, batch: &mut Encoder) {
        // Reused from pass to pass (its memory stays mapped and warm).
        let mut records = std::mem::take(&mut self.scratch);
        {
            let pipeline = &self.pipeline;
            let mut rings = pipeline
                .rings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rings.retain_mut(|ring| {
                // Checked first: an abandoned queue gets no more records after this.
                let abandoned = ring.records.is_abandoned();
                let available = ring.records.slots();
                // One chunk: the queue's read position is published once, not per record.
                if let Ok(chunk) = ring.records.read_chunk(available) {
                    records.extend(chunk);
                }
                if abandoned {
                    let shed = ring.counts.shed.load(Ordering::Relaxed);
                    let counters = &pipeline.counters;
                    counters.queued.fetch_add(
                        ring.counts.spans.load(Ordering::Relaxed) + shed,
                        Ordering::Relaxed,
                    );
                    counters.failed.fetch_add(shed, Ordering::Relaxed);
                    counters.shed.fetch_add(shed, Ordering::Relaxed);
                    pipeline.counters.dropped.fetch_add(
                        ring.counts.dropped.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                }
                !abandoned
            });
            records.extend(
                pipeline
                    .orphans
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .drain(..),
            );
        }
        if self.shedding() {
            // The receiver is failing: drop what was collected before any work is spent on it.
            self.shed(&mut records, batch);
            self.scratch = records;
            return;
        }
        let waited = std::mem::take(&mut self.waiting);
        for record in records.drain(..) {
            if !record.is_span() {
                if self.pending.len() >= self.pending_limit {
                    // Entries whose exits never came (leaked spans): forget them.
                    self.pending.clear();
                }
                let call_id = record.call_id;
                let fields = record.into_entry_fields();
                if let Some((call_id, fields)) = self.last_entry.replace((call_id, fields)) {
                    self.pending.insert(call_id, fields);
                }
            } else if record.migrated() && !self.has_entry(record.call_id) {
                self.waiting.push(record);
            } else {
                self.add(batch, record);
            }
        }
        for finished in waited {
            self.add(batch, finished);
        }
        self.scratch = records;
    }

    /// Encodes the span of a finished call into `batch`, sending the batch when it is full.
    fn add(&mut self, batch: &mut Encoder, finished: Record) {
        let Some(site) = finished.site else {
            return; // an entry record: not a span
        };
        let end = self.anchor.unix_nanos(finished.end);
        let trace = finished.trace();
        let outcome = finished.outcome();
        let remote_parent = finished.remote_parent();
        let elapsed_nanos = finished.elapsed_nanos();
        let extra = finished.extra.map(|extra| *extra).unwrap_or_default();
        let entry = self.take_entry(finished.call_id);
        let (status_code, status_message) = match outcome {
            PackedOutcome::Ok => (status::StatusCode::Ok as i32, ""),
            PackedOutcome::Err => (
                status::StatusCode::Error as i32,
                extra.error.as_deref().unwrap_or(""),
            ),
            PackedOutcome::Panicked => (status::StatusCode::Error as i32, "panicked"),
            PackedOutcome::Cancelled => (status::StatusCode::Unset as i32, ""),
        };
        let fields = SpanFields {
            trace_id: trace.trace_id().to_bytes(),
            span_id: SpanId::of_call(finished.call_id).to_bytes(),
            parent_span_id: (finished.parent != 0)
                .then(|| SpanId::of_call(finished.parent).to_bytes()),
            flags: u32::from(trace.flags())
                | CONTEXT_HAS_IS_REMOTE
                | if remote_parent { CONTEXT_IS_REMOTE } else { 0 },
            name: site.name(),
            kind: if remote_parent {
                span::SpanKind::Server as i32
            } else {
                span::SpanKind::Internal as i32
            },
            start_time_unix_nano: end.saturating_sub(elapsed_nanos),
            end_time_unix_nano: end,
            status_code,
            status_message,
        };
        let cancelled = outcome == PackedOutcome::Cancelled;
        batch.push(&fields, |attributes| {
            attributes.add_site(site);
            for (key, text) in entry.iter().chain(extra.fields.iter()) {
                attributes.add(key, &value::typed(text));
            }
            if cancelled {
                attributes.add("keel.outcome", &Typed::Str(Cow::Borrowed("cancelled")));
            }
        });
        if batch.len() >= self.max_batch {
            self.send(batch);
        }
    }

    /// Whether the entry fields of call `call_id` are waiting for its exit.
    fn has_entry(&self, call_id: u64) -> bool {
        self.last_entry
            .as_ref()
            .is_some_and(|(id, _)| *id == call_id)
            || self.pending.contains_key(&call_id)
    }

    /// The entry fields of call `call_id` (none if it had no entry record).
    fn take_entry(&mut self, call_id: u64) -> Fields {
        if self
            .last_entry
            .as_ref()
            .is_some_and(|(id, _)| *id == call_id)
        {
            return self
                .last_entry
                .take()
                .map(|(_, fields)| fields)
                .unwrap_or_default();
        }
        if self.pending.is_empty() {
            Fields::default()
        } else {
            self.pending.remove(&call_id).unwrap_or_default()
        }
    }

    /// Whether the receiver is being left alone now (a batch waits for its retry, or the
    /// backoff after a failure runs), told to the traced threads through
    /// [`Pipeline::shedding`](super::pipeline::Pipeline::shedding) so that they drop their
    /// spans before queueing them.
    fn shedding(&self) -> bool {
        let shedding = self.retry.is_some() || self.backoff.waiting(Instant::now());
        let flag = &self.pipeline.shedding.0;
        if flag.load(Ordering::Relaxed) != shedding {
            flag.store(shedding, Ordering::Relaxed);
        }
        shedding
    }

    /// Drops `records`, the waiting exits and the spans of `batch` unencoded, counting the spans
    /// as failed (and shed): the receiver is failing, so they could not be sent now anyway.
    fn shed(&mut self, records: &mut Vec<Record>, batch: &mut Encoder) {
        let spans = records.iter().filter(|record| record.is_span()).count()
            + self.waiting.len()
            + batch.len();
        records.clear();
        self.waiting.clear();
        self.pending.clear();
        self.last_entry = None;
        batch.clear();
        let counters = &self.pipeline.counters;
        counters.shed.fetch_add(spans as u64, Ordering::Relaxed);
        counters.failed.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Sends `batch` (if not empty) and empties it, counting the outcome.
    fn send(&mut self, batch: &mut Encoder) {
        if batch.len() == 0 {
            return;
        }
        if self.shedding() {
            let mut none = Vec::new();
            self.shed(&mut none, batch);
            return;
        }
        let count = batch.len() as u64;
        let mut body = std::mem::take(&mut self.body);
        batch.finish(&mut body);
        if self.pipeline.config.compression == Compression::Gzip {
            let gzipped = gzip(&body);
            self.body = body;
            body = Body::whole(gzipped);
        }
        let returned = self.deliver(Retry {
            body,
            spans: count,
            first_sent: Instant::now(),
        });
        self.shedding();
        // Keep the larger buffer (with gzip, the uncompressed one was kept above).
        if let Some(body) = returned.filter(|body| body.capacity() >= self.body.capacity()) {
            self.body = body;
        }
    }

    /// Sends the batch waiting for a retry.
    fn send_again(&mut self) {
        if let Some(retry) = self.retry.take() {
            self.pipeline
                .counters
                .retries
                .fetch_add(1, Ordering::Relaxed);
            if let Some(body) = self.deliver(retry) {
                self.body = body;
            }
            self.shedding();
        }
    }

    /// POSTs `batch`'s body and counts the outcome; a retryable failure keeps the body for
    /// another try after the backoff, until `batch_timeout` after its first try. The body is
    /// handed back when it is not kept (for the next batch to reuse).
    fn deliver(&mut self, batch: Retry) -> Option<Body> {
        let pipeline = Arc::clone(&self.pipeline);
        let counters = &pipeline.counters;
        counters
            .in_flight_since
            .store(counters.elapsed_nanos(), Ordering::Relaxed);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "grpc")]
        let sent = match &mut self.grpc {
            Some(Ok(grpc)) => grpc.export(&batch.body),
            Some(Err(error)) => Sent::Failed {
                error: error.clone(),
            },
            None => self.post(&batch.body),
        };
        #[cfg(not(feature = "grpc"))]
        let sent = self.post(&batch.body);
        counters.in_flight_since.store(0, Ordering::Relaxed);
        let set_error = |error: String| {
            *counters
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
        };
        match sent {
            Sent::Accepted { rejected, message } => {
                let rejected = rejected.min(batch.spans);
                counters
                    .exported
                    .fetch_add(batch.spans - rejected, Ordering::Relaxed);
                counters.rejected.fetch_add(rejected, Ordering::Relaxed);
                counters.failing.store(false, Ordering::Relaxed);
                self.backoff.succeed();
                if rejected > 0 || !message.is_empty() {
                    set_error(format!(
                        "{} rejected {rejected} span(s): {message}",
                        pipeline.config.endpoint
                    ));
                }
            }
            Sent::Retryable { error, retry_after } => {
                counters.failing.store(true, Ordering::Relaxed);
                let wait = self.backoff.fail(retry_after);
                set_error(error);
                if batch.first_sent.elapsed() + wait <= pipeline.config.batch_timeout {
                    self.retry = Some(batch);
                    return None;
                }
                counters.failed.fetch_add(batch.spans, Ordering::Relaxed);
            }
            Sent::Failed { error } => {
                counters.failing.store(true, Ordering::Relaxed);
                self.backoff.fail(None);
                set_error(error);
                counters.failed.fetch_add(batch.spans, Ordering::Relaxed);
            }
        }
        Some(batch.body)
    }

    fn post(&self, body: &[u8]) -> Sent {
        let config = &self.pipeline.config;
        let mut request = self.agent.post(&config.endpoint).header(
            "Content-Type",
            if config.json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        );
        if config.compression == Compression::Gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => {
                let message = format!("{}: {error}", config.endpoint);
                // A refused certificate (rustls reports it as invalid data) or a request that
                // cannot be made fails the same way every time; the rest (refused or reset
                // connections, timeouts, names not resolved) may pass later.
                let permanent = match &error {
                    ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
                    ureq::Error::Tls(_)
                    | ureq::Error::Rustls(_)
                    | ureq::Error::Pem(_)
                    | ureq::Error::BadUri(_)
                    | ureq::Error::Http(_) => true,
                    _ => false,
                };
                return if permanent {
                    Sent::Failed { error: message }
                } else {
                    Sent::Retryable {
                        error: message,
                        retry_after: None,
                    }
                };
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            // The answer is in the request's encoding (a receiver may leave the type out).
            let json = content_type
                .as_deref()
                .map_or(config.json, |value| value.starts_with("application/json"));
            let protobuf = content_type
                .as_deref()
                .is_none_or(|value| value.starts_with("application/x-protobuf"));
            let body = (json || protobuf)
                .then(|| {
                    response
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .ok()
                })
                .flatten()
                .unwrap_or_default();
            let (rejected, message) = if json {
                json::partial_success(&body)
            } else {
                ExportTraceServiceResponse::decode(&body[..])
                    .ok()
                    .and_then(|answer| answer.partial_success)
                    .map(|partial| {
                        (
                            u64::try_from(partial.rejected_spans).unwrap_or(0),
                            partial.error_message,
                        )
                    })
                    .unwrap_or_default()
            };
            return Sent::Accepted { rejected, message };
        }
        let error = format!("HTTP {status} from {}", config.endpoint);
        if matches!(status, 429 | 502 | 503 | 504) {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Sent::Retryable { error, retry_after }
        } else {
            Sent::Failed { error }
        }
    }
}

/// `body` gzipped.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn string_attribute(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_retry_after_is_honoured_up_to_an_hour_and_never_overflows() {
        let mut backoff = Backoff::new();
        assert_eq!(
            backoff.fail(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert!(backoff.waiting(Instant::now()));
        // A bogus `Retry-After: 18446744073709551615` must not panic the export thread.
        assert_eq!(
            backoff.fail(Some(Duration::from_secs(u64::MAX))),
            MAX_RETRY_AFTER
        );
        assert_eq!(backoff.fail(Some(Duration::MAX)), MAX_RETRY_AFTER);
        backoff.succeed();
        assert!(!backoff.waiting(Instant::now()));
        // Without one: exponential with jitter, at most half taken off, capped.
        let first = backoff.fail(None);
        assert!(
            first <= FIRST_BACKOFF && first >= FIRST_BACKOFF / 2,
            "{first:?}"
        );
        for _ in 0..20 {
            assert!(backoff.fail(None) <= MAX_BACKOFF);
        }
    }
}
