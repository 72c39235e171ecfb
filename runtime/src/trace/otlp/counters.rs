//! [`ExportStats`]: what an [`OtlpSink`](super::OtlpSink) reports of its work.

use core::fmt;

/// What an [`OtlpSink`](super::OtlpSink) has done so far.
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
