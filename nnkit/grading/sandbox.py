"""Code the grader runs inside a learner's kernel: the sandbox cell and the probe cells.

The sandbox cell runs first, before any learner code.  It caps the address space
(RLIMIT_AS), then installs a Python audit hook, which cannot be removed afterwards, refusing:
reading the solutions, the grader's folders and other processes' ``/proc`` entries; starting
programs; loading C libraries through ctypes; signalling other processes; raising the memory
cap; opening sockets.  Audit hooks are a guard rail rather than a full sandbox, which is why
the design never lets expected values into the kernel at all: a probe only sends the
learner's own results back, as JSON in a file, and the grader compares in its own process.
"""
from __future__ import annotations

import inspect
import json

from nnkit.grading import codec

_SANDBOX = r'''
def __nnkit_sandbox(deny, allow, limit):
    import os, sys, resource, ctypes, socket, subprocess  # noqa: F401 - load before the hook
    import numpy  # noqa: F401
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    realpath, fspath, sep, me = os.path.realpath, os.fspath, os.sep, os.getpid()
    deny, allow = tuple(deny), tuple(allow)
    refused = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
               "os.fork", "os.forkpty", "resource.setrlimit", "resource.prlimit",
               "socket.connect", "socket.bind", "os.startfile"}

    def under(path, roots):
        return any(path == root or path.startswith(root + sep) for root in roots)

    def forbidden(path):
        if isinstance(path, int) or path is None:
            return False
        try:
            path = realpath(fspath(path))
        except Exception:
            return False
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if under(path, allow):
            return False
        if under(path, deny):
            return True
        parts = path.split(sep)
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] != str(me)

    def hook(event, args):
        if event in ("open", "os.listdir", "os.scandir", "sqlite3.connect", "shutil.copyfile"):
            if args and forbidden(args[0]):
                raise PermissionError(f"the grader does not let a submission read {args[0]!r}")
        elif event in ("os.symlink", "os.link"):
            if forbidden(args[0]):
                raise PermissionError("the grader does not let a submission link to that file")
        elif event in ("os.kill", "os.killpg"):
            if args[0] != me:
                raise PermissionError("the grader does not let a submission signal other processes")
        elif event in refused or event.startswith("ctypes."):
            raise PermissionError(f"the grader does not allow {event} in a submission")

    sys.addaudithook(hook)


__nnkit_sandbox(DENY, ALLOW, LIMIT)
del __nnkit_sandbox
'''

_PROBE = r'''
def __nnkit_probe():
    import json, random, warnings
    import numpy
    codec = {}
    exec(CODEC, codec)
    case = json.loads(CASE)
    out = {"nonce": case["nonce"], "index": case["index"]}
    try:
        args = codec["decode"](case["args"])
        random.seed(case["seed"])
        numpy.random.seed(case["seed"])
        try:
            import nnkit
            nnkit.seed(case["seed"])
        except Exception:
            pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if case["call"] is not None:
                if case["call"] not in globals():
                    raise NameError(f"name {case['call']!r} is not defined")
                result = globals()[case["call"]](*args)
            else:
                scope = dict(globals())
                scope.update(args)
                exec(case["code"], scope)
                if "result" not in scope:
                    raise NameError("the test code did not set `result`")
                result = scope["result"]
        out["warnings"] = sorted({str(w.message)[:160] for w in caught})[:3]
        text = json.dumps(codec["encode"](result), allow_nan=True)
        if len(text) > case["max_bytes"]:
            raise ValueError(f"the result is too large to grade ({len(text)} bytes)")
        out["result"] = text
    except BaseException as err:  # noqa: BLE001 - every failure becomes a message
        out["error"] = type(err).__name__
        out["message"] = str(err)[:300]
    with open(case["path"], "w") as handle:
        handle.write(json.dumps(out))


__nnkit_probe()
del __nnkit_probe
'''


def sandbox_source(deny, allow, memory_mb) -> str:
    """The first cell of every kernel the grader starts."""
    limit = int(memory_mb) * 2**20 if memory_mb else 0
    return (f"DENY, ALLOW, LIMIT = {list(map(str, deny))!r}, {list(map(str, allow))!r}, {limit}\n"
            + _SANDBOX + "del DENY, ALLOW, LIMIT\n")


_CODEC_SOURCE = inspect.getsource(codec)


def probe_source(case: dict) -> str:
    """A cell that runs one hidden test on the kernel's functions and writes a JSON file.

    ``case``: nonce, index, seed, call or code, args (encoded), path, max_bytes.
    """
    return f"CODEC = {_CODEC_SOURCE!r}\nCASE = {json.dumps(case)!r}\n" + _PROBE + "del CODEC, CASE\n"
