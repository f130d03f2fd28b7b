"""EXECUTOR=local: runners as subprocesses with the Job's env; deadline kill -> timeout; the cap applies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scheduler_harness import MASTER_TOKEN, QUEUE, job_template_file, message, sid, wait_for

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.payload_store import write_payload
from cloudemy_common.tokens import result_grant, verify_result_token
from cloudemy_scheduler.executors.kubelet_env import expand, resolve_env
from cloudemy_scheduler.job_template import runner_container
from demo.chart import job_template_of, render

STANDIN = Path(__file__).with_name("standin_runner.py")
ROOT = Path(__file__).resolve().parents[2]


def template_file(tmp_path, backend, *, deadline=120, backoff=1):
    """A local runner starts at once: no startup allowance, so the Job's deadline is ``deadline``."""
    values = (f"runner.job.activeDeadlineSeconds={deadline}", "runner.job.startupAllowanceSeconds=0",
              f"runner.job.backoffLimit={backoff}")  # fmt: skip
    return job_template_file(tmp_path / "job.yaml", backend.internal_url, *values)


def by_key(secrets):
    """The local executor's lookup: a secretKeyRef's key in the scheduler's environment, whatever the Secret."""
    return lambda name, key: secrets.get(key)


def local(env_for, tmp_path, mode, **extra):
    command = f"{sys.executable} {STANDIN} {mode} {tmp_path}"
    return {"executor": "local", "runner_command": command, **extra}


def test_kubelet_style_expansion():
    defined = {"A": "1", "PASS": "p@ss"}
    assert expand("redis://:$(PASS)@h:6379/0", defined) == "redis://:p@ss@h:6379/0"
    assert expand("$(MISSING) and $$(A) and $(A)", defined) == "$(MISSING) and $(A) and 1"
    container = {"env": [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "REDIS_PASSWORD"}}},
        {"name": "REDIS_URL", "value": "redis://:$(REDIS_PASSWORD)@r:6379/0"},
        {"name": "EARLY", "value": "$(LATER)"},
        {"name": "LATER", "value": "x"},
        {"name": "OPTIONAL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "NOPE", "optional": True}}},
        {"name": "REQUIRED", "valueFrom": {"secretKeyRef": {"name": "s", "key": "NOPE"}}},
    ]}  # fmt: skip
    env = resolve_env(container, by_key({"REDIS_PASSWORD": "pw"}))
    assert env == {"REDIS_PASSWORD": "pw", "REDIS_URL": "redis://:pw@r:6379/0", "EARLY": "$(LATER)",
                   "LATER": "x", "REQUIRED": ""}  # fmt: skip


def test_runner_gets_the_jobs_env_and_never_the_master_token(tmp_path, env_for, redis_client, start_scheduler, backend):
    start_scheduler(**local(env_for, tmp_path, "record"), llm_api_key="sk-local-secret")
    redis_client.rpush(QUEUE, message(1))
    recorded = wait_for(lambda: (tmp_path / f"{sid(1)}.json").exists(), what="the runner ran")
    assert recorded
    env = json.loads((tmp_path / f"{sid(1)}.json").read_text())
    assert env["SUBMISSION_ID"] == sid(1)
    grant = result_grant(MASTER_TOKEN, sid(1), env["INTERNAL_RESULT_TOKEN"])
    assert grant is not None
    assert (grant.kind, grant.attempt) == ("attempt", 1), "bound to this attempt, with an expiry"
    assert result_grant(MASTER_TOKEN, sid(2), env["INTERNAL_RESULT_TOKEN"]) is None
    assert env["LLM_API_KEY"] == "sk-local-secret", "secretKeyRef resolved from the scheduler's env"
    assert env["LLM_MODEL"] == "gpt-4o-mini"
    assert env["BACKEND_INTERNAL_URL"] == backend.internal_url
    assert MASTER_TOKEN not in json.dumps(env)
    wait_for(lambda: redis_client.zcard(QUEUE + ":active-jobs") == 0, what="slot freed after exit 0")
    assert backend.posts("/result") == [], "a runner that exits 0 posted its own result"


