"""What the OTLP test receivers (otlp_receiver.py, otlp_grpc_receiver.py) print of a request:
each span of a decoded ExportTraceServiceRequest as a JSON-ready dict, with its resource's
service name and its typed attributes ({"kind": "int_value", "value": 7})."""


def value(any_value):
    kind = any_value.WhichOneof("value")
    return {"kind": kind, "value": getattr(any_value, kind) if kind else None}


def spans(request):
    found = []
    for resource_spans in request.resource_spans:
        service = {a.key: value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    {
                        "service": service.get("service.name", {}).get("value"),
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "flags": span.flags,
                        "status_code": span.status.code,
                        "status_message": span.status.message,
                        "attributes": {a.key: value(a.value) for a in span.attributes},
                    }
                )
    return found
