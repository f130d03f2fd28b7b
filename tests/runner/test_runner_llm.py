"""The LLM request loop in-process against the fake server: retries, Retry-After, the time budget,
the json_schema fallback, and which failures are final."""

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
from runner_support import make_payload

from cloudemy_runner import llm
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.llm import LlmGrader, retry_after_seconds
from cloudemy_runner.prompt import build_prompt
from cloudemy_runner.static_checks import run_static_checks
from fakes.ports import free_port


def settings_for(base_url: str, **changes) -> RunnerSettings:
    values = {
        "submission_id": "65a1b2c3d4e5f60718293a4b",
        "redis_url": "redis://127.0.0.1:1/0",
        "backend_internal_url": "http://127.0.0.1:1/internal",
        "internal_result_token": "t",
        "llm_api_key": "sk-test",
        "llm_base_url": base_url,
        "llm_timeout_seconds": 10,
        "job_deadline_seconds": 40,
    }
    values.update(changes)
    return RunnerSettings(**values)


def grade(base_url: str, deadline: float = 40, **changes):
    settings = settings_for(base_url, job_deadline_seconds=deadline, **changes)
    payload = make_payload()
    prompt = build_prompt(payload, run_static_checks(payload.language, payload.code))
    started = time.monotonic()
    result = LlmGrader(settings, Budget(deadline)).grade(prompt)
    return result, time.monotonic() - started


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(llm, "BACKOFF_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(llm, "BACKOFF_MAX_SECONDS", 0.02)


def test_retry_after_longer_than_the_budget_gives_up_at_once(fake_llm):
    fake_llm.set_mode("rate_limit", retry_after=30)
    result, seconds = grade(fake_llm.base_url, deadline=8)
    assert result.failure.code == "rate-limited"
    assert result.stats.attempts == 1
    assert seconds < 5, "no pointless sleep past the budget (Retry-After asked for 30 s)"


def test_server_errors_stop_at_the_request_cap(fake_llm, quick_backoff):
    fake_llm.set_mode("server_error")
    result, _ = grade(fake_llm.base_url)
    assert (result.failure.code, result.stats.attempts) == ("server-error", llm.MAX_REQUESTS)
    assert fake_llm.calls == {"server_error": llm.MAX_REQUESTS}


def test_server_errors_stop_at_the_budget(fake_llm):
    fake_llm.set_mode("server_error")
    result, seconds = grade(fake_llm.base_url, deadline=4)  # LLM phase: 3 s
    assert result.failure.code == "server-error"
    assert 2 <= result.stats.attempts < llm.MAX_REQUESTS
    assert seconds < 4


def test_each_request_is_cut_at_llm_timeout(fake_llm, quick_backoff, monkeypatch):
    monkeypatch.setattr(llm, "MAX_REQUESTS", 3)
    fake_llm.set_mode("slow", delay=20)
    result, seconds = grade(fake_llm.base_url, llm_timeout_seconds=1)
    assert (result.failure.code, result.stats.attempts) == ("timeout", 3)
    assert seconds < 10


def test_unreachable_server_is_retried_then_reported(quick_backoff):
    result, _ = grade(f"http://127.0.0.1:{free_port()}/v1", deadline=6)
    assert result.failure.code == "connection-error"
    assert result.stats.attempts >= 2


def test_400_after_the_fallback_is_final(fake_llm):
    fake_llm.set_mode("bad_request")
    result, _ = grade(fake_llm.base_url)
    assert (result.failure.code, result.stats.attempts) == ("rejected", 2)
    assert [r.response_format_type for r in fake_llm.requests] == ["json_schema", "json_object"]
    assert result.failure.detail == "the model server rejected the request (HTTP 400)"


def test_no_request_starts_without_budget(fake_llm):
    settings = settings_for(fake_llm.base_url, job_deadline_seconds=1)
    payload = make_payload()
    prompt = build_prompt(payload, run_static_checks(payload.language, payload.code))
    result = LlmGrader(settings, Budget(1, started=time.monotonic() - 5)).grade(prompt)
    assert (result.failure.code, result.stats.attempts) == ("budget-exhausted", 0)
    assert fake_llm.requests == []


def test_request_shape(fake_llm):
    result, _ = grade(fake_llm.base_url, llm_model="qwen2.5-coder:7b")
    assert result.failure is None
    body = fake_llm.requests[0].body
    assert body["model"] == "qwen2.5-coder:7b"
    assert (body["temperature"], body["seed"]) == (0, llm.GRADING_SEED)
    schema = body["response_format"]["json_schema"]
    assert (schema["name"], schema["strict"]) == ("cloudemy_grade", True)
    assert schema["schema"]["additionalProperties"] is False
    item = schema["schema"]["properties"]["criteria"]["items"]
    assert item["properties"]["id"]["enum"] == ["correctness", "style", "edge-cases"]
    assert item["required"] == ["id", "score", "status", "evidence", "feedback"]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def _error_with(headers: dict[str, str]) -> Exception:
    exc = Exception("http error")
    exc.response = SimpleNamespace(headers=headers)  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "3"}, 3.0), ({"retry-after": "0.5"}, 0.5), ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
     ({"retry-after": "-4"}, 0.0), ({"retry-after": "soon"}, None), ({}, None)],
)  # fmt: skip
def test_retry_after_header_forms(headers, expected):
    assert retry_after_seconds(_error_with(headers)) == expected


def test_retry_after_http_date():
    when = datetime.now(UTC) + timedelta(seconds=20)
    seconds = retry_after_seconds(_error_with({"retry-after": format_datetime(when, usegmt=True)}))
    assert 17 <= seconds <= 20