def test_redis_password_reaches_the_runner_through_a_secret_ref():
    """The chart's bundled Redis: the runner's own password is in the Secret, never in the Job; the runner gets a
    URL naming its least-privilege user, and never the services' password."""
    template = job_template_of(
        render(set_values=("secrets.redisPassword=services-password", "secrets.redisRunnerPassword=runner-password"))
    )
    container = runner_container(template)
    entries = {e["name"]: e for e in container["env"]}
    assert "runner-password" not in json.dumps(template)
    assert "services-password" not in json.dumps(template)
    assert entries["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "REDIS_RUNNER_PASSWORD"
    assert entries["REDIS_URL"]["value"] == "redis://cloudemy-runner:$(REDIS_PASSWORD)@cloudemy-redis:6379/0"
    env = resolve_env(
        container, by_key({"REDIS_PASSWORD": "services-password", "REDIS_RUNNER_PASSWORD": "runner-password"})
    )
    assert env["REDIS_URL"] == "redis://cloudemy-runner:runner-password@cloudemy-redis:6379/0"


def test_strict_resolution_refuses_a_missing_key_or_an_unknown_source():
    """The end-to-end harness resolves strictly, so a wrong Secret key in the chart fails its tests."""
    missing = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "NOPE"}}}]}
    with pytest.raises(LookupError, match="NOPE"):
        resolve_env(missing, by_key({}), strict=True)
    unknown = {"env": [{"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}
    with pytest.raises(LookupError, match="configMapKeyRef"):
        resolve_env(unknown, by_key({}), strict=True)
    assert resolve_env(unknown, by_key({})) == {}, "left out when not strict"
    field = {"env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]}
    assert resolve_env(field, by_key({}), fields={"metadata.namespace": "physics"}) == {"NS": "physics"}


def test_hanging_runner_is_killed_at_the_deadline_and_reported_as_timeout(
    tmp_path, env_for, redis_client, start_scheduler, backend
):
    template = template_file(tmp_path, backend, deadline=1)
    start_scheduler(**local(env_for, tmp_path, "hang"), runner_job_template=template)
    redis_client.rpush(QUEUE, message(2))
    pid = int(wait_for(lambda: (tmp_path / f"{sid(2)}.pid").exists() and (tmp_path / f"{sid(2)}.pid").read_text(),
                       what="runner started"))  # fmt: skip
    result = wait_for(lambda: backend.results_for(sid(2)), timeout=15, what="timeout result")[0]
    assert result["status"] == "timeout"
    assert result["fail_tags"] == ["deadline-exceeded"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    wait_for(lambda: redis_client.zcard(QUEUE + ":active-jobs") == 0, what="slot freed")


def test_failing_runner_is_retried_up_to_backoff_limit_then_reported(
    tmp_path, env_for, redis_client, start_scheduler, backend
):
    template = template_file(tmp_path, backend, backoff=1)
    start_scheduler(**local(env_for, tmp_path, "fail"), runner_job_template=template)
    redis_client.rpush(QUEUE, message(3))
    result = wait_for(lambda: backend.results_for(sid(3)), what="error result")[0]
    assert result["status"] == "error"
    assert result["fail_tags"] == ["runner-failed"]
    assert "exit code 3" in result["feedback"]
    assert (tmp_path / f"{sid(3)}.runs").read_text().count("run") == 2, "first run plus backoffLimit=1 retry"


def test_cap_applies_to_local_runners(tmp_path, env_for, redis_client, start_scheduler):
    start_scheduler(**local(env_for, tmp_path, "busy"), max_active_jobs=2)
    redis_client.rpush(QUEUE, *(message(10 + n) for n in range(6)))
    wait_for(lambda: len(list(tmp_path.glob("*.span"))) == 6, timeout=30, what="six runs")
    spans = [json.loads(p.read_text()) for p in tmp_path.glob("*.span")]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2, "never more than MAX_ACTIVE_JOBS runners at once"


@pytest.fixture
def runner_payload(redis_client):
    payload = SubmissionPayload(
        submission_id=sid(50), user_id=sid(51), assignment_id=sid(52), language="python",
        code="def add(a, b):\n    return a + b\n", attempt=1,
        assignment={"title": "Add", "description": "Write add(a, b).", "max_score": 10, "fail_tags": [],
                    "rubric": [{"id": "correct", "title": "Correct", "description": "adds", "points": 10}]},
    )  # fmt: skip
    write_payload(redis_client, payload)
    return payload


def test_real_runner_subprocess_completes(env_for, redis_client, start_scheduler, backend, runner_payload):
    """``python -m cloudemy_runner`` itself, with no LLM configured: the offline grader posts the result."""
    probe = subprocess.run([sys.executable, "-c", "import cloudemy_runner.__main__"], capture_output=True,
                           check=False, cwd=ROOT)  # fmt: skip
    assert probe.returncode == 0, probe.stderr.decode()[-500:]
    start_scheduler(executor="local")  # no LLM_API_KEY in the scheduler's environment
    redis_client.rpush(QUEUE, message(50))
    post = wait_for(lambda: backend.posts(f"/submissions/{sid(50)}/result"), timeout=60, what="runner's result")[0]
    assert verify_result_token(MASTER_TOKEN, sid(50), post.token)
    assert post.token != MASTER_TOKEN, "the runner used its per-submission token"
    assert post.body["status"] == "needs_review"
    assert post.body["grader"] == "offline"
    assert post.query == {"attempt": "1"}
    wait_for(lambda: redis_client.zcard(QUEUE + ":active-jobs") == 0, what="slot freed after the runner exited")
