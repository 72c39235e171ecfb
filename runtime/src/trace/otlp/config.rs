//! An [`OtlpSink`]'s settings: the builder, the `OTEL_*` environment variables it falls back
//! on, and the checks `build` makes before the sink starts.

use super::error::OtlpError;
use super::sink::OtlpSink;
use core::time::Duration;

/// Where spans go when no endpoint is configured and no `OTEL_EXPORTER_OTLP_*` variable is set.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

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

impl OtlpSinkBuilder {
    /// The defaults [`OtlpSink::builder`] documents.
    pub(super) fn new() -> Self {
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
        OtlpSink::start(self.check()?)
    }

    /// The settings checked, with the endpoint and the service name resolved (from the
    /// environment when not given).
    pub(super) fn check(&self) -> Result<Config, OtlpError> {
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
        Ok(Config {
            endpoint,
            service_name,
            queue_capacity: self.queue_capacity,
            max_batch: self.max_batch,
            batch_interval: self.batch_interval,
            export_timeout: self.export_timeout,
            exit_timeout: self.exit_timeout,
        })
    }
}

/// The settings of a running sink, as [`OtlpSinkBuilder::check`] accepted them, with the
/// endpoint and the service name resolved.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) endpoint: String,
    pub(super) service_name: String,
    /// Capacity of each thread's queue.
    pub(super) queue_capacity: usize,
    pub(super) max_batch: usize,
    pub(super) batch_interval: Duration,
    pub(super) export_timeout: Duration,
    pub(super) exit_timeout: Duration,
}

impl Config {
    /// Records a thread queues between two wake-ups of the export thread: often enough to keep a
    /// busy thread's queue from filling, rarely enough that the wake-up costs nothing per span.
    pub(super) fn wake_every(&self) -> usize {
        self.max_batch.min(self.queue_capacity / 4).max(1)
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
