"""Every grading mode end to end: ``python -m cloudemy_runner`` as a subprocess, real Redis, the fake
OpenAI server through the official client, and a recording internal API. Each test asserts the exact
posted result and the exit code."""

import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from runner_support import (
    GOOD_CODE,
    LLM_KEY,
    MASTER_TOKEN,
    SUBMISSION_ID,
    RecordingBackend,
    log_events,
    make_payload,
    run_runner,
    split_metrics,
    write_inline_payload,
)
from waiting import wait_for

from cloudemy_common.jobs import job_name
from cloudemy_common.keys import submission_key
from cloudemy_common.models import ResultBody
from cloudemy_common.tokens import submission_token
from cloudemy_runner import __version__
from cloudemy_runner.offline import OFFLINE_FEEDBACK
from cloudemy_runner.scoring import INCOMPLETE_NOTE, INJECTION_NOTE, NOT_GRADED_FEEDBACK

FAKE_FEEDBACK = "Overall assessment from the fake model."
REGRADE = "Your submission is saved; an instructor can regrade it."
SYNTAX_BROKEN = "def fizzbuzz(n):\n    return [str(i) for i in range(1, n + 1]\n"
SYNTAX_NOTE = "Python syntax check failed on line 2: closing parenthesis ']' does not match opening parenthesis '('"


def llm_metrics(**changes: Any) -> dict[str, Any]:
    metrics = {
        "grader": "llm",
        "model": "gpt-4o-mini",
        "prompt_tokens": 1200,
        "completion_tokens": 150,
        "attempts": 1,
        "response_format": "json_schema",
        "llm_outcome": "ok",
        "samples": 1,
        "max_spread": 0.0,
        "confidence": 0.9,
        "runner_version": __version__,
    }
    metrics.update(changes)
    if metrics["llm_outcome"] != "ok":
        metrics["samples"] = changes.get("samples", 0)
    return metrics


def criteria(correctness: float, style: float, edge: float) -> list[dict[str, Any]]:
    return [
        {"id": "correctness", "score": correctness, "max_score": 6.0, "feedback": _fb("correctness", 1)},
        {"id": "style", "score": style, "max_score": 3.0, "feedback": _fb("style", 2)},
        {"id": "edge-cases", "score": edge, "max_score": 1.0, "feedback": _fb("edge-cases", 3)},
    ]


def _fb(criterion: str, line: int) -> str:
    return f"Assessment of {criterion}.\n\nEvidence: line {line}"


def graded(score: float, crit: list[dict[str, Any]], **metric_changes: Any) -> dict[str, Any]:
    return {
        "status": "graded",
        "score": score,
        "max_score": 10.0,
        "fail_tags": [],
        "feedback": FAKE_FEEDBACK,
        "metrics": llm_metrics(**metric_changes),
        "criteria": crit,
        "grader": "llm",
    }


def llm_error(detail: str, status: str = "error", **metric_changes: Any) -> dict[str, Any]:
    return {
        "status": status,
        "score": None,
        "max_score": 10.0,
        "fail_tags": ["llm-unavailable"],
        "feedback": f"Automatic grading failed: {detail}.\n\n{REGRADE}",
        "metrics": llm_metrics(confidence=None, **metric_changes),
        "criteria": None,
        "grader": "llm",
    }


def the_result(backend: RecordingBackend) -> dict[str, Any]:
    """The one result the backend stored, without its timing metrics (checked separately)."""
    assert list(backend.stored) == [SUBMISSION_ID]
    body, _ = split_metrics(backend.stored[SUBMISSION_ID])
    ResultBody.model_validate(backend.stored[SUBMISSION_ID])
    return body


def assert_clean_logs(stderr: str, code: str = GOOD_CODE) -> None:
    """Logs never hold the code, the LLM key or the result token."""
    assert LLM_KEY not in stderr
    assert submission_token(MASTER_TOKEN, SUBMISSION_ID) not in stderr
    for line in code.splitlines():
        if len(line.strip()) >= 12:
            assert line.strip() not in stderr


