"""Trainings on a real Dask cluster over loopback: a scheduler and two workers started here.

Four users start trainings at once: two run, two wait with their true places in the queue, all
four finish, and the web process (this one) does almost none of the work. Then a worker is
killed mid-training: that user is told and keeps the last snapshot; the other run finishes.
Every process started here is stopped at the end, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from model.training.config import TrainConfig
from model.training.trainer import RunState
from tests.support.synthetic import dataset
from ui import cluster
from ui.jobs import TrainingJob

WAIT = 120.0  # s: upper bound on any wait here; the trainings take a few seconds each


def _wait(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _address(scheduler_file: Path) -> str:
    try:
        return json.loads(scheduler_file.read_text()).get("address", "")
    except ValueError:  # still being written
        return ""


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker --nthreads 1` on 127.0.0.1; the app pointed at them."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    old = os.environ.get(cluster.SCHEDULER_ENV)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        _wait(lambda: scheduler_file.exists() and _address(scheduler_file), "the scheduler's address", 60)
        address = _address(scheduler_file)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--nworkers", "1",
                     "--no-dashboard", "--name", f"w{i}"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
                )
            )  # fmt: skip
        os.environ[cluster.SCHEDULER_ENV] = address
        cluster.shutdown()
        client = cluster.client()
        _wait(lambda: len(client.nthreads()) == 2, "two workers", 60)
        yield address
    finally:
        cluster.shutdown()
        if old is None:
            os.environ.pop(cluster.SCHEDULER_ENV, None)
        else:
            os.environ[cluster.SCHEDULER_ENV] = old
        for p in procs:
            for child in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
                child.kill()
            p.kill()
            p.wait(10)


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _worker_pids() -> list[int]:
    return list(cluster.client().run(os.getpid).values())


CFG = TrainConfig(hidden=[64], epochs=6, batch_size=32, val_fraction=0.1, seed=1)  # under a second


def test_four_users_two_run_two_queue_all_finish(loopback_cluster):
    assert cluster.slot_limit() == 2
    data = dataset(3000)
    workers = _worker_pids()
    web_before, workers_before = _cpu_seconds(os.getpid()), sum(_cpu_seconds(p) for p in workers)
    long = TrainConfig(hidden=[64], epochs=60, batch_size=32, val_fraction=0.1, seed=1)  # a few seconds each
    jobs = [TrainingJob(long, data) for _ in range(4)]
    for job in jobs:
        job.start()
        time.sleep(0.2)  # four users, one after another
    _wait(lambda: all(j.refresh() or j.state == RunState.RUNNING for j in jobs[:2]), "the first two to run")
    assert [j.state for j in jobs[2:]] == [RunState.QUEUED] * 2
    assert [j.queue_position for j in jobs] == [0, 0, 1, 2]
    _wait(lambda: all(j.refresh() or not j.alive for j in jobs), "all four to finish")
    assert [j.state for j in jobs] == [RunState.DONE] * 4, [j.message for j in jobs]
    assert all(j.result is not None and j.result[1].accuracy > 0.5 for j in jobs)
    assert len({j.worker_pid for j in jobs}) == 2  # both workers trained, the web process none
    web = _cpu_seconds(os.getpid()) - web_before
    trained = sum(_cpu_seconds(p) for p in workers) - workers_before
    assert web < 0.25 * trained, f"the web process used {web:.1f} s of CPU while the workers used {trained:.1f} s"


def test_a_killed_worker_fails_one_run_and_keeps_its_snapshot(loopback_cluster):
    data = dataset(3000)
    long = TrainConfig(hidden=[64], epochs=200, batch_size=32, val_fraction=0.1, seed=2)
    victim, other = TrainingJob(long, data), TrainingJob(CFG, data)
    victim.start()
    other.start()
    _wait(lambda: victim.snapshot() is not None and victim.worker_pid, "the first snapshot")
    os.kill(victim.worker_pid, signal.SIGKILL)
    _wait(lambda: victim.refresh() or not victim.alive, "the killed run to end")
    assert victim.state == RunState.ERROR
    assert "stopped unexpectedly" in victim.message and "last snapshot" in victim.message
    assert victim.snapshot() is not None  # what was learned up to the last snapshot is kept
    _wait(lambda: other.refresh() or not other.alive, "the other run to finish")
    assert other.state == RunState.DONE, other.message


def test_an_unreachable_scheduler_is_named_in_a_clear_message(monkeypatch):
    monkeypatch.setenv(cluster.SCHEDULER_ENV, "tcp://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2.0)
    cluster.shutdown()
    try:
        with pytest.raises(cluster.ClusterError, match=r"tcp://127\.0\.0\.1:9"):
            TrainingJob(CFG, dataset(100)).start()
    finally:
        cluster.shutdown()
