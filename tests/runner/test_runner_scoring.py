"""The runner decides the score: clamping, unknown and missing criteria, fail tags, review status;
and parsing of model answers (json_schema or JSON mode alike)."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runner_support import ASSIGNMENT

from cloudemy_common.models import AssignmentSpec, ResultBody
from cloudemy_runner.answer import InvalidAnswer, parse_answer
from cloudemy_runner.config import Budget
from cloudemy_runner.llm import LlmStats
from cloudemy_runner.scoring import clamp_score, graded_result
from cloudemy_runner.static_checks import StaticFindings, python_syntax, run_static_checks

SPEC = AssignmentSpec.model_validate(ASSIGNMENT)
PASSED = python_syntax("x = 1\n")


def answer(*criteria, **extra):
    return parse_answer(json.dumps({"criteria": [dict(c) for c in criteria], **extra}))


def result(parsed, findings: StaticFindings = PASSED) -> ResultBody:
    return graded_result(SPEC, parsed, findings, LlmStats(model="m", attempts=1, code="ok"), Budget(60))


@pytest.mark.parametrize(
    ("value", "points", "expected"),
    [(-3, 6, 0.0), (7, 6, 6.0), (2.345, 6, 2.35), (float("nan"), 6, 0.0), (float("inf"), 6, 6.0),
     (float("-inf"), 6, 0.0), (0.335, 0.335, 0.335), (5.999, 6, 6.0)],
)  # fmt: skip
def test_clamp_score(value, points, expected):
    assert clamp_score(value, points) == expected


def test_total_is_the_sum_and_max_score_comes_from_the_rubric():
    parsed = answer({"id": "correctness", "score": 4.5}, {"id": "style", "score": 2}, {"id": "edge-cases", "score": 1})
    body = result(parsed)
    assert (body.status, body.score, body.max_score) == ("graded", 7.5, 10.0)
    assert [(c.id, c.score, c.max_score) for c in body.criteria] == [
        ("correctness", 4.5, 6.0),
        ("style", 2.0, 3.0),
        ("edge-cases", 1.0, 1.0),
    ]


def test_model_tags_are_limited_to_assignment_and_builtin_model_tags():
    parsed = answer(
        {"id": "correctness", "score": 6},
        {"id": "style", "score": 3},
        {"id": "edge-cases", "score": 1},
        fail_tags=["wrong-output", "made-up-tag", "payload-missing", "possible-prompt-injection", "off-topic",
                   "wrong-output", "syntax-error"],
    )  # fmt: skip
    body = result(parsed)
    # runner-owned tags are not the model's to set; a passed syntax check overrules the model's syntax-error
    assert body.fail_tags == ["wrong-output", "off-topic"]
    assert body.status == "graded"


def test_static_syntax_error_tag_comes_first_and_once():
    broken = run_static_checks("python", "def f(:\n")
    parsed = answer(
        {"id": "correctness", "score": 0}, {"id": "style", "score": 0}, {"id": "edge-cases", "score": 0},
        fail_tags=["syntax-error", "no-function"],
    )  # fmt: skip
    assert result(parsed, broken).fail_tags == ["syntax-error", "no-function"]


def test_injection_and_incomplete_both_reported():
    parsed = answer({"id": "correctness", "score": 6}, injection_suspected=True)
    body = result(parsed)
    assert body.status == "needs_review"
    assert body.score == 6.0
    assert body.fail_tags == ["possible-prompt-injection", "incomplete-grading"]
    assert body.feedback.startswith("An instructor will review this grade: the submission appears")


def test_injection_flag_given_as_text_still_counts():
    parsed = answer({"id": "correctness", "score": 6}, injection_suspected="yes")
    assert parsed.injection_suspected is True


def test_criterion_feedback_holds_evidence_and_is_bounded():
    parsed = answer(
        {"id": "correctness", "score": 6, "feedback": "x" * 5000, "evidence": "line 3"},
        {"id": "style", "score": 3, "feedback": "Clear.", "evidence": ""},
        {"id": "edge-cases", "score": 1},
    )
    criteria = result(parsed).criteria
    assert len(criteria[0].feedback) == 4000
    assert criteria[1].feedback == "Clear."


@pytest.mark.parametrize(
    "content",
    ["", "   ", "not json", '{"criteria": [', "[1, 2]", '{"feedback": "no criteria"}', '{"criteria": {"id": "x"}}',
     '"just a string"'],
)  # fmt: skip
def test_unusable_answers_are_rejected(content):
    with pytest.raises(InvalidAnswer):
        parse_answer(content)


def test_answer_in_a_markdown_fence_and_lenient_values():
    content = '```json\n{"criteria": [{"id": "style", "score": "2.5"}, {"id": 7, "score": 1}, {"score": 2},' \
              ' {"id": "x", "score": true}, "junk"], "fail_tags": ["a", 3], "confidence": 7}\n```'  # fmt: skip
    parsed = parse_answer(content)
    assert [(c.id, c.score) for c in parsed.criteria] == [("style", 2.5)]
    assert parsed.fail_tags == ("a",)
    assert parsed.confidence == 1.0
    assert parsed.injection_suspected is False


criterion_ids = st.sampled_from(["correctness", "style", "edge-cases", "bonus", "Correctness", "", "style "])
scores = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(criterion_ids, scores), max_size=12), st.booleans())
def test_any_answer_yields_a_valid_bounded_result(items, injection):
    content = json.dumps(
        {"criteria": [{"id": i, "score": s} for i, s in items], "injection_suspected": injection}
    )  # json.dumps writes NaN/Infinity, which Python's parser (and so the runner) accepts
    body = result(parse_answer(content))
    ResultBody.model_validate(body.model_dump())
    assert 0 <= body.score <= 10.0
    first = {}
    for i, s in items:
        first.setdefault(i, s)
    points = {c.id: c.points for c in SPEC.rubric}
    for criterion in body.criteria:
        given_score = first.get(criterion.id)
        if given_score is None or (isinstance(given_score, float) and math.isnan(given_score)):
            assert criterion.score == 0
        else:
            assert criterion.score == clamp_score(float(given_score), points[criterion.id])
    missing = any(c.id not in first for c in SPEC.rubric)
    assert (body.status == "needs_review") == (missing or injection)
    assert ("incomplete-grading" in body.fail_tags) == missing


def test_static_checks_never_execute_code(tmp_path):
    marker = tmp_path / "executed"
    code = f"open({str(marker)!r}, 'w').write('ran')\nimport os\nos.system('touch {marker}')\n"
    findings = run_static_checks("python", code)
    assert findings.findings == ()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("code", "line", "message"),
    [("def f(:\n  pass\n", 1, "invalid syntax"),
     ("x = 1\nif x\n    y = 2\n", 2, "expected ':'"),
     ("print 'hi'\n", 1, "Missing parentheses in call to 'print'. Did you mean print(...)?"),
     ("a = (\n", 1, "'(' was never closed")],
)  # fmt: skip
def test_python_syntax_error_line_and_message(code, line, message):
    findings = run_static_checks("python", code)
    assert findings.fail_tags == ("syntax-error",)
    (finding,) = findings.findings
    assert (finding.line, finding.message) == (line, message)


def test_pathological_python_is_a_finding_not_a_crash():
    findings = run_static_checks("python", "(" * 10000)
    assert findings.fail_tags == ("syntax-error",)


def test_other_languages_have_no_checks_yet():
    findings = run_static_checks("java", "class A { broken")
    assert (findings.checks_run, findings.findings, findings.fail_tags) == ((), (), ())
    assert findings.summary_lines() == ["No static checks are available for this language."]


def test_lone_surrogates_from_the_model_never_reach_the_result():
    content = (
        '{"criteria": [{"id": "style", "score": 3, "feedback": "bad \\ud800 char", "evidence": "\\udfff"}],'
        ' "feedback": "x\\ud83d"}'
    )
    body = result(parse_answer(content))
    encoded = body.model_dump_json()
    encoded.encode("utf-8")  # raises on a lone surrogate
    assert body.feedback.endswith("x?")
    assert body.criteria[1].feedback == "bad ? char\n\nEvidence: ?"
