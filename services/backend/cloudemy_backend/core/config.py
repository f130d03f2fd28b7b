"""Backend settings, read from the environment with pydantic-settings.

Every variable is listed (with its default) in docs/api.md. ``JWT_SECRET`` and ``INTERNAL_RESULT_TOKEN``
have no default: without them the service refuses to start with one line naming the variable.
"""

import sys
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudemy_backend.limits import MAX_TESTS_TOTAL_BYTES
from cloudemy_common.keys import DEFAULT_PAYLOAD_TTL_SECONDS, DEFAULT_QUEUE
from cloudemy_common.models import MAX_CODE_CHARS, MAX_REQUEUE_DELAY_SECONDS, MAX_REQUEUES

MEMORY_MONGO_URI = "memory://"

NonEmptySecret = Annotated[SecretStr, Field(min_length=1)]


class Settings(BaseSettings):
    """One field per environment variable (the field name upper-cased)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    mongo_uri: str = "mongodb://localhost:27017"
    db_name: Annotated[str, Field(min_length=1, max_length=63)] = "cloudemy"
    redis_url: str = "redis://localhost:6379/0"
    queue_submissions: Annotated[str, Field(min_length=1)] = DEFAULT_QUEUE
    internal_result_token: NonEmptySecret
    jwt_secret: NonEmptySecret
    jwt_expire_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] = 60
    cloudemy_admin_email: str | None = None
    cloudemy_admin_password: SecretStr | None = None
    cors_origins: str = ""
    max_code_bytes: Annotated[int, Field(ge=1, le=MAX_CODE_CHARS)] = 65536
    allow_signup: bool = True
    host: str = "127.0.0.1"  # python -m is for local use; the image's gunicorn binds 0.0.0.0 itself
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    submission_payload_ttl: Annotated[int, Field(ge=60)] = DEFAULT_PAYLOAD_TTL_SECONDS
    job_deadline_seconds: Annotated[int, Field(ge=1)] = 120
    stuck_grace_seconds: Annotated[int, Field(ge=0)] = 60
    sweep_interval_seconds: Annotated[float, Field(gt=0)] = 15
    queued_timeout_seconds: Annotated[int, Field(ge=60)] = 7200
    """A submission still ``queued`` after this long ends as ``error`` (fail tag ``queue-timeout``)."""
    llm_requeue_limit: Annotated[int, Field(ge=0, le=MAX_REQUEUES)] = 3
    """How often one attempt may go back to the queue because the LLM was unavailable (0: never)."""
    llm_requeue_delay_seconds: Annotated[float, Field(gt=0, le=MAX_REQUEUE_DELAY_SECONDS)] = 30.0
    """Backoff base of a requeue: the n-th waits its floor plus uniform(0, base * 2**(n-1)), capped below."""
    llm_requeue_max_delay_seconds: Annotated[float, Field(gt=0, le=MAX_REQUEUE_DELAY_SECONDS)] = 600.0
    join_max_failures: Annotated[int, Field(ge=0)] = 10  # wrong join codes per user per 15 min; 0: no limit
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    docs_enabled: bool = True  # /docs, /redoc and /openapi.json
    # MongoDB client bounds (docs/security.md): every wait ends in seconds, then the request answers 503.
    mongo_connect_timeout_ms: Annotated[int, Field(ge=100)] = 5000
    mongo_server_selection_timeout_ms: Annotated[int, Field(ge=100)] = 5000
    mongo_socket_timeout_ms: Annotated[int, Field(ge=100)] = 10000
    mongo_operation_timeout_ms: Annotated[int, Field(ge=100)] = 8000
    # LTI 1.3 (docs/lti.md)
    public_base_url: Annotated[str, Field(max_length=500, pattern=r"^(https?://[^\s/]+(/[^\s]*)?)?$")] = ""
    lti_keys_dir: str = ""
    lti_frame_ancestors: str = ""
    lti_state_cookie_required: bool = True
    lti_score_sync_interval_seconds: Annotated[float, Field(gt=0)] = 10
    lti_roster_sync_minutes: Annotated[float, Field(ge=0)] = 360
    # Limits (docs/security.md). 0 turns a limit off.
    login_max_failures: Annotated[int, Field(ge=0)] = 10
    login_failure_window_seconds: Annotated[int, Field(ge=1)] = 15 * 60
    submission_rate_per_minute: Annotated[int, Field(ge=0)] = 6
    signup_rate_per_hour: Annotated[int, Field(ge=0)] = 60
    password_hashing_memory_mib: Annotated[int, Field(ge=1, le=4096)] = 64
    password_hashing_wait_seconds: Annotated[float, Field(gt=0)] = 30

    @property
    def cors_origin_list(self) -> list[str]:
        """``CORS_ORIGINS`` is a comma-separated list of origins (``*`` allows any)."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def memory_store(self) -> bool:
        return self.mongo_uri == MEMORY_MONGO_URI

    @property
    def max_request_bytes(self) -> int:
        """Largest request body read: room for the code with every byte JSON-escaped, plus the rest."""
        return 6 * self.max_code_bytes + 256 * 1024

    @property
    def max_assignment_request_bytes(self) -> int:
        """Largest body of an assignment write or a runner's result: the usual bound plus the tests' data (stdin and
        expected_stdout, MAX_TESTS_TOTAL_BYTES together) with room for JSON escaping; a result's test excerpts
        (100 x 8 KiB, at most six JSON bytes per byte) fit in it too."""
        return self.max_request_bytes + 2 * MAX_TESTS_TOTAL_BYTES

    @property
    def stuck_after_seconds(self) -> int:
        """How long a submission may stay dispatched/running before the sweep calls it lost."""
        return self.job_deadline_seconds + self.stuck_grace_seconds


class ConfigurationError(Exception):
    """The environment does not describe a runnable backend; the message is one line."""


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first offending environment variable."""
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "environment"
    if first["type"] == "missing":
        return f"{name} is required but not set"
    if first["type"] in {"string_too_short", "too_short"} and name in {"JWT_SECRET", "INTERNAL_RESULT_TOKEN"}:
        return f"{name} is required but empty"
    return f"{name} is invalid: {first['msg']}"


def load_settings() -> Settings:
    """Settings from the environment; raises ConfigurationError with a one-line reason."""
    try:
        return Settings()  # type: ignore[call-arg]  # required fields come from the environment
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def load_settings_or_exit() -> Settings:
    """Settings, or exit with status 2 after printing one line (for start-up paths)."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        print(f"cloudemy-backend: configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
