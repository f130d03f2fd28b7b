"""Deadlines, late penalties, extensions and submission limits, judged by a clock the test controls."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from backend_api import MASTER_TOKEN, Actor, assignment_body, graded_result

from cloudemy_backend.core.config import Settings
from cloudemy_backend.main import create_app

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CODE = {"language": "python", "code": "print('hi')\n"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, delta: timedelta) -> None:
        self.now = T0 + delta


def iso(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def scheduled(client: httpx.AsyncClient, actors: dict[str, Actor], course: dict[str, Any]) -> dict[str, Any]:
    """Opens at T0, due one day later, late submissions for three more days at 10 % per day, 3 submissions."""
    body = assignment_body(
        opens_at=iso(timedelta(0)),
        due_at=iso(timedelta(days=1)),
        late_until=iso(timedelta(days=4)),
        late_penalty_percent_per_day=10,
        max_submissions=3,
    )
    created = await client.post(
        f"/api/courses/{course['id']}/assignments", json=body, headers=actors["instructor"].headers
    )
    assert created.status_code == 201, created.text
    return created.json()


async def submit(client: httpx.AsyncClient, assignment: dict, who: Actor) -> httpx.Response:
    return await client.post(f"/api/assignments/{assignment['id']}/submissions", json=CODE, headers=who.headers)


async def post_result(client: httpx.AsyncClient, submission_id: str, **overrides: Any) -> httpx.Response:
    return await client.post(
        f"/internal/submissions/{submission_id}/result",
        json=graded_result(**overrides),
        headers={"X-Result-Token": MASTER_TOKEN},
    )


async def test_the_window_decides_on_time_late_and_closed(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock
) -> None:
    student = actors["student"]
    clock.at(timedelta(minutes=-1))
    early = await submit(client, scheduled, student)
    assert (early.status_code, early.json()) == (403, {"detail": "not open yet"})

    clock.at(timedelta(days=1))  # exactly at due_at: on time
    on_time = await submit(client, scheduled, student)
    assert on_time.status_code == 202
    assert (on_time.json()["late"], on_time.json()["late_days"]) == (False, 0)

    clock.at(timedelta(days=2, hours=1))  # 25 h after due_at: the second started day
    late = await submit(client, scheduled, student)
    assert late.status_code == 202
    assert (late.json()["late"], late.json()["late_days"], late.json()["penalty_percent"]) == (True, 2, 20)

    clock.at(timedelta(days=4, seconds=1))
    closed = await submit(client, scheduled, student)
    assert (closed.status_code, closed.json()) == (403, {"detail": "closed"})


async def test_the_penalty_is_applied_when_the_result_arrives_and_a_regrade_keeps_it(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock
) -> None:
    clock.at(timedelta(days=1, hours=2))
    sid = (await submit(client, scheduled, actors["student"])).json()["id"]
    stored = await post_result(client, sid, score=8)
    assert stored.status_code == 200, stored.text
    assert (stored.json()["score"], stored.json()["score_before_penalty"]) == (7.2, 8)
    repeat = await post_result(client, sid, score=8)  # the runner re-sends the same result: not a conflict
    assert repeat.status_code == 200
    assert repeat.json()["score"] == 7.2

    clock.at(timedelta(days=30))  # long after the late window: a regrade keeps the original lateness
    staff = actors["instructor"].headers
    assert (await client.post(f"/api/submissions/{sid}/regrade", headers=staff)).status_code == 202
    second = await client.post(
        f"/internal/submissions/{sid}/result?attempt=2",
        json=graded_result(score=10),
        headers={"X-Result-Token": MASTER_TOKEN},
    )
    assert (second.json()["score"], second.json()["score_before_penalty"]) == (9.0, 10)
    seen = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert (seen["late"], seen["late_days"], seen["result"]["score"]) == (True, 1, 9.0)


async def test_a_manual_grade_of_a_late_submission_carries_the_penalty(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock
) -> None:
    clock.at(timedelta(days=3, hours=1))  # third started day: 30 %
    sid = (await submit(client, scheduled, actors["student"])).json()["id"]
    await client.post(
        f"/internal/submissions/{sid}/result",
        json={"status": "needs_review", "feedback": "no LLM"},
        headers={"X-Result-Token": MASTER_TOKEN},
    )
    graded = await client.post(
        f"/api/submissions/{sid}/grade", json={"score": 10, "feedback": "ok"}, headers=actors["instructor"].headers
    )
    assert graded.status_code == 200, graded.text
    assert (graded.json()["result"]["score"], graded.json()["result"]["score_before_penalty"]) == (7.0, 10)


async def test_no_late_window_means_closed_at_the_due_date(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, clock: Clock
) -> None:
    body = assignment_body(due_at=iso(timedelta(hours=1)))
    created = (
        await client.post(f"/api/courses/{course['id']}/assignments", json=body, headers=actors["instructor"].headers)
    ).json()
    assert (await submit(client, created, actors["student"])).status_code == 202
    clock.at(timedelta(hours=1, minutes=1))
    assert (await submit(client, created, actors["student"])).json() == {"detail": "closed"}
    # Course staff try the assignment out whatever the window says.
    assert (await submit(client, created, actors["instructor"])).status_code == 202


async def test_the_limit_counts_everything_but_platform_failures(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock
) -> None:
    student = actors["student"]
    clock.at(timedelta(hours=1))
    ids = [(await submit(client, scheduled, student)).json()["id"] for _ in range(3)]
    await post_result(
        client, ids[0], status="error", score=None, max_score=None, criteria=None, fail_tags=["sandbox-error"]
    )
    mine = (await client.get(f"/api/assignments/{scheduled['id']}", headers=student.headers)).json()["mine"]
    assert (mine["used"], mine["allowed"]) == (2, 3)
    assert (await submit(client, scheduled, student)).status_code == 202  # the sandbox failure gave it back
    refused = await submit(client, scheduled, student)
    assert (refused.status_code, refused.json()) == (409, {"detail": "submission limit reached"})
    await post_result(client, ids[1], status="error", score=None, max_score=None, criteria=None, fail_tags=["compile"])
    assert (await submit(client, scheduled, student)).status_code == 409  # a student's own error counts
    # Another student has their own three.
    assert (await submit(client, scheduled, actors["other_student"])).status_code == 202


@pytest.mark.parametrize("tag", ["started-late", "pod-unschedulable", "pod-not-created", "image-pull-failed"])
async def test_a_grading_job_the_cluster_did_not_start_in_time_gives_the_submission_back(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock, tag: str
) -> None:
    student = actors["student"]
    clock.at(timedelta(hours=1))
    ids = [(await submit(client, scheduled, student)).json()["id"] for _ in range(3)]
    await post_result(client, ids[0], status="error", score=None, max_score=None, criteria=None, fail_tags=[tag])
    mine = (await client.get(f"/api/assignments/{scheduled['id']}", headers=student.headers)).json()["mine"]
    assert (mine["used"], mine["allowed"]) == (2, 3)
    assert (await submit(client, scheduled, student)).status_code == 202


async def test_an_extension_moves_one_students_deadline_and_adds_submissions(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, clock: Clock
) -> None:
    student, other = actors["student"], actors["other_student"]
    url = f"/api/assignments/{scheduled['id']}/extensions/{student.user_id}"
    body = {"due_at": iso(timedelta(days=6)), "extra_submissions": 1}
    granted = await client.put(url, json=body, headers=actors["instructor"].headers)
    assert granted.status_code == 200, granted.text
    assert granted.json()["extra_submissions"] == 1

    clock.at(timedelta(days=5))  # past everyone's late window, inside the extension
    on_time = await submit(client, scheduled, student)
    assert (on_time.status_code, on_time.json()["late"]) == (202, False)
    assert (await submit(client, scheduled, other)).json() == {"detail": "closed"}
    mine = (await client.get(f"/api/assignments/{scheduled['id']}", headers=student.headers)).json()["mine"]
    assert (mine["allowed"], mine["extended"], mine["due_at"]) == (
        4,
        True,
        iso(timedelta(days=6)).replace("+00:00", "Z"),
    )
    for _ in range(3):
        assert (await submit(client, scheduled, student)).status_code == 202
    assert (await submit(client, scheduled, student)).status_code == 409

    clock.at(timedelta(days=6, hours=1))  # the extension has no late window of its own, and the assignment's ended
    assert (await client.delete(url, headers=actors["instructor"].headers)).status_code == 204
    assert (await client.delete(url, headers=actors["instructor"].headers)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"opens_at": iso(timedelta(days=2)), "due_at": iso(timedelta(days=1))}, "due_at must be after opens_at"),
        ({"due_at": iso(timedelta(days=2)), "late_until": iso(timedelta(days=1))}, "late_until must not be before"),
        ({"late_until": iso(timedelta(days=1))}, "late_until needs a due_at"),
        ({"late_penalty_percent_per_day": 101}, "late_penalty_percent_per_day"),
        ({"late_penalty_percent_per_day": -1}, "late_penalty_percent_per_day"),
        ({"max_submissions": 0}, "max_submissions"),
        ({"max_submissions": -3}, "max_submissions"),
        ({"due_at": "2026-03-02T12:00:00"}, "due_at"),  # no zone: ambiguous
        ({"due_at": "next friday"}, "due_at"),
        ({"counted": "first"}, "counted"),
    ],
)
async def test_invalid_schedules_are_422(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, changes: dict, where: str
) -> None:
    created = await client.post(
        f"/api/courses/{course['id']}/assignments",
        json=assignment_body(**changes),
        headers=actors["instructor"].headers,
    )
    assert created.status_code == 422, created.text
    assert where in str(created.json()["detail"])


async def test_a_patch_is_checked_against_the_stored_schedule(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict
) -> None:
    url, staff = f"/api/assignments/{scheduled['id']}", actors["instructor"].headers
    bad = await client.patch(url, json={"late_until": iso(timedelta(hours=12))}, headers=staff)
    assert (bad.status_code, bad.json()["detail"]) == (422, "late_until must not be before due_at")
    cleared = await client.patch(url, json={"late_until": None, "max_submissions": None}, headers=staff)
    assert cleared.status_code == 200
    assert (cleared.json()["late_until"], cleared.json()["max_submissions"]) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"due_at": "2026-03-05T00:00:00Z", "late_until": "2026-03-04T00:00:00Z"},
        {"due_at": "2026-03-05T00:00:00Z", "extra_submissions": -1},
        {"late_until": "2026-03-05T00:00:00Z"},
        {"due_at": "2026-03-05T00:00:00"},
    ],
)
async def test_invalid_extensions_are_422(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict, body: dict
) -> None:
    url = f"/api/assignments/{scheduled['id']}/extensions/{actors['student'].user_id}"
    assert (await client.put(url, json=body, headers=actors["instructor"].headers)).status_code == 422


async def test_extensions_are_for_students_of_the_course(
    client: httpx.AsyncClient, actors: dict[str, Actor], scheduled: dict
) -> None:
    body = {"due_at": iso(timedelta(days=6))}
    for user_id in (actors["instructor"].user_id, "0123456789abcdef01234567", "nope"):
        url = f"/api/assignments/{scheduled['id']}/extensions/{user_id}"
        assert (await client.put(url, json=body, headers=actors["instructor"].headers)).status_code == 404


async def test_grades_csv_takes_the_counted_submission_after_penalty(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, clock: Clock
) -> None:
    staff = actors["instructor"].headers
    new = f"/api/courses/{course['id']}/assignments"
    window = {
        "due_at": iso(timedelta(days=1)),
        "late_until": iso(timedelta(days=3)),
        "late_penalty_percent_per_day": 50,
    }
    last = (await client.post(new, json=assignment_body(title="=HYPERLINK(1)", **window), headers=staff)).json()
    best = (await client.post(new, json=assignment_body(title="Best", counted="best"), headers=staff)).json()
    student = actors["student"]
    for assignment, scores in ((last, (9, 4)), (best, (9, 4))):
        for score in scores:
            sid = (await submit(client, assignment, student)).json()["id"]
            assert (await post_result(client, sid, score=score)).status_code == 200
    clock.at(timedelta(days=1, hours=3))
    late = (await submit(client, last, student)).json()["id"]
    await post_result(client, late, score=10)  # newest, late by 1 day: 10 -> 5
    await submit(client, best, actors["instructor"])  # staff runs are not in the gradebook

    response = await client.get(f"/api/courses/{course['id']}/grades.csv", headers=staff)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "student_email,student_name,user_id,'=HYPERLINK(1) (10),Best (10)"
    rows = {line.split(",")[0]: line.split(",")[3:] for line in lines[1:]}
    assert rows == {"student@example.com": ["5", "9"], "other_student@example.com": ["", ""]}
    for who in ("student", "anonymous"):
        refused = await client.get(f"/api/courses/{course['id']}/grades.csv", headers=actors[who].headers)
        assert refused.status_code == {"student": 403, "anonymous": 401}[who]
