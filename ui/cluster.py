"""Where trainings run: a Dask cluster of worker processes, never the web server itself.

With nothing configured, the first training starts an embedded local cluster (a scheduler and
``LOCAL_WORKERS`` single-threaded worker processes, each its own Python with its own GIL and BLAS
threads). With ``FASHION_DASK_SCHEDULER=tcp://HOST:8786`` the app submits to that scheduler
instead, so a class can add training machines. One worker thread is one training slot.

``distributed.deploy.subprocess.SubprocessCluster`` is used rather than ``LocalCluster``:
LocalCluster's worker processes are spawned by multiprocessing, which re-imports the running
Streamlit page as ``__main__`` in every child; SubprocessCluster starts ``python -m dask spec``
processes that import only what a task needs.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from model.errors import FashionError

SCHEDULER_ENV = "FASHION_DASK_SCHEDULER"
LOCAL_WORKERS = 2  # training slots of the embedded cluster (this machine's 2 cores)
CONNECT_TIMEOUT = 10.0  # s to reach a configured scheduler and see a worker
START_TIMEOUT = 60.0  # s for the local cluster to start its workers (a busy machine is slow)
TASK_PREFIX = "train-"  # every training task's key starts with this

_lock = threading.Lock()
_client = None
_cluster = None


class ClusterError(FashionError):
    """The training cluster cannot be reached or started; the message names the address."""


def scheduler_address() -> str:
    """The configured scheduler address, '' for the embedded local cluster."""
    return os.environ.get(SCHEDULER_ENV, "").strip()


def _fifo_and_no_retry(dask_scheduler) -> None:
    """Scheduler settings the queue relies on (runs on the scheduler).

    Saturation 1.0: a single-threaded worker gets one training at a time, so the scheduler's own
    queue holds the waiting ones in submission order (the default 1.1 sends a second one to a busy
    worker, where nobody can see its place). No retries: a training whose worker died must not
    silently start again from scratch elsewhere; its user is told and keeps the last snapshot.
    """
    dask_scheduler.WORKER_SATURATION = 1.0
    dask_scheduler.allowed_failures = 0


def client():
    """The Dask client, connecting or starting the cluster on first use (thread-safe)."""
    global _client, _cluster
    with _lock:
        if _client is not None and _client.status == "running":
            return _client
        from distributed import Client

        address = scheduler_address()
        try:
            if address:
                _client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            else:
                from distributed.deploy.subprocess import SubprocessCluster

                _importable_by_workers()
                _worker_environment()
                _cluster = SubprocessCluster(
                    host="127.0.0.1",
                    n_workers=LOCAL_WORKERS,
                    threads_per_worker=1,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    # The scheduler ends with the web server, even a killed one (see dask_setup);
                    # its workers then end with it.
                    scheduler_kwargs={"preload": ["ui.cluster"]},
                )
                _client = Client(_cluster, set_as_default=False)
            _client.wait_for_workers(
                1 if address else LOCAL_WORKERS, timeout=CONNECT_TIMEOUT if address else START_TIMEOUT
            )
            _client.run_on_scheduler(_fifo_and_no_retry)
        except (OSError, TimeoutError, RuntimeError) as e:
            _client = None
            where = f"the Dask scheduler at {address} ({SCHEDULER_ENV})" if address else "the local training cluster"
            raise ClusterError(f"Training is unavailable: could not reach {where}: {e}") from e
        return _client


def warm_up() -> None:
    """Start connecting (or starting the local cluster) in the background, so Start is quick."""
    if _client is None:
        threading.Thread(target=_quietly_connect, name="dask-warm-up", daemon=True).start()


def _quietly_connect() -> None:
    try:
        client()
    except ClusterError:
        pass  # said again, clearly, when the user presses Start


def _importable_by_workers() -> None:
    """Workers unpickle tasks that name ``ui.jobs``: they must find this project whatever the cwd."""
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])


# What Dask's nanny sets in a worker before it starts (dask's own defaults but for malloc): one BLAS
# thread (a training raises it to its share of the cores, ui.jobs.share_cores), and glibc allowed to
# keep freed memory. Dask's MALLOC_TRIM_THRESHOLD_=65536 also pins glibc's mmap threshold at 128 kB,
# so every per-batch temporary of a training was a fresh mmap and page faults: 10-20% of an epoch.
WORKER_ENVIRON = {
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
    "MALLOC_TRIM_THRESHOLD_": 64 * 2**20,
    "MALLOC_MMAP_THRESHOLD_": 4 * 2**20,
}


def _worker_environment() -> None:
    """Hand WORKER_ENVIRON to the local cluster's nannies (they read Dask's config from the environment)."""
    os.environ["DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON"] = repr(WORKER_ENVIRON)


def slot_limit() -> int:
    """How many trainings run at once: one per worker thread in the cluster."""
    return max(1, sum(client().nthreads().values()))


def _training_queue(dask_scheduler) -> list[str]:
    """Keys of the waiting trainings in the order the scheduler will start them (runs on the scheduler)."""
    waiting = [ts for ts in dask_scheduler.queued.sorted() if str(ts.key).startswith(TASK_PREFIX)]
    waiting += [ts for ts in dask_scheduler.unrunnable if str(ts.key).startswith(TASK_PREFIX)]
    return [str(ts.key) for ts in waiting]


def queue_positions() -> dict[str, int]:
    """1-based place of every waiting training in the whole cluster's queue, by task key."""
    return {key: i + 1 for i, key in enumerate(client().run_on_scheduler(_training_queue))}


def shutdown() -> None:
    """Close the client and the embedded cluster (tests, server exit)."""
    global _client, _cluster
    with _lock:
        if _client is not None:
            _client.close()
        if _cluster is not None:
            _cluster.close()
        _client = _cluster = None


def dask_setup(scheduler) -> None:
    """Scheduler preload of the embedded cluster: close when the web server that started it is gone.

    Runs in the scheduler process, a child of the web server. A server stopped with Ctrl-C closes
    its cluster itself; a killed one cannot, and its children are handed to another parent: the
    scheduler checks every 2 s and closes, and its workers, losing it, close too.
    """
    from tornado.ioloop import PeriodicCallback

    parent = os.getppid()

    def check() -> None:
        if os.getppid() != parent:
            scheduler.loop.add_callback(scheduler.close)

    watch = scheduler.periodic_callbacks["fashion-parent-watch"] = PeriodicCallback(check, 2000)
    watch.start()
