//! [`OtlpSink`]: the handle programs hold, and its [`Sink`] side, which queues each finished
//! span on the traced thread's own ring.

use super::config::{Config, OtlpSinkBuilder};
use super::counters::ExportStats;
use super::error::OtlpError;
use super::export;
use super::pipeline::Pipeline;
use super::record::RecordSource;
use super::ring;
use crate::trace::clock;
use crate::trace::dispatch::FinishedCall;
use crate::trace::event::FieldValue;
use crate::trace::event::{Event, EventKind};
use crate::trace::interest::Interest;
use crate::trace::sink::Sink;
use core::fmt;
use core::time::Duration;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// A [`Sink`] exporting keel's calls as OpenTelemetry spans over OTLP/HTTP (protobuf).
///
/// Cheap to clone (a handle): install one clone with [`add_sink`](crate::trace::add_sink) and keep
/// another for [`flush`](Self::flush) and [`stats`](Self::stats). Each span carries its name
/// (the function's qualified name), trace id, span id, parent span id, start and end time,
/// status (`Ok`; `Error` with the message for an `Err` or a panic; unset for a cancelled future,
/// with `keel.outcome = "cancelled"`), the recorded fields (arguments and `return`) as typed
/// attributes (integers as `int_value`, a `u64` above `i64::MAX` as a string of its digits,
/// floats as `double_value`, `bool` as `bool_value`, strings unquoted, any other type as its
/// `Debug` text: recognised from the recorded `Debug` form), `code.file.path` and `code.line.number`; the resource has `service.name`. Only
/// sampled calls are exported ([`set_sampler`](crate::trace::set_sampler)).
///
/// ```
/// use keel_runtime::trace::otlp::OtlpSink;
/// // Nothing listens on port 9 here: spans fail to send and are counted, nothing blocks.
/// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:9/v1/traces").build().unwrap();
/// assert_eq!(sink.stats().exported, 0);
/// ```
#[derive(Clone)]
pub struct OtlpSink {
    pipeline: Arc<Pipeline>,
}

impl OtlpSink {
    /// A builder with the defaults: endpoint from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else [`DEFAULT_ENDPOINT`](super::DEFAULT_ENDPOINT); service name from
    /// `OTEL_SERVICE_NAME`, else the executable's name; a queue of 4,096 spans per thread,
    /// batches of up to 512 spans sent at least every 200 ms, a 10 s request timeout and a
    /// 500 ms exit flush.
    ///
    /// ```
    /// let builder = keel_runtime::trace::otlp::OtlpSink::builder();
    /// # drop(builder);
    /// ```
    pub fn builder() -> OtlpSinkBuilder {
        OtlpSinkBuilder::new()
    }

