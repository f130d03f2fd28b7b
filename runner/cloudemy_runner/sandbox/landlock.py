"""Landlock rulesets for one sandboxed run: filesystem, TCP and scope (signals, abstract sockets).

The ``landlock`` package on PyPI covers the filesystem rights only; the sandbox also needs the TCP rights
(ABI 4) and the signal and abstract-socket scopes (ABI 6), so the three system calls are called here
directly. Syscall numbers 444-446 are the same on every architecture (the unified syscall table). Every
right is requested only up to the kernel's ABI: older kernels get fewer layers, which :mod:`.support`
reports.
"""

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

# Filesystem access rights and the ABI that introduced each.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
"""What toolchain paths and the program's build directory allow."""
DEVICE = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV
"""What ``/dev/null`` and friends allow (beyond reading, every process may write to ``/dev/null``)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # the kernel's struct landlock_path_beneath_attr is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI (0: Landlock unavailable, disabled at boot, or not built in)."""
    result = _syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(result), 0)


def fs_rights(abi: int) -> int:
    return _FS_BY_ABI.get(abi, _FS_BY_ABI[5]) if abi else 0


@dataclass(frozen=True)
class Ruleset:
    """An open ruleset file descriptor; the child calls :meth:`restrict_self` after no_new_privs."""

    fd: int
    abi: int

    def restrict_self(self) -> None:
        """Apply the ruleset to the calling process (async-signal-safe enough for a preexec function)."""
        if _syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(self.fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")

    def close(self) -> None:
        os.close(self.fd)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def build_ruleset(abi: int, *, read: list[str], write: list[str], devices: list[str]) -> Ruleset:
    """A ruleset allowing ``read`` (read and execute), ``write`` (everything beneath) and ``devices`` (read and
    write of those files), denying every other filesystem access, every TCP bind and connect (ABI >= 4),
    and signals and abstract UNIX sockets outside the sandbox (ABI >= 6). Missing paths are skipped."""
    handled = fs_rights(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled,
        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0,
    )
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = _check(
        _syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    ruleset = Ruleset(fd=int(fd), abi=abi)
    try:
        for paths, rights in ((read, READ), (write, handled), (devices, DEVICE)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def _allow(ruleset: Ruleset, path: str, rights: int) -> None:
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # file-only rights
        rule = _PathBeneath(allowed_access=rights, parent_fd=path_fd)
        _check(
            _syscall(
                ctypes.c_long(SYS_ADD_RULE),
                ctypes.c_int(ruleset.fd),
                ctypes.c_int(RULE_PATH_BENEATH),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            ),
            f"landlock_add_rule {path}",
        )
    finally:
        os.close(path_fd)
