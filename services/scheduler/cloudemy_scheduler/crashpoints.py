"""Test-only crash points: with CLOUDEMY_CRASH_AT=<point> the process dies like ``kill -9`` when it reaches that
point of the dispatch (after-blmove, after-create, before-lrem), on the CLOUDEMY_CRASH_AFTER-th time (default 1).
Unset in production, where ``crash_point`` does nothing. The fault tests use it to prove nothing is lost."""

import os

POINTS = ("after-blmove", "after-create", "before-lrem")
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL
_reached = 0


def crash_point(name: str) -> None:
    global _reached
    if os.environ.get("CLOUDEMY_CRASH_AT") != name:
        return
    _reached += 1
    if _reached >= int(os.environ.get("CLOUDEMY_CRASH_AFTER") or 1):
        os._exit(EXIT_CODE)
