"""Test-only crash points: with CLOUDEMY_CRASH_AT=<point> the process dies like ``kill -9`` when it reaches that
point of the dispatch (after-blmove, after-create, before-lrem), on the CLOUDEMY_CRASH_AFTER-th time (default 1).
Unset in production, where ``crash_point`` does nothing. The fault tests use it to prove nothing is lost."""

import os

POINTS = ("after-blmove", "after-create", "before-lrem")
_armed = os.environ.get("CLOUDEMY_CRASH_AT", "")
_after = int(os.environ.get("CLOUDEMY_CRASH_AFTER", "1") or 1)
_reached = 0


def crash_point(name: str) -> None:
    global _reached
    if name != _armed:
        return
    _reached += 1
    if _reached >= _after:
        os._exit(137)
