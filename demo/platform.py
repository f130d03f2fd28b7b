"""The whole Cloudemy platform as local processes: Redis, backend (memory store), scheduler (local executor).

Used by `make demo`, the browser tests and the benchmarks. Runners are subprocesses of the scheduler
(EXECUTOR=local), each started with the env its Kubernetes Job would have: the Job template is the chart's,
rendered at start-up with helm (`make demo` installs it).
"""

import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from demo.chart import BACKEND_SERVICE, write_runner_job_template
from demo.courses_seed import seed_courses
from demo.processes import ManagedProcess, RedisProcess, free_port, memory_backend_env

SAMPLE_ASSIGNMENT = Path(__file__).with_name("sample_assignment.json")


def sample_assignment(*, with_llm_rubric: bool) -> dict[str, Any]:
    """The sample FizzBuzz as the API takes it: its tests (which grade it with no LLM at all), its reference
    solution, and, ``with_llm_rubric``, the rubric an LLM grades on top of the tests (``llm_rubric`` in the file)."""
    sample = json.loads(SAMPLE_ASSIGNMENT.read_text())
    llm_rubric = sample.pop("llm_rubric")
    if with_llm_rubric:
        sample["rubric"] = llm_rubric
    return sample


LLM_NUMBERS = {
    # environment variable -> the chart value that feeds it to runner Jobs (and the scheduler)
    "LLM_TIMEOUT_SECONDS": "llm.timeoutSeconds",
    "LLM_SAMPLES": "llm.samples",
    "LLM_MAX_SPREAD": "llm.maxSpread",
    "LLM_REQUESTS_PER_MINUTE": "llm.rateLimit.requestsPerMinute",
    "LLM_TOKENS_PER_MINUTE": "llm.rateLimit.tokensPerMinute",
    "LLM_REQUEUE_LIMIT": "llm.rateLimit.requeueLimit",
}
LLM_ENV = ("LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL", *LLM_NUMBERS)


@dataclass
class Account:
    email: str
    password: str
    name: str
    role: str


@dataclass
class PlatformConfig:
    """What the local platform runs with; every field has a demo-friendly default."""

    port: int = 8000
    llm_env: dict[str, str] = field(default_factory=dict)
    admin_email: str = "admin@example.com"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    max_active_jobs: int = 8
    job_deadline_seconds: int = 120
    extra_backend_env: dict[str, str] = field(default_factory=dict)
    extra_scheduler_env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None

    @property
    def llm_configured(self) -> bool:
        """An LLM to grade rubrics: a key, or an OpenAI-compatible server of one's own."""
        return bool(self.llm_env.get("LLM_API_KEY") or self.llm_env.get("LLM_BASE_URL"))

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str] = os.environ) -> "PlatformConfig":
        cfg = cls(port=int(environ.get("PORT", "8000")))
        cfg.llm_env = {k: environ[k] for k in LLM_ENV if environ.get(k)}
        if environ.get("CLOUDEMY_ADMIN_EMAIL"):
            cfg.admin_email = environ["CLOUDEMY_ADMIN_EMAIL"]
        if environ.get("CLOUDEMY_ADMIN_PASSWORD"):
            cfg.admin_password = environ["CLOUDEMY_ADMIN_PASSWORD"]
        if environ.get("MAX_ACTIVE_JOBS"):
            cfg.max_active_jobs = int(environ["MAX_ACTIVE_JOBS"])
        return cfg


def _base_env() -> dict[str, str]:
    """This process's env minus proxies (loopback calls stay local) and minus any LLM settings."""
    drop = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    return {k: v for k, v in os.environ.items() if k.lower() not in drop and k not in LLM_ENV}


def runner_job_values(cfg: PlatformConfig) -> dict[str, list[str]]:
    """Chart values (``set_values``, ``set_strings``) for the demo's runner Jobs: its deadline and LLM settings.
    The API key stays a secretKeyRef, which the local executor resolves from the scheduler's environment."""
    # Local runners start at once: no startup allowance, so the Job's deadline is the grading time (as the
    # backend's JOB_DEADLINE_SECONDS below assumes).
    values = [f"runner.job.activeDeadlineSeconds={cfg.job_deadline_seconds}", "runner.job.startupAllowanceSeconds=0"]
    values += [f"{key}={cfg.llm_env[name]}" for name, key in LLM_NUMBERS.items() if cfg.llm_env.get(name)]
    pairs = (("LLM_MODEL", "llm.model"), ("LLM_BASE_URL", "llm.baseUrl"))
    strings = [f"{key}={cfg.llm_env[name]}" for name, key in pairs if cfg.llm_env.get(name)]
    return {"set_values": values, "set_strings": strings}


