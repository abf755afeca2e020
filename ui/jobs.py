"""Background training jobs for an interactive app: slots, queueing, idle stop.

A ``TrainingJob`` owns one ``Trainer`` on its own thread. At most ``Slots.limit`` jobs
train at once across the process; the rest wait in FIFO order and can say where they
are in the queue. The UI calls ``heartbeat()`` while the page is open; a job not
heard from for ``idle_timeout`` seconds stops itself, so a closed tab frees its slot.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from model.datasets.fashion_mnist import Dataset
from model.errors import FashionError
from model.nn.network import MLP
from model.training.config import TrainConfig
from model.training.evaluation import Evaluation
from model.training.pipeline import finish
from model.training.trainer import Progress, RunState, StopFlag, Trainer

IDLE_TIMEOUT = 60.0


class Slots:
    """A FIFO-fair counting semaphore that can report queue positions."""

    def __init__(self, limit: int = 2):
        self.limit = limit
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._queue: list[int] = []

    def enqueue(self, key: int) -> None:
        """Take a place in the queue now, so the order is the order of the requests.

        Called from the requesting thread: the worker threads may reach ``acquire`` in any order.
        """
        with self._cond:
            if key not in self._queue and key not in self._running:
                self._queue.append(key)

    def acquire(self, key: int, cancelled: Callable[[], bool]) -> bool:
        """Block until ``key`` may run (True) or ``cancelled()`` becomes true (False)."""
        with self._cond:  # a re-entrant lock: enqueue() takes it again
            self.enqueue(key)  # no-op when start() already queued it
            try:
                while not cancelled():
                    if len(self._running) < self.limit and self._queue[0] == key:
                        self._running.add(key)
                        _share_cores(len(self._running))
                        return True
                    self._cond.wait(0.2)
                return False
            finally:
                self._queue.remove(key)
                self._cond.notify_all()

    def release(self, key: int) -> None:
        with self._cond:
            self._running.discard(key)
            _share_cores(len(self._running))
            self._cond.notify_all()

    def position(self, key: int) -> int:
        """1-based place in the queue, 0 when not queued."""
        with self._cond:
            return self._queue.index(key) + 1 if key in self._queue else 0

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)


def _share_cores(running: int) -> None:
    """Give each running training an equal share of the BLAS threads.

    BLAS thread pools are process-wide: two trainings each asking for every core make their
    threads spin against each other (and against predictions), and all of them crawl.
    """
    threadpool_limits(limits=max(1, (os.cpu_count() or 1) // max(running, 1)), user_api="blas")


def _lower_priority() -> None:
    """Let clicks and drawings go first: this training thread yields the CPU to interactive work.

    Linux applies a nice value per thread (to its native id); elsewhere this does nothing.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)
    except (AttributeError, OSError):
        pass


class Foreground:
    """Interactive work in progress (a prediction being made for someone): trainings pause for it.

    Training threads run at a low priority but still take Python's GIL; when the OS parks such a
    thread while it holds the GIL, a prediction waits for it (priority inversion). So trainings
    wait between batches while any interactive work runs and for ``cooldown`` s after it (the
    server still sends the answer then), at most ``max_pause`` s at a time; after a pause that
    ran out they train for ``min_run`` s before pausing again, so a busy classroom slows
    trainings down but never stops them.
    """

    def __init__(self, max_pause: float = 0.25, min_run: float = 0.05, cooldown: float = 0.0):
        self.max_pause, self.min_run, self.cooldown = max_pause, min_run, cooldown
        self._active = 0
        self._quiet_from = 0.0  # monotonic time when the last interactive work's cooldown ends
        self._cond = threading.Condition()
        self._run_until = threading.local()  # per training thread: no pause before this time
        self.paused_seconds = 0.0  # total, for reports

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark a block of interactive work; trainings pause at their next batch."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._quiet_from = max(self._quiet_from, time.monotonic() + self.cooldown)
                self._cond.notify_all()

    @property
    def active(self) -> int:
        return self._active

    def _wait_for(self, now: float) -> float:
        """Seconds until trainings may go on (0: now); inf while interactive work runs."""
        return math.inf if self._active else max(0.0, self._quiet_from - now)

    def wait_idle(self) -> None:
        """Called by a training thread before each batch: wait while interactive work runs."""
        start = time.monotonic()
        if self._wait_for(start) == 0 or start < getattr(self._run_until, "t", 0.0):
            return
        deadline = start + self.max_pause
        with self._cond:
            while (now := time.monotonic()) < deadline and (left := self._wait_for(now)) > 0:
                self._cond.wait(min(left, deadline - now))
            end = time.monotonic()
            idle = self._wait_for(end) == 0
            self.paused_seconds += end - start
        if not idle:
            self._run_until.t = end + self.min_run