def test_good_answer_posts_runner_computed_score(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("good", fraction=0.5)
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(5.0, criteria(3.0, 1.5, 0.5))
    assert [r.body for r in backend.statuses()] == [{"status": "running"}]
    assert [r.path.rsplit("/", 1)[1] for r in backend.received] == ["status", "result"]
    assert backend.results()[0].query == {"attempt": "1"}, "the result names the payload's attempt"
    last = log_events(run.stderr)[-1]
    assert (last["msg"], last["http_status"], last["delivery"]) == ("result post answered", 200, "posted"), (
        "the last log line survives the fast exit"
    )
    assert last["submission_id"] == SUBMISSION_ID
    (request,) = fake_llm.requests
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["temperature"] == 0
    assert isinstance(request.body["seed"], int)
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert request.headers["authorization"] == f"Bearer {LLM_KEY}"
    assert_clean_logs(run.stderr)


def test_rate_limited_then_good_honours_retry_after(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("good", retry_after=1)
    fake_llm.queue("rate_limit")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(10.0, criteria(6.0, 3.0, 1.0), attempts=2)
    first, second = fake_llm.requests
    assert [first.mode, second.mode] == ["rate_limit", "good"]
    assert second.received_at - first.received_at >= 1.0, "the runner waited as Retry-After asked"


def test_server_error_then_good(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.queue("server_error")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(10.0, criteria(6.0, 3.0, 1.0), attempts=2)
    assert fake_llm.calls == {"server_error": 1, "good": 1}


def test_llm_slower_than_budget_posts_timeout_before_the_deadline(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("slow", delay=60)
    run = run_runner(runner_env(JOB_DEADLINE_SECONDS="12", LLM_TIMEOUT_SECONDS="30"))
    assert run.exit_code == 0
    assert the_result(backend) == llm_error(
        "the model did not answer within the time limit (after 1 request)",
        status="timeout",
        prompt_tokens=0,
        completion_tokens=0,
        llm_outcome="timeout",
    )
    (posted,) = backend.results()
    assert posted.at - run.spawned_at < 12, "the result is posted before the Job deadline"


def test_malformed_json_twice_is_an_error(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("malformed")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == llm_error(
        "the model's answers were not valid grading JSON (after 2 requests)",
        attempts=2,
        prompt_tokens=2400,
        completion_tokens=300,
        llm_outcome="invalid-output",
    )


def test_malformed_json_once_is_asked_again(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.queue("malformed")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(
        10.0, criteria(6.0, 3.0, 1.0), attempts=2, prompt_tokens=2400, completion_tokens=300
    )


def test_out_of_range_scores_are_clamped(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("bad_scores")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(4.0, criteria(0.0, 3.0, 1.0))


def test_unknown_and_missing_criteria(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("unknown_ids")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    expected = graded(9.0, criteria(6.0, 3.0, 0.0))
    expected["criteria"][2]["feedback"] = NOT_GRADED_FEEDBACK
    expected.update(
        status="needs_review", fail_tags=["incomplete-grading"], feedback=f"{INCOMPLETE_NOTE}\n\n{FAKE_FEEDBACK}"
    )
    assert the_result(backend) == expected


def test_injection_suspected_keeps_score_and_asks_for_review(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("injection")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    expected = graded(10.0, criteria(6.0, 3.0, 1.0))
    expected.update(
        status="needs_review",
        fail_tags=["possible-prompt-injection"],
        feedback=f"{INJECTION_NOTE}\n\n{FAKE_FEEDBACK}",
    )
    assert the_result(backend) == expected


def test_json_schema_unsupported_falls_back_to_json_mode(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("no_json_schema")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(10.0, criteria(6.0, 3.0, 1.0), attempts=2, response_format="json_object")
    assert [r.response_format_type for r in fake_llm.requests] == ["json_schema", "json_object"]
    assert "JSON" in fake_llm.requests[1].messages[0]["content"], "JSON mode needs the word JSON in the prompt"


def test_llm_auth_error_is_not_retried(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.set_mode("unauthorized")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == llm_error(
        "the model server rejected the request (HTTP 401) (after 1 request)",
        prompt_tokens=0,
        completion_tokens=0,
        llm_outcome="rejected",
    )
    assert fake_llm.calls == {"unauthorized": 1}
    assert_clean_logs(run.stderr)


def test_syntax_error_is_a_fail_tag_and_context_for_the_model(runner_env, store_payload, backend, fake_llm):
    store_payload(SYNTAX_BROKEN)
    run = run_runner(runner_env())
    assert run.exit_code == 0
    expected = graded(10.0, criteria(6.0, 3.0, 1.0))
    expected.update(fail_tags=["syntax-error"], feedback=f"{FAKE_FEEDBACK}\n\nAutomatic checks: {SYNTAX_NOTE}")
    assert the_result(backend) == expected
    user_message = fake_llm.requests[0].messages[1]["content"]
    assert user_message.startswith("Static checks computed by Cloudemy:\n- Python syntax check failed on line 2:")


@pytest.mark.parametrize(("code", "fail_tags", "note"), [
    (GOOD_CODE, [], "Python syntax check: passed."),
    (SYNTAX_BROKEN, ["syntax-error"], SYNTAX_NOTE),
])  # fmt: skip
def test_no_llm_configured_uses_offline_grader(runner_env, store_payload, backend, fake_llm, code, fail_tags, note):
    store_payload(code)
    run = run_runner(runner_env(LLM_API_KEY="", LLM_BASE_URL=""))
    assert run.exit_code == 0
    assert the_result(backend) == {
        "status": "needs_review",
        "score": None,
        "max_score": 10.0,
        "fail_tags": fail_tags,
        "feedback": f"{OFFLINE_FEEDBACK}\n\nAutomatic checks: {note}",
        "metrics": {
            "grader": "offline",
            "model": None,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "attempts": 0,
            "response_format": None,
            "llm_outcome": None,
            "samples": 0,
            "max_spread": 0.0,
            "confidence": None,
            "runner_version": __version__,
        },
        "criteria": None,
        "grader": "offline",
    }
    assert fake_llm.requests == []
    assert "openai" not in run.stderr.lower()


def test_payload_missing_is_an_error_result(runner_env, backend, fake_llm):
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert backend.results()[0].query == {}, "without a payload the attempt is unknown"
    assert the_result(backend) == {
        "status": "error",
        "score": None,
        "max_score": None,
        "fail_tags": ["payload-missing"],
        "feedback": "Automatic grading failed: the submission's grading data was not found (it may have expired)."
        f"\n\n{REGRADE}",
        "metrics": {
            "grader": "llm",
            "model": None,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "attempts": 0,
            "response_format": None,
            "llm_outcome": None,
            "samples": 0,
            "max_spread": 0.0,
            "confidence": None,
            "runner_version": __version__,
        },
        "criteria": None,
        "grader": None,
    }
    assert fake_llm.requests == []


def test_inline_payload_of_the_previous_release_is_graded_the_same(runner_env, redis_client, backend, fake_llm):
    """A submission queued before the upgrade (the assignment copied into its hash) grades after it."""
    write_inline_payload(redis_client, make_payload())
    fake_llm.set_mode("good", fraction=0.5)
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert the_result(backend) == graded(5.0, criteria(3.0, 1.5, 0.5))


def test_snapshot_gone_is_payload_missing(runner_env, store_payload, redis_client, backend, fake_llm):
    """The hash is there but the assignment snapshot it names was evicted: nothing to grade against."""
    payload = store_payload()
    redis_client.delete(payload.redis_records().snapshot_key)
    run = run_runner(runner_env())
    assert run.exit_code == 0
    result = the_result(backend)
    assert (result["status"], result["fail_tags"], result["score"]) == ("error", ["payload-missing"], None)
    assert fake_llm.requests == []


def test_malformed_payload_is_an_error_result(runner_env, redis_client, backend, fake_llm):
    redis_client.hset(submission_key(SUBMISSION_ID), mapping={"submission_id": SUBMISSION_ID, "code": "x = 1"})
    run = run_runner(runner_env())
    assert run.exit_code == 0
    result = the_result(backend)
    assert (result["status"], result["fail_tags"], result["score"]) == ("error", ["payload-invalid"], None)
    assert fake_llm.requests == []


def _start_runner(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cloudemy_runner"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_backend_down_for_a_while_then_up_result_posted_once(runner_env, store_payload, fake_llm):
    store_payload()
    late = RecordingBackend()  # not listening yet: connection refused
    proc = _start_runner(runner_env(BACKEND_INTERNAL_URL=late.internal_url))
    try:
        wait_for(lambda: fake_llm.requests, 30, what="the LLM request")
        time.sleep(1.5)  # the runner is now retrying its result POST against a closed port
        late.start()
        _, stderr = proc.communicate(timeout=60)
    finally:
        late.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert len(late.results()) == 1, "posted exactly once, after the backend came up"
    assert the_result(late) == graded(10.0, criteria(6.0, 3.0, 1.0))
    retries = [e for e in log_events(stderr) if e["msg"] == "result post failed, retrying"]
    assert retries, "the runner retried against the closed port"
    assert retries[0]["attempt_number"] == 1


def test_backend_answering_503_then_ok_result_stored_once(runner_env, store_payload, backend, fake_llm):
    store_payload()
    backend.fail_next(503, 502)
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert [r.answered for r in backend.results()] == [503, 502, 200]
    assert the_result(backend) == graded(10.0, criteria(6.0, 3.0, 1.0))
    bodies = [r.body for r in backend.results()]
    assert bodies[0] == bodies[1] == bodies[2], "the retried POST carries the same result"


def test_backend_409_means_already_final(runner_env, store_payload, backend, fake_llm):
    store_payload()
    backend.force_result_status = 409
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert [r.answered for r in backend.results()] == [409]


def test_backend_401_on_result_is_a_configuration_error(runner_env, store_payload, backend, fake_llm):
    store_payload()
    backend.force_result_status = 401
    run = run_runner(runner_env())
    assert run.exit_code == 2
    assert [r.answered for r in backend.results()] == [401]
    assert "INTERNAL_RESULT_TOKEN" in run.stderr


def test_wrong_token_stops_before_grading(runner_env, store_payload, backend, fake_llm):
    store_payload()
    run = run_runner(runner_env(INTERNAL_RESULT_TOKEN=submission_token(MASTER_TOKEN, "0" * 24)))
    assert run.exit_code == 2
    assert [r.answered for r in backend.received] == [401]
    assert fake_llm.requests == [], "no LLM spend when nothing could be posted"


def test_backend_rejecting_result_exits_1(runner_env, store_payload, backend, fake_llm):
    store_payload()
    backend.force_result_status = 422
    run = run_runner(runner_env())
    assert run.exit_code == 1
    assert [r.answered for r in backend.results()] == [422], "a 4xx other than 409/401 is not retried"


def test_backend_never_up_exits_1_before_deadline(runner_env, store_payload, fake_llm):
    store_payload()
    never = RecordingBackend()
    run = run_runner(runner_env(BACKEND_INTERNAL_URL=never.internal_url, JOB_DEADLINE_SECONDS="5"))
    assert run.exit_code == 1
    assert run.seconds < 5 + 3, "gives up at 90 % of the deadline (plus interpreter start and exit)"
    assert any(e["msg"] == "result could not be posted" and e["level"] == "ERROR" for e in log_events(run.stderr))


@pytest.mark.parametrize("missing", ["SUBMISSION_ID", "REDIS_URL", "BACKEND_INTERNAL_URL", "INTERNAL_RESULT_TOKEN"])
def test_missing_environment_is_a_configuration_error(runner_env, backend, fake_llm, missing):
    run = run_runner(runner_env(**{missing: None}))
    assert run.exit_code == 2
    assert missing in run.stderr
    assert backend.received == []
    assert LLM_KEY not in run.stderr


def test_invalid_submission_id_is_a_configuration_error(runner_env, backend, fake_llm):
    run = run_runner(runner_env(SUBMISSION_ID="../../admin"))
    assert run.exit_code == 2
    assert "SUBMISSION_ID" in run.stderr
    assert backend.received == []


def test_debug_logs_of_every_library_hold_no_code_key_or_token(runner_env, store_payload, backend, fake_llm):
    store_payload()
    fake_llm.queue("server_error")
    run = run_runner(runner_env(LOG_LEVEL="DEBUG", OPENAI_LOG="debug"))
    assert run.exit_code == 0
    assert len(fake_llm.requests) == 2, "the 500 was retried once"
    assert_clean_logs(run.stderr)


def test_concurrent_runners_for_one_submission_store_one_result(runner_env, store_payload, backend, fake_llm):
    """A Job retried while the first pod still runs: both post, the first wins, the second gets 200 or 409."""
    store_payload()
    env = runner_env()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(run_runner(env).exit_code)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [0, 0]
    assert len(backend.stored) == 1
    assert {r.answered for r in backend.results()} <= {200, 409}


def test_pod_hostname_gives_job_name_and_attempt(runner_env, backend, fake_llm):
    """A Job's pod is named after its Job: status carries the Job name, a payload-less result its attempt."""
    run = run_runner(runner_env(HOSTNAME=f"{job_name(SUBMISSION_ID, 3)}-x7k2p"))
    assert run.exit_code == 0
    assert backend.statuses()[0].body == {"status": "running", "job_name": job_name(SUBMISSION_ID, 3)}
    assert backend.results()[0].query == {"attempt": "3"}


def test_offline_grader_never_imports_the_openai_client(runner_env, store_payload, backend, fake_llm):
    """The heavy client is imported only when a model is called (it dominates the runner's start-up)."""
    store_payload()
    probe = (
        "import sys, cloudemy_runner.__main__ as m; code = m.main(); "
        "print(sorted(n for n in ('openai', 'redis', 'httpx') if n in sys.modules)); sys.exit(code)"
    )
    offline = subprocess.run(
        [sys.executable, "-c", probe], env=runner_env(LLM_API_KEY="", LLM_BASE_URL=""), capture_output=True, text=True
    )
    assert (offline.returncode, offline.stdout.strip()) == (0, "['redis']")
    store_payload()
    backend.stored.clear()
    online = subprocess.run([sys.executable, "-c", probe], env=runner_env(), capture_output=True, text=True)
    assert (online.returncode, online.stdout.strip()) == (0, "['openai', 'redis']")
