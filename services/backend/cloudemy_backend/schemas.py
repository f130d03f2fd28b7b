"""Request and response models of the public API (the internal API uses cloudemy_common.models)."""

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from cloudemy_backend.limits import MAX_TESTS_TOTAL_BYTES
from cloudemy_backend.storage import history_of
from cloudemy_backend.visibility import HIDDEN_TEST_NAME, TestCatalog, assignment_tests_for, result_for
from cloudemy_common.languages import Language
from cloudemy_common.models import (
    MAX_CODE_CHARS,
    MAX_CRITERIA,
    MAX_CRITERION_FEEDBACK_CHARS,
    MAX_FAIL_TAGS,
    MAX_FEEDBACK_CHARS,
    RubricCriterion,
    Score,
    Slug,
    StoredResult,
)
from cloudemy_common.program_tests import MAX_TESTS, Limits, ProgramTest, TestOutcome, Verdict, validate_tests


def single_line_text(value: str) -> str:
    """Reject control characters (NUL, newlines, escapes: Unicode category Cc) in a name or title: they
    break CSV rows, terminals and log lines, and no person's name contains them."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not contain control characters")
    return value


Role = Literal["student", "instructor", "admin"]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(single_line_text)
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(single_line_text)
]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Languages = Annotated[list[Language], Field(min_length=1, max_length=8)]
Rubric = Annotated[list[RubricCriterion], Field(max_length=MAX_CRITERIA)]
Tests = Annotated[list[ProgramTest], Field(max_length=MAX_TESTS)]
FailTags = Annotated[list[Slug], Field(max_length=MAX_FAIL_TAGS)]
CourseRole = Literal["instructor", "ta", "student"]
CourseCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
JoinCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=64)]


def _to_utc(value: datetime) -> datetime:
    """Stored and compared in UTC, at BSON's millisecond precision."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# A time with its zone (``2026-12-01T23:59:00+01:00`` or ``...Z``); a time without one is ambiguous: 422.
UtcTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
PenaltyPercent = Annotated[float, Field(ge=0, le=100, description="per started day after due_at")]
MaxSubmissions = Annotated[int, Field(ge=1, le=10_000, description="null: unlimited")]
ExtraSubmissions = Annotated[int, Field(ge=0, le=10_000)]


def reject_invalid_text(value: Any) -> Any:
    """Raise ValueError for a string that is not valid Unicode (a lone surrogate from a JSON ``\\ud800``
    escape), which neither MongoDB nor Redis can store; returns ``value`` unchanged otherwise."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_invalid_text(key)
            reject_invalid_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            reject_invalid_text(item)
    return value


class RequestBody(BaseModel):
    """Request bodies reject unknown fields and text that is not valid Unicode (422)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        return reject_invalid_text(data)


def _unique_rubric_ids(rubric: list[RubricCriterion] | None) -> None:
    if rubric is not None and len({c.id for c in rubric}) != len(rubric):
        raise ValueError("rubric criterion ids must be unique")


def _bounded_tests(tests: list[ProgramTest] | None) -> None:
    """Ids unique among the tests; all their input and expected output together within MAX_TESTS_TOTAL_BYTES."""
    if tests is None:
        return
    validate_tests(tests, [])
    total = sum(len(t.stdin.encode("utf-8")) + len(t.expected_stdout.encode("utf-8")) for t in tests)
    if total > MAX_TESTS_TOTAL_BYTES:
        raise ValueError(
            f"the tests' stdin and expected_stdout total {total} bytes; at most {MAX_TESTS_TOTAL_BYTES} together"
        )


def check_grading(rubric: list[RubricCriterion], tests: list[ProgramTest]) -> None:
    """What an assignment as a whole must satisfy: something to grade (a rubric criterion or a test), and test ids
    distinct from the rubric's ids. Raises ValueError naming the problem."""
    if not rubric and not tests:
        raise ValueError("an assignment needs at least one rubric criterion or one test")
    validate_tests(tests, [c.id for c in rubric])


# --- users ---------------------------------------------------------------------------------------------------


class UserRegister(RequestBody):
    email: EmailStr
    password: Password
    name: Name


class UserCreate(UserRegister):
    role: Role = "student"


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type


# --- assignments ---------------------------------------------------------------------------------------------


