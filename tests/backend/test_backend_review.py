"""Reviewing AI grades through the API: overrides of any terminal result, history, release, bulk regrade,
regrade requests, and the agreement figures checked against a hand computation."""

from typing import Any

import httpx
import pytest
from backend_api import MASTER_TOKEN, Actor, graded_result

INTERNAL = {"X-Result-Token": MASTER_TOKEN}


async def _submit(client: httpx.AsyncClient, assignment: dict[str, Any], who: Actor, code: str = "print(1)\n") -> str:
    made = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        json={"language": "python", "code": code},
        headers=who.headers,
    )
    assert made.status_code == 202, made.text
    return made.json()["id"]


async def _post_result(client: httpx.AsyncClient, submission_id: str, **overrides: Any) -> dict[str, Any]:
    posted = await client.post(
        f"/internal/submissions/{submission_id}/result", json=graded_result(**overrides), headers=INTERNAL
    )
    assert posted.status_code == 200, posted.text
    return posted.json()


async def _graded(client, assignment, who: Actor, **overrides: Any) -> str:
    sid = await _submit(client, assignment, who)
    await _post_result(client, sid, **overrides)
    return sid


# --- overrides -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["graded", "needs_review", "error", "timeout"])
async def test_override_any_terminal_result(client, actors, assignment, status) -> None:
    sid = await _submit(client, assignment, actors["student"])
    body = graded_result(status=status)
    if status != "graded":
        body.update(score=None, criteria=None, grader="llm" if status == "needs_review" else None)
    posted = await client.post(f"/internal/submissions/{sid}/result", json=body, headers=INTERNAL)
    assert posted.status_code == 200, posted.text
    graded = await client.post(
        f"/api/submissions/{sid}/grade",
        json={"score": 7.5, "feedback": "Checked by hand."},
        headers=actors["instructor"].headers,
    )
    assert graded.status_code == 200, graded.text
    result = graded.json()["result"]
    assert result["status"] == "graded"
    assert result["score"] == 7.5
    assert result["grader"] == "manual"
    assert result["graded_by_name"] == "Teacher"
    seen = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert seen["result"]["graded_by_name"] == "Teacher"
    assert seen["result"]["feedback"] == "Checked by hand."
    assert seen["history"] is None  # staff only


async def test_override_per_criterion_computes_the_score(client, actors, assignment) -> None:
    sid = await _graded(client, assignment, actors["student"])  # LLM: correctness 6/6, style 2/4
    graded = await client.post(
        f"/api/submissions/{sid}/grade",
        json={"feedback": "Style is fine.", "criteria": [{"id": "style", "score": 4, "feedback": "clear names"}]},
        headers=actors["instructor"].headers,
    )
    assert graded.status_code == 200, graded.text
    result = graded.json()["result"]
    assert result["score"] == 10
    assert [(c["id"], c["score"]) for c in result["criteria"]] == [("correctness", 6), ("style", 4)]
    assert result["criteria"][1]["feedback"] == "clear names"


@pytest.mark.parametrize(
    "body",
    [
        {"feedback": "x", "criteria": [{"id": "style", "score": 4.5}]},
        {"feedback": "x", "criteria": [{"id": "unknown", "score": 1}]},
        {"feedback": "x", "score": 10.5},
        {"feedback": "x", "score": -1},
        {"feedback": "x", "tests": [{"id": "nope", "points": 1}]},
        {"feedback": "x"},
        {"feedback": "x", "criteria": [{"id": "style", "score": 1}, {"id": "style", "score": 2}]},
    ],
    ids=["over-points", "unknown-criterion", "over-max", "negative", "unknown-test", "nothing", "duplicate"],
)
async def test_override_out_of_range_is_422(client, actors, assignment, body) -> None:
    sid = await _graded(client, assignment, actors["student"])
    answer = await client.post(f"/api/submissions/{sid}/grade", json=body, headers=actors["instructor"].headers)
    assert answer.status_code == 422, answer.text
    still = (await client.get(f"/api/submissions/{sid}", headers=actors["instructor"].headers)).json()
    assert still["result"]["grader"] == "llm"


async def test_override_of_a_non_terminal_submission_is_409(client, actors, assignment) -> None:
    sid = await _submit(client, assignment, actors["student"])
    answer = await client.post(
        f"/api/submissions/{sid}/grade", json={"score": 5, "feedback": "x"}, headers=actors["instructor"].headers
    )
    assert answer.status_code == 409


