"""Prometheus metrics of one backend process (each app gets its own registry).

With several gunicorn workers each worker counts its own requests; Prometheus sums the pods' scrapes and
a scrape reaches one worker, which is what the default (non-multiprocess) client supports.
"""

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED_ROUTE = "<unmatched>"

access_log = logging.getLogger("cloudemy_backend.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cloudemy_http_requests",
            "HTTP requests by route template, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudemy_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            registry=self.registry,
        )
        self.submissions_created = Counter(
            "cloudemy_submissions_created", "Submissions accepted (202)", registry=self.registry
        )
        self.enqueue_failures = Counter(
            "cloudemy_enqueue_failures",
            "Submissions stored while Redis was unreachable (the sweep enqueues them later)",
            registry=self.registry,
        )
        self.sweep_enqueued = Counter(
            "cloudemy_sweep_enqueued",
            "Queued submissions the sweep pushed onto the queue again",
            registry=self.registry,
        )
        self.requeued = Counter(
            "cloudemy_requeued",
            "Attempts handed back to the queue with a delay because the LLM was unavailable, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.requeue_refused = Counter(
            "cloudemy_requeue_refused",
            "Requeue requests refused (the attempt went back LLM_REQUEUE_LIMIT times, or moved on)",
            registry=self.registry,
        )
        self.requeue_promoted = Counter(
            "cloudemy_requeue_promoted", "Delayed messages moved back onto the queue", registry=self.registry
        )
        self.queue_timeouts = Counter(
            "cloudemy_queue_timeouts",
            "Submissions that stayed queued longer than QUEUED_TIMEOUT_SECONDS",
            registry=self.registry,
        )
        self.sweep_leader = Gauge(
            "cloudemy_sweep_leader", "1 while this process holds the sweep lease", registry=self.registry
        )
        self.results = Counter(
            "cloudemy_results", "Terminal results stored, by status", ["status"], registry=self.registry
        )
        self.rate_limited = Counter(
            "cloudemy_rate_limited",
            "Requests refused with 429 by a rate limit (login, submission, signup)",
            ["limit"],
            registry=self.registry,
        )
        self.rate_limit_unavailable = Counter(
            "cloudemy_rate_limit_unavailable",
            "Rate-limit checks skipped because Redis was unreachable (the limits fail open)",
            registry=self.registry,
        )
        self.password_hash_wait = Histogram(
            "cloudemy_password_hash_wait_seconds",
            "Time a login or sign-up waited for the bounded password-hashing pool",
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "cloudemy_queue_length", "Messages waiting in the submissions queue (read at scrape time)",
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/submissions/{submission_id}``), never the raw path.

    API routes put themselves in the scope; other endpoints (``/openapi.json``, ``/docs``, static files)
    are named by their endpoint, so the label's values stay few.
    """
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    endpoint = scope.get("endpoint")
    return getattr(endpoint, "__name__", type(endpoint).__name__) if endpoint is not None else UNMATCHED_ROUTE


class ObserveRequestsMiddleware:
    """Counts every HTTP request, records its latency and logs one access line (route template, no query)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route, method, elapsed = route_template(scope), scope["method"], time.perf_counter() - started
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
            )
