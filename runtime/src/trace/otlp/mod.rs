//! OpenTelemetry export (feature `otlp`): [`OtlpSink`] sends every finished, sampled span to an
//! OTLP/HTTP receiver (an OpenTelemetry collector, Jaeger, Grafana Tempo) as protobuf, encoded
//! with the OpenTelemetry project's own generated types (`opentelemetry-proto`).
//!
//! The traced thread does almost nothing: it writes a 64-byte record of the span into its own
//! bounded queue (one per thread and sink, a wait-free single-producer ring from `rtrb`: no
//! lock, no atomic read-modify-write) and returns. A full queue drops the span and counts it;
//! it never blocks. A background thread collects the records of every thread's queue (woken
//! each time a thread has queued [`max_batch`](OtlpSinkBuilder::max_batch) records, or a
//! quarter of its queue if that is less, by a flush, and at least every
//! [`batch_interval`](OtlpSinkBuilder::batch_interval)), batches them and POSTs them;
//! [`OtlpSink::flush`] reaches the spans of every thread, running or exited. A receiver
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
use super::dispatch::Exit;
use super::event::{Event, EventKind, Outcome};
use super::id::TraceKey;
use super::interest::Interest;
use super::sink::Sink;
use super::traceparent::REMOTE;
use core::fmt;
use core::time::Duration;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
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
}

/// Configuration of an [`OtlpSink`]; from [`OtlpSink::builder`].
///
/// ```
/// use keel_runtime::trace::otlp::OtlpSink;
/// use std::time::Duration;
/// let sink = OtlpSink::builder()
///     .endpoint("http://127.0.0.1:4318/v1/traces")
///     .service_name("billing")
///     .queue_capacity(8192)
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
/// Counts cover every thread's queue, those of threads that have exited included.
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
    /// Spans dropped on the traced thread because its queue was full.
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

/// One queued item, what the traced thread hands to the export thread: a finished call, or the
/// entry fields of a call (only entries that have some), joined to its exit by call id.
///
/// One cache line: the traced thread writes it into its queue's slot field by field, and the
/// export thread reads it from there, so each span moves one line between the two cores.
/// What is rare (an error message, recorded fields) is boxed.
#[repr(align(64))]
struct Record {
    /// The function (`None`: an entry record).
    site: Option<&'static CallSite>,
    call_id: u64,
    /// The trace key's words (see [`TraceKey::to_parts`]).
    trace: [u64; 2],
    /// The parent's call id, 0 for none.
    parent: u64,
    /// Raw clock reading at the exit.
    end: u64,
    /// The elapsed nanoseconds (low [`ELAPSED_BITS`] bits, saturated) and, above them, the
    /// trace flags, the outcome and the [`REMOTE_PARENT`] and [`MIGRATED`] bits.
    packed: u64,
    /// The error message and the recorded fields, when there are any.
    extra: Option<Box<Extra>>,
}

const _: () = assert!(core::mem::size_of::<Record>() == 64);

/// What few records carry.
#[derive(Default)]
struct Extra {
    /// The `Err` outcome's text.
    error: Option<String>,
    fields: Vec<(&'static str, String)>,
}

/// Bits of [`Record::packed`] holding the elapsed time: 2^52 ns is 52 days, the longest
/// duration a span can report.
const ELAPSED_BITS: u32 = 52;
const ELAPSED_MASK: u64 = (1 << ELAPSED_BITS) - 1;
/// The trace flags byte sits at this bit of [`Record::packed`].
const FLAGS_SHIFT: u32 = ELAPSED_BITS;
/// The outcome's two bits (see [`OutcomeKind`]).
const OUTCOME_SHIFT: u32 = FLAGS_SHIFT + 8;
/// The parent is in another process.
const REMOTE_PARENT: u64 = 1 << (OUTCOME_SHIFT + 2);
/// Entered on another thread (an async call that moved): its entry record, if any, is in that
/// thread's queue, which the export thread may read after this one.
const MIGRATED: u64 = 1 << (OUTCOME_SHIFT + 3);

/// How a recorded call ended, in two bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OutcomeKind {
    Ok = 0,
    Err = 1,
    Panicked = 2,
    Cancelled = 3,
}

