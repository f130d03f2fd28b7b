"""The LLM budget every runner shares, and the circuit breaker that holds dispatch while the provider fails.

Both live in Redis so that every runner pod and every scheduler replica sees one state:

- ``LlmBudget``: a GCRA (generic cell rate algorithm) limiter for ``LLM_REQUESTS_PER_MINUTE`` and
  ``LLM_TOKENS_PER_MINUTE`` (0: no limit). A runner *reserves* its request before sending it: the script
  answers how long to wait, and the reservation is committed only when that wait fits the runner's time
  budget, so runners queue up in order instead of polling, and no request is sent early. Tokens are charged
  with an estimate before the request and corrected with the provider's ``usage`` after it.
- ``LlmBreaker``: consecutive failed LLM requests (429, 5xx, timeouts, connection errors) across all
  runners. At ``failures`` in a row it opens for ``open_seconds`` (doubling each time it re-opens, up to
  ``max_open_seconds``); while open the scheduler holds dispatch and runners hand their submission back to
  the queue. One successful request closes it.

Each operation is one Lua script (atomic, clock from Redis ``TIME``, so runner clocks do not matter). The
client is any synchronous redis-py ``Redis``; only ``EVAL`` (and ``GET``/``SET``/``HSET``-family commands
inside the scripts) are needed, on the keys under ``llm:`` (see the runner's Redis ACL in docs/install.md).
"""

from dataclasses import dataclass
from typing import Any, Protocol

LLM_KEY_PREFIX = "llm:"
REQUESTS_KEY = "llm:budget:requests"
TOKENS_KEY = "llm:budget:tokens"
BREAKER_KEY = "llm:breaker"

BURST_SHARE = 0.02
"""Share of a per-minute limit that may be spent at once (at least one request). The rest is paced evenly at
the limit less two bursts and one unit, so that no 60-second window, however it is placed, holds more than the
limit even when requests arrive a little late or early: a provider counting in sliding windows never answers
429 because of the pacing itself."""
BREAKER_STATE_TTL_SECONDS = 3600
"""A breaker nobody touched for this long is forgotten (closed)."""


class SyncRedis(Protocol):
    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...


# KEYS: requests, tokens.  ARGV: request interval ms, request burst, token interval ms, token burst,
# token cost, max wait ms (a negative max wait only asks, never reserves).  Reply: {reserved 0|1, wait ms}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function plan(key, interval, burst, cost)
  if interval <= 0 then return nil, 0 end
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local wait = new_tat - interval * burst - now
  if wait < 0 then wait = 0 end
  return new_tat, wait
end
local r_tat, r_wait = plan(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 1)
local t_tat, t_wait = plan(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
local wait = math.max(r_wait, t_wait)
local max_wait = tonumber(ARGV[6])
if max_wait < 0 or wait > max_wait then return {0, math.ceil(wait)} end
if r_tat then redis.call('SET', KEYS[1], string.format('%.3f', r_tat), 'PX', math.ceil(r_tat - now) + 60000) end
if t_tat then redis.call('SET', KEYS[2], string.format('%.3f', t_tat), 'PX', math.ceil(t_tat - now) + 60000) end
return {1, math.ceil(wait)}
"""

# KEYS: tokens.  ARGV: token interval ms, tokens to add (negative: refund an over-estimate).
_CORRECT = """
local interval = tonumber(ARGV[1])
if interval <= 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
tat = tat + interval * tonumber(ARGV[2])
if tat <= now then redis.call('DEL', KEYS[1]) return 0 end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 60000)
return 1
"""

# KEYS: breaker hash.  ARGV: 'success' | 'failure' | 'peek', failures to open, open ms, max open ms, ttl s.
# Reply: {state ('closed'|'open'|'half-open'), ms until it may close, consecutive failures, changed 0|1}.
_BREAKER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') or 0
local opens = tonumber(redis.call('HGET', KEYS[1], 'opens') or '0') or 0
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0') or 0
local threshold = tonumber(ARGV[2])
local changed = 0
if ARGV[1] == 'success' then
  if failures > 0 or opens > 0 then
    changed = (failures >= threshold) and 1 or 0
    redis.call('DEL', KEYS[1])
  end
  return {'closed', 0, 0, changed}
end
if ARGV[1] == 'failure' then
  failures = failures + 1
  if failures >= threshold and now >= until_ms then
    opens = opens + 1
    local span = math.min(tonumber(ARGV[3]) * 2 ^ (opens - 1), tonumber(ARGV[4]))
    until_ms = now + span
    changed = 1
  end
  redis.call('HSET', KEYS[1], 'failures', failures, 'opens', opens, 'open_until', string.format('%d', until_ms))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
if now < until_ms then return {'open', until_ms - now, failures, changed} end
if failures >= threshold then return {'half-open', 0, failures, changed} end
return {'closed', 0, failures, changed}
"""


