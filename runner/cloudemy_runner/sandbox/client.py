"""The runner's side of the launcher (see :mod:`.launcher`): one program at a time, same call as in-process."""

import base64
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
from contextlib import suppress
from dataclasses import asdict

from cloudemy_runner.sandbox.process import Breach, RunRequest, RunResult, spawn_failure

log = logging.getLogger("cloudemy_runner.sandbox")

ANSWER_GRACE_SECONDS = 10.0
"""How long past a program's wall limit the runner waits for the launcher's answer before killing it."""


class Launcher:
    """A launcher process started on first use and restarted after it failed."""

    def __init__(self, read_paths: list[str], device_paths: list[str], env_path: str, lang: str) -> None:
        self.common = {"read_paths": read_paths, "device_paths": device_paths, "env_path": env_path, "lang": lang}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloudemy_runner.sandbox.launcher"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        return self.proc

    def run(self, request: RunRequest) -> RunResult:
        """Run ``request`` in the launcher; any failure of the launcher itself is a ``spawn_failure``."""
        message = {**self.common, **asdict(request), "stdin": base64.b64encode(request.stdin).decode()}
        limits = request.limits
        try:
            proc = self._start()
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                if not selector.select(timeout=limits.wall_seconds + ANSWER_GRACE_SECONDS):
                    raise TimeoutError("the launcher did not answer in time")
            line = proc.stdout.readline()
            if not line:
                raise EOFError("the launcher exited")
            return decode_result(json.loads(line))
        except (OSError, EOFError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.error("sandbox launcher failed error=%s", type(exc).__name__)
            self.stop()
            return spawn_failure(f"launcher: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        if self.proc is not None:
            with suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None


def decode_result(data: dict[str, object]) -> RunResult:
    data = dict(data)
    data["stdout"] = base64.b64decode(str(data["stdout"]))
    data["stderr"] = base64.b64decode(str(data["stderr"]))
    data["breach"] = Breach(data["breach"]) if data["breach"] else None
    return RunResult(**data)  # type: ignore[arg-type]
