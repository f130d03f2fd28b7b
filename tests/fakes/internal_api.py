"""The backend's internal API, faked over real HTTP on 127.0.0.1: the one recording backend of the test suites.

It answers what the backend answers (``cloudemy_backend.api.routes.internal``): with ``master_token`` set, a
request without the master token or the submission's own token is 401; a result must be a valid ``ResultBody``
(else 422); the first result of a submission is kept, an identical repeat is 200 and a different one 409; a
status update is 200; a requeue request (``/requeue``) is taken ``requeue_limit`` times per submission
(0 by default: a backend whose LLM_REQUEUE_LIMIT is spent), then 409; any other path is 404. Every request
is recorded as it arrived.

Faults: ``fail_next(503, 502)`` answers the next result POSTs with those codes first; ``force_result_status`` and
``force_status_status`` answer every such POST with one code; ``status_override`` answers every POST with one
code. Build it and ``start()`` it later to play a backend that is down at first.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from cloudemy_common.models import RequeueRequest, ResultBody
from cloudemy_common.tokens import verify_result_token
from fakes.http_json import send_json
from fakes.ports import free_port

ENDPOINTS = ("status", "result", "requeue")


@dataclass
class Received:
    """One request the recording backend received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    answered: int
    at: float = 0.0  # time.time() when it arrived

    @property
    def token(self) -> str | None:
        return self.headers.get("x-result-token")


class RecordingBackend:
    def __init__(self, master_token: str | None = None, port: int | None = None) -> None:
        self.master_token = master_token
        self.port = port or free_port()
        self.received: list[Received] = []
        self.stored: dict[str, Any] = {}
        self.force_result_status: int | None = None
        self.force_status_status: int | None = None
        self.status_override: int | None = None
        self.requeue_limit = 0
        self.requeues: dict[str, int] = {}
        self._fail_next: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def internal_url(self) -> str:
        """``BACKEND_INTERNAL_URL`` for a runner or a scheduler."""
        return f"http://127.0.0.1:{self.port}/internal"

    def fail_next(self, *codes: int) -> None:
        self._fail_next.extend(codes)

    def posts(self, suffix: str = "") -> list[Received]:
        """Every request whose path ends with ``suffix``, in arrival order."""
        with self._lock:
            return [r for r in self.received if r.path.endswith(suffix)]

    def results(self) -> list[Received]:
        return self.posts("/result")

    def statuses(self) -> list[Received]:
        return self.posts("/status")

    def requeue_requests(self) -> list[Received]:
        return self.posts("/requeue")

    def results_for(self, submission_id: str) -> list[Any]:
        """The bodies of every result posted for one submission."""
        return [r.body for r in self.posts(f"/submissions/{submission_id}/result")]

    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="recording-backend").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["internal", "submissions"] or parts[3] not in ENDPOINTS:
            return 404, {"detail": "not found"}
        submission_id, endpoint = parts[2], parts[3]
        if self.master_token is not None and not verify_result_token(
            self.master_token, submission_id, headers.get("x-result-token")
        ):
            return 401, {"detail": "invalid result token"}
        if self.status_override is not None:
            return self.status_override, {"detail": "forced"}
        if endpoint == "status":
            if self.force_status_status is not None:
                return self.force_status_status, {"detail": "forced"}
            return 200, {"id": submission_id, "status": (body or {}).get("status")}
        if endpoint == "requeue":
            return self._requeue(submission_id, body)
        if self._fail_next:
            return self._fail_next.pop(0), {"detail": "injected failure"}
        if self.force_result_status is not None:
            return self.force_result_status, {"detail": "forced"}
        try:
            ResultBody.model_validate(body)
        except ValueError as exc:
            return 422, {"detail": str(exc)}
        stored = self.stored.setdefault(submission_id, body)
        return (200, stored) if stored == body else (409, {"detail": "a different result is already final"})

    def _requeue(self, submission_id: str, body: Any) -> tuple[int, Any]:
        try:
            RequeueRequest.model_validate(body)
        except ValueError as exc:
            return 422, {"detail": str(exc)}
        done = self.requeues.get(submission_id, 0)
        if done >= self.requeue_limit or submission_id in self.stored:
            return 409, {"detail": "requeue limit reached"}
        self.requeues[submission_id] = done + 1
        return 200, {"requeued": True, "requeue": done + 1, "delay_seconds": 1.0}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                url = urlsplit(self.path)
                with backend._lock:
                    status, payload = backend._answer(url.path, headers, body)
                    received = Received(url.path, dict(parse_qsl(url.query)), headers, body, status, time.time())
                    backend.received.append(received)
                send_json(self, status, payload)

        return Handler
