"""Courses and membership: join codes, members, the roster upload, archiving, and the bad input around them."""

from typing import Any

import httpx
import pytest
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, Actor, assignment_body, login, open_course, serve

CODE = {"language": "python", "code": "print(1)"}


async def test_creating_a_course_makes_the_creator_its_instructor(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    created = await client.post(
        "/api/courses",
        json={"code": " CS50 ", "title": "Intro", "term": "Spring"},
        headers=actors["instructor"].headers,
    )
    assert created.status_code == 201, created.text
    course = created.json()
    assert (course["code"], course["my_role"], course["archived"]) == ("CS50", "instructor", False)
    assert len(course["join_code"]) == 8
    members = (await client.get(f"/api/courses/{course['id']}/members", headers=actors["instructor"].headers)).json()
    assert [(m["email"], m["role"]) for m in members] == [("teacher@example.com", "instructor")]
    refused = await client.post("/api/courses", json={"code": "X", "title": "Y"}, headers=actors["student"].headers)
    assert refused.status_code == 403


async def test_join_codes_wrong_rotated_and_rate_limited(make_settings: Any) -> None:
    async with serve(make_settings(join_max_failures=3)) as client:
        admin = Actor("admin", await login(client, ADMIN_EMAIL, ADMIN_PASSWORD))
        body = {"email": "s@example.com", "password": "student-pass-1", "name": "S"}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        student = Actor("student", await login(client, body["email"], body["password"]))
        course = await open_course(client, admin, [])
        old_code = course["join_code"]
        rotated = await client.post(f"/api/courses/{course['id']}/join-code", headers=admin.headers)
        assert rotated.status_code == 200
        assert rotated.json()["join_code"] != old_code
        join = "/api/courses/join"
        stale = await client.post(join, json={"join_code": old_code}, headers=student.headers)
        assert stale.status_code == 404
        for wrong in ("NOPE2345", ""):
            assert (await client.post(join, json={"join_code": wrong}, headers=student.headers)).status_code in {
                404,
                422,
            }
        # 3 wrong codes (the empty one was refused as invalid input, not counted): the fourth try is limited.
        assert (await client.post(join, json={"join_code": "NOPE6789"}, headers=student.headers)).status_code == 404
        limited = await client.post(join, json={"join_code": rotated.json()["join_code"]}, headers=student.headers)
        assert limited.status_code == 429
        assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
        # The limit is per user: someone else joins with the right code (lower case is fine).
        other = {"email": "o@example.com", "password": "student-pass-1", "name": "O"}
        await client.post("/api/auth/register", json=other)
        other_headers = await login(client, other["email"], other["password"])
        joined = await client.post(join, json={"join_code": rotated.json()["join_code"].lower()}, headers=other_headers)
        assert (joined.status_code, joined.json()["my_role"], joined.json()["join_code"]) == (200, "student", None)
        again = await client.post(join, json={"join_code": rotated.json()["join_code"]}, headers=other_headers)
        assert again.status_code == 200  # a member already: nothing changes


async def test_members_added_twice_removed_and_the_last_instructor_kept(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict[str, Any]
) -> None:
    staff, url = actors["instructor"].headers, f"/api/courses/{course['id']}/members"
    body = {"email": "teacher2@example.com", "password": "teacher-pass-2", "name": "T2", "role": "instructor"}
    made = await client.post("/api/users", json=body, headers=actors["admin"].headers)
    assert (
        await client.post(url, json={"email": "Teacher2@Example.com", "role": "ta"}, headers=staff)
    ).status_code == 201
    twice = await client.post(url, json={"email": "teacher2@example.com", "role": "student"}, headers=staff)
    assert (twice.status_code, twice.json()) == (409, {"detail": "already a member of this course"})
    unknown = await client.post(url, json={"email": "nobody@example.com"}, headers=staff)
    assert unknown.status_code == 404
    assert (await client.post(url, json={"email": "x@example.com", "role": "owner"}, headers=staff)).status_code == 422
    last = await client.delete(f"{url}/{actors['instructor'].user_id}", headers=staff)
    assert (last.status_code, last.json()) == (409, {"detail": "a course keeps at least one instructor"})
    assert (await client.delete(f"{url}/{made.json()['id']}", headers=staff)).status_code == 204
    assert (await client.delete(f"{url}/{made.json()['id']}", headers=staff)).status_code == 404
    # A removed student no longer sees the course at all.
    await client.delete(f"{url}/{actors['student'].user_id}", headers=staff)
    gone = await client.get(f"/api/courses/{course['id']}", headers=actors["student"].headers)
    assert gone.status_code == 404


async def test_a_ta_reads_and_grades_but_edits_nothing(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, assignment: dict, submission: dict
) -> None:
    staff, url = actors["instructor"].headers, f"/api/courses/{course['id']}/members"
    # other_student joined as a student: remove them and add them back as a TA.
    await client.delete(f"{url}/{actors['other_student'].user_id}", headers=staff)
    assert (
        await client.post(url, json={"email": "other_student@example.com", "role": "ta"}, headers=staff)
    ).status_code == 201
    ta = actors["other_student"].headers
    edit = await client.patch(f"/api/assignments/{assignment['id']}", json={"title": "Mine now"}, headers=ta)
    assert (edit.status_code, edit.json()["detail"]) == (403, "course instructors only; you are ta")
    assert (await client.post(url, json={"email": "student@example.com"}, headers=ta)).status_code == 403
    assert (await client.get(f"/api/submissions/{submission['id']}", headers=ta)).status_code == 200
    listed = (await client.get("/api/submissions", headers=ta)).json()["items"]
    assert [s["id"] for s in listed] == [submission["id"]]


async def test_roster_upload_reports_and_refuses_malformed_files_whole(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    course = await open_course(client, actors["instructor"], [actors["other_student"]], code="ROSTER")
    url, staff = f"/api/courses/{course['id']}/roster", {**actors["instructor"].headers, "Content-Type": "text/csv"}
    malformed = "email,role\nstudent@example.com,student\nnot-an-email,student\nx@example.com,owner\na,b,c\n"
    refused = await client.post(url, content=malformed, headers=staff)
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "line 3: not an email address; line 4: role must be instructor, ta or student; line 5: expected email,role"
    )
    members = (await client.get(f"/api/courses/{course['id']}/members", headers=staff)).json()
    assert {m["email"] for m in members} == {"teacher@example.com", "other_student@example.com"}  # nothing applied
    assert (await client.post(url, content=b"\xff\xfe\x00", headers=staff)).status_code == 422
    # valid UTF-8, but a bare carriage return inside a field: not CSV (the fuzzer's find; it answered 500)
    bare_return = "j\u00b8\r".encode() + b"\xf4\x8a\xb2\x94" + "\u00a9".encode() + b"\xf1\xb2\xac\x83"
    assert (await client.post(url, content=bare_return, headers=staff)).status_code == 422

    good = (
        "\ufeffemail,role\r\nSTUDENT@example.com,ta\r\nother_student@example.com,student\r\n\r\nghost@example.com\r\n"
    )
    report = await client.post(url, content=good.encode(), headers=staff)
    assert report.status_code == 200, report.text
    assert report.json() == {
        "added": ["student@example.com"],
        "already_present": ["other_student@example.com"],
        "unknown": ["ghost@example.com"],
    }
    roles = {
        m["email"]: m["role"] for m in (await client.get(f"/api/courses/{course['id']}/members", headers=staff)).json()
    }
    assert roles["student@example.com"] == "ta"
    again = await client.post(url, content=good.encode(), headers=staff)
    assert (again.json()["added"], len(again.json()["already_present"])) == ([], 2)


async def test_an_archived_course_is_read_only(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, assignment: dict
) -> None:
    staff = actors["instructor"].headers
    archived = await client.patch(f"/api/courses/{course['id']}", json={"archived": True}, headers=staff)
    assert archived.json()["archived"] is True
    closed = await client.post(
        f"/api/assignments/{assignment['id']}/submissions", json=CODE, headers=actors["student"].headers
    )
    assert (closed.status_code, closed.json()) == (403, {"detail": "closed"})
    for method, url, body in (
        ("PATCH", f"/api/assignments/{assignment['id']}", {"title": "x"}),
        ("POST", f"/api/courses/{course['id']}/assignments", assignment_body()),
        ("POST", f"/api/courses/{course['id']}/members", {"email": "admin@example.com"}),
        ("POST", f"/api/courses/{course['id']}/join-code", None),
        ("PATCH", f"/api/courses/{course['id']}", {"title": "renamed"}),
    ):
        response = await client.request(method, url, json=body, headers=staff)
        assert (response.status_code, response.json()) == (403, {"detail": "closed"}), url
    joined = await client.post(
        "/api/courses/join", json={"join_code": course["join_code"]}, headers=actors["admin"].headers
    )
    assert joined.status_code == 403
    # Reading still works, and the instructor may reopen it.
    assert (
        await client.get(f"/api/assignments/{assignment['id']}", headers=actors["student"].headers)
    ).status_code == 200
    reopened = await client.patch(f"/api/courses/{course['id']}", json={"archived": False}, headers=staff)
    assert reopened.json()["archived"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"code": "", "title": "T"},
        {"code": "C", "title": ""},
        {"code": "C" * 33, "title": "T"},
        {"code": "C", "title": "T", "x": 1},
    ],
)
async def test_invalid_courses_are_422(client: httpx.AsyncClient, actors: dict[str, Actor], body: dict) -> None:
    assert (await client.post("/api/courses", json=body, headers=actors["instructor"].headers)).status_code == 422