@dataclass(frozen=True)
class Reservation:
    """The answer to one reservation: whether it was taken, and the wait (seconds) before sending."""

    reserved: bool
    wait_seconds: float


@dataclass(frozen=True)
class BudgetLimits:
    """``LLM_REQUESTS_PER_MINUTE`` and ``LLM_TOKENS_PER_MINUTE``; 0 means that dimension has no limit."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    period_seconds: float = 60.0
    """The provider's counting window, a minute; only tests and benchmarks that compress time shorten it (the
    limits then count per period)."""

    @property
    def enabled(self) -> bool:
        return self.requests_per_minute > 0 or self.tokens_per_minute > 0

    def _interval_and_burst(self, per_minute: int, margin: float = 1.0) -> tuple[float, float]:
        """Milliseconds between two units (requests or tokens) once the burst is spent, and the burst."""
        if per_minute <= 0:
            return 0.0, 0.0
        burst = max(1.0, per_minute * BURST_SHARE)
        return self.period_seconds * 1000 / max(per_minute - 2 * burst - margin, per_minute / 2), burst

    @property
    def requests(self) -> tuple[float, float]:
        return self._interval_and_burst(self.requests_per_minute)

    @property
    def tokens(self) -> tuple[float, float]:
        """Tokens keep one more burst in reserve: they are charged by estimate and corrected only once the
        answer's ``usage`` is known, so requests in flight may have cost a little more than charged."""
        return self._interval_and_burst(self.tokens_per_minute, margin=self.tokens_per_minute * BURST_SHARE)


class LlmBudget:
    """The shared requests-per-minute and tokens-per-minute budget."""

    def __init__(self, redis: SyncRedis, limits: BudgetLimits) -> None:
        self.redis = redis
        self.limits = limits

    def _args(self, tokens: int, max_wait_ms: float) -> list[Any]:
        (r_interval, r_burst), (t_interval, t_burst) = self.limits.requests, self.limits.tokens
        return [r_interval, r_burst, t_interval, t_burst, max(int(tokens), 0), max_wait_ms]

    def reserve(self, tokens: int, max_wait_seconds: float) -> Reservation:
        """Reserve one request of ``tokens`` estimated tokens if its turn comes within ``max_wait_seconds``."""
        if not self.limits.enabled:
            return Reservation(True, 0.0)
        reply = self.redis.eval(
            _RESERVE, 2, REQUESTS_KEY, TOKENS_KEY, *self._args(tokens, max(max_wait_seconds, 0.0) * 1000)
        )
        return Reservation(bool(int(reply[0])), int(reply[1]) / 1000.0)

    def backlog_seconds(self, tokens: int = 0) -> float:
        """How long a request of ``tokens`` tokens asked for now would wait (nothing is reserved)."""
        if not self.limits.enabled:
            return 0.0
        reply = self.redis.eval(_RESERVE, 2, REQUESTS_KEY, TOKENS_KEY, *self._args(tokens, -1))
        return int(reply[1]) / 1000.0

    def correct(self, estimated_tokens: int, used_tokens: int) -> None:
        """Charge what a request really used instead of its estimate."""
        t_interval, _ = self.limits.tokens
        if t_interval and used_tokens != estimated_tokens:
            self.redis.eval(_CORRECT, 1, TOKENS_KEY, t_interval, int(used_tokens) - int(estimated_tokens))


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5
    open_seconds: float = 30.0
    max_open_seconds: float = 300.0


@dataclass(frozen=True)
class BreakerState:
    """``closed``, ``open`` (for ``retry_in_seconds`` more) or ``half-open`` (the next request is a probe)."""

    state: str
    retry_in_seconds: float
    consecutive_failures: int
    changed: bool = False

    @property
    def is_open(self) -> bool:
        return self.state == "open"


class LlmBreaker:
    """The provider's health as seen by every runner: consecutive failures and an open-until time."""

    def __init__(self, redis: SyncRedis, settings: BreakerSettings | None = None) -> None:
        self.redis = redis
        self.settings = settings or BreakerSettings()

    def _call(self, action: str) -> BreakerState:
        s = self.settings
        reply = self.redis.eval(
            _BREAKER,
            1,
            BREAKER_KEY,
            action,
            max(s.failures, 1),
            s.open_seconds * 1000,
            s.max_open_seconds * 1000,
            BREAKER_STATE_TTL_SECONDS,
        )
        state = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        return BreakerState(state, int(reply[1]) / 1000.0, int(reply[2]), bool(int(reply[3])))

    def record_success(self) -> BreakerState:
        return self._call("success")

    def record_failure(self) -> BreakerState:
        return self._call("failure")

    def state(self) -> BreakerState:
        return self._call("peek")
