"""Background training jobs: slots and queueing, stop and resume, idle stop, errors."""

import threading
import time

import pytest

from model.text import format_duration
from model.training.config import TrainConfig
from tests.support.synthetic import dataset
from ui.charts import curve_frames
from ui.jobs import Foreground, Slots, TrainingJob
from ui.live_chart import BATCH_SERIES, SERIES_COLORS, curve_series
from ui.train_view import status_line

DS = dataset()
SMALL = TrainConfig(hidden=[16], epochs=3, batch_size=32, val_fraction=0.1)


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_job_trains_to_done_with_test_result():
    job = TrainingJob(SMALL, DS, slots=Slots(1)).start()
    job.join(30)
    assert job.state == "done"
    net, ev = job.result
    assert ev.accuracy > 0.5  # the blocks are easy; chance is 0.1
    assert net.meta["config"]["hidden"] == [16] and len(net.meta["history"]["epoch"]) == 3
    assert "Epoch 3/3" in status_line(job)


LONG = TrainConfig(hidden=[16], epochs=200, batch_size=8, val_fraction=0.0)  # runs until stopped


def stop_when(job: TrainingJob, cond) -> None:
    """Let the job train until cond() holds, then press Stop and wait for its thread to end."""
    wait_for(cond)
    job.stop()
    job.join(10)


def test_stop_keeps_weights_and_resume_finishes():
    job = TrainingJob(LONG, DS, slots=Slots(1)).start()
    stop_when(job, lambda: job.progress is not None and job.progress.seen > 200)
    assert job.state == "stopped" and job.resumable
    assert job.result is not None  # stopped runs are tested too, nothing lost
    seen = job.trainer.seen
    stop_when(job.start(), lambda: job.trainer.seen > seen + 100)
    assert job.trainer.seen > seen


def test_a_second_stop_does_not_cancel_the_next_resume():
    # One stop flag per run: a Stop pressed again after the run stopped is forgotten by Resume.
    job = TrainingJob(LONG, DS, slots=Slots(1)).start()
    stop_when(job, lambda: job.progress is not None and job.progress.seen > 200)
    assert job.state == "stopped"
    job.stop()  # the button pressed again, or a second tab's Stop
    steps = job.trainer.step
    stop_when(job.start(), lambda: job.trainer.step > steps + 10)
    assert job.state == "stopped" and job.trainer.step > steps


def test_stop_while_queued_leaves_the_queue():
    slots = Slots(1)
    cfg = TrainConfig(hidden=[16], epochs=500, batch_size=8, val_fraction=0.0)
    first, second = TrainingJob(cfg, DS, slots=slots).start(), TrainingJob(cfg, DS, slots=slots).start()
    wait_for(lambda: second.queue_position == 1)
    second.stop()
    second.join(10)
    assert second.state == "cancelled" and second.trainer is None and not second.alive
    first.stop()
    first.join(10)
    assert first.state == "stopped" and slots.running == 0


def test_slots_queue_fifo_and_report_position():
    slots = Slots(1)
    cfg = TrainConfig(hidden=[16], epochs=500, batch_size=8, val_fraction=0.0)
    jobs = [TrainingJob(cfg, DS, slots=slots).start() for _ in range(3)]
    wait_for(lambda: jobs[0].state == "running" and jobs[2].queue_position == 2)
    assert jobs[1].queue_position == 1 and jobs[1].state == "queued"
    assert "number 2 in the queue" in status_line(jobs[2])
    assert slots.running == 1
    jobs[0].stop()
    wait_for(lambda: jobs[1].state == "running")
    assert jobs[2].queue_position == 1
    for j in jobs:
        j.stop()
    for j in jobs:
        j.join(10)
    assert jobs[2].state == "cancelled" and slots.running == 0


def test_queue_order_is_request_order_not_thread_order():
    # Worker threads may reach acquire() in any order; the place is taken when asked.
    slots = Slots(1)
    for key in (1, 2, 3):
        slots.enqueue(key)
    got, done = [], threading.Event()

    def worker(key):
        assert slots.acquire(key, done.is_set)
        got.append(key)
        time.sleep(0.05)
        slots.release(key)

    threads = [threading.Thread(target=worker, args=(k,)) for k in (3, 2, 1)]
    for t in threads:
        t.start()
        time.sleep(0.05)  # 3 and 2 are waiting in acquire before 1 arrives
    for t in threads:
        t.join(10)
    assert got == [1, 2, 3]


