"""Forks scheduler processes from one process that has already imported the scheduler (and the kubernetes client),
so the kill -9 loop does not pay ~1 s of imports for each of its 50+ crashes.

Protocol on stdin/stdout, one JSON line each way: the test sends ``{"env": {...}, "log": "<path>"}``; the zygote
forks a child that becomes ``python -m cloudemy_scheduler`` with exactly that environment, waits for it, and
answers ``{"exit": <code>}``. The zygote itself runs no threads, so forking it is safe.
"""

import json
import os
import sys

import cloudemy_scheduler.app
import cloudemy_scheduler.executors.k8s


def run_child(env: dict[str, str], log_path: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        cloudemy_scheduler.app.main()
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    os._exit(0)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request["env"], request["log"])
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