async def test_override_of_test_points(client, actors, course) -> None:
    body = {
        "title": "Sum",
        "description": "",
        "languages": ["python"],
        "rubric": [],
        "tests": [
            {"id": "t1", "name": "one", "stdin": "1\n", "expected_stdout": "1\n", "points": 2},
            {"id": "t2", "name": "two", "stdin": "2\n", "expected_stdout": "2\n", "points": 3, "hidden": True},
        ],
        "published": True,
    }
    made = await client.post(
        f"/api/courses/{course['id']}/assignments", json=body, headers=actors["instructor"].headers
    )
    assert made.status_code == 201, made.text
    assignment = made.json()
    sid = await _submit(client, assignment, actors["student"])
    outcome = {"verdict": "passed", "time_ms": 5, "exit_code": 0, "signal": None, "stdout": "1\n", "stderr": ""}
    result = {
        "status": "graded",
        "score": 2,
        "max_score": 5,
        "grader": "tests",
        "tests": [
            {"id": "t1", "points": 2, "max_points": 2, **outcome},
            {"id": "t2", "points": 0, "max_points": 3, **{**outcome, "verdict": "wrong_output"}},
        ],
    }
    posted = await client.post(f"/internal/submissions/{sid}/result", json=result, headers=INTERNAL)
    assert posted.status_code == 200, posted.text
    over = await client.post(
        f"/api/submissions/{sid}/grade",
        json={"feedback": "t2 was a typo in the test", "tests": [{"id": "t2", "points": 3}]},
        headers=actors["instructor"].headers,
    )
    assert over.status_code == 200, over.text
    assert over.json()["result"]["score"] == 5
    too_many = await client.post(
        f"/api/submissions/{sid}/grade",
        json={"feedback": "", "tests": [{"id": "t2", "points": 4}]},
        headers=actors["instructor"].headers,
    )
    assert too_many.status_code == 422


# --- history ---------------------------------------------------------------------------------------------------


async def test_history_keeps_every_result_through_override_and_regrade(client, actors, assignment) -> None:
    sid = await _graded(client, assignment, actors["student"])
    teacher = actors["instructor"].headers
    assert (
        await client.post(f"/api/submissions/{sid}/grade", json={"score": 8.5, "feedback": "mine"}, headers=teacher)
    ).status_code == 200
    regraded = await client.post(f"/api/submissions/{sid}/regrade", headers=teacher)
    assert regraded.status_code == 202
    await _post_result(client, sid, score=6, feedback="second LLM opinion")
    seen = (await client.get(f"/api/submissions/{sid}", headers=teacher)).json()
    history = seen["history"]
    assert [(h["attempt"], h["result"]["grader"], h["reason"]) for h in history] == [
        (1, "llm", "override"),
        (1, "manual", "regrade"),
        (2, "llm", None),
    ]
    assert history[0]["replaced_by"] == actors["instructor"].user_id
    assert history[1]["result"]["score"] == 8.5  # the instructor's grade survived the regrade
    assert history[2]["replaced_at"] is None


# --- release ---------------------------------------------------------------------------------------------------


async def test_manual_release_hides_everything_until_released(client, actors, course) -> None:
    from backend_api import assignment_body

    made = await client.post(
        f"/api/courses/{course['id']}/assignments",
        json=assignment_body(release="manual"),
        headers=actors["instructor"].headers,
    )
    assignment = made.json()
    sid = await _graded(client, assignment, actors["student"])
    student = actors["student"].headers
    hidden = (await client.get(f"/api/submissions/{sid}", headers=student)).json()
    assert hidden["status"] == "graded"
    assert hidden["result"] == {"released": False}
    listed = (await client.get("/api/submissions", headers=student)).json()["items"]
    assert listed[0]["result"] == {"released": False}
    staff_view = (await client.get(f"/api/submissions/{sid}", headers=actors["instructor"].headers)).json()
    assert staff_view["result"]["score"] == 8
    csv = await client.get(f"/api/courses/{course['id']}/grades.csv", headers=actors["instructor"].headers)
    assert "8" in csv.text  # staff exports are unaffected
    first = await client.post(f"/api/assignments/{assignment['id']}/release", headers=actors["instructor"].headers)
    assert first.status_code == 200
    assert first.json()["changed"] is True
    again = await client.post(f"/api/assignments/{assignment['id']}/release", headers=actors["instructor"].headers)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert again.json()["released_at"] == first.json()["released_at"]
    shown = (await client.get(f"/api/submissions/{sid}", headers=student)).json()
    assert shown["result"]["score"] == 8
    assert (await client.post(f"/api/assignments/{assignment['id']}/release", headers=student)).status_code == 403


# --- bulk regrade ----------------------------------------------------------------------------------------------


async def test_bulk_regrade_takes_the_latest_submission_of_each_student(
    client, actors, assignment, redis_client
) -> None:
    older = await _graded(client, assignment, actors["student"])
    newer = await _graded(client, assignment, actors["student"])
    other = await _submit(client, assignment, actors["other_student"])
    await _post_result(client, other, status="error", score=None, criteria=None, grader=None, fail_tags=["llm-error"])
    teacher = actors["instructor"].headers
    only_errors = await client.post(
        f"/api/assignments/{assignment['id']}/regrade", json={"statuses": ["error"]}, headers=teacher
    )
    assert only_errors.status_code == 202
    assert only_errors.json() == {"queued": 1}
    everything = await client.post(f"/api/assignments/{assignment['id']}/regrade", headers=teacher)
    assert everything.json() == {"queued": 1}  # `other` is queued already; `older` is not the latest
    attempts = {
        sid: (await client.get(f"/api/submissions/{sid}", headers=teacher)).json()["attempt"]
        for sid in (older, newer, other)
    }
    assert attempts == {older: 1, newer: 2, other: 2}
    progress = (await client.get(f"/api/assignments/{assignment['id']}/regrade", headers=teacher)).json()
    assert progress["total"] == 1
    assert progress["done"] == 0
    await _post_result(client, newer, score=9)
    progress = (await client.get(f"/api/assignments/{assignment['id']}/regrade", headers=teacher)).json()
    assert progress["done"] == 1


