"""Background training for the app: each run is a task on the Dask cluster (``ui.cluster``).

The web process only submits, watches and stops; it never trains and never holds training
arrays. A run's task (``train_task``) runs in a worker process: it loads the data there, builds a
``Trainer``, trains, and publishes its status (progress, curves) every ``STATUS_EVERY`` s and a
copy of its weights every ``SNAPSHOT_EVERY`` s through two Dask ``Variable``s; a Dask ``Event``
asks it to stop. A stopped run comes back as its trainer without data arrays, so Resume
continues bit-identically on any worker. The scheduler queues runs beyond its worker threads,
in submission order, for every user of the cluster; ``queue_position`` is the place in it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import weakref
from dataclasses import asdict
from pathlib import Path

from model.datasets.fashion_mnist import Dataset, load_fashion_mnist, resolve_data_dir
from model.errors import FashionError
from model.nn.network import MLP
from model.training.config import TrainConfig
from model.training.evaluation import Evaluation
from model.training.pipeline import finish
from model.training.trainer import Progress, RunState, Trainer
from ui import cluster

IDLE_TIMEOUT = 60.0  # s without a heartbeat from the page: the run stops itself (a closed tab)
STATUS_EVERY = 0.5  # s between status reports from a worker
SNAPSHOT_EVERY = 2.0  # s between weight snapshots: the live view's cadence
TRAINING_NICE = 10  # training processes yield the CPU to interactive work on the same machine

_datasets: dict[str, Dataset] = {}  # in a worker process: each folder loaded once, for every run
_watched: weakref.WeakSet[TrainingJob] = weakref.WeakSet()  # in the web process: runs to stop when idle
_watchdog_lock = threading.Lock()
_watchdog: threading.Thread | None = None


# ----- in the worker process ------------------------------------------------------------
def lower_priority() -> None:
    """Nice every thread of this process, BLAS threads included (Linux nices each thread).

    Not the idle scheduling class: measured 2026-12-02, it did not bring the prediction latency
    down, and with two BLAS threads each small demand for CPU stalled the whole matmul (the app
    trained 1.5x slower than the CLI instead of 1.3x).
    """
    try:
        for tid in os.listdir("/proc/self/task"):
            if os.getpriority(os.PRIO_PROCESS, int(tid)) < TRAINING_NICE:
                os.setpriority(os.PRIO_PROCESS, int(tid), TRAINING_NICE)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: train at normal priority


def blas_threads(trainings_here: int, cores: int) -> int:
    """BLAS threads for one training: the machine's cores shared among the trainings running on it.

    A lone training gets every core (as the CLI has), two on a 2-core machine one each. Dask's
    nanny starts workers with one BLAS thread; threadpoolctl raises it from the task.
    """
    return max(1, cores // max(1, trainings_here))


def _trainings_here() -> int:
    """Training tasks running right now on this worker's machine (this one included), per the scheduler."""
    from distributed import get_client, get_worker

    host = get_worker().address.rsplit(":", 1)[0]
    running = get_client().processing()  # {worker address: [task keys]}
    return max(
        1,
        sum(
            1
            for address, keys in running.items()
            if address.rsplit(":", 1)[0] == host
            for key in keys
            if str(key).startswith(cluster.TASK_PREFIX)
        ),
    )


def share_cores() -> int:
    """Set this process's BLAS threads for the trainings now running on its machine; the count set."""
    from threadpoolctl import threadpool_limits

    try:
        n = blas_threads(_trainings_here(), os.cpu_count() or 1)
    except (OSError, ValueError, TimeoutError):  # the scheduler did not answer: keep what there is
        return 0
    threadpool_limits(limits=n, user_api="blas")
    return n


def _dataset(source: Dataset | str | None) -> Dataset:
    """The run's data: given, or loaded from a folder of this machine (None: its default folder)."""
    if isinstance(source, Dataset):
        return source
    folder = str(resolve_data_dir(source))
    if folder not in _datasets:
        _datasets[folder] = load_fashion_mnist(folder, download=False)
    return _datasets[folder]


def _released(key: str) -> bool:
    """True when nobody waits for this task any more (the web server that asked went away)."""
    from distributed import get_worker

    task = get_worker().state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released", "forgotten")


