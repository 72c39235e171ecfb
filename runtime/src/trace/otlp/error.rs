//! [`OtlpError`]: what can go wrong configuring or flushing an [`OtlpSink`](super::OtlpSink).

use super::config::DEFAULT_ENDPOINT;
use super::counters::ExportStats;
use core::time::Duration;

/// What can go wrong configuring or flushing an [`OtlpSink`](super::OtlpSink).
///
/// ```
/// use keel_runtime::trace::otlp::{OtlpError, OtlpSink};
/// let error = OtlpSink::builder().endpoint("localhost:4318").build().unwrap_err();
/// assert!(matches!(error, OtlpError::Endpoint { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error(
        "OTLP endpoint must be an http:// or https:// URL (such as {DEFAULT_ENDPOINT}), got {endpoint:?}"
    )]
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
    /// A setting (an `OTEL_*` variable or a builder method) whose value cannot be used: a
    /// header list that does not parse, a certificate file missing or without a certificate.
    #[error("{setting}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable (`OTEL_EXPORTER_OTLP_HEADERS`) or builder method (`OtlpSinkBuilder.header`).
        setting: String,
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid setting this build cannot honour (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).
    #[error("{setting}={value:?} is not supported: {reason}")]
    Unsupported {
        /// The variable.
        setting: String,
        /// What was given.
        value: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// The background thread could not be started.
    #[error("could not start the OTLP export thread: {0}")]
    Thread(#[source] std::io::Error),
    /// [`OtlpSink::flush`](super::OtlpSink::flush) gave up before the spans queued before it were handled.
    #[error("OTLP flush gave up after {waited:?} with spans still queued ({stats})")]
    FlushTimedOut {
        /// How long it waited (the export timeout).
        waited: Duration,
        /// The counts when it gave up.
        stats: ExportStats,
    },
}
