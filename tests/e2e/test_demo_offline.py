"""`make demo` with no LLM at all: the sample FizzBuzz is graded by its tests, through the real backend, scheduler,
runner and sandbox. A correct program ends `graded` with full points, a wrong one with the points of the tests it
passes, and the student sees the hidden tests as a verdict only."""

import json
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from demo.platform import sample_assignment
from demo.processes import ROOT, free_port, image_env
from e2e.test_demo import read_banner

pytestmark = pytest.mark.slow

SAMPLE = sample_assignment(with_llm_rubric=False)
OFF_BY_ONE = (
    "import sys\n\nn = int(sys.stdin.read())\nfor i in range(1, n):\n"
    "    print('FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0 else i)\n"
)


def login(http: httpx.Client, banner: str, role: str) -> dict[str, str]:
    found = re.search(rf"{role}\s+(\S+)\s+password: (\S+)", banner)
    assert found, banner
    token = http.post("/api/auth/token", data={"username": found.group(1), "password": found.group(2)})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def wait_terminal(http: httpx.Client, headers: dict[str, str], submission_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = http.get(f"/api/submissions/{submission_id}", headers=headers).json()
        if seen["status"] in ("graded", "needs_review", "error", "timeout"):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"submission {submission_id} still {seen['status']}")


def test_offline_demo_grades_the_sample_by_its_tests() -> None:
    port = free_port()
    env = image_env() | {"PORT": str(port)}  # no LLM_API_KEY, no LLM_BASE_URL
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        banner = read_banner(proc, timeout=90)
        assert "the sample's tests" in banner
        assignment_id = re.search(r"\(id ([0-9a-f]{24})\)", banner).group(1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False) as http:
            student = login(http, banner, "student")
            instructor = login(http, banner, "instructor")
            assignment = http.get(f"/api/assignments/{assignment_id}", headers=student).json()
            assert assignment["rubric"] == []
            assert assignment["max_score"] == 10
            hidden_inputs = [t["stdin"] for t in SAMPLE["tests"] if t["hidden"]]

            reference = SAMPLE["reference_solution"]
            right = http.post(f"/api/assignments/{assignment_id}/submissions", json=reference, headers=student)
            wrong = http.post(
                f"/api/assignments/{assignment_id}/submissions",
                json={"language": "python", "code": OFF_BY_ONE},
                headers=student,
            )
            graded = wait_terminal(http, student, right.json()["id"])
            result = graded["result"]
            assert graded["status"] == "graded", json.dumps(result)
            assert result["grader"] == "tests"
            assert result["score"] == result["max_score"] == 10
            assert [t["verdict"] for t in result["tests"]] == ["passed"] * len(SAMPLE["tests"])
            hidden = [t for t in result["tests"] if t["hidden"]]
            assert len(hidden) == 2
            assert all(set(t) == {"id", "name", "hidden", "verdict", "points", "max_points"} for t in hidden)
            assert all(t["name"] == "Hidden test" for t in hidden)

            partial = wait_terminal(http, student, wrong.json()["id"])
            assert partial["status"] == "graded", partial["result"]
            assert 0 <= partial["result"]["score"] < 10
            verdicts = {t["id"]: t["verdict"] for t in partial["result"]["tests"]}
            assert verdicts["t-zero"] == "passed", "n = 0 prints nothing either way"
            assert verdicts["t-one"] == "wrong_output"
            student_view = json.dumps(http.get(f"/api/submissions/{wrong.json()['id']}", headers=student).json())
            assert "98\\n" not in student_view, "the output of the hidden n = 100 test reached the student"
            assert all(stdin not in student_view for stdin in hidden_inputs if len(stdin) > 2)

            staff_view = http.get(f"/api/submissions/{wrong.json()['id']}", headers=instructor).json()
            assert all("stdout" in t for t in staff_view["result"]["tests"]), "staff see every test's output"

            run = http.post(f"/api/assignments/{assignment_id}/test-run", json={}, headers=instructor)
            assert run.status_code == 202, run.text
            ran = wait_terminal(http, instructor, run.json()["id"])
            assert ran["test_run"] is True
            assert ran["status"] == "graded"
            assert ran["result"]["score"] == 10
            grades = http.get(f"/api/assignments/{assignment_id}/grades", headers=instructor).json()
            assert len(grades["items"]) == 1, "the reference run is not counted"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
