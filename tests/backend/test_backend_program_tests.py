"""Instructor tests on assignments: create/PATCH with validation, max_score, the payload a runner gets, what a
student may see of hidden tests through every route, and the staff's run against the reference solution."""

import json
import re
from typing import Any

import httpx
import pytest
import redis
from backend_api import MASTER_TOKEN, RUBRIC, Actor, assignment_body

from cloudemy_common.keys import submission_key
from cloudemy_common.models import SubmissionPayload
from cloudemy_common.payload_store import read_payload

QUEUE = "queue:submissions"
INTERNAL = {"X-Result-Token": MASTER_TOKEN}
KIB = 1024

# Markers that must never reach a student: the hidden test's input, its expected output, and what the program
# printed while running it.
HIDDEN_STDIN = "hidden-stdin-7f3a"
HIDDEN_EXPECTED = "hidden-expected-91c2"
HIDDEN_STDOUT = "hidden-stdout-e55b"
HIDDEN_STDERR = "hidden-stderr-0d4e"
SECRETS = (HIDDEN_STDIN, HIDDEN_EXPECTED, HIDDEN_STDOUT, HIDDEN_STDERR)

TESTS = [
    {"id": "t-small", "name": "n = 3", "stdin": "3\n", "expected_stdout": "1\n2\nFizz\n", "points": 2},
    {
        "id": "t-secret",
        "name": "the big one",
        "stdin": HIDDEN_STDIN,
        "expected_stdout": HIDDEN_EXPECTED,
        "points": 3,
        "hidden": True,
        "compare": "tokens",
    },
]
REFERENCE = {"language": "python", "code": "print(input())\n"}


def assignment_with_tests(**overrides: Any) -> dict[str, Any]:
    return assignment_body(rubric=[], tests=TESTS, **overrides)


def outcomes(**overrides: Any) -> list[dict[str, Any]]:
    small = {"id": "t-small", "verdict": "passed", "points": 2, "max_points": 2, "time_ms": 12, "exit_code": 0,
             "stdout": "1\n2\nFizz\n", "stderr": ""}  # fmt: skip
    secret = {"id": "t-secret", "verdict": "wrong_output", "points": 0, "max_points": 3, "time_ms": 40,
              "exit_code": 0, "stdout": HIDDEN_STDOUT, "stderr": HIDDEN_STDERR}  # fmt: skip
    return [small | overrides, secret]


def result_with_tests() -> dict[str, Any]:
    return {
        "status": "graded",
        "score": 2,
        "max_score": 5,
        "fail_tags": [],
        "feedback": "1 of 2 tests passed.",
        "metrics": {},
        "grader": "tests",
        "tests": outcomes(),
        "compile_output": "",
    }


@pytest.fixture(autouse=True)
async def _in_a_course(course: dict[str, Any]) -> None:
    """Every test's assignments go into the instructor's course, which both students joined."""


async def new_assignment_url(client: httpx.AsyncClient, staff: Actor) -> str:
    courses = (await client.get("/api/courses", headers=staff.headers)).json()
    return f"/api/courses/{courses[0]['id']}/assignments"


