//! [`ExportStats`]: what an [`OtlpSink`](super::OtlpSink) reports of its work, and the counters
//! behind it that the export thread keeps.

use core::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

/// What an [`OtlpSink`](super::OtlpSink) has done so far.
///
/// Counts cover every thread's queue, those of threads that have exited included.
///
/// ```
/// let stats = keel_runtime::trace::otlp::ExportStats::default();
/// assert_eq!(
///     stats.to_string(),
///     "0 spans queued, 0 exported, 0 dropped (queue full), 0 failed to send \
///      (0 of them shed unencoded), 0 rejected by the receiver, 0 retries"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans the sink took: into a queue, or, while the receiver was failing, dropped at once
    /// and counted in `failed` and `shed`.
    pub queued: u64,
    /// Spans the receiver accepted (a 2xx answer).
    pub exported: u64,
    /// Spans dropped on the traced thread because its queue was full.
    pub dropped: u64,
    /// Spans given up on because of the receiver: their request failed for good (no
    /// connection, an error status, no answer in time, retries exhausted), or they were
    /// dropped unencoded while the receiver was failing (those are also in `shed`).
    pub failed: u64,
    /// Of `failed`, the spans dropped before being encoded because the receiver was failing
    /// (a batch waiting for its retry, or the backoff after a failure): by the traced thread
    /// instead of being queued, or by the export thread if queued before. A dead receiver costs
    /// no encoding work, and the traced threads no queueing.
    pub shed: u64,
    /// Spans the receiver accepted the request of but reported rejected (`partial_success`);
    /// not in `exported`.
    pub rejected: u64,
    /// Requests sent again after a retryable answer (429, 502, 503, 504) or no connection.
    pub retries: u64,
    /// Requests sent (successful or not).
    pub requests: u64,
    /// The last failure, if any (`"HTTP 503 from http://…"`, `"…: Connection refused"`).
    pub last_error: Option<String>,
}

impl fmt::Display for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans queued, {} exported, {} dropped (queue full), {} failed to send \
             ({} of them shed unencoded), {} rejected by the receiver, {} retries",
            self.queued,
            self.exported,
            self.dropped,
            self.failed,
            self.shed,
            self.rejected,
            self.retries
        )?;
        if let Some(error) = &self.last_error {
            write!(f, " (last error: {error})")?;
        }
        Ok(())
    }
}

/// The export thread's counters and the state of its requests (the traced threads count their
/// own queues' spans, in [`RingCounts`](super::ring::RingCounts)).
pub(super) struct Counters {
    /// Spans accepted from queues now retired, and from the orphans.
    pub(super) queued: AtomicU64,
    /// Spans dropped from queues now retired, and from the orphans.
    pub(super) dropped: AtomicU64,
    pub(super) exported: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) shed: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    /// The last request failed (a down or broken receiver: the exit flush does not wait).
    pub(super) failing: AtomicBool,
    /// When the request in flight started (nanoseconds since `started`), 0 when none.
    pub(super) in_flight_since: AtomicU64,
    started: Instant,
}

impl Counters {
    pub(super) fn new() -> Self {
        Self {
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_error: Mutex::new(None),
            failing: AtomicBool::new(false),
            in_flight_since: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Nanoseconds since the counters were made (at least 1, so that 0 can mean "none").
    pub(super) fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}
