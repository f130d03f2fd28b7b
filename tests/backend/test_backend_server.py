"""The real entry points: ``python -m cloudemy_backend`` and the image's gunicorn command, on 127.0.0.1."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from images import command
from waiting import answering, wait_for

from fakes.ports import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def server_env(redis_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
    env.update(
        MONGO_URI="memory://",
        REDIS_URL=redis_url,
        JWT_SECRET="server-test-jwt-secret-0123456789abcdef",
        INTERNAL_RESULT_TOKEN="server-test-master-token-0123456789",
        CLOUDEMY_ADMIN_EMAIL="root@example.com",
        CLOUDEMY_ADMIN_PASSWORD="root-password-1",
        HOST="127.0.0.1",
        PORT=str(port),
        **extra,
    )
    return env


def wait_until_serving(proc: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> httpx.Response:
    return wait_for(answering(url), timeout, 0.1, what=url, alive=lambda: proc.poll() is None)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_python_m_serves_on_port_with_the_memory_store(redis_url: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudemy_backend"],
        env=server_env(redis_url, port),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until_serving(proc, f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        token = httpx.post(
            f"{base}/api/auth/token", data={"username": "root@example.com", "password": "root-password-1"}
        )
        assert token.status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        code = stop(proc)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught.
    assert code in (0, -signal.SIGTERM)
    assert '"msg": "backend stopped"' in stderr
    assert "ephemeral in-process store" in stderr
    assert "root-password-1" not in stderr


def test_missing_jwt_secret_stops_start_up_with_one_line(redis_url: str) -> None:
    env = server_env(redis_url, free_port())
    del env["JWT_SECRET"]
    done = subprocess.run(
        [sys.executable, "-m", "cloudemy_backend"], env=env, cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert lines == ["cloudemy-backend: configuration error: JWT_SECRET is required but not set"]


def worker_count(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return len(children)


@pytest.mark.slow
def test_image_command_gunicorn_serves_the_app(redis_url: str) -> None:
    """The backend image's CMD from the Dockerfile, with the memory store, bound to 127.0.0.1 here: it serves
    the app with WEB_CONCURRENCY workers, and stops cleanly on SIGTERM."""
    port = free_port()
    argv = command("backend")
    assert argv[:2] == ["sh", "-c"]
    argv[2] = argv[2].replace("0.0.0.0:", "127.0.0.1:")
    env = server_env(redis_url, port, WEB_CONCURRENCY="2")
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until_serving(proc, f"http://127.0.0.1:{port}/healthz").status_code == 200
        wait_for(lambda: worker_count(proc.pid) >= 2, 30, what="two gunicorn workers")
        assert worker_count(proc.pid) == 2, "one gunicorn worker per WEB_CONCURRENCY"
    finally:
        assert stop(proc) == 0  # gunicorn's arbiter exits 0 after its workers stopped
