"""Operations: health, readiness, metrics, logs without secrets, CORS, configuration errors."""

import logging
from typing import Any

import httpx
import pytest
from backend_api import ADMIN_PASSWORD, MASTER_TOKEN, Actor, graded_result, serve

from cloudemy_backend.core.config import ConfigurationError, Settings, load_settings
from cloudemy_common.keys import DEFAULT_PAYLOAD_TTL_SECONDS, DEFAULT_QUEUE
from cloudemy_common.logs import JsonFormatter
from cloudemy_common.tokens import submission_token


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "mongo": "ok", "redis": "ok"}


async def test_readyz_stays_ready_and_reports_redis_when_redis_is_down(make_settings: Any, redis_factory: Any) -> None:
    server = redis_factory()
    async with serve(make_settings(redis_url=server.url)) as client:
        server.stop()
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["mongo"] == "ok"
        assert response.json()["redis"].startswith("unreachable")
        assert (await client.get("/healthz")).status_code == 200
        assert 'cloudemy_dependency_up{dependency="redis"} 0.0' in (await client.get("/metrics")).text


async def test_metrics_count_requests_submissions_results_and_queue(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict
) -> None:
    sid = submission["id"]
    await client.post(f"/api/submissions/{sid}/regrade", headers=actors["admin"].headers)  # 409: still queued
    await client.post(
        f"/internal/submissions/{sid}/result", json=graded_result(), headers={"X-Result-Token": MASTER_TOKEN}
    )
    text = (await client.get("/metrics")).text
    assert "cloudemy_submissions_created_total 1.0" in text
    assert 'cloudemy_results_total{status="graded"} 1.0' in text
    assert "cloudemy_queue_length 1.0" in text
    assert (
        'cloudemy_http_requests_total{method="POST",route="/api/submissions/{submission_id}/regrade",status="409"} 1.0'
        in text
    )
    assert 'cloudemy_http_request_duration_seconds_count{method="POST",route="/api/auth/token"}' in text
    assert sid not in text  # route templates, never raw paths


async def test_logs_hold_no_passwords_tokens_or_code(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, caplog: pytest.LogCaptureFixture
) -> None:
    secret_code = "print('very-secret-solution-4711')"
    caplog.set_level(logging.DEBUG)
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        json={"language": "python", "code": secret_code},
        headers=actors["student"].headers,
    )
    sid = response.json()["id"]
    token = submission_token(MASTER_TOKEN, sid)
    await client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers={"X-Result-Token": token})
    await client.post("/api/auth/token", data={"username": "student@example.com", "password": "wrong-password-99"})
    await client.post("/api/auth/register", json={"email": "x@example.com", "password": "short", "name": "x"})

    formatter = JsonFormatter()
    lines = "\n".join(formatter.format(record) for record in caplog.records)
    assert "submission accepted" in lines  # the logs did record the events
    bearer = actors["student"].headers["Authorization"].removeprefix("Bearer ")
    for secret in (secret_code, "very-secret", token, MASTER_TOKEN, bearer, ADMIN_PASSWORD, "wrong-password-99"):
        assert secret not in lines


async def test_cors_allows_the_configured_origin_only(make_settings: Any) -> None:
    async with serve(make_settings(cors_origins="http://cloudemy.local, https://ui.example.com")) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await client.options("/api/auth/token", headers={"Origin": "http://cloudemy.local", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "http://cloudemy.local"
        other = await client.get("/healthz", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_required_variables_fail_with_one_line_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET", "INTERNAL_RESULT_TOKEN", "MAX_CODE_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTERNAL_RESULT_TOKEN", "t")
    with pytest.raises(ConfigurationError, match=r"^JWT_SECRET is required but not set$"):
        load_settings()
    monkeypatch.setenv("JWT_SECRET", "s")
    monkeypatch.setenv("INTERNAL_RESULT_TOKEN", "")
    with pytest.raises(ConfigurationError, match=r"^INTERNAL_RESULT_TOKEN is required but empty$"):
        load_settings()
    monkeypatch.setenv("INTERNAL_RESULT_TOKEN", "t")
    monkeypatch.setenv("MAX_CODE_BYTES", "lots")
    with pytest.raises(ConfigurationError, match=r"^MAX_CODE_BYTES is invalid"):
        load_settings()


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("JWT_SECRET", "s")
    monkeypatch.setenv("INTERNAL_RESULT_TOKEN", "t")
    settings = load_settings()
    assert (settings.max_code_bytes, settings.allow_signup, settings.port) == (65536, True, 8000)
    assert (settings.queue_submissions, settings.submission_payload_ttl) == (DEFAULT_QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    assert (settings.job_deadline_seconds, settings.stuck_grace_seconds, settings.sweep_interval_seconds) == (
        120,
        60,
        15,
    )
    assert (settings.jwt_expire_minutes, settings.log_level, settings.db_name) == (60, "INFO", "cloudemy")


async def test_admin_bootstrap_is_idempotent(make_settings: Any, app: Any) -> None:
    from cloudemy_backend.main import prepare_storage

    storage = app.state.backend.storage
    settings = make_settings()
    for _ in range(3):
        await prepare_storage(settings, storage)
    admins = await storage.users.count_documents({"role": "admin"})
    assert admins == 1
