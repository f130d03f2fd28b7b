"""Pydantic models of the wire contracts: queue message, Redis payload, internal API bodies, stored result."""

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cloudemy_common.ids import OBJECT_ID_PATTERN
from cloudemy_common.jobs import DNS_LABEL_PATTERN
from cloudemy_common.keys import ASSIGNMENT_VERSION_PATTERN, assignment_snapshot_key
from cloudemy_common.languages import Language
from cloudemy_common.program_tests import (
    MAX_TESTS,
    CompileOutput,
    Limits,
    ProgramTest,
    TestOutcome,
    total_test_points,
    validate_tests,
)

ObjectIdStr = Annotated[str, StringConstraints(pattern=OBJECT_ID_PATTERN)]
"""A MongoDB ObjectId in its 24 lowercase hex characters: every submission, user and assignment id."""

Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
"""A short identifier: rubric criterion ids and fail tags."""

MAX_ATTEMPT = 1000
MAX_REQUEUES = 100
"""Hard ceiling of ``LLM_REQUEUE_LIMIT``: how often one attempt may go back to the queue."""
MAX_REQUEUE_DELAY_SECONDS = 3600.0
MAX_CODE_CHARS = 1_048_576  # hard contract ceiling; the backend's MAX_CODE_BYTES is the real limit
MAX_CRITERIA = 50
MAX_FAIL_TAGS = 50
MAX_FEEDBACK_CHARS = 20_000
MAX_CRITERION_FEEDBACK_CHARS = 4_000
MAX_METRICS = 50

Attempt = Annotated[int, Field(ge=1, le=MAX_ATTEMPT)]
Requeues = Annotated[int, Field(ge=0, le=MAX_REQUEUES)]
Points = Annotated[float, Field(gt=0, le=10_000)]
Score = Annotated[float, Field(ge=0, le=1_000_000)]
MetricValue = Annotated[str, StringConstraints(max_length=200)] | int | float | bool | None


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class QueueMessage(_Contract):
    """What the backend RPUSHes onto the submissions queue."""

    submission_id: ObjectIdStr
    language: Language
    attempt: Attempt = 1
    requeue: Requeues = 0
    """How often this attempt went back to the queue (the LLM was unavailable); names its Job."""

    def to_json(self) -> str:
        """Submission id, language and attempt; ``requeue`` only once the attempt was handed back."""
        return self.model_dump_json(exclude={"requeue"} if self.requeue == 0 else None)


class RubricCriterion(_Contract):
    id: Slug
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=4_000)] = ""
    points: Points


class AssignmentSpec(_Contract):
    """The part of an assignment a runner needs to grade: stored once per version as the snapshot
    ``assignment:{id}:{version}`` (its compact JSON, ``snapshot_json``) that payloads refer to."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    rubric: Annotated[list[RubricCriterion], Field(max_length=MAX_CRITERIA)] = []
    max_score: Score
    fail_tags: Annotated[list[Slug], Field(max_length=MAX_FAIL_TAGS)] = []
    tests: Annotated[list[ProgramTest], Field(max_length=MAX_TESTS)] = []
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _rubric_consistent(self) -> Self:
        if not self.rubric and not self.tests:
            raise ValueError("an assignment needs a rubric criterion or a test")
        ids = [c.id for c in self.rubric]
        if len(set(ids)) != len(ids):
            raise ValueError("rubric criterion ids must be unique")
        validate_tests(self.tests, ids)
        if abs(sum(c.points for c in self.rubric) + total_test_points(self.tests) - self.max_score) > 1e-6:
            raise ValueError("max_score must equal the sum of the rubric's and the tests' points")
        return self

    def snapshot_json(self) -> str:
        """The snapshot's text in Redis: compact JSON in field order, the bytes its version is the digest of."""
        return self.model_dump_json()


def assignment_version(snapshot: str | bytes) -> str:
    """The version of an assignment snapshot: the first 128 bits of the SHA-256 of its text, in hex. Identical
    content has one version (every submission of it shares one snapshot); any edit a runner would see is a new
    one."""
    data = snapshot.encode() if isinstance(snapshot, str) else snapshot
    return hashlib.sha256(data).hexdigest()[:32]


