//! The OpenTelemetry SDK's environment variables, read through a lookup function (the process
//! environment by default, a map in tests) and parsed as the SDK specification says: an empty
//! value is the same as an unset one; a number or a choice that cannot be understood is a
//! warning and the default; a value that would send spans somewhere else than meant (headers,
//! certificates, a protocol this build cannot speak) is an error naming the variable.

use super::error::OtlpError;
use core::time::Duration;

/// Where the variables come from: `std::env::var` unless the builder was given another lookup.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The settings read from the variables, each `None` when its variable is unset (or, for a
/// number or a choice, unusable: then a warning says why).
#[derive(Debug, Default)]
pub(super) struct EnvSettings {
    pub(super) endpoint: Option<String>,
    pub(super) headers: Option<Vec<(String, String)>>,
    pub(super) compression: Option<Compression>,
    /// `_PROTOCOL`: `Some(true)` for `http/json`, `Some(false)` for `http/protobuf`.
    pub(super) json: Option<bool>,
    /// `_PROTOCOL=grpc` (feature `grpc`).
    pub(super) grpc: bool,
    /// The endpoint for gRPC: the traces variable, else the general one as it is (gRPC has no
    /// path to append).
    pub(super) grpc_endpoint: Option<String>,
    /// `_INSECURE`: for a gRPC endpoint given without a scheme, plain `http://` (`true`) rather
    /// than TLS (`false`, the specification's default).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(super) insecure: Option<bool>,
    pub(super) timeout: Option<Duration>,
    pub(super) certificate: Option<(String, String)>,
    pub(super) client_key: Option<(String, String)>,
    pub(super) client_certificate: Option<(String, String)>,
    pub(super) queue_size: Option<usize>,
    pub(super) schedule_delay: Option<Duration>,
    pub(super) batch_size: Option<usize>,
    pub(super) batch_timeout: Option<Duration>,
    pub(super) service_name: Option<String>,
    pub(super) resource: Vec<(String, String)>,
    pub(super) disabled: bool,
    /// The sampler `OTEL_TRACES_SAMPLER` asks for, if it is set and understood.
    pub(super) sampler: Option<Sampler>,
    /// What was set but not usable, and what was done instead (printed on stderr at build).
    pub(super) warnings: Vec<String>,
}

/// A request body's encoding on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Compression {
    /// The protobuf body as is.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip`), which every OTLP/HTTP receiver accepts.
    Gzip,
}

/// Reads every variable the sink understands through `lookup`.
pub(super) fn read(lookup: Lookup<'_>) -> Result<EnvSettings, OtlpError> {
    let mut env = EnvSettings::default();
    let var = |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    // The traces variable wins over the general one (OTEL_EXPORTER_OTLP_TRACES_X over _X).
    let signal = |suffix: &str| {
        let traces = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
        match var(&traces) {
            Some(value) => Some((traces, value)),
            None => {
                let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
                var(&general).map(|value| (general, value))
            }
        }
    };

    env.grpc_endpoint =
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
    env.endpoint = match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Some(endpoint) => Some(endpoint),
        // The general endpoint is a base URL: the traces path is appended.
        None => var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/'))),
    };
    if let Some((name, value)) = signal("HEADERS") {
        env.headers = Some(key_values(&value).map_err(|reason| invalid(&name, &value, reason))?);
    }
    if let Some((name, value)) = signal("COMPRESSION") {
        env.compression = match value.to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => {
                env.warnings
                    .push(ignored(&name, &value, "gzip or none", "none"));
                None
            }
        };
    }
    if let Some((name, value)) = signal("TIMEOUT") {
        env.timeout = millis(&name, &value, &mut env.warnings);
    }
    if let Some((name, value)) = signal("PROTOCOL") {
        match value.as_str() {
            "http/protobuf" => env.json = Some(false),
            "http/json" => env.json = Some(true),
            "grpc" if cfg!(feature = "grpc") => env.grpc = true,
            "grpc" => {
                return Err(OtlpError::Unsupported {
                    setting: name,
                    value,
                    reason: "this build of keel sends OTLP over HTTP only (http/protobuf or \
                             http/json): turn on keel's `grpc` feature, or point the endpoint at \
                             the receiver's OTLP/HTTP port (4318) and unset the variable",
                });
            }
            _ => env.warnings.push(ignored(
                &name,
                &value,
                "http/protobuf, http/json or grpc",
                "http/protobuf",
            )),
        }
    }
    if let Some((name, value)) = signal("INSECURE") {
        env.insecure = match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                env.warnings
                    .push(ignored(&name, &value, "true or false", "false"));
                None
            }
        };
    }
    env.certificate = signal("CERTIFICATE");
    env.client_key = signal("CLIENT_KEY");
    env.client_certificate = signal("CLIENT_CERTIFICATE");

    let count = |name: &str, warnings: &mut Vec<String>| -> Option<usize> {
        let value = var(name)?;
        match value.parse::<usize>() {
            Ok(count) if count > 0 => Some(count),
            _ => {
                warnings.push(ignored(
                    name,
                    &value,
                    "a whole number of at least 1",
                    "keel's",
                ));
                None
            }
        }
    };
    env.queue_size = count("OTEL_BSP_MAX_QUEUE_SIZE", &mut env.warnings);
    env.batch_size = count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &mut env.warnings);
    if let Some(value) = var("OTEL_BSP_SCHEDULE_DELAY") {
        env.schedule_delay = millis("OTEL_BSP_SCHEDULE_DELAY", &value, &mut env.warnings);
    }
    if let Some(value) = var("OTEL_BSP_EXPORT_TIMEOUT") {
        env.batch_timeout = millis("OTEL_BSP_EXPORT_TIMEOUT", &value, &mut env.warnings);
    }

    env.service_name = var("OTEL_SERVICE_NAME");
    if let Some(value) = var("OTEL_RESOURCE_ATTRIBUTES") {
        // The specification: a value that cannot be decoded is discarded whole, with an error
        // reported (here a warning: the spans still go out, without these attributes).
        match key_values(&value) {
            Ok(attributes) => env.resource = attributes,
            Err(reason) => env.warnings.push(format!(
                "OTEL_RESOURCE_ATTRIBUTES={value:?} ignored: {reason}"
            )),
        }
    }
    if let Some(value) = var("OTEL_SDK_DISABLED") {
        match value.to_ascii_lowercase().as_str() {
            "true" => env.disabled = true,
            "false" => {}
            _ => env.warnings.push(ignored(
                "OTEL_SDK_DISABLED",
                &value,
                "true or false",
                "false",
            )),
        }
    }
    env.sampler = sampler(&var, &mut env.warnings);
    Ok(env)
}

