"""Property-based fuzzing with schemathesis against the app's own OpenAPI: no input produces a 5xx, and
every error is JSON {"detail": ...}. Bounded: a fixed number of examples per operation.

Three runs: every operation on its own (the OpenAPI document plus the UI's static routes, which the document
leaves out), sequences of calls chained through the links schemathesis infers (stateful), and bearer tokens
signed with the app's own secret carrying arbitrary claims (what a bug or a leaked secret would mint)."""

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
import uvicorn
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, MASTER_TOKEN, assignment_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from waiting import wait_for

from cloudemy_backend.core.config import Settings
from cloudemy_backend.main import create_app
from fakes.ports import free_port
from fakes.redis_server import RedisServer

EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 40
STATEFUL_MAX_SECONDS = 20
SCHEMATHESIS_CLI = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"]
TOKEN_EXAMPLES = 150


@pytest.fixture(scope="module")
def live_backend(redis_server: RedisServer) -> Iterator[dict[str, Any]]:
    """The app served by uvicorn on 127.0.0.1 in a thread, with the memory store and the session's Redis;
    plus an admin's bearer header and one real assignment and submission for the fuzzer to hit."""
    app_settings = fuzz_settings(redis_server.url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="fuzz-backend", daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, what="the backend", alive=thread.is_alive)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as http:
        token = http.post("/api/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        course = http.post("/api/courses", json={"code": "FUZZ", "title": "Fuzzing"}, headers=headers).json()
        assignment = http.post(
            f"/api/courses/{course['id']}/assignments", json=assignment_body(), headers=headers
        ).json()
        submission = http.post(
            f"/api/assignments/{assignment['id']}/submissions",
            json={"language": "python", "code": "x"},
            headers=headers,
        ).json()
        me = http.get("/api/users/me", headers=headers).json()
    yield {
        "base": base,
        "headers": headers,
        "assignment": assignment["id"],
        "submission": submission["id"],
        "admin_id": me["id"],
    }
    server.should_exit = True
    thread.join(timeout=30)


def fuzz_settings(redis_url: str) -> Settings:
    return Settings(
        mongo_uri="memory://",
        db_name=f"fuzz_{uuid.uuid4().hex[:8]}",
        redis_url=redis_url,
        queue_submissions=f"queue:fuzz:{uuid.uuid4().hex[:8]}",
        jwt_secret=JWT_SECRET,
        internal_result_token=MASTER_TOKEN,
        cloudemy_admin_email=ADMIN_EMAIL,
        cloudemy_admin_password=ADMIN_PASSWORD,
        sweep_interval_seconds=3600,
    )


# Routes the app serves outside its OpenAPI document, described here so the fuzzer reaches them too; the
# examples are the paths that once broke a static file server (NUL bytes, traversal, odd encodings).
STATIC_PATH_EXAMPLES = [
    "js/app.js",
    "js/app.js\x00.png",
    "\x00",
    "../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "css/%00app.css",
    "index.html\x00",
    "\ud7ff.js",
    "a" * 5000 + ".js",
]
UNLISTED_ROUTES: dict[str, Any] = {
    "/": {"get": {"operationId": "ui_index", "responses": {"200": {"description": "the UI's page"}}}},
    "/docs": {"get": {"operationId": "swagger_ui", "responses": {"200": {"description": "Swagger UI"}}}},
    "/redoc": {"get": {"operationId": "redoc", "responses": {"200": {"description": "ReDoc"}}}},
    "/docs/assets/{name}": {
        "get": {
            "operationId": "docs_asset",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "examples": {f"e{i}": {"value": value} for i, value in enumerate(STATIC_PATH_EXAMPLES)},
                }
            ],
            "responses": {"200": {"description": "a file"}, "404": {"description": "no such file"}},
        }
    },
    "/ui/{path}": {
        "get": {
            "operationId": "ui_asset",
            "parameters": [
                {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "examples": {f"e{i}": {"value": value} for i, value in enumerate(STATIC_PATH_EXAMPLES)},
                }
            ],
            "responses": {"200": {"description": "a file"}, "404": {"description": "no such file"}},
        }
    },
}


def fuzz_document() -> dict[str, Any]:
    """The OpenAPI document of the app as built (nothing runs until the lifespan starts, so no Redis is needed
    here), plus the routes it leaves out."""
    document = create_app(fuzz_settings("redis://127.0.0.1:1/0")).openapi()
    document["paths"] = {**document["paths"], **UNLISTED_ROUTES}
    return document


