"""The one retry idiom of Cloudemy's services, on tenacity: which answers to retry, one backoff, one loop.

``RETRYABLE_HTTP_STATUS`` says which HTTP answers deserve another try. ``backoff`` is the wait every retry uses
(exponential, capped, with jitter so that replicas do not retry in step); ``full_jitter`` the wait when the
other side may be overloaded. ``retry_until_stopped`` is the loop a long-running worker needs around a
dependency that may be down for a while (Redis restarting, the Kubernetes API unreachable): call, and after
each failure of the named kinds wait and call again, until the call succeeds or ``stop`` is set; the wait
ends early when it is.
"""

import random
import threading
from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")

RETRYABLE_HTTP_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP answers worth another try from any server Cloudemy's services call (the internal API, the LLM API, the
Kubernetes API): a timeout, a rate limit, a server error or an unavailable gateway. Every other status is final."""


class Stopped(Exception):
    """``stop`` was set while an operation was being retried; the operation did not succeed."""


def backoff(initial: float = 0.1, maximum: float = 5.0) -> tenacity.wait.wait_base:
    """Waits of ``initial``, doubling up to ``maximum`` seconds, each plus up to ``initial`` of jitter."""
    return tenacity.wait_exponential(multiplier=initial, max=maximum) + tenacity.wait_random(0, initial)


def full_jitter(retry_number: int, *, base: float, cap: float, floor: float = 0.0) -> float:
    """Seconds before retry number ``retry_number`` (1 for the first) when the other side may be overloaded (the
    LLM provider, a requeue): ``floor + uniform(0, min(cap, base * 2**(n-1)))``. ``floor`` is what the other side
    asked for (a ``Retry-After``, a breaker's remaining open time): never retried earlier, and spread out after
    it, so that clients throttled together do not come back together."""
    ceiling = min(cap, base * 2 ** max(retry_number - 1, 0))
    return max(floor, 0.0) + random.uniform(0.0, max(ceiling, 0.0))  # noqa: S311 - jitter, not crypto


def retry_until_stopped(
    operation: Callable[[], T],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    stop: threading.Event,
    on_retry: Callable[[BaseException, float], None] | None = None,
    initial: float = 0.1,
    maximum: float = 5.0,
) -> T:
    """``operation()``'s value, calling it again after each ``retry_on`` error until it succeeds.

    ``on_retry(error, seconds)`` runs before each wait (count, log, keep a lease alive). Other errors propagate
    at once. Raises ``Stopped`` (from the last error) when a call fails with ``stop`` set.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(retry_on),
        wait=backoff(initial, maximum),
        stop=lambda state: stop.is_set(),
        sleep=stop.wait,
        before_sleep=(lambda state: on_retry(state.outcome.exception(), state.upcoming_sleep)) if on_retry else None,
    )
    try:
        return retrying(operation)
    except tenacity.RetryError as exc:
        raise Stopped from exc.last_attempt.exception()
