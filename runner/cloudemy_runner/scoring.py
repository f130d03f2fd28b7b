"""The runner, not the model, decides the score.

- each rubric criterion's score is clamped to [0, its points] (NaN counts as 0) and rounded to 2 places;
- criterion ids the rubric does not have are dropped, and only a criterion's first answer counts;
- a rubric criterion the model did not grade scores 0 and tags the result ``incomplete-grading``;
- total = sum of the criteria + the points of the passed tests (computed by the runner from the verdicts);
  ``max_score`` comes from the assignment (rubric + tests), never from the model;
- fail tags are limited to the assignment's list plus the built-in ones the model may use;
- a suspected prompt injection keeps the score but sends the result to an instructor
  (``needs_review`` + ``possible-prompt-injection``); so does an incomplete grading.
"""

import math
from dataclasses import dataclass

from cloudemy_common.models import MAX_CRITERION_FEEDBACK_CHARS, AssignmentSpec, CriterionResult, ResultBody
from cloudemy_common.program_tests import TestOutcome, Verdict
from cloudemy_runner import tags
from cloudemy_runner.answer import CriterionAnswer, ModelAnswer
from cloudemy_runner.config import Budget
from cloudemy_runner.llm import LlmStats
from cloudemy_runner.results import join_paragraphs, metrics, static_note
from cloudemy_runner.static_checks import SYNTAX_ERROR_TAG, StaticFindings

NOT_GRADED_FEEDBACK = "Not graded: the grading model gave no assessment for this criterion."
INJECTION_NOTE = (
    "An instructor will review this grade: the submission appears to contain instructions aimed at the grader."
)
LOW_AGREEMENT_NOTE = (
    "The automatic grader gave noticeably different marks when asked several times; an instructor will set "
    "the final grade."
)
INCOMPLETE_NOTE = "An instructor will review this grade: the grading model did not assess every rubric criterion."


@dataclass(frozen=True)
class Scored:
    criteria: list[CriterionResult]
    score: float
    missing: list[str]
    dropped: list[str]


def clamp_score(value: float, points: float) -> float:
    if math.isnan(value):
        return 0.0
    return min(max(round(min(max(value, 0.0), points), 2), 0.0), points)


def score_criteria(assignment: AssignmentSpec, answer: ModelAnswer) -> Scored:
    known = {c.id for c in assignment.rubric}
    answered: dict[str, CriterionAnswer] = {}
    dropped: list[str] = []
    for item in answer.criteria:
        if item.id not in known:
            dropped.append(item.id)
        elif item.id not in answered:
            answered[item.id] = item
    results: list[CriterionResult] = []
    missing: list[str] = []
    for criterion in assignment.rubric:
        item = answered.get(criterion.id)
        if item is None:
            missing.append(criterion.id)
            results.append(
                CriterionResult(id=criterion.id, score=0.0, max_score=criterion.points, feedback=NOT_GRADED_FEEDBACK)
            )
            continue
        results.append(
            CriterionResult(
                id=criterion.id,
                score=clamp_score(item.score, criterion.points),
                max_score=criterion.points,
                feedback=criterion_feedback(item),
            )
        )
    total = round(sum(r.score for r in results), 2)
    return Scored(criteria=results, score=min(total, assignment.max_score), missing=missing, dropped=dropped)


def criterion_feedback(item: CriterionAnswer) -> str:
    text = item.feedback.strip()
    if item.evidence.strip():
        text = join_paragraphs(text, f"Evidence: {item.evidence.strip()}")
    return text[:MAX_CRITERION_FEEDBACK_CHARS]


def allowed_fail_tags(assignment: AssignmentSpec, model_tags: tuple[str, ...], findings: StaticFindings) -> list[str]:
    """The model's tags that it may choose; a syntax check that ran and passed overrules its ``syntax-error``."""
    choosable = set(tags.model_choosable(assignment.fail_tags))
    if findings.checks_run and SYNTAX_ERROR_TAG not in findings.fail_tags:
        choosable.discard(SYNTAX_ERROR_TAG)
    return [t for t in tags.unique(model_tags) if t in choosable]


def tests_summary(outcomes: list[TestOutcome], compile_output: str) -> str:
    """One paragraph for the student: how many tests passed, or that the program did not compile."""
    if not outcomes:
        return ""
    if outcomes[0].verdict is Verdict.COMPILE_ERROR:
        return "Your program did not compile, so no test could run; see the compiler output."
    passed = sum(o.verdict is Verdict.PASSED for o in outcomes)
    earned = round(sum(o.points for o in outcomes), 2)
    worth = round(sum(o.max_points for o in outcomes), 2)
    return f"Tests: {passed} of {len(outcomes)} passed ({earned:g} of {worth:g} points)."


def tests_result(
    assignment: AssignmentSpec, outcomes: list[TestOutcome], compile_output: str, findings: StaticFindings,
    budget: Budget,
) -> ResultBody:  # fmt: skip
    """A tests-only assignment: the score is the passed tests' points, no model involved."""
    return ResultBody(
        status="graded",
        score=min(round(sum(o.points for o in outcomes), 2), assignment.max_score),
        max_score=assignment.max_score,
        fail_tags=list(findings.fail_tags),
        feedback=join_paragraphs(tests_summary(outcomes, compile_output), static_note(findings, problems_only=True)),
        metrics=metrics(grader="tests", budget=budget),
        grader="tests",
        tests=outcomes,
        compile_output=compile_output,
    )


def graded_result(
    assignment: AssignmentSpec,
    answer: ModelAnswer,
    findings: StaticFindings,
    stats: LlmStats,
    budget: Budget,
    outcomes: list[TestOutcome] | None = None,
    *,
    low_agreement: bool = False,
) -> ResultBody:
    """The model graded the rubric: score = the criteria (clamped) + the passed tests' points. With
    ``low_agreement`` (the samples disagreed beyond LLM_MAX_SPREAD) an instructor decides."""
    scored = score_criteria(assignment, answer)
    earned = round(sum(o.points for o in outcomes), 2) if outcomes else 0.0
    fail_tags = [*findings.fail_tags, *allowed_fail_tags(assignment, answer.fail_tags, findings)]
    notes: list[str] = []
    status = "graded"
    if answer.injection_suspected:
        status = "needs_review"
        fail_tags.append(tags.POSSIBLE_PROMPT_INJECTION)
        notes.append(INJECTION_NOTE)
    if scored.missing:
        status = "needs_review"
        fail_tags.append(tags.INCOMPLETE_GRADING)
        notes.append(INCOMPLETE_NOTE)
    if low_agreement:
        status = "needs_review"
        fail_tags.append(tags.LOW_AGREEMENT)
        notes.append(LOW_AGREEMENT_NOTE)
    return ResultBody(
        status=status,
        score=min(round(scored.score + earned, 2), assignment.max_score),
        max_score=assignment.max_score,
        fail_tags=tags.unique(fail_tags),
        feedback=join_paragraphs(
            *notes, tests_summary(outcomes or [], ""), answer.feedback, static_note(findings, problems_only=True)
        ),
        metrics=metrics(grader="llm", budget=budget, stats=stats, confidence=answer.confidence),
        criteria=scored.criteria,
        grader="llm",
    )
