"""An OTLP/HTTP traces receiver over TLS for tests/otlp_python.rs.

Usage: otlp_receiver.py CERT_PEM KEY_PEM
Listens on 127.0.0.1 (a free port, printed as the first line of stdout), serves HTTPS with the
given certificate, gunzips a gzip body, decodes it with the OpenTelemetry protobuf definitions
(the opentelemetry-proto package) and prints one JSON line per request: the headers and every
span with its ids, flags, status and typed attributes. Answers 200 with an empty
ExportTraceServiceResponse. Exits when stdin closes.
"""

import gzip
import http.server
import json
import ssl
import sys
import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otlp_spans import spans


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        gzipped = self.headers.get("Content-Encoding") == "gzip"
        if gzipped:
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        print(
            json.dumps(
                {
                    "path": self.path,
                    "gzipped": gzipped,
                    # http.server reads header bytes as latin-1; the sink sends UTF-8.
                    "headers": {
                        k.lower(): v.encode("latin-1").decode("utf-8", "replace")
                        for k, v in self.headers.items()
                    },
                    "spans": spans(request),
                }
            ),
            flush=True,
        )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
