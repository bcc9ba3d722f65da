"""The program that runs a learner's notebook inside the sandbox: ``python -I -m nnkit.grading.cellrunner``.

It is the only grading code that runs next to learner code. It talks to the grader over two
pipes that the grader passes in (``CMD_FD`` in, ``REPLY_FD`` out), one frame per message (see
``nnkit.grading.frames``):

    grader -> runner   {"seq": n, "op": "cell", "code": "..."}       run one code cell
                       {"seq": n, "op": "probe", "case": {...}}      run one hidden test
    runner -> grader   {"seq": 0, "status": "ready"}                 once, before any learner code
                       {"seq": n, "status": "ok"}                    a cell ran
                       {"seq": n, "status": "error", "ename": ..., "evalue": ...}
                       {"seq": n, "results": [...], "warnings": [...]}   a probe's results

Before the first learner cell it
1. gives up root where the sandbox maps the grading user to root (``drop_privileges``);
2. sets its limits (memory, processes, file size, CPU time: the next four arguments; the
   last one says whether it runs in a sandbox);
3. sends the learner's output to /dev/null (nothing printed is graded);
4. installs the audit hook of ``nnkit.grading.guard`` as a second guard rail.

Everything a learner can do to this process (patch it, write to its pipes, kill it) only
changes what *their own* results look like: expected values never enter the sandbox, and the
grader treats every frame from here as hostile (``nnkit.grading.frames``).
"""
from __future__ import annotations

import os
import signal
import sys
import warnings

LEARNER_UID = 1000


def drop_privileges(writable) -> None:
    """Become the unprivileged learner user (uid 1000) if the sandbox started us as root.

    When the grader runs as root, the sandbox maps its root to the real root (so that it can
    set up the mounts) and uid 1000 to the unprivileged ``nobody``; this function hands the
    writable folders to uid 1000 and switches to it for good, before any learner code runs.
    """
    if os.getuid() != 0:
        return
    for path in writable:
        os.chown(path, LEARNER_UID, LEARNER_UID)
    os.setgroups([])
    os.setresgid(LEARNER_UID, LEARNER_UID, LEARNER_UID)
    os.setresuid(LEARNER_UID, LEARNER_UID, LEARNER_UID)


def set_limits(memory_mb: int, processes: int, file_mb: int, cpu_s: int) -> None:
    """Cap this process and its children: address space, processes and threads (counted per
    user namespace, so per sandbox), size of any file written, CPU seconds; no core dumps."""
    import resource

    for kind, value in ((resource.RLIMIT_AS, memory_mb * 2**20), (resource.RLIMIT_NPROC, processes),
                        (resource.RLIMIT_FSIZE, file_mb * 2**20), (resource.RLIMIT_CPU, cpu_s),
                        (resource.RLIMIT_CORE, 0)):
        if value > 0 or kind == resource.RLIMIT_CORE:
            resource.setrlimit(kind, (value, value))


def strip_magics(code: str) -> str:
    """Turn IPython syntax into plain Python: ``%line`` and ``!shell`` lines become ``pass``.

    Nothing a magic does is graded. A cell magic (``%%time``) on the first line is dropped and
    the cell body runs; other cell magics (``%%bash``, ``%%writefile``) skip the whole cell.
    """
    lines = code.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        if lines[first].split()[0] not in ("%%time", "%%timeit", "%%capture"):
            return "pass"
        lines = lines[first + 1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and stripped[:-1].isidentifier()):
            out.append(line[: len(line) - len(stripped)] + "pass")
        else:
            out.append(line)
    return "\n".join(out)


def _private(name: str):
    """A fresh copy of module ``name``, kept out of ``sys.modules``.

    The runner talks to the grader through these copies, so a learner who patches
    ``nnkit.grading.codec`` or ``json`` changes nothing in how results travel.
    """
    import importlib.util

    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Shell:
    """Stands in for ``get_ipython()``: every method exists and does nothing."""

    def __getattr__(self, name):
        return _Shell()

    def __call__(self, *args, **kwargs):
        return None


