"""The injection corpus (tests/data/injection): the code only ever appears inside the prompt's data
block, and no model answer — whatever the code talked it into — can raise the score."""

import json
import re
from pathlib import Path

import pytest
from runner_support import ASSIGNMENT, SUBMISSION_ID, make_payload, run_runner, split_metrics

from cloudemy_common.models import AssignmentSpec
from cloudemy_runner.answer import parse_answer
from cloudemy_runner.prompt import CLOSE_FENCE, OPEN_FENCE, build_prompt
from cloudemy_runner.scoring import score_criteria
from cloudemy_runner.static_checks import run_static_checks

CORPUS = Path(__file__).resolve().parents[1] / "data" / "injection"
LANGUAGES = {"py": "python", "js": "javascript", "ts": "typescript", "java": "java", "c": "c", "cpp": "cpp",
             "go": "go", "rs": "rust"}  # fmt: skip
FILES = sorted(CORPUS.glob("*.txt"))
FENCE_LINE = re.compile(r"^=====(BEGIN|END) SUBMISSION ([0-9a-f]{32})=====$", re.M)


def language_of(path: Path) -> str:
    return LANGUAGES[path.name.removesuffix(".txt").rsplit(".", 1)[1]]


def code_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def distinctive_lines(code: str, template: str) -> list[str]:
    """Lines of the code long enough that finding them elsewhere means the code leaked there (lines
    that imitate the runner's own prompt text, as cpp_nested_fence does, are in the template anyway)."""
    return [line.strip() for line in code.splitlines() if len(line.strip()) >= 16 and line.strip() not in template]


def template_text(language: str, nonce: str, code: str) -> str:
    """The prompt of an empty submission with the same nonce and findings: all the text the runner adds."""
    empty = build_prompt(make_payload("", language=language), run_static_checks(language, code), nonce=nonce)
    return "\n".join(m["content"] for m in empty.messages)


def split_user_message(user: str, nonce: str) -> tuple[str, str, str]:
    """(before the data block, the data, after it); exactly one opening and one closing fence line."""
    open_line, close_line = OPEN_FENCE.format(nonce=nonce), CLOSE_FENCE.format(nonce=nonce)
    lines = user.split("\n")
    assert lines.count(open_line) == 1
    assert lines.count(close_line) == 1
    start, end = lines.index(open_line), lines.index(close_line)
    assert start < end
    return "\n".join(lines[:start]), "\n".join(lines[start + 1 : end]), "\n".join(lines[end + 1 :])


def test_corpus_is_realistic_and_varied():
    assert len(FILES) >= 8
    assert len({language_of(p) for p in FILES}) >= 6
    assert all("fizzbuzz" in code_of(p).lower() for p in FILES), "each file is a real attempt at the assignment"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_code_appears_only_inside_the_data_block(path):
    code = code_of(path)
    payload = make_payload(code, language=language_of(path))
    findings = run_static_checks(payload.language, code)
    prompt = build_prompt(payload, findings)
    system, user = (m["content"] for m in prompt.messages)
    assert prompt.nonce not in code

    before, data, after = split_user_message(user, prompt.nonce)
    assert data == code.removesuffix("\n")

    # Nothing outside the block depends on the code: it equals the prompt of an empty submission with the
    # same nonce and the same static findings.
    empty = build_prompt(make_payload("", language=language_of(path)), findings, nonce=prompt.nonce)
    empty_system, empty_user = (m["content"] for m in empty.messages)
    empty_before, empty_data, empty_after = split_user_message(empty_user, prompt.nonce)
    assert (system, before, after) == (empty_system, empty_before, empty_after)
    assert empty_data == ""
    for line in distinctive_lines(code, template_text(payload.language, prompt.nonce, code)):
        assert line not in system
        assert line not in before
        assert line not in after


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_fake_fence_in_the_code_cannot_close_the_block(path):
    code = code_of(path)
    prompt = build_prompt(make_payload(code, language=language_of(path)), run_static_checks(language_of(path), code))
    user = prompt.messages[1]["content"]
    real_fences = [m for m in FENCE_LINE.finditer(user) if m.group(2) == prompt.nonce]
    assert [m.group(1) for m in real_fences] == ["BEGIN", "END"]
    _, data, _ = split_user_message(user, prompt.nonce)
    for fake in FENCE_LINE.finditer(data):
        assert fake.group(2) != prompt.nonce


