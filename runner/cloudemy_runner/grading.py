"""One grading run, step by step: report running, load, check, grade, score, post, exit code."""

import logging
import os
import traceback
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from cloudemy_common.jobs import RunnerJob, job_name, job_name_of_pod, parse_job_name
from cloudemy_common.models import RequeueRequest, ResultBody, SubmissionPayload
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.payload import load_payload
from cloudemy_runner.reporter import Delivery, SubmissionReporter
from cloudemy_runner.static_checks import run_static_checks

if TYPE_CHECKING:
    from cloudemy_runner.execution import TestsReport

log = logging.getLogger("cloudemy_runner")


class ExitCode(IntEnum):
    POSTED = 0
    """The result was posted, or the submission was already final (409)."""
    NOT_POSTED = 1
    """The result could not be posted at all: the Job fails and the scheduler reports it."""
    CONFIG_ERROR = 2
    """Missing or invalid environment, or the backend refused the token (401)."""


@dataclass(frozen=True)
class ResultToPost:
    """The result to post and the attempt it is for (None when the payload could not be read)."""

    result: ResultBody
    attempt: int | None
    requeue: RequeueRequest | None = None
    """Set when the LLM was unavailable: ask the backend to hand the attempt back to the queue first."""


def own_job(submission_id: str, hostname: str | None) -> RunnerJob | None:
    """This pod's runner Job (from the pod's name, its hostname), if it is this submission's."""
    job = parse_job_name(job_name_of_pod(hostname))
    return job if job is not None and job.submission_id == submission_id else None


def run(settings: RunnerSettings, budget: Budget, hostname: str | None = None) -> ExitCode:
    """Grade the submission and post its result (or hand the attempt back to the queue). ``hostname`` is the
    pod's name, which names this runner's Job (default: ``HOSTNAME``, as Kubernetes sets it)."""
    reporter = SubmissionReporter(
        settings.backend_internal_url,
        settings.submission_id,
        settings.internal_result_token.get_secret_value(),
        budget,
    )
    job = own_job(settings.submission_id, hostname if hostname is not None else os.environ.get("HOSTNAME"))
    if reporter.report_running(job_name(job.submission_id, job.attempt) if job else None) is Delivery.UNAUTHORIZED:
        log.error("backend refused the result token (status update); check INTERNAL_RESULT_TOKEN")
        return ExitCode.CONFIG_ERROR
    to_post = produce_result(settings, budget)
    result = to_post.result
    attempt = to_post.attempt or (job.attempt if job else None)
    if to_post.requeue is not None and settings.llm_requeue_limit > 0 and attempt is not None:
        answer = reporter.request_requeue(to_post.requeue, attempt)
        if answer is Delivery.REQUEUED:
            return ExitCode.POSTED
        if answer is Delivery.UNAUTHORIZED:
            return exit_code_for(answer)
    log.info(
        "result ready", extra={"status": result.status, "score": result.score, "fail_tags": ",".join(result.fail_tags)}
    )
    return exit_code_for(reporter.post_result(result, attempt))


def produce_result(settings: RunnerSettings, budget: Budget) -> ResultToPost:
    """The result to post; every failure path, expected or not, ends in a result body."""
    from cloudemy_runner import results

    grader = "llm" if settings.llm_configured else "offline"
    payload: SubmissionPayload | None = None
    try:
        loaded = load_payload(settings.redis_url, settings.submission_id, budget)
        if loaded.payload is None:
            failure = results.payload_failure(loaded.failure_tag or "payload-missing", grader=grader, budget=budget)
            return ResultToPost(failure, None)
        payload = loaded.payload
        if budget.too_short_to_grade:
            log.warning("started too late to grade", extra={"budget_seconds": round(budget.seconds, 1)})
            late = results.started_late(grader=grader, budget=budget, max_score=payload.assignment.max_score)
            return ResultToPost(late, payload.attempt)
        result, requeue = grade_payload(settings, budget, payload)
        if budget.capped and results.ran_out_of_time(result):
            # The time that ran out was the cluster's to give: not the student's timeout (nor time_limit verdicts).
            late = results.started_late(grader=grader, budget=budget, max_score=payload.assignment.max_score)
            return ResultToPost(late, payload.attempt, requeue)
        return ResultToPost(result, payload.attempt, requeue)
    except Exception as exc:  # a bug must still end in a final answer for the student
        log.error("internal error while grading", extra={"error_type": type(exc).__name__, "at": where(exc)})
        max_score = payload.assignment.max_score if payload else None
        internal = results.internal_error(grader=grader, budget=budget, max_score=max_score)
        return ResultToPost(internal, payload.attempt if payload else None)


