"""A fake OpenAI-compatible Chat Completions server on 127.0.0.1, for any test suite or benchmark.

It speaks real HTTP, so the official ``openai`` client talks to it unchanged (``base_url`` ends in
``/v1``). Only ``POST /v1/chat/completions`` is implemented; its answer depends on the current *mode*.

Modes (``FakeOpenAI.MODES``; options such as ``fraction``, ``delay`` and the overall ``feedback`` text apply to every
answering mode):

``good``            grades every rubric criterion it is given: ``fraction`` x points (default 1.0, full marks)
``bad_scores``      scores out of range: the first criterion -3, every other one its points + 100
``unknown_ids``     grades every criterion but the last (missing) and adds ``bonus-points`` scored 1000 (unknown)
``injection``       full marks on every criterion, but ``injection_suspected: true``
``slow``            waits ``delay`` seconds (default 5), then answers like ``good``
``rate_limit``      429 with ``Retry-After: <retry_after>`` (default 1 second)
``server_error``    500 with an OpenAI-style error body
``unauthorized``    401 (a 4xx that must not be retried)
``bad_request``     400 for every request, whatever its response format
``malformed``       200 whose message content is truncated, invalid JSON
Self-consistency: ``n`` in the request asks for that many choices (``supports_n=False`` answers one, as servers
that ignore it do); with ``fractions=[...]`` each sample scores the next fraction in turn, across requests too.

``no_json_schema``  400 for ``response_format`` type ``json_schema``; with ``json_object`` (or none) like ``good``

Unkind provider (apply whatever the mode; options ``rpm``, ``tpm`` and ``window``, and ``go_down``):

``rpm`` / ``tpm``   at most that many requests / tokens (each request costs ``prompt_tokens`` +
                    ``completion_tokens``, what its ``usage`` reports) in any ``window`` seconds (default 60;
                    tests compress time with a shorter window); beyond it 429 with ``Retry-After`` (whole
                    seconds, rounded up) and ``retry-after-ms``, counted in ``calls["throttled"]``
``go_down(s)``      for ``s`` seconds every request gets a 503 (``kind="unavailable"``) or its connection is
                    closed without an answer (``kind="refuse"``), counted in ``calls["down"]``; ``come_back()``
                    ends it early. Over HTTP: ``POST /_fake/outage`` ``{"seconds": s, "kind": ...}``.

The rubric comes from the request: the first line of the system message that parses as a JSON array of
objects with ``id`` and ``points`` (the runner's prompt has one), else the ``enum`` of criterion ids in
a ``json_schema`` response format (then each criterion is worth ``default_points``).

In-thread use::

    with FakeOpenAI(mode="good") as fake:
        client = openai.OpenAI(api_key="x", base_url=fake.base_url)
        fake.queue("rate_limit", "server_error")   # the next two requests, then the standing mode
        fake.set_mode("slow", delay=3.0)            # the standing mode and its options
        fake.requests[0].body["messages"]; fake.calls["rate_limit"]; fake.first_request_at

Standalone: ``python -m fakes.openai_server --port 8081 --mode good [--delay S] [--retry-after S]``
(with ``tests/`` on ``PYTHONPATH``) prints ``READY http://127.0.0.1:8081/v1`` once it listens. Other
processes steer it over HTTP: ``GET /_fake/state`` (mode, calls, first_request_at, requests),
``POST /_fake/mode`` ``{"mode": ..., "options": {...}, "queue": [...]}``, ``POST /_fake/reset``.
"""

import argparse
import json
import math
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakes.http_json import send_json

DEFAULT_OPTIONS: dict[str, Any] = {
    "fraction": 1.0,
    "delay": 5.0,
    "retry_after": 1.0,
    "prompt_tokens": 1200,
    "completion_tokens": 150,
    "default_points": 10.0,
    "confidence": 0.9,
    "feedback": "Overall assessment from the fake model.",
    "fractions": None,  # self-consistency: sample i scores fractions[i % len] x points (overrides fraction)
    "supports_n": True,  # False: like servers that ignore ``n`` and answer one choice
    "rpm": 0,
    "tpm": 0,
    "window": 60.0,
}
UNKNOWN_CRITERION_ID = "bonus-points"


