"""What this kernel and process offer the sandbox, probed once, and the runner-wide settings it needs.

Required: no_new_privs and a seccomp filter (without them there is no network barrier: the sandbox
refuses to run, every test gets ``sandbox_error``). Optional, reported as ``degraded`` in the logs and the
result's metrics: Landlock (filesystem, ABI >= 1; TCP, ABI >= 4; signal and abstract-socket scopes, ABI
>= 6) and the child-subreaper (which finds processes that left the test's session).
"""

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from cloudemy_runner.sandbox import landlock

log = logging.getLogger("cloudemy_runner.sandbox")

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
UNPRIVILEGED_UID = 65534
"""When the runner runs as root (a developer's local executor), every program runs as ``nobody``."""

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
prctl = _libc.prctl
prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
prctl.restype = ctypes.c_int


@dataclass(frozen=True)
class SandboxSupport:
    landlock_abi: int
    seccomp_load: Callable[[], None] | None
    seccomp_error: str
    subreaper: bool
    run_as_uid: int | None
    degraded: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        return self.seccomp_load is not None

    def metrics(self) -> dict[str, str | int | bool]:
        return {
            "sandbox_landlock_abi": self.landlock_abi,
            "sandbox_seccomp": self.seccomp_load is not None,
            "sandbox_degraded": ",".join(self.degraded),
        }


def _degraded(abi: int, seccomp_ok: bool, subreaper: bool) -> tuple[str, ...]:
    out: list[str] = []
    if not seccomp_ok:
        out.append("seccomp-unavailable")
    if abi == 0:
        out.append("landlock-unavailable")
    elif abi < 4:
        out.append("landlock-no-tcp-rules")
    if 0 < abi < 6:
        out.append("landlock-no-signal-scope")
    if not subreaper:
        out.append("no-subreaper")
    return tuple(out)


@cache
def prepare(*, launcher: bool = False) -> SandboxSupport:
    """Make this process safe to run programs from, and probe the kernel; done once per process.

    The process becomes non-dumpable (so its ``/proc/<pid>/environ``, ``mem`` and ``fd`` are unreadable by a
    program with the same UID) and a child subreaper (so a program that double-forks or calls setsid is
    reparented here, where the sandbox finds and kills it). The seccomp filter protects this process and,
    in the ``launcher``, its parent (the runner) from the programs' signals.
    """
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    protected = (os.getpid(), os.getppid()) if launcher else (os.getpid(),)
    abi = landlock.abi_version()
    seccomp_load: Callable[[], None] | None = None
    seccomp_error = ""
    try:
        from cloudemy_runner.sandbox.seccomp import build_filter

        seccomp_load = build_filter(protected)
    except Exception as exc:  # libseccomp missing or refusing: report, never crash the runner
        seccomp_error = f"{type(exc).__name__}: {exc}"
    support = SandboxSupport(
        landlock_abi=abi,
        seccomp_load=seccomp_load,
        seccomp_error=seccomp_error,
        subreaper=subreaper,
        run_as_uid=UNPRIVILEGED_UID if os.geteuid() == 0 else None,
        degraded=_degraded(abi, seccomp_load is not None, subreaper),
    )
    if launcher:
        return support  # the runner probed the same kernel and logged it
    if support.degraded:
        log.warning(
            "sandbox degraded layers=%s landlock_abi=%d seccomp_error=%s",
            ",".join(support.degraded),
            abi,
            seccomp_error or "-",
        )
    else:
        log.info("sandbox ready landlock_abi=%d seccomp=yes subreaper=yes", abi)
    return support
