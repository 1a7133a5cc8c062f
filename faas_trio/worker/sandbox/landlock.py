"""Landlock for a runner: read and execute the system directories and the paths it is given,
read and write only its scratch directory, and (ABI 6 on) signal and reach abstract Unix
sockets only inside its own sandbox.

Used by :mod:`.confine` in the zygote's children: imports only what the zygote has loaded. The
ruleset is made while the runner is still root (it opens paths its uid may not), and applied
after the uid change (Landlock needs ``no_new_privs``).
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["abi", "restrict_self", "ruleset"]

# x86_64 and aarch64 share these syscall numbers (they were added after the tables unified).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

# Landlock filesystem rights, and the ABI version that introduced the last ones.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)
_READ_ONLY = _EXECUTE | _READ_FILE | _READ_DIR
#: Read-only for the interpreters (merged-/usr systems make /bin, /lib… links into /usr).
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
#: Devices a runner may open read-write.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is off or missing."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def ruleset(version: int, home: str, readable: tuple[str, ...]) -> int:
    """A Landlock ruleset fd: read-only system dirs and ``readable``, read-write ``home``."""
    fs_rights = max(rights for level, rights in _FS_RIGHTS_BY_ABI.items() if level <= version)
    attr = _RulesetAttr(fs_rights, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else 16  # older ABIs know only two fields
    ruleset_fd = _check(
        _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0), "landlock"
    )
    grants = [(path, _READ_ONLY) for path in (*_SYSTEM_DIRS, *readable)]
    grants += [(path, _READ_FILE | _WRITE_FILE | (1 << 15)) for path in _DEVICES]
    grants.append((home, fs_rights))
    for path, rights in grants:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # not on this system
        try:
            if not os.path.isdir(path):
                rights &= _FILE_RIGHTS
            rule = _PathBeneathAttr(rights & fs_rights, fd)
            _check(
                _libc.syscall(
                    _SYS_LANDLOCK_ADD_RULE,
                    ruleset_fd,
                    _LANDLOCK_RULE_PATH_BENEATH,
                    ctypes.byref(rule),
                    0,
                ),
                f"landlock rule for {path}",
            )
        finally:
            os.close(fd)
    return ruleset_fd


def restrict_self(ruleset_fd: int) -> None:
    """Hold this process to ``ruleset_fd`` (then closed); needs ``no_new_privs``."""
    _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0), "landlock_restrict_self")
    os.close(ruleset_fd)
