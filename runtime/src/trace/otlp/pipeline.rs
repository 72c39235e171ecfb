//! What the sink's handles, the traced threads and the export thread share: the registry of
//! every thread's queue, the wake-up flag, the counters behind [`ExportStats`] and the flush
//! handshake.

use super::config::Config;
use super::counters::{Counters, ExportStats};
use super::record::Record;
use super::ring::RingEnd;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

/// What an [`OtlpSink`](super::OtlpSink)'s handles, the traced threads and the export thread
/// share: the queues' registry, the wake-up, the counters and the flush handshake.
pub(super) struct Pipeline {
    pub(super) config: Config,
    /// Records a thread queues between two wake-ups of the export thread.
    pub(super) wake_every: usize,
    /// Every live thread's queue, and those of exited threads until they are emptied.
    pub(super) rings: Mutex<Vec<RingEnd>>,
    /// Records from threads whose queues are gone (a span finishing while its thread's
    /// thread-locals are destroyed), bounded by the queue capacity.
    pub(super) orphans: Mutex<VecDeque<Record>>,
    /// The export thread, to wake it, and the flag that says it was asked to wake.
    pub(super) exporter: OnceLock<std::thread::Thread>,
    pub(super) wake: AtomicBool,
    pub(super) counters: Counters,
    /// Flush requests handed out, and the highest one the export thread has completed.
    pub(super) flush_requested: AtomicU64,
    pub(super) flushed: Mutex<u64>,
    pub(super) flushed_changed: Condvar,
    /// The receiver is failing (a batch waits for its retry, or the backoff after a failure
    /// runs): the traced threads drop their spans before queueing them, and count them as
    /// shed. Set and cleared by the export thread only.
    pub(super) shedding: Shedding,
}

/// The [`Pipeline::shedding`] flag on a cache line of its own: every traced call reads it, and
/// nothing else written often may share its line.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct Shedding(pub(super) AtomicBool);

impl Pipeline {
    /// The state of a sink with `config`, no thread started.
    pub(super) fn new(config: Config) -> Arc<Self> {
        Arc::new(Pipeline {
            wake_every: config.wake_every(),
            config,
            rings: Mutex::new(Vec::new()),
            orphans: Mutex::new(VecDeque::new()),
            exporter: OnceLock::new(),
            wake: AtomicBool::new(false),
            counters: Counters::new(),
            flush_requested: AtomicU64::new(0),
            flushed: Mutex::new(0),
            flushed_changed: Condvar::new(),
            shedding: Shedding::default(),
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
        let counters = &self.counters;
        let (mut queued, mut dropped, mut shed_at_source) = (
            counters.queued.load(Ordering::Relaxed),
            counters.dropped.load(Ordering::Relaxed),
            0,
        );
        for ring in self
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let shed = ring.counts.shed.load(Ordering::Relaxed);
            queued += ring.counts.spans.load(Ordering::Relaxed) + shed;
            dropped += ring.counts.dropped.load(Ordering::Relaxed);
            shed_at_source += shed;
        }
        ExportStats {
            queued,
            exported: counters.exported.load(Ordering::Relaxed),
            dropped,
            failed: counters.failed.load(Ordering::Relaxed) + shed_at_source,
            shed: counters.shed.load(Ordering::Relaxed) + shed_at_source,
            rejected: counters.rejected.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
            requests: counters.requests.load(Ordering::Relaxed),
            last_error: counters
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}
