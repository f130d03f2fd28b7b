"""Login throttle, sign-up limit and the bounded hashing pool: shared through Redis by every worker, exact
under concurrency, failing open (with a warning) when Redis is away."""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD
from fastapi import HTTPException
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudemy_backend.core.config import Settings
from cloudemy_backend.hashing import HashingPool
from cloudemy_backend.main import create_app
from cloudemy_backend.metrics import Metrics

WRONG = "not-the-password"


@contextlib.asynccontextmanager
async def serve_from(settings: Settings, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A started app whose requests come from ``address``."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", data={"username": email, "password": password})


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/register", json={"email": email, "password": "long-enough-1", "name": "S"})


def assert_throttled(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"detail": "too many failed logins; try again later"}
    assert 0 < int(response.headers["Retry-After"]) <= window


async def test_eleventh_login_after_ten_failures_is_429_even_with_the_right_password(
    make_settings: Callable[..., Settings],
) -> None:
    async with serve_from(make_settings()) as client:
        for _ in range(10):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        assert_throttled(await login(client, ADMIN_EMAIL, ADMIN_PASSWORD), 900)
        assert_throttled(await login(client, ADMIN_EMAIL.upper(), ADMIN_PASSWORD), 900)  # same account
        metrics = (await client.get("/metrics")).text
        assert 'cloudemy_rate_limited_total{limit="login"} 2.0' in metrics