def test_idle_job_stops_by_itself_and_frees_its_slot():
    slots = Slots(1)
    cfg = TrainConfig(hidden=[16], epochs=500, batch_size=8, val_fraction=0.0)
    job = TrainingJob(cfg, DS, slots=slots, idle_timeout=0.3).start()
    job.join(20)
    assert not job.alive and job.state == "stopped"
    assert "closed or idle" in job.message
    assert slots.running == 0


def test_exception_in_training_thread_is_reported(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("model.nn.network.MLP.loss_and_grad", boom)
    threads = threading.active_count()
    job = TrainingJob(SMALL, DS, slots=Slots(1)).start()
    job.join(20)
    assert job.state == "error" and "disk on fire" in job.message
    assert threading.active_count() <= threads


def test_invalid_config_is_refused_before_a_thread_starts():
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


def test_abandoned_sessions_leave_no_threads_behind():
    """20 sessions start trainings and vanish (no heartbeats): all stop, threads return to baseline."""
    baseline = threading.active_count()
    slots = Slots(2)
    cfg = TrainConfig(hidden=[16], epochs=500, batch_size=8, val_fraction=0.0)
    jobs = [TrainingJob(cfg, DS, slots=slots, idle_timeout=0.5).start() for _ in range(20)]
    peak = threading.active_count()
    for job in jobs:
        job.join(30)
    assert peak >= baseline + 20
    assert threading.active_count() == baseline
    assert {j.state for j in jobs} <= {"stopped", "cancelled"} and slots.running == 0


def test_training_threads_yield_the_cpu_to_interactive_work():
    cfg = TrainConfig(hidden=[16], epochs=500, batch_size=8, val_fraction=0.0)
    job = TrainingJob(cfg, DS, slots=Slots(1)).start()
    wait_for(lambda: job.state == "running")
    import os

    assert os.getpriority(os.PRIO_PROCESS, job._thread.native_id) == 10
    assert os.getpriority(os.PRIO_PROCESS, 0) == 0  # the server's own threads keep their priority
    job.stop()
    job.join(10)


def test_foreground_work_pauses_trainings_until_it_ends():
    fg = Foreground(max_pause=30.0)
    with fg.busy():
        waiter = threading.Thread(target=fg.wait_idle)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # a training thread waits while a prediction runs
    waiter.join(5)
    assert not waiter.is_alive() and fg.active == 0 and fg.paused_seconds >= 0.3


def test_foreground_pause_is_bounded_so_trainings_never_starve():
    fg = Foreground(max_pause=0.05, min_run=60.0)
    with fg.busy():
        t0 = time.monotonic()
        fg.wait_idle()  # runs out after max_pause
        first = time.monotonic() - t0
        fg.wait_idle()  # then no pause for min_run seconds
        second = time.monotonic() - t0 - first
    assert 0.04 <= first < 5 and second < 0.04


def test_foreground_keeps_trainings_paused_for_the_cooldown_after_the_work():
    fg = Foreground(max_pause=30.0, cooldown=0.3)
    with fg.busy():
        pass
    t0 = time.monotonic()
    fg.wait_idle()  # the answer is still being sent: wait out the cooldown
    waited = time.monotonic() - t0
    t1 = time.monotonic()
    fg.wait_idle()  # then nothing to wait for
    assert 0.25 <= waited < 10 and time.monotonic() - t1 < 0.05


def test_job_trains_through_busy_foreground_and_reports_pauses():
    fg = Foreground(max_pause=0.01, min_run=0.0)
    cfg = TrainConfig(hidden=[16], epochs=1, batch_size=64, val_fraction=0.0)
    with fg.busy():
        job = TrainingJob(cfg, DS, slots=Slots(1), foreground=fg).start()
        job.join(60)
    assert job.state == "done" and job.trainer.step == job.trainer.batches
    assert fg.paused_seconds >= 0.01 * (job.trainer.batches - 1)  # it did wait before each batch
