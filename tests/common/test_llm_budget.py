"""The shared LLM budget (GCRA in Redis) and the circuit breaker, against a real Redis."""

import itertools
import threading
import time

import pytest
import redis

from cloudemy_common.llm_budget import (
    BREAKER_KEY,
    BreakerSettings,
    BudgetLimits,
    LlmBreaker,
    LlmBudget,
)
from cloudemy_common.retry import full_jitter


def test_no_limit_never_waits_and_never_touches_redis() -> None:
    class Unreachable:
        def eval(self, *args: object) -> object:
            raise AssertionError("no limit configured: Redis must not be asked")

    budget = LlmBudget(Unreachable(), BudgetLimits())
    assert budget.reserve(10_000, 0).wait_seconds == 0
    assert budget.backlog_seconds() == 0


def test_requests_are_paced_after_the_burst(redis_client: redis.Redis) -> None:
    budget = LlmBudget(redis_client, BudgetLimits(requests_per_minute=600))  # one per 0.1 s, burst 60
    waits = [budget.reserve(0, 60).wait_seconds for _ in range(80)]
    assert waits[:59] == [0.0] * 59, "a tenth of the minute's requests may go at once"
    later = waits[60:]
    assert all(b > a for a, b in itertools.pairwise(later)), "then one turn after another"
    assert waits[-1] == pytest.approx(2.0, abs=0.15), "80 requests at 600/min: the 80th waits ~2 s"


def test_a_turn_beyond_the_wait_allowed_is_not_taken(redis_client: redis.Redis) -> None:
    budget = LlmBudget(redis_client, BudgetLimits(requests_per_minute=60))  # burst 6, then one per second
    for _ in range(6):
        assert budget.reserve(0, 0).reserved
    refused = budget.reserve(0, 0.5)
    assert not refused.reserved
    assert refused.wait_seconds == pytest.approx(1.0, abs=0.1)
    assert budget.backlog_seconds() == pytest.approx(1.0, abs=0.1), "a refusal reserved nothing"
    assert budget.reserve(0, 2).reserved


def test_tokens_per_minute_paces_big_requests_and_corrections_count(redis_client: redis.Redis) -> None:
    budget = LlmBudget(redis_client, BudgetLimits(tokens_per_minute=60_000))  # 1,000 tokens/s, burst 6,000
    assert budget.reserve(6_000, 0).reserved
    assert budget.reserve(1_000, 10).wait_seconds == pytest.approx(1.0, abs=0.1)
    budget.correct(estimated_tokens=1_000, used_tokens=3_000)  # the answer used 2,000 more than estimated
    assert budget.backlog_seconds(1_000) == pytest.approx(4.0, abs=0.15)
    budget.correct(estimated_tokens=3_000, used_tokens=0)
    assert budget.backlog_seconds(1_000) == pytest.approx(1.0, abs=0.15)


def test_many_runners_at_once_share_one_budget(redis_url: str) -> None:
    """20 threads with their own connections reserve 200 requests: the turns are spread at the rate."""
    waits: list[float] = []
    lock = threading.Lock()

    def runner() -> None:
        client = redis.Redis.from_url(redis_url)
        budget = LlmBudget(client, BudgetLimits(requests_per_minute=6_000))  # one per 10 ms, burst 600
        for _ in range(40):
            wait = budget.reserve(0, 60).wait_seconds
            with lock:
                waits.append(wait)
        client.close()

    threads = [threading.Thread(target=runner) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(waits) == 800
    assert max(waits) == pytest.approx((800 - 600) * 0.01, abs=0.5), "the last turn after the burst, not sooner"


def test_breaker_opens_after_consecutive_failures_and_one_success_closes_it(redis_client: redis.Redis) -> None:
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=3, open_seconds=0.3, max_open_seconds=10))
    assert [breaker.record_failure().state for _ in range(2)] == ["closed", "closed"]
    opened = breaker.record_failure()
    assert (opened.state, opened.changed) == ("open", True)
    assert 0.2 < opened.retry_in_seconds <= 0.3
    assert breaker.state().is_open
    time.sleep(0.35)
    assert breaker.state().state == "half-open", "after the open time one probe may go"
    reopened = breaker.record_failure()
    assert reopened.is_open
    assert reopened.retry_in_seconds > 0.5, "a failed probe opens it again, for twice as long"
    closed = breaker.record_success()
    assert (closed.state, closed.changed) == ("closed", True)
    assert redis_client.exists(BREAKER_KEY) == 0


def test_success_between_failures_keeps_it_closed(redis_client: redis.Redis) -> None:
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=3))
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state().state == "closed"


def test_full_jitter_keeps_the_floor_and_spreads_above_it() -> None:
    delays = [full_jitter(3, base=1, cap=8, floor=5) for _ in range(2_000)]
    assert min(delays) >= 5
    assert max(delays) <= 5 + 4
    assert max(delays) - min(delays) > 3, "spread over the whole backoff, not a fixed sleep"
    assert all(full_jitter(30, base=1, cap=8) <= 8 for _ in range(100)), "capped"
