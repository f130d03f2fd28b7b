"""Result bodies for every outcome that is not a finished LLM grading, and the shared metrics."""

from typing import Any

from cloudemy_common.models import MAX_FEEDBACK_CHARS, AssignmentSpec, ResultBody
from cloudemy_runner import __version__, tags
from cloudemy_runner.config import Budget
from cloudemy_runner.llm import LlmFailure, LlmStats
from cloudemy_runner.static_checks import StaticFindings

REGRADE_HINT = "Your submission is saved; an instructor can regrade it."


def metrics(
    *, grader: str, budget: Budget, stats: LlmStats | None = None, confidence: float | None = None
) -> dict[str, Any]:
    """The result's ``metrics``: the same keys for every outcome (zeros when no LLM was asked)."""
    return {
        "grader": grader,
        "model": stats.model if stats else None,
        "prompt_tokens": stats.prompt_tokens if stats else 0,
        "completion_tokens": stats.completion_tokens if stats else 0,
        "llm_latency_ms": stats.latency_ms if stats else 0,
        "attempts": stats.attempts if stats else 0,
        "response_format": stats.response_format if stats and stats.attempts else None,
        "llm_outcome": stats.code if stats else None,
        "samples": stats.samples if stats else 0,
        "max_spread": stats.max_spread if stats else 0.0,
        "confidence": confidence,
        "runner_version": __version__,
        "total_ms": budget.elapsed_ms(),
    }


def static_note(findings: StaticFindings, *, problems_only: bool = False) -> str:
    """One paragraph on the static checks, for feedback; empty when no check ran (or, with
    ``problems_only``, when every check passed)."""
    if not findings.checks_run or (problems_only and not findings.findings):
        return ""
    return "Automatic checks: " + " ".join(findings.summary_lines())


def join_paragraphs(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())[:MAX_FEEDBACK_CHARS]


def payload_failure(tag: str, *, grader: str, budget: Budget) -> ResultBody:
    """The submission's payload could not be used: nothing to grade, nothing to score against."""
    reasons = {
        tags.PAYLOAD_MISSING: "the submission's grading data was not found (it may have expired)",
        tags.PAYLOAD_INVALID: "the submission's grading data is malformed",
        tags.PAYLOAD_UNAVAILABLE: "the grader could not reach the submission store",
    }
    return ResultBody(
        status="error",
        score=None,
        max_score=None,
        fail_tags=[tag],
        feedback=join_paragraphs(f"Automatic grading failed: {reasons[tag]}.", REGRADE_HINT),
        metrics=metrics(grader=grader, budget=budget),
        grader=None,
    )


# The model was too slow for the Job's deadline: the submission timed out, as if the Job had been killed.
SLOW_MODEL_CODES = frozenset({"timeout", "budget-exhausted"})


def llm_failure(
    assignment: AssignmentSpec, findings: StaticFindings, failure: LlmFailure, stats: LlmStats, budget: Budget
) -> ResultBody:
    """The model could not grade within the budget: ``timeout`` when it was too slow, else an ``error``
    that says why; both with the static findings and the ``llm-unavailable`` tag."""
    attempts = f"{stats.attempts} request{'s' if stats.attempts != 1 else ''}"
    return ResultBody(
        status="timeout" if failure.code in SLOW_MODEL_CODES else "error",
        score=None,
        max_score=assignment.max_score,
        fail_tags=tags.unique([*findings.fail_tags, tags.LLM_UNAVAILABLE]),
        feedback=join_paragraphs(
            f"Automatic grading failed: {failure.detail} (after {attempts}).",
            static_note(findings, problems_only=True),
            REGRADE_HINT,
        ),
        metrics=metrics(grader="llm", budget=budget, stats=stats),
        grader="llm",
    )


def started_late(*, grader: str, budget: Budget, max_score: float | None) -> ResultBody:
    """The cluster started this runner so late (Pending beyond the startup allowance) that its grading time ran
    out, or would have: an ``error`` the student is not charged for, never a ``timeout``."""
    return ResultBody(
        status="error",
        score=None,
        max_score=max_score,
        fail_tags=[tags.STARTED_LATE],
        feedback=join_paragraphs(
            f"Automatic grading did not finish: the cluster started the grader late, which left "
            f"{budget.seconds:.0f} s of the {budget.deadline_seconds:g} s grading time. The delay was the "
            "cluster's, not your submission's.",
            REGRADE_HINT,
        ),
        metrics=metrics(grader=grader, budget=budget),
        grader=None,
    )


def ran_out_of_time(result: ResultBody) -> bool:
    """The result says the grading time ran out: the model was too slow, or the tests phase cut tests short."""
    return result.status == "timeout" or bool(result.metrics.get("tests_budget_cut"))


def internal_error(*, grader: str, budget: Budget, max_score: float | None) -> ResultBody:
    """An unexpected error inside the runner (a bug): still a readable, final answer for the student."""
    return ResultBody(
        status="error",
        score=None,
        max_score=max_score,
        fail_tags=[tags.INTERNAL_ERROR],
        feedback=join_paragraphs("Automatic grading failed because of an internal error in the grader.", REGRADE_HINT),
        metrics=metrics(grader=grader, budget=budget),
        grader=None,
    )


def _platform_failure(assignment: AssignmentSpec, tag: str, reason: str, *, budget: Budget, grader: str) -> ResultBody:
    """No grade because the platform, not the student, failed: an ``error`` an instructor can regrade."""
    return ResultBody(
        status="error",
        score=None,
        max_score=assignment.max_score,
        fail_tags=[tag],
        feedback=join_paragraphs(f"Automatic grading failed: {reason}.", REGRADE_HINT),
        metrics=metrics(grader=grader, budget=budget),
        grader=None,
    )


def language_unavailable(assignment: AssignmentSpec, language: str, *, grader: str, budget: Budget) -> ResultBody:
    """The assignment has tests, but this runner image has no toolchain for the submission's language."""
    reason = f"this grader cannot run {language} programs (the platform's runner image for it lacks the toolchain)"
    return _platform_failure(assignment, tags.LANGUAGE_UNAVAILABLE, reason, budget=budget, grader=grader)


def sandbox_failure(assignment: AssignmentSpec, *, grader: str, budget: Budget) -> ResultBody:
    """The sandbox itself failed (not the student's program)."""
    reason = "the grader could not run your program's tests (a platform problem, not a problem with your code)"
    return _platform_failure(assignment, tags.SANDBOX_ERROR, reason, budget=budget, grader=grader)