def train_task(key: str, cfg: TrainConfig, source: Dataset | str | None, trainer: Trainer | None, command: str) -> dict:
    """Run (or resume) one training in a worker; returns its outcome for ``TrainingJob._collect``."""
    from distributed import Event, Variable

    from model.training.diagnostics import DiagnosticsHistory, measure, probe_indices

    lower_priority()
    status, weights, stop = Variable(f"status-{key}"), Variable(f"weights-{key}"), Event(f"stop-{key}")

    def report(state: RunState, p: Progress | None, rendered: tuple[int, int] | None = None) -> None:
        status.set(
            {
                "state": str(state),
                "progress": asdict(p) if p else None,
                "history": trainer.history.to_dict() if trainer else {},
                "warnings": list(trainer.warnings) if trainer else [],
                "per_epoch": trainer.n if trainer else 0,
                "pid": os.getpid(),
                "snapshots": snapshots,  # weights published so far: readers fetch them only when new
                "inside": inside.to_dict(),  # gradient norms, dead/saturated units over the run (ui.inside)
                "rendered": rendered,  # (done, total) drawings rendered before the run (cfg.drawings)
                "blas_threads": threads,  # BLAS threads it trains with now (share_cores)
            }
        )

    snapshots, inside = 0, DiagnosticsHistory()
    threads = share_cores()
    # A resumed run keeps showing where it stopped while its data is prepared again (not a reset bar).
    resumed_at = trainer.latest if trainer is not None else None
    report(RunState.PREPARING, resumed_at)
    ds = _dataset(source)

    def rendering(done: int, total: int) -> None:
        report(RunState.PREPARING, resumed_at, (done, total))

    if trainer is None:
        trainer = Trainer(cfg, ds.x_train, ds.y_train, on_render=rendering)
    else:
        trainer.on_render = rendering
        trainer.attach_data(ds.x_train, ds.y_train)
    trainer.snapshot_every = SNAPSHOT_EVERY
    trainer.stop_flag.clear()  # a stop that ended the previous leg was consumed there
    # Readings inside the network at the snapshot cadence, on a fixed batch of training images; kept
    # on the trainer, which travels between legs, so a resumed run continues its history.
    inside = trainer.inside = getattr(trainer, "inside", None) or DiagnosticsHistory()
    probe = probe_indices(ds.y_train)
    probe_x, probe_y = ds.x_train[probe], ds.y_train[probe]
    last_status = last_weights = last_reading = 0.0
    for p in trainer.iter_run():
        now = time.monotonic()
        if now - last_weights >= SNAPSHOT_EVERY or p.event != "batch":
            weights.set(trainer.snapshot())  # before the status that counts it
            snapshots += 1
            last_weights = now
        if now - last_reading >= SNAPSHOT_EVERY or p.event not in ("batch", "epoch"):  # not every short epoch
            inside.add(trainer.seen / trainer.n, measure(trainer.net, probe_x, probe_y))
            last_reading = now
        if p.event == "epoch":  # another training may have started or ended on this machine
            threads = share_cores() or threads
        if now - last_status >= STATUS_EVERY or p.event != "batch":
            report(trainer.status, p)
            last_status = now
            if stop.is_set() or _released(key):
                trainer.stop()
    result = finish(trainer, ds, command) if trainer.history.epoch or trainer.step else None
    trainer.release_data()
    return {"trainer": trainer, "result": result, "state": str(trainer.status), "message": trainer.message}


# ----- in the web process ---------------------------------------------------------------
def default_source() -> str | None:
    """The data the app's runs train on: this machine's folder for the local cluster; on a real
    cluster (None) each worker reads its own ``FASHION_MNIST_DIR`` or default folder."""
    return None if cluster.scheduler_address() else str(resolve_data_dir())


