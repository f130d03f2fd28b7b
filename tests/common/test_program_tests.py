"""The instructor-test contract: assignment tests and limits, result outcomes, and the comparison rule."""

import pytest
from pydantic import ValidationError

from cloudemy_common.models import AssignmentSpec, ResultBody
from cloudemy_common.program_tests import (
    MAX_COMPILE_OUTPUT_BYTES,
    MAX_EXCERPT_BYTES,
    MAX_TEST_IO_BYTES,
    MAX_TESTS,
    Compare,
    Limits,
    ProgramTest,
    TestOutcome,
    Verdict,
    excerpt,
    outputs_match,
)

RUBRIC = [{"id": "style", "title": "Style", "points": 4}]
TEST = {"id": "t-small", "name": "n = 3", "stdin": "3\n", "expected_stdout": "1\n2\nFizz\n", "points": 2}


def spec(**overrides: object) -> dict:
    base: dict = {"title": "FizzBuzz", "rubric": RUBRIC, "tests": [TEST], "max_score": 6}
    base.update(overrides)
    return base


def test_spec_defaults_of_a_test_and_of_limits():
    test = ProgramTest.model_validate({"id": "t1"})
    assert (test.hidden, test.compare, test.stdin, test.expected_stdout) == (False, Compare.TRIM, "", "")
    assert (test.time_limit_seconds, test.memory_limit_mb) == (None, None)
    assert Limits() == Limits(time_seconds=2, memory_mb=256, output_kb=64)
    own = ProgramTest(id="t2", time_limit_seconds=5).effective_limits(Limits(memory_mb=128))
    assert own == Limits(time_seconds=5, memory_mb=128, output_kb=64)


def test_assignment_with_tests_and_rubric_sums_both_into_max_score():
    parsed = AssignmentSpec.model_validate(spec(limits={"time_seconds": 1, "memory_mb": 64, "output_kb": 8}))
    assert parsed.tests[0].points == 2
    assert parsed.limits.memory_mb == 64
    with pytest.raises(ValidationError, match="max_score"):
        AssignmentSpec.model_validate(spec(max_score=4))


def test_tests_only_assignment_allows_an_empty_rubric_but_not_nothing_at_all():
    assert AssignmentSpec.model_validate(spec(rubric=[], max_score=2)).rubric == []
    with pytest.raises(ValidationError, match="rubric criterion or a test"):
        AssignmentSpec.model_validate(spec(rubric=[], tests=[], max_score=0))


def test_assignment_without_tests_keeps_its_old_shape():
    parsed = AssignmentSpec.model_validate({"title": "T", "rubric": RUBRIC, "max_score": 4})
    assert parsed.tests == []
    assert parsed.limits == Limits()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tests": [TEST, TEST], "max_score": 8}, "test ids must be unique"),
        ({"tests": [{**TEST, "id": "style"}]}, "differ from rubric ids"),
        ({"tests": [{**TEST, "id": f"t{i}", "points": 0} for i in range(MAX_TESTS + 1)], "max_score": 4}, "100"),
        ({"tests": [{**TEST, "stdin": "x" * (MAX_TEST_IO_BYTES + 1)}]}, "at most"),
        ({"tests": [{**TEST, "expected_stdout": "é" * (MAX_TEST_IO_BYTES // 2 + 1)}]}, "at most"),
        ({"tests": [{**TEST, "points": -1}]}, "greater than or equal"),
        ({"tests": [{**TEST, "compare": "regex"}]}, "compare"),
        ({"tests": [{**TEST, "id": "has space"}]}, "pattern"),
        ({"tests": [{**TEST, "time_limit_seconds": 3600}]}, "time_limit_seconds"),
        ({"limits": {"memory_mb": 1}}, "memory_mb"),
        ({"limits": {"output_kb": 0}}, "output_kb"),
        ({"tests": [{**TEST, "surprise": 1}]}, "surprise"),
    ],
)
def test_invalid_tests_are_refused_with_a_reason(overrides, message):
    with pytest.raises(ValidationError, match=message):
        AssignmentSpec.model_validate(spec(**overrides))


def test_stdin_of_exactly_the_limit_is_accepted():
    big = {**TEST, "stdin": "x" * MAX_TEST_IO_BYTES}
    assert len(AssignmentSpec.model_validate(spec(tests=[big])).tests[0].stdin) == MAX_TEST_IO_BYTES


def outcome(**overrides: object) -> dict:
    base: dict = {"id": "t-small", "verdict": "passed", "points": 2, "max_points": 2, "time_ms": 12, "exit_code": 0}
    base.update(overrides)
    return base


def test_result_body_carries_test_outcomes_compile_output_and_the_tests_grader():
    body = ResultBody.model_validate(
        {
            "status": "graded",
            "score": 2,
            "max_score": 2,
            "grader": "tests",
            "tests": [outcome(), outcome(id="t2", verdict="wrong_output", points=0, stdout="Fizz\n")],
            "compile_output": "",
        }
    )
    assert body.tests is not None
    assert [t.verdict for t in body.tests] == [Verdict.PASSED, Verdict.WRONG_OUTPUT]
    assert ResultBody.model_validate_json(body.model_dump_json()) == body
    assert ResultBody(status="graded").tests is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"verdict": "wrong_output"},  # points for a failed test
        {"points": 3},
        {"verdict": "crashed", "points": 0},
        {"stdout": "x" * (MAX_EXCERPT_BYTES + 1)},
        {"stderr": "x" * (MAX_EXCERPT_BYTES + 1)},
        {"signal": "kill -9"},
        {"time_ms": -1},
    ],
)
def test_invalid_outcomes_are_refused(overrides):
    with pytest.raises(ValidationError):
        TestOutcome.model_validate(outcome(**overrides))


