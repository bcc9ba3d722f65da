"""Grading on a Dask cluster with a real LocalCluster of 2 worker processes: the same gradebook
rows as a local run, only the drawn inputs sent to workers, a worker killed mid-batch costs
nothing, a resumed run grades nothing twice, a submission that takes two workers down is
recorded "not graded", a job cancelled on the cluster stops the batch without losing a row,
and the command line's --scheduler (local:N, errors, a missing extra)."""
import hashlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

import distributed
import nbformat
import pytest
from grading_fixtures.hostile import NAIVE_SOFTMAX, SIGMOID, SIGMOID_GRAD, SOFTMAX, WRONG

from nnkit.cli import main
from nnkit.grading import cluster
from nnkit.grading.gradebook import Gradebook
from nnkit.grading.batch import grade_batch
from nnkit.grading.grader import GradingError, Options, load_source, make_cases, run_job

ROOT = Path(__file__).resolve().parents[1]
WARMUP = ROOT / "solutions" / "00-warmup.ipynb"
SEED = 20240117
KINDS = {"correct": (5.0, [SIGMOID, SIGMOID_GRAD, SOFTMAX]),
         "partial": (4.0, [SIGMOID, SIGMOID_GRAD, NAIVE_SOFTMAX]),
         "wrong": (0.0, [WRONG])}


def _notebook(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """20 warm-up submissions, correct, partial and wrong in turn, with their expected totals."""
    folder = tmp_path_factory.mktemp("submissions")
    paths, expected = [], {}
    for i in range(20):
        kind = list(KINDS)[i % 3]
        path = _notebook(folder / f"learner{i:02d}-{kind}.ipynb", ["import nnkit\nnnkit.seed(0)", *KINDS[kind][1]])
        paths.append(path)
        expected[path.stem] = KINDS[kind][0]
    return paths, expected


def _rows(gradebook: Path) -> dict:
    """Everything the gradebook holds per learner, less the times: status, total, notes, per-test
    points, verdicts and feedback lines, and the feedback page."""
    with Gradebook(gradebook, create=False) as book:
        return {s.learner: (s.status, s.total, tuple(s.notes), s.seed,
                            tuple((r.test, r.points, r.status, r.message) for r in s.results), s.feedback)
                for s in book.submissions(with_feedback=True)}


@pytest.fixture(scope="module")
def local_rows(submissions, tmp_path_factory):
    """The gradebook of a local run (--jobs 2) with the same seed."""
    out = tmp_path_factory.mktemp("local")
    summary = grade_batch(WARMUP, submissions[0], out, jobs=2, seed=SEED, progress=False)
    assert summary.graded_now == 20
    rows = _rows(out / "gradebook.sqlite")
    assert {learner: row[1] for learner, row in rows.items()} == submissions[1]
    return rows


@pytest.fixture(scope="module")
def dask_cluster():
    """A LocalCluster of 2 one-thread worker processes, set up as ``--scheduler local:2`` does."""
    with cluster.local_cluster(2) as local, distributed.Client(local, set_as_default=False) as client:
        yield local, client


def _two_workers(client) -> None:
    client.wait_for_workers(2, timeout=60)


@pytest.fixture
def recorded(monkeypatch):
    """Every learner the gradebook records, in order (one ``record_row`` call per grading)."""
    calls, lock = [], threading.Lock()
    real = Gradebook.record_row

    def record_row(self, assignment, row, *args, **kwargs):
        with lock:
            calls.append(row["submission"])
        return real(self, assignment, row, *args, **kwargs)

    monkeypatch.setattr(Gradebook, "record_row", record_row)
    return calls


def test_twenty_submissions_on_dask_give_the_rows_of_a_local_run(submissions, local_rows, dask_cluster,
                                                                   tmp_path, monkeypatch):
    local, client = dask_cluster
    _two_workers(client)
    jobs, real_submit = [], distributed.Client.submit

    def submit(self, fn, *args, **kwargs):
        jobs.append((fn, args))
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "submit", submit)
    summary = grade_batch(WARMUP, submissions[0], tmp_path, seed=SEED, progress=False,
                          scheduler=local.scheduler_address)
    assert (summary.graded_now, summary.already_graded, summary.not_graded) == (20, 0, 0)
    assert _rows(tmp_path / "gradebook.sqlite") == local_rows
    # A job carries the notebook, its code cells, the drawn inputs, the settings and the
    # protected paths: nothing else, so no expected value reaches a worker.
    assert len(jobs) == 20
    cases = make_cases(load_source(WARMUP).tests, SEED)
    for fn, args in jobs:
        assert fn is run_job
        notebook, cells, sent_cases, options, protected = args
        assert isinstance(notebook, bytes) and all(isinstance(c, str) for c in cells)
        assert sent_cases == cases
        assert isinstance(options, Options) and all(isinstance(p, str) for p in protected)


