//! The export thread: collects the spans every traced thread queued, batches them, encodes them
//! with `opentelemetry-proto`'s types and POSTs them to the OTLP/HTTP endpoint.

use super::pipeline::Pipeline;
use super::record::{PackedOutcome, Record};
use crate::trace::CallSite;
use crate::trace::clock;
use crate::trace::id::SpanId;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
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
    /// Entry fields waiting for their exit, by call id; at most `pending_limit` of them.
    pending: HashMap<u64, Vec<(&'static str, String)>>,
    pending_limit: usize,
    /// Exits of calls entered on another thread, read before that thread's queue was: they
    /// wait one pass for their entry record.
    waiting: Vec<Record>,
    /// The records of one pass, taken out of the queues before they are turned into spans.
    scratch: Vec<Record>,
    agent: ureq::Agent,
}

impl Exporter {
    pub(super) fn new(pipeline: Arc<Pipeline>, anchor: TimeAnchor) -> Self {
        let config = &pipeline.config;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.export_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let resource = Resource {
            attributes: vec![
                string_attribute("service.name", config.service_name.clone()),
                string_attribute("telemetry.sdk.name", "keel".to_string()),
                string_attribute("telemetry.sdk.language", "rust".to_string()),
            ],
            ..Resource::default()
        };
        Self {
            resource,
            anchor,
            max_batch: config.max_batch,
            interval: config.batch_interval,
            pending: HashMap::new(),
            pending_limit: config.queue_capacity,
            waiting: Vec::new(),
            scratch: Vec::new(),
            agent,
            pipeline,
        }
    }

    /// Runs for the life of the process: collects the records of every thread's queue when
    /// woken (a thread queued `wake_every` records, or a flush was asked for) or when the batch
    /// interval has passed, and sends full batches at once and partial ones at the interval.
    pub(super) fn run(mut self) {
        let mut batch: Vec<Span> = Vec::with_capacity(self.max_batch);
        let mut deadline = Instant::now() + self.interval;
        let mut flushed = 0;
        loop {
            // The flag, not the park token alone, says whether someone asked: code this thread
            // runs (the HTTP client) may park too and so consume a token meant for this loop.
            if !self.pipeline.wake.swap(false, Ordering::Acquire) {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
                self.pipeline.wake.store(false, Ordering::Relaxed);
            }
            // Acquire: pairs with the flush's Release, so every record queued before the flush
            // was asked for is in the queues read below.
            let ticket = self.pipeline.flush_requested.load(Ordering::Acquire);
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
    fn collect(&mut self, batch: &mut Vec<Span>) {
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
                records.extend((0..available).filter_map(|_| ring.records.pop().ok()));
                if abandoned {
                    pipeline
                        .counters
                        .queued
                        .fetch_add(ring.counts.spans.load(Ordering::Relaxed), Ordering::Relaxed);
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
        let waited = std::mem::take(&mut self.waiting);
        for record in records.drain(..) {
            if !record.is_span() {
                if self.pending.len() >= self.pending_limit {
                    // Entries whose exits never came (leaked spans): forget them.
                    self.pending.clear();
                }
                let fields = record.extra.map(|extra| extra.fields).unwrap_or_default();
                self.pending.insert(record.call_id, fields);
            } else if record.migrated() && !self.pending.contains_key(&record.call_id) {
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

    fn add(&mut self, batch: &mut Vec<Span>, finished: Record) {
        let Some(site) = finished.site else {
            return; // an entry record: not a span
        };
        let span = self.span(site, finished);
        batch.push(span);
        if batch.len() >= self.max_batch {
            self.send(batch);
        }
    }

    /// The OTLP span of a finished call.
    fn span(&mut self, site: &'static CallSite, finished: Record) -> Span {
        let end = self.anchor.unix_nanos(finished.end);
        let trace = finished.trace();
        let outcome = finished.outcome();
        let remote_parent = finished.remote_parent();
        let elapsed_nanos = finished.elapsed_nanos();
        let extra = finished.extra.map(|extra| *extra).unwrap_or_default();
        let mut attributes = Vec::with_capacity(2 + extra.fields.len());
        attributes.push(string_attribute("code.file.path", site.file().to_string()));
        attributes.push(KeyValue {
            key: "code.line.number".to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i64::from(site.line()))),
            }),
            ..KeyValue::default()
        });
        let entry = self.pending.remove(&finished.call_id).unwrap_or_default();
        for (key, value) in entry.into_iter().chain(extra.fields) {
            attributes.push(string_attribute(key, value));
        }
        let status = match outcome {
            PackedOutcome::Ok => Status {
                code: status::StatusCode::Ok as i32,
                message: String::new(),
            },
            PackedOutcome::Err => Status {
                code: status::StatusCode::Error as i32,
                message: extra.error.unwrap_or_default(),
            },
            PackedOutcome::Panicked => Status {
                code: status::StatusCode::Error as i32,
                message: "panicked".to_string(),
            },
            PackedOutcome::Cancelled => {
                attributes.push(string_attribute("keel.outcome", "cancelled".to_string()));
                Status::default()
            }
        };
        let flags = u32::from(trace.flags())
            | CONTEXT_HAS_IS_REMOTE
            | if remote_parent { CONTEXT_IS_REMOTE } else { 0 };
        Span {
            trace_id: trace.trace_id().to_bytes().to_vec(),
            span_id: SpanId::of_call(finished.call_id).to_bytes().to_vec(),
            parent_span_id: if finished.parent == 0 {
                Vec::new()
            } else {
                SpanId::of_call(finished.parent).to_bytes().to_vec()
            },
            flags,
            name: site.name().to_string(),
            kind: if remote_parent {
                span::SpanKind::Server as i32
            } else {
                span::SpanKind::Internal as i32
            },
            start_time_unix_nano: end.saturating_sub(elapsed_nanos),
            end_time_unix_nano: end,
            attributes,
            status: Some(status),
            ..Span::default()
        }
    }

    /// Sends `batch` (if not empty) and empties it, counting the outcome.
    fn send(&mut self, batch: &mut Vec<Span>) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "keel".to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        ..InstrumentationScope::default()
                    }),
                    spans: std::mem::take(batch),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let body = request.encode_to_vec();
        let pipeline = &self.pipeline;
        let counters = &pipeline.counters;
        counters
            .in_flight_since
            .store(counters.elapsed_nanos(), Ordering::Relaxed);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let result = self
            .agent
            .post(&pipeline.config.endpoint)
            .header("Content-Type", "application/x-protobuf")
            .send(&body[..]);
        counters.in_flight_since.store(0, Ordering::Relaxed);
        let error = match result {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!(
                "HTTP {} from {}",
                response.status().as_u16(),
                pipeline.config.endpoint
            )),
            Err(error) => Some(format!("{}: {error}", pipeline.config.endpoint)),
        };
        match error {
            None => {
                counters.exported.fetch_add(count, Ordering::Relaxed);
                counters.failing.store(false, Ordering::Relaxed);
            }
            Some(error) => {
                counters.failed.fetch_add(count, Ordering::Relaxed);
                counters.failing.store(true, Ordering::Relaxed);
                *counters
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
            }
        }
        *batch = Vec::with_capacity(self.max_batch);
    }
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