class PayloadRecords(NamedTuple):
    """What the backend writes for one attempt: the payload hash's fields and the snapshot they refer to."""

    fields: dict[str, str]
    snapshot_key: str
    snapshot: str


class SubmissionPayload(_Contract):
    """One attempt as a runner grades it: the submission (ids, language, code), its attempt, and the assignment.

    In Redis it is two keys. The hash ``submission:{id}`` holds flat string fields ``submission_id``,
    ``user_id``, ``assignment_id``, ``language``, ``code``, ``attempt`` and ``assignment_version``; the string
    ``assignment:{assignment_id}:{assignment_version}`` holds the assignment's snapshot, shared by every payload
    of that version. A hash written before snapshots existed carries the assignment inline instead (field
    ``assignment``, the same JSON); the parser reads both.
    """

    submission_id: ObjectIdStr
    user_id: ObjectIdStr
    assignment_id: ObjectIdStr
    language: Language
    code: Annotated[str, StringConstraints(max_length=MAX_CODE_CHARS)]
    attempt: Attempt = 1
    assignment: AssignmentSpec

    def redis_records(self) -> PayloadRecords:
        """The hash fields (referring to the assignment by version) and the snapshot with its key."""
        snapshot = self.assignment.snapshot_json()
        version = assignment_version(snapshot)
        fields = {k: str(v) for k, v in self.model_dump(mode="json", exclude={"assignment"}).items()}
        fields["assignment_version"] = version
        return PayloadRecords(fields, assignment_snapshot_key(self.assignment_id, version), snapshot)

    @staticmethod
    def reference_in(raw: Mapping[str, str] | Mapping[bytes, bytes]) -> tuple[str, str] | None:
        """(assignment id, version) of the snapshot a payload hash refers to; None for an inline (older) hash,
        or when its ``assignment_id`` or ``assignment_version`` is malformed (the parser then rejects it)."""
        fields = _decoded(raw)
        if "assignment" in fields:
            return None
        assignment_id, version = fields.get("assignment_id", ""), fields.get("assignment_version", "")
        if not (re.fullmatch(OBJECT_ID_PATTERN, assignment_id) and re.fullmatch(ASSIGNMENT_VERSION_PATTERN, version)):
            return None
        return assignment_id, version

    @staticmethod
    def snapshot_key_in(raw: Mapping[str, str] | Mapping[bytes, bytes]) -> str | None:
        """The snapshot key a payload hash refers to (see ``reference_in``)."""
        reference = SubmissionPayload.reference_in(raw)
        return assignment_snapshot_key(*reference) if reference else None

    @classmethod
    def from_redis_hash(
        cls, raw: Mapping[str, str] | Mapping[bytes, bytes], snapshot: str | bytes | None = None
    ) -> "SubmissionPayload":
        """Parse HGETALL output (str or bytes) with the snapshot it refers to (GET of ``snapshot_key_in``), or
        an inline hash alone; raises ValueError on a malformed hash, or a snapshot absent or not of its
        version."""
        fields = _decoded(raw)
        if "assignment" in fields:
            text = fields.pop("assignment")
        else:
            version = fields.pop("assignment_version", None)
            if version is None:
                raise ValueError("payload has neither assignment_version nor an inline assignment")
            if snapshot is None:
                raise ValueError("assignment snapshot is missing")
            if assignment_version(snapshot) != version:
                raise ValueError("assignment snapshot is not of the payload's assignment_version")
            text = snapshot.decode() if isinstance(snapshot, bytes) else snapshot
        try:
            fields["assignment"] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"assignment field is not JSON: {exc.msg}") from exc
        return cls.model_validate(fields)


def _decoded(raw: Mapping[str, str] | Mapping[bytes, bytes]) -> dict[str, Any]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()
    }


class StatusUpdate(_Contract):
    """Body of ``POST /internal/submissions/{id}/status``."""

    status: Literal["dispatched", "running"]
    job_name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN)] | None = None


