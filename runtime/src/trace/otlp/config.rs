//! An [`OtlpSink`]'s settings: the builder, the OpenTelemetry SDK's `OTEL_*` environment
//! variables it falls back on (`env.rs` reads them), and the checks `build` makes before the
//! sink starts.
//!
//! Precedence, as the SDK specification has it: a builder method wins over its variable, a
//! `OTEL_EXPORTER_OTLP_TRACES_*` variable over its `OTEL_EXPORTER_OTLP_*` twin, and either
//! over keel's default.

use super::env::{self, Compression, EnvSettings};
use super::error::OtlpError;
use super::sink::OtlpSink;
use super::tls::TlsFiles;
use core::fmt;
use core::time::Duration;
use std::sync::Arc;

/// Where spans go when no endpoint is configured and no `OTEL_EXPORTER_OTLP_*` variable is set.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// How the settings' variables are looked up (see [`OtlpSinkBuilder::env`]).
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

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
///
/// Every setting but `exit_timeout` also has an OpenTelemetry SDK variable, used when the
/// builder method is not called: `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, `_HEADERS`,
/// `_COMPRESSION`, `_TIMEOUT`, `_PROTOCOL` (`http/protobuf`, `http/json`, or `grpc` with the
/// `grpc` feature), `_CERTIFICATE`,
/// `_CLIENT_KEY`, `_CLIENT_CERTIFICATE`, `_INSECURE` (gRPC endpoints without a scheme); `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`,
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_EXPORT_TIMEOUT`; `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`, `OTEL_TRACES_SAMPLER`(`_ARG`). A number
/// or a choice that cannot be understood is a warning on stderr and the default (as the
/// specification says); a header list that does not parse, a certificate file that cannot be
/// read or a protocol this build cannot speak is an [`OtlpError`] from
/// [`build`](Self::build), naming the variable and its value.
///
/// ```
/// use keel_runtime::trace::otlp::{OtlpError, OtlpSink};
/// let env = |name: &str| match name {
///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=abc%20123,team=a".to_string()),
///     "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some("/no/such/ca.pem".to_string()),
///     _ => None,
/// };
/// let error = OtlpSink::builder().env(env).build().unwrap_err();
/// assert!(matches!(error, OtlpError::Invalid { .. }));
/// assert!(error.to_string().starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE=\"/no/such/ca.pem\""));
/// ```
#[derive(Clone)]
pub struct OtlpSinkBuilder {
    endpoint: Option<String>,
    service_name: Option<String>,
    headers: Vec<(String, String)>,
    compression: Option<Compression>,
    json: Option<bool>,
    #[cfg(feature = "grpc")]
    grpc: Option<bool>,
    #[cfg(feature = "grpc")]
    insecure: Option<bool>,
    certificate: Option<String>,
    client_certificate: Option<String>,
    client_key: Option<String>,
    resource: Vec<(String, String)>,
    queue_capacity: Option<usize>,
    max_batch: Option<usize>,
    batch_interval: Option<Duration>,
    export_timeout: Option<Duration>,
    batch_timeout: Option<Duration>,
    exit_timeout: Duration,
    env: Option<EnvLookup>,
}

/// keel's defaults, where neither a builder method nor a variable says otherwise.
const QUEUE_CAPACITY: usize = 4096;
const MAX_BATCH: usize = 512;
const BATCH_INTERVAL: Duration = Duration::from_millis(200);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

impl OtlpSinkBuilder {
    /// The defaults [`OtlpSink::builder`] documents.
    pub(super) fn new() -> Self {
        OtlpSinkBuilder {
            endpoint: None,
            service_name: None,
            headers: Vec::new(),
            compression: None,
            json: None,
            #[cfg(feature = "grpc")]
            grpc: None,
            #[cfg(feature = "grpc")]
            insecure: None,
            certificate: None,
            client_certificate: None,
            client_key: None,
            resource: Vec::new(),
            queue_capacity: None,
            max_batch: None,
            batch_interval: None,
            export_timeout: None,
            batch_timeout: None,
            exit_timeout: Duration::from_millis(500),
            env: None,
        }
    }
}

