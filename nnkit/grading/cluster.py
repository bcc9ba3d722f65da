"""Grading on a Dask cluster: ``nnkit grade ... --scheduler tcp://HOST:8786`` or ``--scheduler local:N``.

The work is split where trust changes hands. The grader's process (the Dask *client*) keeps
everything that decides a grade: it reads each submission (``submission.load``), runs the
solution for the expected values, scores every result and alone writes the gradebook. A
*worker* only runs notebooks: each submission becomes one job, ``grader.run_job(notebook,
cells, cases, options, protected)``, which starts the same sandbox as local grading on the
worker's machine and sends back the learner's raw results (a ``NotebookRun`` of plain data).
The drawn inputs go out; the expected values never leave the client.

``local:N`` starts a ``LocalCluster`` of N worker processes (one thread each) on this machine
and stops it after the batch; any other address is a running scheduler to connect to.

Workers that die
----------------
When a worker dies (its machine is lost, its process is killed), the scheduler hands the job it
held to another worker. A job whose worker dies a second time is given up (the scheduler's
``allowed-failures`` is 1), and the submission is recorded with status ``not graded`` and the
note "worker died: ...". The status is final: a re-run does not grade it again, since that
would cost two more workers; ``nnkit grade SOURCE THAT_FILE --force`` grades it again. With one
thread per worker (``local:N``, and what the documentation asks of other clusters) a worker
holds one job at a time, so a death never counts against a submission that was not running.

A job that *raises* on a worker (its sandbox cannot start there) is retried once (Dask's
``retries``) and then recorded as a grader error, which the next run grades again: the worker,
not the submission, was at fault. A lost scheduler (or a job cancelled on the cluster) ends the
batch with ``GradingError``; every submission recorded before stays recorded.
"""
from __future__ import annotations

import contextlib
import secrets
import threading

from nnkit.grading.grader import Grading, GradingError, run_job
from nnkit.grading.isolation import SandboxError
from nnkit.grading.untrusted import UntrustedData

# A job may see one worker die under it; the second death marks it, and each worker holds no
# more jobs than it has threads (so a death touches only the jobs that were running).
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 1,
                    "distributed.scheduler.worker-saturation": 1.0}
WORKER_WAIT_S = 300.0   # how long to wait for the first worker of a remote cluster
IN_FLIGHT_PER_THREAD = 2  # jobs in flight per worker thread: one running, one ready behind it
INSTALL_HINT = "pip install nnkit[cluster]"


class WorkerDied(UntrustedData):
    """The submission's job took two workers down with it: recorded as not graded."""


class ClusterLost(BaseException):
    """The client lost its scheduler, or a job was cancelled: like Ctrl-C, this ends the batch.

    A ``BaseException``, so that ``grade_one`` does not record it as one submission's error."""


def require_distributed():
    """The ``distributed`` package, or ``GradingError`` saying which extra installs it."""
    try:
        import distributed
    except ImportError:
        raise GradingError("grading on a Dask cluster (--scheduler) needs the distributed package: "
                           f"{INSTALL_HINT}") from None
    return distributed


def parse_scheduler(text: str) -> tuple[str, object]:
    """``("local", N)`` for ``local:N``, else ``("address", text)``; checks that Dask is installed."""
    text = str(text).strip()
    if text.startswith("local"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise GradingError(f"--scheduler {text!r}: write local:N with N workers, e.g. local:4")
        kind, value = "local", int(count)
    elif "://" in text or ":" in text:
        kind, value = "address", text
    else:
        raise GradingError(f"--scheduler {text!r}: give a scheduler address (tcp://HOST:8786) or local:N")
    require_distributed()
    return kind, value


def local_cluster(workers: int, **kwargs):
    """A ``LocalCluster`` of ``workers`` processes with one thread each, set up for grading."""
    import logging

    import dask
    from distributed import LocalCluster

    with dask.config.set(SCHEDULER_CONFIG):
        # No dashboard; the scheduler's small HTTP server (health checks) takes a free local port.
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                            silence_logs=logging.ERROR, **kwargs)


