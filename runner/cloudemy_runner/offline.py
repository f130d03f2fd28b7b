"""The offline grader: no LLM configured, so the static findings go to an instructor for grading."""

from cloudemy_common.models import AssignmentSpec, ResultBody
from cloudemy_runner.config import Budget
from cloudemy_runner.results import join_paragraphs, metrics, static_note
from cloudemy_runner.static_checks import StaticFindings

OFFLINE_FEEDBACK = (
    "Automatic grading is not configured for this course, so an instructor will grade your submission. "
    "It has been received and is waiting for review."
)


def offline_result(assignment: AssignmentSpec, findings: StaticFindings, budget: Budget) -> ResultBody:
    return ResultBody(
        status="needs_review",
        score=None,
        max_score=assignment.max_score,
        fail_tags=list(findings.fail_tags),
        feedback=join_paragraphs(OFFLINE_FEEDBACK, static_note(findings)),
        metrics=metrics(grader="offline", budget=budget),
        grader="offline",
    )
