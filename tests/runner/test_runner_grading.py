"""The grading flow in-process: a bug still ends in a readable, final result, and its log holds no code."""

from runner_support import SUBMISSION_ID

from cloudemy_runner import grading
from cloudemy_runner.config import Budget, RunnerSettings


def test_a_bug_ends_in_an_internal_error_result(monkeypatch, redis_url, store_payload, caplog):
    store_payload()
    secret = "print('student code that must never be logged')"

    def broken(*_args, **_kwargs):
        raise ValueError(f"input was {secret}")

    monkeypatch.setattr(grading, "grade_payload", broken)
    settings = RunnerSettings(
        submission_id=SUBMISSION_ID,
        redis_url=redis_url,
        backend_internal_url="http://127.0.0.1:1/internal",
        internal_result_token="t",
    )
    outcome = grading.produce_result(settings, Budget(60))
    assert outcome.attempt == 1
    body = outcome.result
    assert (body.status, body.score, body.max_score, body.fail_tags, body.grader) == (
        "error", None, 10.0, ["internal-error"], None,
    )  # fmt: skip
    assert body.feedback.startswith("Automatic grading failed because of an internal error in the grader.")
    assert body.metrics["grader"] == "offline"
    (logged,) = [r for r in caplog.records if r.getMessage() == "internal error while grading"]
    assert logged.error_type == "ValueError"
    assert logged.at.startswith("test_runner_grading.py:")
    assert "student code" not in caplog.text
