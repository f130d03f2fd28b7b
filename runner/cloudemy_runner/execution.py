"""Run the instructor's tests: compile once, run every test in the sandbox, compute verdicts and test points.

Time: each test gets CPU = its ``time_limit_seconds`` (plus the language's start-up allowance) and wall time
= twice that plus half a second (a program waiting on nothing still ends). All tests together end by the
tests phase of the Job's budget; a test that has no time left gets ``time_limit`` without running, and one
cut short by it gets ``time_limit``, so a slow submission still ends with every verdict and one result.
Nothing a test's program prints is logged, and hidden tests' input and expected output never leave this
module except as the verdict.
"""

import logging
import math
import time
from dataclasses import dataclass, field

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.program_tests import (
    COMPILE_TIME_LIMIT_SECONDS,
    MAX_COMPILE_OUTPUT_BYTES,
    Limits,
    ProgramTest,
    TestOutcome,
    Verdict,
    excerpt,
    outputs_match,
)
from cloudemy_runner.languages import LanguageConfig, LanguageTable
from cloudemy_runner.sandbox.client import Launcher
from cloudemy_runner.sandbox.process import (
    Breach,
    ProgramRunner,
    RunLimits,
    RunRequest,
    RunResult,
    SandboxPaths,
    remove_tree,
)
from cloudemy_runner.sandbox.support import SandboxSupport, prepare

log = logging.getLogger("cloudemy_runner")

WALL_FACTOR = 2.0
WALL_GRACE_SECONDS = 0.5
MIN_TEST_SECONDS = 0.05
"""A test with less time than this left in the phase is not started: it gets ``time_limit``."""
MIB = 1024 * 1024
SYSTEM_TMP = "/tmp"  # noqa: S108  (a fallback for root runners only, with a private mkdtemp directory)


@dataclass(frozen=True)
class CompileStep:
    ok: bool
    output: str
    ms: int
    timed_out: bool = False
    out_of_budget: bool = False
    """Stopped by the end of the tests phase (the Job's budget), not by the compile limit: time_limit."""
    sandbox_error: str = ""


@dataclass
class TestsReport:
    """Everything the tests produced: outcomes in the assignment's order, compile output, metrics."""

    outcomes: list[TestOutcome] = field(default_factory=list)
    compile_output: str = ""
    unavailable: list[str] = field(default_factory=list)
    """Programs the language needs that this image lacks (then nothing ran)."""
    sandbox_errors: list[str] = field(default_factory=list)
    metrics: dict[str, str | int | float | bool] = field(default_factory=dict)
    budget_cut: bool = False
    """The end of the tests phase (the grading time), not a test's own limit, stopped or skipped a test."""

    @property
    def earned(self) -> float:
        return round(sum(o.points for o in self.outcomes), 2)

    @property
    def sandbox_failed(self) -> bool:
        return any(o.verdict is Verdict.SANDBOX_ERROR for o in self.outcomes)


def _format(argv: list[str], **values: str) -> list[str]:
    return [part.format(**values) for part in argv]


def _outcome(test: ProgramTest, verdict: Verdict, result: RunResult | None = None) -> TestOutcome:
    passed = verdict is Verdict.PASSED
    return TestOutcome(
        id=test.id,
        verdict=verdict,
        points=test.points if passed else 0.0,
        max_points=test.points,
        time_ms=min(result.wall_ms, 86_400_000) if result else 0,
        exit_code=max(min(result.exit_code, 255), -255) if result and result.exit_code is not None else None,
        signal=result.signal if result else None,
        stdout=excerpt(result.stdout) if result else "",
        stderr=excerpt(result.stderr) if result else "",
    )


def classify(test: ProgramTest, result: RunResult, limits: RunLimits, language: LanguageConfig) -> Verdict:
    """The verdict of one run: the first breached limit wins, then a crash, then the comparison."""
    if result.spawn_error:
        return Verdict.SANDBOX_ERROR
    if result.breach is Breach.WALL_TIME or result.signal == "SIGXCPU" or result.cpu_seconds > limits.cpu_seconds:
        return Verdict.TIME_LIMIT
    if result.breach in (Breach.OUTPUT, Breach.DISK) or result.file_size_exceeded:
        return Verdict.OUTPUT_LIMIT
    if result.signal == "SIGKILL":  # the sandbox records its own kills as breaches: this was the OOM killer
        return Verdict.MEMORY_LIMIT
    failed = result.exit_code != 0
    if failed:
        stderr = result.stderr.decode("utf-8", "replace")
        if any(marker in stderr for marker in language.memory_error_markers) or (
            result.max_rss_kb * 1024 >= limits.memory_mb * MIB
        ):
            return Verdict.MEMORY_LIMIT
        return Verdict.RUNTIME_ERROR
    if outputs_match(test.compare, test.expected_stdout.encode(), result.stdout, test.float_tolerance):
        return Verdict.PASSED
    return Verdict.WRONG_OUTPUT