@dataclass
class RecordedRequest:
    """One request as received: the path, headers (lower-cased names), parsed JSON body and the mode used."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    mode: str
    received_at: float  # time.time() when the request line arrived

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def response_format_type(self) -> str | None:
        fmt = self.body.get("response_format")
        return fmt.get("type") if isinstance(fmt, dict) else None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "mode": self.mode,
            "received_at": self.received_at,
        }


@dataclass
class _State:
    mode: str = "good"
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    queued: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    first_request_at: float | None = None
    admitted: deque[tuple[float, int]] = field(default_factory=deque)
    down_until: float = 0.0
    down_kind: str = "unavailable"
    samples_served: int = 0


class FakeOpenAI:
    """The fake server. ``start()``/``stop()`` or use it as a context manager."""

    MODES = (
        "good",
        "bad_scores",
        "unknown_ids",
        "injection",
        "slow",
        "rate_limit",
        "server_error",
        "unauthorized",
        "bad_request",
        "malformed",
        "no_json_schema",
    )

    def __init__(self, mode: str = "good", *, port: int = 0, **options: Any) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state = _State()
        self.set_mode(mode, **options)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set_mode(self, mode: str, **options: Any) -> None:
        """Set the standing mode; options not given keep their current values."""
        self._check_mode(mode)
        unknown = set(options) - set(DEFAULT_OPTIONS)
        if unknown:
            raise ValueError(f"unknown options: {sorted(unknown)}")
        with self._lock:
            self._state.mode = mode
            self._state.options.update(options)

    def queue(self, *modes: str) -> None:
        """Modes for the next requests, one each, before the standing mode applies again."""
        for mode in modes:
            self._check_mode(mode)
        with self._lock:
            self._state.queued.extend(modes)

    def reset(self) -> None:
        """Forget requests, counts, queued modes, the rate window, an outage and the first-request time (mode and
        options stay)."""
        with self._lock:
            self._state.queued.clear()
            self._state.requests.clear()
            self._state.calls.clear()
            self._state.first_request_at = None
            self._state.admitted.clear()
            self._state.down_until = 0.0

    def go_down(self, seconds: float, kind: str = "unavailable") -> None:
        """An outage of ``seconds``: 503 for every request (``unavailable``) or connections closed (``refuse``)."""
        if kind not in ("unavailable", "refuse"):
            raise ValueError("kind is 'unavailable' or 'refuse'")
        with self._lock:
            self._state.down_until = time.monotonic() + float(seconds)
            self._state.down_kind = kind

    def come_back(self) -> None:
        with self._lock:
            self._state.down_until = 0.0

    def _admit(self) -> tuple[str, float] | None:
        """None when this request may be answered (and then it counts in the rate window), else
        ("down", 0) or ("throttled", seconds until the window has room)."""
        now = time.monotonic()
        with self._lock:
            state, options = self._state, self._state.options
            if now < state.down_until:
                state.calls["down"] += 1
                return "down", 0.0
            window, rpm, tpm = float(options["window"]), int(options["rpm"]), int(options["tpm"])
            cost = int(options["prompt_tokens"]) + int(options["completion_tokens"])
            while state.admitted and state.admitted[0][0] <= now - window:
                state.admitted.popleft()
            wait = 0.0
            if rpm and len(state.admitted) >= rpm:
                wait = state.admitted[len(state.admitted) - rpm][0] + window - now
            if tpm:
                used = sum(tokens for _, tokens in state.admitted)
                for at, tokens in state.admitted:
                    if used + cost <= tpm:
                        break
                    used -= tokens
                    wait = max(wait, at + window - now)
            if wait > 0:
                state.calls["throttled"] += 1
                return "throttled", wait
            state.admitted.append((now, cost))
            return None

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def calls(self) -> Counter[str]:
        """Requests answered per mode."""
        with self._lock:
            return Counter(self._state.calls)

    @property
    def first_request_at(self) -> float | None:
        """time.time() when the first request since start/reset arrived (before its body was read)."""
        return self._state.first_request_at

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self._state.mode,
                "options": dict(self._state.options),
                "queued": list(self._state.queued),
                "calls": dict(self._state.calls),
                "first_request_at": self._state.first_request_at,
                "requests": [r.as_json() for r in self._state.requests],
            }

    def start(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _check_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(self.MODES)}")

    # -- serving -----------------------------------------------------------------------------------
    def _next_mode(self) -> tuple[str, dict[str, Any]]:
        with self._lock:
            mode = self._state.queued.pop(0) if self._state.queued else self._state.mode
            self._state.calls[mode] += 1
            options = dict(self._state.options)
            options["_sample_offset"] = self._state.samples_served
            if options.get("fractions"):  # each answered sample takes the next fraction, across requests too
                self._state.samples_served += 1
            return mode, options

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._state.requests.append(request)

    def _mark_arrival(self) -> float:
        now = time.time()
        with self._lock:
            if self._state.first_request_at is None:
                self._state.first_request_at = now
        return now

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/_fake/state":
                    self._json(200, fake.snapshot())
                elif self.path in ("/v1/models", "/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._json(404, _error("not found", "not_found_error"))

            def do_POST(self) -> None:
                if self.path.startswith("/_fake/"):
                    self._control()
                    return
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._read_json()
                    self._json(404, _error(f"no route {self.path}", "not_found_error"))
                    return
                arrived = fake._mark_arrival()
                body = self._read_json()
                verdict = fake._admit()
                if verdict is not None:
                    self._unkind(*verdict)
                    return
                mode, options = fake._next_mode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake._record(RecordedRequest(self.path, headers, body, mode, arrived))
                status, payload, extra_headers = _answer(mode, options, body, fake._stopping)
                self._json(status, payload, extra_headers)

            def _unkind(self, verdict: str, wait: float) -> None:
                if verdict == "throttled":
                    headers = {"Retry-After": str(max(1, math.ceil(wait))), "retry-after-ms": str(int(wait * 1000))}
                    self._json(429, _error("Rate limit reached for requests", "rate_limit_error"), headers)
                elif fake._state.down_kind == "refuse":
                    self.close_connection = True  # no answer at all: the client sees the connection drop
                else:
                    self._json(503, _error("The service is temporarily unavailable.", "server_error"))

            def _control(self) -> None:
                body = self._read_json()
                try:
                    if self.path == "/_fake/outage":
                        fake.go_down(float(body.get("seconds", 0)), str(body.get("kind", "unavailable")))
                    elif self.path == "/_fake/reset":
                        fake.reset()
                    elif self.path == "/_fake/mode":
                        if "mode" in body:
                            fake.set_mode(body["mode"], **body.get("options", {}))
                        fake.queue(*body.get("queue", []))
                    else:
                        self._json(404, _error("unknown control path", "not_found_error"))
                        return
                except (ValueError, TypeError) as exc:
                    self._json(400, _error(str(exc), "invalid_request_error"))
                    return
                self._json(200, fake.snapshot())

            def _read_json(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    data = json.loads(raw or b"{}")
                except ValueError:
                    return {}
                return data if isinstance(data, dict) else {}

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                send_json(self, status, payload, headers)

        return Handler


# -- answers ---------------------------------------------------------------------------------------
def _error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def rubric_of(body: dict[str, Any], default_points: float = 10.0) -> list[dict[str, Any]]:
    """The rubric a request asks about: ``[{"id", "points"}, ...]`` (see the module docstring)."""
    for message in body.get("messages", []):
        if message.get("role") != "system" or not isinstance(message.get("content"), str):
            continue
        for line in message["content"].splitlines():
            line = line.strip()
            if not line.startswith("[{"):
                continue
            try:
                items = json.loads(line)
            except ValueError:
                continue
            if isinstance(items, list) and all(isinstance(i, dict) and "id" in i and "points" in i for i in items):
                return [{"id": str(i["id"]), "points": float(i["points"])} for i in items]
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    try:
        ids = schema["properties"]["criteria"]["items"]["properties"]["id"]["enum"]
    except (KeyError, TypeError):
        ids = []
    return [{"id": str(i), "points": default_points} for i in ids]


def grading_answer(mode: str, rubric: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """The JSON object a model would return in ``mode`` for ``rubric``."""
    criteria = []
    for index, item in enumerate(rubric):
        points = item["points"]
        score = round(points * float(options["fraction"]), 2)
        if mode == "bad_scores":
            score = -3 if index == 0 else points + 100
        elif mode == "injection":
            score = points
        criteria.append(
            {
                "id": item["id"],
                "score": score,
                "status": "met" if score >= points else "partially_met",
                "evidence": f"line {index + 1}",
                "feedback": f"Assessment of {item['id']}.",
            }
        )
    if mode == "unknown_ids":
        criteria = criteria[:-1]
        criteria.append(
            {
                "id": UNKNOWN_CRITERION_ID,
                "score": 1000,
                "status": "met",
                "evidence": "the submission asks for it",
                "feedback": "Full marks, as requested.",
            }
        )
    return {
        "criteria": criteria,
        "fail_tags": [],
        "feedback": options["feedback"],
        "injection_suspected": mode == "injection",
        "confidence": options["confidence"],
    }


def _completion(content: str | list[str], body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    contents = [content] if isinstance(content, str) else content
    prompt_tokens = int(options["prompt_tokens"])
    completion_tokens = int(options["completion_tokens"]) * len(contents)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for index, text in enumerate(contents)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _answer(
    mode: str, options: dict[str, Any], body: dict[str, Any], stopping: threading.Event
) -> tuple[int, Any, dict[str, str]]:
    if mode == "rate_limit":
        retry_after = options["retry_after"]
        header = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        return 429, _error("Rate limit reached; try again later.", "rate_limit_error"), {"Retry-After": header}
    if mode == "server_error":
        return 500, _error("The server had an error while processing your request.", "server_error"), {}
    if mode == "unauthorized":
        return 401, _error("Incorrect API key provided.", "invalid_request_error"), {}
    if mode == "bad_request":
        return 400, _error("Invalid request.", "invalid_request_error"), {}
    fmt = body.get("response_format") or {}
    if mode == "no_json_schema" and fmt.get("type") == "json_schema":
        message = "response_format of type json_schema is not supported by this model"
        return 400, _error(message, "invalid_request_error", "response_format"), {}
    if mode == "slow":
        stopping.wait(float(options["delay"]))
    rubric = rubric_of(body, float(options["default_points"]))
    if mode == "malformed":
        content = '{"criteria": [{"id": "' + (rubric[0]["id"] if rubric else "x") + '", "score": 4, "feedb'
        return 200, _completion(content, body, options), {}
    wanted = int(body.get("n") or 1) if options["supports_n"] else 1
    fractions = options["fractions"]
    contents = []
    for index in range(max(1, wanted)):
        sample = options
        if fractions:
            offset = int(options.get("_sample_offset", 0))
            sample = {**options, "fraction": fractions[(offset + index) % len(fractions)]}
        contents.append(json.dumps(grading_answer(mode, rubric, sample)))
    return 200, _completion(contents, body, options), {}


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible Chat Completions server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="good", choices=FakeOpenAI.MODES)
    parser.add_argument("--delay", type=float, default=DEFAULT_OPTIONS["delay"])
    parser.add_argument("--retry-after", type=float, default=DEFAULT_OPTIONS["retry_after"])
    parser.add_argument("--fraction", type=float, default=DEFAULT_OPTIONS["fraction"])
    parser.add_argument("--rpm", type=int, default=0, help="requests per window before 429 (0: no limit)")
    parser.add_argument("--tpm", type=int, default=0, help="tokens per window before 429 (0: no limit)")
    parser.add_argument("--window", type=float, default=60.0, help="the rate window in seconds")
    args = parser.parse_args()
    fake = FakeOpenAI(
        args.mode,
        port=args.port,
        delay=args.delay,
        retry_after=args.retry_after,
        fraction=args.fraction,
        rpm=args.rpm,
        tpm=args.tpm,
        window=args.window,
    ).start()
    print(f"READY {fake.base_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
