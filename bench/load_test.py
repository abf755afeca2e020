"""Load test: many browser sessions on one `streamlit run app.py`, while trainings run.

Usage:
    python bench/load_test.py [--sessions 8] [--trainers 2] [--duration 90] [--port P | --url URL]
                              [--train-epochs N] [--train-subset N] [--idle-wait S] [--seed S]
                              [--snapshot] [--json]

What it does (one process, Playwright's async API, ONE Debian chromium, one browser context per
Streamlit session; never `playwright install`; only 127.0.0.1 traffic):
  1. starts the app on a free port (or --port; or uses --url of a running server, with
     --server-pid for the memory and thread figures) with the real Fashion-MNIST
     ($FASHION_MNIST_DIR, else /work/shared/data/fashion-mnist) and a temporary $FASHION_MODELS_DIR;
     OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS in the environment reach the server;
  2. --trainers sessions open /Train and start a training (fast preset, all 60,000 images, enough
     epochs to outlast the test); with trainers >= 2 (the server's slot limit) one extra
     "queue checker" session presses Start while they run, must be told "Waiting for a free
     training slot: you are number 1 in the queue", then presses Stop (leaves the queue) and closes;
  3. the other sessions (--sessions minus --trainers) loop for --duration seconds on /Predict:
     draw a randomized garment stroke on the canvas (plus strokes that grow the drawing, then the
     bin to start over) and upload varied PNG/JPEG images made with Pillow, timing each from the
     mouse-up (or the file input's change event) to the new prediction on screen: the answer for the
     new input with its pictures decoded and a "Prediction" that tops the probability bars, with
     no stale element left in the tab;
  4. records errors (Streamlit exception boxes, page errors and crashes, console errors, HTTP
     errors, timeouts; "stale-ui" when the page settles in an inconsistent state: the previous
     prediction left under the empty-canvas hint, or a chart that disagrees with the metric, for
     10 s; "stalled" when a training's live progress line stands still for 30 s), latencies
     (p50/p95/max per kind; for draws also split into canvas send / first and last websocket frame
     back / shown), the server's peak RSS (process tree) and thread count (start, peak, at close,
     end), CPU use of server, browser and the rest of the machine;
  5. closes every session (the trainings are abandoned on purpose: the app must stop them after
     ui.jobs.IDLE_TIMEOUT), waits up to --idle-wait seconds for the server to go idle, always
     stops the server, prints a report with PASS/MISS per target and, with --json, one JSON object
     at the end. Report, JSON, server log and screenshots of failed waits go to artifacts/load/.

Every wait has a timeout and the whole run a hard cap (duration + 180 s, plus any --idle-wait over
75 s; a watchdog kills the server and exits 60 s after that). Exit code: 0 all targets PASS,
1 some MISS, 2 the test could not run.
Targets: no errors; p95 input->prediction < 1.0 s while 2 trainings run; the slot queue held;
the trainings progressed; the abandoned trainings stopped and left no thread behind.

The parts live in bench/load/: config (settings, records), machine (/proc figures), inputs
(strokes, pictures), page (selectors, in-page probes), sessions (the browser sessions), report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.load.config import ARTIFACTS, Config, Recorder, log  # noqa: E402
from bench.load.machine import ProcSampler, cpu_usage, others_cpu, speed_probe  # noqa: E402
from bench.load.report import build_result, report  # noqa: E402
from bench.load.sessions import Run  # noqa: E402
from tests.support.browser import (  # noqa: E402 - the browser tests' server start and wait helpers
    CHROMIUM,
    CHROMIUM_ARGS,
    data_dir,
    free_port,
    start_server,
    stop_server,
    tail,
    wait_for_health,
)
from ui.jobs import IDLE_TIMEOUT  # noqa: E402

__all__ = ["Config", "main", "parse_args", "report", "run"]  # what tests/e2e/test_load.py uses

# Chromium must not reach anything but loopback: no DNS for any other host name.
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # passed on to the server
SNAPSHOT_SKIP = (".git", "artifacts", ".hypothesis", "__pycache__", ".pytest_cache", ".ruff_cache", ".benchmarks")

IDLE_CPU = 10  # % of one core: the server counts as idle (no training left running) below this
# The thread count is not expected to fall back to its value before the first session: the HTTP
# server keeps its AnyIO worker threads (one per concurrent upload / media request, up to 40), the
# asyncio executor keeps its workers, numpy starts OpenBLAS's pool. A traced run (threading.enumerate
# inside the server) found exactly those after the idle stop, and no training thread.


def browser_executable(nice: int) -> str:
    """CHROMIUM, or a wrapper that starts it (and so every browser process) at a lower CPU priority."""
    if nice <= 0:
        return CHROMIUM
    path = os.path.join(tempfile.gettempdir(), f"fashion-live-chromium-nice{nice}.sh")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nexec nice -n {int(nice)} {CHROMIUM} "$@"\n')
    os.chmod(path, 0o755)
    return path


async def drive(cfg: Config, base: str, rec: Recorder, sampler: ProcSampler | None, result: dict) -> None:
    """Run the sessions in one Chromium, close them, then wait for the server to go idle.

    Adds to `result` the end of the load phase, the time the sessions closed and when the server went idle.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=browser_executable(cfg.browser_nice), args=[*CHROMIUM_ARGS, LOOPBACK_ONLY]
        )
        run = Run(cfg, base, rec)
        try:
            await run.main(browser)
        finally:
            rec.closing = True
            t_load_end = time.perf_counter()
            result["t_load_end"] = t_load_end
            for ctx in run.contexts:
                try:
                    await asyncio.wait_for(ctx.close(), 20)
                except Exception:  # noqa: BLE001 - already closed
                    pass
            result["t_closed"] = time.perf_counter()
            try:
                await asyncio.wait_for(browser.close(), 20)
            except Exception:  # noqa: BLE001
                pass
    # Abandoned trainings must stop after IDLE_TIMEOUT: the server and its training workers go idle, its threads do not grow.
    if sampler is not None and sampler.server_pid and cfg.idle_wait > 0:
        log(cfg, f"  all sessions closed; waiting up to {cfg.idle_wait:.0f} s for the server to go idle")
        t_closed = result["t_closed"]
        while time.perf_counter() - t_closed < cfg.idle_wait:
            await asyncio.sleep(1.0)
            cpu = cpu_usage(sampler.window(time.perf_counter() - 3.0, time.perf_counter()))
            if time.perf_counter() - t_closed > 3 and cpu and cpu["server"] + cpu["workers"] < IDLE_CPU:
                await asyncio.sleep(2.0)  # let the stopped threads exit
                result["server_idle_after"] = round(time.perf_counter() - t_closed, 1)
                break


