//! OpenTelemetry export (feature `otlp`): [`OtlpSink`] sends every finished, sampled span to an
//! OTLP/HTTP receiver (an OpenTelemetry collector, Jaeger, Grafana Tempo) as protobuf, encoded
//! with the OpenTelemetry project's own generated types (`opentelemetry-proto`).
//!
//! The traced thread does almost nothing: it puts a small record of the span into a bounded
//! queue and returns. A full queue drops the span and counts it; it never blocks. A background
//! thread batches the records (up to [`max_batch`](OtlpSinkBuilder::max_batch) spans, or what
//! arrived within [`batch_interval`](OtlpSinkBuilder::batch_interval)) and POSTs them. A receiver
//! that is down, answers errors or never answers costs the program nothing but those spans:
//! they are counted in [`ExportStats`], which [`OtlpSink::stats`] returns and which is printed
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

mod export;

use super::call_site::CallSite;
use super::clock;
use super::event::{Event, EventKind, Outcome};
use super::id::TraceKey;
use super::sink::Sink;
use super::traceparent::REMOTE;
use core::fmt;
use core::time::Duration;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// Where spans go when no endpoint is configured and no `OTEL_EXPORTER_OTLP_*` variable is set.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// A [`Sink`] exporting keel's calls as OpenTelemetry spans over OTLP/HTTP (protobuf).
///
/// Cheap to clone (a handle): install one clone with [`add_sink`](crate::trace::add_sink) and keep
/// another for [`flush`](Self::flush) and [`stats`](Self::stats). Each span carries its name
/// (the function's qualified name), trace id, span id, parent span id, start and end time,
/// status (`Ok`; `Error` with the message for an `Err` or a panic; unset for a cancelled future,
/// with `keel.outcome = "cancelled"`), the recorded fields (arguments and `return`) as string
/// attributes, `code.file.path` and `code.line.number`; the resource has `service.name`. Only
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
    shared: Arc<Shared>,
    queue: SyncSender<Record>,
}

/// Configuration of an [`OtlpSink`]; from [`OtlpSink::builder`].
///
/// ```
/// use keel_runtime::trace::otlp::OtlpSink;
/// use std::time::Duration;
/// let sink = OtlpSink::builder()
///     .endpoint("http://127.0.0.1:4318/v1/traces")
///     .service_name("billing")
///     .queue_capacity(16_384)
///     .max_batch(1024)
///     .batch_interval(Duration::from_millis(100))
///     .export_timeout(Duration::from_secs(2))
///     .exit_timeout(Duration::from_millis(200))
///     .build()
///     .unwrap();
/// # drop(sink);
/// ```
#[derive(Clone, Debug)]
pub struct OtlpSinkBuilder {
    endpoint: Option<String>,
    service_name: Option<String>,
    queue_capacity: usize,
    max_batch: usize,
    batch_interval: Duration,
    export_timeout: Duration,
    exit_timeout: Duration,
}

/// What an [`OtlpSink`] has done so far.
///
/// ```
/// let stats = keel_runtime::trace::otlp::ExportStats::default();
/// assert_eq!(stats.to_string(), "0 spans queued, 0 exported, 0 dropped (queue full), 0 failed to send");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans accepted into the queue.
    pub queued: u64,
    /// Spans the receiver accepted (a 2xx answer).
    pub exported: u64,
    /// Spans dropped on the traced thread because the queue was full.
    pub dropped: u64,
    /// Spans whose request failed: no connection, an error status, or no answer in time.
    pub failed: u64,
    /// Requests sent (successful or not).
    pub requests: u64,
    /// The last failure, if any (`"HTTP 503 from http://…"`, `"…: Connection refused"`).
    pub last_error: Option<String>,
}

impl fmt::Display for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans queued, {} exported, {} dropped (queue full), {} failed to send",
            self.queued, self.exported, self.dropped, self.failed
        )?;
        if let Some(error) = &self.last_error {
            write!(f, " (last error: {error})")?;
        }
        Ok(())
    }
}

/// What can go wrong configuring or flushing an [`OtlpSink`].
///
/// ```
/// use keel_runtime::trace::otlp::{OtlpError, OtlpSink};
/// let error = OtlpSink::builder().endpoint("localhost:4318").build().unwrap_err();
/// assert!(matches!(error, OtlpError::Endpoint { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http://` URL.
    #[error("OTLP endpoint must be an http:// URL (such as {DEFAULT_ENDPOINT}), got {endpoint:?}")]
    Endpoint {
        /// What was given.
        endpoint: String,
    },
    /// A size setting of zero.
    #[error("OtlpSinkBuilder.{setting} must be at least 1, got 0")]
    Zero {
        /// `queue_capacity` or `max_batch`.
        setting: &'static str,
    },
    /// The background thread could not be started.
    #[error("could not start the OTLP export thread: {0}")]
    Thread(#[source] std::io::Error),
    /// [`OtlpSink::flush`] gave up before the spans queued before it were handled.
    #[error("OTLP flush gave up after {waited:?} with spans still queued ({stats})")]
    FlushTimedOut {
        /// How long it waited (the export timeout).
        waited: Duration,
        /// The counts when it gave up.
        stats: ExportStats,
    },
}