async def test_bulk_regrade_with_nothing_to_do(client, actors, assignment) -> None:
    answer = await client.post(f"/api/assignments/{assignment['id']}/regrade", headers=actors["instructor"].headers)
    assert answer.status_code == 202
    assert answer.json() == {"queued": 0}


# --- regrade requests ------------------------------------------------------------------------------------------


async def test_regrade_request_round_trip(client, actors, assignment, course) -> None:
    sid = await _graded(client, assignment, actors["student"])
    student, teacher = actors["student"].headers, actors["instructor"].headers
    asked = await client.post(
        f"/api/submissions/{sid}/regrade-requests", json={"message": "Style deserves 4/4"}, headers=student
    )
    assert asked.status_code == 201, asked.text
    second = await client.post(f"/api/submissions/{sid}/regrade-requests", json={"message": "again"}, headers=student)
    assert second.status_code == 409
    stranger = await client.post(
        f"/api/submissions/{sid}/regrade-requests", json={"message": "mine?"}, headers=actors["other_student"].headers
    )
    assert stranger.status_code == 404
    queue = (await client.get(f"/api/courses/{course['id']}/regrade-requests?state=open", headers=teacher)).json()
    assert [r["message"] for r in queue] == ["Style deserves 4/4"]
    resolved = await client.post(
        f"/api/regrade-requests/{asked.json()['id']}/resolve",
        json={
            "response": "Agreed.",
            "grade": {"feedback": "Regraded on request.", "criteria": [{"id": "style", "score": 4}]},
        },
        headers=teacher,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    mine = (await client.get(f"/api/submissions/{sid}", headers=student)).json()
    assert mine["regrade_requests"][0]["response"] == "Agreed."
    assert mine["result"]["score"] == 10
    twice = await client.post(
        f"/api/regrade-requests/{asked.json()['id']}/resolve", json={"response": "x"}, headers=teacher
    )
    assert twice.status_code == 409
    assert (await client.get(f"/api/courses/{course['id']}/regrade-requests?state=open", headers=teacher)).json() == []
    # once resolved, the student may ask again
    again = await client.post(f"/api/submissions/{sid}/regrade-requests", json={"message": "one more"}, headers=student)
    assert again.status_code == 201


async def test_regrade_request_needs_a_result(client, actors, assignment) -> None:
    sid = await _submit(client, assignment, actors["student"])
    answer = await client.post(
        f"/api/submissions/{sid}/regrade-requests", json={"message": "?"}, headers=actors["student"].headers
    )
    assert answer.status_code == 409


# --- agreement -------------------------------------------------------------------------------------------------


async def test_agreement_matches_a_hand_computation(client, actors, assignment) -> None:
    teacher = actors["instructor"].headers
    # LLM gives (correctness, style) = (6, 2) -> 8 on each; instructors override as below.
    overrides = [
        [{"id": "correctness", "score": 6}, {"id": "style", "score": 2}],  # total 8: same as the LLM
        [{"id": "correctness", "score": 4}, {"id": "style", "score": 3}],  # total 7: |8-7| = 1
        [{"id": "correctness", "score": 3}, {"id": "style", "score": 1}],  # total 4: |8-4| = 4
    ]
    for criteria in overrides:
        sid = await _graded(client, assignment, actors["student"])
        answer = await client.post(
            f"/api/submissions/{sid}/grade", json={"feedback": "", "criteria": criteria}, headers=teacher
        )
        assert answer.status_code == 200, answer.text
    untouched = await _graded(client, assignment, actors["other_student"])  # never overridden: not a pair
    assert untouched
    figures = (await client.get(f"/api/assignments/{assignment['id']}/agreement", headers=teacher)).json()
    # Hand computation: diffs 0, 1, 4 -> mean 5/3 = 1.6667; exact 1 of 3.
    assert figures["pairs"] == 3
    assert figures["mean_abs_diff"] == pytest.approx(5 / 3, abs=1e-4)
    assert figures["exact_rate"] == pytest.approx(1 / 3, abs=1e-4)
    per = {c["id"]: c for c in figures["per_criterion"]}
    # correctness diffs 0, 2, 3 -> 5/3; style diffs 0, 1, 1 -> 2/3
    assert per["correctness"]["mean_abs_diff"] == pytest.approx(5 / 3, abs=1e-4)
    assert per["style"]["mean_abs_diff"] == pytest.approx(2 / 3, abs=1e-4)
    assert per["correctness"]["agreed"] == 1
    assert per["style"]["agreed"] == 1
    assert (
        await client.get(f"/api/assignments/{assignment['id']}/agreement", headers=actors["student"].headers)
    ).status_code == 403
