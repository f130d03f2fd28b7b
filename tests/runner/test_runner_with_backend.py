"""The runner against the real backend (``python -m cloudemy_backend`` with the in-process store): a
submission made through the public API is graded and its result stored; a second runner for the same
submission meets "already final" (409) and still exits 0."""

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from runner_support import GOOD_CODE, clean_env, log_events, run_runner
from waiting import answering, wait_for

from cloudemy_common.keys import submission_key
from cloudemy_common.tokens import submission_token
from fakes.ports import free_port

pytest.importorskip("cloudemy_backend.main", reason="the backend package is not installed")
pytest.importorskip("mongomock_motor", reason="MONGO_URI=memory:// needs mongomock-motor")

MASTER = "master-token-runner-with-backend-5d1e"
ADMIN = ("admin@example.com", "admin-password-123")
STUDENT = ("student@example.com", "student-password-123")
RUBRIC = [
    {"id": "correctness", "title": "Correct output", "description": "All cases right.", "points": 6},
    {"id": "style", "title": "Readable code", "description": "Clear names.", "points": 4},
]


@pytest.fixture
def backend_url(redis_url) -> Iterator[str]:
    port = free_port()
    env = clean_env() | {
        "MONGO_URI": "memory://",
        "REDIS_URL": redis_url,
        "INTERNAL_RESULT_TOKEN": MASTER,
        "JWT_SECRET": "jwt-secret-runner-with-backend-0123456789",
        "CLOUDEMY_ADMIN_EMAIL": ADMIN[0],
        "CLOUDEMY_ADMIN_PASSWORD": ADMIN[1],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "cloudemy_backend"], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(answering(f"{url}/healthz"), 30, 0.1, what="the backend", alive=lambda: proc.poll() is None)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _login(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = api.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _assignment_with_student(api: httpx.Client, body: dict) -> tuple[dict[str, str], dict[str, str], str]:
    """(admin headers, student headers, assignment URL): a published assignment of a new course, created by
    the admin, and a student who signed up and joined the course."""
    admin = _login(api, *ADMIN)
    course = api.post("/api/courses", headers=admin, json={"code": "RUN", "title": "Runner"}).json()
    body = body | {"languages": ["python"], "published": True}
    created = api.post(f"/api/courses/{course['id']}/assignments", headers=admin, json=body)
    assert created.status_code == 201, created.text
    signup = {"email": STUDENT[0], "password": STUDENT[1], "name": "Student"}
    assert api.post("/api/auth/register", json=signup).status_code == 201
    student = _login(api, *STUDENT)
    api.post("/api/courses/join", json={"join_code": course["join_code"]}, headers=student).raise_for_status()
    return admin, student, f"/api/assignments/{created.json()['id']}"


def test_real_backend_stores_the_runner_result(backend_url, redis_client, runner_env, fake_llm):
    with httpx.Client(base_url=backend_url, timeout=10, trust_env=False) as api:
        body = {"title": "FizzBuzz", "description": "Write fizzbuzz(n).", "rubric": RUBRIC}
        _, student, url = _assignment_with_student(api, body | {"fail_tags": ["wrong-output"]})
        submitted = api.post(f"{url}/submissions", headers=student, json={"language": "python", "code": GOOD_CODE})
        assert submitted.status_code == 202, submitted.text
        submission_id = submitted.json()["id"]
        assert redis_client.exists(submission_key(submission_id))

        fake_llm.set_mode("good", fraction=0.5)
        env = runner_env(
            SUBMISSION_ID=submission_id,
            BACKEND_INTERNAL_URL=f"{backend_url}/internal",
            INTERNAL_RESULT_TOKEN=submission_token(MASTER, submission_id),
        )
        first = run_runner(env)
        assert first.exit_code == 0, first.stderr

        stored = api.get(f"/api/submissions/{submission_id}", headers=student).json()
        assert stored["status"] == "graded"
        result = stored["result"]
        assert (result["score"], result["max_score"], result["fail_tags"]) == (5.0, 10.0, [])
        assert [(c["id"], c["score"]) for c in result["criteria"]] == [("correctness", 3.0), ("style", 2.0)]
        assert result["feedback"] == "Overall assessment from the fake model."
        assert not redis_client.exists(submission_key(submission_id)), "the backend deletes the payload"
        assert redis_client.keys("assignment*") == [], "and the assignment snapshot no other payload refers to"

        # A second runner (a Job retried after the first one already posted): the payload is gone, its
        # payload-missing result differs from the stored one, the backend answers 409, the runner exits 0.
        second = run_runner(env)
        assert second.exit_code == 0, second.stderr
        answered = [e for e in log_events(second.stderr) if e["msg"] == "result post answered"]
        assert [(e["http_status"], e["delivery"]) for e in answered] == [(409, "already-final")]
        assert api.get(f"/api/submissions/{submission_id}", headers=student).json()["result"] == result


def test_an_edit_while_submissions_wait_grades_each_against_its_own_version(backend_url, redis_client, runner_env):
    """An instructor fixes a test's expected output while a submission waits: the waiting one is graded
    against the tests it was submitted under, the next one against the fixed tests (through the real backend,
    shared snapshots in Redis and the real runner)."""
    tests = [{"id": "t1", "name": "prints one", "stdin": "", "expected_stdout": "1\n", "points": 2}]
    with httpx.Client(base_url=backend_url, timeout=10, trust_env=False) as api:
        admin, student, url = _assignment_with_student(
            api, {"title": "One", "description": "Print 1.", "rubric": [], "tests": tests}
        )
        code = {"language": "python", "code": "print(1)\n"}
        before = api.post(f"{url}/submissions", headers=student, json=code).json()["id"]
        edited = api.patch(url, headers=admin, json={"tests": [tests[0] | {"expected_stdout": "2\n"}]})
        assert edited.status_code == 200, edited.text
        after = api.post(f"{url}/submissions", headers=student, json=code).json()["id"]
        assert len(redis_client.keys("assignment:*")) == 2, "one snapshot per version"

        for submission_id in (after, before):  # the later one first: the order the runners run in is no matter
            env = runner_env(
                SUBMISSION_ID=submission_id,
                BACKEND_INTERNAL_URL=f"{backend_url}/internal",
                INTERNAL_RESULT_TOKEN=submission_token(MASTER, submission_id),
                LLM_API_KEY=None,
            )
            run = run_runner(env)
            assert run.exit_code == 0, run.stderr
        graded = {sid: api.get(f"/api/submissions/{sid}", headers=student).json()["result"] for sid in (before, after)}
        assert [(graded[before]["score"], graded[before]["tests"][0]["verdict"])] == [(2.0, "passed")]
        assert [(graded[after]["score"], graded[after]["tests"][0]["verdict"])] == [(0.0, "wrong_output")]
