//! OTLP over gRPC (feature `grpc`): the batch `encode.rs` wrote is sent as it is as the
//! `TraceService/Export` request through tonic's client, on a tokio runtime of the export
//! thread's own, blocked on per request.
//!
//! The channel is configured when the sink is built ([`GrpcTarget::new`]), so that an endpoint
//! or TLS files tonic cannot use are an error then: HTTPS through tonic's rustls with the
//! settings `tls.rs` read (the platform's roots plus the given CA, the client certificate of
//! mutual TLS), and gzip through tonic's own message compression.

use super::error::OtlpError;
use super::export::Sent;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use std::time::Duration;
use tonic::Status;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// The method every OTLP/gRPC traces receiver serves.
const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where and how the gRPC client connects, checked at build.
#[derive(Clone, Debug)]
pub(super) struct GrpcTarget {
    endpoint: Endpoint,
    gzip: bool,
}

impl GrpcTarget {
    /// The channel settings for `url` (`http://` or `https://`, resolved by the config), over
    /// TLS with `tls` when given, compressing requests with gzip when `gzip`.
    /// `tls_settings` names the settings the TLS files came from, for the error message.
    pub(super) fn new(
        url: &str,
        tls: Option<ClientTlsConfig>,
        tls_settings: &str,
        gzip: bool,
        timeout: Duration,
    ) -> Result<Self, OtlpError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|_| OtlpError::Endpoint {
                endpoint: url.to_string(),
            })?
            .timeout(timeout)
            .connect_timeout(timeout);
        let endpoint = match tls {
            Some(tls) => endpoint
                .tls_config(tls)
                .map_err(|error| OtlpError::Invalid {
                    setting: tls_settings.to_string(),
                    value: url.to_string(),
                    reason: format!("tonic cannot make a TLS client of these settings: {error}"),
                })?,
            None => endpoint,
        };
        Ok(Self { endpoint, gzip })
    }

    /// Whether requests are gzipped (`grpc-encoding: gzip`).
    #[cfg(test)]
    pub(super) fn gzip(&self) -> bool {
        self.gzip
    }
}

/// The export thread's gRPC client: its runtime, and the channel (connected on first use,
/// reconnecting by itself after a failure).
pub(super) struct GrpcClient {
    runtime: tokio::runtime::Runtime,
    target: GrpcTarget,
    url: String,
    headers: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    client: Option<tonic::client::Grpc<Channel>>,
}

