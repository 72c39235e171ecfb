//! The settings: every `OTEL_*` variable the sink reads, parsed as the SDK specification says,
//! with bad values, through a lookup function (no test touches the process environment).

use super::config::Config;
use super::env::{Compression, key_values, percent_decode};
use super::error::OtlpError;
use super::sink::OtlpSink;
use core::time::Duration;

fn with_env(vars: &[(&str, &str)]) -> Result<Config, OtlpError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    OtlpSink::builder()
        .env(move |name: &str| {
            vars.iter()
                .find(|(var, _)| var == name)
                .map(|(_, value)| value.clone())
        })
        .check()
}

fn error(vars: &[(&str, &str)]) -> String {
    with_env(vars).unwrap_err().to_string()
}

#[test]
fn nothing_set_gives_keels_defaults() {
    let config = with_env(&[]).unwrap();
    assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
    assert!(config.headers.is_empty() && config.resource.is_empty());
    assert_eq!(config.compression, Compression::None);
    assert!(config.tls.is_none());
    assert_eq!((config.queue_capacity, config.max_batch), (4096, 512));
    assert_eq!(config.batch_interval, Duration::from_millis(200));
    assert_eq!(config.export_timeout, Duration::from_secs(10));
    assert_eq!(config.batch_timeout, Duration::from_secs(30));
    assert!(!config.disabled && config.sampler.is_none() && config.warnings.is_empty());
}

#[test]
fn endpoints_traces_variable_wins_and_the_general_one_gets_the_path() {
    let config = with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com/")]).unwrap();
    assert_eq!(config.endpoint, "https://otlp.example.com/v1/traces");
    assert!(config.tls.is_some(), "an https endpoint gets TLS settings");
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom"),
    ])
    .unwrap();
    assert_eq!(config.endpoint, "http://b:4318/custom");
    assert!(error(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x")]).contains("\"ftp://x\""));
    // An empty value is an unset one.
    let config = with_env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", " ")]).unwrap();
    assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
}

#[test]
fn headers_are_percent_decoded_and_the_builder_wins() {
    let config = with_env(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "api-key=secret%3D%2C1 , x-team = a%20b,,",
    )])
    .unwrap();
    assert_eq!(
        config.headers,
        [
            ("api-key".to_string(), "secret=,1".to_string()),
            ("x-team".to_string(), "a b".to_string())
        ]
    );
    // The traces variable replaces the general one.
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
    ])
    .unwrap();
    assert_eq!(config.headers, [("b".to_string(), "2".to_string())]);
    let config = OtlpSink::builder()
        .env(|name: &str| (name == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "A=1,b=2".to_string()))
        .header("a", "builder")
        .check()
        .unwrap();
    assert_eq!(
        config.headers,
        [
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "builder".to_string())
        ]
    );
}

#[test]
fn bad_headers_are_one_error_naming_the_variable_and_the_value() {
    let message = error(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key")]);
    assert_eq!(
        message,
        "OTEL_EXPORTER_OTLP_HEADERS=\"api-key\" is invalid: entry \"api-key\" has no '='"
    );
    let message = error(&[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=%zz")]);
    assert!(
        message.starts_with("OTEL_EXPORTER_OTLP_TRACES_HEADERS=\"k=%zz\""),
        "{message}"
    );
    assert!(message.contains("two hex digits"), "{message}");
    let message = error(&[("OTEL_EXPORTER_OTLP_HEADERS", "=v")]);
    assert!(message.contains("empty key"), "{message}");
    let message = error(&[("OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=v")]);
    assert!(message.contains("not an HTTP token"), "{message}");
    let message = error(&[("OTEL_EXPORTER_OTLP_HEADERS", "k=a%0D%0Ab")]);
    assert!(message.contains("control character"), "{message}");
}

#[test]
fn percent_decoding_handles_utf8_and_rejects_bad_escapes() {
    assert_eq!(percent_decode("caf%C3%A9").unwrap(), "café");
    assert!(percent_decode("%C3").is_err(), "invalid UTF-8");
    assert!(percent_decode("%4").is_err());
    assert_eq!(key_values("").unwrap(), []);
}

#[test]
fn compression_gzip_or_none_else_a_warning() {
    let config = with_env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).unwrap();
    assert_eq!(config.compression, Compression::Gzip);
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
    ])
    .unwrap();
    assert_eq!(config.compression, Compression::None);
    let config = with_env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]).unwrap();
    assert_eq!(config.compression, Compression::None);
    assert_eq!(
        config.warnings,
        [
            "OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\" ignored: expected gzip or none; using the none default"
        ]
    );
}