/// One queued item: what the traced thread hands to the export thread.
enum Record {
    /// A call's entry fields (only entries that have some), joined to its exit by call id.
    Enter {
        call_id: u64,
        fields: Vec<(&'static str, String)>,
    },
    /// A finished call.
    Exit(FinishedSpan),
    /// Everything queued before this is to be sent now; then `flushed` reaches the number.
    Flush(u64),
}

/// A finished call as the export thread needs it; ids and times are derived there.
struct FinishedSpan {
    site: &'static CallSite,
    call_id: u64,
    trace: TraceKey,
    /// The parent's call id, and whether it is a remote parent.
    parent: Option<(u64, bool)>,
    /// Raw clock reading at the exit.
    end: u64,
    elapsed_nanos: u64,
    outcome: Outcome,
    fields: Vec<(&'static str, String)>,
}

/// State shared by the handles and the export thread.
struct Shared {
    endpoint: String,
    exit_timeout: Duration,
    export_timeout: Duration,
    queued: AtomicU64,
    dropped: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    requests: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The last request failed (a down or broken receiver: the exit flush does not wait).
    failing: AtomicBool,
    /// When the request in flight started (nanoseconds since `started`), 0 when none.
    in_flight_since: AtomicU64,
    started: Instant,
    /// Flush requests handed out, and the highest one the export thread has completed.
    flush_requested: AtomicU64,
    flushed: Mutex<u64>,
    flushed_changed: Condvar,
}

impl OtlpSink {
    /// A builder with the defaults: endpoint from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else [`DEFAULT_ENDPOINT`]; service name from
    /// `OTEL_SERVICE_NAME`, else the executable's name; a queue of 16,384 spans, batches of up to
    /// 512 spans sent at least every 200 ms, a 10 s request timeout and a 500 ms exit flush.
    ///
    /// ```
    /// let builder = keel_runtime::trace::otlp::OtlpSink::builder();
    /// # drop(builder);
    /// ```
    pub fn builder() -> OtlpSinkBuilder {
        OtlpSinkBuilder {
            endpoint: None,
            service_name: None,
            queue_capacity: 16_384,
            max_batch: 512,
            batch_interval: Duration::from_millis(200),
            export_timeout: Duration::from_secs(10),
            exit_timeout: Duration::from_millis(500),
        }
    }

    /// The endpoint spans are sent to.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:4318/v1/traces").build().unwrap();
    /// assert_eq!(sink.endpoint(), "http://127.0.0.1:4318/v1/traces");
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The counts so far: queued, exported, dropped (queue full), failed to send.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:9/v1/traces").build().unwrap();
    /// assert_eq!(sink.stats().dropped, 0);
    /// ```
    pub fn stats(&self) -> ExportStats {
        self.shared.stats()
    }

    /// Sends every span queued before this call now, and waits until the receiver has answered
    /// for them (or the request failed, which is counted) for at most the export timeout. Spans
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
        self.flush_within(self.shared.export_timeout)
    }

