"""The runner's calls to the internal API in-process: headers, status reporting, and how each answer
of the result POST is classified."""

import time

import pytest
from runner_support import MASTER_TOKEN, SUBMISSION_ID, RecordingBackend

from cloudemy_common.jobs import RunnerJob, job_name
from cloudemy_common.models import ResultBody
from cloudemy_common.tokens import submission_token
from cloudemy_runner import __version__
from cloudemy_runner.config import Budget
from cloudemy_runner.grading import own_job
from cloudemy_runner.reporter import Delivery, SubmissionReporter

TOKEN = submission_token(MASTER_TOKEN, SUBMISSION_ID)
RESULT = ResultBody(status="needs_review", max_score=10, feedback="An instructor will grade it.", grader="offline")


def client_for(backend: RecordingBackend, budget: float = 30, token: str = TOKEN) -> SubmissionReporter:
    return SubmissionReporter(backend.internal_url + "/", SUBMISSION_ID, token, Budget(budget))


def test_status_and_result_requests(backend):
    client = client_for(backend)
    assert client.report_running() is Delivery.POSTED
    assert client.post_result(RESULT) is Delivery.POSTED
    status, result = backend.received
    assert status.path == f"/internal/submissions/{SUBMISSION_ID}/status"
    assert status.body == {"status": "running"}
    assert result.path == f"/internal/submissions/{SUBMISSION_ID}/result"
    assert result.body == RESULT.to_wire()
    for request in (status, result):
        assert request.headers["x-result-token"] == TOKEN
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == f"cloudemy-runner/{__version__}"


def test_status_failures_do_not_hold_up_grading(backend):
    backend.force_status_status = 500
    started = time.monotonic()
    assert client_for(backend).report_running() is Delivery.UNREACHABLE
    assert len(backend.statuses()) == 3
    assert time.monotonic() - started < 5


def test_status_on_closed_port_gives_up_quickly():
    started = time.monotonic()
    assert client_for(RecordingBackend()).report_running() is Delivery.UNREACHABLE
    assert time.monotonic() - started < 5


def test_status_401_is_reported(backend):
    assert client_for(backend, token="wrong").report_running() is Delivery.UNAUTHORIZED


def test_result_outcomes(backend):
    for code, outcome in [(409, Delivery.ALREADY_FINAL), (401, Delivery.UNAUTHORIZED),
                          (403, Delivery.UNAUTHORIZED), (404, Delivery.REJECTED),
                          (422, Delivery.REJECTED)]:  # fmt: skip
        backend.force_result_status = code
        client = client_for(backend)
        assert client.post_result(RESULT) is outcome
        assert client.result_attempts == 1, f"HTTP {code} is not retried"


def test_result_5xx_retried_until_posting_phase_ends():
    backend = RecordingBackend().start()
    try:
        backend.force_result_status = 503
        client = client_for(backend, budget=3)  # posting phase: 2.7 s
        started = time.monotonic()
        assert client.post_result(RESULT) is Delivery.UNREACHABLE
        assert time.monotonic() - started < 5
        assert client.result_attempts >= 3
    finally:
        backend.stop()


@pytest.mark.parametrize(
    ("hostname", "job"),
    [(f"{job_name(SUBMISSION_ID)}-abcde", RunnerJob(SUBMISSION_ID, 1)),
     (f"{job_name(SUBMISSION_ID, 2)}-abcde", RunnerJob(SUBMISSION_ID, 2)),
     (f"{job_name('0' * 24)}-abcde", None),  # another submission's Job
     ("laptop.local", None), (None, None), (job_name(SUBMISSION_ID), None)],
)  # fmt: skip
def test_own_job_from_the_pod_hostname(hostname, job):
    assert own_job(SUBMISSION_ID, hostname) == job