def test_compile_output_is_bounded():
    with pytest.raises(ValidationError):
        ResultBody(status="graded", compile_output="e" * (MAX_COMPILE_OUTPUT_BYTES + 1))


def test_every_verdict_of_the_contract_exists():
    assert {v.value for v in Verdict} == {
        "passed", "wrong_output", "time_limit", "memory_limit", "runtime_error",
        "output_limit", "compile_error", "sandbox_error",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("compare", "expected", "actual", "ok"),
    [
        (Compare.EXACT, "1\n2\n", "1\n2\n", True),
        (Compare.EXACT, "1\n2\n", "1\n2", False),
        (Compare.EXACT, b"a\r\n", b"a\n", False),
        (Compare.TRIM, "1\n2\n", "1  \n2\n\n\n", True),
        (Compare.TRIM, "1\n2\n", "1\n 2\n", False),  # leading whitespace counts
        (Compare.TRIM, "1\n\n2\n", "1\n2\n", False),  # inner empty lines count
        (Compare.TOKENS, "1 2\n3", "1\n2   3\n", True),
        (Compare.TOKENS, "1 2 3", "1 2", False),
        (Compare.FLOAT, "0.333333 x", "0.3333331 x", True),
        (Compare.FLOAT, "1e9", "1.0000000001e9", True),  # relative
        (Compare.FLOAT, "0.5", "0.6", False),
        (Compare.FLOAT, "abc", "abd", False),
        (Compare.FLOAT, "1 2", "1", False),
        (Compare.FLOAT, "nan inf", "nan inf", True),
        (Compare.FLOAT, "inf", "1e308", False),
    ],
)
def test_comparison_modes(compare, expected, actual, ok):
    assert outputs_match(compare, expected, actual) is ok


def test_excerpt_stays_within_its_byte_bound_on_a_character_boundary():
    assert excerpt("short") == "short"
    cut = excerpt("é" * 5000)
    assert len(cut.encode()) <= MAX_EXCERPT_BYTES
    assert cut.endswith("[... truncated]")
    assert len(excerpt(b"\xff" * 10_000).encode()) <= MAX_EXCERPT_BYTES
    assert excerpt(b"ok\xff") == "ok\ufffd"


def test_a_result_without_tests_is_posted_without_the_test_keys():
    assert set(ResultBody(status="graded", score=1, max_score=1).to_wire()) == {
        "status", "score", "max_score", "fail_tags", "feedback", "metrics", "criteria", "grader",
    }  # fmt: skip
    dumped = ResultBody(status="graded", tests=[], compile_output="warning").to_wire()
    assert (dumped["tests"], dumped["compile_output"]) == ([], "warning")