TRAINING_NICE = 10
SLOTS = Slots(2)
FOREGROUND = Foreground(cooldown=0.3)


class TrainingJob:
    """One training run on a background thread; every public method is thread-safe."""

    def __init__(
        self,
        cfg: TrainConfig,
        dataset: Dataset,
        slots: Slots = SLOTS,
        idle_timeout: float = IDLE_TIMEOUT,
        command: str = "",
        foreground: Foreground | None = FOREGROUND,
    ):
        self.cfg = cfg.validate()
        self.dataset = dataset
        self.slots = slots
        self.idle_timeout = idle_timeout
        self.command = command
        self.foreground = foreground
        self.state = RunState.READY
        self.message = ""
        self.trainer: Trainer | None = None
        self.progress: Progress | None = None
        self.result: tuple[MLP, Evaluation] | None = None
        # The run's one stop flag: made here so a queued job can be stopped, handed to its Trainer.
        self.stop_flag = StopFlag()
        self._last_seen = time.monotonic()
        self._thread: threading.Thread | None = None
        self._key = id(self)

    # ----- control from the UI --------------------------------------------------
    def start(self) -> TrainingJob:
        """Start (or resume after a stop) on a new daemon thread."""
        if self.alive:
            return self
        self.stop_flag.clear()  # a Stop pressed after the last run ended must not stop this one
        self.result = None
        self.heartbeat()
        self.state = RunState.QUEUED
        self.slots.enqueue(self._key)
        self._thread = threading.Thread(target=self._run, name=f"train-{self._key}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current batch (or leave the queue); what was learned is kept."""
        self.stop_flag.set()

    def heartbeat(self) -> None:
        """Called by the page while it is open."""
        self._last_seen = time.monotonic()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queue_position(self) -> int:
        return self.slots.position(self._key)

    @property
    def resumable(self) -> bool:
        return self.state == RunState.STOPPED and self.trainer is not None and not self.trainer.finished

    def snapshot(self) -> MLP | None:
        """The network as it is right now (None before training starts)."""
        return self.trainer.snapshot() if self.trainer is not None else None

    # ----- the thread -------------------------------------------------------------
    def _idle(self) -> bool:
        return time.monotonic() - self._last_seen > self.idle_timeout

    def _cancelled(self) -> bool:
        """True once a stop was asked for; asks for one when the page has gone quiet."""
        if self._idle() and not self.stop_flag.requested:
            self.stop_flag.set()
            self.message = "Stopped: the page was closed or idle."
        return self.stop_flag.requested

    def _run(self) -> None:
        _lower_priority()
        if not self.slots.acquire(self._key, self._cancelled):
            self.state = RunState.STOPPED if self.trainer is not None else RunState.CANCELLED
            self.message = self.message or "Left the queue before training started."
            return
        try:
            if self.trainer is None:
                self.state = RunState.PREPARING
                x, y = self.dataset.x_train, self.dataset.y_train
                self.trainer = Trainer(self.cfg, x, y, stop_flag=self.stop_flag)
                if self.foreground is not None:
                    self.trainer.between_batches = self.foreground.wait_idle
            self.state = RunState.RUNNING
            for p in self.trainer.iter_run():
                self.progress = p
                if self.trainer.status == RunState.RUNNING:
                    self._cancelled()  # asks the trainer to stop when the page has gone quiet
            self.state = self.trainer.status
            self.message = self.message if self.state == RunState.STOPPED and self.message else self.trainer.message
            if self.trainer.history.epoch or self.trainer.step:
                self.result = finish(self.trainer, self.dataset, self.command)
        except FashionError as e:
            self.state, self.message = RunState.ERROR, str(e)
        except Exception as e:  # noqa: BLE001 - shown to this user; the server carries on
            self.state, self.message = RunState.ERROR, f"Training failed: {type(e).__name__}: {e}"
        finally:
            self.slots.release(self._key)