#[test]
fn timeouts_and_batch_settings_are_milliseconds_and_counts() {
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"),
        ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "7000"),
    ])
    .unwrap();
    assert_eq!(config.export_timeout, Duration::from_millis(2500));
    assert_eq!((config.queue_capacity, config.max_batch), (100, 50));
    assert_eq!(config.batch_interval, Duration::from_secs(1));
    assert_eq!(config.batch_timeout, Duration::from_secs(7));
    let config = with_env(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s")]).unwrap();
    assert_eq!(
        config.export_timeout,
        Duration::from_secs(10),
        "the default"
    );
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].starts_with("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=\"10s\" ignored"));
    let config = with_env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-1"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1.5"),
    ])
    .unwrap();
    assert_eq!((config.queue_capacity, config.max_batch), (4096, 512));
    assert_eq!(config.warnings.len(), 4, "{:?}", config.warnings);
    // The builder wins over the variables.
    let config = OtlpSink::builder()
        .env(|name: &str| (name == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| "100".to_string()))
        .queue_capacity(7)
        .check()
        .unwrap();
    assert_eq!(config.queue_capacity, 7);
}

#[test]
fn protocol_http_protobuf_or_json_grpc_is_a_clear_error() {
    assert!(
        !with_env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
            .unwrap()
            .json
    );
    assert!(
        with_env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])
            .unwrap()
            .json
    );
    assert!(
        !with_env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ])
        .unwrap()
        .json,
        "the signal's variable wins"
    );
    if cfg!(feature = "grpc") {
        let config = with_env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ])
        .unwrap();
        assert!(config.grpc && !config.json);
        assert_eq!(config.endpoint, "http://collector:4317", "no path appended");
    } else {
        let message = error(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
        assert!(
            message.starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"grpc\" is not supported"),
            "{message}"
        );
        assert!(message.contains("`grpc` feature"), "{message}");
    }
    let config = with_env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")]).unwrap();
    assert_eq!(config.warnings.len(), 1);
}

#[test]
fn certificate_files_missing_or_wrong_are_errors_naming_the_variable() {
    let message = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem")]);
    assert!(
        message.starts_with(
            "OTEL_EXPORTER_OTLP_CERTIFICATE=\"/no/such/ca.pem\" is invalid: the file cannot be read"
        ),
        "{message}"
    );
    let dir = std::env::temp_dir().join(format!("keel-otlp-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let path = not_pem.to_str().unwrap();
    let message = error(&[("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", path)]);
    assert!(
        message.contains("has no PEM CERTIFICATE block"),
        "{message}"
    );
    let message = error(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", path)]);
    assert!(message.contains("without its pair"), "{message}");
    let message = error(&[
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/no/key.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/no/cert.pem"),
    ]);
    assert!(
        message.starts_with("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=\"/no/cert.pem\""),
        "{message}"
    );
    let message = OtlpSink::builder()
        .env(|_| None)
        .certificate("/no/such/ca.pem")
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("OtlpSinkBuilder.certificate="),
        "{message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resource_attributes_service_name_and_disabled() {
    let config = with_env(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs,deployment.environment=prod%20eu",
        ),
        ("OTEL_SDK_DISABLED", "TRUE"),
    ])
    .unwrap();
    assert_eq!(config.service_name, "from-attrs");
    assert_eq!(
        config.resource,
        [("deployment.environment".to_string(), "prod eu".to_string())]
    );
    assert!(config.disabled);
    let config = with_env(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
        ("OTEL_SERVICE_NAME", "from-name"),
    ])
    .unwrap();
    assert_eq!(config.service_name, "from-name", "OTEL_SERVICE_NAME wins");
    let config = with_env(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken"),
        ("OTEL_SDK_DISABLED", "yes"),
    ])
    .unwrap();
    assert!(config.resource.is_empty(), "discarded whole");
    assert!(!config.disabled);
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
}