impl fmt::Debug for OtlpSinkBuilder {
    /// Header values are left out (they are usually API keys).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpSinkBuilder")
            .field("endpoint", &self.endpoint)
            .field("service_name", &self.service_name)
            .field("header_names", &header_names)
            .field("compression", &self.compression)
            .field("json", &self.json)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("resource", &self.resource)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("batch_interval", &self.batch_interval)
            .field("export_timeout", &self.export_timeout)
            .field("batch_timeout", &self.batch_timeout)
            .field("exit_timeout", &self.exit_timeout)
            .finish_non_exhaustive()
    }
}

impl OtlpSinkBuilder {
    /// The OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces` (a collector's or
    /// Jaeger's OTLP port) or a hosted backend's `https://` one (HTTPS through rustls, trusting
    /// the platform's roots and the [`certificate`](Self::certificate) if given).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The `service.name` resource attribute.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// A header sent with every request (`x-api-key`, `authorization`, ...), added to those
    /// of `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` (this one wins over a variable's of the same
    /// name).
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let error = OtlpSink::builder().header("bad name", "v").build().unwrap_err();
    /// assert!(error.to_string().contains("OtlpSinkBuilder.header"));
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// gzip the request bodies (`true`) or not (`false`, the default; the variable is
    /// `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION=gzip`).
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.compression = Some(if gzip {
            Compression::Gzip
        } else {
            Compression::None
        });
        self
    }

    /// Send OTLP's JSON encoding (`true`, the `http/json` protocol, `Content-Type:
    /// application/json`) or protobuf (`false`, the default `http/protobuf`). The variable is
    /// `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`. JSON bodies are several times larger and slower to
    /// write: use it for receivers that take nothing else.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:9/v1/traces").json(true).build();
    /// assert!(sink.is_ok());
    /// ```
    pub fn json(mut self, json: bool) -> Self {
        self.json = Some(json);
        self
    }

    /// Send OTLP over gRPC (`true`; feature `grpc`; the variable is
    /// `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=grpc`) through tonic's client (default endpoint
    /// `http://localhost:4317`; `OTEL_EXPORTER_OTLP_ENDPOINT` is used as it is, no path
    /// appended), headers sent as request metadata.
    ///
    /// As the OTLP exporter specification has it for gRPC, the endpoint's scheme decides TLS:
    /// `https://` is TLS through rustls (the platform's roots plus the
    /// [`certificate`](Self::certificate), the [`client_certificate`](Self::client_certificate)
    /// for mutual TLS), `http://` is plain. An endpoint without a scheme (`collector:4317`) is
    /// TLS unless [`insecure`](Self::insecure) (`OTEL_EXPORTER_OTLP_(TRACES_)INSECURE=true`)
    /// says otherwise. [`gzip`](Self::gzip) compresses each request (`grpc-encoding: gzip`).
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().grpc(true).endpoint("http://127.0.0.1:9").build().unwrap();
    /// assert_eq!(sink.endpoint(), "http://127.0.0.1:9");
    /// let sink = OtlpSink::builder().grpc(true).endpoint("127.0.0.1:9").gzip(true).build().unwrap();
    /// assert_eq!(sink.endpoint(), "https://127.0.0.1:9");
    /// ```
    #[cfg(feature = "grpc")]
    pub fn grpc(mut self, grpc: bool) -> Self {
        self.grpc = Some(grpc);
        self
    }

    /// For a gRPC endpoint given without a scheme (`collector:4317`): connect without TLS
    /// (`true`) or with it (`false`, the default). The variable is
    /// `OTEL_EXPORTER_OTLP_(TRACES_)INSECURE`. As the specification says, an `http://` or
    /// `https://` scheme decides by itself, and OTLP/HTTP always follows its scheme.
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder().grpc(true).endpoint("127.0.0.1:9").insecure(true).build();
    /// assert_eq!(sink.unwrap().endpoint(), "http://127.0.0.1:9");
    /// ```
    #[cfg(feature = "grpc")]
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = Some(insecure);
        self
    }

    /// A PEM file of the CA certificate(s) to trust for an `https://` endpoint, besides the
    /// platform's roots (`OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE`).
    pub fn certificate(mut self, pem_path: impl Into<String>) -> Self {
        self.certificate = Some(pem_path.into());
        self
    }

    /// The client certificate chain and private key (PEM files) for mutual TLS
    /// (`OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE` and `_CLIENT_KEY`).
    pub fn client_certificate(
        mut self,
        certificate_pem_path: impl Into<String>,
        key_pem_path: impl Into<String>,
    ) -> Self {
        self.client_certificate = Some(certificate_pem_path.into());
        self.client_key = Some(key_pem_path.into());
        self
    }

    /// A resource attribute (`deployment.environment`, ...), added to those of
    /// `OTEL_RESOURCE_ATTRIBUTES` (this one wins over the variable's of the same key).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Reads the `OTEL_*` settings through `lookup` instead of the process environment (a
    /// configuration file's values, or none at all: `env(|_| None)`).
    ///
    /// ```
    /// use keel_runtime::trace::otlp::OtlpSink;
    /// let sink = OtlpSink::builder()
    ///     .env(|name: &str| {
    ///         (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:9".to_string())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(sink.endpoint(), "http://127.0.0.1:9/v1/traces");
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Some(Arc::new(lookup));
        self
    }

    /// How many finished spans may wait for the export thread in each traced thread's queue;
    /// past that, that thread's spans are dropped and counted. Each queue takes this times 64
    /// bytes (plus the recorded fields and error messages of the spans in it), allocated when
    /// its thread first sends a span to the sink and freed after the thread has exited and
    /// its spans are sent. The export thread holds at most one pass of records taken out of
    /// the queues while it sends them.
    pub fn queue_capacity(mut self, spans: usize) -> Self {
        self.queue_capacity = Some(spans);
        self
    }

    /// The most spans in one request.
    pub fn max_batch(mut self, spans: usize) -> Self {
        self.max_batch = Some(spans);
        self
    }

    /// How long a span may wait for its batch to fill before the batch is sent anyway.
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.batch_interval = Some(interval);
        self
    }

    /// The longest one request may take, connection and answer
    /// (`OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`, default 10 s).
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = Some(timeout);
        self
    }

    /// The longest one batch may take, its retries included, and how long [`OtlpSink::flush`]
    /// waits (`OTEL_BSP_EXPORT_TIMEOUT`, default 30 s).
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout = Some(timeout);
        self
    }

    /// How long the flush at process exit may wait for a healthy receiver.
    pub fn exit_timeout(mut self, timeout: Duration) -> Self {
        self.exit_timeout = timeout;
        self
    }

    /// Checks the settings and starts the export thread (none when `OTEL_SDK_DISABLED=true`).
    /// Unusable numbers and choices in the variables are reported on stderr; when
    /// `OTEL_TRACES_SAMPLER` is set, [`set_sampler`](crate::trace::set_sampler) is called
    /// with its ratio.
    pub fn build(self) -> Result<OtlpSink, OtlpError> {
        let config = self.check()?;
        for warning in &config.warnings {
            eprintln!("keel::trace::otlp: {warning}");
        }
        if let Some(sampler) = config.sampler {
            crate::trace::set_sampler(sampler.ratio);
            crate::trace::set_parent_based(sampler.parent_based);
        }
        OtlpSink::start(config)
    }

    /// The settings checked, everything resolved (from the variables when not given).
    pub(super) fn check(&self) -> Result<Config, OtlpError> {
        let env = match &self.env {
            Some(lookup) => env::read(&**lookup)?,
            None => env::read(&|name: &str| std::env::var(name).ok())?,
        };
        self.resolve(env)
    }

    fn resolve(&self, env: EnvSettings) -> Result<Config, OtlpError> {
        #[cfg(feature = "grpc")]
        let grpc = self.grpc.unwrap_or(env.grpc);
        #[cfg(not(feature = "grpc"))]
        let grpc = false;
        let endpoint = if grpc {
            let endpoint = self
                .endpoint
                .clone()
                .or(env.grpc_endpoint)
                .unwrap_or_else(|| "http://localhost:4317".to_string());
            // The specification: `_INSECURE` decides only for an endpoint without a scheme.
            #[cfg(feature = "grpc")]
            let insecure = self.insecure.or(env.insecure).unwrap_or(false);
            #[cfg(not(feature = "grpc"))]
            let insecure = false;
            if endpoint.contains("://") || endpoint.is_empty() {
                endpoint
            } else if insecure {
                format!("http://{endpoint}")
            } else {
                format!("https://{endpoint}")
            }
        } else {
            self.endpoint
                .clone()
                .or(env.endpoint)
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
        };
        let https = endpoint.starts_with("https://") && endpoint.len() > "https://".len();
        let http = endpoint.starts_with("http://") && endpoint.len() > "http://".len();
        if !https && !http {
            return Err(OtlpError::Endpoint { endpoint });
        }
        let compression = self.compression.or(env.compression).unwrap_or_default();
        let (queue_capacity, max_batch) = (
            self.queue_capacity
                .or(env.queue_size)
                .unwrap_or(QUEUE_CAPACITY),
            self.max_batch.or(env.batch_size).unwrap_or(MAX_BATCH),
        );
        if queue_capacity == 0 {
            return Err(OtlpError::Zero {
                setting: "queue_capacity",
            });
        }
        if max_batch == 0 {
            return Err(OtlpError::Zero {
                setting: "max_batch",
            });
        }
        let mut headers = env.headers.unwrap_or_default();
        for (name, value) in &headers {
            check_header(name, value).map_err(|reason| OtlpError::Invalid {
                setting: "OTEL_EXPORTER_OTLP_(TRACES_)HEADERS".to_string(),
                value: format!("{name}=..."),
                reason,
            })?;
        }
        for (name, value) in &self.headers {
            check_header(name, value).map_err(|reason| OtlpError::Invalid {
                setting: "OtlpSinkBuilder.header".to_string(),
                value: name.clone(),
                reason,
            })?;
            headers.retain(|(other, _)| !other.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        if let Some((name, _)) = headers
            .iter()
            .find(|(_, value)| grpc && !value.bytes().all(|byte| (0x20..0x7f).contains(&byte)))
        {
            return Err(OtlpError::Invalid {
                setting: "OTEL_EXPORTER_OTLP_(TRACES_)HEADERS".to_string(),
                value: format!("{name}=..."),
                reason: format!(
                    "gRPC metadata values must be visible ASCII; the value of {name:?} is not"
                ),
            });
        }
        let builder_file = |method: &str, path: &Option<String>| {
            path.clone()
                .map(|path| (format!("OtlpSinkBuilder.{method}"), path))
        };
        let files = TlsFiles {
            certificate: builder_file("certificate", &self.certificate).or(env.certificate),
            client_certificate: builder_file("client_certificate", &self.client_certificate)
                .or(env.client_certificate),
            client_key: builder_file("client_certificate", &self.client_key).or(env.client_key),
        };
        // Read even for an http:// endpoint: a file named but missing is a mistake either way.
        let tls = files.load()?;
        let export_timeout = self
            .export_timeout
            .or(env.timeout)
            .unwrap_or(EXPORT_TIMEOUT);
        #[cfg(feature = "grpc")]
        let grpc_target = if grpc {
            let settings = [
                &files.certificate,
                &files.client_certificate,
                &files.client_key,
            ]
            .into_iter()
            .flatten()
            .map(|(setting, _)| setting.as_str())
            .collect::<Vec<_>>()
            .join(", ");
            Some(super::grpc::GrpcTarget::new(
                &endpoint,
                https.then(|| tls.grpc()),
                &settings,
                compression == Compression::Gzip,
                export_timeout,
            )?)
        } else {
            None
        };
        let service_name = self
            .service_name
            .clone()
            .or(env.service_name)
            .or_else(|| {
                env.resource
                    .iter()
                    .find(|(key, _)| key == "service.name")
                    .map(|(_, value)| value.clone())
            })
            .unwrap_or_else(default_service_name);
        let mut resource = env.resource;
        for (key, value) in &self.resource {
            resource.retain(|(other, _)| other != key);
            resource.push((key.clone(), value.clone()));
        }
        resource.retain(|(key, _)| key != "service.name");
        Ok(Config {
            endpoint,
            service_name,
            resource,
            headers,
            // gRPC compresses through tonic (its target's gzip), not the body.
            compression: if grpc { Compression::None } else { compression },
            json: self.json.or(env.json).unwrap_or(false) && !grpc,
            grpc,
            #[cfg(feature = "grpc")]
            grpc_target,
            tls: (https && !grpc).then(|| tls.config()),
            queue_capacity,
            max_batch,
            batch_interval: self
                .batch_interval
                .or(env.schedule_delay)
                .unwrap_or(BATCH_INTERVAL),
            export_timeout,
            batch_timeout: self
                .batch_timeout
                .or(env.batch_timeout)
                .unwrap_or(BATCH_TIMEOUT),
            exit_timeout: self.exit_timeout,
            disabled: env.disabled,
            sampler: env.sampler,
            warnings: env.warnings,
        })
    }
}

/// A header name must be an HTTP token, a value printable ASCII or tabs (no line breaks that
/// would split the request).
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("header name {name:?} is not an HTTP token"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of header {name:?} holds a control character (a line break?)"
        ));
    }
    Ok(())
}

