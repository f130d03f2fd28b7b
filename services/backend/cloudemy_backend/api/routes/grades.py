"""Grades of one assignment: the latest submission of every student, as JSON and as a CSV download.

The course's staff only (a student of the course gets 403, anyone else 404). A row holds the
student's newest submission with its current attempt's status and score, so a regrade shows up as
the higher attempt number. Text cells that a spreadsheet would read as a formula (starting with
``= + - @``, a tab or a carriage return) are prefixed with ``'`` (CSV injection).
"""

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from cloudemy_backend.api.course_access import STAFF, CourseAccess, require_course_role
from cloudemy_backend.api.deps import BackendDep
from cloudemy_backend.schemas import ErrorOut
from cloudemy_backend.storage import Document, Storage

router = APIRouter(prefix="/api/assignments", tags=["grades"])

CSV_COLUMNS = (
    "student_email",
    "student_name",
    "user_id",
    "submission_id",
    "attempt",
    "status",
    "score",
    "max_score",
    "submitted_at",
    "graded_at",
    "late",
    "score_before_penalty",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class GradeRow(BaseModel):
    student_email: str | None
    student_name: str | None
    user_id: str
    submission_id: str
    attempt: int
    status: str
    score: float | None
    max_score: float | None
    submitted_at: datetime
    graded_at: datetime | None
    late: bool = False
    score_before_penalty: float | None = None


class Grades(BaseModel):
    assignment_id: str
    title: str
    max_score: float
    items: list[GradeRow]


async def grade_rows(storage: Storage, assignment: Document) -> list[GradeRow]:
    """One aggregation for the latest submissions and one query for their students, whatever the class size."""
    latest = await storage.latest_per_student(str(assignment["_id"]))
    students = await storage.users_by_ids([doc["user_id"] for doc in latest])
    rows = []
    enrolled = set(await storage.student_ids(assignment["course_id"]))
    for doc in latest:
        if doc["user_id"] not in enrolled:  # staff's own runs and former members are not graded
            continue
        user = students.get(doc["user_id"])
        result: dict[str, Any] = doc.get("result") or {}
        rows.append(
            GradeRow(
                student_email=user["email"] if user else None,
                student_name=user["name"] if user else None,
                user_id=doc["user_id"],
                submission_id=str(doc["_id"]),
                attempt=doc["attempt"],
                status=doc["status"],
                score=result.get("score"),
                max_score=result["max_score"] if result.get("max_score") is not None else assignment["max_score"],
                submitted_at=doc["created_at"],
                graded_at=result.get("received_at"),
                late=bool(doc.get("late")),
                score_before_penalty=result.get("score_before_penalty"),
            )
        )
    rows.sort(key=lambda row: ((row.student_email or "").lower(), row.user_id))
    return rows


async def load_grades(storage: Storage, assignment: Document) -> Grades:
    return Grades(
        assignment_id=str(assignment["_id"]),
        title=assignment["title"],
        max_score=assignment["max_score"],
        items=await grade_rows(storage, assignment),
    )


def safe_cell(value: object) -> str:
    """One CSV cell: numbers without a needless ``.0``, times in ISO 8601, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def grades_csv(grades: Grades) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in grades.items:
        data = row.model_dump()
        writer.writerow([safe_cell(data[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    """A spreadsheet-safe CSV download (UTF-8 with BOM, so Excel reads names right)."""
    return Response(
        content="\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


RESPONSES: dict[int | str, dict[str, Any]] = {403: {"model": ErrorOut}, 404: {"model": ErrorOut}}
StaffReads = Annotated[CourseAccess, require_course_role("assignment", STAFF)]


@router.get("/{assignment_id}/grades", response_model=Grades, responses=RESPONSES)
async def get_grades(backend: BackendDep, access: StaffReads) -> Grades:
    """The latest submission of every student who submitted, with status and score."""
    assert access.assignment is not None
    return await load_grades(backend.storage, access.assignment)


@router.get(
    "/{assignment_id}/grades.csv",
    response_class=Response,
    responses={**RESPONSES, 200: {"content": {"text/csv": {}}, "description": "one row per student"}},
)
async def get_grades_csv(backend: BackendDep, access: StaffReads) -> Response:
    """The same rows as ``/grades`` as a spreadsheet-safe CSV."""
    assert access.assignment is not None
    grades = await load_grades(backend.storage, access.assignment)
    return csv_response(grades_csv(grades), f"grades-{grades.assignment_id}.csv")
