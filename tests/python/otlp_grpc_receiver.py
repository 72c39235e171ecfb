"""An OTLP/gRPC traces receiver for tests/otlp_grpc.rs: a grpcio TraceService server on
127.0.0.1 (port printed first) that decodes each Export with the OpenTelemetry protobuf
definitions (opentelemetry-proto), prints one JSON line per request (the request metadata, each
span's name, ids, flags and typed attributes), and answers with a partial success rejecting one
span. Exits when its stdin closes.
"""

import json
import sys
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def value(any_value):
    kind = any_value.WhichOneof("value")
    return {"kind": kind, "value": getattr(any_value, kind)}


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        spans = []
        for resource_spans in request.resource_spans:
            service = {a.key: value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "service": service.get("service.name", {}).get("value"),
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "flags": span.flags,
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                        }
                    )
        metadata = {key: val for key, val in context.invocation_metadata()}
        print(json.dumps({"metadata": metadata, "spans": spans}), flush=True)
        return trace_service_pb2.ExportTraceServiceResponse(
            partial_success=trace_service_pb2.ExportTracePartialSuccess(
                rejected_spans=1, error_message="one span rejected by the test"
            )
        )


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
