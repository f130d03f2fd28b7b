"""LTI 1.3 Advantage, tool side, against an LMS built on the ``lti1p3platform`` package (tests/fakes/lti_platform.py).

Every flow runs over real HTTP to the LMS on 127.0.0.1 (its key set, token endpoint, line items, scores, roster)
and through the real app for the tool: login initiation, launch, sign-in code, deep linking, scores, roster.
"""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from backend_api import MASTER_TOKEN, Actor, graded_result
from lti_support import TOOL_BASE, code_and_fragment, cookie_header, launch, sign_in, start_login

from cloudemy_backend.lti.service import ScoreSync
from fakes.lti_platform import CLIENT_ID, DEPLOYMENT_ID, FakeLtiPlatform, _pem_pair


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(public_base_url=TOOL_BASE)


@pytest.fixture
def lms() -> Iterator[FakeLtiPlatform]:
    with FakeLtiPlatform(tool_base=TOOL_BASE) as platform:
        yield platform


@pytest.fixture
async def registered(client: httpx.AsyncClient, actors: dict[str, Actor], lms: FakeLtiPlatform) -> dict[str, Any]:
    """The LMS registered by the admin, and the tool's keys given to the LMS."""
    created = await client.post("/api/lti/platforms", json=lms.registration_body(), headers=actors["admin"].headers)
    assert created.status_code == 201, created.text
    lms.set_tool_keys((await client.get("/lti/jwks")).json())
    return created.json()


async def _course_by_instructor_launch(client: httpx.AsyncClient, lms: FakeLtiPlatform) -> tuple[dict[str, str], str]:
    lms.add_member("teach-1", "Instructor", name="Dana Teacher", email="dana@uni.example")
    headers, fragment = await sign_in(client, await launch(client, lms, "teach-1"))
    assert fragment.startswith("/courses/")
    return headers, fragment.removeprefix("/courses/")