#[test]
fn samplers_map_to_a_ratio_and_whether_the_parent_decides() {
    let sampler = |sampler: &str, arg: Option<&str>| {
        let mut vars = vec![("OTEL_TRACES_SAMPLER", sampler)];
        if let Some(arg) = arg {
            vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
        }
        let config = with_env(&vars).unwrap();
        (
            config.sampler.map(|s| (s.ratio, s.parent_based)),
            config.warnings.len(),
        )
    };
    assert_eq!(sampler("always_on", None), (Some((1.0, false)), 0));
    assert_eq!(
        sampler("parentbased_always_on", None),
        (Some((1.0, true)), 0)
    );
    assert_eq!(sampler("always_off", None), (Some((0.0, false)), 0));
    assert_eq!(
        sampler("parentbased_always_off", None),
        (Some((0.0, true)), 0)
    );
    assert_eq!(
        sampler("traceidratio", Some("0.25")),
        (Some((0.25, false)), 0)
    );
    assert_eq!(
        sampler("parentbased_traceidratio", Some("0.5")),
        (Some((0.5, true)), 0)
    );
    assert_eq!(sampler("traceidratio", None), (Some((1.0, false)), 0));
    assert_eq!(sampler("traceidratio", Some("2")), (Some((1.0, false)), 1));
    assert_eq!(
        sampler("traceidratio", Some("half")),
        (Some((1.0, false)), 1)
    );
    assert_eq!(
        sampler("parentbased_traceidratio", Some("-0.1")),
        (Some((1.0, true)), 1)
    );
    assert_eq!(sampler("jaeger_remote", None), (None, 1));
    assert_eq!(sampler("parentbased_jaeger_remote", None), (None, 1));
    assert_eq!(sampler("parentbased_", None), (None, 1));
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_takes_gzip_through_tonic_and_leaves_the_body_alone() {
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ])
    .unwrap();
    assert!(config.grpc);
    assert!(config.grpc_target.as_ref().unwrap().gzip());
    assert_eq!(
        config.compression,
        Compression::None,
        "the export thread must not gzip what tonic compresses"
    );
    let config = OtlpSink::builder()
        .env(|_| None)
        .grpc(true)
        .gzip(true)
        .check()
        .unwrap();
    assert!(config.grpc_target.as_ref().unwrap().gzip());
    let config = with_env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
    assert!(!config.grpc_target.as_ref().unwrap().gzip());
    assert_eq!(config.endpoint, "http://localhost:4317");
    let http = with_env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).unwrap();
    assert!(http.grpc_target.is_none());
    assert_eq!(
        http.compression,
        Compression::Gzip,
        "HTTP still gzips the body"
    );
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_https_endpoints_are_accepted_and_the_scheme_decides_tls() {
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://api.example.com:443",
        ),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ])
    .unwrap();
    assert_eq!(
        config.endpoint, "https://api.example.com:443",
        "https:// wins over _INSECURE"
    );
    assert!(config.grpc_target.is_some());
    assert!(config.tls.is_none(), "ureq's TLS is for HTTP only");
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
    ])
    .unwrap();
    assert_eq!(config.endpoint, "http://collector:4317", "http:// wins too");
    // Without a scheme: TLS unless _INSECURE says otherwise (the traces variable first).
    let endpoint = |vars: &[(&str, &str)]| {
        let mut all = vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ];
        all.extend_from_slice(vars);
        with_env(&all).unwrap().endpoint
    };
    assert_eq!(endpoint(&[]), "https://collector:4317");
    assert_eq!(
        endpoint(&[("OTEL_EXPORTER_OTLP_INSECURE", "TRUE")]),
        "http://collector:4317"
    );
    assert_eq!(
        endpoint(&[
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false"),
        ]),
        "https://collector:4317"
    );
    let config = with_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "maybe"),
    ])
    .unwrap();
    assert_eq!(config.endpoint, "https://collector:4317");
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].starts_with("OTEL_EXPORTER_OTLP_INSECURE=\"maybe\" ignored"),
        "{:?}",
        config.warnings
    );
    let config = OtlpSink::builder()
        .env(|name: &str| (name == "OTEL_EXPORTER_OTLP_INSECURE").then(|| "false".to_string()))
        .grpc(true)
        .endpoint("collector:4317")
        .insecure(true)
        .check()
        .unwrap();
    assert_eq!(config.endpoint, "http://collector:4317", "the builder wins");
}

#[cfg(feature = "grpc")]
#[test]
fn what_grpc_still_cannot_do_is_a_clear_error() {
    // _INSECURE is for gRPC only: OTLP/HTTP needs its scheme.
    let refused = with_env(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ])
    .unwrap_err();
    assert!(matches!(refused, OtlpError::Endpoint { .. }), "{refused}");
    // An endpoint tonic cannot parse, named.
    let message = error_of(
        OtlpSink::builder()
            .env(|_| None)
            .grpc(true)
            .endpoint("http://bad host:4317"),
    );
    assert!(message.contains("\"http://bad host:4317\""), "{message}");
    // Metadata values must be visible ASCII.
    let message = error(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "team=%C3%A9quipe"),
    ]);
    assert!(
        message.starts_with("OTEL_EXPORTER_OTLP_(TRACES_)HEADERS=\"team=...\""),
        "{message}"
    );
    // A CA file that is not one is still an error at build, naming the variable, with gRPC.
    let message = error(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem"),
    ]);
    assert!(
        message.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE=\"/no/such/ca.pem\" is invalid"),
        "{message}"
    );
}

#[cfg(feature = "grpc")]
fn error_of(builder: super::config::OtlpSinkBuilder) -> String {
    builder.check().unwrap_err().to_string()
}
