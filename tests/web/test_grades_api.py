"""GET /api/assignments/{id}/grades.csv (and its JSON twin): the latest submission per student,
spreadsheet-safe, for instructors and admins only. Runs against `python -m cloudemy_backend`."""

import csv
import io

import pytest
from ui_harness import Api, User

COLUMNS = [
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
]


def graded(api: Api, submission_id: str, score: float, status: str = "graded") -> None:
    api.post_status(submission_id, "running")
    api.post_result(submission_id, status=status, score=score, max_score=10, feedback="ok", fail_tags=[], metrics={})


def read_csv(api: Api, user: User, assignment_id: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    resp = api.http.get(f"/api/assignments/{assignment_id}/grades.csv", headers=user.headers)
    assert resp.status_code == 200, resp.text
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0] == COLUMNS
    return dict(resp.headers), [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


@pytest.fixture(scope="module")
def course(ui_backend: Api) -> dict:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = api.create_assignment(instructor)
    formula = api.create_user("student", name='=HYPERLINK("http://evil.example","click")')
    plain = api.create_user("student", name="김민준 Kim")
    plus = api.create_user("student", name="+1 Plus")
    idle = api.create_user("student")
    api.enrol(assignment, formula, plain, plus, idle)
    first = api.submit(formula, assignment["id"], "def reverse(xs):\n    return xs\n")
    graded(api, first["id"], 4)
    latest = api.submit(formula, assignment["id"], "def reverse(xs):\n    return xs[::-1]\n")
    graded(api, latest["id"], 9)
    review = api.submit(plain, assignment["id"], "print('hi')\n")
    graded(api, review["id"], 5, status="needs_review")
    pending = api.submit(plus, assignment["id"], "x = 1\n")
    return {
        "instructor": instructor,
        "assignment": assignment,
        "formula": formula,
        "plain": plain,
        "plus": plus,
        "idle": idle,
        "first": first,
        "latest": latest,
        "review": review,
        "pending": pending,
    }


def test_csv_holds_the_latest_submission_of_each_student(ui_backend: Api, course: dict) -> None:
    headers, rows = read_csv(ui_backend, course["instructor"], course["assignment"]["id"])
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"].startswith("attachment;")
    assert headers["cache-control"] == "no-store"
    by_user = {row["user_id"]: row for row in rows}
    assert set(by_user) == {course["formula"].id, course["plain"].id, course["plus"].id}  # idle never submitted

    formula = by_user[course["formula"].id]
    assert formula["submission_id"] == course["latest"]["id"]
    assert (formula["status"], formula["score"], formula["max_score"], formula["attempt"]) == ("graded", "9", "10", "1")
    assert formula["graded_at"]
    assert formula["student_email"] == course["formula"].email

    review = by_user[course["plain"].id]
    assert (review["status"], review["score"], review["student_name"]) == ("needs_review", "5", "김민준 Kim")

    pending = by_user[course["plus"].id]
    assert (pending["status"], pending["score"], pending["graded_at"], pending["max_score"]) == ("queued", "", "", "10")


def test_csv_defuses_spreadsheet_formulas(ui_backend: Api, course: dict) -> None:
    _, rows = read_csv(ui_backend, course["instructor"], course["assignment"]["id"])
    names = {row["user_id"]: row["student_name"] for row in rows}
    assert names[course["formula"].id] == "'" + course["formula"].name
    assert names[course["plus"].id] == "'+1 Plus"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_a_regrade_shows_the_next_attempt(ui_backend: Api, course: dict) -> None:
    api = ui_backend
    instructor = course["instructor"]
    review_id = course["review"]["id"]
    resp = api.http.post(f"/api/submissions/{review_id}/regrade", headers=instructor.headers)
    assert resp.status_code == 202, resp.text
    _, rows = read_csv(api, instructor, course["assignment"]["id"])
    row = next(r for r in rows if r["submission_id"] == review_id)
    assert (row["attempt"], row["status"], row["score"]) == ("2", "queued", "")
    graded(api, review_id, 8)
    _, rows = read_csv(api, instructor, course["assignment"]["id"])
    row = next(r for r in rows if r["submission_id"] == review_id)
    assert (row["attempt"], row["status"], row["score"]) == ("2", "graded", "8")


def test_json_twin_has_the_same_rows(ui_backend: Api, course: dict) -> None:
    api = ui_backend
    assignment_id = course["assignment"]["id"]
    resp = api.http.get(f"/api/assignments/{assignment_id}/grades", headers=course["instructor"].headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["assignment_id"] == assignment_id
    assert body["max_score"] == 10
    _, rows = read_csv(api, course["instructor"], assignment_id)
    assert sorted(i["submission_id"] for i in body["items"]) == sorted(r["submission_id"] for r in rows)
    names = {i["user_id"]: i["student_name"] for i in body["items"]}
    assert names[course["formula"].id] == course["formula"].name  # JSON is data, not a spreadsheet: unchanged


def test_admins_may_export_too(ui_backend: Api, course: dict) -> None:
    _, rows = read_csv(ui_backend, ui_backend.admin, course["assignment"]["id"])
    assert len(rows) == 3


@pytest.mark.parametrize("suffix", ["grades.csv", "grades"])
def test_students_are_refused(ui_backend: Api, course: dict, suffix: str) -> None:
    for student in (course["formula"], course["idle"]):
        resp = ui_backend.http.get(f"/api/assignments/{course['assignment']['id']}/{suffix}", headers=student.headers)
        assert resp.status_code == 403
        assert "detail" in resp.json()


@pytest.mark.parametrize("suffix", ["grades.csv", "grades"])
def test_anonymous_and_forged_tokens_are_refused(ui_backend: Api, course: dict, suffix: str) -> None:
    url = f"/api/assignments/{course['assignment']['id']}/{suffix}"
    assert ui_backend.http.get(url).status_code == 401
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}
    assert ui_backend.http.get(url, headers=forged).status_code == 401


@pytest.mark.parametrize("assignment_id", ["0123456789abcdef01234567", "not-an-id", "%00", "a" * 300])
def test_unknown_assignments_are_404(ui_backend: Api, course: dict, assignment_id: str) -> None:
    resp = ui_backend.http.get(f"/api/assignments/{assignment_id}/grades.csv", headers=course["instructor"].headers)
    assert resp.status_code == 404
    assert resp.json() == {"detail": "assignment not found"}


def test_an_assignment_without_submissions_has_only_the_header(ui_backend: Api, course: dict) -> None:
    empty = ui_backend.create_assignment(course["instructor"], published=False)
    _, rows = read_csv(ui_backend, course["instructor"], empty["id"])
    assert rows == []
