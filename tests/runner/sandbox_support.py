"""Grade a submission with instructor tests through the real runner (a subprocess), and check what every
sandboxed run must guarantee: one result, no secret, no other test's data, nothing left running."""

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner_support import LLM_KEY, MASTER_TOKEN, SUBMISSION_ID, RecordingBackend, RunnerRun, run_runner

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.tokens import submission_token

DEADLINE_SECONDS = 30
"""JOB_DEADLINE_SECONDS of these runs: small limits keep every run far below it."""
LIMITS = {"time_seconds": 0.5, "memory_mb": 128, "output_kb": 16}


@dataclass
class Graded:
    result: dict[str, Any]
    run: RunnerRun
    posted: list[dict[str, Any]]
    hidden_stdin: str
    hidden_expected: str
    sandbox_dir: Path

    def test(self, test_id: str) -> dict[str, Any]:
        return next(t for t in self.result["tests"] if t["id"] == test_id)

    @property
    def verdicts(self) -> list[str]:
        return [t["verdict"] for t in self.result["tests"]]


def assignment(tests: list[dict[str, Any]], *, rubric: list[dict[str, Any]] | None = None,
               limits: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    rubric = rubric or []
    points = sum(c["points"] for c in rubric) + sum(t.get("points", 1) for t in tests)
    return {"title": "Sandbox", "description": "Read stdin, print the answer.", "rubric": rubric,
            "tests": tests, "limits": limits or LIMITS, "max_score": points}  # fmt: skip


def with_hidden(visible: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, str]:
    """``visible`` plus one hidden test whose input and expected output are unique canaries."""
    stdin, expected = f"HIDDEN-INPUT-{uuid.uuid4().hex}", f"HIDDEN-EXPECTED-{uuid.uuid4().hex}"
    hidden = {"id": "hidden-1", "stdin": stdin + "\n", "expected_stdout": expected + "\n", "hidden": True}
    return [*visible, hidden], stdin, expected


def live_processes_mentioning(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (the run's sandbox directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


def grade(
    store_payload: Callable[..., SubmissionPayload],
    runner_env: Callable[..., dict[str, str]],
    backend: RecordingBackend,
    tmp_path: Path,
    code: str,
    *,
    language: str = "python",
    visible: list[dict[str, Any]] | None = None,
    rubric: list[dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
    **env: str | None,
) -> Graded:
    """Store the submission, run the runner once, and assert the invariants every run must keep."""
    sandbox_dir = Path(tempfile.mkdtemp(prefix="sandbox-test-"))  # under /tmp: passable by the programs' user
    sandbox_dir.chmod(0o755)
    try:
        return _grade_in(store_payload, runner_env, backend, sandbox_dir, code, language, visible, rubric, limits, env)
    finally:
        shutil.rmtree(sandbox_dir, ignore_errors=True)


def _grade_in(
    store_payload: Callable[..., SubmissionPayload],
    runner_env: Callable[..., dict[str, str]],
    backend: RecordingBackend,
    sandbox_dir: Path,
    code: str,
    language: str,
    visible: list[dict[str, Any]] | None,
    rubric: list[dict[str, Any]] | None,
    limits: dict[str, Any] | None,
    env: dict[str, str | None],
) -> Graded:
    tests, hidden_stdin, hidden_expected = with_hidden(visible or [{"id": "t1", "stdin": "", "expected_stdout": ""}])
    store_payload(code, language=language, assignment=assignment(tests, rubric=rubric, limits=limits))
    overrides: dict[str, str | None] = {"JOB_DEADLINE_SECONDS": str(DEADLINE_SECONDS), "SANDBOX_DIR": str(sandbox_dir)}
    overrides.update(env)  # the fake LLM stays configured: a tests-only assignment must not call it
    run = run_runner(runner_env(**overrides), timeout=DEADLINE_SECONDS + 15)
    posted = [r.body for r in backend.results()]
    assert run.exit_code == 0, run.stderr[-3000:]
    assert len(posted) == 1, "exactly one result is posted"
    assert run.seconds < DEADLINE_SECONDS, "the runner finished within the Job's deadline"
    assert live_processes_mentioning(str(sandbox_dir)) == [], "no program process is left running"
    assert list(sandbox_dir.iterdir()) == [], "every build and working directory is removed"
    result = posted[0]
    assert_no_leak(result, run.stderr, hidden_stdin, hidden_expected)
    return Graded(result, run, posted, hidden_stdin, hidden_expected, sandbox_dir)


def assert_no_leak(result: dict[str, Any], logs: str, hidden_stdin: str, hidden_expected: str) -> None:
    """No secret of the runner anywhere; a hidden test's expected output nowhere; its input only in that
    test's own output excerpt (the program may echo its input; staff alone see that field)."""
    secrets = [LLM_KEY, MASTER_TOKEN, submission_token(MASTER_TOKEN, SUBMISSION_ID)]
    everything = json.dumps(result) + logs
    for secret in secrets:
        assert secret not in everything
    assert hidden_expected not in everything
    outside_hidden = dict(result, tests=[t for t in result.get("tests") or [] if t["id"] != "hidden-1"])
    assert hidden_stdin not in json.dumps(outside_hidden) + logs
