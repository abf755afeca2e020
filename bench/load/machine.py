"""The machine during a load run, read from Linux's /proc: the server's memory, threads and CPU.

Also two short looks before the run starts (what other processes use, how fast the machine is now),
so reports from different runs can be compared fairly.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime ticks) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    parts = text[text.rindex(")") + 2 :].split()
    return int(parts[1]), int(parts[11]) + int(parts[12])


def _status(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _process_table() -> dict[int, tuple[int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                table[int(entry)] = st
    return table


def _tree(root: int, table: dict[int, tuple[int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in out:
            out.add(pid)
            todo.extend(children.get(pid, []))
    return out


def _cpu_total() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(vals[:8])
    return total - vals[3] - vals[4], total


class ProcSampler(threading.Thread):
    """Every `interval` s: the web server's RSS, threads and CPU ticks, and those of its child processes.

    The web process is measured alone: since trainings run on Dask, its children are the embedded
    scheduler and training workers, whose CPU and memory are reported apart as "workers".
    """

    def __init__(self, server_pid: int | None, interval: float = 0.5):
        super().__init__(name="proc-sampler", daemon=True)
        self.server_pid = server_pid
        self.interval = interval
        self.rows: list[dict] = []
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> dict:
        table = _process_table()
        tree = _tree(self.server_pid, table) if self.server_pid else set()
        server = tree & {self.server_pid}
        workers = tree - server
        client = _tree(os.getpid(), table) - tree
        busy, total = _cpu_total()
        return {
            "t": time.perf_counter(),
            "rss_kb": sum(_status(p, "VmRSS") for p in server),
            "worker_rss_kb": sum(_status(p, "VmRSS") for p in workers),
            "threads": _status(self.server_pid, "Threads") if self.server_pid else 0,
            "server_ticks": sum(table[p][1] for p in server),
            "worker_ticks": sum(table[p][1] for p in workers),
            "client_ticks": sum(table[p][1] for p in client),
            "busy": busy,
            "total": total,
        }

    def run(self) -> None:
        while not self._halt.is_set():
            row = self.sample()
            with self.lock:
                self.rows.append(row)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def last(self) -> dict | None:
        with self.lock:
            return self.rows[-1] if self.rows else None

    def window(self, t0: float, t1: float) -> list[dict]:
        with self.lock:
            return [r for r in self.rows if t0 <= r["t"] <= t1]


def cpu_usage(rows: list[dict]) -> dict | None:
    """CPU in % of one core over a window of sampler rows: server, its workers, client (browser), others, machine."""
    if len(rows) < 2:
        return None
    a, b = rows[0], rows[-1]
    dt = b["t"] - a["t"]
    if dt <= 0:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    server = (b["server_ticks"] - a["server_ticks"]) / hz / dt * 100
    workers = (b["worker_ticks"] - a["worker_ticks"]) / hz / dt * 100
    client = (b["client_ticks"] - a["client_ticks"]) / hz / dt * 100
    machine = (b["busy"] - a["busy"]) / max(b["total"] - a["total"], 1) * 100 * ncpu
    return {
        "server": round(server),
        "workers": round(workers),
        "browser_and_driver": round(client),
        "others": round(max(machine - server - workers - client, 0)),
        "machine": round(machine),
        "cores": ncpu,
    }


def others_cpu(seconds: float = 2.0) -> int:
    """% of one core used by every process on the machine during a short look (before we start)."""
    b0, t0 = _cpu_total()
    time.sleep(seconds)
    b1, t1 = _cpu_total()
    return round((b1 - b0) / max(t1 - t0, 1) * 100 * (os.cpu_count() or 1))


def speed_probe() -> dict:
    """How fast this machine is right now: the same small workloads every run (lower is faster).

    Shared virtual machines change speed by tens of percent within an hour, and latency under load
    moves far more than that; this lets two reports be compared fairly.
    """
    import numpy as np

    a = np.random.default_rng(0).standard_normal((384, 384), dtype=np.float32)
    t0 = time.perf_counter()
    for _ in range(40):
        a @ a
    t1 = time.perf_counter()
    sum(i * i for i in range(2_000_000))  # the interpreter alone, as a Streamlit server spends most of its time
    t2 = time.perf_counter()
    return {"matmul_ms": round((t1 - t0) * 1000), "python_ms": round((t2 - t1) * 1000)}
