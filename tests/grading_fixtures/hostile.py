"""Hostile and broken submissions for the warm-up exercise, with the points each must get.

Each entry: name -> (expected points out of 5, cells or raw file text, a word the feedback or
notes must contain).  ``{SOURCE}`` / ``{OTHER}`` in a cell are replaced by the absolute paths of
the solutions notebook and of another learner's submission.
"""

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

SUBMISSIONS = {
    "correct": (5, ALL, "passed"),
    "naive_softmax": (4, [SIGMOID, SIGMOID_GRAD, NAIVE_SOFTMAX], "nan"),
    "patches_numpy": (0, [WRONG, '''
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
'''], "wrong values"),
    "patches_checker": (2, [WRONG, SIGMOID, '''
import nnkit, nnkit.grading.compare as cmp, nnkit.grading.codec as codec, json
cmp.compare = lambda *a, **k: None
cmp.compare_arrays = lambda *a, **k: None
nnkit.check = lambda *a, **k: print("all checks passed")
codec.decode = lambda data, _depth=0: data
json.loads = lambda *a, **k: {"passed": True}
'''], "wrong values"),
    "redefines_helpers": (2, [WRONG, SOFTMAX, '''
import builtins
def hidden_test(*a, **k): return None
def __nnkit_probe(): pass
CASE = CODEC = None
def compare(*a, **k): return None
builtins.exec_real = exec
softmax_points = 1e9
'''], "wrong values"),
    "fake_results": (0, [WRONG, '''
import glob, json, os
print("sigmoid_values: PASSED 1/1\\nTOTAL 5/5")
print(json.dumps({"nonce": "0" * 16, "index": 0, "result": "1.0"}))
def _fake(*args, **kwargs):
    for path in glob.glob(".result-*.json"):
        name = os.path.basename(path)
        nonce, index = name[len(".result-"):-len(".json")].rsplit("-", 1)
        with open(path, "w") as f:
            json.dump({"nonce": nonce, "index": int(index), "result": json.dumps(0.5)}, f)
get_ipython().events.register("post_run_cell", _fake)
'''], "wrong shape"),
    "reads_solutions": (0, ['''
import os, glob, subprocess
found = []
for attempt in (lambda: open(r"{SOURCE}").read(),
                lambda: os.listdir(os.path.dirname(r"{SOURCE}")),
                lambda: open(r"{OTHER}").read(),
                lambda: subprocess.run(["cat", r"{SOURCE}"], capture_output=True).stdout,
                lambda: open(f"/proc/{os.getppid()}/cmdline").read(),
                lambda: os.symlink(r"{SOURCE}", "copy.ipynb")):
    try:
        found.append(attempt())
    except (PermissionError, OSError):
        pass
if found:
    import json
    nb = json.loads(found[0])
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "HIDDEN" not in "".join(cell["source"]):
            exec("".join(cell["source"]).replace("nnkit.check", "print"))
print("found", len(found))
'''], "does not define"),
    "infinite_loop": (5, [SIGMOID, "while True:\n    pass", SIGMOID_GRAD, SOFTMAX], "time limit"),
    "ignores_interrupt": (5, [SIGMOID, '''
import time
while True:
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
''', SIGMOID_GRAD, SOFTMAX], "ignored the interrupt"),
    "memory_hog": (5, [SIGMOID, '''
hog = []
while True:
    hog.append(bytearray(50 * 2**20))
''', "del hog", SIGMOID_GRAD, SOFTMAX], "out of memory"),
    "kills_kernel": (5, [SIGMOID, "import os\nos._exit(3)", SIGMOID_GRAD, SOFTMAX], "stopped the Python kernel"),
    "kills_grader": (5, [SIGMOID, '''
import os, signal
for pid in (os.getppid(), 0, -1):
    try:
        os.kill(pid, signal.SIGKILL)
    except (PermissionError, OSError):
        pass
''', SIGMOID_GRAD, SOFTMAX], "passed"),
    "crashes_in_softmax": (3, [SIGMOID, SIGMOID_GRAD, '''
import os
def softmax(z):
    os._exit(1)
'''], "stopped the Python kernel"),
    "floods_output": (5, [SIGMOID, '''
for i in range(10**7):
    print("spam " * 20)
''', SIGMOID_GRAD, SOFTMAX], "more output than allowed"),
    "missing_function": (2, [SIGMOID], "does not define `softmax`"),
    "returns_garbage": (2, [SIGMOID, '''
import numpy as np
def sigmoid_grad(z):
    return object()
def softmax(z):
    return np.zeros(10**8, dtype=np.uint8)
'''], "cannot be graded"),
    "invalid_json": (0, "{ this is not json", "broken JSON"),
    "wrong_nbformat": (0, '{"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}',
                       "unsupported notebook format"),
    "bad_schema": (0, '{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}], '
                      '"metadata": {}}', "not a valid notebook"),
    "missing_file": (0, None, "missing file"),
    "other_exercise": (0, ['''
import numpy as np
def linear_forward(x, W, b):
    return x @ W + b
'''], "not '00-warmup'"),
}