def grade_payload(
    settings: RunnerSettings, budget: Budget, payload: SubmissionPayload
) -> tuple[ResultBody, RequeueRequest | None]:
    """The result, and a requeue request when the LLM's availability (not the submission) made it fail."""
    findings = run_static_checks(payload.language, payload.code)
    log.info(
        "payload loaded language=%s attempt=%d code_bytes=%d static_findings=%d",
        payload.language,
        payload.attempt,
        len(payload.code.encode()),
        len(findings.findings),
    )
    assignment = payload.assignment
    llm_follows = bool(assignment.rubric) and settings.llm_configured
    report = run_program_tests(settings, budget, payload, llm_follows=llm_follows) if assignment.tests else None
    if report is not None:
        from cloudemy_runner import results

        grader = "tests" if not assignment.rubric else ("llm" if settings.llm_configured else "offline")
        if report.unavailable:
            log.warning("no toolchain for language=%s missing=%s", payload.language, ",".join(report.unavailable))
            return results.language_unavailable(assignment, payload.language, grader=grader, budget=budget), None
        if report.sandbox_failed:
            failure = results.sandbox_failure(assignment, grader=grader, budget=budget)
            return with_tests(failure, report), None
        if not assignment.rubric:
            from cloudemy_runner.scoring import tests_result

            graded = tests_result(assignment, report.outcomes, report.compile_output, findings, budget)
            return with_tests(graded, report), None
    if not settings.llm_configured:
        from cloudemy_runner.offline import offline_result

        return with_tests(offline_result(assignment, findings, budget), report), None

    from cloudemy_runner import results
    from cloudemy_runner.llm import LlmGrader
    from cloudemy_runner.prompt import build_prompt
    from cloudemy_runner.scoring import graded_result

    outcomes = report.outcomes if report else None
    prompt = build_prompt(payload, findings, tests=outcomes, compile_output=report.compile_output if report else "")
    llm_outcome = LlmGrader(settings, budget).grade(prompt)
    if llm_outcome.answer is not None:
        from cloudemy_runner.consistency import combine

        consensus = combine(
            list(llm_outcome.answers) or [llm_outcome.answer], {c.id: c.points for c in assignment.rubric}
        )
        llm_outcome.stats.samples, llm_outcome.stats.max_spread = consensus.samples, consensus.max_spread
        low_agreement = consensus.max_spread > settings.llm_max_spread + 1e-9
        graded = graded_result(
            assignment, consensus.answer, findings, llm_outcome.stats, budget, outcomes, low_agreement=low_agreement
        )
        return with_tests(graded, report), None
    failure = llm_outcome.failure
    assert failure is not None  # an LlmResult holds either an answer or a failure
    requeue = (
        RequeueRequest(reason=failure.code, retry_after_seconds=min(failure.retry_after_seconds, 3600.0))  # type: ignore[arg-type]
        if failure.requeueable
        else None
    )
    return with_tests(results.llm_failure(assignment, findings, failure, llm_outcome.stats, budget), report), requeue


def run_program_tests(
    settings: RunnerSettings, budget: Budget, payload: SubmissionPayload, *, llm_follows: bool
) -> "TestsReport":
    """Compile and run the assignment's tests in the sandbox, within the tests phase of the budget."""
    from cloudemy_runner.execution import run_tests
    from cloudemy_runner.languages import load_table

    return run_tests(
        payload,
        load_table(settings.runner_languages_file or None),
        phase_end=budget.tests_phase_end(llm_follows=llm_follows),
        compile_seconds=settings.sandbox_compile_seconds,
        sandbox_dir=settings.sandbox_dir or None,
    )


def with_tests(result: ResultBody, report: "TestsReport | None") -> ResultBody:
    """``result`` with the tests' outcomes, compile output and metrics (unchanged without tests)."""
    if report is None:
        return result
    return result.model_copy(
        update={
            "tests": report.outcomes,
            "compile_output": report.compile_output,
            "metrics": {**result.metrics, **report.metrics},
        }
    )


def where(exc: BaseException) -> str:
    """The traceback as ``file:line function`` frames, innermost first. Not the exception's message: a
    validation error's message can quote its input, and that input can be the student's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))


def exit_code_for(delivery: Delivery) -> ExitCode:
    if delivery in (Delivery.POSTED, Delivery.ALREADY_FINAL):
        return ExitCode.POSTED
    if delivery is Delivery.UNAUTHORIZED:
        log.error("backend refused the result token; check INTERNAL_RESULT_TOKEN")
        return ExitCode.CONFIG_ERROR
    return ExitCode.NOT_POSTED