async def create(client: httpx.AsyncClient, staff: Actor, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(await new_assignment_url(client, staff), json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def graded_submission(client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict) -> str:
    submitted = await client.post(
        f"/api/assignments/{assignment['id']}/submissions", json=REFERENCE, headers=actors["student"].headers
    )
    assert submitted.status_code == 202, submitted.text
    sid = submitted.json()["id"]
    stored = await client.post(f"/internal/submissions/{sid}/result", json=result_with_tests(), headers=INTERNAL)
    assert stored.status_code == 200, stored.text
    return sid


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} reached a student"


# --- create, PATCH, validation ------------------------------------------------------------------------------


async def test_tests_only_assignment_is_worth_its_test_points(client, actors) -> None:
    data = await create(
        client, actors["instructor"], assignment_with_tests(limits={"time_seconds": 1, "memory_mb": 128})
    )
    assert data["max_score"] == 5
    assert data["rubric"] == []
    assert data["limits"] == {"time_seconds": 1, "memory_mb": 128, "output_kb": 64}
    small, secret = data["tests"]
    assert small["compare"] == "trim"
    assert small["hidden"] is False
    assert secret["compare"] == "tokens"
    assert secret["hidden"] is True
    assert secret["stdin"] == HIDDEN_STDIN


async def test_max_score_is_rubric_plus_test_points(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_body(tests=TESTS))
    assert data["max_score"] == 10 + 5


async def test_patch_tests_and_rubric_recompute_max_score(client, actors) -> None:
    staff = actors["instructor"].headers
    data = await create(client, actors["instructor"], assignment_body())
    url = f"/api/assignments/{data['id']}"
    with_tests = await client.patch(url, json={"tests": TESTS}, headers=staff)
    assert with_tests.status_code == 200, with_tests.text
    assert with_tests.json()["max_score"] == 15
    tests_only = await client.patch(url, json={"rubric": []}, headers=staff)
    assert tests_only.status_code == 200, tests_only.text
    assert tests_only.json()["max_score"] == 5
    limits = await client.patch(url, json={"limits": {"time_seconds": 5}}, headers=staff)
    assert limits.json()["limits"]["time_seconds"] == 5
    assert limits.json()["max_score"] == 5
    nothing_left = await client.patch(url, json={"tests": []}, headers=staff)
    assert nothing_left.status_code == 422
    assert "rubric criterion or one test" in nothing_left.text
    clash = await client.patch(url, json={"rubric": [{**RUBRIC[0], "id": "t-small"}]}, headers=staff)
    assert clash.status_code == 422
    assert "t-small" in clash.json()["detail"]
    unchanged = (await client.get(url, headers=staff)).json()
    assert unchanged["max_score"] == 5
    assert unchanged["rubric"] == []
    assert len(unchanged["tests"]) == 2


def bad_tests(tests: Any, **extra: Any) -> dict[str, Any]:
    return assignment_body(tests=tests, **extra)


def one_test(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "t1", "stdin": "", "expected_stdout": "x", "points": 1, **fields}]


BAD_BODIES = [
    pytest.param(bad_tests([TESTS[0], TESTS[0]]), "unique", id="duplicate-test-ids"),
    pytest.param(bad_tests(one_test(id="correctness")), "correctness", id="test-id-equals-rubric-id"),
    pytest.param(bad_tests([{"id": f"t{n}", "points": 1} for n in range(101)]), "100", id="over-100-tests"),
    pytest.param(bad_tests(one_test(stdin="x" * (256 * KIB + 1))), "262144", id="oversized-stdin"),
    pytest.param(bad_tests(one_test(expected_stdout="é" * (128 * KIB + 1))), "262144", id="oversized-expected"),
    pytest.param(bad_tests(one_test(points=-1)), "greater than or equal", id="negative-points"),
    pytest.param(bad_tests(one_test(compare="regex")), "exact", id="unknown-compare"),
    pytest.param(assignment_body(rubric=[]), "rubric criterion or one test", id="nothing-to-grade"),
    pytest.param(bad_tests(one_test(id="has space")), "pattern", id="id-not-a-slug"),
    pytest.param(bad_tests(one_test(id="")), "pattern", id="empty-id"),
    pytest.param(bad_tests(one_test(timeout=3)), "extra", id="unknown-test-field"),
    pytest.param(bad_tests(one_test(time_limit_seconds=0)), "greater than or equal", id="zero-time-limit"),
    pytest.param(bad_tests(one_test(time_limit_seconds=1e9)), "less than or equal", id="huge-time-limit"),
    pytest.param(bad_tests(one_test(memory_limit_mb=10**9)), "less than or equal", id="huge-memory-limit"),
    pytest.param(bad_tests(one_test(float_tolerance=-1)), "greater than or equal", id="negative-tolerance"),
    pytest.param(bad_tests(one_test(points=1e300)), "less than or equal", id="absurd-points"),
    pytest.param(bad_tests(one_test(hidden="maybe")), "bool", id="hidden-not-a-bool"),
    pytest.param(bad_tests(one_test(stdin=["3"])), "string", id="stdin-not-a-string"),
    pytest.param(bad_tests({"id": "t1"}), "list", id="tests-not-a-list"),
    pytest.param(bad_tests(["t1"]), "object", id="test-not-an-object"),
    pytest.param(bad_tests(one_test(), limits={"memory_mb": -5}), "greater than or equal", id="negative-limit"),
    pytest.param(bad_tests(one_test(), limits={"cpu": 1}), "extra", id="unknown-limit"),
    pytest.param(bad_tests(one_test(), limits=[]), "object", id="limits-not-an-object"),
    pytest.param(
        bad_tests([{"id": f"t{n}", "stdin": "x" * (250 * KIB), "points": 1} for n in range(17)]),
        "4194304",
        id="tests-too-large-together",
    ),
    pytest.param(
        assignment_body(reference_solution={"language": "cobol", "code": "x"}), "python", id="reference-language"
    ),
    pytest.param(assignment_body(reference_solution={"language": "python"}), "code", id="reference-without-code"),
]


