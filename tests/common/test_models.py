import json

import pytest
from pydantic import ValidationError

from cloudemy_common.jobs import job_name
from cloudemy_common.keys import (
    DEFAULT_PAYLOAD_TTL_SECONDS,
    DEFAULT_QUEUE,
    active_jobs,
    assignment_refs_key,
    dead_queue,
    processing_owners,
    processing_queue,
    processing_unowned,
    schedulers,
    submission_key,
)
from cloudemy_common.models import (
    AssignmentSpec,
    QueueMessage,
    ResultBody,
    StatusUpdate,
    SubmissionPayload,
    assignment_version,
)

SID = "507f1f77bcf86cd799439011"
UID = "64b7f0c2a1b2c3d4e5f60718"
AID = "64b7f0c2a1b2c3d4e5f60719"

ASSIGNMENT = {
    "title": "FizzBuzz",
    "description": "Print 1..100",
    "rubric": [
        {"id": "correctness", "title": "Correct", "description": "", "points": 6},
        {"id": "style", "title": "Style", "description": "PEP 8", "points": 4},
    ],
    "max_score": 10,
    "fail_tags": ["off-by-one"],
}


def test_key_names():
    """The Redis contract, spelled out once: every other test uses these functions."""
    assert DEFAULT_QUEUE == "queue:submissions"
    assert DEFAULT_PAYLOAD_TTL_SECONDS == 7 * 24 * 3600
    assert processing_queue() == "queue:submissions:processing"
    assert processing_owners("q") == "q:processing:owners"
    assert processing_unowned("q") == "q:processing:unowned"
    assert schedulers("q") == "q:schedulers"
    assert active_jobs("q") == "q:active-jobs"
    assert dead_queue("q") == "q:dead"
    assert submission_key(SID) == f"submission:{SID}"
    assert job_name(SID) == f"runner-{SID}"
    assert job_name(SID, 2) == f"runner-{SID}-2"


def test_queue_message_round_trip_and_default_attempt():
    msg = QueueMessage.model_validate_json(json.dumps({"submission_id": SID, "language": "python"}))
    assert msg.attempt == 1
    assert QueueMessage.model_validate_json(msg.to_json()) == msg


@pytest.mark.parametrize(
    "raw",
    [
        {"submission_id": SID.upper(), "language": "python"},
        {"submission_id": SID[:-1], "language": "python"},
        {"submission_id": SID, "language": "cobol"},
        {"submission_id": SID, "language": "python", "attempt": 0},
        {"submission_id": SID, "language": "python", "attempt": 1001},
        {"submission_id": SID, "language": "python", "extra": 1},
        {"language": "python"},
    ],
)
def test_queue_message_rejects(raw):
    with pytest.raises(ValidationError):
        QueueMessage.model_validate(raw)


def _payload(**assignment_changes: object) -> SubmissionPayload:
    return SubmissionPayload(
        submission_id=SID,
        user_id=UID,
        assignment_id=AID,
        language="python",
        code="print('hi')\n",
        attempt=2,
        assignment=AssignmentSpec.model_validate(ASSIGNMENT | assignment_changes),
    )


def test_payload_redis_round_trip():
    payload = _payload()
    records = payload.redis_records()
    flat = records.fields
    assert all(isinstance(v, str) for v in flat.values())
    assert set(flat) == {
        "submission_id", "user_id", "assignment_id", "language", "code", "attempt", "assignment_version",
    }  # fmt: skip
    assert records.snapshot_key == f"assignment:{AID}:{flat['assignment_version']}"
    assert assignment_refs_key(AID, flat["assignment_version"]) == f"assignment-refs:{AID}:{flat['assignment_version']}"
    assert SubmissionPayload.snapshot_key_in(flat) == records.snapshot_key
    assert SubmissionPayload.from_redis_hash(flat, records.snapshot) == payload
    as_bytes = {k.encode(): v.encode() for k, v in flat.items()}
    assert SubmissionPayload.snapshot_key_in(as_bytes) == records.snapshot_key
    assert SubmissionPayload.from_redis_hash(as_bytes, records.snapshot.encode()) == payload


def test_assignment_version_is_a_digest_of_what_the_runner_grades():
    first, again = _payload().redis_records(), _payload().redis_records()
    assert first.snapshot_key == again.snapshot_key, "identical content shares one snapshot"
    assert first.fields["assignment_version"] == assignment_version(first.snapshot)
    edited = _payload(description="Print 1..100, one number a line").redis_records()
    assert edited.snapshot_key != first.snapshot_key, "an edit is a new version"
    assert edited.fields["assignment_id"] == first.fields["assignment_id"]


