"""Background training on the embedded Dask cluster: runs, stop/resume, queue, idle stop, errors.

The cluster (a scheduler and two single-threaded worker processes) starts once for this module;
the data is the small synthetic set, sent along with each run.
"""

import os
import time

import numpy as np
import pytest

from model.text import format_duration
from model.training.config import TrainConfig
from model.training.trainer import RunState
from tests.support.synthetic import dataset
from ui import cluster
from ui.charts import curve_frames
from ui.jobs import TrainingJob
from ui.live_chart import BATCH_SERIES, SERIES_COLORS, curve_series
from ui.train_view import status_line

DS = dataset()
SMALL = TrainConfig(hidden=[16], epochs=3, batch_size=32, val_fraction=0.1)
LONG = TrainConfig(hidden=[16], epochs=300, batch_size=8, val_fraction=0.0)  # runs until stopped


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    os.environ.pop(cluster.SCHEDULER_ENV, None)
    cluster.shutdown()
    cluster.client()
    yield
    cluster.shutdown()


def wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def finish(job: TrainingJob, timeout=60.0) -> TrainingJob:
    wait_for(lambda: job.heartbeat() or not job.alive, timeout)
    return job


def stop_when(job: TrainingJob, cond) -> None:
    """Let the job train until cond() holds, then press Stop and wait for the run to end."""
    wait_for(lambda: job.heartbeat() or cond())
    job.stop()
    finish(job)


def test_job_trains_to_done_with_test_result():
    job = finish(TrainingJob(SMALL, DS).start())
    assert job.state == "done", job.message
    net, ev = job.result
    assert ev.accuracy > 0.5  # the blocks are easy; chance is 0.1
    assert net.meta["config"]["hidden"] == [16] and len(net.meta["history"]["epoch"]) == 3
    assert job.history["epoch"] == [1, 2, 3] and job.per_epoch == len(DS.y_train) - round(0.1 * len(DS.y_train))
    assert "Epoch 3/3" in status_line(job)
    assert job.worker_pid not in (0, os.getpid())  # trained in a worker process, not here
    assert job.blas_threads == os.cpu_count()  # alone on the machine: every core, as the CLI


def test_trainings_share_the_machines_cores():
    from ui.jobs import blas_threads

    assert [blas_threads(n, 2) for n in (0, 1, 2, 3)] == [2, 2, 1, 1]
    assert [blas_threads(n, 8) for n in (1, 2, 3, 8, 9)] == [8, 4, 2, 1, 1]


def test_stop_keeps_weights_and_resume_continues_bit_identically():
    cfg = TrainConfig(hidden=[16], epochs=40, batch_size=16, val_fraction=0.1, dropout=0.2, seed=3)
    reference = finish(TrainingJob(cfg, DS).start())
    job = TrainingJob(cfg, DS).start()
    stop_when(job, lambda: job.progress is not None and job.progress.seen > 2000)
    assert job.state == "stopped" and job.resumable, job.message
    assert job.result is not None  # stopped runs are tested too, nothing lost
    seen = job.progress.seen
    finish(job.start())
    assert job.state == "done" and job.progress.seen > seen
    assert np.array_equal(job.result[0].params, reference.result[0].params)
    assert job.history["val_loss"] == reference.history["val_loss"]


def test_a_second_stop_does_not_cancel_the_next_resume():
    job = TrainingJob(LONG, DS).start()
    stop_when(job, lambda: job.progress is not None and job.progress.seen > 200)
    assert job.state == "stopped"
    job.stop()  # the button pressed again, or a second tab's Stop
    seen = job.progress.seen
    stop_when(job.start(), lambda: job.progress.seen > seen + 500)
    assert job.state == "stopped" and job.progress.seen > seen + 500


def test_queue_in_order_with_true_places_and_stop_while_queued():
    jobs = [TrainingJob(LONG, DS).start() for _ in range(4)]
    wait_for(lambda: all(j.heartbeat() or j.state == RunState.RUNNING for j in jobs[:2]))
    assert [j.queue_position for j in jobs] == [0, 0, 1, 2]
    assert "number 2 in the queue" in status_line(jobs[3]) and "2 trainings run at once" in status_line(jobs[3])
    jobs[2].stop()  # leaves the queue: the last one moves up
    finish(jobs[2])
    assert jobs[2].state == "cancelled" and not jobs[2].resumable
    wait_for(lambda: jobs[3].queue_position == 1)
    jobs[0].stop()
    wait_for(lambda: jobs[3].heartbeat() or jobs[3].state == RunState.RUNNING)
    for j in jobs:
        j.stop()
    for j in jobs:
        finish(j)
    assert [j.state for j in jobs] == ["stopped", "stopped", "cancelled", "stopped"]


