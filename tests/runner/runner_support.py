"""Helpers for the runner's tests: the recording internal API with this suite's token, payloads, and the runner
as a subprocess."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import fakes.internal_api
from cloudemy_common.keys import submission_key
from cloudemy_common.models import SubmissionPayload

MASTER_TOKEN = "master-token-for-runner-tests-7f3a"
LLM_KEY = "sk-test-key-never-logged-91c2"
SUBMISSION_ID = "65a1b2c3d4e5f60718293a4b"
USER_ID = "65a1b2c3d4e5f60718293a00"
ASSIGNMENT_ID = "65a1b2c3d4e5f60718293aff"

GOOD_CODE = '''def fizzbuzz(n: int) -> list[str]:
    """Return the FizzBuzz sequence from 1 to n."""
    out = []
    for i in range(1, n + 1):
        word = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
        out.append(word or str(i))
    return out
'''

ASSIGNMENT = {
    "title": "FizzBuzz",
    "description": "Write fizzbuzz(n) returning the FizzBuzz sequence from 1 to n as strings.",
    "rubric": [
        {"id": "correctness", "title": "Correct output", "description": "All cases right.", "points": 6},
        {"id": "style", "title": "Readable code", "description": "Clear names, docstring.", "points": 3},
        {"id": "edge-cases", "title": "Edge cases", "description": "n = 0 and negatives.", "points": 1},
    ],
    "max_score": 10,
    "fail_tags": ["wrong-output", "no-function"],
}


class RecordingBackend(fakes.internal_api.RecordingBackend):
    """The shared recording backend, checking tokens against this suite's master token."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(MASTER_TOKEN, port)


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The runner's JSON log lines (anything else on stderr, such as a library's own print, is skipped)."""
    events = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def make_payload(
    code: str = GOOD_CODE, *, language: str = "python", assignment: dict[str, Any] | None = None
) -> SubmissionPayload:
    return SubmissionPayload.model_validate(
        {
            "submission_id": SUBMISSION_ID,
            "user_id": USER_ID,
            "assignment_id": ASSIGNMENT_ID,
            "language": language,
            "code": code,
            "attempt": 1,
            "assignment": assignment or ASSIGNMENT,
        }
    )


def inline_payload_hash(payload: SubmissionPayload) -> dict[str, str]:
    """The payload hash as releases before shared assignment snapshots wrote it: the assignment inline."""
    fields = payload.redis_records().fields
    del fields["assignment_version"]
    return fields | {"assignment": payload.assignment.snapshot_json()}


def write_inline_payload(client: Any, payload: SubmissionPayload) -> None:
    client.hset(submission_key(payload.submission_id), mapping=inline_payload_hash(payload))


@dataclass
class RunnerRun:
    exit_code: int
    stderr: str
    seconds: float
    spawned_at: float  # time.time() just before the process was started


def run_runner(env: dict[str, str], timeout: float = 90) -> RunnerRun:
    """``python -m cloudemy_runner`` as the Job runs it."""
    spawned_at, started = time.time(), time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cloudemy_runner"], env=env, capture_output=True, text=True, timeout=timeout
    )
    return RunnerRun(proc.returncode, proc.stderr, time.monotonic() - started, spawned_at)


def clean_env() -> dict[str, str]:
    """This process's environment without proxies and without any LLM/OpenAI settings of the machine."""
    dropped_prefixes = ("OPENAI_", "LLM_", "AZURE_OPENAI")
    return {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"} and not k.startswith(dropped_prefixes)
    }


VARIABLE_METRICS = ("llm_latency_ms", "total_ms")


def split_metrics(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body without its timing metrics, and those metrics (checked to be sane integers)."""
    body = json.loads(json.dumps(body))
    timings = {key: body["metrics"].pop(key) for key in VARIABLE_METRICS}
    for key, value in timings.items():
        assert isinstance(value, int), (key, value)
        assert value >= 0, (key, value)
    assert timings["total_ms"] >= timings["llm_latency_ms"]
    return body, timings
