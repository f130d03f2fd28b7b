"""Hold dispatch while the LLM cannot take more work: the breaker is open (or half-open with a probe on its way), or
the shared budget is booked up.

A runner Job started while the provider keeps failing only hands its attempt back to the queue (and spends a
requeue); one started while the budget is booked further ahead than ``LLM_DISPATCH_MAX_BACKLOG_SECONDS`` waits in its
pod for its turn, holding an active-Job slot and cluster resources, and may outlast its own budget. "Booked" counts
the turns the active Jobs will book once their pods run (active Jobs x the budget's interval): right after a burst
of dispatches the budget itself still looks free. So
before taking the next message the dispatch loop asks this gate, which reads the state every runner writes
(cloudemy_common.llm_budget), and waits while it says hold. The gate fails open: with Redis unreachable the
dispatch loop's own Redis handling takes over.

Half-open (the open time has passed, the provider has not answered since) lets one Job through as the probe, then
holds (``llm-breaker-probing``) until the probe's request closes the breaker or opens it again, or for at most
``LLM_DISPATCH_MAX_BACKLOG_SECONDS`` (then the next Job probes). Dispatching everything at half-open would send a
burst of Jobs into a provider that may still be down, each handing its attempt back and spending one of its
``LLM_REQUEUE_LIMIT`` requeues; the attempts requeued during the outage come due just as the breaker half-opens, so
an outage longer than a few open periods would end them in ``error`` or ``timeout``.

Metrics: ``cloudemy_scheduler_dispatch_held{reason}`` (1 while holding for that reason) and
``cloudemy_scheduler_dispatch_held_seconds_total{reason}``. A log line when a hold starts and when it ends.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client import Counter, Gauge

from cloudemy_common.llm_budget import BreakerSettings, BudgetLimits, LlmBreaker, LlmBudget

log = logging.getLogger(__name__)

HELD = Gauge("cloudemy_scheduler_dispatch_held", "1 while dispatch is held, by reason.", ["reason"])
HELD_SECONDS = Counter(
    "cloudemy_scheduler_dispatch_held_seconds_total", "Time dispatch spent held, by reason.", ["reason"]
)
REASONS = ("llm-breaker-open", "llm-breaker-probing", "llm-budget-booked")
for _reason in REASONS:
    HELD.labels(_reason).set(0)

CHECK_EVERY_SECONDS = 1.0
"""How often a holding gate looks again (and at most how long one answer is reused)."""
TOKENS_PER_REQUEST_ESTIMATE = 2_000
"""Tokens assumed for the next request when asking how far the token budget is booked."""


class LlmDispatchGate:
    def __init__(
        self,
        client: Any,
        limits: BudgetLimits,
        *,
        max_backlog_seconds: float,
        active_jobs: Callable[[], int] | None = None,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.budget = LlmBudget(client, limits)
        self.active_jobs = active_jobs
        """The active runner Jobs (the slots in use): each will book at least one turn, booked or not yet."""
        self.breaker = LlmBreaker(client, breaker or BreakerSettings())
        """Read with the runners' own thresholds (LLM_BREAKER_FAILURES, LLM_BREAKER_OPEN_SECONDS): with another
        threshold the gate would call a breaker half-open that the runners still keep open, or the reverse."""
        self.max_backlog_seconds = max_backlog_seconds
        self._held: str | None = None
        self._probe_sent_at: float | None = None
        """When this gate let the half-open breaker's probe through (None: no probe on its way)."""
        self._probe_granted = False

    def hold_reason(self) -> tuple[str | None, float]:
        """(reason to hold, seconds worth waiting before asking again); (None, 0) to dispatch now."""
        try:
            state = self.breaker.state()
            if state.is_open:
                self._probe_sent_at = None
                return "llm-breaker-open", state.retry_in_seconds
            if state.state == "half-open":
                return self._probe()
            self._probe_sent_at = None
            backlog = self.budget.backlog_seconds(
                TOKENS_PER_REQUEST_ESTIMATE if self.budget.limits.tokens_per_minute else 0
            )
            backlog = max(backlog, self._booked_by_active_jobs())
        except redis.RedisError:
            return None, 0.0
        if backlog > self.max_backlog_seconds:
            return "llm-budget-booked", backlog - self.max_backlog_seconds
        return None, 0.0

    def _booked_by_active_jobs(self) -> float:
        """Seconds of budget the active Jobs will book: a Job books its turn only once its pod runs, so right
        after a burst of dispatches the budget itself looks free while hundreds of turns are on their way."""
        if self.active_jobs is None or not self.budget.limits.enabled:
            return 0.0
        (request_ms, _), (token_ms, _) = self.budget.limits.requests, self.budget.limits.tokens
        per_job_ms = max(request_ms, token_ms * TOKENS_PER_REQUEST_ESTIMATE)
        return self.active_jobs() * per_job_ms / 1000.0

    def _probe(self) -> tuple[str | None, float]:
        """Half-open: one Job goes through as the probe; the next waits for its outcome (or its time to run out)."""
        now = time.monotonic()
        if self._probe_sent_at is not None and now - self._probe_sent_at < self.max_backlog_seconds:
            return "llm-breaker-probing", self.max_backlog_seconds - (now - self._probe_sent_at)
        self._probe_sent_at, self._probe_granted = now, True
        return None, 0.0

    def wait(self, stop: threading.Event) -> bool:
        """Wait while dispatch must hold (or until ``stop``); True when it held at all (the caller looks at its
        capacity and asks again), False to take the next message now: nothing held it, or it is the probe, whose
        turn the next ask would not give again."""
        held_at_all = False
        while not stop.is_set():
            self._probe_granted = False
            reason, wait = self.hold_reason()
            self._note(reason)
            if reason is None:
                return held_at_all and not self._probe_granted
            held_at_all = True
            pause = min(max(wait, 0.05), CHECK_EVERY_SECONDS)
            started = time.monotonic()
            stop.wait(pause)
            HELD_SECONDS.labels(reason).inc(time.monotonic() - started)
        return held_at_all

    def _note(self, reason: str | None) -> None:
        if reason == self._held:
            return
        if self._held is not None:
            HELD.labels(self._held).set(0)
        if reason is None:
            log.info("dispatch resumed: the LLM can take work again (was %s)", self._held)
        else:
            HELD.labels(reason).set(1)
            log.warning("dispatch held: %s", reason)
        self._held = reason