async def test_account_limit_holds_from_every_address_and_every_worker(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    async with serve_from(settings, "10.0.0.1") as worker_a, serve_from(settings, "10.0.0.2") as worker_b:
        for index in range(10):
            assert (await login(worker_a if index % 2 else worker_b, ADMIN_EMAIL, WRONG)).status_code == 401
        assert_throttled(await login(worker_b, ADMIN_EMAIL, ADMIN_PASSWORD), 900)
        assert_throttled(await login(worker_a, ADMIN_EMAIL, ADMIN_PASSWORD), 900)


async def test_address_limit_spans_accounts_and_spares_other_addresses(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    async with serve_from(settings, "10.0.0.9") as attacker, serve_from(settings, "10.0.0.10") as student:
        assert (await register(student, "ada@example.com")).status_code == 201
        for index in range(10):
            assert (await login(attacker, f"guess{index}@example.com", WRONG)).status_code == 401
        assert_throttled(await login(attacker, "ada@example.com", "long-enough-1"), 900)
        assert (await login(student, "ada@example.com", "long-enough-1")).status_code == 200
        assert (await login(student, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


async def test_successful_logins_are_not_counted(make_settings: Callable[..., Settings]) -> None:
    async with serve_from(make_settings()) as client:
        for _ in range(25):
            assert (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200
        for _ in range(10):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        assert_throttled(await login(client, ADMIN_EMAIL, ADMIN_PASSWORD), 900)


async def test_parallel_guesses_overshoot_by_at_most_the_verifications_running_at_once(
    make_settings: Callable[..., Settings],
) -> None:
    # A 1 MiB hashing budget runs the tests' 1 MiB hashes one at a time: the limit holds exactly.
    async with serve_from(make_settings(password_hashing_memory_mib=1)) as client:
        answers = await asyncio.gather(*(login(client, ADMIN_EMAIL, f"{WRONG}{i}") for i in range(30)))
    codes = sorted(response.status_code for response in answers)
    assert codes == [401] * 10 + [429] * 20


async def test_concurrent_successful_logins_from_one_address_are_never_throttled(
    make_settings: Callable[..., Settings],
) -> None:
    async with serve_from(make_settings(login_max_failures=3)) as client:
        answers = await asyncio.gather(*(login(client, ADMIN_EMAIL, ADMIN_PASSWORD) for _ in range(40)))
    assert [response.status_code for response in answers] == [200] * 40


async def test_login_works_again_once_the_window_has_passed(make_settings: Callable[..., Settings]) -> None:
    async with serve_from(make_settings(login_max_failures=3, login_failure_window_seconds=2)) as client:
        for _ in range(3):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        throttled = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert_throttled(throttled, 2)
        await asyncio.sleep(2.2)
        assert (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


async def test_zero_disables_the_login_throttle(make_settings: Callable[..., Settings]) -> None:
    async with serve_from(make_settings(login_max_failures=0)) as client:
        for _ in range(30):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        assert (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


async def test_limits_fail_open_with_a_warning_when_redis_is_away(
    make_settings: Callable[..., Settings], redis_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_factory()
    async with serve_from(make_settings(redis_url=server.url, login_max_failures=2)) as client:
        server.stop()
        caplog.set_level(logging.WARNING)
        for _ in range(5):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        assert (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200
        assert (await register(client, "while-away@example.com")).status_code == 201
        warnings = [r for r in caplog.records if "rate limits not enforced" in r.getMessage()]
        assert len(warnings) == 1  # one warning a minute, not one per request
        assert "cloudemy_rate_limit_unavailable_total" in (await client.get("/metrics")).text
        server.start()
        for _ in range(2):
            assert (await login(client, ADMIN_EMAIL, WRONG)).status_code == 401
        assert (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429  # enforced again


async def test_signups_are_limited_per_client_address(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(signup_rate_per_hour=3)
    async with serve_from(settings, "10.1.1.1") as campus, serve_from(settings, "10.2.2.2") as home:
        for index in range(3):
            assert (await register(campus, f"s{index}@example.com")).status_code == 201
        refused = await register(campus, "s4@example.com")
        assert refused.status_code == 429
        assert 3500 < int(refused.headers["Retry-After"]) <= 3600
        assert "sign-ups" in refused.json()["detail"]
        assert (await register(home, "s4@example.com")).status_code == 201
        assert (await login(home, "s4@example.com", "long-enough-1")).status_code == 200


async def test_a_hash_made_with_former_parameters_verifies_and_is_rehashed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    app = create_app(settings)
    legacy = PasswordHash((Argon2Hasher(memory_cost=4096, time_cost=3, parallelism=4),)).hash("legacy-pass-1")
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        storage = app.state.backend.storage
        await storage.insert_user(email="old@example.com", name="Old", role="student", password_hash=legacy)
        assert (await login(client, "old@example.com", "legacy-pass-1")).status_code == 200
        stored = (await storage.user_by_email("old@example.com"))["password_hash"]
        assert stored != legacy
        assert "m=4096,t=3,p=4" not in stored
        assert (await login(client, "old@example.com", "legacy-pass-1")).status_code == 200
        assert (await storage.user_by_email("old@example.com"))["password_hash"] == stored  # once only
        assert (await login(client, "old@example.com", "wrong-legacy")).status_code == 401


class Gate:
    """A blocking stand-in for argon2 that records how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def work(self, seconds: float) -> str:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(seconds)
        with self.lock:
            self.running -= 1
        return "done"


async def test_hashing_pool_never_exceeds_its_memory_budget() -> None:
    pool, gate = HashingPool(budget_kib=100, wait_seconds=10, metrics=Metrics()), Gate()
    costs = [30] * 12 + [100, 250]  # 3 fit at once; the 100 runs alone; the 250 is capped to the budget
    results = await asyncio.gather(*(pool._run(cost, gate.work, 0.05) for cost in costs))
    assert results == ["done"] * len(costs)
    assert gate.peak == 3
    assert pool.peak_kib <= 100
    assert pool.in_use_kib == 0


async def test_hashing_pool_answers_503_with_retry_after_when_the_line_is_too_long() -> None:
    pool, gate = HashingPool(budget_kib=10, wait_seconds=0.2, metrics=Metrics()), Gate()
    outcomes = await asyncio.gather(*(pool._run(10, gate.work, 0.5) for _ in range(3)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, HTTPException)]
    assert outcomes.count("done") == 1
    assert len(refused) == 2
    assert all(o.status_code == 503 and o.headers == {"Retry-After": "2"} for o in refused)
    assert pool.in_use_kib == 0
    assert await pool._run(10, gate.work, 0.0) == "done"  # nothing leaked


async def test_hashing_pool_gives_back_the_budget_of_a_cancelled_request() -> None:
    pool, gate = HashingPool(budget_kib=10, wait_seconds=5, metrics=Metrics()), Gate()
    first = asyncio.create_task(pool._run(10, gate.work, 0.3))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(pool._run(10, gate.work, 0.0))
    await asyncio.sleep(0.05)
    waiting.cancel()
    assert await first == "done"
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    assert pool.in_use_kib == 0
    assert await pool._run(10, gate.work, 0.0) == "done"
