"""Polling a submission is cheap: a status-only endpoint, and ETag / If-None-Match -> 304 on both it and the
submission, answered from the status fields alone."""

from typing import Any

import httpx
import pytest
from backend_api import MASTER_TOKEN, Actor, graded_result


async def test_submission_has_an_etag_and_answers_304_until_it_changes(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict[str, Any], monkeypatch: Any
) -> None:
    url, student = f"/api/submissions/{submission['id']}", actors["student"].headers
    first = await client.get(url, headers=student)
    etag = first.headers["etag"]
    assert etag.startswith('W/"1-queued-')

    storage = app.state.backend.storage
    full_reads = 0
    real = storage.submission_by_id

    async def counted(submission_id: str) -> Any:
        nonlocal full_reads
        full_reads += 1
        return await real(submission_id)

    monkeypatch.setattr(storage, "submission_by_id", counted)
    unchanged = await client.get(url, headers=student | {"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert full_reads == 0  # the code and the result were never read

    posted = await client.post(
        f"/internal/submissions/{submission['id']}/status",
        json={"status": "running"},
        headers={"X-Result-Token": MASTER_TOKEN},
    )
    assert posted.status_code == 200
    changed = await client.get(url, headers=student | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["status"] == "running"
    assert changed.headers["etag"] != etag
    assert changed.headers["cache-control"] == "no-store"


async def test_status_endpoint_is_small_and_follows_every_change(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict[str, Any]
) -> None:
    url, student = f"/api/submissions/{submission['id']}/status", actors["student"].headers
    state = await client.get(url, headers=student)
    assert state.status_code == 200
    assert set(state.json()) == {"id", "status", "attempt", "updated_at"}
    assert state.json()["status"] == "queued"
    assert len(state.content) < 150
    assert (await client.get(url, headers=student | {"If-None-Match": state.headers["etag"]})).status_code == 304
    await client.post(
        f"/internal/submissions/{submission['id']}/result",
        json=graded_result(),
        headers={"X-Result-Token": MASTER_TOKEN},
    )
    after = await client.get(url, headers=student | {"If-None-Match": state.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["status"] == "graded"
    full = (await client.get(f"/api/submissions/{submission['id']}", headers=student)).json()
    assert after.json()["updated_at"] == full["updated_at"]


@pytest.mark.parametrize("path", ["", "/status"])
async def test_polling_keeps_authorization(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict[str, Any], path: str
) -> None:
    url = f"/api/submissions/{submission['id']}{path}"
    own = await client.get(url, headers=actors["student"].headers)
    for intruder in ("other_student",):
        for extra in ({}, {"If-None-Match": own.headers["etag"]}, {"If-None-Match": "*"}):
            response = await client.get(url, headers=actors[intruder].headers | extra)
            assert response.status_code == 404, (intruder, extra)
    assert (await client.get(url)).status_code == 401
    staff = await client.get(url, headers=actors["instructor"].headers)
    assert staff.status_code == 200
    assert staff.headers["etag"] != own.headers["etag"]  # staff and students see different things
    unknown = await client.get(f"/api/submissions/0123456789abcdef01234567{path}", headers=actors["admin"].headers)
    assert unknown.status_code == 404
