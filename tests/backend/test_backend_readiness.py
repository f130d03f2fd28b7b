"""Readiness answers "can this pod serve requests": MongoDB reachable, checked briefly and cached; Redis
trouble reported, never taking the pod out; liveness never depends on a dependency."""

import asyncio
from typing import Any

import httpx
import pytest

from cloudemy_backend.api.routes import health


@pytest.fixture
def backend(app: Any) -> Any:
    return app.state.backend


async def test_readyz_is_503_with_both_states_when_mongo_does_not_answer(
    client: httpx.AsyncClient, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    monkeypatch.setattr(backend.storage, "ping", hangs)
    monkeypatch.setattr(health, "MONGO_PING_TIMEOUT_SECONDS", 0.2)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"detail": {"mongo": "unreachable (TimeoutError)", "redis": "ok"}}
    assert (await client.get("/healthz")).json() == {"status": "ok"}  # liveness: no dependency
    metrics = (await client.get("/metrics")).text
    assert 'cloudemy_dependency_up{dependency="mongo"} 0.0' in metrics
    assert 'cloudemy_dependency_up{dependency="redis"} 1.0' in metrics


async def test_readyz_checks_mongo_at_most_every_two_seconds(
    client: httpx.AsyncClient, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real_ping = backend.storage.ping

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await real_ping()

    monkeypatch.setattr(backend.storage, "ping", counted)
    answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert calls == 1
    monkeypatch.setattr(health, "READINESS_CACHE_SECONDS", 0.0)
    await client.get("/readyz")
    assert calls == 2


async def test_readyz_recovers_once_mongo_answers_again(
    client: httpx.AsyncClient, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READINESS_CACHE_SECONDS", 0.0)
    real_ping = backend.storage.ping

    async def refused() -> None:
        raise ConnectionRefusedError

    monkeypatch.setattr(backend.storage, "ping", refused)
    assert (await client.get("/readyz")).status_code == 503
    monkeypatch.setattr(backend.storage, "ping", real_ping)
    assert (await client.get("/readyz")).json() == {"status": "ready", "mongo": "ok", "redis": "ok"}