@pytest.mark.parametrize(("body", "named"), BAD_BODIES)
async def test_bad_tests_are_422_naming_the_problem(client, actors, body: dict, named: str) -> None:
    url = await new_assignment_url(client, actors["instructor"])
    response = await client.post(url, json=body, headers=actors["instructor"].headers)
    assert response.status_code == 422, response.text
    assert named in response.text
    listed = await client.get("/api/assignments", headers=actors["instructor"].headers)
    assert listed.json()["items"] == [], "nothing stored"


@pytest.mark.parametrize(("body", "named"), BAD_BODIES[:7])
async def test_bad_tests_in_a_patch_are_422_and_change_nothing(client, actors, body: dict, named: str) -> None:
    staff = actors["instructor"].headers
    data = await create(client, actors["instructor"], assignment_body())
    response = await client.patch(f"/api/assignments/{data['id']}", json={"tests": body["tests"]}, headers=staff)
    assert response.status_code == 422, response.text
    assert named in response.text
    assert (await client.get(f"/api/assignments/{data['id']}", headers=staff)).json()["tests"] == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "T", "languages": ["python"], "tests": [{"id": "t1", "points": NaN}]}',
        b'{"title": "T", "languages": ["python"], "tests": [{"id": "t1", "points": Infinity}]}',
        b'{"title": "T", "languages": ["python"], "tests": [{"id": "t1", "stdin": "\\ud800"}]}',
        b'{"title": "T", "languages": ["python"], "tests": [{"id": "t1", "stdin": "' + b"[" * 5000 + b'"}',
        b'{"title": "T", "languages": ["python"], "tests": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["nan-points", "infinite-points", "lone-surrogate", "unterminated", "deep-nesting"],
)
async def test_malformed_test_definitions_are_4xx_never_5xx(client, actors, raw: bytes) -> None:
    headers = {**actors["instructor"].headers, "Content-Type": "application/json"}
    response = await client.post(await new_assignment_url(client, actors["instructor"]), content=raw, headers=headers)
    assert 400 <= response.status_code < 500, response.text


async def test_tests_at_their_largest_are_accepted(client, actors) -> None:
    big = [{"id": f"t{n}", "stdin": "1 2\n" * (64 * KIB), "expected_stdout": "3\n" * (128 * KIB), "points": 1}
           for n in range(4)]  # fmt: skip
    data = await create(client, actors["instructor"], assignment_body(tests=big))
    assert len(data["tests"]) == 4
    assert data["max_score"] == 14


async def test_oversized_reference_solution_is_413(client, actors, settings) -> None:
    body = assignment_body(reference_solution={"language": "python", "code": "#" * (settings.max_code_bytes + 1)})
    url = await new_assignment_url(client, actors["instructor"])
    response = await client.post(url, json=body, headers=actors["instructor"].headers)
    assert response.status_code == 413


# --- the payload ---------------------------------------------------------------------------------------------


async def test_payload_carries_tests_and_limits_but_never_the_reference_solution(
    client, actors, redis_client: redis.Redis
) -> None:
    body = assignment_with_tests(
        limits={"time_seconds": 3}, reference_solution=REFERENCE | {"code": "REFERENCE-CODE-x1"}
    )
    data = await create(client, actors["instructor"], body)
    submitted = await client.post(
        f"/api/assignments/{data['id']}/submissions", json=REFERENCE, headers=actors["student"].headers
    )
    sid = submitted.json()["id"]
    payload = read_payload(redis_client, sid)
    assert [t.id for t in payload.assignment.tests] == ["t-small", "t-secret"]
    assert payload.assignment.tests[1].hidden is True
    assert payload.assignment.tests[1].stdin == HIDDEN_STDIN
    assert payload.assignment.limits.time_seconds == 3
    assert payload.assignment.max_score == 5
    raw = redis_client.hgetall(submission_key(sid))
    snapshot = redis_client.get(SubmissionPayload.snapshot_key_in(raw))
    assert snapshot is not None
    assert not any("REFERENCE-CODE-x1" in value for value in [*raw.values(), snapshot]), "never sent to a runner"