@contextlib.contextmanager
def connect(scheduler: str):
    """A ``Client`` for ``scheduler`` with at least one worker; a ``local:N`` cluster ends with it."""
    distributed = require_distributed()
    kind, value = parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cluster = stack.enter_context(local_cluster(value))
            address = cluster.scheduler_address
        else:
            address = value
        try:
            client = stack.enter_context(distributed.Client(address, timeout=30,
                                                            set_as_default=False))
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (OSError, TimeoutError) as err:
            raise GradingError(f"cannot grade on the Dask scheduler {address}: {err}") from None
        yield client


def _worker_ready(isolate: bool) -> str:
    """Run on every worker before grading: '' if it can start sandboxes, else why not."""
    from nnkit.grading.isolation import Isolation

    try:
        Isolation(isolate=isolate)
    except SandboxError as err:
        return str(err)
    return ""


def check_workers(client, isolate: bool) -> None:
    """``GradingError`` naming every worker that cannot make a sandbox (bubblewrap missing, ...)."""
    problems = {worker: text for worker, text in client.run(_worker_ready, isolate).items() if text}
    if problems:
        lines = "; ".join(f"{worker}: {text}" for worker, text in sorted(problems.items()))
        raise GradingError(f"{len(problems)} Dask worker(s) cannot grade: {lines}")


class ClusterGrading(Grading):
    """A grading run whose submissions run on Dask workers; loading and scoring stay here.

    ``grade_one`` is unchanged: it calls ``run_submission``, which here sends the job to the
    cluster and waits for its result in the calling thread (the grader keeps ``jobs`` threads).
    """

    def __init__(self, source, options, seed, protected, client):
        super().__init__(source, options, seed, protected)
        self.client = client
        self.protected = tuple(protected)
        self.in_flight: set = set()
        self.lock = threading.Lock()

    def run_submission(self, sub):
        from distributed import CancelledError, KilledWorker

        # The scheduler shows this name: the assignment and the file's digest, to find a job by.
        key = f"nnkit-grade-{self.source.name}-{sub.digest[:16]}-{secrets.token_hex(4)}"
        future = self.client.submit(run_job, sub.data, sub.cells, self.cases, self.options,
                                    self.protected, key=key, retries=1, pure=False)
        with self.lock:
            self.in_flight.add(future)
        try:
            return future.result()
        except KilledWorker as err:
            last = getattr(err.last_worker, "address", "unknown")
            raise WorkerDied(f"worker died: grading this notebook stopped {err.allowed_failures + 1} "
                             f"Dask workers (the last one: {last})") from None
        except SandboxError as err:
            raise RuntimeError(f"a Dask worker could not start its sandbox: {err}") from None
        except CancelledError as err:
            if self.stopping.is_set():
                raise UntrustedData("not run: grading was interrupted") from None
            # The scheduler went away (reason "scheduler-connection-lost") or someone cancelled the job.
            raise ClusterLost(f"a job was cancelled on the Dask cluster ({getattr(err, 'reason', 'no reason given')})") \
                from None
        finally:
            with self.lock:
                self.in_flight.discard(future)

    def stop(self) -> None:
        """Stop waiting: cancel every job not finished yet (running ones end with their budget)."""
        super().stop()
        with self.lock:
            futures = list(self.in_flight)
        if futures and self.client.status == "running":
            with contextlib.suppress(Exception):
                self.client.cancel(futures)


@contextlib.contextmanager
def cluster_grading(scheduler: str, source, options, seed, protected, jobs: int):
    """``(ClusterGrading, threads)`` for one batch on ``scheduler``; the cluster is let go after it.

    ``threads``: how many submissions are in flight, at least ``jobs`` and by default twice the
    worker threads present at the start (workers that join later take queued jobs too).
    """
    with connect(scheduler) as client:
        check_workers(client, options.isolate)
        threads = sum(client.nthreads().values())
        grading = ClusterGrading(source, options, seed, protected, client)
        try:
            yield grading, max(int(jobs), IN_FLIGHT_PER_THREAD * threads, 1)
        except ClusterLost as err:
            raise GradingError(f"grading stopped: {err}; every finished submission is saved, "
                               "run the same command again to grade the rest") from None
