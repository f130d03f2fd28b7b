"""A stand-in for ``python -m cloudemy_runner`` in the local-executor tests (RUNNER_COMMAND points here).

Modes: ``record DIR`` writes its env to DIR/<SUBMISSION_ID>.json and exits 0; ``hang`` sleeps far past any
deadline; ``fail`` exits 3; ``busy DIR`` records start and end times around a short sleep (for the cap test).
"""

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    mode = sys.argv[1]
    submission = os.environ.get("SUBMISSION_ID", "unknown")
    if mode == "record":
        partial = Path(sys.argv[2], f"{submission}.json.partial")
        partial.write_text(json.dumps(dict(os.environ)))
        partial.rename(partial.with_suffix(""))  # the test sees the whole file or none
        return 0
    if mode == "hang":
        Path(sys.argv[2], f"{submission}.pid").write_text(str(os.getpid()))
        time.sleep(600)
        return 0
    if mode == "fail":
        with Path(sys.argv[2], f"{submission}.runs").open("a") as runs:
            runs.write("run\n")
        return 3
    if mode == "busy":
        started = time.time()
        time.sleep(0.3)
        Path(sys.argv[2], f"{submission}.span").write_text(json.dumps([started, time.time()]))
        return 0
    return 64


if __name__ == "__main__":
    sys.exit(main())