class TestSession:
    """One submission's program: its build directory, then one fresh working directory per test."""

    def __init__(self, table: LanguageTable, language: LanguageConfig, paths: SandboxPaths,
                 support: SandboxSupport) -> None:  # fmt: skip
        self.table = table
        self.language = language
        self.paths = paths
        self.support = support
        box = table.sandbox
        self.runner = ProgramRunner(support, box.read_paths, box.device_paths, box.path, box.lang)
        self.launcher = launcher_for(table)
        self.build = paths.root / "build"
        self.main = self.build / language.main_file
        self.runs = 0
        self.leftovers = 0
        """Processes killed after their run had ended (they had left the program's process group)."""

    def limits_for(self, limits: Limits, *, wall_cap: float) -> RunLimits:
        box, lang = self.table.sandbox, self.language
        cpu = limits.time_seconds + lang.cpu_extra_seconds
        return RunLimits(
            cpu_seconds=cpu,
            wall_seconds=max(min(cpu * WALL_FACTOR + WALL_GRACE_SECONDS, wall_cap), 0.0),
            memory_mb=limits.memory_mb,
            memory_rlimit=lang.memory_rlimit,
            output_bytes=limits.output_kb * 1024,
            disk_bytes=box.disk_mb * MIB,
            processes=lang.processes or box.processes,
            open_files=lang.open_files or box.open_files,
        )

    def write_source(self, code: str) -> None:
        self.runner.prepare_dir(self.build, writable_by_program=True)
        self.main.write_text(code, encoding="utf-8")

    def compile(self, seconds: float, wall_cap: float) -> CompileStep:
        if not self.language.compile:
            self.runner.seal(self.build)
            return CompileStep(ok=True, output="", ms=0)
        box, lang = self.table.sandbox, self.language
        limits = RunLimits(
            cpu_seconds=seconds,
            wall_seconds=min(seconds * 1.5, wall_cap),
            memory_mb=box.compile_memory_mb,
            memory_rlimit=lang.memory_rlimit,
            output_bytes=MAX_COMPILE_OUTPUT_BYTES * 8,
            disk_bytes=box.disk_mb * 2 * MIB,
            processes=box.compile_processes,
            open_files=max(lang.open_files or 0, 256),
        )
        argv = _format(lang.compile, main=str(self.main), build=str(self.build), memory_mb=str(limits.memory_mb))
        result = self.launcher.run(
            RunRequest(
                argv=argv,
                cwd=str(self.build),
                stdin=b"",
                limits=limits,
                memory_overhead_mb=lang.compile_memory_overhead_mb,
                extra_env={"TMPDIR": str(self.build)},
            )
        )
        self.runner.seal(self.build)
        self.leftovers += result.leftovers
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        if result.spawn_error:
            return CompileStep(ok=False, output="", ms=result.wall_ms, sandbox_error=result.spawn_error)
        timed_out = result.breach is Breach.WALL_TIME or result.signal == "SIGXCPU" or result.cpu_seconds > seconds
        out_of_budget = timed_out and limits.wall_seconds < seconds * 1.5 and result.cpu_seconds <= seconds
        if out_of_budget:
            text = f"Compilation stopped: the grading time of this submission ran out.\n{text}"
        elif timed_out:
            text = f"Compilation stopped: it exceeded the {seconds:g} s compile limit.\n{text}"
        ok = not timed_out and result.exit_code == 0 and result.breach is None
        return CompileStep(ok=ok, output=excerpt(text, MAX_COMPILE_OUTPUT_BYTES), ms=result.wall_ms,
                           timed_out=timed_out, out_of_budget=out_of_budget)  # fmt: skip

    def run_test(self, test: ProgramTest, defaults: Limits, wall_cap: float) -> TestOutcome:
        limits = self.limits_for(test.effective_limits(defaults), wall_cap=wall_cap)
        cwd = self.paths.root / f"run-{self.runs}"
        self.runs += 1
        self.runner.prepare_dir(cwd, writable_by_program=True)
        try:
            argv = _format(
                self.language.run, main=str(self.main), build=str(self.build), memory_mb=str(limits.memory_mb)
            )
            result = self.launcher.run(
                RunRequest(
                    argv=argv,
                    cwd=str(cwd),
                    stdin=test.stdin.encode("utf-8"),
                    limits=limits,
                    memory_overhead_mb=self.language.memory_overhead_mb,
                    extra_read=(str(self.build),),
                )
            )
        finally:
            remove_tree(cwd)
        self.leftovers += result.leftovers
        verdict = classify(test, result, limits, self.language)
        if verdict is Verdict.SANDBOX_ERROR:
            log.error("sandbox failed test=%s reason=%s", test.id, result.spawn_error)
        return _outcome(test, verdict, result)