class TrainingJob:
    """One user's run, trained on the cluster; the page reads it at its own refresh cadence.

    ``source`` is the data: a folder (a local cluster's workers read it), None (each worker
    reads its own default folder: a real cluster) or a ``Dataset`` sent along (small test sets).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        source: Dataset | str | Path | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        command: str = "",
    ):
        self.cfg = cfg.validate()
        self.source = source if source is None or isinstance(source, Dataset) else str(source)
        self.idle_timeout = idle_timeout
        self.command = command
        self.state = RunState.READY
        self.message = ""
        self.progress: Progress | None = None
        self.history: dict = {}
        self.warnings: list[str] = []
        self.inside: dict = {}  # readings inside the network over the run (ui.inside), once it reports
        self.per_epoch = 0  # training images per epoch, known once the run reports
        self.worker_pid = 0  # the worker process training it, once it reports
        self.rendered: tuple[int, int] | None = None  # drawings rendered so far while preparing
        self.blas_threads = 0  # BLAS threads its worker trains with, once it reports
        self.result: tuple[MLP, Evaluation] | None = None
        self._trainer: Trainer | None = None  # a stopped run, without data, for Resume
        self._snapshot: MLP | None = None
        self._snapshots_read = 0  # the worker's snapshot count when the weights were last fetched
        self._future = None
        self._key = ""
        self._last_seen = time.monotonic()
        self._lock = threading.Lock()

    # ----- control from the page --------------------------------------------------------
    def start(self) -> TrainingJob:
        """Submit the run (or resume a stopped one); ClusterError says why when there is no cluster."""
        if self.alive:
            return self
        from dask._task_spec import Task

        client = cluster.client()
        self._key = f"{cluster.TASK_PREFIX}{uuid.uuid4().hex}"
        self.result, self.message = None, ""
        # Marked as a data producer so the scheduler queues it (in order) until a worker is free,
        # instead of piling it onto a busy worker where nobody could see its place.
        task = Task(
            self._key, train_task, self._key, self.cfg, self.source, self._trainer, self.command, _data_producer=True
        )
        self._future = client.get({self._key: task}, self._key, sync=False)
        self._snapshots_read = 0
        self.state = RunState.QUEUED
        self.heartbeat()
        _watch(self)
        return self

    def stop(self) -> None:
        """Stop after the current batch, or leave the queue; what was learned is kept."""
        future = self._future
        if future is None or future.done():
            return
        from distributed import Event

        if self.state == RunState.QUEUED:
            future.cancel()
        Event(f"stop-{self._key}", client=cluster.client()).set()

    def heartbeat(self) -> None:
        """Called by the page while it is open; a run not heard from for idle_timeout s stops."""
        self._last_seen = time.monotonic()
        self.refresh()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the run has ended (or timeout s), reading its reports meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)
            self.refresh()

    @property
    def alive(self) -> bool:
        """True while the run is queued or training (an ended run is collected on the way)."""
        if self._future is not None and self._future.done():
            self.refresh()
        return self._future is not None

    @property
    def resumable(self) -> bool:
        return self.state == RunState.STOPPED and self._trainer is not None and not self._trainer.finished

    @property
    def queue_position(self) -> int:
        """1-based place in the whole cluster's queue; 0 once it runs."""
        if self.state != RunState.QUEUED or not self.alive:
            return 0
        return cluster.queue_positions().get(self._key, 0)

    @property
    def slot_limit(self) -> int:
        """How many trainings the cluster runs at once."""
        return cluster.slot_limit()

    def snapshot(self) -> MLP | None:
        """The latest weights the run published (None before its first)."""
        self.refresh()
        return self._snapshot

    # ----- reading the worker's reports --------------------------------------------------
    def stop_if_idle(self) -> None:
        """Stop a run whose page has not been heard from for idle_timeout s (a closed tab)."""
        if self._future is not None and time.monotonic() - self._last_seen > self.idle_timeout:
            self.message = "Stopped: the page was closed or idle."
            self.stop()

    def refresh(self) -> None:
        """Read the run's latest status and weights; take its outcome once it ended."""
        with self._lock:  # the page and the sidebar may refresh at once
            if self._future is None:
                return
            done = self._future.done()  # before reading, so the last report is read after the end
            self._read_reports()
            if done:
                self._collect()

    def _read_reports(self) -> None:
        from distributed import Variable

        client = cluster.client()
        try:
            status = Variable(f"status-{self._key}", client=client).get(timeout=0)
        except TimeoutError:
            return  # nothing reported yet: still queued
        self.state = RunState(status["state"])
        self.progress = Progress(**status["progress"]) if status["progress"] else None
        # Lists come back as tuples through the scheduler (msgpack); the page and the charts want lists.
        self.history = {name: list(values) for name, values in status["history"].items()}
        self.warnings = list(status["warnings"])
        self.per_epoch, self.worker_pid = status["per_epoch"], status["pid"]
        self.rendered = status.get("rendered")
        self.blas_threads = status.get("blas_threads", 0)
        self.inside = status.get("inside", {})  # readings inside the network, for ui.inside
        if status["snapshots"] != self._snapshots_read:  # new weights: about 2 MB for the best recipe
            try:
                self._snapshot = Variable(f"weights-{self._key}", client=client).get(timeout=0)
                self._snapshots_read = status["snapshots"]
            except TimeoutError:
                pass

    def _collect(self) -> None:
        """The run's task ended: take its outcome, or say why there is none."""
        from distributed import Variable

        future, self._future = self._future, None
        if future.cancelled():
            self.state = RunState.STOPPED if self._trainer is not None else RunState.CANCELLED
            self.message = self.message or "Left the queue before training started."
        else:
            try:
                outcome = future.result()
            except FashionError as e:
                self.state, self.message = RunState.ERROR, str(e)
            except Exception as e:  # noqa: BLE001 - a worker died or the task broke: this user is told, the app goes on
                self.state, self.message = RunState.ERROR, self._failure(e)
            else:
                self._trainer, self.result = outcome["trainer"], outcome["result"]
                self.state = RunState(outcome["state"])
                if not (self.state == RunState.STOPPED and self.message):
                    self.message = outcome["message"]
                if self.result is not None:
                    self._snapshot = self.result[0]
        client = cluster.client()
        for name in ("status", "weights"):
            Variable(f"{name}-{self._key}", client=client).delete()

    def _failure(self, error: Exception) -> str:
        kept = (
            " The weights of its last snapshot are kept: save or download them below."
            if self._snapshot is not None
            else ""
        )
        if type(error).__name__ == "KilledWorker":
            return f"The worker process training this run stopped unexpectedly (killed, or out of memory).{kept}"
        return f"Training failed: {type(error).__name__}: {error}.{kept}"


def _watch(job: TrainingJob) -> None:
    """Have the watchdog thread stop this run if its page goes quiet (nobody else would)."""
    global _watchdog
    _watched.add(job)
    with _watchdog_lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch_loop, name="training-watchdog", daemon=True)
            _watchdog.start()


def _watch_loop() -> None:
    while True:
        time.sleep(0.25)
        for job in list(_watched):
            job.stop_if_idle()
