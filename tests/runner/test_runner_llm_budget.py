"""The LLM budget all runners share, the breaker, and handing an attempt back, against an unkind fake provider
(requests-per-window limits with 429 + Retry-After, outages) and a real Redis."""

import bisect
import threading
import time
from typing import Any

import pytest
from runner_support import MASTER_TOKEN, SUBMISSION_ID, make_payload, run_runner

from cloudemy_common.llm_budget import BREAKER_KEY
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.llm import LlmGrader
from cloudemy_runner.prompt import build_prompt
from cloudemy_runner.static_checks import run_static_checks
from fakes.openai_server import FakeOpenAI

WINDOW = 3.0
"""The fake provider's rate window, and the budget's period: minutes compressed 20 times."""


def settings_for(fake: FakeOpenAI, redis_url: str, **changes: Any) -> RunnerSettings:
    values: dict[str, Any] = {
        "submission_id": SUBMISSION_ID,
        "redis_url": redis_url,
        "backend_internal_url": "http://127.0.0.1:1/internal",
        "internal_result_token": "t",
        "llm_api_key": "sk-test",
        "llm_base_url": fake.base_url,
        "llm_timeout_seconds": 5,
        "job_deadline_seconds": 40,
        **changes,
    }
    return RunnerSettings(**values)


def grade_in_threads(settings: RunnerSettings, graders: int) -> list[Any]:
    payload = make_payload()
    prompt = build_prompt(payload, run_static_checks(payload.language, payload.code))
    outcomes: list[Any] = [None] * graders

    def grade(index: int) -> None:
        outcomes[index] = LlmGrader(settings, Budget(settings.job_deadline_seconds)).grade(prompt)

    threads = [threading.Thread(target=grade, args=(n,)) for n in range(graders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_runners_sharing_the_budget_never_meet_a_429(redis_url: str) -> None:
    """30 runners at once against a provider allowing 20 requests per window: with the budget set just below
    what the provider allows (the headroom docs/scheduler.md recommends for send-time jitter on a busy node),
    every request is paced into a free turn and none is refused."""
    with FakeOpenAI(rpm=20, window=2 * WINDOW) as fake:
        settings = settings_for(fake, redis_url, llm_requests_per_minute=18, llm_budget_period_seconds=2 * WINDOW)
        started = time.monotonic()
        outcomes = grade_in_threads(settings, 30)
        elapsed = time.monotonic() - started
        assert [o.failure for o in outcomes] == [None] * 30
        assert fake.calls["throttled"] == 0, "no 429: the shared budget kept below the provider's limit"
        assert fake.calls["good"] == 30
        assert elapsed >= (30 - 20) / 20 * 2 * WINDOW, "paced at the limit, not faster"
        assert max(o.stats.budget_wait_ms for o in outcomes) > 1000, "later runners waited for their turn"


def test_without_the_budget_the_same_load_meets_429s(redis_url: str) -> None:
    """The control for the test above: the provider really refuses what the budget avoids."""
    with FakeOpenAI(rpm=20, window=WINDOW) as fake:
        outcomes = grade_in_threads(settings_for(fake, redis_url, job_deadline_seconds=12), 40)
        assert fake.calls["throttled"] > 0
        assert any(o.failure is None for o in outcomes)


def test_tokens_per_minute_is_a_budget_too(redis_url: str) -> None:
    with FakeOpenAI(tpm=20 * 1350, window=WINDOW) as fake:  # 20 requests of 1,350 tokens per window
        settings = settings_for(fake, redis_url, llm_tokens_per_minute=20 * 1350, llm_budget_period_seconds=WINDOW)
        outcomes = grade_in_threads(settings, 30)
        assert [o.failure for o in outcomes] == [None] * 30
        assert fake.calls["throttled"] == 0


def test_retries_after_a_shared_429_are_spread_not_synchronised(redis_url: str) -> None:
    """20 runners throttled together with the same Retry-After do not come back in the same instant."""
    with FakeOpenAI(rpm=4, window=2.0) as fake:
        settings = settings_for(fake, redis_url, job_deadline_seconds=12, llm_breaker_failures=1000)
        grade_in_threads(settings, 20)
        start = fake.first_request_at
        assert start is not None
        retried = sorted(r.received_at for r in fake.requests if r.received_at > start + 0.5)
        assert len(retried) >= 10
        assert fake.calls["throttled"] > 0
        crowd = max(bisect.bisect_left(retried, t + 0.02) - i for i, t in enumerate(retried))
        assert crowd <= 5, f"{crowd} retries within 20 ms: Retry-After obeyed in step, not jittered"
        assert max(retried) - min(retried) > 1.0


def test_an_outage_opens_the_breaker_for_every_runner(redis_url: str, redis_client: Any) -> None:
    with FakeOpenAI() as fake:
        fake.go_down(30)
        settings = settings_for(fake, redis_url, llm_breaker_failures=3, llm_breaker_open_seconds=20)
        first = grade_in_threads(settings, 1)[0]
        assert first.failure.code == "breaker-open"
        assert first.failure.requeueable
        assert 15 < first.failure.retry_after_seconds <= 20
        assert fake.calls["down"] == 3, "the third failure in a row opened the breaker: no more requests"
        later = grade_in_threads(settings, 5)
        assert {o.failure.code for o in later} == {"breaker-open"}
        assert fake.calls["down"] == 3, "runners starting while it is open do not ask the provider at all"
        redis_client.delete(BREAKER_KEY)
        fake.come_back()
        assert grade_in_threads(settings, 1)[0].failure is None


@pytest.mark.parametrize("kind", ["unavailable", "refuse"])
def test_runner_hands_the_attempt_back_during_an_outage(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI, kind: str
) -> None:
    store_payload()
    backend.requeue_limit = 3
    fake_llm.go_down(60, kind=kind)
    run = run_runner(runner_env(JOB_DEADLINE_SECONDS="8", LLM_BREAKER_FAILURES="50"))
    assert run.exit_code == 0, run.stderr
    (request,) = backend.requeue_requests()
    assert request.body["reason"] in {"server-error", "connection-error", "budget-exhausted"}
    assert request.query == {"attempt": "1"}
    assert backend.results() == [], "no error result: the student's attempt waits for the provider"
    assert run.seconds < 8


def test_when_the_backend_refuses_the_requeue_the_error_is_posted(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    store_payload()
    backend.requeue_limit = 0  # the attempt went back LLM_REQUEUE_LIMIT times already
    fake_llm.set_mode("server_error")
    run = run_runner(runner_env(JOB_DEADLINE_SECONDS="6"))
    assert run.exit_code == 0
    assert len(backend.requeue_requests()) == 1
    (result,) = backend.results()
    assert result.body["status"] == "error"
    assert "llm-unavailable" in result.body["fail_tags"]


def test_requeue_disabled_posts_at_once(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    store_payload()
    backend.requeue_limit = 3
    fake_llm.set_mode("server_error")
    run = run_runner(runner_env(JOB_DEADLINE_SECONDS="6", LLM_REQUEUE_LIMIT="0"))
    assert run.exit_code == 0
    assert backend.requeue_requests() == []
    assert backend.results()[0].body["status"] == "error"


def test_master_token_is_not_needed(runner_env: Any) -> None:
    assert MASTER_TOKEN not in runner_env()["INTERNAL_RESULT_TOKEN"]
