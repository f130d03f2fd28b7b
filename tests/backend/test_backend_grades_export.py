"""The grades export reads the latest submission of every student in one aggregation and their names in
one query: the number of MongoDB calls does not grow with the class."""

from typing import Any

import httpx
from backend_api import MASTER_TOKEN, Actor, graded_result, login

STUDENTS = 30


class CallCounter:
    """Counts calls of some methods of a collection, passing them through."""

    def __init__(self, collection: Any, names: tuple[str, ...]) -> None:
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        for name in names:
            original = getattr(collection, name)

            def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                self.calls[_name] += 1
                return _original(*args, **kwargs)

            setattr(collection, name, counted)


async def test_grades_of_a_class_in_a_constant_number_of_queries(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], course: dict[str, Any], assignment: dict[str, Any]
) -> None:
    url = f"/api/assignments/{assignment['id']}/submissions"
    latest: dict[str, str] = {}
    for index in range(STUDENTS):
        email = f"student{index:02d}@example.com"
        body = {"email": email, "password": "long-enough-1", "name": f"Student {index:02d}"}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        headers = await login(client, email, "long-enough-1")
        joined = await client.post("/api/courses/join", json={"join_code": course["join_code"]}, headers=headers)
        assert joined.status_code == 200, joined.text
        for attempt in range(1 + index % 3):
            created = await client.post(url, json={"language": "python", "code": f"print({attempt})"}, headers=headers)
            assert created.status_code == 202, created.text
            latest[email] = created.json()["id"]
        if index % 2 == 0:
            posted = await client.post(
                f"/internal/submissions/{latest[email]}/result",
                json=graded_result(score=index % 10),
                headers={"X-Result-Token": MASTER_TOKEN},
            )
            assert posted.status_code == 200, posted.text

    storage = app.state.backend.storage
    submissions = CallCounter(storage.submissions, ("find", "find_one", "aggregate"))
    users = CallCounter(storage.users, ("find", "find_one"))
    response = await client.get(f"/api/assignments/{assignment['id']}/grades", headers=actors["instructor"].headers)
    assert response.status_code == 200, response.text
    rows = response.json()["items"]
    assert [row["student_email"] for row in rows] == sorted(latest)
    assert {row["student_email"]: row["submission_id"] for row in rows} == latest
    graded = {row["student_email"]: row["score"] for row in rows if row["status"] == "graded"}
    assert graded == {f"student{i:02d}@example.com": float(i % 10) for i in range(0, STUDENTS, 2)}
    assert submissions.calls == {"find": 0, "find_one": 0, "aggregate": 1}
    assert users.calls["find"] == 1
    assert users.calls["find_one"] <= 1  # the instructor's own token check, not one per student

    csv = await client.get(f"/api/assignments/{assignment['id']}/grades.csv", headers=actors["instructor"].headers)
    assert csv.status_code == 200
    assert csv.text.count("\r\n") == STUDENTS + 1
