"""A loopback OTLP/HTTP endpoint for tests: decodes what it is sent with opentelemetry-proto.

It answers as a collector does (200, an empty protobuf body) and keeps the
raw bodies too, so a test can check what went over the wire byte for byte.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_MESSAGES: dict[str, Callable[[], Any]] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class OTLPReceiver:
    """Decodes the span and log exports posted to it (``/v1/traces``, ``/v1/logs``)."""

    def __init__(self) -> None:
        self.exports: list[Any] = []
        self.paths: list[str] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = _MESSAGES.get(self.path)
                if message is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                export = message()
                export.ParseFromString(body)
                with receiver._lock:
                    receiver.paths.append(self.path)
                    receiver.bodies.append(body)
                    receiver.exports.append(export)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def log_records(self) -> list[tuple[dict[str, Any], str, Any]]:
        """Every log record received: (resource attributes, scope name, record), in order."""
        with self._lock:
            exports = [e for e in self.exports if isinstance(e, ExportLogsServiceRequest)]
        return [
            (attributes(resource.resource.attributes), scope.scope.name, record)
            for export in exports
            for resource in export.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def value(any_value: Any) -> Any:
    """An OTLP AnyValue as Python: str, bool, int, float, bytes, list or dict."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    """OTLP KeyValues as a dict (keys in the order sent)."""
    return {pair.key: value(pair.value) for pair in key_values}