# --- what a student sees ------------------------------------------------------------------------------------


async def test_student_sees_hidden_tests_as_a_name_and_points_only(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests(reference_solution=REFERENCE))
    student = actors["student"].headers
    for response in (
        await client.get(f"/api/assignments/{data['id']}", headers=student),
        await client.get("/api/assignments", headers=student),
    ):
        assert response.status_code == 200
        assert_no_secret(response.text)
        assert "reference_solution" not in response.text or '"reference_solution":null' in response.text
        assert REFERENCE["code"] not in response.text
    seen = (await client.get(f"/api/assignments/{data['id']}", headers=student)).json()
    assert seen["tests"][0] == {**TESTS[0], "hidden": False, "compare": "trim", "float_tolerance": 1e-6,
                                "time_limit_seconds": None, "memory_limit_mb": None}  # fmt: skip
    assert seen["tests"][1] == {"id": "t-secret", "name": "Hidden test", "hidden": True, "points": 3}
    staff = (await client.get(f"/api/assignments/{data['id']}", headers=actors["instructor"].headers)).json()
    assert staff["tests"][1]["stdin"] == HIDDEN_STDIN
    assert staff["reference_solution"] == REFERENCE


async def test_student_sees_a_hidden_outcome_as_verdict_and_points_through_every_route(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    student = actors["student"].headers
    responses = [
        await client.get(f"/api/submissions/{sid}", headers=student),
        await client.get("/api/submissions", headers=student),
        await client.get("/api/submissions", params={"assignment_id": data["id"]}, headers=student),
        await client.get(f"/api/assignments/{data['id']}", headers=student),
    ]
    for response in responses:
        assert response.status_code == 200
        assert_no_secret(response.text)
    shown = responses[0].json()["result"]["tests"]
    assert shown[1] == {"id": "t-secret", "name": "Hidden test", "hidden": True, "verdict": "wrong_output",
                        "points": 0, "max_points": 3}  # fmt: skip
    assert shown[0]["stdout"] == "1\n2\nFizz\n"
    assert shown[0]["name"] == "n = 3"
    assert shown[0]["hidden"] is False
    brief = [{key: t[key] for key in ("id", "name", "hidden", "verdict", "points", "max_points")} for t in shown]
    assert responses[1].json()["items"][0]["result"]["tests"] == brief, "lists carry verdicts, not outputs"


async def test_staff_see_every_tests_full_output(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    for who in ("instructor", "admin"):
        seen = (await client.get(f"/api/submissions/{sid}", headers=actors[who].headers)).json()["result"]
        secret = seen["tests"][1]
        assert secret["stdout"] == HIDDEN_STDOUT
        assert secret["stderr"] == HIDDEN_STDERR
        assert secret["hidden"] is True
        assert secret["name"] == "the big one"
        assert secret["time_ms"] == 40
        assert seen["grader"] == "tests"
        assert seen["compile_output"] == ""
        params = {"assignment_id": data["id"]}
        listed = (await client.get("/api/submissions", params=params, headers=actors[who].headers)).json()
        assert [t["verdict"] for t in listed["items"][0]["result"]["tests"]] == ["passed", "wrong_output"]
        assert listed["items"][0]["result"]["tests"][1]["name"] == "the big one"
        assert "stdout" not in listed["items"][0]["result"]["tests"][1], "a list carries no outputs"


async def test_a_test_made_hidden_or_removed_after_grading_is_hidden_from_then_on(client, actors) -> None:
    staff = actors["instructor"].headers
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    url = f"/api/submissions/{sid}"
    made_hidden = [{**TESTS[0], "hidden": True}, TESTS[1]]
    assert (await client.patch(f"/api/assignments/{data['id']}", json={"tests": made_hidden}, headers=staff)).is_success
    shown = (await client.get(url, headers=actors["student"].headers)).json()["result"]["tests"]
    assert shown[0] == {"id": "t-small", "name": "Hidden test", "hidden": True, "verdict": "passed", "points": 2,
                        "max_points": 2}  # fmt: skip
    renamed = [{**TESTS[0], "id": "t-other"}]
    assert (await client.patch(f"/api/assignments/{data['id']}", json={"tests": renamed}, headers=staff)).is_success
    response = await client.get(url, headers=actors["student"].headers)
    assert_no_secret(response.text)
    assert "1\\n2\\nFizz" not in response.text
    assert all(t["hidden"] for t in response.json()["result"]["tests"])


async def test_manual_grade_keeps_the_test_table(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    graded = await client.post(
        f"/api/submissions/{sid}/grade", json={"score": 4, "feedback": "ok"}, headers=actors["instructor"].headers
    )
    assert graded.status_code == 200, graded.text
    shown = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()["result"]
    assert shown["grader"] == "manual"
    assert shown["score"] == 4
    assert [t["verdict"] for t in shown["tests"]] == ["passed", "wrong_output"]
    assert_no_secret(json.dumps(shown))


async def test_result_without_tests_keeps_its_shape_and_repeats_are_idempotent(client, actors, submission) -> None:
    body = {"status": "graded", "score": 5, "max_score": 10, "fail_tags": [], "feedback": "", "metrics": {}}
    url = f"/internal/submissions/{submission['id']}/result"
    assert (await client.post(url, json=body, headers=INTERNAL)).status_code == 200
    again = await client.post(url, json=body, headers=INTERNAL)
    assert again.status_code == 200, again.text


async def test_identical_test_result_repeat_is_200_and_a_different_one_409(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    url = f"/internal/submissions/{sid}/result"
    assert (await client.post(url, json=result_with_tests(), headers=INTERNAL)).status_code == 200
    changed = result_with_tests() | {"tests": outcomes(time_ms=13)}
    assert (await client.post(url, json=changed, headers=INTERNAL)).status_code == 409


# --- run against the reference solution ---------------------------------------------------------------------


async def test_staff_run_the_reference_solution_before_publishing(client, actors, redis_client) -> None:
    staff = actors["instructor"].headers
    data = await create(
        client, actors["instructor"], assignment_with_tests(published=False, reference_solution=REFERENCE)
    )
    run = await client.post(f"/api/assignments/{data['id']}/test-run", json={}, headers=staff)
    assert run.status_code == 202, run.text
    assert run.json()["test_run"] is True
    assert run.json()["code"] == REFERENCE["code"]
    assert run.json()["status"] == "queued"
    assert redis_client.llen(QUEUE) == 1, "through the normal queue"
    payload = read_payload(redis_client, run.json()["id"])
    assert len(payload.assignment.tests) == 2
    given = await client.post(
        f"/api/assignments/{data['id']}/test-run", json={"language": "javascript", "code": "x"}, headers=staff
    )
    assert given.status_code == 202
    assert given.json()["language"] == "javascript"

    listed = await client.get("/api/submissions", params={"assignment_id": data["id"]}, headers=staff)
    assert listed.json()["items"] == [], "test runs are not students' submissions"
    runs = await client.get("/api/submissions", params={"assignment_id": data["id"], "test_runs": True}, headers=staff)
    assert {item["id"] for item in runs.json()["items"]} == {run.json()["id"], given.json()["id"]}
    grades = await client.get(f"/api/assignments/{data['id']}/grades", headers=staff)
    assert grades.json()["items"] == [], "never counted as a grade"

    sid = run.json()["id"]
    await client.post(f"/internal/submissions/{sid}/result", json=result_with_tests(), headers=INTERNAL)
    seen = (await client.get(f"/api/submissions/{sid}", headers=staff)).json()
    assert seen["result"]["tests"][1]["stdout"] == HIDDEN_STDOUT


async def test_test_run_refusals(client, actors, settings) -> None:
    staff = actors["instructor"].headers
    data = await create(client, actors["instructor"], assignment_with_tests())
    url = f"/api/assignments/{data['id']}/test-run"
    student = await client.post(url, json=REFERENCE, headers=actors["student"].headers)
    assert student.status_code == 403
    assert (await client.post(url, json=REFERENCE)).status_code == 401
    no_reference = await client.post(url, json={}, headers=staff)
    assert no_reference.status_code == 422
    assert "reference_solution" in no_reference.text
    half = await client.post(url, json={"language": "python"}, headers=staff)
    assert half.status_code == 422
    wrong_language = await client.post(url, json={"language": "java", "code": "x"}, headers=staff)
    assert wrong_language.status_code == 422
    assert "not allowed" in wrong_language.text
    too_big = await client.post(url, json={"language": "python", "code": "#" * (settings.max_code_bytes + 1)},
                                headers=staff)  # fmt: skip
    assert too_big.status_code == 413
    missing = await client.post("/api/assignments/" + "0" * 24 + "/test-run", json=REFERENCE, headers=staff)
    assert missing.status_code == 404


async def test_a_students_run_is_never_a_test_run(client, actors) -> None:
    data = await create(client, actors["instructor"], assignment_with_tests())
    submitted = await client.post(
        f"/api/assignments/{data['id']}/submissions", json=REFERENCE, headers=actors["student"].headers
    )
    assert submitted.json()["test_run"] is False
    sneaky = await client.post(
        f"/api/assignments/{data['id']}/submissions",
        json=REFERENCE | {"test_run": True},
        headers=actors["student"].headers,
    )
    assert sneaky.status_code == 422
    mine = await client.get("/api/submissions", params={"test_runs": True}, headers=actors["student"].headers)
    assert mine.json()["items"] == []


async def test_no_get_route_shows_a_student_a_hidden_test(app, client, actors) -> None:
    """Every GET route of the API (from its OpenAPI document, whatever module adds it), called as the student with
    the ids it takes filled in: none answers with a hidden test's input, expected output or what the program
    printed while running it."""
    data = await create(client, actors["instructor"], assignment_with_tests())
    sid = await graded_submission(client, actors, data)
    ids = {"assignment_id": data["id"], "submission_id": sid, "user_id": actors["student"].user_id}
    checked = []
    for route, operations in app.openapi()["paths"].items():
        if "get" not in operations or not route.startswith("/api/"):
            continue
        path = route
        for name in re.findall(r"{(\w+)}", route):
            path = path.replace(f"{{{name}}}", ids.get(name, data["id"]))
        for params in ({}, {"assignment_id": data["id"]}, {"test_runs": "true"}):
            response = await client.get(path, params=params, headers=actors["student"].headers)
            assert response.status_code < 500, (path, response.text)
            assert_no_secret(response.text)
        checked.append(route)
    assert {"/api/assignments/{assignment_id}", "/api/submissions/{submission_id}", "/api/submissions"} <= set(checked)


async def test_a_result_with_every_tests_largest_excerpts_is_stored(client, actors) -> None:
    """100 tests, each with 4 KiB of stdout and stderr made of control characters (six bytes each in JSON): the
    largest result a runner can post is accepted, not refused by the request bound."""
    tests = [{"id": f"t{n}", "stdin": "", "expected_stdout": "x", "points": 1} for n in range(100)]
    data = await create(client, actors["instructor"], assignment_body(rubric=[], tests=tests))
    submitted = await client.post(
        f"/api/assignments/{data['id']}/submissions", json=REFERENCE, headers=actors["student"].headers
    )
    noisy = "\x01" * 4096
    template = outcomes()[0] | {"verdict": "wrong_output", "points": 0, "max_points": 1}
    body = result_with_tests() | {
        "score": 0,
        "max_score": 100,
        "tests": [template | {"id": t["id"], "stdout": noisy, "stderr": noisy} for t in tests],
        "compile_output": "\x02" * 8192,
    }
    raw = json.dumps(body).encode()
    assert len(raw) > 4 * 1024 * 1024
    stored = await client.post(f"/internal/submissions/{submitted.json()['id']}/result", content=raw,
                               headers={**INTERNAL, "Content-Type": "application/json"})  # fmt: skip
    assert stored.status_code == 200, stored.text[:300]
    staff = await client.get(f"/api/submissions/{submitted.json()['id']}", headers=actors["instructor"].headers)
    assert len(staff.json()["result"]["tests"]) == 100
