"""This runner's side of the shared LLM budget and breaker (cloudemy_common.llm_budget), over its Redis.

Redis being away must not stop grading: every call here fails open (no wait, breaker closed), logged
once, and the provider's own 429s with jittered retries remain the protection.
"""

import logging
from typing import TYPE_CHECKING

from cloudemy_common.llm_budget import BreakerSettings, BreakerState, BudgetLimits, LlmBreaker, LlmBudget, Reservation
from cloudemy_runner.config import RunnerSettings

if TYPE_CHECKING:
    import redis

log = logging.getLogger("cloudemy_runner.llm")

SOCKET_TIMEOUT_SECONDS = 3.0
CHARS_PER_TOKEN = 4
"""Rough size of a token in prompt text; the estimate is corrected with the answer's ``usage``."""
COMPLETION_TOKENS_ESTIMATE = 800
CLOSED = BreakerState("closed", 0.0, 0)


class SharedLimits:
    """The budget and breaker for one runner; ``None`` Redis client until first used."""

    def __init__(self, settings: RunnerSettings, client: "redis.Redis | None" = None) -> None:
        self.settings = settings
        self.limits = BudgetLimits(
            settings.llm_requests_per_minute, settings.llm_tokens_per_minute, settings.llm_budget_period_seconds
        )
        self.breaker_settings = BreakerSettings(
            failures=settings.llm_breaker_failures, open_seconds=settings.llm_breaker_open_seconds
        )
        self._client = client
        self._warned = False

    def _redis(self) -> "redis.Redis":
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = redis.Redis.from_url(
                self.settings.redis_url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
        return self._client

    def _unavailable(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("llm budget unavailable, going on without it error=%s", type(exc).__name__)
            self._warned = True

    @staticmethod
    def estimate_tokens(prompt_chars: int) -> int:
        return prompt_chars // CHARS_PER_TOKEN + COMPLETION_TOKENS_ESTIMATE

    def reserve(self, tokens: int, max_wait_seconds: float) -> Reservation:
        import redis

        if not self.limits.enabled:
            return Reservation(True, 0.0)
        try:
            return LlmBudget(self._redis(), self.limits).reserve(tokens, max_wait_seconds)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return Reservation(True, 0.0)

    def correct(self, estimated: int, used: int) -> None:
        import redis

        if not self.limits.enabled:
            return
        try:
            LlmBudget(self._redis(), self.limits).correct(estimated, used)
        except redis.RedisError as exc:
            self._unavailable(exc)

    def breaker(self, action: str) -> BreakerState:
        """``state``, ``success`` or ``failure``; logs when this call opened or closed the breaker."""
        import redis

        try:
            breaker = LlmBreaker(self._redis(), self.breaker_settings)
            state = {"state": breaker.state, "success": breaker.record_success, "failure": breaker.record_failure}[
                action
            ]()
        except redis.RedisError as exc:
            self._unavailable(exc)
            return CLOSED
        if state.changed and state.is_open:
            log.warning(
                "llm breaker opened consecutive_failures=%d open_for=%.1fs",
                state.consecutive_failures,
                state.retry_in_seconds,
            )
        elif state.changed:
            log.info("llm breaker closed: the provider answered again")
        return state

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
