"""The runner's grading time: JOB_DEADLINE_SECONDS from its own start, capped to end before the Job's deadline
(JOB_CREATED_AT + JOB_ACTIVE_DEADLINE_SECONDS) when the pod was Pending longer than the startup allowance. Time the
cluster took is never the student's ``timeout``."""

import time
from typing import Any

import pytest
from runner_support import run_runner

from cloudemy_runner.config import HARD_DEADLINE_MARGIN_SECONDS, LLM_PHASE_SHARE, Budget
from fakes.openai_server import FakeOpenAI

GRADING = 16.0
ALLOWANCE = 8.0
JOB_DEADLINE = GRADING + ALLOWANCE


def budget_started_after(pending: float, *, grading: float = 120, job_deadline: float = 300) -> Budget:
    return Budget.for_job(grading, started=1000.0, started_wall=50_000.0 + pending, job_created_at=50_000.0,
                          job_active_deadline_seconds=job_deadline)  # fmt: skip


def test_a_runner_started_within_the_allowance_has_its_whole_grading_time():
    budget = budget_started_after(170)
    assert budget.seconds == 120
    assert not budget.capped
    assert budget.llm_phase_end == 1000 + 120 * LLM_PHASE_SHARE


def test_a_runner_started_after_the_allowance_ends_before_the_jobs_deadline():
    budget = budget_started_after(200)
    assert budget.seconds == pytest.approx(300 - HARD_DEADLINE_MARGIN_SECONDS - 200)
    assert budget.capped
    assert not budget.too_short_to_grade
    assert budget.post_phase_end < budget.hard_end, "posted before Kubernetes kills the Job"


def test_a_runner_started_after_the_jobs_deadline_has_no_time():
    budget = budget_started_after(400)
    assert budget.seconds == 0
    assert budget.too_short_to_grade


def test_a_small_allowance_keeps_a_prompt_runner_whole():
    """The margin never exceeds half the allowance: 2 s of allowance, started 0.5 s after the Job was built."""
    budget = budget_started_after(0.5, grading=4, job_deadline=6)
    assert budget.seconds == 4
    assert not budget.capped


def test_without_the_stamp_the_budget_counts_from_the_runners_start_alone():
    budget = Budget.for_job(120, started=5.0, started_wall=1e9, job_created_at=None, job_active_deadline_seconds=300)
    assert (budget.seconds, budget.capped, budget.hard_end) == (120, False, None)


def late_env(runner_env: Any, pending: float, **overrides: str) -> dict[str, str]:
    """A runner whose Job was created ``pending`` seconds ago."""
    env = {
        "JOB_DEADLINE_SECONDS": f"{GRADING:g}",
        "JOB_ACTIVE_DEADLINE_SECONDS": f"{JOB_DEADLINE:g}",
        "JOB_CREATED_AT": f"{time.time() - pending:.3f}",
        "LLM_REQUEUE_LIMIT": "0",
    }
    return runner_env(**(env | overrides))


def test_pending_beyond_the_allowance_caps_the_budget_and_posts_started_late_before_the_deadline(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    """Pending 14 s of an 8 s allowance: 6 s are left before the margin (4 s, half the allowance); the model is
    too slow for them."""
    store_payload()
    fake_llm.set_mode("slow", delay=60)
    env = late_env(runner_env, 14)
    hard_deadline = float(env["JOB_CREATED_AT"]) + JOB_DEADLINE
    run = run_runner(env)
    assert run.exit_code == 0, run.stderr
    (result,) = backend.results()
    posted_at = run.spawned_at + run.seconds
    assert posted_at < hard_deadline - ALLOWANCE / 2 + 1, "well before Kubernetes kills the Job"
    assert run.seconds < GRADING * 0.6, "the capped budget, not the full grading time"
    assert result.body["status"] == "error", "the cluster's delay is not the student's timeout"
    assert result.body["fail_tags"] == ["started-late"]
    assert "cluster" in result.body["feedback"]
    assert result.body["score"] is None


def test_the_same_slow_model_on_time_is_a_timeout(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    """The contrast: started at once, the runner had its whole grading time, so a model too slow for it times out."""
    store_payload()
    fake_llm.set_mode("slow", delay=60)
    run = run_runner(late_env(runner_env, 0, JOB_DEADLINE_SECONDS="6", JOB_ACTIVE_DEADLINE_SECONDS="14"))
    assert run.exit_code == 0, run.stderr
    (result,) = backend.results()
    assert result.body["status"] == "timeout"
    assert "started-late" not in result.body["fail_tags"]


def test_a_capped_budget_that_suffices_grades_normally(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    store_payload()
    run = run_runner(late_env(runner_env, 12))  # 8 s left of 16: plenty for the fake model
    assert run.exit_code == 0, run.stderr
    (result,) = backend.results()
    assert result.body["status"] == "graded"
    assert result.body["fail_tags"] == []


def test_a_runner_started_after_the_jobs_deadline_posts_at_once_without_asking_the_model(
    runner_env: Any, store_payload: Any, backend: Any, fake_llm: FakeOpenAI
) -> None:
    store_payload()
    run = run_runner(late_env(runner_env, 21))  # past the margin: nothing left
    assert run.exit_code == 0, run.stderr
    (result,) = backend.results()
    assert result.body["fail_tags"] == ["started-late"]
    assert result.body["status"] == "error"
    assert fake_llm.requests == []
