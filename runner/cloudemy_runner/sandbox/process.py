"""Run one program in the sandbox: limits, isolation, capped output, and nothing left behind.

Each run: a fresh working directory the program alone may write; a new session and process group; an
environment of PATH, HOME and LANG only; stdin from an anonymous memory file (no path another test could
open); rlimits (CPU, address space or data, processes, file size, open files, no core dumps); no_new_privs,
then Landlock, then the seccomp filter, in the child just before ``exec``. The runner reads stdout and stderr
while the program runs and stops it the moment one exceeds its cap, its wall time runs out, or its working
directory outgrows the disk cap; at the end the whole process group and every process that escaped it is
killed, and the working directory removed.
"""

import contextlib
import dataclasses
import math
import os
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cloudemy_runner.sandbox import landlock
from cloudemy_runner.sandbox.reaper import children_of, kill_group, reap_leftovers
from cloudemy_runner.sandbox.support import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, SandboxSupport, prctl

READ_CHUNK = 65_536
DISK_CHECK_SECONDS = 0.2
MAX_DIR_ENTRIES = 10_000


class Breach(StrEnum):
    """Why the runner stopped a program."""

    WALL_TIME = "wall_time"
    OUTPUT = "output"
    DISK = "disk"


@dataclass(frozen=True)
class RunLimits:
    cpu_seconds: float
    wall_seconds: float
    memory_mb: int
    memory_rlimit: Literal["as", "data"]
    output_bytes: int
    disk_bytes: int
    processes: int
    open_files: int


@dataclass(frozen=True)
class RunRequest:
    """One program to run: its command, working directory, input, limits and what else it may read."""

    argv: list[str]
    cwd: str
    stdin: bytes
    limits: RunLimits
    memory_overhead_mb: int = 0
    extra_read: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    signal: str | None
    stdout: bytes
    stderr: bytes
    wall_ms: int
    cpu_seconds: float
    max_rss_kb: int
    breach: Breach | None
    leftovers: int
    spawn_error: str = ""

    @property
    def file_size_exceeded(self) -> bool:
        return self.signal == "SIGXFSZ"


@dataclass(frozen=True)
class SandboxPaths:
    """Where programs live: ``root`` holds one build directory and one working directory per run."""

    root: Path

    @classmethod
    def create(cls, parent: str | None = None, *, other_uid: bool = False) -> "SandboxPaths":
        """A new root under ``parent``; with ``other_uid`` (programs run as another user) every directory
        above it must let others pass, else programs could not reach their files: OSError."""
        root = Path(tempfile.mkdtemp(prefix="cloudemy-sandbox-", dir=parent))
        root.chmod(0o711)  # programs may pass through, never list it
        blocked = [str(p) for p in root.parents if other_uid and not os.stat(p).st_mode & stat.S_IXOTH]
        if blocked:
            remove_tree(root)
            raise PermissionError(f"programs run as another user cannot pass through {blocked[0]}")
        return cls(root)

    def remove(self) -> None:
        remove_tree(self.root)


def remove_tree(path: Path) -> None:
    """Remove ``path`` even where a program left directories without write or search permission."""
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IRWXU)
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), stat.S_IRWXU, follow_symlinks=False)
    shutil.rmtree(path, ignore_errors=True)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _rlimits(limits: RunLimits, overhead_mb: int) -> list[tuple[int, tuple[int, int]]]:
    mib = 1024 * 1024
    cpu = math.ceil(limits.cpu_seconds) + 1
    memory = (limits.memory_mb + overhead_mb) * mib
    memory_resource = resource.RLIMIT_AS if limits.memory_rlimit == "as" else resource.RLIMIT_DATA
    return [
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (memory_resource, (memory, memory)),
        (resource.RLIMIT_FSIZE, (limits.disk_bytes, limits.disk_bytes)),
        (resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files)),
        (resource.RLIMIT_NPROC, (limits.processes, limits.processes)),
        (resource.RLIMIT_MEMLOCK, (0, 0)),
        (resource.RLIMIT_MSGQUEUE, (0, 0)),
    ]