impl Record {
    fn is_span(&self) -> bool {
        self.site.is_some()
    }

    fn trace(&self) -> TraceKey {
        TraceKey::from_parts(self.trace, (self.packed >> FLAGS_SHIFT) as u8)
    }

    fn elapsed_nanos(&self) -> u64 {
        self.packed & ELAPSED_MASK
    }

    fn outcome(&self) -> OutcomeKind {
        match (self.packed >> OUTCOME_SHIFT) & 3 {
            0 => OutcomeKind::Ok,
            1 => OutcomeKind::Err,
            2 => OutcomeKind::Panicked,
            _ => OutcomeKind::Cancelled,
        }
    }

    fn remote_parent(&self) -> bool {
        self.packed & REMOTE_PARENT != 0
    }

    fn migrated(&self) -> bool {
        self.packed & MIGRATED != 0
    }
}

/// The export thread's end of one traced thread's queue.
struct RingEnd {
    records: rtrb::Consumer<Record>,
    counts: Arc<RingCounts>,
}

/// Counts kept by the traced thread that owns a queue, read by [`OtlpSink::stats`].
#[derive(Default)]
struct RingCounts {
    /// Spans accepted into the queue; written by its owner only (a plain store, no
    /// read-modify-write on the hot path).
    spans: AtomicU64,
    /// Spans dropped because the queue was full.
    dropped: AtomicU64,
}

/// The traced thread's end of its queue for one sink.
struct LocalRing {
    shared: Arc<Shared>,
    records: rtrb::Producer<Record>,
    counts: Arc<RingCounts>,
    /// Records until the export thread is woken to collect them.
    until_wake: usize,
}

thread_local! {
    /// This thread's queues, one per sink it has sent spans to (almost always one).
    static LOCAL_RINGS: RefCell<Vec<LocalRing>> = const { RefCell::new(Vec::new()) };
}