class ReferenceSolution(RequestBody):
    """The instructor's own solution: what "run against the reference solution" grades. Staff-only."""

    language: Language
    code: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CODE_CHARS)] = Field(
        description="at most MAX_CODE_BYTES UTF-8 bytes (413 beyond)"
    )


def check_schedule(opens_at: datetime | None, due_at: datetime | None, late_until: datetime | None) -> None:
    """ValueError unless opens_at < due_at <= late_until (each optional; late_until needs due_at)."""
    if opens_at is not None and due_at is not None and due_at <= opens_at:
        raise ValueError("due_at must be after opens_at")
    if late_until is not None and due_at is None:
        raise ValueError("late_until needs a due_at")
    if late_until is not None and due_at is not None and late_until < due_at:
        raise ValueError("late_until must not be before due_at")


class Schedule(RequestBody):
    """When an assignment takes submissions, how late ones are penalised and how many each student has."""

    opens_at: UtcTime | None = Field(default=None, description="submissions before it: 403 not open yet")
    due_at: UtcTime | None = Field(default=None, description="later submissions are late (or closed)")
    late_until: UtcTime | None = Field(default=None, description="late submissions accepted until then")
    late_penalty_percent_per_day: PenaltyPercent = 0
    max_submissions: MaxSubmissions | None = None
    release: Literal["immediate", "manual"] = "immediate"
    counted: Literal["last", "best"] = Field(default="last", description="which submission the gradebook takes")


class AssignmentCreate(Schedule):
    """``max_score`` is computed: the rubric's points plus the tests' points. The rubric may be empty when there are
    tests (graded by the tests alone, no LLM)."""

    title: Title
    description: Description = ""
    languages: Languages
    rubric: Rubric = []
    tests: Tests = Field(default=[], description="instructor tests run against every submission, in this order")
    limits: Limits = Field(default=Limits(), description="each test's default time, memory and output limits")
    fail_tags: FailTags = []
    published: bool = False
    reference_solution: ReferenceSolution | None = None

    @model_validator(mode="after")
    def _check_grading(self) -> Self:
        _unique_rubric_ids(self.rubric)
        _bounded_tests(self.tests)
        check_grading(self.rubric, self.tests)
        check_schedule(self.opens_at, self.due_at, self.late_until)
        return self


class AssignmentUpdate(RequestBody):
    """Only the fields present change; ``max_score`` follows the rubric and the tests. ``reference_solution: null``
    removes the stored one."""

    title: Title | None = None
    description: Description | None = None
    languages: Languages | None = None
    rubric: Rubric | None = None
    tests: Tests | None = None
    limits: Limits | None = None
    fail_tags: FailTags | None = None
    published: bool | None = None
    reference_solution: ReferenceSolution | None = None
    # Dates and the limit may be set to null (cleared); the schedule is checked against the stored one.
    opens_at: UtcTime | None = None
    due_at: UtcTime | None = None
    late_until: UtcTime | None = None
    late_penalty_percent_per_day: PenaltyPercent | None = None
    max_submissions: MaxSubmissions | None = None
    release: Literal["immediate", "manual"] | None = None
    counted: Literal["last", "best"] | None = None

    @model_validator(mode="after")
    def _check_rubric(self) -> Self:
        _unique_rubric_ids(self.rubric)
        _bounded_tests(self.tests)
        return self


class HiddenTestOut(BaseModel):
    """A hidden test as students see it on the assignment: that it exists and what it is worth, nothing else."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: Literal["Hidden test"] = HIDDEN_TEST_NAME
    hidden: Literal[True] = True
    points: float


CLEARABLE_FIELDS = frozenset({"opens_at", "due_at", "late_until", "max_submissions", "reference_solution"})


class MySubmissions(BaseModel):
    """The caller's own standing on an assignment: their deadlines (extensions included) and attempts."""

    used: int
    allowed: int | None = Field(description="max_submissions plus the caller's extra_submissions; null: unlimited")
    due_at: datetime | None
    late_until: datetime | None
    extended: bool


