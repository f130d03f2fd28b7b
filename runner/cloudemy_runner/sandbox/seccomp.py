"""The seccomp filter every sandboxed process runs under (built once in the runner, loaded in each child).

Default allow, with a deny list: the program may compute, read and write files Landlock lets it reach,
fork (within RLIMIT_NPROC), use pipes and AF_UNIX sockets. It may not open any other socket family (no
TCP/UDP, no DNS, no netlink), not use io_uring (which would bypass these checks), not inspect or signal
the runner (ptrace, process_vm_readv/writev, kill/tgkill/pidfd of the runner's or the launcher's pid, any negative pid
i.e. another process group, kill(-1)), not create namespaces, and not reach kernel facilities a grader
never needs (bpf, perf, keys, mounts, modules, userfaultfd). Denied calls fail with EPERM (ENOSYS for
clone3, so the C library falls back to clone, whose flags the filter can check).
"""

import contextlib
import ctypes
import ctypes.util
import errno
import socket
import tempfile
from collections.abc import Callable
from typing import Any

DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "pidfd_send_signal",
    "tkill",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "quotactl",
    "lookup_dcookie",
    "name_to_handle_at",
    "open_by_handle_at",
    "iopl",
    "ioperm",
)
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME."""
_PID_MASK = 0xFFFFFFFF
_NEGATIVE = 0x80000000


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
BPF_INSTRUCTION_BYTES = 8


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def build_filter(protected_pids: tuple[int, ...]) -> Callable[[], None]:
    """The filter as a ``load()`` callable for the child; raises ImportError/OSError when libseccomp is missing.

    libseccomp compiles the rules to BPF once, here; the child only hands that program to the kernel (one
    prctl), which keeps a run's start-up cost to a system call instead of a compilation per test.
    """
    program = _compile(protected_pids)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len=len(program) // BPF_INSTRUCTION_BYTES, filter=ctypes.addressof(buffer))
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    memory = (buffer, fprog)  # the program lives as long as the callable that loads it

    def load() -> None:  # in the child, after no_new_privs
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(memory[1]), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "seccomp filter refused")

    return load


def _compile(protected_pids: tuple[int, ...]) -> bytes:
    import pyseccomp as sc

    deny = sc.ERRNO(errno.EPERM)
    flt: Any = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED_SYSCALLS:
        _add(flt, deny, name)
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    for pid in protected_pids:
        for name in ("kill", "rt_sigqueueinfo", "tgkill", "rt_tgsigqueueinfo", "pidfd_open"):
            flt.add_rule(deny, name, sc.Arg(0, sc.MASKED_EQ, _PID_MASK, pid))
    for name in ("kill", "rt_sigqueueinfo"):
        flt.add_rule(deny, name, sc.Arg(0, sc.MASKED_EQ, _NEGATIVE, _NEGATIVE))
    with tempfile.TemporaryFile() as handle:
        flt.export_bpf(handle)
        handle.seek(0)
        program = handle.read()
    if not program or len(program) % BPF_INSTRUCTION_BYTES:
        raise OSError("libseccomp exported no BPF program")
    return program


def _add(flt: Any, action: int, name: str) -> None:
    with contextlib.suppress(OSError, RuntimeError, ValueError):  # a syscall this architecture does not have
        flt.add_rule(action, name)
