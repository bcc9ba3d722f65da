"""Grading speed: warm-up submissions locally and on a Dask cluster, with and without the sandbox.

    python benchmarks/grading.py [--n 200] [--n-isolation 100] [--jobs 2] [--workers 2] [--no-cluster]

One run reports
1. ``--n`` submissions graded with ``--jobs 2`` on this machine, then the same files with
   ``--scheduler local:2`` (a LocalCluster of 2 worker processes), and what Dask adds per
   submission: wall time, CPU time, the cluster's start-up and the round trip of one job;
2. ``--n-isolation`` submissions with ``--jobs 2``, in the sandbox and with ``isolate=False``
   (goal: 100 in at most 90 s on 2 cores, sandbox start-up included).

The submissions mix correct (5/5), partial (4/5: an overflowing softmax) and wrong (0/5)
answers, and every score is checked. Wall times depend on what else runs on the machine;
CPU seconds count the grader and every process it starts (sandboxes, Dask's scheduler, nannies
and workers), exactly where the script may make a cgroup (root, cgroup v1), otherwise by
sampling the process tree every 20 ms (which misses the last moments of short processes).
"""
import argparse
import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from nnkit.grading.batch import grade_batch
from nnkit.grading.grader import Options, load_source, make_cases

ROOT = Path(__file__).resolve().parents[1]
WARMUP = ROOT / "solutions" / "00-warmup.ipynb"
sys.path.insert(0, str(ROOT / "tests"))
from grading_fixtures.hostile import NAIVE_SOFTMAX, SIGMOID, SIGMOID_GRAD, SOFTMAX, WRONG  # noqa: E402

KINDS = {"correct": (5, [SIGMOID, SIGMOID_GRAD, SOFTMAX]),
         "partial": (4, [SIGMOID, SIGMOID_GRAD, NAIVE_SOFTMAX]),
         "wrong": (0, [WRONG])}
SEED = 1


# ------------------------------------------------------------------------------ CPU time

