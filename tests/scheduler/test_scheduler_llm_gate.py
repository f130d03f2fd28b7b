"""The scheduler holds dispatch while the LLM breaker is open or the shared budget is booked up, and says so."""

import threading
import time

import redis
from prometheus_client import REGISTRY

from cloudemy_common.llm_budget import BreakerSettings, BudgetLimits, LlmBreaker, LlmBudget
from cloudemy_scheduler.config import Settings
from cloudemy_scheduler.llm_gate import LlmDispatchGate


def held(reason: str) -> float:
    return REGISTRY.get_sample_value("cloudemy_scheduler_dispatch_held", {"reason": reason}) or 0.0


def test_open_breaker_holds_until_it_closes(redis_client: redis.Redis, caplog) -> None:
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30)
    assert gate.hold_reason() == (None, 0.0)
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=5, open_seconds=30))
    for _ in range(5):
        breaker.record_failure()
    reason, wait = gate.hold_reason()
    assert reason == "llm-breaker-open"
    assert 25 < wait <= 30
    stop = threading.Event()
    waited: list[bool] = []
    with caplog.at_level("INFO", logger="cloudemy_scheduler.llm_gate"):
        thread = threading.Thread(target=lambda: waited.append(gate.wait(stop)))
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "dispatch waits while the provider keeps failing"
        assert held("llm-breaker-open") == 1
        breaker.record_success()  # a runner's request went through again
        thread.join(timeout=3)
    assert waited == [True]
    assert held("llm-breaker-open") == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("dispatch held: llm-breaker-open" in m for m in messages)
    assert any("dispatch resumed" in m for m in messages)


def test_booked_up_budget_holds_and_a_free_one_does_not(redis_client: redis.Redis) -> None:
    limits = BudgetLimits(requests_per_minute=60)
    gate = LlmDispatchGate(redis_client, limits, max_backlog_seconds=2)
    budget = LlmBudget(redis_client, limits)
    for _ in range(2):
        budget.reserve(0, 60)
    assert gate.hold_reason()[0] is None, "about 1 s booked: dispatch goes on"
    for _ in range(4):
        budget.reserve(0, 60)
    reason, wait = gate.hold_reason()
    assert reason == "llm-budget-booked"
    assert 2 < wait < 5, "about 6 s booked, 2 s allowed"


def test_gate_fails_open_without_redis() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    gate = LlmDispatchGate(unreachable, BudgetLimits(requests_per_minute=60), max_backlog_seconds=1)
    assert gate.wait(threading.Event()) is False


def half_open_breaker(redis_client: redis.Redis) -> LlmBreaker:
    """A breaker that opened (five failures) for 0.2 s and whose open time has passed: half-open."""
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=5, open_seconds=0.2))
    for _ in range(5):
        breaker.record_failure()
    time.sleep(0.3)
    assert breaker.state().state == "half-open"
    return breaker


def test_half_open_breaker_lets_one_probe_through_and_holds_the_rest_until_it_answers(
    redis_client: redis.Redis,
) -> None:
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30)
    breaker = half_open_breaker(redis_client)
    assert gate.hold_reason() == (None, 0.0), "one Job goes through as the probe"
    reason, wait = gate.hold_reason()
    assert reason == "llm-breaker-probing", "not a burst of Jobs into a provider that may still be down"
    assert 25 < wait <= 30
    breaker.record_success()  # the probe's request was answered
    assert gate.hold_reason() == (None, 0.0)
    assert gate.hold_reason() == (None, 0.0), "closed again: every Job goes"


def test_a_failed_probe_holds_as_open_and_the_next_half_open_probes_again(redis_client: redis.Redis) -> None:
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30)
    breaker = half_open_breaker(redis_client)
    assert gate.hold_reason() == (None, 0.0)
    breaker.record_failure()  # the probe failed: open again, for twice as long
    assert gate.hold_reason()[0] == "llm-breaker-open"
    time.sleep(0.5)
    assert breaker.state().state == "half-open"
    assert gate.hold_reason() == (None, 0.0), "the next half-open sends its own probe"
    assert gate.hold_reason()[0] == "llm-breaker-probing"


def test_a_probe_that_never_answers_lets_the_next_one_through(redis_client: redis.Redis) -> None:
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=0.3)
    half_open_breaker(redis_client)
    assert gate.hold_reason() == (None, 0.0)
    assert gate.hold_reason()[0] == "llm-breaker-probing"
    time.sleep(0.35)  # the probe's Job never got to send (evicted, its runner crashed)
    assert gate.hold_reason() == (None, 0.0)


def test_after_holding_the_probe_is_taken_at_once(redis_client: redis.Redis) -> None:
    """wait() answers False for the probe even after holding: asking again would find it already spent."""
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30)
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=5, open_seconds=0.5))
    for _ in range(5):
        breaker.record_failure()
    assert gate.wait(threading.Event()) is False, "held while open, then the probe: take it now"
    assert gate.hold_reason()[0] == "llm-breaker-probing"


def test_jobs_dispatched_but_not_yet_booked_count_as_booked(redis_client: redis.Redis) -> None:
    """A burst of dispatches books nothing until the pods run: the active Jobs x the budget's interval count."""
    active = [0]
    gate = LlmDispatchGate(redis_client, BudgetLimits(requests_per_minute=60), max_backlog_seconds=30,
                           active_jobs=lambda: active[0])  # fmt: skip
    active[0] = 20
    assert gate.hold_reason() == (None, 0.0), "about 21 s of turns on their way"
    active[0] = 40
    reason, wait = gate.hold_reason()
    assert reason == "llm-budget-booked", "about 42 s of turns on their way, 30 s allowed"
    assert 10 < wait < 15
    no_budget = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30, active_jobs=lambda: 10_000)
    assert no_budget.hold_reason() == (None, 0.0), "without a budget the slots are MAX_ACTIVE_JOBS' business"


def test_gate_reads_the_breaker_with_the_runners_threshold(redis_client: redis.Redis, monkeypatch) -> None:
    """Runners open the breaker after LLM_BREAKER_FAILURES failures; the scheduler reads the same variables, so
    two failures and an open time that has passed are half-open for it too (one probe goes out, the rest hold)."""
    monkeypatch.setenv("LLM_BREAKER_FAILURES", "2")
    monkeypatch.setenv("LLM_BREAKER_OPEN_SECONDS", "0.2")
    settings = Settings()
    assert settings.llm_breaker == BreakerSettings(failures=2, open_seconds=0.2)
    runners = LlmBreaker(redis_client, BreakerSettings(failures=2, open_seconds=0.2))
    gate = LlmDispatchGate(redis_client, BudgetLimits(), max_backlog_seconds=30, breaker=settings.llm_breaker)
    for _ in range(2):
        runners.record_failure()
    assert gate.hold_reason()[0] == "llm-breaker-open"
    time.sleep(0.3)
    assert gate.hold_reason() == (None, 0.0), "the probe"
    assert gate.hold_reason()[0] == "llm-breaker-probing", "a default five-failure reading would call it closed"