class LocalPlatform:
    """Starts, seeds and stops the local platform. Use as a context manager or call start()/stop()."""

    def __init__(self, cfg: PlatformConfig) -> None:
        self.cfg = cfg
        self.workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix="cloudemy-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisProcess(appendonly=True, workdir=self.workdir / "redis")
        (self.workdir / "redis").mkdir(exist_ok=True)
        self.internal_token = secrets.token_hex(32)
        self.jwt_secret = secrets.token_hex(32)
        self.metrics_port = free_port()
        self.backend: ManagedProcess | None = None
        self.scheduler: ManagedProcess | None = None
        self.accounts: dict[str, Account] = {}
        self.assignment: dict[str, Any] = {}
        self.courses: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.port}"

    @property
    def internal_url(self) -> str:
        return f"{self.url}/internal"

    def backend_env(self) -> dict[str, str]:
        return _base_env() | memory_backend_env(
            self.cfg.port,
            self.redis.url,
            internal_token=self.internal_token,
            jwt_secret=self.jwt_secret,
            admin_email=self.cfg.admin_email,
            admin_password=self.cfg.admin_password,
            **{
                "CORS_ORIGINS": self.url,
                "JOB_DEADLINE_SECONDS": str(self.cfg.job_deadline_seconds),
                **self.cfg.extra_backend_env,
            },
        )

    def scheduler_env(self, template_path: Path) -> dict[str, str]:
        return {
            **_base_env(),
            "EXECUTOR": "local",
            "REDIS_URL": self.redis.url,
            "QUEUE_SUBMISSIONS": "queue:submissions",
            "BACKEND_INTERNAL_URL": self.internal_url,
            "INTERNAL_RESULT_TOKEN": self.internal_token,
            "LLM_API_KEY": self.cfg.llm_env.get("LLM_API_KEY", ""),
            "RUNNER_JOB_TEMPLATE": str(template_path),
            "MAX_ACTIVE_JOBS": str(self.cfg.max_active_jobs),
            "METRICS_PORT": str(self.metrics_port),
            **self.cfg.extra_scheduler_env,
        }

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.redis.start()
        self.backend = ManagedProcess(
            "backend", [sys.executable, "-m", "cloudemy_backend"], self.backend_env(), self.workdir
        )
        self.backend.start()
        self.backend.wait_http(f"{self.url}/readyz", timeout=60)
        template_path = write_runner_job_template(  # the chart's template, its runners pointed at this backend
            self.workdir / "runner-job.yaml",
            services={BACKEND_SERVICE: self.cfg.port},
            **runner_job_values(self.cfg),
        )
        self.scheduler = ManagedProcess(
            "scheduler", [sys.executable, "-m", "cloudemy_scheduler"], self.scheduler_env(template_path), self.workdir
        )
        self.scheduler.start()
        self.scheduler.wait_http(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=60)

    def seed(self) -> None:
        """Create the demo's courses, accounts and assignments (demo/courses_seed.py; the admin comes from the
        backend's env). ``assignment`` is the sample FizzBuzz, in CS101."""
        self.accounts["admin"] = Account(self.cfg.admin_email, self.cfg.admin_password, "Admin", "admin")
        with httpx.Client(base_url=self.url, timeout=10) as http:
            admin = self.login(http, self.accounts["admin"])
            sample = sample_assignment(with_llm_rubric=self.cfg.llm_configured)
            seeded = seed_courses(http, admin, sample)
        for name, (email, password) in seeded.accounts.items():
            self.accounts[name] = Account(email, password, name, "instructor" if "instructor" in name else "student")
        self.courses = seeded.courses
        self.assignment = seeded.assignments[sample["title"]]

    @staticmethod
    def login(http: httpx.Client, account: Account) -> dict[str, str]:
        """Bearer headers for ``account``."""
        resp = http.post("/api/auth/token", data={"username": account.email, "password": account.password})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def check_alive(self) -> str | None:
        """The name of a child that died, with its log tail, or None when all run."""
        for proc in (self.backend, self.scheduler):
            if proc is not None and not proc.running:
                return f"{proc.name} exited:\n{proc.log_tail()}"
        if not self.redis.running:
            return "redis-server exited"
        return None

    def stop(self) -> None:
        """Stop the scheduler first (it stops its runners), then the backend, then Redis."""
        for proc in (self.scheduler, self.backend):
            if proc is not None:
                proc.stop()
        self.redis.stop()

    def __enter__(self) -> "LocalPlatform":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_terminal(
    http: httpx.Client, submission_id: str, headers: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Poll a submission until it reaches a terminal status; return its body."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = http.get(f"/api/submissions/{submission_id}", headers=headers).json()
        if body.get("status") in {"graded", "needs_review", "error", "timeout"}:
            return body
        time.sleep(0.2)
    raise TimeoutError(f"submission {submission_id} still {body.get('status')} after {timeout}s")
