"""Instructor tests of an assignment and their per-test outcomes: the contract and its one comparison rule.

An assignment may carry ``tests`` (stdin, expected stdout, points) and ``limits``; the runner runs the
student's program once per test in its sandbox and reports one :class:`TestOutcome` per test. The backend
validates assignments with these models, the runner grades with :func:`outputs_match`, and both trim text
with :func:`excerpt`, so what counts as "passed" and how much output is kept has exactly one definition.
"""

import math
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_TESTS = 100
MAX_TEST_IO_BYTES = 256 * 1024
"""Ceiling of a test's ``stdin`` and of its ``expected_stdout``, each, in UTF-8 bytes."""
MAX_EXCERPT_BYTES = 4 * 1024
"""Ceiling of the ``stdout`` and ``stderr`` excerpts of one test outcome, in UTF-8 bytes."""
MAX_COMPILE_OUTPUT_BYTES = 8 * 1024
COMPILE_TIME_LIMIT_SECONDS = 30.0
MAX_TEST_POINTS = 10_000.0

DEFAULT_TIME_SECONDS = 2.0
DEFAULT_MEMORY_MB = 256
DEFAULT_OUTPUT_KB = 64
DEFAULT_FLOAT_TOLERANCE = 1e-6

# Bounds a single test may ask for: wide enough for real coursework, narrow enough that one Job stays bounded.
MIN_TIME_SECONDS, MAX_TIME_SECONDS = 0.1, 60.0
MIN_MEMORY_MB, MAX_MEMORY_MB = 16, 4096
MIN_OUTPUT_KB, MAX_OUTPUT_KB = 1, 16_384

TEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Compare(StrEnum):
    """How a test's actual stdout is compared with its ``expected_stdout``."""

    EXACT = "exact"
    """Byte-equal."""
    TRIM = "trim"
    """Trailing whitespace of every line and trailing empty lines ignored."""
    TOKENS = "tokens"
    """Whitespace-separated tokens equal."""
    FLOAT = "float"
    """Tokens equal; numeric tokens equal within ``float_tolerance``, absolute or relative."""


class Verdict(StrEnum):
    PASSED = "passed"
    WRONG_OUTPUT = "wrong_output"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    RUNTIME_ERROR = "runtime_error"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    """Every test gets it when compiling the program failed."""
    SANDBOX_ERROR = "sandbox_error"
    """The platform failed, not the student: the submission ends ``error`` with fail tag ``sandbox-error``."""