RequeueReason = Literal[
    "rate-limited", "server-error", "connection-error", "timeout", "budget-exhausted", "llm-busy", "breaker-open"
]
"""Why an attempt went back to the queue: the LLM's availability, never the submission itself."""
REQUEUE_REASONS: frozenset[str] = frozenset(RequeueReason.__args__)  # type: ignore[attr-defined]


class RequeueRequest(_Contract):
    """Body of ``POST /internal/submissions/{id}/requeue``: a runner hands its attempt back to the queue
    because the LLM provider is unavailable (an outage, 429s, the shared budget full, the breaker open)."""

    reason: RequeueReason
    retry_after_seconds: Annotated[float, Field(ge=0, le=MAX_REQUEUE_DELAY_SECONDS)] = 0.0
    """The earliest useful retry (the provider's Retry-After, the breaker's open time): the delay's floor."""


class RequeueAnswer(_Contract):
    """What the backend did with a requeue request (200); 409 when the attempt may not go back again."""

    requeued: bool
    requeue: Requeues
    delay_seconds: float


class CriterionResult(_Contract):
    id: Slug
    score: Score
    max_score: Score
    feedback: Annotated[str, StringConstraints(max_length=MAX_CRITERION_FEEDBACK_CHARS)] = ""

    @model_validator(mode="after")
    def _score_within_max(self) -> Self:
        if self.score > self.max_score + 1e-9:
            raise ValueError("criterion score exceeds its max_score")
        return self


class ResultBody(_Contract):
    """Body of ``POST /internal/submissions/{id}/result``: one terminal grading outcome."""

    status: Literal["graded", "needs_review", "error", "timeout"]
    score: Score | None = None
    max_score: Score | None = None
    fail_tags: Annotated[list[Slug], Field(max_length=MAX_FAIL_TAGS)] = []
    feedback: Annotated[str, StringConstraints(max_length=MAX_FEEDBACK_CHARS)] = ""
    metrics: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], MetricValue],
        Field(max_length=MAX_METRICS),
    ] = {}
    criteria: Annotated[list[CriterionResult], Field(max_length=MAX_CRITERIA)] | None = None
    grader: Literal["llm", "offline", "tests"] | None = None
    tests: Annotated[list[TestOutcome], Field(max_length=MAX_TESTS)] | None = None
    compile_output: CompileOutput | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body a runner posts; a result without tests keeps its old shape (no test keys)."""
        absent = {key for key in ("tests", "compile_output") if getattr(self, key) is None}
        return self.model_dump(mode="json", exclude=absent)

    @model_validator(mode="after")
    def _score_within_max(self) -> Self:
        if self.score is not None and self.max_score is not None and self.score > self.max_score + 1e-9:
            raise ValueError("score exceeds max_score")
        return self


class StoredResult(ResultBody):
    """A terminal result as stored in its submission, and as the public API shows it.

    Every writer builds one: the internal result API from the posted ``ResultBody`` (the runner's grading or
    the scheduler's failure report), the sweep for a submission lost in flight (``grader`` ``sweep``), and an
    instructor's manual grade (``grader`` ``manual``, ``graded_by`` their user id).
    """

    grader: Literal["llm", "offline", "tests", "manual", "sweep"] | None = None
    attempt: Attempt
    received_at: datetime
    graded_by: Annotated[str | None, Field(description="the instructor's user id for a manual grade")] = None
    graded_by_name: Annotated[
        str | None, Field(max_length=200, description="the instructor's name, shown to the student")
    ] = None
    score_before_penalty: Annotated[
        float | None, Field(description="the score as graded, before a late submission's penalty (score is after)")
    ] = None

    @classmethod
    def from_body(cls, body: ResultBody, *, attempt: int, received_at: datetime) -> "StoredResult":
        return cls(**body.model_dump(), attempt=attempt, received_at=received_at)

    def to_document(self) -> dict[str, Any]:
        """The sub-document written to MongoDB (dates stay dates)."""
        return self.model_dump(mode="python")
