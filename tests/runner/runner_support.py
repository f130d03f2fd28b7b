"""Helpers for the runner's tests: a recording internal API, payloads, and the runner as a subprocess."""

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cloudemy_common.models import RequeueRequest, ResultBody, SubmissionPayload
from cloudemy_common.tokens import verify_result_token
from fakes.ports import free_port

MASTER_TOKEN = "master-token-for-runner-tests-7f3a"
LLM_KEY = "sk-test-key-never-logged-91c2"
SUBMISSION_ID = "65a1b2c3d4e5f60718293a4b"
USER_ID = "65a1b2c3d4e5f60718293a00"
ASSIGNMENT_ID = "65a1b2c3d4e5f60718293aff"

GOOD_CODE = '''def fizzbuzz(n: int) -> list[str]:
    """Return the FizzBuzz sequence from 1 to n."""
    out = []
    for i in range(1, n + 1):
        word = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
        out.append(word or str(i))
    return out
'''

ASSIGNMENT = {
    "title": "FizzBuzz",
    "description": "Write fizzbuzz(n) returning the FizzBuzz sequence from 1 to n as strings.",
    "rubric": [
        {"id": "correctness", "title": "Correct output", "description": "All cases right.", "points": 6},
        {"id": "style", "title": "Readable code", "description": "Clear names, docstring.", "points": 3},
        {"id": "edge-cases", "title": "Edge cases", "description": "n = 0 and negatives.", "points": 1},
    ],
    "max_score": 10,
    "fail_tags": ["wrong-output", "no-function"],
}


@dataclass
class Received:
    """One request the recording backend received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    answered: int
    at: float = 0.0  # time.time() when it arrived


class RecordingBackend:
    """The internal API's two runner endpoints over real HTTP, recording every request.

    A requeue request (``/requeue``) is taken ``requeue_limit`` times per submission, then 409, as the backend
    does. Results follow the backend's contract: the token is checked (master or per-submission), the body
    must be a valid ResultBody (else 422), the first result is stored, an identical repeat is 200 and a
    different one 409. ``fail_next(503, 503)`` answers the next result POSTs with those codes first;
    ``force_result_status`` answers every result POST with one code. Start it late to play "down".
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.force_result_status: int | None = None
        self.force_status_status: int | None = None
        self.requeue_limit = 0  # like a backend whose LLM_REQUEUE_LIMIT is spent: tests that requeue raise it
        self.requeues: dict[str, int] = {}
        self._fail_next: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/internal"

    def fail_next(self, *codes: int) -> None:
        self._fail_next.extend(codes)

    def results(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/result")]

    def requeue_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/requeue")]

    def statuses(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/status")]

    def start(self) -> "RecordingBackend":
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if (
            len(parts) != 4
            or parts[:2] != ["internal", "submissions"]
            or parts[3] not in ("status", "result", "requeue")
        ):
            return 404, {"detail": "not found"}
        submission_id, endpoint = parts[2], parts[3]
        if not verify_result_token(MASTER_TOKEN, submission_id, headers.get("x-result-token")):
            return 401, {"detail": "invalid result token"}
        if endpoint == "status":
            if self.force_status_status is not None:
                return self.force_status_status, {"detail": "forced"}
            return 200, {"id": submission_id, "status": body.get("status")}
        if endpoint == "requeue":
            try:
                RequeueRequest.model_validate(body)
            except ValueError as exc:
                return 422, {"detail": str(exc)}
            done = self.requeues.get(submission_id, 0)
            if done >= self.requeue_limit or submission_id in self.stored:
                return 409, {"detail": "requeue limit reached"}
            self.requeues[submission_id] = done + 1
            return 200, {"requeued": True, "requeue": done + 1, "delay_seconds": 1.0}
        if self._fail_next:
            return self._fail_next.pop(0), {"detail": "injected failure"}
        if self.force_result_status is not None:
            return self.force_result_status, {"detail": "forced"}
        try:
            ResultBody.model_validate(body)
        except ValueError as exc:
            return 422, {"detail": str(exc)}
        stored = self.stored.get(submission_id)
        if stored is None:
            self.stored[submission_id] = body
            return 200, body
        return (200, stored) if stored == body else (409, {"detail": "a different result is already final"})

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
                query = dict(parse_qsl(url.query))
                with backend._lock:
                    status, payload = backend._answer(url.path, headers, body)
                    backend.received.append(Received(url.path, query, headers, body, status, time.time()))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def make_payload(
    code: str = GOOD_CODE, *, language: str = "python", assignment: dict[str, Any] | None = None
) -> SubmissionPayload:
    return SubmissionPayload.model_validate(
        {
            "submission_id": SUBMISSION_ID,
            "user_id": USER_ID,
            "assignment_id": ASSIGNMENT_ID,
            "language": language,
            "code": code,
            "attempt": 1,
            "assignment": assignment or ASSIGNMENT,
        }
    )


@dataclass
class RunnerRun:
    exit_code: int
    stderr: str
    seconds: float
    spawned_at: float  # time.time() just before the process was started


def run_runner(env: dict[str, str], timeout: float = 90) -> RunnerRun:
    """``python -m cloudemy_runner`` as the Job runs it."""
    spawned_at, started = time.time(), time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cloudemy_runner"], env=env, capture_output=True, text=True, timeout=timeout
    )
    return RunnerRun(proc.returncode, proc.stderr, time.monotonic() - started, spawned_at)


def clean_env() -> dict[str, str]:
    """This process's environment without proxies and without any LLM/OpenAI settings of the machine."""
    dropped_prefixes = ("OPENAI_", "LLM_", "AZURE_OPENAI")
    return {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"} and not k.startswith(dropped_prefixes)
    }


VARIABLE_METRICS = ("llm_latency_ms", "total_ms")


def split_metrics(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body without its timing metrics, and those metrics (checked to be sane integers)."""
    body = json.loads(json.dumps(body))
    timings = {key: body["metrics"].pop(key) for key in VARIABLE_METRICS}
    for key, value in timings.items():
        assert isinstance(value, int), (key, value)
        assert value >= 0, (key, value)
    assert timings["total_ms"] >= timings["llm_latency_ms"]
    return body, timings
