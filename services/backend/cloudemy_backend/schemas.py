"""Request and response models of the public API (the internal API uses cloudemy_common.models)."""

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from cloudemy_common.languages import Language
from cloudemy_common.models import (
    MAX_CRITERIA,
    MAX_FAIL_TAGS,
    MAX_FEEDBACK_CHARS,
    RubricCriterion,
    Score,
    Slug,
    StoredResult,
)


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
Rubric = Annotated[list[RubricCriterion], Field(min_length=1, max_length=MAX_CRITERIA)]
FailTags = Annotated[list[Slug], Field(max_length=MAX_FAIL_TAGS)]


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


class Request(BaseModel):
    """Request bodies reject unknown fields and text that is not valid Unicode (422)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        return reject_invalid_text(data)


def _unique_rubric_ids(rubric: list[RubricCriterion] | None) -> None:
    if rubric is not None and len({c.id for c in rubric}) != len(rubric):
        raise ValueError("rubric criterion ids must be unique")


# --- users ---------------------------------------------------------------------------------------------------


class UserRegister(Request):
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


class AssignmentCreate(Request):
    title: Title
    description: Description = ""
    languages: Languages
    rubric: Rubric
    fail_tags: FailTags = []
    published: bool = False

    @model_validator(mode="after")
    def _check_rubric(self) -> Self:
        _unique_rubric_ids(self.rubric)
        return self


class AssignmentUpdate(Request):
    """Only the fields present change; ``max_score`` follows the rubric."""

    title: Title | None = None
    description: Description | None = None
    languages: Languages | None = None
    rubric: Rubric | None = None
    fail_tags: FailTags | None = None
    published: bool | None = None

    @model_validator(mode="after")
    def _check_rubric(self) -> Self:
        _unique_rubric_ids(self.rubric)
        return self


class AssignmentOut(BaseModel):
    id: str
    title: str
    description: str
    languages: list[str]
    rubric: list[RubricCriterion]
    fail_tags: list[str]
    published: bool
    max_score: float
    owner_id: str
    created_at: datetime
    updated_at: datetime


class AssignmentPage(BaseModel):
    items: list[AssignmentOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# --- submissions ---------------------------------------------------------------------------------------------


class SubmissionCreate(Request):
    language: Language
    code: str = Field(description="the source code; at most MAX_CODE_BYTES UTF-8 bytes (413 beyond)")


class ManualGrade(Request):
    score: Score = Field(description="0 to the assignment's max_score")
    feedback: Annotated[str, StringConstraints(max_length=MAX_FEEDBACK_CHARS)] = ""


class ResultOut(StoredResult):
    """The result embedded in a submission: the stored result (the runner's, scheduler's, sweep's or an
    instructor's verdict) as it was written."""


class SubmissionSummary(BaseModel):
    id: str
    assignment_id: str
    user_id: str
    language: str
    status: str
    attempt: int
    created_at: datetime
    updated_at: datetime
    result: ResultOut | None


class SubmissionOut(SubmissionSummary):
    code: str


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


def assignment_out(doc: dict[str, Any]) -> AssignmentOut:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return AssignmentOut(id=str(doc["_id"]), **fields)


def submission_summary(doc: dict[str, Any]) -> SubmissionSummary:
    return SubmissionSummary(id=str(doc["_id"]), **_submission_fields(doc))


def submission_out(doc: dict[str, Any]) -> SubmissionOut:
    return SubmissionOut(id=str(doc["_id"]), code=doc["code"], **_submission_fields(doc))


def _submission_fields(doc: dict[str, Any]) -> dict[str, Any]:
    names = ("assignment_id", "user_id", "language", "status", "attempt", "created_at", "updated_at", "result")
    return {name: doc[name] for name in names}