class CpuMeter:
    """CPU seconds of this process and all its descendants between ``start`` and ``stop``."""

    CGROUP = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self):
        self.group = None
        folder = self.CGROUP / f"nnkit-bench-{os.getpid()}"
        try:
            folder.mkdir()
            (folder / "cgroup.procs").write_text(str(os.getpid()))  # children are born in it
            self.group = folder
        except OSError:
            if folder.is_dir():
                folder.rmdir()
        self.how = "counted by a cgroup (exact)" if self.group else "sampled every 20 ms (a lower bound)"

    def start(self) -> None:
        if self.group:
            self.begin = self._usage()
            return
        self.base = self._snapshot()
        self.seen, self.done = dict(self.base), threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def stop(self) -> float:
        if self.group:
            return self._usage() - self.begin
        self.done.set()
        self.thread.join()
        self.seen.update(self._snapshot())
        return sum(t - self.base.get(key, 0.0) for key, t in self.seen.items())

    def close(self) -> None:
        if self.group:
            (self.CGROUP / "cgroup.procs").write_text(str(os.getpid()))
            try:
                self.group.rmdir()
            except OSError:  # a process of ours still lives in it
                pass

    def _usage(self) -> float:
        return int((self.group / "cpuacct.usage").read_text()) / 1e9

    @staticmethod
    def _snapshot() -> dict:
        import psutil

        me, out = psutil.Process(), {}
        for proc in [me, *me.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                out[(proc.pid, proc.create_time())] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.seen.update(self._snapshot())


# ------------------------------------------------------------------------------ the runs

def make_submissions(folder: Path, n: int):
    paths, expected = [], {}
    names = list(KINDS)
    for i in range(n):
        kind = names[i % len(names)]
        path = folder / f"student{i:04d}-{kind}.ipynb"
        cells = ["import nnkit\nnnkit.seed(0)", *KINDS[kind][1]]
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
        paths.append(path)
        expected[path.stem] = KINDS[kind][0]
    return paths, expected


def timed_batch(meter, paths, expected, out: Path, **options) -> dict:
    """Grade ``paths`` into a fresh folder; wall and CPU seconds, and the grader's own CPU."""
    meter.start()
    own, start = time.process_time(), time.perf_counter()
    summary = grade_batch(WARMUP, paths, out, seed=SEED, progress=False, **options)
    wall, own = time.perf_counter() - start, time.process_time() - own
    cpu = meter.stop()
    wrong = [r["submission"] for r in summary.rows if r["total"] != expected[r["submission"]]]
    if wrong or summary.graded_now != len(paths):
        raise SystemExit(f"UNEXPECTED: {summary.graded_now} graded of {len(paths)}; wrong scores: {wrong[:5]}")
    return {"wall": wall, "cpu": cpu, "own": own, "n": len(paths)}


def _echo(payload):
    return len(payload[0])


def dask_costs(workers: int, paths) -> dict:
    """Start-up of a LocalCluster, and the round trip of an empty job carrying a real job's data."""
    import distributed

    from nnkit.grading import cluster, submission

    sub = submission.load(paths[0])
    cases = make_cases(load_source(WARMUP).tests, SEED)
    payload = (sub.data, sub.cells, cases, Options(), ("/solutions", "/out"))
    start = time.perf_counter()
    with cluster.local_cluster(workers) as local, distributed.Client(local, set_as_default=False) as client:
        client.wait_for_workers(workers)
        cluster.check_workers(client, isolate=True)
        startup = time.perf_counter() - start
        client.submit(_echo, payload, pure=False).result()
        trips = []
        for _ in range(30):
            t = time.perf_counter()
            client.submit(_echo, payload, pure=False).result()
            trips.append(time.perf_counter() - t)
    trips.sort()
    return {"startup": startup, "trip": trips[len(trips) // 2], "bytes": len(pickle.dumps(payload))}


REMOTE = """
import sys
from nnkit.grading.cluster import local_cluster
with local_cluster(int(sys.argv[1])) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def remote_cluster(workers: int):
    """A scheduler and workers in another process, as a tcp:// cluster is: the grader is only the client."""
    proc = subprocess.Popen([sys.executable, "-c", REMOTE, str(workers)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions, local and on the cluster")
    parser.add_argument("--n-isolation", type=int, default=100, help="submissions, sandbox on and off")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (--scheduler local:N)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the Dask runs")
    args = parser.parse_args()
    meter = CpuMeter()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; CPU time: {meter.how}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths, expected = make_submissions(folder, max(args.n, args.n_isolation))
            results = {"local": timed_batch(meter, paths[:args.n], expected, folder / "local", jobs=args.jobs)}
            if not args.no_cluster:
                results["cluster"] = timed_batch(meter, paths[:args.n], expected, folder / "cluster",
                                                 jobs=args.jobs, scheduler=f"local:{args.workers}")
                with remote_cluster(args.workers) as address:
                    results["remote"] = timed_batch(meter, paths[:args.n], expected, folder / "remote",
                                                    jobs=args.jobs, scheduler=address)
                costs = dask_costs(args.workers, paths)
            few = paths[:args.n_isolation]
            results["sandbox"] = timed_batch(meter, few, expected, folder / "sandbox", jobs=args.jobs)
            results["no sandbox"] = timed_batch(meter, few, expected, folder / "plain", jobs=args.jobs,
                                                isolate=False)
    finally:
        meter.close()
    report(args, results, costs if not args.no_cluster else None)


def report(args, results: dict, costs) -> None:
    print(f"\n{'run':<34} {'n':>5} {'wall s':>8} {'s/sub':>7} {'CPU s/sub':>10} {'grader CPU s/sub':>17}")
    labels = {"local": f"--jobs {args.jobs}", "cluster": f"--scheduler local:{args.workers}",
              "remote": f"--scheduler tcp://... ({args.workers} workers)",
              "sandbox": f"--jobs {args.jobs}, sandbox", "no sandbox": f"--jobs {args.jobs}, isolate=False"}
    for key, r in results.items():
        print(f"{labels[key]:<34} {r['n']:>5} {r['wall']:>8.1f} {r['wall'] / r['n']:>7.3f} "
              f"{r['cpu'] / r['n']:>10.3f} {r['own'] / r['n']:>17.4f}")
    if costs:
        local, dask = results["local"], results["cluster"]
        n = local["n"]
        print(f"\nDask, per submission: {(dask['wall'] - local['wall']) / n * 1000:+.0f} ms wall "
              f"({(dask['wall'] - costs['startup'] - local['wall']) / n * 1000:+.0f} ms without the start-up), "
              f"{(dask['cpu'] - local['cpu']) / n * 1000:+.0f} ms CPU")
        print(f"Dask, fixed: a LocalCluster of {args.workers} workers starts in {costs['startup']:.1f} s; "
              f"one job's round trip (empty job, {costs['bytes'] / 1024:.0f} KiB of arguments) "
              f"takes {costs['trip'] * 1000:.1f} ms")
        estimate(results["remote"])
    sandbox, plain = results["sandbox"], results["no sandbox"]
    print(f"Sandbox: {sandbox['n']} submissions in {sandbox['wall']:.1f} s (goal: 100 in 90 s), "
          f"{sandbox['wall'] / plain['wall']:.2f} x the time without it, "
          f"{(sandbox['cpu'] - plain['cpu']) / sandbox['n'] * 1000:+.0f} ms CPU per submission")
    print("all scores as expected")


def estimate(remote: dict, n: int = 50_000, workers: int = 100) -> None:
    """How long ``n`` submissions take on ``workers`` one-core workers, from the tcp run's CPU times.

    The workers share the jobs; the client loads, scores and records every submission itself.
    """
    client = remote["own"] / remote["n"]
    worker = (remote["cpu"] - remote["own"]) / remote["n"]
    on_workers, on_client = n * worker / workers, n * client
    print(f"Estimate: {n:,} submissions on {workers} workers: {worker * 1000:.0f} ms of worker CPU and "
          f"{client * 1000:.1f} ms of client CPU each, so {on_workers / 60:.1f} min of work per worker "
          f"and {on_client / 60:.1f} min for the client: about {max(on_workers, on_client) / 60:.0f} min")


if __name__ == "__main__":
    main()
