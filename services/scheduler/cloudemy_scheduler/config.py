"""The scheduler's settings, read from the environment (docs/scheduler.md lists them with their defaults)."""

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudemy_common.keys import DEFAULT_QUEUE
from cloudemy_common.llm_budget import BreakerSettings


class ConfigurationError(Exception):
    """The scheduler cannot run with these settings (it exits with code 2 and says why)."""


class Settings(BaseSettings):
    """Every environment variable the scheduler reads; docs/scheduler.md lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

    redis_url: str = "redis://redis:6379/0"
    queue_submissions: str = DEFAULT_QUEUE
    k8s_namespace: str = "default"
    runner_language_images: dict[str, str] | None = None
    """JSON ``{"python": "<image>", "c": "<image>"}``: the runner image that carries each language's toolchain,
    stamped into the Job. A submission in a language missing here gets an ``error`` result (fail tag
    ``language-unavailable``) instead of a Job. Unset: every language runs in the Job template's image."""
    backend_internal_url: str = "http://backend:8000/internal"
    internal_result_token: SecretStr = SecretStr("")
    runner_job_template: Path | None = None
    """The runner Job template (required; the chart mounts its ConfigMap's job.yaml and points here)."""
    executor: Literal["kubernetes", "local"] = "kubernetes"
    max_active_jobs: int = Field(default=50, ge=1)
    llm_requests_per_minute: int = Field(default=0, ge=0)
    """The LLM budget the runners share (0: no limit): dispatch holds while it is booked up."""
    llm_tokens_per_minute: int = Field(default=0, ge=0)
    llm_budget_period_seconds: float = Field(default=60.0, gt=0)
    """The window the two limits count in (a minute; only time-compressing tests and benchmarks shorten it)."""
    llm_breaker_failures: int = Field(default=5, ge=1, le=1000)
    """The runners' breaker threshold (the same variable they read): with it the scheduler tells open from
    half-open exactly as the runners do."""
    llm_breaker_open_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How long the runners' breaker stays open the first time (doubling on each re-open)."""
    llm_dispatch_max_backlog_seconds: float = Field(default=30.0, gt=0)
    """Dispatch holds while the shared LLM budget is booked further ahead than this (or its breaker is open)."""
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    kubeconfig: str | None = None
    """Used when not running in a pod (no in-cluster service account)."""
    image_pull_timeout_seconds: float = Field(default=60, gt=0)
    """A runner pod whose image pull keeps failing (ErrImagePull, ImagePullBackOff, InvalidImageName) this long
    after it was scheduled: ``error``, fail tag ``image-pull-failed``, Job deleted."""
    pod_unschedulable_timeout_seconds: float = Field(default=120, gt=0)
    """A runner pod Unschedulable (PodScheduled=False) this long: ``error``, ``pod-unschedulable``, Job deleted.
    Long enough for a node autoscale; the Job's startup allowance (180 s by default) is longer."""
    pod_create_timeout_seconds: float = Field(default=60, gt=0)
    """A runner Job with no pod this long after its creation (FailedCreate: quota, admission webhook):
    ``error``, ``pod-not-created``, Job deleted."""
    pod_name: str = ""
    log_level: str = "INFO"

    # Scheduler extras (defaults suit production; tests shorten them).
    runner_command: str = ""
    """EXECUTOR=local: the command that runs one submission (default: this Python's ``-m cloudemy_runner``)."""
    scheduler_lease_seconds: float = Field(default=30, gt=0)
    """A scheduler that has not renewed its heartbeat for this long is dead; its in-flight messages are re-queued."""
    recovery_interval_seconds: float = Field(default=10, gt=0)
    """How often orphaned ``:processing`` messages are looked for (and the active-Job slots reconciled)."""
    orphan_grace_seconds: float = Field(default=30, ge=0)
    """How long a message may sit in ``:processing`` without an owner before it is re-queued."""
    k8s_request_timeout_seconds: float = Field(default=10, gt=0)
    """Read timeout of one Kubernetes API call (creates are retried after it)."""
    report_timeout_seconds: float = Field(default=300, gt=0)
    """How long a result report to the backend is retried before it is given up (the backend's sweeper remains)."""
    watch_timeout_seconds: int = Field(default=300, gt=0)
    """Server-side timeout of one Job watch request; the watch then resumes from the last resourceVersion."""
    k8s_list_page_size: int = Field(default=500, ge=1, le=10_000)
    """Jobs per page of the watcher's list (``limit``; the rest follows through ``continue``): bounds the memory a
    re-list takes, whatever the number of retained Jobs."""

    @property
    def llm_breaker(self) -> BreakerSettings:
        """The shared breaker's thresholds, the same variables and defaults the runners read."""
        return BreakerSettings(failures=self.llm_breaker_failures, open_seconds=self.llm_breaker_open_seconds)

    @property
    def scheduler_id(self) -> str:
        """Who holds a message in ``:processing``: the pod's name (unique per replica), else host and pid."""
        return self.pod_name or f"{socket.gethostname()}-{os.getpid()}"
