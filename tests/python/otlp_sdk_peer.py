"""The OpenTelemetry Python SDK as keel's peer across a process boundary (tests/otlp_sdk_interop.rs).

`client URL`: starts a root span with the SDK, sends GET URL with the `traceparent` the SDK's
W3C propagator injects, prints one JSON line: {"sent": <traceparent>, "body": <response text>}.

`server`: serves one GET on 127.0.0.1 (prints its port first): extracts the request's context
with the SDK's propagator, starts a span under it, answers one JSON line: {"received_flags":
<the extracted span context's trace flags>, "next": <the traceparent the SDK injects for its
child>}, then exits.
"""

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

trace.set_tracer_provider(TracerProvider())
TRACER = trace.get_tracer("keel-interop")
PROPAGATOR = TraceContextTextMapPropagator()


def client(url):
    with TRACER.start_as_current_span("python.client"):
        headers = {}
        PROPAGATOR.inject(headers)
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
    print(json.dumps({"sent": headers["traceparent"], "body": body}), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        context = PROPAGATOR.extract({k.lower(): v for k, v in self.headers.items()})
        received = trace.get_current_span(context).get_span_context()
        with TRACER.start_as_current_span("python.server", context=context):
            headers = {}
            PROPAGATOR.inject(headers)
        body = json.dumps(
            {"received_flags": int(received.trace_flags), "next": headers.get("traceparent")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def server():
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    print(httpd.server_address[1], flush=True)
    httpd.handle_request()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        server()
