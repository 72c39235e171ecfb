//! The export thread: batches queued spans, encodes them with `opentelemetry-proto`'s types and
//! POSTs them to the OTLP/HTTP endpoint.

use super::{FinishedSpan, Record, Shared};
use crate::trace::clock;
use crate::trace::event::Outcome;
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
use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    shared: Arc<Shared>,
    resource: Resource,
    anchor: TimeAnchor,
    max_batch: usize,
    interval: Duration,
    /// Entry fields waiting for their exit, by call id; at most `pending_limit` of them.
    pending: HashMap<u64, Vec<(&'static str, String)>>,
    pending_limit: usize,
    agent: ureq::Agent,
}

impl Exporter {
    pub(super) fn new(
        shared: Arc<Shared>,
        service_name: String,
        anchor: TimeAnchor,
        max_batch: usize,
        interval: Duration,
        pending_limit: usize,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(shared.export_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let resource = Resource {
            attributes: vec![
                string_attribute("service.name", service_name),
                string_attribute("telemetry.sdk.name", "keel".to_string()),
                string_attribute("telemetry.sdk.language", "rust".to_string()),
            ],
            ..Resource::default()
        };
        Self {
            shared,
            resource,
            anchor,
            max_batch,
            interval,
            pending: HashMap::new(),
            pending_limit,
            agent,
        }
    }

    /// Runs until every handle is gone (in practice, the life of the process).
    pub(super) fn run(mut self, records: Receiver<Record>) {
        let mut batch: Vec<Span> = Vec::with_capacity(self.max_batch);
        let mut deadline = Instant::now() + self.interval;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match records.recv_timeout(wait) {
                Ok(Record::Enter { call_id, fields }) => {
                    if self.pending.len() >= self.pending_limit {
                        // Entries whose exits never came (leaked spans): forget them.
                        self.pending.clear();
                    }
                    self.pending.insert(call_id, fields);
                }
                Ok(Record::Exit(finished)) => {
                    let span = self.span(finished);
                    batch.push(span);
                    if batch.len() >= self.max_batch {
                        self.send(&mut batch);
                        deadline = Instant::now() + self.interval;
                    }
                }
                Ok(Record::Flush(ticket)) => {
                    self.send(&mut batch);
                    let mut flushed = self
                        .shared
                        .flushed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *flushed = (*flushed).max(ticket);
                    self.shared.flushed_changed.notify_all();
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.send(&mut batch);
                    deadline = Instant::now() + self.interval;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.send(&mut batch);
                    return;
                }
            }
        }
    }

    /// The OTLP span of a finished call.
    fn span(&mut self, finished: FinishedSpan) -> Span {
        let site = finished.site;
        let end = self.anchor.unix_nanos(finished.end);
        let mut attributes = Vec::with_capacity(2 + finished.fields.len());
        attributes.push(string_attribute("code.file.path", site.file().to_string()));
        attributes.push(KeyValue {
            key: "code.line.number".to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i64::from(site.line()))),
            }),
            ..KeyValue::default()
        });
        let entry = self.pending.remove(&finished.call_id).unwrap_or_default();
        for (key, value) in entry.into_iter().chain(finished.fields) {
            attributes.push(string_attribute(key, value));
        }
        let status = match finished.outcome {
            Outcome::Ok => Status {
                code: status::StatusCode::Ok as i32,
                message: String::new(),
            },
            Outcome::Err(message) => Status {
                code: status::StatusCode::Error as i32,
                message,
            },
            Outcome::Panicked => Status {
                code: status::StatusCode::Error as i32,
                message: "panicked".to_string(),
            },
            Outcome::Cancelled => {
                attributes.push(string_attribute("keel.outcome", "cancelled".to_string()));
                Status::default()
            }
        };
        let remote_parent = matches!(finished.parent, Some((_, true)));
        let flags = u32::from(finished.trace.flags())
            | CONTEXT_HAS_IS_REMOTE
            | if remote_parent { CONTEXT_IS_REMOTE } else { 0 };
        Span {
            trace_id: finished.trace.trace_id().to_bytes().to_vec(),
            span_id: SpanId::of_call(finished.call_id).to_bytes().to_vec(),
            parent_span_id: finished
                .parent
                .map(|(call_id, _)| SpanId::of_call(call_id).to_bytes().to_vec())
                .unwrap_or_default(),
            flags,
            name: site.name().to_string(),
            kind: if remote_parent {
                span::SpanKind::Server as i32
            } else {
                span::SpanKind::Internal as i32
            },
            start_time_unix_nano: end.saturating_sub(finished.elapsed_nanos),
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
        let shared = &self.shared;
        shared
            .in_flight_since
            .store(shared.elapsed_nanos(), Ordering::Relaxed);
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let result = self
            .agent
            .post(&shared.endpoint)
            .header("Content-Type", "application/x-protobuf")
            .send(&body[..]);
        shared.in_flight_since.store(0, Ordering::Relaxed);
        let error = match result {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!(
                "HTTP {} from {}",
                response.status().as_u16(),
                shared.endpoint
            )),
            Err(error) => Some(format!("{}: {error}", shared.endpoint)),
        };
        match error {
            None => {
                shared.exported.fetch_add(count, Ordering::Relaxed);
                shared.failing.store(false, Ordering::Relaxed);
            }
            Some(error) => {
                shared.failed.fetch_add(count, Ordering::Relaxed);
                shared.failing.store(true, Ordering::Relaxed);
                *shared
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
