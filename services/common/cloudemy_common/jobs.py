"""Names shared by the scheduler and the chart for runner Jobs."""

RUNNER_COMPONENT = "runner"
SUBMISSION_ID_LABEL = "cloudemy.io/submission-id"
ATTEMPT_LABEL = "cloudemy.io/attempt"


def job_name(submission_id: str, attempt: int = 1) -> str:
    """``runner-{id}`` for the first attempt (as the seed named it), ``runner-{id}-{attempt}`` after."""
    return f"runner-{submission_id}" if attempt <= 1 else f"runner-{submission_id}-{attempt}"
