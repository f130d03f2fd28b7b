"""The runner's settings (environment variables) and its time budget."""

import time
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudemy_common.models import MAX_REQUEUES, ObjectIdStr
from cloudemy_common.program_tests import COMPILE_TIME_LIMIT_SECONDS

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

# Shares of the grading time (JOB_DEADLINE_SECONDS, counted from the runner's start; less when the Job's own
# deadline comes first, see Budget). The Job's activeDeadlineSeconds is the grading time plus the chart's
# startup allowance, so Pending time (scheduling, a node autoscale, the image pull) does not shorten grading.
LLM_PHASE_SHARE = 0.75
"""The LLM phase (every request, retry and wait) ends by this share of the deadline."""
POST_PHASE_SHARE = 0.90
"""Posting the result (with its retries) ends by this share of the deadline."""
TESTS_PHASE_SHARE = 0.45
"""Compiling and running the instructor's tests ends by this share when the LLM grades a rubric after them."""
TESTS_ONLY_PHASE_SHARE = 0.80
"""... and by this share when no LLM comes after them (tests only, or no LLM configured)."""
HARD_DEADLINE_MARGIN_SECONDS = 5.0
"""The budget ends this long before the Job's own deadline (JOB_CREATED_AT + JOB_ACTIVE_DEADLINE_SECONDS): clock
skew between the scheduler's node and this one, and the time the kill itself takes. Never more than half the
startup allowance (JOB_ACTIVE_DEADLINE_SECONDS - JOB_DEADLINE_SECONDS), so that a runner started at once keeps its
whole grading time."""
CAP_TOLERANCE_SECONDS = 1.0
"""A budget cut by less than this is not ``capped``: a second of start-up is noise, not the cluster's delay."""
MIN_GRADING_SHARE = 0.25
"""A runner left less than this share of JOB_DEADLINE_SECONDS before the Job's deadline does not start grading: it
posts ``error`` with fail tag ``started-late`` at once (the cluster's delay, not the student's)."""


class RunnerSettings(BaseSettings):
    """Environment of one runner Job; names as in docs/grading.md (case-insensitive, empty means unset)."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    submission_id: ObjectIdStr
    redis_url: Annotated[str, StringConstraints(min_length=1)]
    backend_internal_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    internal_result_token: SecretStr
    llm_api_key: SecretStr = SecretStr("")
    llm_model: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "gpt-4o-mini"
    llm_base_url: str = ""
    llm_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    job_deadline_seconds: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    # Stamped by the scheduler into every Job: when it built the Job (Unix time) and the Job's activeDeadlineSeconds.
    # Together they say when Kubernetes will kill this runner, however long the pod was Pending.
    job_created_at: Annotated[float, Field(ge=0)] | None = None
    job_active_deadline_seconds: Annotated[float, Field(gt=0, le=172_800)] | None = None
    log_level: str = "INFO"
    # The sandbox (docs/sandbox.md): where programs are built and run (default: the temporary directory),
    # the compile limit, and a replacement for the packaged language table.
    sandbox_dir: str = ""
    sandbox_compile_seconds: Annotated[float, Field(gt=0, le=COMPILE_TIME_LIMIT_SECONDS)] = COMPILE_TIME_LIMIT_SECONDS
    runner_languages_file: str = ""
    # The LLM budget shared by every runner (0: no limit) and the breaker's thresholds (docs/scheduler.md).
    llm_requests_per_minute: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    llm_tokens_per_minute: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0
    llm_budget_period_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """The window the two limits count in: a minute. Tests and benchmarks that compress time shorten it."""
    llm_requeue_limit: Annotated[int, Field(ge=0, le=MAX_REQUEUES)] = 3
    """0: never hand an attempt back to the queue (the backend enforces the count with its own copy)."""
    llm_breaker_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    llm_breaker_open_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # Self-consistency (docs/grading.md): samples per grading, and the spread that sends a grade to review.
    llm_samples: Annotated[int, Field(ge=1, le=9)] = 1
    llm_max_spread: Annotated[float, Field(ge=0, le=1)] = 0.25

    @property
    def llm_configured(self) -> bool:
        """False when both LLM_API_KEY and LLM_BASE_URL are empty: the offline grader takes over."""
        return bool(self.llm_api_key.get_secret_value() or self.llm_base_url)

    @property
    def effective_llm_base_url(self) -> str:
        return self.llm_base_url or DEFAULT_OPENAI_BASE_URL


def load_settings() -> RunnerSettings:
    """Read the settings from the environment; raises pydantic.ValidationError when one is missing or bad."""
    return RunnerSettings()  # type: ignore[call-arg]  # every field comes from the environment


@dataclass(frozen=True)
class Budget:
    """Deadlines on the monotonic clock, counted from the runner's start: the full JOB_DEADLINE_SECONDS, unless
    the Job's own deadline (``hard_end``, minus a margin) comes first because the cluster took longer than the
    startup allowance to start this runner. Then every phase shrinks in proportion (``capped``)."""

    deadline_seconds: float
    started: float = field(default_factory=time.monotonic)
    hard_end: float | None = None
    """When Kubernetes kills the Job, less HARD_DEADLINE_MARGIN_SECONDS (monotonic); None when not stamped."""

    @classmethod
    def for_job(
        cls,
        deadline_seconds: float,
        *,
        started: float,
        started_wall: float,
        job_created_at: float | None,
        job_active_deadline_seconds: float | None,
    ) -> "Budget":
        """The budget of a runner that started at ``started`` (monotonic) / ``started_wall`` (Unix time) in a Job
        built at ``job_created_at`` with ``job_active_deadline_seconds``."""
        if job_created_at is None or job_active_deadline_seconds is None:
            return cls(deadline_seconds, started)
        allowance = max(job_active_deadline_seconds - deadline_seconds, 0.0)
        margin = min(HARD_DEADLINE_MARGIN_SECONDS, allowance / 2)
        left = job_created_at + job_active_deadline_seconds - margin - started_wall
        return cls(deadline_seconds, started, started + left)

    @property
    def seconds(self) -> float:
        """The grading time this runner really has."""
        if self.hard_end is None:
            return self.deadline_seconds
        return max(0.0, min(self.deadline_seconds, self.hard_end - self.started))

    @property
    def capped(self) -> bool:
        """The cluster's delay cut this runner's grading time below JOB_DEADLINE_SECONDS."""
        return self.deadline_seconds - self.seconds > CAP_TOLERANCE_SECONDS

    @property
    def too_short_to_grade(self) -> bool:
        return self.seconds < self.deadline_seconds * MIN_GRADING_SHARE

    @property
    def llm_phase_end(self) -> float:
        return self.started + self.seconds * LLM_PHASE_SHARE

    @property
    def post_phase_end(self) -> float:
        return self.started + self.seconds * POST_PHASE_SHARE

    def tests_phase_end(self, *, llm_follows: bool) -> float:
        return self.started + self.seconds * (TESTS_PHASE_SHARE if llm_follows else TESTS_ONLY_PHASE_SHARE)

    def llm_remaining(self) -> float:
        return self.llm_phase_end - time.monotonic()

    def post_remaining(self) -> float:
        return self.post_phase_end - time.monotonic()

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