/// A sampler of the SDK specification, as keel's head sampler runs it: the ratio of new traces
/// kept ([`set_sampler`](crate::trace::set_sampler)), and whether a remote parent's decision
/// is kept ([`set_parent_based`](crate::trace::set_parent_based)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sampler {
    pub(super) ratio: f64,
    pub(super) parent_based: bool,
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// At a root every sampler decides by its ratio (`always_on` 1, `always_off` 0,
/// `traceidratio` the argument, 1 when absent or unusable, as the specification says). Under a
/// remote parent, the `parentbased_*` samplers keep the caller's decision (their default
/// `parentbased_always_on` is keel's default too); `always_on`, `always_off` and `traceidratio`
/// ignore it and decide by their ratio on the trace id. Under a local parent both share the
/// root's decision, which the same trace id would give again.
fn sampler(var: &dyn Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> Option<Sampler> {
    let name = var("OTEL_TRACES_SAMPLER")?;
    let (root, parent_based) = match name.strip_prefix("parentbased_") {
        Some(root) => (root, true),
        None => (name.as_str(), false),
    };
    let ratio = match root {
        "always_on" => 1.0,
        "always_off" => 0.0,
        "traceidratio" => match var("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(arg) => match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
                _ => {
                    warnings.push(ignored(
                        "OTEL_TRACES_SAMPLER_ARG",
                        &arg,
                        "a number from 0 to 1",
                        "1.0",
                    ));
                    1.0
                }
            },
        },
        _ => {
            warnings.push(ignored(
                "OTEL_TRACES_SAMPLER",
                &name,
                "always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio",
                "parentbased_always_on (or the ratio set with trace::set_sampler)",
            ));
            return None;
        }
    };
    Some(Sampler {
        ratio,
        parent_based,
    })
}

/// A duration in whole milliseconds, as the specification's timeouts and delays are.
fn millis(name: &str, value: &str, warnings: &mut Vec<String>) -> Option<Duration> {
    match value.parse::<u64>() {
        Ok(millis) => Some(Duration::from_millis(millis)),
        Err(_) => {
            warnings.push(ignored(
                name,
                value,
                "a whole number of milliseconds",
                "keel's",
            ));
            None
        }
    }
}

fn ignored(name: &str, value: &str, expected: &str, default: &str) -> String {
    format!("{name}={value:?} ignored: expected {expected}; using the {default} default")
}

fn invalid(name: &str, value: &str, reason: String) -> OtlpError {
    OtlpError::Invalid {
        setting: name.to_string(),
        value: value.to_string(),
        reason,
    }
}

/// A `key=value,key=value` list (W3C Baggage's form, as the headers and resource attributes
/// variables use), keys and values trimmed and percent-decoded.
pub(super) fn key_values(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for entry in list.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("entry {:?} has no '='", entry.trim()));
        };
        let key = percent_decode(key.trim())?;
        if key.is_empty() {
            return Err(format!("entry {:?} has an empty key", entry.trim()));
        }
        pairs.push((key, percent_decode(value.trim())?));
    }
    Ok(pairs)
}

/// `%XX` escapes decoded (as UTF-8); anything else kept as is.
pub(super) fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| core::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("{text:?} has a '%' not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} percent-decodes to invalid UTF-8"))
}
