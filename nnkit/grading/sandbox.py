"""Code the grader runs inside a learner's kernel: the sandbox cell and the probe cells.

The sandbox cell runs first, before any learner code.  It
- caps the address space (RLIMIT_AS);
- builds the probe function from originals taken now (json, numpy, open, the codec), so a
  learner who later patches numpy, json or nnkit cannot change how results are sent back;
- installs a Python audit hook, which cannot be removed afterwards.  The hook hands the probe
  to the probe cells (event ``nnkit.probe``) and refuses: reading the solutions, the grader's
  folders and other processes' ``/proc`` entries; starting programs; loading C code through
  ctypes; signalling other processes; raising the memory cap; opening sockets.
Audit hooks are a guard rail, not a full sandbox, which is why expected values never enter the
kernel at all: a probe only sends the learner's own results back, as JSON in a file, and the
grader compares them in its own process.
"""
from __future__ import annotations

import inspect
import json

from nnkit.grading import codec

_SANDBOX = r'''
def __nnkit_sandbox(deny, allow, limit, codec_source, user_ns):
    import os, sys, random, resource, warnings, ctypes, socket, subprocess  # noqa: F401
    import json as json_module
    import numpy
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # The kernel speaks to the grader in JSON: jupyter_client's session looks the json module
    # up at every message (unless orjson is installed).  Give the kernel's own modules a private
    # copy, so a learner who patches json.loads or json.dumps cannot cut the kernel off.
    import importlib.util
    spec = importlib.util.find_spec("json")
    private_json = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(private_json)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("jupyter_client", "ipykernel", "comm") and getattr(module, "json", None) is json_module:
            module.json = private_json
    codec = {"__name__": "nnkit_probe_codec"}
    exec(codec_source, codec)
    encode, decode, loads, dumps = codec["encode"], codec["decode"], codec["_json_loads"], codec["_json_dumps"]
    opener, np_seed, py_seed = open, numpy.random.seed, random.seed
    catch, simplefilter = warnings.catch_warnings, warnings.simplefilter
    BaseErr, name_of, text_of, sorted_, len_, dict_ = BaseException, type, str, sorted, len, dict

    def probe(case_text):
        case = loads(case_text)
        out = {"nonce": case["nonce"], "index": case["index"]}
        try:
            args = decode(case["args"])
            py_seed(case["seed"])
            np_seed(case["seed"])
            try:
                import nnkit
                nnkit.seed(case["seed"])
            except BaseErr:
                pass
            with catch(record=True) as caught:
                simplefilter("always")
                if case["call"] is not None:
                    if case["call"] not in user_ns:
                        raise NameError(f"name {case['call']!r} is not defined")
                    result = user_ns[case["call"]](*args)
                else:
                    scope = dict_(user_ns)
                    scope.update(args)
                    exec(case["code"], scope)
                    if "result" not in scope:
                        raise NameError("the test code did not set `result`")
                    result = scope["result"]
            out["warnings"] = sorted_({text_of(w.message)[:160] for w in caught})[:3]
            text = dumps(encode(result), allow_nan=True)
            if len_(text) > case["max_bytes"]:
                raise ValueError(f"the result is too large to grade ({len_(text)} bytes)")
            out["result"] = text
        except BaseErr as err:  # every failure becomes a message
            out["error"] = name_of(err).__name__
            out["message"] = text_of(err)[:300]
        with opener(case["path"], "w") as handle:
            handle.write(dumps(out))

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
        if event == "nnkit.probe":
            args[0].append(probe)
        elif event in ("open", "os.listdir", "os.scandir", "sqlite3.connect", "shutil.copyfile"):
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


__nnkit_sandbox(DENY, ALLOW, LIMIT, CODEC, globals())
del __nnkit_sandbox, DENY, ALLOW, LIMIT, CODEC
'''

_CODEC_SOURCE = inspect.getsource(codec)


def sandbox_source(deny, allow, memory_mb) -> str:
    """The first cell of every kernel the grader starts."""
    limit = int(memory_mb) * 2**20 if memory_mb else 0
    return (f"DENY, ALLOW, LIMIT = {list(map(str, deny))!r}, {list(map(str, allow))!r}, {limit}\n"
            f"CODEC = {_CODEC_SOURCE!r}\n" + _SANDBOX)


def probe_source(case: dict) -> str:
    """A cell that runs one hidden test on the kernel's functions; the probe writes a JSON file.

    ``case``: nonce, index, seed, call or code, args (encoded), path, max_bytes.
    """
    text = json.dumps(case)
    return f'(lambda box: (__import__("sys").audit("nnkit.probe", box), box[0]({text!r})))([])\n'