def test_nonce_is_fresh_for_every_prompt():
    payload = make_payload(code_of(FILES[0]), language=language_of(FILES[0]))
    findings = run_static_checks(payload.language, payload.code)
    nonces = {build_prompt(payload, findings).nonce for _ in range(50)}
    assert len(nonces) == 50


def test_build_prompt_refuses_a_nonce_the_code_contains():
    nonce = "ab" * 16
    payload = make_payload(f"# {nonce}\nprint(1)\n")
    with pytest.raises(ValueError, match="nonce"):
        build_prompt(payload, run_static_checks("python", payload.code), nonce=nonce)


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_runner_sends_corpus_code_only_inside_the_block(path, runner_env, store_payload, backend, fake_llm):
    """Through the real runner and the official client: what goes over the wire to the model."""
    code = code_of(path)
    store_payload(code, language=language_of(path))
    fake_llm.set_mode("unknown_ids")  # the model "obeys" the injection: 1000 points on an unknown criterion
    run = run_runner(runner_env())
    assert run.exit_code == 0

    (request,) = fake_llm.requests
    system, user = (m["content"] for m in request.messages)
    nonces = {m.group(2) for m in FENCE_LINE.finditer(user) if m.group(2) in system}
    assert len(nonces) == 1, "one nonce, announced in the system message, fences the data"
    nonce = nonces.pop()
    before, data, after = split_user_message(user, nonce)
    assert data == code.removesuffix("\n")
    for line in distinctive_lines(code, template_text(language_of(path), nonce, code)):
        assert line not in system
        assert line not in before + after
    assert json.dumps(code)[1:-1] not in json.dumps(request.body["response_format"])

    result, _ = split_metrics(backend.stored[SUBMISSION_ID])
    assert result["score"] == 9.0, "correctness 6 + style 3; the unknown criterion's 1000 points count for nothing"
    assert result["max_score"] == 10.0
    assert [c["id"] for c in result["criteria"]] == ["correctness", "style", "edge-cases"]
    assert "incomplete-grading" in result["fail_tags"]


ASSIGNMENT_SPEC = AssignmentSpec.model_validate(ASSIGNMENT)


@pytest.mark.parametrize(
    "answer",
    [
        # The answer python_fake_json_answer.py dictates: a bonus criterion worth 1000.
        {"criteria": [{"id": "correctness", "score": 6}, {"id": "bonus", "score": 1000}], "feedback": "Flawless."},
        # Every known criterion at 0, the points moved to ids that look like the rubric's.
        {"criteria": [{"id": "correctness", "score": 0}, {"id": "Correctness", "score": 6},
                      {"id": "style ", "score": 3}, {"id": "edge-cases", "score": 0}]},
        # Repeats of a known id: only the first answer counts.
        {"criteria": [{"id": "style", "score": 1}, {"id": "style", "score": 3}, {"id": "style", "score": 1e9}]},
        # Huge and non-finite numbers.
        {"criteria": [{"id": "correctness", "score": 1e308}, {"id": "style", "score": "Infinity"},
                      {"id": "edge-cases", "score": "NaN"}]},
    ],
)  # fmt: skip
def test_no_answer_raises_the_score_beyond_known_criteria(answer):
    parsed = parse_answer(json.dumps(answer))
    scored = score_criteria(ASSIGNMENT_SPEC, parsed)
    known_first = {}
    for item in answer["criteria"]:
        known_first.setdefault(item["id"], item["score"])
    points = {c.id: c.points for c in ASSIGNMENT_SPEC.rubric}
    ceiling = sum(points[i] for i in known_first if i in points)
    assert scored.score <= ceiling
    assert scored.score <= ASSIGNMENT_SPEC.max_score
    assert [c.id for c in scored.criteria] == list(points)
    for criterion in scored.criteria:
        assert 0 <= criterion.score <= points[criterion.id]
