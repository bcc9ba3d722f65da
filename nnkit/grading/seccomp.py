"""The seccomp filter every grading sandbox gets: no new user namespaces.

bubblewrap loads it (``--seccomp FD``) before it starts the runner, so it binds every process
of the submission, and a process cannot remove a seccomp filter once it has one.
"""
from __future__ import annotations

import platform
import struct

# (audit architecture, unshare, clone, clone3) system call numbers, where the filter is known.
_SYSCALLS = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}
_CLONE_NEWUSER = 0x10000000


def seccomp_filter() -> bytes | None:
    """A seccomp program (classic BPF) that stops a submission from making user namespaces.

    Inside its sandbox a submission needs no namespaces of its own, and new user namespaces
    are where kernel bugs have been found: ``unshare`` and ``clone`` with CLONE_NEWUSER fail
    with EPERM, ``clone3`` (whose flags a filter cannot read) with ENOSYS, so that libraries
    fall back to ``clone``. None on an architecture whose numbers are not in ``_SYSCALLS``.
    """
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        return None
    arch, unshare, clone, clone3 = numbers
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38

    def op(code, k, true=0, false=0):
        return struct.pack("=HBBI", code, true, false, k)

    program = [
        op(load, 4),                        # 0: the architecture
        op(jeq, arch, 1, 0),                # 1: ours -> 3
        op(ret, eperm),                     # 2: another ABI (32-bit compat): refused
        op(load, 0),                        # 3: the system call number
        op(jge, 0x40000000, 0, 1),          # 4: x32 numbers -> refused
        op(ret, eperm),                     # 5
        op(jeq, clone3, 0, 1),              # 6
        op(ret, enosys),                    # 7
        op(jeq, unshare, 1, 0),             # 8: -> 10
        op(jeq, clone, 0, 3),               # 9: neither -> 13
        op(load, 16),                       # 10: the flags (first argument, low 32 bits)
        op(jset, _CLONE_NEWUSER, 0, 1),     # 11
        op(ret, eperm),                     # 12
        op(ret, allow),                     # 13
    ]
    return b"".join(program)