class AssignmentOut(BaseModel):
    id: str
    course_id: str
    title: str
    description: str
    languages: list[str]
    rubric: list[RubricCriterion]
    tests: list[Annotated[HiddenTestOut | ProgramTest, Field(union_mode="left_to_right")]] = Field(
        default=[], description="staff see every field; students see hidden tests as id, name, hidden and points"
    )
    limits: Limits = Limits()
    fail_tags: list[str]
    published: bool
    max_score: float
    owner_id: str
    opens_at: datetime | None = None
    due_at: datetime | None = None
    late_until: datetime | None = None
    late_penalty_percent_per_day: float = 0
    max_submissions: int | None = None
    release: Literal["immediate", "manual"] = "immediate"
    released_at: datetime | None = Field(default=None, description="when staff released the grades (release: manual)")
    counted: Literal["last", "best"] = "last"
    created_at: datetime
    updated_at: datetime
    reference_solution: ReferenceSolution | None = Field(default=None, description="staff only")
    mine: MySubmissions | None = Field(default=None, description="the caller's deadlines and attempts")


class AssignmentPage(BaseModel):
    items: list[AssignmentOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# --- submissions ---------------------------------------------------------------------------------------------


class SubmissionCreate(RequestBody):
    language: Language
    code: str = Field(description="the source code; at most MAX_CODE_BYTES UTF-8 bytes (413 beyond)")


class TestRunCreate(RequestBody):
    """A staff test run: the given code, or (both fields omitted) the assignment's stored reference solution."""

    __test__ = False  # not a pytest class, despite the name

    language: Language | None = None
    code: str | None = Field(default=None, description="at most MAX_CODE_BYTES UTF-8 bytes (413 beyond)")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.language is None) != (self.code is None):
            raise ValueError("give both language and code, or neither to run the stored reference solution")
        return self


class CriterionGrade(RequestBody):
    id: Slug
    score: Score = Field(description="0 to the criterion's points")
    feedback: Annotated[str, StringConstraints(max_length=MAX_CRITERION_FEEDBACK_CHARS)] = ""


class TestPoints(RequestBody):
    __test__ = False  # not a pytest class, despite the name

    id: Slug
    points: Score = Field(description="0 to the test's points")


class ManualGrade(RequestBody):
    """An instructor's grade over any terminal result: a single score, or per criterion and per test (then the
    score is computed from them; criteria and tests not named keep the replaced result's marks)."""

    score: Score | None = Field(default=None, description="0 to the assignment's max_score")
    feedback: Annotated[str, StringConstraints(max_length=MAX_FEEDBACK_CHARS)] = ""
    criteria: Annotated[list[CriterionGrade], Field(max_length=MAX_CRITERIA)] | None = None
    tests: Annotated[list[TestPoints], Field(max_length=MAX_TESTS)] | None = None

    @model_validator(mode="after")
    def _something_to_grade(self) -> Self:
        if self.score is None and not self.criteria and not self.tests:
            raise ValueError("give a score, or marks per criterion or per test")
        for name, items in (("criteria", self.criteria or []), ("tests", self.tests or [])):
            ids = [item.id for item in items]
            if len(ids) != len(set(ids)):
                raise ValueError(f"{name} ids must be unique")
        return self


class HistoryEntryOut(BaseModel):
    """One result the submission had: the current one last (``replaced_at`` null)."""

    attempt: int | None
    result: dict[str, Any] | None
    replaced_at: datetime | None
    replaced_by: str | None = Field(description="the user whose override or regrade replaced it")
    reason: Literal["override", "regrade"] | None


class RegradeRequestCreate(RequestBody):
    message: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class RegradeRequestResolve(RequestBody):
    response: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    grade: ManualGrade | None = Field(default=None, description="an override given in the same step")


class RegradeRequestOut(BaseModel):
    id: str
    submission_id: str
    course_id: str | None
    assignment_id: str
    user_id: str
    message: str
    state: Literal["open", "resolved"]
    created_at: datetime
    response: str | None
    resolved_by: str | None
    resolved_at: datetime | None


def regrade_request_out(doc: dict[str, Any]) -> RegradeRequestOut:
    fields = {k: doc.get(k) for k in RegradeRequestOut.model_fields if k != "id"}
    return RegradeRequestOut(id=str(doc["_id"]), **fields)


class BulkRegrade(RequestBody):
    statuses: Annotated[list[Literal["graded", "needs_review", "error", "timeout"]], Field(min_length=1)] | None = None


class BulkRegradeOut(BaseModel):
    queued: int


class BulkRegradeProgress(BaseModel):
    total: int
    done: int
    started_at: datetime | None
    by: str | None


class ReleaseOut(BaseModel):
    id: str
    released_at: datetime
    changed: bool = Field(description="false when the assignment was already released")


