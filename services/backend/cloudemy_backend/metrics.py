"""Prometheus metrics of one backend process (each app gets its own registry).

With several gunicorn workers each worker counts its own requests; Prometheus sums the pods' scrapes and
a scrape reaches one worker, which is what the default (non-multiprocess) client supports.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
            "Requests refused with 429 by a rate limit (login, submission, signup, join)",
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
        self.time_to_grade = Histogram(
            "cloudemy_time_to_grade_seconds",
            "From a submission's creation to its terminal result posted by a runner, by status",
            ["status"],
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 14400),
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "cloudemy_llm_tokens",
            "LLM tokens the runners reported in stored results, by model and kind (prompt, completion)",
            ["model", "kind"],
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "cloudemy_dependency_up",
            "1 when the dependency answered the last readiness check, else 0 (mongo, redis)",
            ["dependency"],
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "cloudemy_queue_length", "Messages waiting in the submissions queue (read at scrape time)",
            registry=self.registry,
        )  # fmt: skip

    def observe_result(self, status: str, created_at: datetime | None, metrics: Mapping[str, Any]) -> None:
        """Count one stored runner result: its status, its time to grade, and the LLM tokens it reports."""
        self.results.labels(status).inc()
        if created_at is not None:
            created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
            self.time_to_grade.labels(status).observe(max((datetime.now(UTC) - created).total_seconds(), 0.0))
        model = str(metrics.get("model") or "none")[:64]
        for kind in ("prompt", "completion"):
            tokens = metrics.get(f"{kind}_tokens")
            if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0:
                self.llm_tokens.labels(model, kind).inc(tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