def run(cfg: Config) -> dict:
    """Start the server (unless cfg.url), drive the sessions, stop everything; the result dict."""
    if cfg.trainers and data_dir() is None:
        raise RuntimeError("the real Fashion-MNIST files are not on this machine (set FASHION_MNIST_DIR)")
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    result: dict = {
        "machine": {
            "cores": os.cpu_count(),
            "loadavg_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            "others_cpu_before": others_cpu(),
            "speed": speed_probe(),
        }
    }
    rec = Recorder(cfg)
    for old in ARTIFACTS.glob("timeout-*.png"):  # screenshots of an earlier run
        old.unlink()
    proc: subprocess.Popen | None = None
    tmp = tempfile.TemporaryDirectory(prefix="fashion-load-")
    log_path = Path(tmp.name) / "streamlit.log"
    sampler: ProcSampler | None = None
    watchdog: threading.Timer | None = None
    try:
        if cfg.url:
            base = cfg.url.rstrip("/")
            server_pid = cfg.server_pid
            result["machine"]["server"] = f"given, pid {server_pid or 'unknown'}"
        else:
            port = cfg.port or free_port()
            env = dict(os.environ, PYTHONUNBUFFERED="1", FASHION_MODELS_DIR=str(Path(tmp.name) / "models"))
            if data_dir() is not None:
                env["FASHION_MNIST_DIR"] = str(data_dir())
            if cfg.snapshot:  # serve a copy: files edited meanwhile in the checkout cannot break the run
                app_dir = Path(tmp.name) / "app"
                shutil.copytree(REPO, app_dir, ignore=shutil.ignore_patterns(*SNAPSHOT_SKIP))
                proc = start_server(port, env, log_path, cwd=app_dir)
                result["machine"]["snapshot"] = str(app_dir)
            else:
                proc = start_server(port, env, log_path)
            base = f"http://127.0.0.1:{port}"
            wait_for_health(base, proc, timeout=90)
            server_pid = proc.pid
            result["machine"]["server"] = f"started here, pid {proc.pid}, models in a temporary folder"
        result["machine"]["url"] = base
        result["machine"]["server_env"] = " ".join(f"{k}={os.environ[k]}" for k in THREAD_ENV if k in os.environ)

        def kill_all():  # the hard cap, should asyncio itself hang
            print(f"!! hard cap of {cfg.hard_cap + 60:.0f} s reached: killing the server and exiting", flush=True)
            if proc is not None and proc.poll() is None:
                proc.kill()
            os._exit(2)

        watchdog = threading.Timer(cfg.hard_cap + 60, kill_all)
        watchdog.daemon = True
        watchdog.start()
        if server_pid:
            sampler = ProcSampler(server_pid)
            first = sampler.sample()
            result["threads_start"], result["rss_start_kb"] = first["threads"], first["rss_kb"]
            sampler.start()
        log(cfg, f"server up at {base}; {cfg.sessions} sessions, {cfg.duration:.0f} s load phase")
        try:
            asyncio.run(asyncio.wait_for(drive(cfg, base, rec, sampler, result), cfg.hard_cap))
        except TimeoutError:
            rec.error("run", "timeout", f"hard cap of {cfg.hard_cap:.0f} s reached; the run was cut short")
    finally:
        if sampler is not None:
            sampler.stop()
        if proc is not None:
            stop_server(proc)
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            result["server_log_problems"] = [ln for ln in text.splitlines() if "Traceback" in ln or "Error" in ln]
            result["server_log_tail"] = tail(log_path, 20)
            if text:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                (ARTIFACTS / "streamlit.log").write_text(text)
        tmp.cleanup()
        if watchdog is not None:
            watchdog.cancel()
    result["machine"]["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return build_result(cfg, rec, sampler, result)


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sessions", type=int, default=8, help="browser sessions: trainers + drawing/uploading ones")
    ap.add_argument("--trainers", type=int, default=2, help="sessions that train (>= 2 adds a queue checker)")
    ap.add_argument("--duration", type=float, default=90.0, help="seconds of drawing and uploading")
    ap.add_argument("--port", type=int, help="port for the server this script starts (default: a free one)")
    ap.add_argument("--url", help="use this running server instead of starting one")
    ap.add_argument("--server-pid", type=int, help="with --url: its pid, for memory and thread figures")
    ap.add_argument("--train-epochs", type=int, help="default: enough to outlast the test")
    ap.add_argument("--train-subset", type=int, default=0, help="training images, 0 = all (default)")
    ap.add_argument("--idle-wait", type=float, default=IDLE_TIMEOUT + 15, help="max seconds to wait after closing")
    ap.add_argument("--timeout", type=float, default=30.0, help="max seconds for one prediction")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--snapshot", action="store_true", help="serve a copy of the checkout (others may edit it during the run)"
    )
    ap.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run the browsers at this nice value (e.g. 10): models browsers on the users' own machines, "
        "so the simulated users' drawing does not take the CPU from the server under test; default 0",
    )
    ap.add_argument("--json", action="store_true", help="also print the result as one JSON object at the end")
    a = ap.parse_args(argv)
    if a.trainers < 0 or a.sessions < a.trainers or a.duration <= 0:
        ap.error("need 0 <= --trainers <= --sessions and --duration > 0")
    return Config(
        sessions=a.sessions, trainers=a.trainers, duration=a.duration, port=a.port, url=a.url,
        server_pid=a.server_pid, train_epochs=a.train_epochs, train_subset=a.train_subset,
        idle_wait=a.idle_wait, timeout=a.timeout, seed=a.seed, as_json=a.json, snapshot=a.snapshot,
        browser_nice=a.browser_nice,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # so `finally` stops the server
    try:
        res = run(cfg)
    except Exception as e:  # noqa: BLE001
        print(f"the load test could not run: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    text = report(cfg, res)
    print(text)
    if cfg.as_json:
        print(json.dumps(res, default=str))
    try:  # also kept beside the screenshots (git-ignored)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "report.txt").write_text(text + "\n")
        (ARTIFACTS / "result.json").write_text(json.dumps(res, default=str, indent=1))
    except OSError:
        pass
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
