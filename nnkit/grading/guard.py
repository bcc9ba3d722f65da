"""The second guard rail inside a grading kernel: a Python audit hook.

The sandbox (``nnkit.grading.isolation``) is what keeps a submission away from the answers,
the grader and the machine: the solutions are simply not in its file system, it has no network
and its own process tree. This hook only adds friction inside the sandbox, and is the only
barrier left when a teacher grades with ``--no-isolation``. It refuses:

- starting programs and forking (subprocess, os.system, exec*, spawn*, fork);
- opening network connections or listening sockets, and (with ``strict``) loading C code
  through ctypes, which the sandbox makes harmless but nothing else does;
- signalling other processes and changing resource limits;
- opening paths under ``deny`` (used with ``--no-isolation``) and other processes' /proc entries.

An audit hook cannot be removed, but code in the same process can still reach and change the
objects it closes over (through ``gc``, for example): it is a guard rail, not a wall.
"""
from __future__ import annotations

import os
import sys

REFUSED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "resource.setrlimit", "resource.prlimit", "socket.connect", "socket.bind",
    "os.startfile", "os.kill", "os.killpg", "signal.pthread_kill",
})
OPEN_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "sqlite3.connect", "shutil.copyfile",
                         "os.symlink", "os.link", "os.rename", "os.replace"})


def install(deny=(), strict=False) -> None:
    """Install the hook in this process; ``deny``: folders no path may lead into."""
    realpath, fspath, sep, me = os.path.realpath, os.fspath, os.sep, os.getpid()
    deny = tuple(d for d in deny if d)

    def forbidden(path) -> bool:
        if isinstance(path, int) or path is None:
            return False
        try:
            path = realpath(fspath(path))
        except Exception:  # noqa: BLE001 - not a path at all
            return False
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if any(path == root or path.startswith(root + sep) for root in deny):
            return True
        parts = path.split(sep)
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] != str(me)

    def hook(event, args):
        if event in OPEN_EVENTS:
            if any(forbidden(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
                raise PermissionError(f"grading does not let a submission use {args[0]!r}")
        elif event in ("os.kill", "os.killpg") and args and args[0] == me:
            return
        elif event in REFUSED_EVENTS or (strict and event.startswith("ctypes.")):
            raise PermissionError(f"grading does not allow {event} in a submission")

    sys.addaudithook(hook)
