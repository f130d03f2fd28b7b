"""The small HTTP server on METRICS_PORT: ``GET /metrics`` (Prometheus text), ``GET /healthz`` (liveness) and
``GET /readyz`` (readiness)."""

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)


Check = Callable[[], tuple[bool, str]]


class HealthServer:
    """Serves ``GET /metrics`` (Prometheus text), ``GET /healthz`` (200 while ``healthy()`` says so, else 503) and
    ``GET /readyz`` (the same for ``ready()``; ``healthy`` when not given). Both bodies are
    ``{"status": "ok" | "unhealthy", "detail": ...}``, the detail saying why and since when."""

    def __init__(self, port: int, healthy: Check, host: str = "0.0.0.0", ready: Check | None = None) -> None:  # noqa: S104
        checks = {"healthy": staticmethod(healthy), "ready": staticmethod(ready or healthy)}
        handler = type("Handler", (_Handler,), checks)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    def start(self) -> "HealthServer":
        self._thread.start()
        log.info("metrics and /healthz on port %d", self.port)
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    healthy: Check
    ready: Check

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line."""

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif self.path in ("/healthz", "/readyz"):
            ok, detail = self.healthy() if self.path == "/healthz" else self.ready()
            body = json.dumps({"status": "ok" if ok else "unhealthy", "detail": detail}).encode()
            self._send(200 if ok else 503, body, "application/json")
        else:
            self._send(404, b'{"detail": "not found"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
