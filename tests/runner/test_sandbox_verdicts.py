"""From one run's facts to its verdict: the first breached limit wins, then a crash, then the comparison."""

import pytest

from cloudemy_common.program_tests import ProgramTest, Verdict
from cloudemy_runner.execution import classify
from cloudemy_runner.languages import load_table
from cloudemy_runner.sandbox.process import Breach, RunLimits, RunResult

LIMITS = RunLimits(cpu_seconds=1.0, wall_seconds=2.5, memory_mb=64, memory_rlimit="as", output_bytes=1024,
                   disk_bytes=1 << 20, processes=8, open_files=32)  # fmt: skip
TEST = ProgramTest(id="t1", stdin="", expected_stdout="42\n")


def run(**facts: object) -> RunResult:
    base: dict = {"exit_code": 0, "signal": None, "stdout": b"42\n", "stderr": b"", "wall_ms": 10,
                  "cpu_seconds": 0.01, "max_rss_kb": 1000, "breach": None, "leftovers": 0}  # fmt: skip
    base.update(facts)
    return RunResult(**base)


@pytest.mark.parametrize(
    ("facts", "verdict"),
    [
        ({}, Verdict.PASSED),
        ({"stdout": b"41\n"}, Verdict.WRONG_OUTPUT),
        ({"spawn_error": "launcher: EOFError"}, Verdict.SANDBOX_ERROR),
        ({"breach": Breach.WALL_TIME, "exit_code": None, "signal": "SIGKILL"}, Verdict.TIME_LIMIT),
        ({"exit_code": None, "signal": "SIGXCPU"}, Verdict.TIME_LIMIT),
        ({"cpu_seconds": 1.2}, Verdict.TIME_LIMIT),  # finished, but used more CPU than allowed
        ({"breach": Breach.OUTPUT, "exit_code": None, "signal": "SIGKILL"}, Verdict.OUTPUT_LIMIT),
        ({"breach": Breach.DISK, "exit_code": 1}, Verdict.OUTPUT_LIMIT),
        ({"exit_code": None, "signal": "SIGXFSZ"}, Verdict.OUTPUT_LIMIT),
        ({"exit_code": 1, "stderr": b"Traceback ...\nMemoryError\n"}, Verdict.MEMORY_LIMIT),
        ({"exit_code": None, "signal": "SIGKILL"}, Verdict.MEMORY_LIMIT),  # no breach of ours: the OOM killer
        ({"exit_code": None, "signal": "SIGSEGV", "max_rss_kb": 64 * 1024}, Verdict.MEMORY_LIMIT),
        ({"exit_code": None, "signal": "SIGSEGV"}, Verdict.RUNTIME_ERROR),
        ({"exit_code": 3, "stdout": b"42\n"}, Verdict.RUNTIME_ERROR),  # right output, failing exit status
        ({"breach": Breach.WALL_TIME, "stdout": b"42\n", "exit_code": None, "signal": "SIGKILL"}, Verdict.TIME_LIMIT),
    ],
)
def test_verdict_of_a_run(facts, verdict):
    assert classify(TEST, run(**facts), LIMITS, load_table().languages["python"]) is verdict


def test_memory_markers_come_from_the_language_table():
    java = load_table().languages["java"]
    oom = run(exit_code=1, stderr=b'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space')
    assert classify(TEST, oom, LIMITS, java) is Verdict.MEMORY_LIMIT
    assert classify(TEST, oom, LIMITS, load_table().languages["c"]) is Verdict.RUNTIME_ERROR
