//! What the sink's handles, the traced threads and the export thread share: the registry of
//! every thread's queue, the wake-up flag, the counters behind [`ExportStats`] and the flush
//! handshake.

use super::config::OtlpSinkBuilder;
use super::counters::ExportStats;
use super::record::Record;
use super::ring::RingEnd;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// What an [`OtlpSink`](super::OtlpSink)'s handles, the traced threads and the export thread
/// share: the queues' registry, the wake-up, the counters and the flush handshake.
pub(super) struct Pipeline {
    pub(super) endpoint: String,
    pub(super) exit_timeout: Duration,
    pub(super) export_timeout: Duration,
    /// Capacity of each thread's queue.
    pub(super) thread_capacity: usize,
    /// Records a thread queues between two wake-ups of the export thread.
    pub(super) wake_every: usize,
    /// Every live thread's queue, and those of exited threads until they are emptied.
    pub(super) rings: Mutex<Vec<RingEnd>>,
    /// Records from threads whose queues are gone (a span finishing while its thread's
    /// thread-locals are destroyed), bounded by `thread_capacity`.
    pub(super) orphans: Mutex<VecDeque<Record>>,
    /// The export thread, to wake it, and the flag that says it was asked to wake.
    pub(super) exporter: OnceLock<std::thread::Thread>,
    pub(super) wake: AtomicBool,
    /// Spans accepted from queues now retired, and from `orphans`.
    pub(super) queued: AtomicU64,
    /// Spans dropped from queues now retired, and from `orphans`.
    pub(super) dropped: AtomicU64,
    pub(super) exported: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    /// The last request failed (a down or broken receiver: the exit flush does not wait).
    pub(super) failing: AtomicBool,
    /// When the request in flight started (nanoseconds since `started`), 0 when none.
    pub(super) in_flight_since: AtomicU64,
    pub(super) started: Instant,
    /// Flush requests handed out, and the highest one the export thread has completed.
    pub(super) flush_requested: AtomicU64,
    pub(super) flushed: Mutex<u64>,
    pub(super) flushed_changed: Condvar,
}

impl Pipeline {
    /// The state of a sink sending to `endpoint` with `settings` (checked), no thread started.
    pub(super) fn new(endpoint: String, settings: &OtlpSinkBuilder) -> Arc<Self> {
        Arc::new(Pipeline {
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

    pub(super) fn wake_exporter(&self) {
        // Release: what was queued before is visible to the export thread once it sees the flag.
        self.wake.store(true, Ordering::Release);
        if let Some(exporter) = self.exporter.get() {
            exporter.unpark();
        }
    }

    pub(super) fn stats(&self) -> ExportStats {
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

    pub(super) fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}