/// The settings of a running sink, as [`OtlpSinkBuilder::check`] accepted them, with the
/// endpoint and the service name resolved.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) endpoint: String,
    pub(super) service_name: String,
    /// Resource attributes besides `service.name`.
    pub(super) resource: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    /// The HTTP body's encoding (always `None` with gRPC, which compresses through tonic: see
    /// `grpc_target`).
    pub(super) compression: Compression,
    /// `http/json` rather than `http/protobuf`.
    pub(super) json: bool,
    /// OTLP over gRPC (feature `grpc`) rather than HTTP.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(super) grpc: bool,
    /// The gRPC channel's settings (endpoint, TLS, gzip), when `grpc`.
    #[cfg(feature = "grpc")]
    pub(super) grpc_target: Option<super::grpc::GrpcTarget>,
    /// For an `https://` endpoint over HTTP.
    pub(super) tls: Option<ureq::tls::TlsConfig>,
    /// Capacity of each thread's queue.
    pub(super) queue_capacity: usize,
    pub(super) max_batch: usize,
    pub(super) batch_interval: Duration,
    pub(super) export_timeout: Duration,
    /// The longest a batch may take, retries included.
    pub(super) batch_timeout: Duration,
    pub(super) exit_timeout: Duration,
    /// `OTEL_SDK_DISABLED=true`: no thread, nothing queued.
    pub(super) disabled: bool,
    /// `OTEL_TRACES_SAMPLER`'s sampler, applied at build.
    pub(super) sampler: Option<env::Sampler>,
    pub(super) warnings: Vec<String>,
}

impl Config {
    /// Records a thread queues between two wake-ups of the export thread: often enough to keep a
    /// busy thread's queue from filling, rarely enough that the wake-up costs nothing per span.
    pub(super) fn wake_every(&self) -> usize {
        self.max_batch.min(self.queue_capacity / 4).max(1)
    }
}

fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem()?.to_str().map(str::to_string))
        .unwrap_or_else(|| "unknown_service".to_string())
}