class CriterionAgreement(BaseModel):
    id: str
    pairs: int
    mean_abs_diff: float | None
    agreed: int = Field(default=0, description="pairs where the instructor kept the LLM's mark")


class AgreementOut(BaseModel):
    pairs: int = Field(description="LLM results an instructor overrode")
    mean_abs_diff: float | None = Field(description="mean |LLM score - instructor score| over the pairs")
    exact_rate: float | None = Field(description="share of pairs where both scores are equal")
    per_criterion: list[CriterionAgreement]


class TestResultOut(TestOutcome):
    """One test's outcome as staff see it (every field), and as its student sees a visible test."""

    name: str = Field(default="", description="the test's name on the assignment")
    hidden: bool = False


class HiddenTestResultOut(HiddenTestOut):
    """A hidden test's outcome as students see it: the verdict and points only (no input, output or timing)."""

    verdict: Verdict
    max_points: float


class UnreleasedResultOut(BaseModel):
    """What a student sees of a result before staff release the assignment's grades."""

    model_config = ConfigDict(extra="forbid")

    released: Literal[False] = False


class ResultOut(StoredResult):
    """The result embedded in a submission: the stored result (the runner's, scheduler's, sweep's or an
    instructor's verdict) as it was written, its test outcomes as this viewer may see them."""

    tests: list[Annotated[HiddenTestResultOut | TestResultOut, Field(union_mode="left_to_right")]] | None = Field(
        default=None, description="per-test outcomes, in the assignment's order; absent without tests"
    )


class TestVerdictOut(BaseModel):
    """One test's outcome in a list of submissions: verdict and points (its outputs are on the submission itself)."""

    __test__ = False  # not a pytest class, despite the name

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    hidden: bool
    verdict: Verdict
    points: float
    max_points: float


class ResultSummaryOut(ResultOut):
    """A result in a list of submissions: every test's verdict and points, no outputs and no compiler output
    (a page of 100 submissions would otherwise carry up to 100 x 100 tests' excerpts)."""

    tests: list[TestVerdictOut] | None = None


class SubmissionState(BaseModel):
    """What a status poll returns: enough to know whether to fetch the whole submission again."""

    id: str
    status: str
    attempt: int
    updated_at: datetime


class SubmissionSummary(BaseModel):
    id: str
    course_id: str | None = None
    late: bool = False
    late_days: int = 0
    penalty_percent: float = Field(default=0, description="taken off the score when the result arrives")
    assignment_id: str
    user_id: str
    language: str
    status: str
    attempt: int
    created_at: datetime
    updated_at: datetime
    result: Annotated[ResultSummaryOut | UnreleasedResultOut, Field(union_mode="left_to_right")] | None
    test_run: bool = Field(default=False, description="a staff run (reference solution): never counted as a grade")


class SubmissionOut(SubmissionSummary):
    code: str
    result: Annotated[ResultOut | UnreleasedResultOut, Field(union_mode="left_to_right")] | None
    history: list[HistoryEntryOut] | None = Field(
        default=None, description="staff only: every result ever stored, the current one last"
    )
    regrade_requests: list[RegradeRequestOut] = Field(default=[], description="for the owner and the staff")


class SubmissionPage(BaseModel):
    items: list[SubmissionSummary] = Field(description="newest first; without the code (GET one for it)")
    next_cursor: str | None


# --- internal API --------------------------------------------------------------------------------------------


class StatusAck(BaseModel):
    id: str
    status: str
    attempt: int
    applied: bool = Field(description="false when the lifecycle kept the current status (never backwards)")


# --- operations ----------------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    mongo: str
    redis: str


class ErrorOut(BaseModel):
    detail: Any


def user_out(doc: dict[str, Any]) -> UserOut:
    return UserOut(
        id=str(doc["_id"]), email=doc["email"], name=doc["name"], role=doc["role"], created_at=doc["created_at"]
    )


def assignment_out(doc: dict[str, Any], mine: MySubmissions | None = None, *, staff: bool = False) -> AssignmentOut:
    """The assignment as this viewer may see it: students get hidden tests cut down and no reference solution
    (``staff=False``, the default, is the student view); ``mine`` is the viewer's own deadlines and attempts."""
    hidden = {"_id", "id", "tests", "reference_solution", "mine"}
    fields = {k: v for k, v in doc.items() if k in AssignmentOut.model_fields and k not in hidden}
    fields["tests"] = assignment_tests_for(doc.get("tests") or [], staff=staff)
    if staff:
        fields["reference_solution"] = doc.get("reference_solution")
    return AssignmentOut(id=str(doc["_id"]), mine=mine, **fields)