schema = schemathesis.openapi.from_dict(fuzz_document())


# What browsers reach from an LMS: refusals there are an HTML page with the reason, not JSON.
BROWSER_PAGES = ("/lti/login", "/lti/launch")


def assert_no_5xx_and_json_error(response: Any, label: str) -> None:
    assert response.status_code < 500, f"{label[:300]} -> {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.status_code != 405 and any(p in label for p in BROWSER_PAGES):
        content_type = response.headers.get("content-type", "")
        content_type = content_type[0] if isinstance(content_type, list) else content_type  # schemathesis' shape
        # a refusal page, or (a body the form parser cannot read at all) the JSON error every route gives
        page = content_type.startswith("text/html")
        assert page or "detail" in response.json(), f"{label[:300]}: {response.text[:300]}"
    elif response.status_code >= 400:
        assert "detail" in response.json(), f"{label[:300]}: {response.text[:300]}"


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzz_no_5xx_and_json_errors(case: Any, live_backend: dict[str, Any]) -> None:
    # Authenticated as the admin with the master result token, so the fuzzer gets past 401 everywhere.
    # A generated id is replaced by a real one half of the time, so handlers past the 404 are reached too.
    if case.path_parameters:
        for name in list(case.path_parameters):
            if len(repr(case.body)) % 2 == 0:
                kind = "submission" if "submission" in name else "assignment"
                case.path_parameters[name] = live_backend[kind]
    headers = live_backend["headers"] | {"X-Result-Token": MASTER_TOKEN}
    response = case.call(base_url=live_backend["base"], headers=headers)
    assert_no_5xx_and_json_error(response, f"{case.method} {case.formatted_path}")


@pytest.mark.slow
def test_fuzz_stateful_sequences_no_5xx(live_backend: dict[str, Any], tmp_path: Path) -> None:
    """Chains of calls where each one uses ids from earlier answers (create an assignment, submit to it,
    read it, regrade it, post its result ...), so handlers are reached with real, changing state.

    Run through schemathesis' own runner (its stateful phase tolerates a server whose answers change between
    scenarios, which hypothesis' bare state machine reports as a flaky strategy)."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(fuzz_document()))
    command = [
        *SCHEMATHESIS_CLI,
        "run",
        str(document),
        f"--url={live_backend['base']}",
        "--phases=stateful",
        "--checks=not_a_server_error",
        f"--max-examples={STATEFUL_SCENARIOS}",
        f"--max-time={STATEFUL_MAX_SECONDS}",
        "--seed=17",
        "--workers=1",
        "--no-color",
        "--generation-database=none",
        f"--header=Authorization: {live_backend['headers']['Authorization']}",
        f"--header=X-Result-Token: {MASTER_TOKEN}",
    ]
    run = subprocess.run(  # in tmp_path: schemathesis keeps its cache in the working directory
        command, capture_output=True, text=True, timeout=STATEFUL_MAX_SECONDS + 60, check=False, cwd=tmp_path
    )
    report = run.stdout[-6000:]
    assert run.returncode == 0, report
    assert "✅ Stateful" in report, report
    assert "No issues found" in report, report


ANY_NUMBER = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**40, 2**62, 2**63, 2**64, 253402300800, 253402300799, -62135596800, -(2**40)]),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | ANY_NUMBER | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.slow
@settings(max_examples=TOKEN_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    exp=ANY_NUMBER | ANY_JSON,
    iat=st.none() | ANY_NUMBER | ANY_JSON,
    nbf=st.none() | ANY_NUMBER,
    sub=st.sampled_from(["<admin>", "0123456789abcdef01234567", ""]) | ANY_JSON,
    kind=st.sampled_from(["access", "refresh"]) | ANY_JSON,
)
def test_fuzz_signed_token_claims_are_200_or_401(
    live_backend: dict[str, Any], exp: Any, iat: Any, nbf: Any, sub: Any, kind: Any
) -> None:
    claims = {"exp": exp, "sub": live_backend["admin_id"] if sub == "<admin>" else sub, "type": kind}
    claims |= {name: value for name, value in (("iat", iat), ("nbf", nbf)) if value is not None}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    with httpx.Client(base_url=live_backend["base"]) as http:
        response = http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_no_5xx_and_json_error(response, f"claims {claims!r}")
    assert response.status_code in {200, 401}, response.text
