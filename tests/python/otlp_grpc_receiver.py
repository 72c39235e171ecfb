"""An OTLP/gRPC traces receiver for tests/otlp_grpc.rs: a grpcio TraceService server on
127.0.0.1 (port printed first) that decodes each Export with the OpenTelemetry protobuf
definitions (opentelemetry-proto), prints one JSON line per request (the request metadata,
whether the message arrived gzip-compressed, the client certificate's identities under mutual
TLS, each span's name, ids, flags and typed attributes), and answers with a partial success
rejecting one span. Exits when its stdin closes.

Usage: otlp_grpc_receiver.py [--exhausted-once=retry-info|bare] [CERT KEY [CLIENT_CA]]: plain
gRPC without arguments; TLS with the server certificate chain and key (PEM files) given; mutual
TLS, a client certificate signed by CLIENT_CA required, when that is given too. With
--exhausted-once, the first Export is refused with RESOURCE_EXHAUSTED, carrying a
google.rpc.RetryInfo of one second in its status details (retry-info) or nothing (bare); it
prints {"refused": ..., "at": ...} for it. Every line has "at", the receiver's monotonic clock.

The server is told not to decompress messages (grpc.per_message_decompression=0), so the
request's bytes show whether the client compressed them; the receiver gunzips them itself.
"""

import gzip
import json
import sys
import threading
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from google.protobuf import any_pb2, duration_pb2
from otlp_spans import spans

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def decode(data):
    compressed = data[:2] == b"\x1f\x8b"
    if compressed:
        data = gzip.decompress(data)
    return compressed, trace_service_pb2.ExportTraceServiceRequest.FromString(data)


# --exhausted-once: how to refuse the first Export ("retry-info" or "bare"), and whether it was.
EXHAUSTED = {"mode": None, "done": False}
LOCK = threading.Lock()


def length_delimited(tag, payload):
    assert len(payload) < 128
    return bytes([tag << 3 | 2, len(payload)]) + payload


def retry_info_status(seconds):
    """A google.rpc.Status (code 8, RESOURCE_EXHAUSTED) whose details hold a RetryInfo."""
    delay = duration_pb2.Duration(seconds=seconds).SerializeToString()
    retry_info = length_delimited(1, delay)
    detail = any_pb2.Any(
        type_url="type.googleapis.com/google.rpc.RetryInfo", value=retry_info
    ).SerializeToString()
    return b"\x08\x08" + length_delimited(2, b"slow down") + length_delimited(3, detail)


def export(message, context):
    with LOCK:
        refuse = EXHAUSTED["mode"] is not None and not EXHAUSTED["done"]
        EXHAUSTED["done"] = True
    if refuse:
        print(json.dumps({"refused": EXHAUSTED["mode"], "at": time.monotonic()}), flush=True)
        if EXHAUSTED["mode"] == "retry-info":
            context.set_trailing_metadata((("grpc-status-details-bin", retry_info_status(1)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    compressed, request = message
    metadata = {key: val for key, val in context.invocation_metadata()}
    client = [identity.decode() for identity in context.peer_identities() or []]
    print(
        json.dumps(
            {
                "metadata": metadata,
                "compressed": compressed,
                "client": client,
                "spans": spans(request),
                "at": time.monotonic(),
            }
        ),
        flush=True,
    )
    return trace_service_pb2.ExportTraceServiceResponse(
        partial_success=trace_service_pb2.ExportTracePartialSuccess(
            rejected_spans=1, error_message="one span rejected by the test"
        )
    )


def main():
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=decode,
                response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        handlers=[handler],
        options=[("grpc.per_message_decompression", 0)],
    )
    args = sys.argv[1:]
    if args and args[0].startswith("--exhausted-once="):
        EXHAUSTED["mode"] = args.pop(0).split("=", 1)[1]
    if args:
        with open(args[0], "rb") as cert, open(args[1], "rb") as key:
            chain = [(key.read(), cert.read())]
        client_ca = None
        if len(args) > 2:
            with open(args[2], "rb") as ca:
                client_ca = ca.read()
        credentials = grpc.ssl_server_credentials(
            chain, root_certificates=client_ca, require_client_auth=client_ca is not None
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