def _mid_batch(client, runner, recorded: list, count: int) -> tuple[str, str]:
    """Once ``count`` submissions are recorded: a worker that holds a grading job, and the job's key."""
    deadline = time.monotonic() + 120
    while len(recorded) < count and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            for key in keys:
                if "nnkit-grade-" in str(key):
                    return worker, str(key)
        time.sleep(0.05)
    raise AssertionError("no worker was grading")


def _kill(client, worker: str) -> None:
    """SIGKILL a worker's process (its nanny starts a new one) and wait until the scheduler drops it."""
    pid = client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while worker in client.nthreads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker not in client.nthreads()


def _in_background(dask_cluster, paths, out: Path, **options):
    """With both workers up, start ``grade_batch`` on the cluster in a thread; its result dict
    gets "summary" or "error"."""
    scheduler = dask_cluster[0].scheduler_address
    _two_workers(dask_cluster[1])
    result = {}

    def batch():
        try:
            result["summary"] = grade_batch(WARMUP, paths, out, seed=SEED, progress=False, scheduler=scheduler,
                                            **options)
        except BaseException as err:  # noqa: BLE001 - each test asserts what it expects
            result["error"] = err

    runner = threading.Thread(target=batch)
    runner.start()
    return runner, result


def test_a_killed_worker_loses_nothing_and_a_resumed_run_grades_nothing_twice(
        submissions, local_rows, dask_cluster, recorded, tmp_path):
    local, client = dask_cluster
    runner, result = _in_background(dask_cluster, submissions[0], tmp_path)
    worker, _ = _mid_batch(client, runner, recorded, 5)
    before = _rows(tmp_path / "gradebook.sqlite")
    finished = list(recorded)
    _kill(client, worker)
    runner.join(timeout=180)
    assert not runner.is_alive() and "error" not in result, result
    assert len(finished) >= 5 and len(recorded) == 20 and sorted(recorded) == sorted(local_rows)
    summary = result["summary"]
    assert (summary.graded_now, summary.already_graded, summary.not_graded) == (20, 0, 0)
    after = _rows(tmp_path / "gradebook.sqlite")
    assert after == local_rows
    assert all(after[learner] == row for learner, row in before.items())

    recorded.clear()
    again = grade_batch(WARMUP, submissions[0], tmp_path, seed=SEED, progress=False,
                        scheduler=local.scheduler_address)
    assert (again.graded_now, again.already_graded, again.not_graded) == (0, 20, 0)
    assert recorded == [] and _rows(tmp_path / "gradebook.sqlite") == local_rows


