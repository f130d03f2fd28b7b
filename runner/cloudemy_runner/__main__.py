"""``python -m cloudemy_runner``: grade the submission named by SUBMISSION_ID and post its result.

Exit codes: 0 result posted or already final (409); 1 the result could not be posted at all;
2 configuration error (missing or invalid environment, or the backend refused the token).
"""

import os
import sys
import time

STARTED = time.monotonic()  # the budget counts from here, before the costlier imports below
STARTED_WALL = time.time()  # the same instant on the wall clock, to compare with the Job's stamped creation time


def main() -> int:
    from pydantic import ValidationError

    from cloudemy_common.logs import configure_logging
    from cloudemy_runner.config import Budget, load_settings
    from cloudemy_runner.grading import ExitCode, run

    try:
        settings = load_settings()
    except ValidationError as exc:
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        sys.stderr.write(f"cloudemy-runner: configuration error: {problems}\n")
        return int(ExitCode.CONFIG_ERROR)
    configure_logging(settings.log_level, {"submission_id": settings.submission_id})
    budget = Budget.for_job(
        settings.job_deadline_seconds,
        started=STARTED,
        started_wall=STARTED_WALL,
        job_created_at=settings.job_created_at,
        job_active_deadline_seconds=settings.job_active_deadline_seconds,
    )
    return int(run(settings, budget))


def exit_now(code: int) -> None:
    """Exit without interpreter teardown: the result is already posted, and tearing down the modules the
    openai client imported costs ~0.1 CPU-s (seconds on a busy node) during which the Job, and its slot under
    MAX_ACTIVE_JOBS, stays active. Logs and output are flushed first."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
