"""Rate limits shared by every backend worker and pod through Redis: login failures, submissions, sign-ups.

Each limit is a sliding-window log: a sorted set ``ratelimit:<name>:<subject>`` holding one member per counted
event, scored by Redis' own clock (so pods with skewed clocks agree). One Lua script drops what fell out of
the window, refuses when any of the keys is full (answering how long until its oldest entry leaves), and
otherwise (``reserve``) records the event in every key at once, so concurrent requests never overshoot a
limit. Login failures are checked and recorded separately (``check``, then ``record`` once the password
proved wrong), so concurrent successful logins from one address are never counted.

Redis trouble never refuses a request: the limiter fails open, logs one warning a minute and counts the
miss in ``cloudemy_rate_limit_unavailable``. Limits protect capacity; Redis being away must not lock
students out of an exam.
"""

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cloudemy_backend.metrics import Metrics
from cloudemy_common.keys import RATE_LIMIT_KEY_PREFIX

log = logging.getLogger(__name__)

WARNING_INTERVAL_SECONDS = 60.0

# KEYS: the logs; ARGV: window in ms, limit, member, mode. Returns 0 or the ms until a slot frees.
# mode "reserve": refuse when a key is full, else record the event in every key; "check": refuse or
# answer 0, recording nothing; "record": record the event whatever the count.
SLIDING_WINDOW_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window, limit, member, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if mode ~= 'record' and redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local left = tonumber(oldest[2]) + window - now
    if left > wait then wait = left end
  end
end
if wait > 0 or mode == 'check' then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
return 0
"""


@dataclass(frozen=True)
class Decision:
    """The outcome of one check or reservation: allowed, or refused for ``retry_after`` seconds."""

    allowed: bool
    retry_after: int = 0


ALLOWED_UNCOUNTED = Decision(allowed=True)


def subject_digest(value: str) -> str:
    """A key part for an email or address: fixed length, no raw personal data in Redis key names."""
    return hashlib.sha256(value.strip().lower().encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


class RateLimiter:
    """Sliding-window limits over Redis for one backend process."""

    def __init__(self, redis: Redis, metrics: Metrics) -> None:
        self.redis = redis
        self.metrics = metrics
        self._script = redis.register_script(SLIDING_WINDOW_SCRIPT)
        self._last_warning = -math.inf

    @staticmethod
    def key(name: str, subject: str) -> str:
        return f"{RATE_LIMIT_KEY_PREFIX}{name}:{subject_digest(subject)}"

    async def reserve(self, keys: list[str], *, limit: int, window_seconds: float) -> Decision:
        """Count one event in every key, unless one of them already holds ``limit`` events of the window."""
        return await self._run("reserve", keys, limit, window_seconds)

    async def check(self, keys: list[str], *, limit: int, window_seconds: float) -> Decision:
        """Whether one more event would be allowed, counting nothing."""
        return await self._run("check", keys, limit, window_seconds)

    async def record(self, keys: list[str], *, limit: int, window_seconds: float) -> None:
        """Count one event in every key (a failed login), whatever they hold."""
        await self._run("record", keys, limit, window_seconds)

    async def _run(self, mode: str, keys: list[str], limit: int, window_seconds: float) -> Decision:
        if limit <= 0 or not keys:
            return ALLOWED_UNCOUNTED
        member = uuid.uuid4().hex  # one event: the same member in every key
        try:
            wait_ms = int(await self._script(keys=keys, args=[int(window_seconds * 1000), limit, member, mode]))
        except RedisError as exc:
            self._unavailable(exc, mode)
            return ALLOWED_UNCOUNTED
        if wait_ms > 0:
            return Decision(allowed=False, retry_after=max(1, math.ceil(wait_ms / 1000)))
        return Decision(allowed=True)

    def _unavailable(self, exc: RedisError, operation: str) -> None:
        self.metrics.rate_limit_unavailable.inc()
        now = time.monotonic()
        if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            log.warning(
                "rate limits not enforced: redis unreachable (failing open)",
                extra={"operation": operation, "reason": type(exc).__name__},
            )