def test_a_submission_that_kills_two_workers_is_recorded_not_graded(dask_cluster, recorded, tmp_path):
    local, client = dask_cluster
    folder = tmp_path / "in"
    folder.mkdir()
    good = [_notebook(folder / f"fine{i}.ipynb", KINDS["correct"][1]) for i in range(2)]
    # A correct answer that then runs long: each worker that starts it is killed from here.
    killer = _notebook(folder / "killer.ipynb", [*KINDS["correct"][1], "import time\ntime.sleep(45)"])
    digest = hashlib.sha256(killer.read_bytes()).hexdigest()[:16]
    runner, result = _in_background(dask_cluster, [*good, killer], tmp_path / "out", timeout=60)
    killed = []
    deadline = time.monotonic() + 90
    while len(killed) < 2 and time.monotonic() < deadline:
        holders = [w for w, keys in client.processing().items() if any(digest in str(k) for k in keys)]
        if holders:
            _kill(client, holders[0])
            killed.append(holders[0])
        time.sleep(0.05)
    runner.join(timeout=120)
    assert len(killed) == 2 and not runner.is_alive() and "error" not in result, result
    rows = {r["submission"]: r for r in result["summary"].rows}
    assert rows["killer"]["status"] == "not graded" and rows["killer"]["total"] == 0
    assert any(n.startswith("worker died: grading this notebook stopped 2 Dask workers") for n in rows["killer"]["notes"])
    assert rows["fine0"]["total"] == rows["fine1"]["total"] == 5 and rows["fine0"]["status"] == "graded"
    assert sorted(recorded) == ["fine0", "fine1", "killer"]
    # "not graded" is final: the next run leaves it alone (--force grades it again).
    recorded.clear()
    again = grade_batch(WARMUP, [*good, killer], tmp_path / "out", seed=SEED, progress=False,
                        scheduler=local.scheduler_address)
    assert (again.graded_now, again.already_graded, again.not_graded) == (0, 3, 0) and recorded == []


def test_a_job_cancelled_on_the_cluster_stops_the_batch_and_keeps_what_was_recorded(
        submissions, local_rows, dask_cluster, recorded, tmp_path):
    """As when the scheduler is lost: the batch ends with a GradingError, not with error rows."""
    local, client = dask_cluster
    runner, result = _in_background(dask_cluster, submissions[0], tmp_path)
    _, key = _mid_batch(client, runner, recorded, 3)
    client.cancel([distributed.Future(key, client)], force=True)
    runner.join(timeout=120)
    assert not runner.is_alive()
    assert isinstance(result.get("error"), GradingError), result
    assert "grading stopped: a job was cancelled on the Dask cluster" in str(result["error"])
    rows = _rows(tmp_path / "gradebook.sqlite")
    assert 3 <= len(rows) < 20 and all(rows[learner] == local_rows[learner] for learner in rows)
    again = grade_batch(WARMUP, submissions[0], tmp_path, seed=SEED, progress=False,
                        scheduler=local.scheduler_address)
    assert (again.graded_now, again.already_graded) == (20 - len(rows), len(rows))
    assert _rows(tmp_path / "gradebook.sqlite") == local_rows


def test_command_line_grades_on_a_local_cluster_with_one_progress_bar(submissions, local_rows, tmp_path, capsys):
    paths = [str(p) for p in submissions[0][:3]]
    book = tmp_path / "book.sqlite"
    code = main(["grade", str(WARMUP), *paths, "--out", str(tmp_path / "out"), "--gradebook", str(book),
                 "--seed", str(SEED), "--scheduler", "local:2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "3 submissions: 3 graded now, 0 already graded, 0 not gradable (" in out
    seconds = float(out.split("not gradable (")[1].split(" s,")[0])
    assert 0 < seconds < 120
    assert err.count("3/3") >= 1 and err.count("grading:   0%") == 1  # one bar for the batch
    rows = _rows(book)
    assert rows == {learner: local_rows[learner] for learner in rows} and len(rows) == 3


def test_scheduler_errors_name_the_problem(tmp_path, capsys, monkeypatch):
    for bad in ("local:0", "local:two", "nonsense"):
        with pytest.raises(GradingError, match="--scheduler"):
            cluster.parse_scheduler(bad)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    code = main(["grade", str(WARMUP), str(WARMUP), "--out", str(tmp_path), "--scheduler", "local:2"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install nnkit[cluster]" in err
    assert not (tmp_path / "gradebook.sqlite").exists()


def test_run_job_is_what_a_worker_runs(tmp_path):
    """The worker's function, called here as a worker would: no Isolation or scratch passed in."""
    source = load_source(WARMUP)
    cases = make_cases(source.tests, SEED)
    path = _notebook(tmp_path / "a.ipynb", KINDS["correct"][1])
    run = run_job(path.read_bytes(), KINDS["correct"][1], cases, Options(timeout=30.0))
    assert [c.status for c in run.cells] == ["ok", "ok", "ok"]
    assert len(run.probes) == len(source.tests)
    assert all(len(p["results"]) == len(c["args"]) and all("result" in r for r in p["results"])
               for p, c in zip(run.probes, cases))
