"""The seccomp filter every runner is held to: the system calls no function needs, refused.

Used by :mod:`.confine` (in the zygote's children, so it imports only ``ctypes``, ``os``,
``platform`` and ``struct``, all loaded in the zygote already). Hand-built classic BPF rather than
libseccomp: the whole filter is a list of refused call numbers, smaller than a binding, and
needs no shared library in the sandbox.

Refused with ``EPERM`` (a function sees ``PermissionError``):

- reaching other processes: ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``;
- kernel keyrings (bound to a uid, so they would outlive the sandbox): ``keyctl``, ``add_key``,
  ``request_key``;
- kernel attack surface no function needs: ``bpf``, ``perf_event_open``, ``userfaultfd``;
- mounts and roots: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount API
  (``open_tree``, ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``,
  ``mount_setattr``);
- namespaces: ``unshare``, ``setns``, and ``clone`` with any ``CLONE_NEW*`` flag;
- the machine: ``kexec_load``, ``kexec_file_load``, ``init_module``, ``finit_module``,
  ``delete_module``, ``reboot``, ``swapon``, ``swapoff``, ``acct``, ``syslog``, clock and
  time setting, ``quotactl``, ``vhangup``, ``iopl``/``ioperm``, ``open_by_handle_at``,
  ``fanotify_init``, ``lookup_dcookie``;
- ``personality`` (it can turn off address-space randomisation);
- ``prctl(PR_SET_PDEATHSIG)``: the runner sets it before the filter, and clearing it is how a
  runner would outlive its keeper.

Refused with ``ENOSYS``, so that libraries fall back as on an older kernel: ``io_uring_*``
(libuv then uses its thread pool) and ``clone3`` (its flags are in memory a filter cannot
read; glibc then uses ``clone``, whose flags are checked).

Calls of another architecture (32-bit ``int 0x80`` on x86_64) kill the process, and x32 calls
are refused. Node and Python get the same list: V8 and libuv use none of these calls but the
two that fall back (both runtimes' hostile batteries run under it).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

__all__ = ["FILTER", "KEYCTL", "install"]

_EPERM, _ENOSYS = 1, 38
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_LD_W_ABS = 0x20
_JEQ_K, _JGE_K, _JSET_K = 0x15, 0x35, 0x45
_RET_K = 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little-endian low word)
_X32_BIT = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
#: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
_CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
_CLONE_NEW_ANY |= 0x40000000 | 0x00000080

# Refused calls per architecture: (audit arch, {name: number}, clone, clone3, prctl).
_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "keyctl": 250, "add_key": 248, "request_key": 249,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "unshare": 272, "setns": 308,
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "syslog": 103, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305,
    "adjtimex": 159, "quotactl": 179, "vhangup": 153, "iopl": 172, "ioperm": 173,
    "open_by_handle_at": 304, "fanotify_init": 300, "lookup_dcookie": 212,
    "personality": 135,
}  # fmt: skip
_AARCH64 = {
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
    "keyctl": 219, "add_key": 217, "request_key": 218,
    "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
    "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "unshare": 97, "setns": 268,
    "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
    "syslog": 116, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266,
    "adjtimex": 171, "quotactl": 60, "vhangup": 58, "open_by_handle_at": 265,
    "fanotify_init": 262, "lookup_dcookie": 18, "personality": 92,
}  # fmt: skip
_IO_URING = (425, 426, 427)  # the same on both
_ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 56, 435, 157),
    "aarch64": (0xC00000B7, _AARCH64, 220, 435, 167),
}


def _stmt(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _build(machine: str) -> bytes | None:
    """The filter program for ``machine``, or None for an architecture it does not know."""
    if machine not in _ARCHES:
        return None
    audit_arch, refused, clone, clone3, prctl = _ARCHES[machine]
    program = [
        _stmt(_LD_W_ABS, _ARCH),
        _stmt(_JEQ_K, audit_arch, jt=1),
        _stmt(_RET_K, _RET_KILL_PROCESS),
        _stmt(_LD_W_ABS, _NR),
    ]
    if machine == "x86_64":
        program += [_stmt(_JGE_K, _X32_BIT, jf=1), _stmt(_RET_K, _RET_ERRNO | _EPERM)]
    answers = [(nr, _EPERM) for nr in refused.values()]
    answers += [(nr, _ENOSYS) for nr in (*_IO_URING, clone3)]
    for nr, errno in answers:
        program += [_stmt(_JEQ_K, nr, jf=1), _stmt(_RET_K, _RET_ERRNO | errno)]
    # clone: refused with a CLONE_NEW* flag (its first argument); prctl: PR_SET_PDEATHSIG.
    program += [
        _stmt(_JEQ_K, clone, jf=4),
        _stmt(_LD_W_ABS, _ARG0),
        _stmt(_JSET_K, _CLONE_NEW_ANY, jf=1),
        _stmt(_RET_K, _RET_ERRNO | _EPERM),
        _stmt(_RET_K, _RET_ALLOW),
        _stmt(_JEQ_K, prctl, jf=3),
        _stmt(_LD_W_ABS, _ARG0),
        _stmt(_JEQ_K, _PR_SET_PDEATHSIG, jf=1),
        _stmt(_RET_K, _RET_ERRNO | _EPERM),
        _stmt(_RET_K, _RET_ALLOW),
    ]
    return b"".join(program)


#: ``keyctl``'s number on this machine (the runner uses it before the filter), or None.
KEYCTL = _ARCHES[platform.machine()][1]["keyctl"] if platform.machine() in _ARCHES else None
#: This machine's filter program (``struct sock_filter`` array), or None where unknown.
FILTER = _build(platform.machine())


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def install(libc: ctypes.CDLL) -> None:
    """Hold this process (and everything it starts) to the filter from now on. Needs
    ``no_new_privs`` (or ``CAP_SYS_ADMIN``) set first.

    Raises:
        OSError: the kernel refused it, or this architecture has no filter.
    """
    if FILTER is None:
        raise OSError(0, f"no seccomp filter for the {platform.machine()} architecture")
    program = _SockFprog(len(FILTER) // 8, FILTER)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"seccomp: {os.strerror(errno)}")
