"""The launcher: a small process the runner starts once, which starts, watches and cleans up every program.

Why a separate process: a program's restrictions (rlimits, no_new_privs, Landlock, seccomp) must be applied
between ``fork`` and ``exec``, which needs a fork of a Python process. Forking the runner itself (tens of
megabytes: pydantic, the OpenAI client, the payload) costs 10-30 ms per test in page-table copies and
copy-on-write faults; forking this process, which imports only the standard library and the sandbox
package, costs about a millisecond. The launcher is also where programs are reparented (it is the child
subreaper), so the runner never sees them.

It holds no secret: its environment is PATH, LANG and PYTHONPATH only, it is non-dumpable, and the seccomp
filter forbids programs to signal it or the runner. Its OOM score is the highest, and its programs inherit
it, so when a program exhausts the Pod's memory the kernel kills the program, not the runner. It dies with
the runner (PR_SET_PDEATHSIG), and so do the programs it started. One request per line on stdin, one answer
per line on stdout (JSON; bytes as base64); requests come from the runner alone.
"""

import base64
import dataclasses
import json
import os
import signal
import sys
from contextlib import suppress
from typing import Any

from cloudemy_runner.sandbox.process import ProgramRunner, RunLimits, RunRequest, RunResult, spawn_failure
from cloudemy_runner.sandbox.support import PR_SET_PDEATHSIG, prctl, prepare


def encode_result(result: RunResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["stdout"] = base64.b64encode(result.stdout).decode()
    data["stderr"] = base64.b64encode(result.stderr).decode()
    data["breach"] = result.breach.value if result.breach else None
    return data


def decode_request(message: dict[str, Any]) -> RunRequest:
    return RunRequest(
        argv=list(message["argv"]),
        cwd=str(message["cwd"]),
        stdin=base64.b64decode(message["stdin"]),
        limits=RunLimits(**message["limits"]),
        memory_overhead_mb=int(message["memory_overhead_mb"]),
        extra_read=tuple(message["extra_read"]),
        extra_env=dict(message["extra_env"]),
    )


def serve() -> int:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the runner died before the line above
        return 1
    # The Pod's OOM killer takes the launcher or (inherited across fork and exec) a program, never the runner.
    # Raising one's own score needs no privilege; it must happen before prepare() makes /proc/self root's.
    with suppress(OSError), open("/proc/self/oom_score_adj", "w") as score:
        score.write("1000")
    support = prepare(launcher=True)
    for line in sys.stdin.buffer:
        request = json.loads(line)
        runner = ProgramRunner(
            support, request["read_paths"], request["device_paths"], request["env_path"], request["lang"]
        )
        try:
            result = runner.run(decode_request(request))
        except Exception as exc:  # never die on one request: answer it as the sandbox's failure
            result = spawn_failure(f"launcher: {type(exc).__name__}: {exc}")
        sys.stdout.write(json.dumps(encode_result(result)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
