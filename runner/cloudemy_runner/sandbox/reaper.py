"""Find and kill every process a program left behind, including those that left its session.

The runner is a child subreaper: when a program's process exits, its living children are reparented to the
runner, not to init. So once the program's first process has exited, everything it started is either in its
process group (killed with ``killpg``) or a new child of the runner (or a descendant of one). Processes are
identified by ancestry, never by UID: a developer's local executor shares its UID with their other programs,
and a scan by UID would kill those.
"""

import os
import signal
from contextlib import suppress

MAX_ROUNDS = 200


def children_of(pid: int) -> set[int]:
    """Direct children of ``pid`` (every thread's), from /proc/<pid>/task/*/children, else a /proc scan."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    readable = False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found.update(int(c) for c in handle.read().split())
            readable = True
        except (OSError, ValueError):
            continue
    return found if readable else _children_by_scan(pid)


def _children_by_scan(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: fields after the last ')' are safe.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def _descendants(roots: set[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children_of(pid) - seen)
    return seen


def kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def reap_leftovers(pgid: int, baseline: set[int]) -> int:
    """Kill the program's process group and every new child of this process (and their descendants),
    round after round until none is left; reap them. ``baseline``: this process's children before the
    program started (never touched). Returns how many leftover processes were killed."""
    me = os.getpid()
    killed: set[int] = set()
    for _ in range(MAX_ROUNDS):
        kill_group(pgid)
        strays = _descendants(children_of(me) - baseline)
        if not strays:
            break
        for pid in strays:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= strays
        for pid in strays:
            with suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)  # only ours are reapable; others become ours when their parent dies
    return len(killed)