    /// The endpoint spans are sent to.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:4318/v1/traces").build().unwrap();
    /// assert_eq!(sink.endpoint(), "http://127.0.0.1:4318/v1/traces");
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.pipeline.config.endpoint
    }

    /// The counts so far: queued, exported, dropped (queue full), failed to send (and shed
    /// unencoded while the receiver was failing), rejected by the receiver, retries.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:9/v1/traces").build().unwrap();
    /// assert_eq!(sink.stats().dropped, 0);
    /// ```
    pub fn stats(&self) -> ExportStats {
        self.pipeline.stats()
    }

    /// Sends every span queued before this call now, and waits until the receiver has answered
    /// for them (or the request failed, which is counted) for at most the batch timeout. Spans
    /// finished while it waits are not waited for.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// use std::time::Duration;
    /// let sink = OtlpSink::builder()
    ///     .endpoint("http://127.0.0.1:9/v1/traces")
    ///     .export_timeout(Duration::from_millis(500))
    ///     .build()
    ///     .unwrap();
    /// let stats = sink.flush().unwrap(); // nothing queued: returns at once
    /// assert_eq!(stats.queued, 0);
    /// ```
    pub fn flush(&self) -> Result<ExportStats, OtlpError> {
        self.flush_within(self.pipeline.config.batch_timeout)
    }

    /// Whether the sink was built with `OTEL_SDK_DISABLED=true`: it then starts no thread and
    /// drops every span at once, uncounted.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder()
    ///     .env(|name: &str| (name == "OTEL_SDK_DISABLED").then(|| "true".to_string()))
    ///     .build()
    ///     .unwrap();
    /// assert!(sink.is_disabled());
    /// assert_eq!(sink.flush().unwrap().queued, 0);
    /// ```
    pub fn is_disabled(&self) -> bool {
        self.pipeline.config.disabled
    }

    fn flush_within(&self, timeout: Duration) -> Result<ExportStats, OtlpError> {
        if self.is_disabled() {
            return Ok(self.stats());
        }
        let deadline = Instant::now() + timeout;
        let pipeline = &self.pipeline;
        // Release: what this thread queued (or saw queued) before is visible to the export
        // thread once it reads the ticket.
        let ticket = pipeline.flush_requested.fetch_add(1, Ordering::Release) + 1;
        pipeline.wake_exporter();
        let mut flushed = pipeline
            .flushed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *flushed < ticket {
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timed_out(timeout));
            }
            flushed = pipeline
                .flushed_changed
                .wait_timeout(flushed, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(flushed);
        Ok(self.stats())
    }

    fn timed_out(&self, waited: Duration) -> OtlpError {
        OtlpError::FlushTimedOut {
            waited,
            stats: self.stats(),
        }
    }

    /// The flush at process exit: bounded by the exit timeout, and skipped when the receiver is
    /// failing (its last request failed, or one has been in flight longer than 100 ms), so a
    /// broken receiver never holds the program's exit. Reports losses on stderr.
    fn flush_at_exit(&self) {
        let pipeline = &self.pipeline;
        let stalled = {
            let counters = &pipeline.counters;
            let since = counters.in_flight_since.load(Ordering::Relaxed);
            since != 0 && counters.elapsed_nanos().saturating_sub(since) > 100_000_000
        };
        if !pipeline.counters.failing.load(Ordering::Relaxed) && !stalled {
            let _ = self.flush_within(pipeline.config.exit_timeout);
        }
        let stats = self.stats();
        let unsent = stats
            .queued
            .saturating_sub(stats.exported + stats.failed + stats.rejected);
        if stats.dropped + stats.failed + unsent > 0 {
            eprintln!(
                "keel::trace::otlp: {stats}, {unsent} unsent at exit (endpoint {})",
                pipeline.config.endpoint
            );
        }
    }

    /// A finished call, straight from its span (no event built).
    #[inline]
    pub(crate) fn record_exit(&self, exit: &FinishedCall<'_>) {
        self.push(RecordSource::Exit(exit));
    }

    /// Queues the entry fields of call `call_id`, as recorded (no event built): what the
    /// dispatcher calls when every installed sink is one of keel's own.
    pub(crate) fn record_entry(&self, call_id: u64, fields: &[(&'static str, FieldValue<'_>)]) {
        self.push(RecordSource::EnterFields { call_id, fields });
    }

    /// Queues the record `source` describes on this thread's queue for this sink, never waiting.
    #[inline]
    fn push(&self, source: RecordSource<'_>) {
        if self.pipeline.config.disabled {
            return;
        }
        ring::push(&self.pipeline, source);
    }

    /// Starts the export thread of a sink with `config` (checked by
    /// [`OtlpSinkBuilder::build`], which calls this).
    pub(super) fn start(config: Config) -> Result<OtlpSink, OtlpError> {
        // Calibrate the clock before the first span needs it.
        let anchor = export::TimeAnchor::now();
        let pipeline = Pipeline::new(config);
        if pipeline.config.disabled {
            return Ok(OtlpSink { pipeline });
        }
        let exporter = export::Exporter::new(Arc::clone(&pipeline), anchor);
        let thread = std::thread::Builder::new()
            .name("keel-otlp-export".into())
            .spawn(move || exporter.run())
            .map_err(OtlpError::Thread)?;
        let _ = pipeline.exporter.set(thread.thread().clone());
        let sink = OtlpSink { pipeline };
        // The flush at exit: a finalizer left registered for the process's lifetime.
        let at_exit = sink.clone();
        std::mem::forget(crate::finalize::Finalizer::new(move || {
            at_exit.flush_at_exit()
        }));
        Ok(sink)
    }
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSink")
            .field("endpoint", &self.pipeline.config.endpoint)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Sink for OtlpSink {
    fn event(&self, event: &Event) {
        match event.kind() {
            EventKind::Enter => {
                if !event.values().is_empty() {
                    self.push(RecordSource::Enter(event));
                }
            }
            EventKind::Exit { elapsed, outcome } => {
                let exit = FinishedCall {
                    site: event.call_site(),
                    call_id: event.call_id(),
                    trace: event.trace_key(),
                    parent: event.parent_call(),
                    end: event.end_raw().unwrap_or_else(clock::now),
                    elapsed_nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                    outcome,
                    // An exit's only field: the return value (see `span::exit`).
                    value: event
                        .values()
                        .iter()
                        .find(|(name, _)| *name == "return")
                        .map(|(_, value)| value),
                };
                self.push(RecordSource::Exit(&exit));
            }
        }
    }

    /// Entries only for their fields (the span's attributes), sampled calls only, no context
    /// snapshot. (Exits reach it without an event when every installed sink is one of keel's
    /// own: the dispatcher knows it by its type.)
    fn interest(&self) -> Interest {
        Interest::new()
            .enters_without_fields(false)
            .context(false)
            .unsampled(false)
    }
}