impl GrpcClient {
    /// A client of the configured gRPC target, sending the configured headers as request
    /// metadata.
    pub(super) fn new(config: &super::config::Config) -> std::io::Result<Self> {
        let target = config.grpc_target.clone().ok_or_else(|| {
            std::io::Error::other("the protocol is grpc but no gRPC target was configured")
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let headers = config
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()?,
                    MetadataValue::try_from(value.as_str()).ok()?,
                ))
            })
            .collect();
        Ok(Self {
            runtime,
            target,
            url: config.endpoint.clone(),
            headers,
            client: None,
        })
    }

    /// Sends the encoded `ExportTraceServiceRequest` in `body` as it is.
    pub(super) fn export(&mut self, body: &[u8]) -> Sent {
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                // Connected when first used, inside the runtime.
                let channel = {
                    let _entered = self.runtime.enter();
                    self.target.endpoint.connect_lazy()
                };
                let mut client = tonic::client::Grpc::new(channel);
                if self.target.gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                self.client.insert(client)
            }
        };
        let mut request = tonic::Request::new(body.to_vec());
        for (key, value) in &self.headers {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        let answer = self.runtime.block_on(async {
            client
                .ready()
                .await
                .map_err(|error| Status::unavailable(format!("not connected: {error}")))?;
            client
                .unary(request, PathAndQuery::from_static(EXPORT), EncodedBatch)
                .await
        });
        match answer {
            Ok(response) => {
                let (rejected, message) = response
                    .into_inner()
                    .partial_success
                    .map(|partial| {
                        (
                            u64::try_from(partial.rejected_spans).unwrap_or(0),
                            partial.error_message,
                        )
                    })
                    .unwrap_or_default();
                Sent::Accepted { rejected, message }
            }
            Err(status) => {
                let mut error = format!(
                    "gRPC {:?} from {}: {}",
                    status.code(),
                    self.url,
                    status.message()
                );
                // The innermost cause says most (`Connection refused`), and whether the
                // failure is the TLS handshake's: a certificate refused (rustls reports it as
                // invalid data) fails the same way every time, so it is not retried.
                let mut refused_by_tls = false;
                let mut innermost = None;
                let mut source = std::error::Error::source(&status);
                while let Some(cause) = source {
                    refused_by_tls |= cause
                        .downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData);
                    innermost = Some(cause);
                    source = cause.source();
                }
                if let Some(cause) = innermost.map(ToString::to_string)
                    && !error.contains(&cause)
                {
                    error.push_str(&format!(" ({cause})"));
                }
                // The specification's retryable gRPC codes; `RESOURCE_EXHAUSTED` only when the
                // server says when to come back (a `RetryInfo` in the status details), whose
                // delay is honoured for any of them.
                let retry_after = retry_delay(status.details());
                let retryable = !refused_by_tls
                    && (matches!(
                        status.code(),
                        tonic::Code::Cancelled
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Aborted
                            | tonic::Code::OutOfRange
                            | tonic::Code::Unavailable
                            | tonic::Code::DataLoss
                    ) || (status.code() == tonic::Code::ResourceExhausted
                        && retry_after.is_some()));
                if retryable {
                    Sent::Retryable { error, retry_after }
                } else {
                    Sent::Failed { error }
                }
            }
        }
    }
}

/// tonic's codec for a batch already encoded as an `ExportTraceServiceRequest`: its bytes are
/// the message (tonic frames, and compresses when asked); the answer is decoded with prost.
#[derive(Clone, Copy, Debug, Default)]
struct EncodedBatch;

impl Codec for EncodedBatch {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedBatch;
    type Decoder = EncodedBatch;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedBatch
    }

    fn decoder(&mut self) -> Self::Decoder {
        EncodedBatch
    }
}

impl Encoder for EncodedBatch {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for EncodedBatch {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|error| Status::internal(format!("the answer does not decode: {error}")))
    }
}

/// `google.rpc.Status`, as a server sends it in `grpc-status-details-bin` (the parts read here).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<RpcDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The delay of the `google.rpc.RetryInfo` in a status's details, if it has one (a negative or
/// malformed one is none).
fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(
        u64::try_from(delay.seconds).ok()?,
        u32::try_from(delay.nanos).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_details(type_url: &str, delay: Option<(i64, i32)>) -> Vec<u8> {
        let info = RetryInfo {
            retry_delay: delay.map(|(seconds, nanos)| RpcDuration { seconds, nanos }),
        };
        RpcStatus {
            details: vec![
                RpcAny {
                    type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                    value: vec![1, 2, 3],
                },
                RpcAny {
                    type_url: type_url.into(),
                    value: info.encode_to_vec(),
                },
            ],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_retry_info_in_the_status_details_gives_the_delay() {
        let details = status_details("type.googleapis.com/google.rpc.RetryInfo", Some((2, 500)));
        assert_eq!(retry_delay(&details), Some(Duration::new(2, 500)));
        // None without details, without a RetryInfo, with a negative delay or garbage.
        assert_eq!(retry_delay(&[]), None);
        let other = status_details("type.googleapis.com/google.rpc.DebugInfo", Some((2, 0)));
        assert_eq!(retry_delay(&other), None);
        let negative = status_details("type.googleapis.com/google.rpc.RetryInfo", Some((-1, 0)));
        assert_eq!(retry_delay(&negative), None);
        let empty = status_details("type.googleapis.com/google.rpc.RetryInfo", None);
        assert_eq!(retry_delay(&empty), None);
        assert_eq!(retry_delay(&[0xff, 0xff, 0xff]), None);
    }
}
