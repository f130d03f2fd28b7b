"""The shared LLM budget (GCRA in Redis) and the circuit breaker, against a real Redis."""

import bisect
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
    budget = LlmBudget(redis_client, BudgetLimits(requests_per_minute=600))  # burst 12, then 575/min
    waits = [budget.reserve(0, 60).wait_seconds for _ in range(80)]
    assert waits[:11] == [0.0] * 11, "2 % of the minute's requests may go at once"
    later = waits[12:]
    assert all(b > a for a, b in itertools.pairwise(later)), "then one turn after another"
    assert waits[-1] == pytest.approx((80 - 12) * 60 / 575, abs=0.1)


def test_no_sliding_minute_holds_more_than_the_limit(redis_client: redis.Redis) -> None:
    for limit in (2, 60, 500, 3_000):
        redis_client.flushall()
        budget = LlmBudget(redis_client, BudgetLimits(requests_per_minute=limit))
        send_times = sorted(time.monotonic() + budget.reserve(0, 3600).wait_seconds for _ in range(limit * 3))
        most = max(bisect.bisect_left(send_times, t + 60) - i for i, t in enumerate(send_times))
        assert most <= limit, f"{most} requests in one minute against a limit of {limit}"


def test_a_turn_beyond_the_wait_allowed_is_not_taken(redis_client: redis.Redis) -> None:
    budget = LlmBudget(redis_client, BudgetLimits(requests_per_minute=60))  # burst 1.2, then 56.6/min
    assert budget.reserve(0, 0).reserved
    refused = budget.reserve(0, 0.5)
    assert not refused.reserved
    assert refused.wait_seconds == pytest.approx(60 / 56.6 * 0.8, abs=0.1)
    assert budget.backlog_seconds() == pytest.approx(refused.wait_seconds, abs=0.05), "a refusal reserved nothing"
    assert budget.reserve(0, 2).reserved


def test_tokens_per_minute_paces_big_requests_and_corrections_count(redis_client: redis.Redis) -> None:
    budget = LlmBudget(redis_client, BudgetLimits(tokens_per_minute=64_516))  # burst 1,290, then ~1,000 tokens/s
    assert budget.reserve(1_290, 0).reserved
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
        budget = LlmBudget(client, BudgetLimits(requests_per_minute=6_000))  # burst 120, then 5,760/min
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
    assert max(waits) == pytest.approx((800 - 120) * 60 / 5_759, abs=0.3), "the last turn in order, not sooner"


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