def test_just_out_of_the_queue_is_not_number_0():
    job = TrainingJob(SMALL, DS)
    job.state = RunState.QUEUED  # submitted, out of the queue, no report yet
    assert "number 0" not in status_line(job) and "Starting" in status_line(job)


def test_idle_job_stops_by_itself():
    job = TrainingJob(LONG, DS, idle_timeout=1.0).start()
    wait_for(lambda: job.refresh() or not job.alive)
    assert job.state in ("stopped", "cancelled") and "closed or idle" in job.message


def test_abandoned_sessions_all_stop_and_free_the_workers():
    """Ten sessions start runs and vanish (no heartbeats): every run stops, queued ones leave the queue."""
    jobs = [TrainingJob(LONG, DS, idle_timeout=1.0).start() for _ in range(10)]
    wait_for(lambda: all(j.refresh() or not j.alive for j in jobs), 90)
    assert {j.state for j in jobs} <= {"stopped", "cancelled"}
    assert cluster.queue_positions() == {}
    fresh = finish(TrainingJob(SMALL, DS).start())  # the workers are free again
    assert fresh.state == "done"


def test_a_run_whose_worker_cannot_read_the_data_says_why(tmp_path):
    job = finish(TrainingJob(SMALL, tmp_path / "no-data").start())
    assert job.state == "error" and "no-data" in job.message and job.result is None


def test_invalid_config_is_refused_before_anything_is_submitted():
    with pytest.raises(Exception, match="lr"):
        TrainingJob(TrainConfig(lr=-1), DS)


def test_view_helpers():
    assert format_duration(75.4) == "1:15" and format_duration(-3) == "0:00"
    assert format_duration(3725) == "1:02:05"  # the CLI and the Train page say it the same way


def test_curve_frames_hold_the_live_views_lines():
    history = {
        "epoch": [1, 2],
        "train_loss": [1.0, 0.5],
        "val_loss": [1.2, float("nan")],
        "train_acc": [0.6, 0.8],
        "val_acc": [0.55, None],
        "batch_seen": [100, 200, 300],
        "batch_loss": [2.0, 1.5],  # one shorter: pairs stop at the shorter list
    }
    loss, acc = curve_frames(curve_series(history, per_epoch=200))
    rows = set(map(tuple, loss.itertuples(index=False)))
    assert rows == {
        (1, "train", 1.0), (2, "train", 0.5), (1, "validation", 1.2),  # the NaN validation loss is left out
        (0.5, BATCH_SERIES, 2.0), (1.0, BATCH_SERIES, 1.5),  # images seen / images per epoch
    }  # fmt: skip
    assert set(map(tuple, acc.itertuples(index=False))) == {
        (1, "train", 0.6),
        (2, "train", 0.8),
        (1, "validation", 0.55),
    }
    assert set(acc["series"]) <= set(SERIES_COLORS) and set(loss["series"]) <= set(SERIES_COLORS)
    loss_only_epochs, _ = curve_frames(
        curve_series(history, per_epoch=None)
    )  # no images-per-epoch figure: no per-batch line
    assert BATCH_SERIES not in set(loss_only_epochs["series"]) and len(loss_only_epochs) == 3
    empty_loss, empty_acc = curve_frames(curve_series({}, per_epoch=None))
    assert empty_loss.empty and empty_acc.empty and list(empty_loss.columns) == ["epoch", "series", "value"]


def test_training_threads_are_niced():
    """In a process of its own (it renices every thread of its process): what a worker does before training."""
    import subprocess
    import sys

    code = (
        "import os, threading\n"
        "from ui.jobs import TRAINING_NICE, lower_priority\n"
        "lower_priority()\n"
        "me = threading.get_native_id()\n"
        "print(os.sched_getscheduler(me) == os.SCHED_OTHER, os.getpriority(os.PRIO_PROCESS, me) >= TRAINING_NICE)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "True"]