    fn flush_within(&self, timeout: Duration) -> Result<ExportStats, OtlpError> {
        let deadline = Instant::now() + timeout;
        let shared = &self.shared;
        let ticket = shared.flush_requested.fetch_add(1, Ordering::Relaxed) + 1;
        let mut marker = Record::Flush(ticket);
        loop {
            match self.queue.try_send(marker) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    marker = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return Err(self.timed_out(timeout)),
            }
        }
        let mut flushed = shared
            .flushed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *flushed < ticket {
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timed_out(timeout));
            }
            flushed = shared
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
        let shared = &self.shared;
        let stalled = {
            let since = shared.in_flight_since.load(Ordering::Relaxed);
            since != 0 && shared.elapsed_nanos().saturating_sub(since) > 100_000_000
        };
        if !shared.failing.load(Ordering::Relaxed) && !stalled {
            let _ = self.flush_within(shared.exit_timeout);
        }
        let stats = self.stats();
        let unsent = stats.queued.saturating_sub(stats.exported + stats.failed);
        if stats.dropped + stats.failed + unsent > 0 {
            eprintln!(
                "keel::trace::otlp: {stats}, {unsent} unsent at exit (endpoint {})",
                shared.endpoint
            );
        }
    }

    #[inline]
    fn push(&self, record: Record) {
        let is_span = matches!(record, Record::Exit(_));
        match self.queue.try_send(record) {
            Ok(()) => {
                if is_span {
                    self.shared.queued.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(TrySendError::Full(Record::Exit(_))) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // A lost entry costs only the span's argument attributes.
            Err(TrySendError::Full(_)) => {}
        }
    }
}

impl Shared {
    fn stats(&self) -> ExportStats {
        ExportStats {
            queued: self.queued.load(Ordering::Relaxed),
            exported: self.exported.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl OtlpSinkBuilder {
    /// The OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces` (a collector's or
    /// Jaeger's OTLP port). Only `http://`: the sink has no TLS; send to a local collector.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The `service.name` resource attribute.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// How many finished spans may wait for the export thread; past that, spans are dropped
    /// and counted. Memory is bounded by this times about 100 bytes plus the spans' fields.
    pub fn queue_capacity(mut self, spans: usize) -> Self {
        self.queue_capacity = spans;
        self
    }

    /// The most spans in one request.
    pub fn max_batch(mut self, spans: usize) -> Self {
        self.max_batch = spans;
        self
    }

    /// How long a span may wait for its batch to fill before the batch is sent anyway.
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.batch_interval = interval;
        self
    }

    /// The longest one request may take (connection and answer), and how long
    /// [`OtlpSink::flush`] waits.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// How long the flush at process exit may wait for a healthy receiver.
    pub fn exit_timeout(mut self, timeout: Duration) -> Self {
        self.exit_timeout = timeout;
        self
    }

    /// Checks the settings and starts the export thread.
    pub fn build(self) -> Result<OtlpSink, OtlpError> {
        let endpoint = match self.endpoint {
            Some(endpoint) => endpoint,
            None => endpoint_from_env(),
        };
        if !endpoint.starts_with("http://") || endpoint.len() <= "http://".len() {
            return Err(OtlpError::Endpoint { endpoint });
        }
        if self.queue_capacity == 0 {
            return Err(OtlpError::Zero {
                setting: "queue_capacity",
            });
        }
        if self.max_batch == 0 {
            return Err(OtlpError::Zero {
                setting: "max_batch",
            });
        }
        let service_name = self.service_name.unwrap_or_else(service_name_from_env);
        // Calibrate the clock before the first span needs it.
        let anchor = export::TimeAnchor::now();
        let shared = Arc::new(Shared {
            endpoint,
            exit_timeout: self.exit_timeout,
            export_timeout: self.export_timeout,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_error: Mutex::new(None),
            failing: AtomicBool::new(false),
            in_flight_since: AtomicU64::new(0),
            started: Instant::now(),
            flush_requested: AtomicU64::new(0),
            flushed: Mutex::new(0),
            flushed_changed: Condvar::new(),
        });
        let (queue, records) = std::sync::mpsc::sync_channel(self.queue_capacity);
        let exporter = export::Exporter::new(
            Arc::clone(&shared),
            service_name,
            anchor,
            self.max_batch,
            self.batch_interval,
            self.queue_capacity,
        );
        std::thread::Builder::new()
            .name("keel-otlp-export".into())
            .spawn(move || exporter.run(records))
            .map_err(OtlpError::Thread)?;
        let sink = OtlpSink { shared, queue };
        // The flush at exit: a finalizer left registered for the process's lifetime.
        let at_exit = sink.clone();
        std::mem::forget(crate::finalize::Finalizer::new(move || {
            at_exit.flush_at_exit()
        }));
        Ok(sink)
    }
}

fn endpoint_from_env() -> String {
    let var = |name| {
        std::env::var(name)
            .ok()
            .filter(|value: &String| !value.is_empty())
    };
    if let Some(endpoint) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return endpoint;
    }
    if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return format!("{}/v1/traces", base.trim_end_matches('/'));
    }
    DEFAULT_ENDPOINT.to_string()
}

fn service_name_from_env() -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::env::current_exe()
                .ok()?
                .file_stem()?
                .to_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown_service".to_string())
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSink")
            .field("endpoint", &self.shared.endpoint)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Sink for OtlpSink {
    fn event(&self, event: &Event) {
        match event.kind() {
            EventKind::Enter => {
                if !event.fields().is_empty() {
                    self.push(Record::Enter {
                        call_id: event.call_id(),
                        fields: event.fields().to_vec(),
                    });
                }
            }
            EventKind::Exit { elapsed, outcome } => {
                let end = event.end_raw().unwrap_or_else(clock::now);
                let parent = event
                    .parent_call()
                    .map(|parent| (parent.call_id, core::ptr::eq(parent.site, &REMOTE)));
                self.push(Record::Exit(FinishedSpan {
                    site: event.call_site(),
                    call_id: event.call_id(),
                    trace: event.trace_key(),
                    parent,
                    end,
                    elapsed_nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                    outcome: outcome.clone(),
                    fields: event.fields().to_vec(),
                }));
            }
        }
    }

    fn wants_context(&self) -> bool {
        false
    }

    fn wants_unsampled(&self) -> bool {
        false
    }
}
