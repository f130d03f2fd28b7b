"""Fixtures of the web UI's tests: Debian's Chromium through Playwright, the backend alone (results
posted by the test through the internal API), and the whole local platform with the fake LLM."""

import contextlib
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ui_harness import MAX_CODE_BYTES, Api, Browser, ConsoleWatch, User

from demo.processes import ManagedProcess, RedisProcess, free_port, image_env, memory_backend_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def running_backend(**settings: str) -> Iterator[Api]:
    """`python -m cloudemy_backend` on 127.0.0.1 with the memory store and its own Redis, but no scheduler;
    ``settings`` adds variables, each may name ``{base}`` (the server's own http://127.0.0.1:port)."""
    workdir = Path(tempfile.mkdtemp(prefix="cloudemy-ui-"))
    redis = RedisProcess(workdir=workdir)
    redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    internal_token = secrets.token_hex(32)
    admin = User("admin@example.com", secrets.token_urlsafe(12), "Ada Admin", "admin")
    env = image_env() | memory_backend_env(
        port,
        redis.url,
        internal_token=internal_token,
        jwt_secret=secrets.token_hex(32),
        admin_email=admin.email,
        admin_password=admin.password,
        MAX_CODE_BYTES=str(MAX_CODE_BYTES),
        LOG_LEVEL="WARNING",
        **{name: value.format(base=base) for name, value in settings.items()},
    )
    backend = ManagedProcess("backend", [sys.executable, "-m", "cloudemy_backend"], env, workdir)
    backend.start()
    try:
        backend.wait_http(f"{base}/readyz", timeout=60)
        api = Api(base, internal_token, admin)
        yield api
        api.close()
    finally:
        backend.stop()
        redis.close()


@pytest.fixture(scope="session")
def ui_backend() -> Iterator[Api]:
    """The backend alone: submissions stay queued until a test posts their status and result through the
    internal API."""
    with running_backend() as api:
        yield api


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_browser(chromium: Any) -> Iterator[Callable[..., Browser]]:
    """open_browser(base_url, width=1280) -> a fresh browser context (own sessionStorage) on the UI.
    At the end, no page may have logged a console error or thrown."""
    contexts: list[tuple[Any, ConsoleWatch]] = []

    def open_(base_url: str, *, width: int = 1280, height: int = 900) -> Browser:
        context = chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        console = ConsoleWatch()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        contexts.append((context, console))
        return Browser(page, console, base_url)

    yield open_
    problems = []
    for context, console in contexts:
        problems.extend(console.unexpected())
        context.close()
    assert problems == [], f"console errors: {problems}"


@dataclass
class Platform:
    api: Api
    fake_llm: Any
    url: str
    sample: dict[str, Any]
    course: dict[str, Any]  # the sample's course (its instructor's)


@pytest.fixture(scope="session")
def ui_platform() -> Iterator[Platform]:
    """The whole local platform (demo/platform.py: Redis, backend, scheduler with EXECUTOR=local and runner
    subprocesses) grading with the fake OpenAI server, plus the sample assignment."""
    from demo.platform import LocalPlatform, PlatformConfig, sample_assignment
    from fakes.openai_server import FakeOpenAI

    with FakeOpenAI(mode="good") as fake:
        cfg = PlatformConfig(
            port=free_port(),
            llm_env={"LLM_API_KEY": "fake-key", "LLM_BASE_URL": fake.base_url, "LLM_MODEL": "fake-model"},
            admin_email="admin@example.com",
            job_deadline_seconds=60,
            workdir=Path(tempfile.mkdtemp(prefix="cloudemy-ui-platform-")),
        )
        with LocalPlatform(cfg) as platform:
            admin = User(cfg.admin_email, cfg.admin_password, "Administrator", "admin")
            api = Api(platform.url, platform.internal_token, admin)
            sample = sample_assignment(with_llm_rubric=True)
            instructor = api.create_user("instructor")
            course = api.course_of(instructor)
            resp = api.http.post(f"/api/courses/{course['id']}/assignments", json=sample, headers=instructor.headers)
            resp.raise_for_status()
            yield Platform(api, fake, platform.url, resp.json(), course)
            api.close()