def _utf8_at_most(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            raise ValueError(f"at most {limit} bytes (UTF-8)")
        return value

    return AfterValidator(check)


TestText = Annotated[str, _utf8_at_most(MAX_TEST_IO_BYTES)]
ExcerptText = Annotated[str, _utf8_at_most(MAX_EXCERPT_BYTES)]
CompileOutput = Annotated[str, _utf8_at_most(MAX_COMPILE_OUTPUT_BYTES)]
TestId = Annotated[str, StringConstraints(pattern=TEST_ID_PATTERN)]
TestPoints = Annotated[float, Field(ge=0, le=MAX_TEST_POINTS)]
TimeSeconds = Annotated[float, Field(ge=MIN_TIME_SECONDS, le=MAX_TIME_SECONDS)]
MemoryMb = Annotated[int, Field(ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Limits(_Contract):
    """The assignment's default limits for every test: wall/CPU seconds, memory and output."""

    time_seconds: TimeSeconds = DEFAULT_TIME_SECONDS
    memory_mb: MemoryMb = DEFAULT_MEMORY_MB
    output_kb: Annotated[int, Field(ge=MIN_OUTPUT_KB, le=MAX_OUTPUT_KB)] = DEFAULT_OUTPUT_KB


class ProgramTest(_Contract):
    """One instructor test: the program reads ``stdin`` and must print ``expected_stdout``."""

    id: TestId
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    stdin: TestText = ""
    expected_stdout: TestText = ""
    points: TestPoints = 1.0
    hidden: bool = False
    compare: Compare = Compare.TRIM
    float_tolerance: Annotated[float, Field(ge=0, le=1)] = DEFAULT_FLOAT_TOLERANCE
    time_limit_seconds: TimeSeconds | None = None
    memory_limit_mb: MemoryMb | None = None

    def effective_limits(self, defaults: Limits) -> Limits:
        """This test's limits: its own time and memory where set, the assignment's otherwise."""
        return Limits(
            time_seconds=self.time_limit_seconds if self.time_limit_seconds is not None else defaults.time_seconds,
            memory_mb=self.memory_limit_mb if self.memory_limit_mb is not None else defaults.memory_mb,
            output_kb=defaults.output_kb,
        )


class TestOutcome(_Contract):
    """What one test did: its verdict, the points it earned, and excerpts of what the program printed."""

    __test__ = False  # not a pytest class, despite the name

    id: TestId
    verdict: Verdict
    points: TestPoints
    max_points: TestPoints
    time_ms: Annotated[int, Field(ge=0, le=86_400_000)] = 0
    exit_code: Annotated[int, Field(ge=-255, le=255)] | None = None
    signal: Annotated[str, StringConstraints(pattern=r"^SIG[A-Z0-9+-]{1,12}$")] | None = None
    stdout: ExcerptText = ""
    stderr: ExcerptText = ""
    marked_by: Annotated[str | None, Field(description="set when an instructor changed the points: their user id")] = (
        None
    )

    @model_validator(mode="after")
    def _points_consistent(self) -> Self:
        if self.points > self.max_points + 1e-9:
            raise ValueError("test points exceed its max_points")
        if self.verdict is not Verdict.PASSED and self.points != 0 and self.marked_by is None:
            raise ValueError("only a passed test earns points (unless an instructor marked it)")
        return self


def validate_tests(tests: list[ProgramTest], rubric_ids: list[str]) -> None:
    """Raise ValueError unless test ids are unique among themselves and distinct from every rubric id."""
    if len(tests) > MAX_TESTS:
        raise ValueError(f"at most {MAX_TESTS} tests")
    ids = [t.id for t in tests]
    if len(set(ids)) != len(ids):
        raise ValueError("test ids must be unique")
    clash = sorted(set(ids) & set(rubric_ids))
    if clash:
        raise ValueError(f"test ids must differ from rubric ids: {', '.join(clash)}")


def total_test_points(tests: list[ProgramTest]) -> float:
    """The points all tests together are worth."""
    return sum(t.points for t in tests)


def excerpt(text: str | bytes, limit: int = MAX_EXCERPT_BYTES) -> str:
    """At most ``limit`` UTF-8 bytes of ``text`` (decoded leniently), cut on a character boundary."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace") if isinstance(text, bytes) else text
    marker = "\n[... truncated]"
    head = raw[: max(0, limit - len(marker.encode()))]
    cut = head.decode("utf-8", "ignore")
    # "replace" may widen invalid bytes to 3-byte U+FFFD; "ignore" after the cut keeps the byte bound.
    while len((cut + marker).encode("utf-8")) > limit:
        cut = cut[:-1]
    return cut + marker


def _trim_lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _float_equal(expected: str, actual: str, tolerance: float) -> bool:
    if expected == actual:
        return True
    try:
        e, a = float(expected), float(actual)
    except ValueError:
        return False
    if math.isnan(e) or math.isnan(a):
        return math.isnan(e) and math.isnan(a)
    if math.isinf(e) or math.isinf(a):
        return e == a
    return abs(e - a) <= tolerance or abs(e - a) <= tolerance * max(abs(e), abs(a))


def outputs_match(
    compare: Compare, expected: str | bytes, actual: str | bytes, float_tolerance: float = DEFAULT_FLOAT_TOLERANCE
) -> bool:
    """Whether ``actual`` stdout passes against ``expected`` under ``compare``."""
    if compare is Compare.EXACT:
        e_raw = expected.encode() if isinstance(expected, str) else expected
        a_raw = actual.encode() if isinstance(actual, str) else actual
        return e_raw == a_raw
    e_text = expected.decode("utf-8", "replace") if isinstance(expected, bytes) else expected
    a_text = actual.decode("utf-8", "replace") if isinstance(actual, bytes) else actual
    if compare is Compare.TRIM:
        return _trim_lines(e_text) == _trim_lines(a_text)
    e_tokens, a_tokens = e_text.split(), a_text.split()
    if compare is Compare.TOKENS:
        return e_tokens == a_tokens
    return len(e_tokens) == len(a_tokens) and all(
        _float_equal(e, a, float_tolerance) for e, a in zip(e_tokens, a_tokens, strict=True)
    )
