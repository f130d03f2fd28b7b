"""Scheduler processes that die like ``kill -9`` at a chosen step of the dispatch, for the fault tests.

``crash_at(point, after)`` wraps one step of the scheduler's classes so that the process calls ``os._exit(137)``
(no clean-up, no sign-off: what SIGKILL leaves) the ``after``-th time it reaches ``point``:
- ``after-blmove``: a message has just been moved to ``:processing`` (``WorkQueue.take`` returned it);
- ``after-create``: the Job create call has just succeeded or answered 409 (``KubernetesExecutor.create``);
- ``before-lrem``: the Job exists and the message is about to leave ``:processing`` (``WorkQueue.finish``).

``CrashingSchedulers`` starts such processes by forking them from this module run as a script (a process that
has already imported the scheduler and the kubernetes client, and runs no threads, so forking it is safe): each
of the test's many crashes costs a fork, not a second of imports. One JSON line each way on its stdin/stdout:
``{"env": {...}, "log": "<path>", "point": "...", "after": n}`` in, ``{"exit": <code>}`` out.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudemy_scheduler.app
from cloudemy_scheduler.executors.k8s import KubernetesExecutor
from cloudemy_scheduler.work_queue import WorkQueue

POINTS = ("after-blmove", "after-create", "before-lrem")
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL


def crash_at(point: str, after: int) -> None:
    """From now on, this process dies at the ``after``-th time it reaches ``point``."""
    reached = 0

    def reach() -> None:
        nonlocal reached
        reached += 1
        if reached >= after:
            os._exit(EXIT_CODE)

    def wrap(cls: type, method: str, before: bool, when: Callable[[Any], bool] = lambda result: True) -> None:
        original = getattr(cls, method)

        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            if before:
                reach()
            result = original(self, *args, **kwargs)
            if not before and when(result):
                reach()
            return result

        setattr(cls, method, wrapper)

    if point == "after-blmove":
        wrap(WorkQueue, "take", before=False, when=lambda raw: raw is not None)
    elif point == "after-create":
        wrap(KubernetesExecutor, "create", before=False)
    elif point == "before-lrem":
        wrap(WorkQueue, "finish", before=True)
    else:
        raise ValueError(f"unknown crash point {point!r}; one of {POINTS}")


def run_child(env: dict[str, str], log_path: str, point: str, after: int) -> None:
    """In a forked child: exactly ``env`` as its environment, output to ``log_path``, then the scheduler."""
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    crash_at(point, after)
    try:
        cloudemy_scheduler.app.main()
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    os._exit(0)


def serve() -> None:
    """The fork server: one child per request line, answered with its exit code once it has ended."""
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request["env"], request["log"], request["point"], request["after"])
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


class CrashingSchedulers:
    """Schedulers that crash at a point, run one at a time from the fork server (a context manager)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.server = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       env=env, text=True)  # fmt: skip

    def run(self, env: dict[str, str], log_path: Path, point: str, after: int) -> int:
        """Run one scheduler with exactly ``env`` until it exits; its exit code (137 when it crashed there)."""
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        request = {"env": env, "log": str(log_path), "point": point, "after": after}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        return int(json.loads(self.server.stdout.readline())["exit"])

    def __enter__(self) -> "CrashingSchedulers":
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=10)


if __name__ == "__main__":
    serve()