_launchers: dict[tuple[str, ...], Launcher] = {}


def launcher_for(table: LanguageTable) -> Launcher:
    """The launcher process for this table's sandbox settings, started once per runner process."""
    box = table.sandbox
    key = (*box.read_paths, "|", *box.device_paths, "|", box.path, box.lang)
    if key not in _launchers:
        _launchers[key] = Launcher(box.read_paths, box.device_paths, box.path, box.lang)
    return _launchers[key]


def create_paths(sandbox_dir: str | None, *, other_uid: bool) -> SandboxPaths:
    """The sandbox's directories under ``sandbox_dir`` (default: the temporary directory). Programs running as
    another user (a root runner) cannot pass through a private temporary directory (TMPDIR of a test runner,
    say): then the system's ``/tmp``, which every user may pass through, is used instead."""
    try:
        return SandboxPaths.create(sandbox_dir, other_uid=other_uid)
    except PermissionError as exc:
        if not other_uid or sandbox_dir == SYSTEM_TMP:
            raise
        log.warning("sandbox directory moved to %s: %s", SYSTEM_TMP, exc)
        return SandboxPaths.create(SYSTEM_TMP, other_uid=other_uid)


def run_tests(
    payload: SubmissionPayload,
    table: LanguageTable,
    *,
    phase_end: float,
    compile_seconds: float = COMPILE_TIME_LIMIT_SECONDS,
    sandbox_dir: str | None = None,
) -> TestsReport:
    """Compile the submission once and run every test of its assignment, all before ``phase_end``
    (a ``time.monotonic()`` instant)."""
    assignment = payload.assignment
    report = TestsReport()
    language = table.languages.get(payload.language)
    if language is None:
        report.unavailable = [payload.language]
        return report
    missing = language.missing_toolchain(table.sandbox.path)
    if missing:
        report.unavailable = missing
        return report
    support = prepare()
    report.metrics.update(support.metrics())
    started = time.monotonic()
    try:
        paths = create_paths(sandbox_dir, other_uid=support.run_as_uid is not None)
    except OSError as exc:
        log.error("sandbox directory unusable error=%s", exc)
        report.sandbox_errors.append(str(exc))
        report.outcomes = [_outcome(test, Verdict.SANDBOX_ERROR) for test in assignment.tests]
        return report
    try:
        session = TestSession(table, language, paths, support)
        session.write_source(payload.code)
        step = session.compile(compile_seconds, wall_cap=phase_end - time.monotonic())
        report.compile_output = step.output
        report.metrics["compile_ms"] = step.ms
        for test in assignment.tests:
            remaining = phase_end - time.monotonic()
            if step.sandbox_error:
                report.sandbox_errors.append(step.sandbox_error)
                report.outcomes.append(_outcome(test, Verdict.SANDBOX_ERROR))
            elif step.out_of_budget:
                report.budget_cut = True
                report.outcomes.append(_outcome(test, Verdict.TIME_LIMIT))
            elif not step.ok:
                report.outcomes.append(_outcome(test, Verdict.COMPILE_ERROR))
            elif remaining < MIN_TEST_SECONDS:
                report.budget_cut = True
                report.outcomes.append(_outcome(test, Verdict.TIME_LIMIT))
            else:
                outcome = session.run_test(test, assignment.limits, remaining)
                own_wall = session.limits_for(test.effective_limits(assignment.limits), wall_cap=math.inf).wall_seconds
                report.budget_cut |= outcome.verdict is Verdict.TIME_LIMIT and own_wall > remaining
                report.outcomes.append(outcome)
        report.metrics["sandbox_leftovers"] = session.leftovers
    finally:
        paths.remove()
    passed = sum(o.verdict is Verdict.PASSED for o in report.outcomes)
    report.metrics.update(
        {
            "tests_total": len(report.outcomes),
            "tests_passed": passed,
            "tests_points": report.earned,
            "tests_ms": int((time.monotonic() - started) * 1000),
            "tests_budget_cut": report.budget_cut,
        }
    )
    log.info(
        "tests done language=%s total=%d passed=%d compile_ok=%s ms=%d",
        payload.language,
        len(report.outcomes),
        passed,
        bool(report.outcomes) and report.outcomes[0].verdict is not Verdict.COMPILE_ERROR,
        report.metrics["tests_ms"],
    )
    return report