/// State shared by the handles and the export thread.
struct Shared {
    endpoint: String,
    exit_timeout: Duration,
    export_timeout: Duration,
    /// Capacity of each thread's queue.
    thread_capacity: usize,
    /// Records a thread queues between two wake-ups of the export thread.
    wake_every: usize,
    /// Every live thread's queue, and those of exited threads until they are emptied.
    rings: Mutex<Vec<RingEnd>>,
    /// Records from threads whose queues are gone (a span finishing while its thread's
    /// thread-locals are destroyed), bounded by `thread_capacity`.
    orphans: Mutex<VecDeque<Record>>,
    /// The export thread, to wake it, and the flag that says it was asked to wake.
    exporter: OnceLock<std::thread::Thread>,
    wake: AtomicBool,
    /// Spans accepted from queues now retired, and from `orphans`.
    queued: AtomicU64,
    /// Spans dropped from queues now retired, and from `orphans`.
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
    /// `OTEL_SERVICE_NAME`, else the executable's name; a queue of 4,096 spans per thread,
    /// batches of up to 512 spans sent at least every 200 ms, a 10 s request timeout and a
    /// 500 ms exit flush.
    ///
    /// ```
    /// let builder = keel_runtime::trace::otlp::OtlpSink::builder();
    /// # drop(builder);
    /// ```
    pub fn builder() -> OtlpSinkBuilder {
        OtlpSinkBuilder {
            endpoint: None,
            service_name: None,
            queue_capacity: 4096,
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
        // Release: what this thread queued (or saw queued) before is visible to the export
        // thread once it reads the ticket.
        let ticket = shared.flush_requested.fetch_add(1, Ordering::Release) + 1;
        shared.wake_exporter();
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

    /// A finished call, straight from its span (no event built).
    #[inline]
    pub(crate) fn record_exit(&self, exit: &Exit<'_>) {
        self.push(Make::Exit(exit));
    }

    /// Queues the record `make` describes on this thread's queue for this sink, never waiting.
    #[inline]
    fn push(&self, make: Make<'_>) {
        let queued = LOCAL_RINGS.try_with(|rings| {
            let Ok(mut rings) = rings.try_borrow_mut() else {
                return false;
            };
            let index = match rings
                .iter()
                .position(|ring| Arc::ptr_eq(&ring.shared, &self.shared))
            {
                Some(index) => index,
                None => {
                    rings.push(self.shared.new_ring());
                    rings.len() - 1
                }
            };
            rings[index].push(&make);
            true
        });
        if queued != Ok(true) {
            self.shared.push_orphan(make.record());
        }
    }
}

/// What a record is built from. The record is built where it is stored (in the queue's slot),
/// so the traced thread never copies it, and not at all when the queue is full.
enum Make<'a> {
    Enter(&'a Event),
    Exit(&'a Exit<'a>),
}

impl Make<'_> {
    fn is_span(&self) -> bool {
        matches!(self, Make::Exit(_))
    }

    #[inline(always)]
    fn record(&self) -> Record {
        match self {
            Make::Enter(event) => Record {
                site: None,
                call_id: event.call_id(),
                trace: [0; 2],
                parent: 0,
                end: 0,
                packed: 0,
                extra: Some(Box::new(Extra {
                    error: None,
                    fields: event.fields().to_vec(),
                })),
            },
            Make::Exit(exit) => {
                let (trace, flags) = exit.trace.to_parts();
                let (outcome, error) = match exit.outcome {
                    Outcome::Ok => (OutcomeKind::Ok, None),
                    Outcome::Err(message) => (OutcomeKind::Err, Some(message.clone())),
                    Outcome::Panicked => (OutcomeKind::Panicked, None),
                    Outcome::Cancelled => (OutcomeKind::Cancelled, None),
                };
                let fields = exit
                    .value
                    .map(|value| vec![("return", value.to_string())])
                    .unwrap_or_default();
                let mut packed = exit.elapsed_nanos.min(ELAPSED_MASK)
                    | u64::from(flags) << FLAGS_SHIFT
                    | (outcome as u64) << OUTCOME_SHIFT;
                let parent = match exit.parent {
                    Some(parent) => {
                        if core::ptr::eq(parent.site, &REMOTE) {
                            packed |= REMOTE_PARENT;
                        }
                        parent.call_id
                    }
                    None => 0,
                };
                if !super::span::entered_on_this_thread(exit.call_id) {
                    packed |= MIGRATED;
                }
                Record {
                    site: Some(exit.site),
                    call_id: exit.call_id,
                    trace,
                    parent,
                    end: exit.end,
                    packed,
                    extra: (error.is_some() || !fields.is_empty())
                        .then(|| Box::new(Extra { error, fields })),
                }
            }
        }
    }
}

impl LocalRing {
    #[inline(always)]
    fn push(&mut self, make: &Make<'_>) {
        let is_span = make.is_span();
        match self.records.write_chunk_uninit(1) {
            Ok(mut chunk) => {
                // Built in the slot itself: `fill_from_iter`, the safe way, is not inlined here
                // and builds the record on the stack, then copies it with wide loads over narrow
                // stores (store-forwarding stalls: 74 ns per span against 45 ns measured).
                chunk.as_mut_slices().0[0].write(make.record());
                // SAFETY: a chunk of one slot has it in its first slice (rtrb's tail index is
                // below the capacity), and that slot was initialized just above; committing it
                // publishes exactly that one initialized record.
                unsafe { chunk.commit_all() };
                if is_span {
                    // Only this thread writes it: a load and a store, no read-modify-write.
                    let spans = self.counts.spans.load(Ordering::Relaxed);
                    self.counts.spans.store(spans + 1, Ordering::Relaxed);
                }
            }
            // A lost entry costs only the span's argument attributes.
            Err(_) => {
                if is_span {
                    self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.until_wake -= 1;
        if self.until_wake == 0 {
            self.until_wake = self.shared.wake_every;
            self.shared.wake_exporter();
        }
    }
}

impl Shared {
    /// The state of a sink sending to `endpoint` with `settings` (checked), no thread started.
    fn new(endpoint: String, settings: &OtlpSinkBuilder) -> Arc<Self> {
        Arc::new(Shared {
            endpoint,
            exit_timeout: settings.exit_timeout,
            export_timeout: settings.export_timeout,
            thread_capacity: settings.queue_capacity,
            // Often enough to keep a busy thread's queue from filling, rarely enough that the
            // wake-up costs nothing per span.
            wake_every: settings.max_batch.min(settings.queue_capacity / 4).max(1),
            rings: Mutex::new(Vec::new()),
            orphans: Mutex::new(VecDeque::new()),
            exporter: OnceLock::new(),
            wake: AtomicBool::new(false),
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
        })
    }

    /// A new queue for the calling thread, registered with the export thread.
    #[cold]
    fn new_ring(self: &Arc<Self>) -> LocalRing {
        let (records, consumer) = rtrb::RingBuffer::new(self.thread_capacity);
        let counts = Arc::new(RingCounts::default());
        self.rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RingEnd {
                records: consumer,
                counts: Arc::clone(&counts),
            });
        LocalRing {
            shared: Arc::clone(self),
            records,
            counts,
            until_wake: self.wake_every,
        }
    }

    /// Queues a record of a thread that has no queue any more (rare: a span finishing while
    /// its thread's thread-locals are destroyed).
    #[cold]
    fn push_orphan(&self, record: Record) {
        let is_span = record.is_span();
        let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
        if orphans.len() < self.thread_capacity {
            orphans.push_back(record);
            if is_span {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
        } else if is_span {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(orphans);
        self.wake_exporter();
    }

    fn wake_exporter(&self) {
        // Release: what was queued before is visible to the export thread once it sees the flag.
        self.wake.store(true, Ordering::Release);
        if let Some(exporter) = self.exporter.get() {
            exporter.unpark();
        }
    }

    fn stats(&self) -> ExportStats {
        let (mut queued, mut dropped) = (
            self.queued.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        );
        for ring in self
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            queued += ring.counts.spans.load(Ordering::Relaxed);
            dropped += ring.counts.dropped.load(Ordering::Relaxed);
        }
        ExportStats {
            queued,
            exported: self.exported.load(Ordering::Relaxed),
            dropped,
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

    /// How many finished spans may wait for the export thread in each traced thread's queue;
    /// past that, that thread's spans are dropped and counted. Each queue takes this times 64
    /// bytes (plus the recorded fields and error messages of the spans in it), allocated when
    /// its thread first sends a span to the sink and freed after the thread has exited and
    /// its spans are sent. The export thread holds at most one pass of records taken out of
    /// the queues while it sends them.
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
        let endpoint = match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
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
        let service_name = self
            .service_name
            .clone()
            .unwrap_or_else(service_name_from_env);
        // Calibrate the clock before the first span needs it.
        let anchor = export::TimeAnchor::now();
        let shared = Shared::new(endpoint, &self);
        let exporter = export::Exporter::new(
            Arc::clone(&shared),
            service_name,
            anchor,
            self.max_batch,
            self.batch_interval,
            self.queue_capacity,
        );
        let thread = std::thread::Builder::new()
            .name("keel-otlp-export".into())
            .spawn(move || exporter.run())
            .map_err(OtlpError::Thread)?;
        let _ = shared.exporter.set(thread.thread().clone());
        let sink = OtlpSink { shared };
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
                    self.push(Make::Enter(event));
                }
            }
            EventKind::Exit { elapsed, outcome } => {
                let exit = Exit {
                    site: event.call_site(),
                    call_id: event.call_id(),
                    trace: event.trace_key(),
                    parent: event.parent_call(),
                    end: event.end_raw().unwrap_or_else(clock::now),
                    elapsed_nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                    outcome,
                    // An exit's only field: the return value (see `span::exit`).
                    value: event.field("return"),
                };
                self.push(Make::Exit(&exit));
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

#[cfg(test)]
mod tests {
    //! The traced thread's side of the queue, where the one `unsafe` block is (Miri runs these).
    use super::*;
    use crate::context::call::CurrentCall;

    static SITE: CallSite = CallSite::new("otlp::tests::load", "otlp::tests", "mod.rs", 1);
    static PARENT: CallSite = CallSite::new("otlp::tests::page", "otlp::tests", "mod.rs", 2);

    fn shared(queue_capacity: usize) -> Arc<Shared> {
        let settings = OtlpSink::builder().queue_capacity(queue_capacity);
        Shared::new("http://127.0.0.1:9/v1/traces".to_string(), &settings)
    }

    fn exit<'a>(
        call_id: u64,
        outcome: &'a Outcome,
        value: Option<&'a str>,
        elapsed_nanos: u64,
    ) -> Exit<'a> {
        Exit {
            site: &SITE,
            call_id,
            trace: TraceKey::local_root(3, true),
            parent: Some(CurrentCall {
                call_id: 3,
                site: &PARENT,
                trace: TraceKey::local_root(3, true),
            }),
            end: 1_234,
            elapsed_nanos,
            outcome,
            value,
        }
    }

    fn push_exit(ring: &mut LocalRing, exit: &Exit<'_>) {
        ring.push(&Make::Exit(exit));
    }

    #[test]
    fn a_record_written_in_its_slot_reads_back_whole() {
        let shared = shared(8);
        let mut ring = shared.new_ring();
        let failed = Outcome::Err("disk full".to_string());
        let value = "Err(\"disk full\")".to_string();
        push_exit(&mut ring, &exit(7, &failed, Some(&value), 99));
        push_exit(&mut ring, &exit(8, &Outcome::Ok, None, u64::MAX));
        assert_eq!(ring.counts.spans.load(Ordering::Relaxed), 2);

        let mut rings = shared.rings.lock().unwrap();
        let first = rings[0].records.pop().expect("queued");
        assert_eq!(first.site.map(CallSite::name), Some("otlp::tests::load"));
        assert_eq!((first.call_id, first.parent, first.end), (7, 3, 1_234));
        assert_eq!(first.trace(), TraceKey::local_root(3, true));
        assert_eq!(first.elapsed_nanos(), 99);
        assert_eq!(first.outcome(), OutcomeKind::Err);
        assert!(!first.remote_parent());
        assert!(first.migrated(), "call 7 was not entered on this thread");
        let extra = first.extra.expect("an error and a value");
        assert_eq!(extra.error.as_deref(), Some("disk full"));
        assert_eq!(extra.fields, [("return", value.clone())]);

        let second = rings[0].records.pop().expect("queued");
        assert_eq!(second.outcome(), OutcomeKind::Ok);
        assert_eq!(
            second.elapsed_nanos(),
            ELAPSED_MASK,
            "saturated, flags intact"
        );
        assert_eq!(second.trace(), TraceKey::local_root(3, true));
        assert!(second.extra.is_none(), "nothing rare: nothing boxed");
        assert!(rings[0].records.pop().is_err());
    }

    #[test]
    fn a_full_queue_drops_and_counts_spans_and_keeps_what_it_holds() {
        let shared = shared(2);
        let mut ring = shared.new_ring();
        for call_id in 10..15 {
            push_exit(&mut ring, &exit(call_id, &Outcome::Ok, Some("1"), 1));
        }
        let stats = shared.stats();
        assert_eq!((stats.queued, stats.dropped), (2, 3), "{stats}");
        let mut rings = shared.rings.lock().unwrap();
        let kept: Vec<u64> = std::iter::from_fn(|| rings[0].records.pop().ok())
            .map(|record| record.call_id)
            .collect();
        assert_eq!(
            kept,
            [10, 11],
            "the first spans stay, the later ones are dropped"
        );
        drop(rings);
        // Room again: the next span is accepted. Records left in a queue are freed with it.
        push_exit(&mut ring, &exit(15, &Outcome::Panicked, Some("1"), 1));
        assert_eq!(shared.stats().queued, 3);
    }
}