async def _assignment(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "title": "FizzBuzz",
        "description": "Print FizzBuzz.",
        "languages": ["python"],
        "rubric": [
            {"id": "correctness", "title": "Correctness", "points": 6},
            {"id": "style", "title": "Style", "points": 4},
        ],
        "published": True,
        **extra,
    }
    created = await client.post(f"/api/courses/{course_id}/assignments", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


# --- login initiation and launch -------------------------------------------------------------------------------


async def test_instructor_launch_creates_the_course_and_signs_in(client, registered, lms) -> None:
    headers, course_id = await _course_by_instructor_launch(client, lms)
    me = (await client.get("/api/users/me", headers=headers)).json()
    assert me["name"] == "Dana Teacher"
    course = (await client.get(f"/api/courses/{course_id}", headers=headers)).json()
    assert course["title"] == "Programming 101"
    assert course["my_role"] == "instructor"
    # the second launch of the same person and context reuses the user and the course
    headers_again, fragment = await sign_in(client, await launch(client, lms, "teach-1"))
    assert fragment == f"/courses/{course_id}"
    assert (await client.get("/api/users/me", headers=headers_again)).json()["id"] == me["id"]


async def test_login_initiation_by_post_and_the_state_cookie(client, registered, lms) -> None:
    step = await start_login(client, lms.initiation_url("teach-1", role="Instructor"), method="POST")
    assert step.auth_query["redirect_uri"] == f"{TOOL_BASE}/lti/launch"
    assert step.auth_query["client_id"] == CLIENT_ID
    assert step.auth_query["response_mode"] == "form_post"
    assert step.auth_query["prompt"] == "none"
    cookie = step.response.headers["set-cookie"].lower()
    assert "samesite=none" in cookie
    assert "secure" in cookie
    assert "httponly" in cookie


async def test_student_lands_on_the_linked_assignment(client, registered, lms) -> None:
    teacher, course_id = await _course_by_instructor_launch(client, lms)
    assignment = await _assignment(client, teacher, course_id)
    lms.add_member("stud-1", "Learner", name="Ann Student")
    headers, fragment = await sign_in(
        client, await launch(client, lms, "stud-1", custom={"assignment_id": assignment["id"]})
    )
    assert fragment == f"/assignments/{assignment['id']}"
    seen = await client.get(f"/api/assignments/{assignment['id']}", headers=headers)
    assert seen.status_code == 200
    members = (await client.get(f"/api/courses/{course_id}/members", headers=teacher)).json()
    roles = {m["name"]: m["role"] for m in (members["items"] if isinstance(members, dict) else members)}
    assert roles["Ann Student"] == "student"


async def test_teaching_assistant_role_maps_to_ta(client, registered, lms) -> None:
    _teacher, course_id = await _course_by_instructor_launch(client, lms)
    lms.add_member("ta-1", "TeachingAssistant", name="Tom Assistant")
    headers, _ = await sign_in(client, await launch(client, lms, "ta-1"))
    course = (await client.get(f"/api/courses/{course_id}", headers=headers)).json()
    assert course["my_role"] == "ta"


async def test_learner_before_any_instructor_launch_gets_a_clear_page(client, registered, lms) -> None:
    lms.add_member("stud-1", "Learner")
    answer = await launch(client, lms, "stud-1")
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert "instructor has to open it" in answer.text


async def test_sign_in_code_works_once(client, registered, lms) -> None:
    lms.add_member("teach-1", "Instructor")
    code, _ = code_and_fragment(await launch(client, lms, "teach-1"))
    assert (await client.post("/api/auth/lti-token", json={"code": code})).status_code == 200
    again = await client.post("/api/auth/lti-token", json={"code": code})
    assert again.status_code == 401
    assert (await client.post("/api/auth/lti-token", json={"code": "x" * 43})).status_code == 401


# --- refusals ---------------------------------------------------------------------------------------------------


async def _forged_launch(
    client, lms, mutate: Any, *, key_pem: str | None = None, cookie: bool = True
) -> httpx.Response:
    """A login that really started, answered by an id_token the test builds (then changes) itself."""
    lms.add_member("teach-1", "Instructor")
    step = await start_login(client, lms.initiation_url("teach-1"))
    claims: dict[str, Any] = {
        "iss": lms.issuer,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": "teach-1",
        "nonce": step.nonce,
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": DEPLOYMENT_ID,
        "https://purl.imsglobal.org/spec/lti/claim/roles": [
            "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
        ],
        "https://purl.imsglobal.org/spec/lti/claim/context": {"id": "course-101", "title": "Programming 101"},
        "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "link-1"},
    }
    mutate(claims)
    token = lms.sign_launch(claims, key_pem=key_pem)
    if "exp" in claims:  # re-sign with the test's own times
        from lti1p3platform.registration import Registration

        token = Registration.encode_and_sign(claims, key_pem or lms.private_pem)
    return await client.post(
        "/lti/launch",
        data={"id_token": token, "state": step.state},
        headers=cookie_header(step.cookies if cookie else {}),
    )


async def test_a_well_formed_forged_launch_is_accepted_when_nothing_is_wrong(client, registered, lms) -> None:
    """The control for the refusals below: the same hand-built launch, unchanged, signs in."""
    answer = await _forged_launch(client, lms, lambda claims: None)
    assert answer.status_code == 302


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: c.update(aud="another-tool", azp="another-tool"), "addressed to another tool"),
        (lambda c: c.update(iss="https://evil.example"), "another issuer"),
        (lambda c: c.update(azp="another-tool", aud=[CLIENT_ID, "another-tool"]), "authorized party"),
        (lambda c: c.update(nonce="not-the-login-nonce"), "nonce"),
        (lambda c: c.update({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "unknown-dep"}), "deployment"),
        (lambda c: c.update(iat=int(time.time()) - 900, exp=int(time.time()) - 600), "expired"),
        (lambda c: c.update({"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}), "1.3.0"),
    ],
    ids=["wrong-audience", "wrong-issuer", "wrong-azp", "wrong-nonce", "unknown-deployment", "expired", "version"],
)
async def test_launch_refusals(client, registered, lms, mutate, reason) -> None:
    answer = await _forged_launch(client, lms, mutate)
    assert answer.status_code in {400, 403}
    assert reason in answer.text
    assert "text/html" in answer.headers["content-type"]


async def test_bad_signature_is_refused(client, registered, lms) -> None:
    other_private, _ = _pem_pair()
    answer = await _forged_launch(client, lms, lambda claims: None, key_pem=other_private)
    assert answer.status_code == 400
    assert "signature" in answer.text


async def test_replayed_launch_is_refused(client, registered, lms) -> None:
    lms.add_member("teach-1", "Instructor")
    step = await start_login(client, lms.initiation_url("teach-1"))
    async with httpx.AsyncClient() as browser:
        form = (await browser.get(f"{lms.base_url}/auth", params=step.auth_query)).json()
    body = {"id_token": form["id_token"], "state": form["state"]}
    first = await client.post("/lti/launch", data=body, headers=cookie_header(step.cookies))
    assert first.status_code == 302
    replay = await client.post("/lti/launch", data=body, headers=cookie_header(step.cookies))
    assert replay.status_code == 400
    assert "already used" in replay.text
    # the same id_token under a fresh login's state: the nonce is the old one
    fresh = await start_login(client, lms.initiation_url("teach-1"))
    crossed = await client.post(
        "/lti/launch", data={"id_token": form["id_token"], "state": fresh.state}, headers=cookie_header(fresh.cookies)
    )
    assert crossed.status_code == 400
    assert "nonce" in crossed.text


async def test_launch_without_the_state_cookie_is_refused(client, registered, lms) -> None:
    answer = await _forged_launch(client, lms, lambda claims: None, cookie=False)
    assert answer.status_code == 400
    assert "cookie" in answer.text


async def test_unknown_issuer_and_deployment_at_login(client, registered, lms) -> None:
    unknown = await client.get("/lti/login", params={"iss": "https://unknown.example", "login_hint": "x"})
    assert unknown.status_code == 404
    assert "not registered" in unknown.text
    assert "<script" not in unknown.text
    wrong_dep = await client.get(lms.initiation_url("teach-1", deployment_id="other").removeprefix(TOOL_BASE))
    assert wrong_dep.status_code == 403
    missing = await client.post("/lti/launch", data={})
    assert missing.status_code == 400


async def test_error_page_escapes_what_the_platform_sent(client, registered) -> None:
    answer = await client.get("/lti/login", params={"iss": "<script>alert(1)</script>", "login_hint": "x"})
    assert answer.status_code == 404
    assert "<script>" not in answer.text


# --- the tool's keys ---------------------------------------------------------------------------------------------


async def test_jwks_publishes_every_key_and_the_newest_signs(make_settings, tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization

    from cloudemy_backend.lti.keys import ToolKeys

    for name in ("2026-01.pem", "2026-06.pem"):
        private, _ = _pem_pair()
        (tmp_path / name).write_text(private)
    keys = ToolKeys.from_directory(tmp_path)
    published = keys.jwks()["keys"]
    assert len(published) == 2
    assert len({k["kid"] for k in published}) == 2
    assert all("d" not in k and k["alg"] == "RS256" for k in published)  # public parts only
    newest = serialization.load_pem_private_key((tmp_path / "2026-06.pem").read_bytes(), password=None)
    import jwt

    token = keys.sign({"x": 1})
    assert jwt.get_unverified_header(token)["kid"] == published[1]["kid"]
    assert jwt.decode(token, newest.public_key(), algorithms=["RS256"]) == {"x": 1}


def test_key_directory_errors_name_the_file_not_the_key(tmp_path) -> None:
    from cloudemy_backend.lti.keys import KeyConfigurationError, ToolKeys

    (tmp_path / "broken.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyConfigurationError, match=r"broken\.pem") as error:
        ToolKeys.from_directory(tmp_path)
    assert "not a key" not in str(error.value)


# --- registration API ---------------------------------------------------------------------------------------------


async def test_platform_registration_is_admin_only_and_validated(client, actors, lms) -> None:
    body = lms.registration_body()
    for who in ("anonymous", "student", "instructor"):
        answer = await client.post("/api/lti/platforms", json=body, headers=actors[who].headers)
        assert answer.status_code in {401, 403}, who
    admin = actors["admin"].headers
    plain_http = await client.post(
        "/api/lti/platforms", json={**body, "key_set_url": "http://lms.example/jwks"}, headers=admin
    )
    assert plain_http.status_code == 422
    created = await client.post("/api/lti/platforms", json=body, headers=admin)
    assert created.status_code == 201
    assert created.json()["tool"]["redirect_uri"] == f"{TOOL_BASE}/lti/launch"
    assert (await client.post("/api/lti/platforms", json=body, headers=admin)).status_code == 409
    platform_id = created.json()["id"]
    patched = await client.patch(
        f"/api/lti/platforms/{platform_id}", json={"deployment_ids": ["d1", "d2"]}, headers=admin
    )
    assert patched.json()["deployment_ids"] == ["d1", "d2"]
    assert len((await client.get("/api/lti/platforms", headers=admin)).json()) == 1
    assert (await client.delete(f"/api/lti/platforms/{platform_id}", headers=admin)).status_code == 204
    assert (await client.delete(f"/api/lti/platforms/{platform_id}", headers=admin)).status_code == 404


async def test_registered_platform_may_frame_the_ui(client, registered, lms) -> None:
    page = await client.get("/")
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors {lms.base_url}" in csp
    assert "x-frame-options" not in page.headers


# --- deep linking -------------------------------------------------------------------------------------------------


async def test_deep_linking_places_an_assignment_with_a_line_item(client, registered, lms) -> None:
    teacher, course_id = await _course_by_instructor_launch(client, lms)
    assignment = await _assignment(client, teacher, course_id)
    headers, fragment = await sign_in(client, await launch(client, lms, "teach-1", deep_link=True))
    assert fragment.startswith(f"/courses/{course_id}/lti-deep-link/")
    deep_link_id = fragment.rsplit("/", 1)[1]
    answer = await client.post(
        "/lti/deep-link", json={"deep_link_id": deep_link_id, "assignment_id": assignment["id"]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["return_url"] == f"{lms.base_url}/deep-link-return"
    items = lms.accept_deep_link(answer.json()["jwt"])
    assert items == [
        {
            "type": "ltiResourceLink",
            "title": "FizzBuzz",
            "url": f"{TOOL_BASE}/lti/launch",
            "custom": {"assignment_id": assignment["id"]},
            "lineItem": {"scoreMaximum": 10.0, "label": "FizzBuzz", "resourceId": assignment["id"]},
        }
    ]
    # used once
    again = await client.post(
        "/lti/deep-link", json={"deep_link_id": deep_link_id, "assignment_id": assignment["id"]}, headers=headers
    )
    assert again.status_code == 404


async def test_deep_linking_is_for_instructors_only(client, registered, lms) -> None:
    await _course_by_instructor_launch(client, lms)
    lms.add_member("stud-1", "Learner")
    answer = await launch(client, lms, "stud-1", deep_link=True)
    assert answer.status_code == 403


# --- Assignment and Grade Services ----------------------------------------------------------------------------------


async def _graded_student(client, app, lms, assignment_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    teacher, course_id = await _course_by_instructor_launch(client, lms)
    assignment = await _assignment(client, teacher, course_id, **(assignment_extra or {}))
    lms.add_member("stud-1", "Learner", name="Ann Student")
    student, _ = await sign_in(client, await launch(client, lms, "stud-1", custom={"assignment_id": assignment["id"]}))
    submitted = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        json={"language": "python", "code": "print(1)\n"},
        headers=student,
    )
    assert submitted.status_code == 202, submitted.text
    submission_id = submitted.json()["id"]
    stored = await client.post(
        f"/internal/submissions/{submission_id}/result", json=graded_result(), headers={"X-Result-Token": MASTER_TOKEN}
    )
    assert stored.status_code == 200, stored.text
    return {
        "teacher": teacher,
        "student": student,
        "assignment": assignment,
        "submission_id": submission_id,
        "course_id": course_id,
    }


async def test_a_graded_submission_reaches_the_lms_gradebook(client, app, registered, lms) -> None:
    seeded = await _graded_student(client, app, lms)
    sync = ScoreSync(app.state.backend.lti, interval_seconds=1)
    assert await sync.run_once() >= 1
    score = lms.latest_score("stud-1")
    assert score is not None
    assert score["scoreGiven"] == 8.0
    assert score["scoreMaximum"] == 10.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert score["comment"].startswith("Correct")
    (item,) = lms.line_items.values()
    assert item["resourceId"] == seeded["assignment"]["id"]
    assert item["scoreMaximum"] == 10
    status = await client.get(f"/api/submissions/{seeded['submission_id']}/lti-sync", headers=seeded["teacher"])
    assert status.json()["state"] == "synced"
    assert status.json()["score"] == 8.0
    hidden = await client.get(f"/api/submissions/{seeded['submission_id']}/lti-sync", headers=seeded["student"])
    assert hidden.status_code in {403, 404}
    # nothing more to do: no second post
    assert await sync.run_once() == 0
    assert sum(len(s) for s in lms.scores.values()) == 1


async def test_platform_failures_are_retried_then_posted(client, app, registered, lms) -> None:
    seeded = await _graded_student(client, app, lms)
    lms.fail_next = [503, 503, 503, 503]  # every attempt of the first pass fails (token endpoint first)
    sync = ScoreSync(app.state.backend.lti, interval_seconds=1)
    await sync.run_once()
    status = (
        await client.get(f"/api/submissions/{seeded['submission_id']}/lti-sync", headers=seeded["teacher"])
    ).json()
    assert status["state"] == "retrying"
    assert "503" in status["last_error"]
    assert lms.latest_score("stud-1") is None
    # the retry is due later; make it due now, as time passing would
    await app.state.backend.storage.lti.submissions.update_many({}, {"$set": {"lti_sync.next_at": _long_ago()}})
    await sync.run_once()
    assert lms.latest_score("stud-1")["scoreGiven"] == 8.0


async def test_no_score_for_unreleased_grades(client, app, registered, lms) -> None:
    seeded = await _graded_student(client, app, lms, {"release": "manual"})
    sync = ScoreSync(app.state.backend.lti, interval_seconds=1)
    await sync.run_once()
    assert lms.latest_score("stud-1") is None
    status = (
        await client.get(f"/api/submissions/{seeded['submission_id']}/lti-sync", headers=seeded["teacher"])
    ).json()
    assert status["state"] == "unreleased"


def _long_ago() -> Any:
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)


# --- Names and Role Provisioning -----------------------------------------------------------------------------------


async def test_roster_sync_adds_removes_and_changes_roles(client, registered, lms) -> None:
    teacher, course_id = await _course_by_instructor_launch(client, lms)
    lms.add_member("stud-1", "Learner", name="Ann")
    lms.add_member("stud-2", "Learner", name="Ben")
    lms.add_member("ta-1", "TeachingAssistant", name="Tom")
    lms.add_member("gone-1", "Learner", name="Gus", status="Inactive")
    first = await client.post(f"/api/courses/{course_id}/lti/roster-sync", headers=teacher)
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 3
    assert first.json()["removed"] == 0
    # Ben leaves the course, Ann becomes a TA
    del lms.members["stud-2"]
    lms.add_member("stud-1", "TeachingAssistant", name="Ann")
    second = (await client.post(f"/api/courses/{course_id}/lti/roster-sync", headers=teacher)).json()
    assert second["removed"] == 1
    assert second["role_changed"] == 1
    assert second["added"] == 0
    members = (await client.get(f"/api/courses/{course_id}/members", headers=teacher)).json()
    rows = members["items"] if isinstance(members, dict) else members
    assert {m["name"]: m["role"] for m in rows} == {"Dana Teacher": "instructor", "Ann": "ta", "Tom": "ta"}


async def test_roster_sync_reports_an_unreachable_lms(client, registered, lms) -> None:
    teacher, course_id = await _course_by_instructor_launch(client, lms)
    lms.fail_next = [500] * 10
    answer = await client.post(f"/api/courses/{course_id}/lti/roster-sync", headers=teacher)
    assert answer.status_code == 502
    assert "roster could not be read" in answer.json()["detail"]


async def test_released_grades_reach_the_lms_after_release(client, app, registered, lms) -> None:
    seeded = await _graded_student(client, app, lms, {"release": "manual"})
    sync = ScoreSync(app.state.backend.lti, interval_seconds=1)
    await sync.run_once()
    assert lms.latest_score("stud-1") is None
    released = await client.post(f"/api/assignments/{seeded['assignment']['id']}/release", headers=seeded["teacher"])
    assert released.status_code == 200, released.text
    await sync.run_once()
    score = lms.latest_score("stud-1")
    assert score is not None
    assert score["scoreGiven"] == 8.0
    status = await client.get(f"/api/submissions/{seeded['submission_id']}/lti-sync", headers=seeded["teacher"])
    assert status.json()["state"] == "synced"


async def test_an_override_is_sent_to_the_lms_too(client, app, registered, lms) -> None:
    seeded = await _graded_student(client, app, lms)
    sync = ScoreSync(app.state.backend.lti, interval_seconds=1)
    await sync.run_once()
    graded = await client.post(
        f"/api/submissions/{seeded['submission_id']}/grade",
        json={"score": 9.5, "feedback": "Checked by hand."},
        headers=seeded["teacher"],
    )
    assert graded.status_code == 200, graded.text
    await sync.run_once()
    assert lms.latest_score("stud-1")["scoreGiven"] == 9.5
    assert lms.latest_score("stud-1")["comment"] == "Checked by hand."