def submission_summary(
    doc: dict[str, Any], catalog: TestCatalog | None = None, *, staff: bool = False
) -> SubmissionSummary:
    """A submission without its code; ``catalog`` (its assignment's tests) labels the test outcomes, which a
    student sees filtered (without a catalog every test counts as hidden)."""
    return SubmissionSummary(id=str(doc["_id"]), **_submission_fields(doc, catalog, staff, brief=True))


def submission_out(
    doc: dict[str, Any],
    catalog: TestCatalog | None = None,
    *,
    staff: bool = False,
    regrade_requests: list[dict[str, Any]] | None = None,
) -> SubmissionOut:
    """One submission as this viewer may see it; staff also get its whole history of results."""
    history = [HistoryEntryOut(**entry) for entry in history_of(doc)] if staff else None
    requests = [regrade_request_out(r) for r in regrade_requests or []]
    return SubmissionOut(
        id=str(doc["_id"]),
        code=doc["code"],
        history=history,
        regrade_requests=requests,
        **_submission_fields(doc, catalog, staff, brief=False),
    )


def _submission_fields(doc: dict[str, Any], catalog: TestCatalog | None, staff: bool, *, brief: bool) -> dict[str, Any]:
    names = ("assignment_id", "user_id", "language", "status", "attempt", "created_at", "updated_at")
    fields = {name: doc[name] for name in names}
    fields["result"] = result_for(doc.get("result"), catalog, staff=staff, brief=brief)
    fields["test_run"] = bool(doc.get("test_run"))
    fields.update({name: doc[name] for name in ("course_id", "late", "late_days", "penalty_percent") if name in doc})
    return fields


# --- courses -------------------------------------------------------------------------------------------------


class CourseCreate(RequestBody):
    code: CourseCode = Field(description="the course's short name, e.g. CS101")
    title: Title
    term: Term = ""


class CourseUpdate(RequestBody):
    code: CourseCode | None = None
    title: Title | None = None
    term: Term | None = None
    archived: bool | None = Field(default=None, description="true: read-only from then on (false reopens it)")


class CourseOut(BaseModel):
    id: str
    code: str
    title: str
    term: str
    join_code: str | None = Field(description="shown to the course's staff only")
    archived: bool
    my_role: Literal["instructor", "ta", "student", "admin"]
    created_at: datetime


class JoinRequest(RequestBody):
    join_code: JoinCode


class MemberCreate(RequestBody):
    email: EmailStr
    role: CourseRole = "student"


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    role: CourseRole
    created_at: datetime


class RosterReport(BaseModel):
    added: list[str] = Field(description="emails now members")
    already_present: list[str] = Field(description="emails that were members already (role unchanged)")
    unknown: list[str] = Field(description="emails without an account; nothing was done for them")


class ExtensionIn(RequestBody):
    due_at: UtcTime
    late_until: UtcTime | None = None
    extra_submissions: ExtraSubmissions = 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_schedule(None, self.due_at, self.late_until)
        return self


class ExtensionOut(BaseModel):
    assignment_id: str
    user_id: str
    due_at: datetime
    late_until: datetime | None
    extra_submissions: int
    updated_at: datetime


def course_out(doc: dict[str, Any], my_role: str) -> CourseOut:
    staff = my_role in {"instructor", "ta", "admin"}
    return CourseOut(
        id=str(doc["_id"]),
        code=doc["code"],
        title=doc["title"],
        term=doc.get("term", ""),
        join_code=doc["join_code"] if staff else None,
        archived=doc.get("archived", False),
        my_role=my_role,
        created_at=doc["created_at"],
    )


def member_out(doc: dict[str, Any]) -> MemberOut:
    return MemberOut(
        user_id=doc["user_id"], email=doc["email"], name=doc["name"], role=doc["role"], created_at=doc["created_at"]
    )


def extension_out(doc: dict[str, Any]) -> ExtensionOut:
    return ExtensionOut(**{name: doc.get(name) for name in ExtensionOut.model_fields})
