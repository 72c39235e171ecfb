//! OTLP over gRPC (feature `grpc`): the batch `encode.rs` wrote is sent through
//! opentelemetry-proto's tonic client (`TraceService/Export`) on a tokio runtime of the export
//! thread's own, blocked on per request.

use super::export::Sent;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::time::Duration;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// The export thread's gRPC client: its runtime, and the channel (connected on first use,
/// reconnecting by itself after a failure).
pub(super) struct GrpcClient {
    runtime: tokio::runtime::Runtime,
    endpoint: String,
    timeout: Duration,
    headers: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    client: Option<TraceServiceClient<Channel>>,
}

impl GrpcClient {
    /// A client of `endpoint` (`http://host:port`), sending `headers` as request metadata.
    pub(super) fn new(
        endpoint: &str,
        timeout: Duration,
        headers: &[(String, String)],
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let headers = headers
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
            endpoint: endpoint.to_string(),
            timeout,
            headers,
            client: None,
        })
    }

    /// Sends the encoded `ExportTraceServiceRequest` in `body`.
    pub(super) fn export(&mut self, body: &[u8]) -> Sent {
        let request = match ExportTraceServiceRequest::decode(body) {
            Ok(request) => request,
            Err(error) => {
                return Sent::Failed {
                    error: format!("{}: the batch does not decode: {error}", self.endpoint),
                };
            }
        };
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                let endpoint = match Endpoint::from_shared(self.endpoint.clone()) {
                    Ok(endpoint) => endpoint.timeout(self.timeout).connect_timeout(self.timeout),
                    Err(error) => {
                        return Sent::Failed {
                            error: format!("{}: {error}", self.endpoint),
                        };
                    }
                };
                // Connected when first used, inside the runtime.
                let channel = {
                    let _entered = self.runtime.enter();
                    endpoint.connect_lazy()
                };
                self.client.insert(TraceServiceClient::new(channel))
            }
        };
        let mut request = tonic::Request::new(request);
        for (key, value) in &self.headers {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        match self.runtime.block_on(client.export(request)) {
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
                let error = format!(
                    "gRPC {:?} from {}: {}",
                    status.code(),
                    self.endpoint,
                    status.message()
                );
                // The specification's retryable gRPC codes.
                let retryable = matches!(
                    status.code(),
                    tonic::Code::Cancelled
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Aborted
                        | tonic::Code::OutOfRange
                        | tonic::Code::Unavailable
                        | tonic::Code::DataLoss
                        | tonic::Code::ResourceExhausted
                );
                if retryable {
                    Sent::Retryable {
                        error,
                        retry_after: None,
                    }
                } else {
                    Sent::Failed { error }
                }
            }
        }
    }
}