class Runner:
    """Runs cells and probes in one namespace, answering the grader frame by frame."""

    def __init__(self, cmd, reply):
        codec, frames = _private("nnkit.grading.codec"), _private("nnkit.grading.frames")
        self.cmd, self.reply = cmd, reply
        self.read_frame, self.write_frame = frames.read_frame, frames.write_frame
        self.decode, self.dumps = codec.decode, codec.dumps
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__,
                          "display": lambda *a, **k: None, "get_ipython": _Shell}
        self.busy = False
        signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, signum, frame):
        # The grader interrupts a cell that runs too long; between cells there is nothing to stop.
        if self.busy:
            raise KeyboardInterrupt

    def send(self, message: dict) -> None:
        self.write_frame(self.reply, message)

    def serve(self) -> None:
        self.send({"seq": 0, "status": "ready"})
        while True:
            message = self.read_frame(self.cmd)
            if message is None:
                return
            if message.get("op") == "cell":
                self.send({"seq": message["seq"], **self.run_cell(message["code"])})
            elif message.get("op") == "probe":
                self.send({"seq": message["seq"], **self.run_probe(message["case"])})

    def run_cell(self, code: str) -> dict:
        try:
            self.busy = True
            try:
                exec(compile(strip_magics(code), "<cell>", "exec"), self.namespace)  # noqa: S102
            finally:
                self.busy = False
        except BaseException as err:  # noqa: BLE001 - every failure is the learner's to see
            return {"status": "error", "ename": type(err).__name__, "evalue": str(err)[:400]}
        return {"status": "ok"}

    def run_probe(self, case: dict) -> dict:
        """Call the learner's function on every input set of one hidden test."""
        import random

        import numpy

        results, caught_all = [], []
        for args_data in case["args"]:
            try:
                random.seed(case["seed"])
                numpy.random.seed(case["seed"])
                nnkit = sys.modules.get("nnkit")
                if nnkit is not None and hasattr(nnkit, "seed"):
                    nnkit.seed(case["seed"])
                args = self.decode(args_data)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.busy = True
                    try:
                        value = self._call(case, args)
                    finally:
                        self.busy = False
                caught_all += [str(w.message)[:160] for w in caught]
                text = self.dumps(value)
                if len(text) > case["max_bytes"]:
                    raise ValueError(f"the result is too large to grade ({len(text)} bytes)")
                results.append({"result": text})
            except BaseException as err:  # noqa: BLE001 - every failure becomes a message
                results.append({"error": type(err).__name__, "message": str(err)[:300]})
                if isinstance(err, KeyboardInterrupt):  # out of time: the other sets are not run
                    results += [results[-1]] * (len(case["args"]) - len(results))
                    break
        return {"results": results, "warnings": sorted(set(caught_all))[:3]}

    def _call(self, case: dict, args):
        if case["call"] is not None:
            if case["call"] not in self.namespace:
                raise NameError(f"name {case['call']!r} is not defined")
            return self.namespace[case["call"]](*args)
        scope = dict(self.namespace)
        scope.update(args)
        exec(case["code"], scope)  # noqa: S102 - the test snippet comes from the solutions notebook
        if "result" not in scope:
            raise NameError("the test code did not set `result`")
        return scope["result"]


def main(argv) -> None:
    cmd_fd, reply_fd, memory_mb, processes, file_mb, cpu_s, sandboxed = (int(a) for a in argv[:7])
    if sandboxed:  # without a sandbox the runner keeps the grader's user: nothing to map it to
        drop_privileges([os.environ["HOME"], os.environ["TMPDIR"], os.getcwd()])
    set_limits(memory_mb, processes, file_mb, cpu_s)
    for fd in (cmd_fd, reply_fd):
        os.set_inheritable(fd, False)
    cmd = os.fdopen(cmd_fd, "rb", buffering=0)
    reply = os.fdopen(reply_fd, "wb", buffering=0)
    import numpy  # noqa: F401 - loaded once here, not inside the first timed cell

    runner = Runner(cmd, reply)
    from nnkit.grading import guard

    deny = os.environ.get("NNKIT_GRADING_DENY", "")  # set only when grading without a sandbox
    guard.install(deny=deny.split(os.pathsep), strict=bool(deny))
    # From here on the learner's output goes nowhere; start-up errors went to the grader.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    runner.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
