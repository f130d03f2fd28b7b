"""The runner's settings (environment variables) and its time budget."""

import time
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudemy_common.models import MAX_REQUEUES, ObjectIdStr
from cloudemy_common.program_tests import COMPILE_TIME_LIMIT_SECONDS

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

# Shares of JOB_DEADLINE_SECONDS. Kubernetes counts the Job deadline from the Job's start, which is
# earlier than the runner's (scheduling, image pull), so the runner stops well before it.
LLM_PHASE_SHARE = 0.75
"""The LLM phase (every request, retry and wait) ends by this share of the deadline."""
POST_PHASE_SHARE = 0.90
"""Posting the result (with its retries) ends by this share of the deadline."""
TESTS_PHASE_SHARE = 0.45
"""Compiling and running the instructor's tests ends by this share when the LLM grades a rubric after them."""
TESTS_ONLY_PHASE_SHARE = 0.80
"""... and by this share when no LLM comes after them (tests only, or no LLM configured)."""


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
    """Deadlines on the monotonic clock, counted from the runner's start."""

    deadline_seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def llm_phase_end(self) -> float:
        return self.started + self.deadline_seconds * LLM_PHASE_SHARE

    @property
    def post_phase_end(self) -> float:
        return self.started + self.deadline_seconds * POST_PHASE_SHARE

    def tests_phase_end(self, *, llm_follows: bool) -> float:
        return self.started + self.deadline_seconds * (TESTS_PHASE_SHARE if llm_follows else TESTS_ONLY_PHASE_SHARE)

    def llm_remaining(self) -> float:
        return self.llm_phase_end - time.monotonic()

    def post_remaining(self) -> float:
        return self.post_phase_end - time.monotonic()

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