def _preexec(
    rlimits: list[tuple[int, tuple[int, int]]], ruleset: landlock.Ruleset | None, seccomp_load: Callable[[], None]
) -> Callable[[], None]:
    setrlimit = resource.setrlimit

    def child() -> None:  # runs in the forked child, after setsid (and setuid), before exec
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the launcher
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError("no_new_privs refused")
        if ruleset is not None:
            ruleset.restrict_self()
        seccomp_load()
        for which, value in rlimits:  # last: a low RLIMIT_AS would starve libseccomp's allocations
            setrlimit(which, value)

    return child


def directory_usage(path: Path) -> tuple[int, int]:
    """(bytes, entries) beneath ``path``, a file counting as its allocated or its apparent size, whichever
    is larger; stops counting at MAX_DIR_ENTRIES + 1 entries."""
    total = entries = 0
    stack = [str(path)]
    while stack and entries <= MAX_DIR_ENTRIES:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(info.st_blocks * 512, info.st_size)
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue
    return total, entries


class ProgramRunner:
    """Runs programs one at a time from this process (the launcher), and prepares their directories."""

    def __init__(self, support: SandboxSupport, read_paths: list[str], device_paths: list[str], env_path: str,
                 lang: str) -> None:  # fmt: skip
        self.support = support
        self.read_paths = read_paths
        self.device_paths = device_paths
        self.env_path = env_path
        self.lang = lang

    def prepare_dir(self, path: Path, *, writable_by_program: bool) -> None:
        path.mkdir(mode=0o755 if not writable_by_program else 0o700)
        if self.support.run_as_uid is not None and writable_by_program:
            os.chown(path, self.support.run_as_uid, self.support.run_as_uid)

    def seal(self, path: Path) -> None:
        """Make a directory the program wrote (the build) read-only to every later program."""
        if self.support.run_as_uid is None:
            return  # same UID: Landlock is what keeps later runs from writing it
        for dirpath, dirnames, filenames in os.walk(path):
            for name in [*dirnames, *filenames, ""]:
                target = os.path.join(dirpath, name) if name else dirpath
                with contextlib.suppress(OSError):
                    os.lchown(target, os.getuid(), os.getgid())
                    if not os.path.islink(target):
                        mode = os.stat(target).st_mode
                        os.chmod(target, 0o755 if stat.S_ISDIR(mode) else (mode & 0o755) | 0o444)

    def run(self, request: RunRequest) -> RunResult:
        if self.support.seccomp_load is None:
            return spawn_failure(f"seccomp unavailable ({self.support.seccomp_error})")
        cwd, limits = Path(request.cwd), request.limits
        env = {"PATH": self.env_path, "HOME": str(cwd), "LANG": self.lang, **request.extra_env}
        ruleset = None
        if self.support.landlock_abi:
            ruleset = landlock.build_ruleset(
                self.support.landlock_abi,
                read=[*self.read_paths, *request.extra_read],
                write=[str(cwd)],
                devices=self.device_paths,
            )
        stdin_fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
        try:
            _write_all(stdin_fd, request.stdin)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
            rlimits = _rlimits(limits, request.memory_overhead_mb)
            preexec = _preexec(rlimits, ruleset, self.support.seccomp_load)
            result = self._supervise(request.argv, cwd, env, stdin_fd, limits, preexec)
            if result.breach is None and not result.spawn_error and _over_disk(cwd, limits):
                result = dataclasses.replace(result, breach=Breach.DISK)  # a file hit RLIMIT_FSIZE (EFBIG)
            return result
        finally:
            os.close(stdin_fd)
            if ruleset is not None:
                ruleset.close()

    def _supervise(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        stdin_fd: int,
        limits: RunLimits,
        preexec: Callable[[], None],
    ) -> RunResult:
        uid = self.support.run_as_uid
        baseline = children_of(os.getpid())
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                close_fds=True,
                start_new_session=True,
                preexec_fn=preexec,
                user=uid,
                group=uid,
                extra_groups=[] if uid is not None else None,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return spawn_failure(f"{type(exc).__name__}: {exc}")
        assert proc.stdout is not None
        assert proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        outputs: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
        breach = self._watch(proc, outputs, cwd, limits, started)
        kill_group(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall_ms = int((time.monotonic() - started) * 1000)
        leftovers = reap_leftovers(proc.pid, baseline)
        for stream in (proc.stdout, proc.stderr):
            _drain(stream.fileno(), outputs[stream.fileno()], limits.output_bytes)
        proc.stdout.close()
        proc.stderr.close()
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
        code = proc.returncode
        return RunResult(
            exit_code=code if code >= 0 else None,
            signal=_signal_name(-code) if code < 0 else None,
            stdout=bytes(outputs[out_fd]),
            stderr=bytes(outputs[err_fd]),
            wall_ms=wall_ms,
            cpu_seconds=cpu,
            max_rss_kb=int(usage.ru_maxrss),
            breach=breach,
            leftovers=leftovers,
        )

    def _watch(
        self,
        proc: subprocess.Popen[bytes],
        outputs: dict[int, bytearray],
        cwd: Path,
        limits: RunLimits,
        started: float,
    ) -> Breach | None:
        """Read output until the program's first process exits or a limit is breached."""
        deadline = started + limits.wall_seconds
        pidfd = os.pidfd_open(proc.pid)
        selector = selectors.DefaultSelector()
        try:
            selector.register(pidfd, selectors.EVENT_READ)
            for fd in outputs:
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
            next_disk_check = started + DISK_CHECK_SECONDS
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return Breach.WALL_TIME
                events = selector.select(timeout=min(deadline, next_disk_check) - now)
                for key, _ in events:
                    if key.fd == pidfd:
                        return None
                    if not _read_available(key.fd, outputs[key.fd], limits.output_bytes):
                        selector.unregister(key.fd)
                    if len(outputs[key.fd]) > limits.output_bytes:
                        return Breach.OUTPUT
                if time.monotonic() >= next_disk_check:
                    if _over_disk(cwd, limits):
                        return Breach.DISK
                    next_disk_check = time.monotonic() + DISK_CHECK_SECONDS
        finally:
            selector.close()
            os.close(pidfd)


def _over_disk(cwd: Path, limits: RunLimits) -> bool:
    used, entries = directory_usage(cwd)
    return used >= limits.disk_bytes or entries > MAX_DIR_ENTRIES


def _read_available(fd: int, buffer: bytearray, cap: int) -> bool:
    """Append what ``fd`` has (keeping at most ``cap + 1`` bytes); False at end of file."""
    try:
        chunk = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return True
    if not chunk:
        return False
    room = cap + 1 - len(buffer)
    if room > 0:
        buffer += chunk[:room]
    else:
        buffer += b"" if len(buffer) > cap else chunk[:1]
    return True


def _drain(fd: int, buffer: bytearray, cap: int) -> None:
    """Read what is left in a pipe whose writers are all dead (bounded by the pipe's size)."""
    with contextlib.suppress(OSError):
        os.set_blocking(fd, False)
        for _ in range(64):
            before = len(buffer)
            if not _read_available(fd, buffer, cap) or len(buffer) == before:
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def spawn_failure(reason: str) -> RunResult:
    """The result of a run the sandbox could not start (the platform's failure, never the program's)."""
    return RunResult(
        exit_code=None,
        signal=None,
        stdout=b"",
        stderr=b"",
        wall_ms=0,
        cpu_seconds=0.0,
        max_rss_kb=0,
        breach=None,
        leftovers=0,
        spawn_error=reason,
    )