def test_payload_needs_its_snapshot_and_of_its_version():
    records = _payload().redis_records()
    with pytest.raises(ValueError, match="missing"):
        SubmissionPayload.from_redis_hash(records.fields)
    other = _payload(title="Other").redis_records().snapshot
    with pytest.raises(ValueError, match="not of the payload's assignment_version"):
        SubmissionPayload.from_redis_hash(records.fields, other)
    no_reference = {k: v for k, v in records.fields.items() if k != "assignment_version"}
    with pytest.raises(ValueError, match="neither"):
        SubmissionPayload.from_redis_hash(no_reference, records.snapshot)


def test_inline_payload_of_an_older_release_parses():
    payload = _payload()
    inline = {k: v for k, v in payload.redis_records().fields.items() if k != "assignment_version"}
    inline["assignment"] = json.dumps(ASSIGNMENT)
    assert SubmissionPayload.snapshot_key_in(inline) is None
    assert SubmissionPayload.from_redis_hash(inline) == payload


@pytest.mark.parametrize(
    "fields",
    [
        {"assignment_id": AID, "assignment_version": "0" * 31},
        {"assignment_id": AID, "assignment_version": "*"},
        {"assignment_id": "x:*", "assignment_version": "0" * 32},
        {"assignment_version": "0" * 32},
    ],
)
def test_malformed_reference_names_no_key(fields):
    assert SubmissionPayload.snapshot_key_in(fields) is None


def test_payload_rejects_broken_assignment_json():
    flat = {"submission_id": SID, "user_id": UID, "assignment_id": AID, "language": "python", "code": "x"}
    with pytest.raises(ValueError, match="not JSON"):
        SubmissionPayload.from_redis_hash({**flat, "assignment": "{oops"})


@pytest.mark.parametrize(
    "change",
    [
        {"max_score": 11},
        {"rubric": []},
        {"rubric": [ASSIGNMENT["rubric"][0], ASSIGNMENT["rubric"][0]], "max_score": 12},
        {"rubric": [{"id": "bad id!", "title": "x", "points": 10}]},
        {"rubric": [{"id": "a", "title": "x", "points": -1}], "max_score": -1},
        {"title": "x" * 201},
        {"fail_tags": ["Not A Tag"]},
    ],
)
def test_assignment_rejects(change):
    with pytest.raises(ValidationError):
        AssignmentSpec.model_validate({**ASSIGNMENT, **change})


def test_status_update():
    assert StatusUpdate(status="running", job_name=f"runner-{SID}").status == "running"
    for bad in ({"status": "graded"}, {"status": "pending"}, {"status": "running", "job_name": "Bad_Name"}):
        with pytest.raises(ValidationError):
            StatusUpdate.model_validate(bad)


def test_result_round_trip():
    body = ResultBody.model_validate(
        {
            "status": "graded",
            "score": 7.5,
            "max_score": 10,
            "fail_tags": ["off-by-one"],
            "feedback": "Good.",
            "metrics": {"model": "gpt-4o-mini", "prompt_tokens": 812, "llm_latency_ms": 930.5},
            "criteria": [{"id": "correctness", "score": 5, "max_score": 6, "feedback": "ok"}],
            "grader": "llm",
        }
    )
    assert ResultBody.model_validate_json(body.model_dump_json()) == body


@pytest.mark.parametrize(
    "raw",
    [
        {"status": "running"},
        {"status": "graded", "score": 11, "max_score": 10},
        {"status": "graded", "score": -1},
        {"status": "graded", "feedback": "x" * 20_001},
        {"status": "graded", "fail_tags": ["ok"] * 51},
        {"status": "graded", "metrics": {f"k{i}": i for i in range(51)}},
        {"status": "graded", "metrics": {"k": "v" * 201}},
        {"status": "graded", "metrics": {"k": {"nested": 1}}},
        {"status": "graded", "criteria": [{"id": "c", "score": 3, "max_score": 2}]},
        {"status": "graded", "grader": "human"},
        {"status": "graded", "unknown": True},
    ],
)
def test_result_rejects(raw):
    with pytest.raises(ValidationError):
        ResultBody.model_validate(raw)


def test_a_stored_result_is_the_posted_body_plus_attempt_and_arrival():
    from datetime import UTC, datetime

    from cloudemy_common.models import StoredResult

    body = ResultBody(status="graded", score=7, max_score=10, criteria=[], grader="llm", metrics={"tokens": 3})
    arrived = datetime(2026, 1, 2, tzinfo=UTC)
    stored = StoredResult.from_body(body, attempt=2, received_at=arrived)
    document = stored.to_document()
    expected = {**body.model_dump(), "attempt": 2, "received_at": arrived, "graded_by": None, "graded_by_name": None}
    assert document == {**expected, "score_before_penalty": None}
    assert StoredResult.model_validate(document) == stored
    with pytest.raises(ValidationError):
        StoredResult(status="graded", score=11, max_score=10, attempt=1, received_at=arrived)
    with pytest.raises(ValidationError):
        StoredResult(status="graded", attempt=1, received_at=arrived, grader="someone")
