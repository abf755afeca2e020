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
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.browser import (  # noqa: E402 - the browser tests' server start and wait helpers
    ANSWER,
    CHROMIUM,
    CHROMIUM_ARGS,
    PROBABILITY_BARS,
    VIEWPORT,
    data_dir,
    free_port,
    start_server,
    stop_server,
    tail,
    wait_for_health,
)
from ui.jobs import IDLE_TIMEOUT, SLOTS  # noqa: E402

TARGET_P95_S = 1.0
SLOT_LIMIT = SLOTS.limit
# Chromium must not reach anything but loopback: no DNS for any other host name.
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
HARD_CAP_EXTRA_S = 180.0
STALL_S = 30.0  # a running training's progress line (batch, speed, ETA) must change within this time
ARTIFACTS = REPO / "artifacts" / "load"  # git-ignored (/artifacts/): screenshots of timed-out waits

# Selectors (Streamlit 1.67, streamlit-drawable-canvas 0.13: the canvas sits in an open shadow root).
MAIN = '[data-testid="stMain"]'
TITLE = '[data-testid="stMain"] [data-testid="stHeading"] h1'
RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
EXCEPTION = '[data-testid="stException"]'
TAB_PANEL = '[data-testid="stTabPanel"]'
PROGRESS = '[data-testid="stMain"] [data-testid="stProgress"]'
CANVAS = "canvas.upper-canvas"
RESET_CANVAS = 'button[aria-label="Reset canvas & history"]'
DRAW_TAB, UPLOAD_TAB = 0, 1
QUEUE_RE = re.compile(r"Waiting for a free training slot: you are number (\d+) in the queue")
EPOCH_RE = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")
STCORE_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")  # the frontend's probe before /_stcore/
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

# Injected into every page before its scripts: timestamps of the input (mouse-up on the canvas or
# the file input's change event) and of every websocket frame after it, in page time.
INIT_SCRIPT = """
(() => {
  const W = window;
  W.__lt = {armed: null, t0: null, sends: [], recvs: []};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const lt = W.__lt;
    if (lt.t0 !== null && lt.sends.length < 200) lt.sends.push([performance.now(), data.byteLength ?? data.size ?? data.length ?? 0]);
    if (!this.__ltHooked) {
      this.__ltHooked = true;
      this.addEventListener('message', (e) => {
        const l = W.__lt;
        if (l.t0 !== null && l.recvs.length < 2000) l.recvs.push([performance.now(), e.data.byteLength ?? e.data.size ?? 0]);
      });
    }
    return send.call(this, data);
  };
  const arm = (kind) => (e) => {
    const lt = W.__lt;
    if (lt.armed !== kind) return;
    if (kind === 'change' && !(e.target && e.target.type === 'file')) return;
    lt.armed = null; lt.t0 = performance.now(); lt.sends = []; lt.recvs = [];
  };
  document.addEventListener('mouseup', arm('mouseup'), true);
  document.addEventListener('change', arm('change'), true);
})();
"""
ARM = "(kind) => { const lt = window.__lt; lt.armed = kind; lt.t0 = null; lt.sends = []; lt.recvs = []; lt.mismatchSince = null; }"


def page_js(src: str) -> str:
    """A page snippet with its placeholders filled in: ANSWER and BARS (selectors), CLASSES (names)."""
    for key, value in (("ANSWER", ANSWER), ("BARS", PROBABILITY_BARS), ("CLASSES", CLASS_NAMES)):
        src = src.replace(key, json.dumps(value))
    return src


# Truthy once tab `tab` shows an answer for a new input (data-input != prev) with its pictures
# decoded, a Prediction whose top probability bar is that class, and no stale element in the tab.
# Returns the page-time breakdown after the input (ms).
NEW_PREDICTION = page_js(
    """
([tab, prev, caption, bigSend]) => {
  const lt = window.__lt;
  if (!lt || lt.t0 === null) return false;
  const panel = document.querySelectorAll('[data-testid="stTabPanel"]')[tab];
  if (!panel) return false;
  const pics = [...panel.querySelectorAll('[data-testid="stImage"]')];
  if (caption && !pics.some(p => p.textContent.includes(caption))) return false;
  const answer = panel.querySelector(ANSWER);
  if (!answer || answer.dataset.input === prev) return false;
  const imgs = [...answer.querySelectorAll('img')];
  if (imgs.length < 2 || imgs.some(i => !i.complete || i.naturalWidth === 0)) return false;
  const stat = answer.querySelector('[data-stat="Prediction"]');
  if (!stat) return false;
  const label = stat.textContent.trim();
  if (panel.querySelector('[data-stale="true"]')) return false;
  const chart = answer.querySelector(BARS);
  if (!chart) return false;
  const names = CLASSES;
  const rows = [...chart.querySelectorAll('[data-class]')].filter(r => names.includes(r.dataset.class));
  if (rows.length < names.length) return false;
  rows.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
  const now = performance.now();
  if (rows[0].dataset.class !== label) {  // the bars are behind the metric: wait, but not for ever
    lt.mismatchSince = lt.mismatchSince || now;
    return now - lt.mismatchSince > STALE_MS ? {stale: 'chart', metric: label, chart_top: rows[0].dataset.class} : false;
  }
  lt.mismatchSince = null;
  const send = lt.sends.find(s => s[1] >= bigSend);
  const after = send ? lt.recvs.filter(r => r[0] >= send[0]) : [];
  return {ms: now - lt.t0, src: answer.dataset.input, label,
          send: send ? send[0] - lt.t0 : null,
          first: after.length ? after[0][0] - lt.t0 : null,
          last: after.length ? after[after.length - 1][0] - lt.t0 : null,
          frames: after.length};
}
""".replace("STALE_MS", "10000")
)

# The Draw tab is back to its empty state (after the bin): the hint, and no preview image.
CANVAS_CLEARED = page_js("""
() => {
  const panel = document.querySelectorAll('[data-testid="stTabPanel"]')[0];
  if (!panel || panel.querySelector('[data-stale="true"]')) return false;
  const hint = [...panel.querySelectorAll('[data-testid="stAlert"]')].some(a => a.textContent.includes('Draw a piece'));
  const pic = !!panel.querySelector(ANSWER);
  if (hint && !pic) return 'cleared';
  const lt = window.__lt, now = performance.now();
  if (hint && pic) {  // the old prediction is still under the hint: wait, but not for ever
    lt.hintSince = lt.hintSince || now;
    if (now - lt.hintSince > 10000) return {stale: 'clear'};
  } else lt.hintSince = null;
  return false;
}
""")
# What a tab shows when a wait timed out: for the error message.
DIAGNOSE = page_js(
    """
([tab, prev]) => {
  const lt = window.__lt || {};
  const panel = document.querySelectorAll('[data-testid="stTabPanel"]')[tab];
  const answer = panel && panel.querySelector(ANSWER);
  const imgs = answer ? [...answer.querySelectorAll('img')] : [];
  const now = performance.now();
  const host = panel && [...panel.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('canvas'));
  const undo = host && host.shadowRoot.querySelector('button[aria-label="Undo"]');
  const old = answer && answer.dataset.input === prev;
  const stat = answer && answer.querySelector('[data-stat="Prediction"]');
  const chart = answer && answer.querySelector(BARS);
  const names = CLASSES;
  const rows = chart ? [...chart.querySelectorAll('[data-class]')].filter(r => names.includes(r.dataset.class)) : [];
  rows.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
  return {
    metric: stat ? stat.textContent.trim() : null,
    chart_top: rows.length ? rows[0].dataset.class : null,
    canvas_has_strokes: undo ? !undo.disabled : null,
    old_prediction_left: !!(old && [...panel.querySelectorAll('[data-testid="stAlert"]')].some(a => a.textContent.includes('Draw a piece'))),
    input_seen: lt.t0 !== null && lt.t0 !== undefined,
    sends: (lt.sends || []).map(s => [Math.round(s[0] - lt.t0), s[1]]).slice(0, 8),
    frames_back: (lt.recvs || []).length,
    last_frame_ms_ago: (lt.recvs || []).length ? Math.round(now - lt.recvs[lt.recvs.length - 1][0]) : null,
    preview: answer ? (old ? 'unchanged' : (imgs.every(i => i.complete) ? 'new' : 'new, loading')) : 'none',
    stale: panel ? panel.querySelectorAll('[data-stale="true"]').length : null,
    running: !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"]'),
    text: panel ? panel.innerText.replace(/\\s+/g, ' ').slice(0, 300) : '',
  };
}
"""
)
PREVIEW_SRC = page_js("""
(tab) => {
  const panel = document.querySelectorAll('[data-testid="stTabPanel"]')[tab];
  const answer = panel && panel.querySelector(ANSWER);
  return answer ? answer.dataset.input : '';
}
""")


class StaleUI(Exception):
    """The page settled on an inconsistent state (old elements left next to new ones)."""


# ----- configuration and records -----------------------------------------------------------
@dataclass
class Config:
    sessions: int = 8
    trainers: int = 2
    duration: float = 90.0
    port: int | None = None
    url: str | None = None
    server_pid: int | None = None
    train_epochs: int | None = None  # None: enough to outlast the test
    train_subset: int = 0  # 0 = all 60,000 images
    hidden: str = "256"
    idle_wait: float = IDLE_TIMEOUT + 15.0
    timeout: float = 30.0  # one prediction
    page_timeout: float = 90.0  # one page load
    think: tuple[float, float] = (0.3, 1.2)  # pause between two actions of one session, seconds
    upload_share: float = 1 / 3
    seed: int = 1
    as_json: bool = False
    quiet: bool = False
    snapshot: bool = False  # serve a copy of the checkout taken at the start
    browser_nice: int = 0  # > 0: the browsers run at this lower CPU priority (see --browser-nice)

    @property
    def predictors(self) -> int:
        return max(self.sessions - self.trainers, 0)

    @property
    def checker(self) -> bool:
        return self.trainers >= SLOT_LIMIT

    @property
    def epochs(self) -> int:
        # About 0.85 s per epoch alone on 2 cores, at least twice that with two at once and the
        # browser load: (duration + 60) / 1.5 s outlasts the test, so the trainings are abandoned.
        return self.train_epochs or max(4, math.ceil((self.duration + 60) / 1.5))

    @property
    def hard_cap(self) -> float:
        return self.duration + HARD_CAP_EXTRA_S + max(self.idle_wait - 75.0, 0.0)


@dataclass
class Sample:
    kind: str  # draw, upload, clear
    session: str
    t: float  # seconds since the load phase began, at the input
    ms: float  # page time from the input to the new prediction on screen
    wall_ms: float  # wall time in this script, from the input call until the wait returned
    trainings: int  # trainings running at the input (as last seen by the trainer sessions)
    send_ms: float | None = None  # canvas (or widget) message sent to the server
    first_ms: float | None = None  # first websocket frame back
    last_ms: float | None = None  # last websocket frame back before the prediction showed


@dataclass
class Trainer:
    name: str
    started_s: float | None = None  # after pressing Start, the first "Epoch" line
    first_line: str = ""
    last_line: str = ""
    first_epoch: tuple[int, int] | None = None  # (epoch, batch)
    last_epoch: tuple[int, int] | None = None
    epochs: int = 0
    batches: int = 0
    running_from: float | None = None  # perf_counter when first seen training (seconds since load start in results)
    ended_at: float | None = None  # perf_counter when first seen ended (same)
    finished: bool = False
    final_alerts: list[str] = field(default_factory=list)
    queued_first: bool = False
    stalled: bool = False


@dataclass
class Queue:
    ran: bool = False
    saw_message: bool = False
    position: int | None = None
    expected_position: int | None = None
    text: str = ""
    after_s: float | None = None
    trainings_running_at_press: int = 0
    started_training: bool = False  # it must not while the slots are full
    left_queue: bool = False
    note: str = ""


class Recorder:
    """Everything the sessions report, with the time origin of the load phase."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.t_go: float | None = None
        self.samples: list[Sample] = []
        self.errors: list[dict] = []
        self.notes: list[str] = []
        self.attempts: dict[str, int] = {"draw": 0, "upload": 0, "clear": 0}
        self.aborted_requests = 0
        self.blocked_external: set[str] = set()
        self.closing = False
        self.trainers: list[Trainer] = []
        self.queue = Queue()

    def rel(self, t: float | None = None) -> float:
        t = time.perf_counter() if t is None else t
        return t - self.t_go if self.t_go is not None else 0.0

    def error(self, session: str, kind: str, detail: str) -> None:
        if self.closing and kind in ("console", "http", "request"):
            return
        self.errors.append({"session": session, "kind": kind, "detail": detail[:500], "t": round(self.rel(), 1)})
        if not self.cfg.quiet:
            print(f"  ! [{session}] {kind}: {detail[:200]}", flush=True)

    def trainings_running(self) -> int:
        now = time.perf_counter()
        return sum(
            1
            for tr in self.trainers
            if tr.running_from is not None and tr.running_from <= now and (tr.ended_at is None or tr.ended_at > now)
        )


def log(cfg: Config, msg: str) -> None:
    if not cfg.quiet:
        print(msg, flush=True)


# ----- /proc sampling ---------------------------------------------------------------------------
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
    """Every `interval` s: server tree RSS and threads, CPU ticks of server / this client / machine."""

    def __init__(self, server_pid: int | None, interval: float = 0.5):
        super().__init__(name="proc-sampler", daemon=True)
        self.server_pid = server_pid
        self.interval = interval
        self.rows: list[dict] = []
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> dict:
        table = _process_table()
        server = _tree(self.server_pid, table) if self.server_pid else set()
        client = _tree(os.getpid(), table) - server
        busy, total = _cpu_total()
        return {
            "t": time.perf_counter(),
            "rss_kb": sum(_status(p, "VmRSS") for p in server),
            "threads": _status(self.server_pid, "Threads") if self.server_pid else 0,
            "tree_threads": sum(_status(p, "Threads") for p in server),
            "server_ticks": sum(table[p][1] for p in server),
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
    """CPU in % of one core over a window of sampler rows: server, client (browser), others, machine."""
    if len(rows) < 2:
        return None
    a, b = rows[0], rows[-1]
    dt = b["t"] - a["t"]
    if dt <= 0:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    server = (b["server_ticks"] - a["server_ticks"]) / hz / dt * 100
    client = (b["client_ticks"] - a["client_ticks"]) / hz / dt * 100
    machine = (b["busy"] - a["busy"]) / max(b["total"] - a["total"], 1) * 100 * ncpu
    return {
        "server": round(server),
        "browser_and_driver": round(client),
        "others": round(max(machine - server - client, 0)),
        "machine": round(machine),
        "cores": ncpu,
    }


# ----- inputs: strokes and images -----------------------------------------------------------------
# The canvas toolbar (undo, bin...) floats over the canvas's top-right corner until the mouse hovers
# the canvas: a stroke starting there would press the toolbar instead. Strokes stay below this line.
TOP = 0.16
SHAPES = {  # row-wise (left, right) of a garment silhouette, y from 0 (top) to 1
    "tshirt": lambda y: (0.0, 1.0) if y < 0.3 else (0.25, 0.75),
    "pullover": lambda y: (0.0, 1.0) if y < 0.85 else (0.2, 0.8),
    "dress": lambda y: (0.4 - 0.4 * y, 0.6 + 0.4 * y),
    "bag": lambda y: (0.35, 0.65) if y < 0.2 else (0.0, 1.0),
    "boot": lambda y: (0.1, 0.45) if y < 0.6 else (0.1, 1.0),
    "sneaker": lambda y: (0.05, 0.5 + 0.5 * y),
    "trouser": lambda y: (0.2, 0.8),
}


def garment_stroke(rng: random.Random) -> tuple[str, list[tuple[float, float]], list[float]]:
    """One zig-zag stroke that fills a random garment silhouette in a random box of the canvas.

    Returns (shape, points as canvas fractions, the box [x0, y0, x1, y1]); the box leaves a margin
    on at least two sides, so later strokes can grow the drawing."""
    shape = rng.choice(list(SHAPES))
    w, h = rng.uniform(0.45, 0.75), rng.uniform(0.45, 0.75)
    x0, y0 = rng.uniform(0.06, 0.94 - w), rng.uniform(TOP, 0.94 - h)
    dy = rng.uniform(0.07, 0.11)
    pts, y, flip = [], 0.0, rng.random() < 0.5
    while y <= 1.0001:
        left, right = SHAPES[shape](y)
        jl, jr = rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)
        row = [(x0 + w * min(max(left + jl, 0), 1), y0 + h * y), (x0 + w * min(max(right + jr, 0), 1), y0 + h * y)]
        pts += row[::-1] if flip else row
        y += dy
        flip = not flip
    return shape, pts, [x0, y0, x0 + w, y0 + h]


def growing_stroke(rng: random.Random, box: list[float]) -> list[tuple[float, float]] | None:
    """A line just outside the drawing's box (so the 28x28 input must change), or None if no room."""
    x0, y0, x1, y1 = box
    gap = 0.07
    sides = [s for s, ok in (("top", y0 - gap >= TOP), ("bottom", y1 + gap <= 0.96),
                              ("left", x0 - gap >= 0.04), ("right", x1 + gap <= 0.96)) if ok]  # fmt: skip
    if not sides:
        return None
    side = rng.choice(sides)
    if side in ("top", "bottom"):
        y = y0 - gap if side == "top" else y1 + gap
        a, b = sorted(rng.uniform(x0, x1) for _ in range(2))
        b = max(b, a + 0.15)
        pts = [(a, y), ((a + b) / 2, y + rng.uniform(-0.02, 0.02)), (b, y)]
        box[1 if side == "top" else 3] = y
    else:
        x = x0 - gap if side == "left" else x1 + gap
        a, b = sorted(rng.uniform(y0, y1) for _ in range(2))
        b = max(b, a + 0.15)
        pts = [(x, a), (x + rng.uniform(-0.02, 0.02), (a + b) / 2), (x, b)]
        box[0 if side == "left" else 2] = x
    return pts


def upload_image(rng: random.Random, n: int, session: str) -> dict:
    """A varied garment picture made with Pillow: shape, size, colours, noise, PNG (L/RGB/RGBA) or JPEG."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = rng.randint(96, 900), rng.randint(96, 900)
    dark_bg = rng.random() < 0.5
    bg = tuple(rng.randint(0, 50) if dark_bg else rng.randint(200, 255) for _ in range(3))
    fg = tuple(rng.randint(170, 255) if dark_bg else rng.randint(0, 90) for _ in range(3))
    transparent = rng.random() < 0.2
    img = Image.new("RGBA", (w, h), (*bg, 0 if transparent else 255))
    d = ImageDraw.Draw(img)
    s = min(w, h) * rng.uniform(0.55, 0.9)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    shape = rng.choice(["tshirt", "trouser", "bag", "dress", "sneaker", "blob"])
    unit = {
        "tshirt": [(0.3, 0), (0.42, 0), (0.5, 0.08), (0.58, 0), (0.7, 0), (1, 0.3), (0.88, 0.45), (0.78, 0.38),
                   (0.78, 1), (0.22, 1), (0.22, 0.38), (0.12, 0.45), (0, 0.3)],
        "trouser": [(0.25, 0), (0.75, 0), (0.8, 1), (0.56, 1), (0.5, 0.3), (0.44, 1), (0.2, 1)],
        "bag": [(0.05, 0.3), (0.95, 0.3), (0.9, 1), (0.1, 1)],
        "dress": [(0.38, 0), (0.62, 0), (0.66, 0.3), (0.95, 1), (0.05, 1), (0.34, 0.3)],
        "sneaker": [(0, 0.55), (0.35, 0.4), (0.55, 0.55), (1, 0.7), (1, 0.9), (0, 0.9)],
    }.get(shape)  # fmt: skip
    fill = (*fg, 255)
    if unit is None:
        d.ellipse([cx - s / 2, cy - s / 3, cx + s / 2, cy + s / 3], fill=fill)
    else:
        d.polygon([(cx + (x - 0.5) * s, cy + (y - 0.5) * s) for x, y in unit], fill=fill)
        if shape == "bag":
            d.arc([cx - s / 4, cy - s / 2, cx + s / 4, cy - s / 12], 180, 360, fill=fill, width=max(2, int(s / 25)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    fmt = "JPEG" if rng.random() < 0.5 else "PNG"
    buf = io.BytesIO()
    if fmt == "JPEG":
        flat = Image.new("RGB", img.size, bg)
        flat.paste(img, mask=img.getchannel("A"))
        flat.save(buf, "JPEG", quality=rng.randint(60, 95))
        mime, ext = "image/jpeg", "jpg"
    else:
        mode = "RGBA" if transparent else rng.choice(["RGB", "L"])
        (img if mode == "RGBA" else img.convert(mode)).save(buf, "PNG")
        mime, ext = "image/png", "png"
    return {"name": f"{session}-{n:03d}-{shape}.{ext}", "mimeType": mime, "buffer": buf.getvalue()}


# ----- page helpers (async) -----------------------------------------------------------------------
async def new_session(browser, rec: Recorder, name: str):
    ctx = await browser.new_context(viewport=VIEWPORT)
    await ctx.add_init_script(INIT_SCRIPT)
    page = await ctx.new_page()
    page.set_default_timeout(60_000)

    def on_console(m):
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            rec.error(name, "console", m.text)

    def on_response(r):
        if r.status >= 400 and not STCORE_PROBE.search(urllib.parse.urlparse(r.url).path):
            rec.error(name, "http", f"HTTP {r.status} {r.url}")

    def on_failed(r):
        host = urllib.parse.urlparse(r.url).hostname or ""
        failure = r.failure or ""
        if host not in ("127.0.0.1", "localhost"):
            rec.blocked_external.add(r.url.split("?")[0])
        elif "ERR_ABORTED" in failure:
            rec.aborted_requests += 1  # e.g. an image replaced by a newer one before it loaded
        else:
            rec.error(name, "request", f"{failure} {r.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: rec.error(name, "pageerror", str(e)))
    page.on("crash", lambda _p: rec.error(name, "crash", "the page crashed"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    return ctx, page


async def wait_idle(page, timeout: float, quiet: float = 0.75) -> None:
    """The page ran: title shown and the "Running..." man absent for `quiet` s (timers flash it)."""
    deadline = time.monotonic() + timeout
    await page.wait_for_selector(TITLE, state="visible", timeout=timeout * 1000)
    quiet_since = None
    while True:
        now = time.monotonic()
        if await page.locator(RUNNING).count() == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet:
                return
        else:
            quiet_since = None
        if now > deadline:
            raise TimeoutError(f"still running after {timeout:.0f} s on {page.url}")
        await asyncio.sleep(0.1)


async def open_page(page, base: str, path: str, timeout: float) -> None:
    await page.goto(f"{base}/{path}", timeout=timeout * 1000, wait_until="domcontentloaded")
    await wait_idle(page, timeout)


async def open_train(page, base: str, timeout: float) -> None:
    """/Train with its form ready (the first visit may wait for the dataset to load)."""
    await open_page(page, base, "Train", timeout)
    await page.get_by_role("button", name="Start training").wait_for(state="visible", timeout=timeout * 1000)


async def check_exceptions(page, rec: Recorder, name: str, seen: set[str]) -> None:
    try:
        texts = await page.locator(EXCEPTION).all_inner_texts()
    except Exception:  # noqa: BLE001 - a closing page
        return
    for text in texts:
        key = text.strip()[:300]
        if key not in seen:
            seen.add(key)
            rec.error(name, "exception", key)


async def progress_text(page) -> str:
    bars = page.locator(PROGRESS)
    return (await bars.first.inner_text(timeout=5000)).strip() if await bars.count() else ""


async def fill_form(page, values: dict) -> None:
    for label, value in values.items():
        box = page.get_by_label(label, exact=True)
        await box.fill(str(value))
        await box.press("Tab")
        for _ in range(50):
            if await box.input_value() == str(value):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"{label} did not take the value {value!r}")


async def stroke(page, points: list[tuple[float, float]]) -> None:
    """Mouse down, move through the points (canvas fractions), arm the timer; mouse up is the caller's."""
    box = await page.locator(CANVAS).first.bounding_box()
    if not box:
        raise RuntimeError("the canvas has no bounding box")

    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    await page.mouse.move(*at(points[0]))
    await page.mouse.down()
    for p in points[1:]:
        await page.mouse.move(*at(p), steps=2)
    await page.evaluate(ARM, "mouseup")


# ----- the sessions -----------------------------------------------------------------------------------
class Run:
    def __init__(self, cfg: Config, base: str, rec: Recorder):
        self.cfg, self.base, self.rec = cfg, base, rec
        self.go = asyncio.Event()
        self.stop = asyncio.Event()
        self.contexts: list = []
        self.ready: set[int] = set()  # predictors whose page has loaded
        self.shots = 0

    async def session(self, browser, name: str):
        ctx, page = await new_session(browser, self.rec, name)
        self.contexts.append(ctx)
        return ctx, page

    # -- trainer --
    async def trainer(self, browser, tr: Trainer, index: int) -> None:
        cfg, rec = self.cfg, self.rec
        seen: set[str] = set()
        try:
            _, page = await self.session(browser, tr.name)
            await asyncio.sleep(index * 1.0)
            await open_train(page, self.base, cfg.page_timeout)
            await fill_form(page, {"Epochs": cfg.epochs, "Train subset": cfg.train_subset, "Hidden layers": cfg.hidden})
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Start training").click()
            deadline = t0 + cfg.page_timeout
            while time.perf_counter() < deadline:
                line = await progress_text(page)
                if QUEUE_RE.search(line):
                    tr.queued_first = True
                m = EPOCH_RE.search(line)
                if m:
                    tr.started_s = time.perf_counter() - t0
                    tr.first_line = tr.last_line = line
                    tr.first_epoch = tr.last_epoch = (int(m.group(1)), int(m.group(3)))
                    tr.epochs, tr.batches = int(m.group(2)), int(m.group(4))
                    tr.running_from = time.perf_counter()
                    break
                await asyncio.sleep(0.25)
            else:
                rec.error(tr.name, "timeout", f"training not running {cfg.page_timeout:.0f} s after Start")
                return
            log(cfg, f"  [{tr.name}] training: {tr.first_line!r} {tr.started_s:.1f} s after Start")
            changed = time.perf_counter()
            while not self.stop.is_set():
                try:
                    line = await progress_text(page)
                except Exception as e:  # noqa: BLE001 - e.g. the bar between two reruns
                    line = ""
                    if "Timeout" in type(e).__name__:
                        rec.error(tr.name, "timeout", f"progress bar not readable: {e}")
                m = EPOCH_RE.search(line)
                if m:
                    if line != tr.last_line:
                        changed = time.perf_counter()
                    tr.last_line = line
                    tr.last_epoch = (int(m.group(1)), int(m.group(3)))
                frozen = time.perf_counter() - changed
                if tr.ended_at is None and frozen > STALL_S and not tr.stalled:
                    tr.stalled = True  # its speed and ETA change with every report, so it should not stand still
                    rec.error(
                        tr.name,
                        "stalled",
                        f"the live progress line has not changed for {frozen:.0f} s ({line!r}): the live view "
                        "stopped refreshing or the training stopped moving",
                    )
                if line and "in all" in line and tr.ended_at is None:  # "· m:ss in all": the run ended
                    tr.ended_at = time.perf_counter()
                    await asyncio.sleep(2)
                    alerts = await page.locator(f'{MAIN} [data-testid="stAlert"]').all_inner_texts()
                    tr.final_alerts = [a.strip() for a in alerts]
                    tr.finished = any("finished" in a.lower() for a in alerts) or (
                        tr.last_epoch is not None and tr.last_epoch[0] == tr.epochs
                    )
                    log(cfg, f"  [{tr.name}] training ended at {rec.rel(tr.ended_at):.0f} s: {line!r}")
                await check_exceptions(page, rec, tr.name, seen)
                try:
                    await asyncio.wait_for(self.stop.wait(), 2.0)
                except TimeoutError:
                    pass
            await check_exceptions(page, rec, tr.name, seen)
        except Exception as e:  # noqa: BLE001 - reported, the run carries on
            rec.error(tr.name, "session", f"{type(e).__name__}: {e}")

    # -- queue checker --
    async def queue_checker(self, browser) -> None:
        cfg, rec, q = self.cfg, self.rec, self.rec.queue
        name = "queue"
        q.ran = True
        q.expected_position = cfg.trainers - SLOT_LIMIT + 1
        ctx = None
        try:
            await asyncio.wait_for(self.go.wait(), cfg.page_timeout * 2)
            await asyncio.sleep(3)
            ctx, page = await self.session(browser, name)
            await open_train(page, self.base, cfg.page_timeout)
            await fill_form(page, {"Epochs": 1, "Train subset": 1000})
            q.trainings_running_at_press = rec.trainings_running()
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Start training").click()
            while time.perf_counter() - t0 < 60 and not self.stop.is_set():
                line = await progress_text(page)
                m = QUEUE_RE.search(line)
                if m:
                    q.saw_message, q.position, q.text = True, int(m.group(1)), line
                    q.after_s = time.perf_counter() - t0
                    break
                if EPOCH_RE.search(line):
                    q.started_training, q.text = True, line
                    break
                await asyncio.sleep(0.2)
            log(cfg, f"  [queue] {'saw' if q.saw_message else 'did NOT see'} the queue message: {q.text!r}")
            if not q.saw_message and not q.text:
                q.note = "no progress line within 60 s of Start"
            # Leave the queue (or stop a run that should not have started) and check it is gone.
            stop = page.locator(MAIN).get_by_role("button", name="Stop", exact=True)
            if await stop.count():
                await stop.click()
                t_stop = time.perf_counter()
                while time.perf_counter() - t_stop < 45:  # the page redraws with "Left the queue ..."
                    alerts = " ".join(await page.locator(f'{MAIN} [data-testid="stAlert"]').all_inner_texts())
                    if "Left the queue" in alerts or (q.started_training and "in all" in await progress_text(page)):
                        q.left_queue = "Left the queue" in alerts
                        break
                    await asyncio.sleep(0.25)
                else:
                    q.note = "no 'Left the queue' message within 45 s of Stop"
            await check_exceptions(page, rec, name, set())
        except Exception as e:  # noqa: BLE001
            rec.error(name, "session", f"{type(e).__name__}: {e}")
        finally:
            if ctx is not None:
                try:
                    await asyncio.wait_for(ctx.close(), 20)
                except Exception:  # noqa: BLE001
                    pass

    # -- predictor: draws and uploads --
    async def predictor(self, browser, name: str, index: int) -> None:
        cfg, rec = self.cfg, self.rec
        rng = random.Random(cfg.seed * 1000 + index)
        seen: set[str] = set()
        consecutive_timeouts = 0
        try:
            _, page = await self.session(browser, name)
            await asyncio.sleep(index * 0.7)  # do not load all pages in the same second
            await open_page(page, self.base, "Predict", cfg.page_timeout)
            await page.locator(CANVAS).first.wait_for(state="visible", timeout=cfg.page_timeout * 1000)
            await page.locator(RESET_CANVAS).first.wait_for(state="attached", timeout=cfg.page_timeout * 1000)
            await wait_idle(page, cfg.page_timeout)  # the canvas component has mounted: the page settles again
            await check_exceptions(page, rec, name, seen)
            self.ready.add(index)
            await asyncio.wait_for(self.go.wait(), cfg.page_timeout * 2)
            await asyncio.sleep(rng.uniform(0, 1.5))
            deadline = rec.t_go + cfg.duration
            tab, box, uploads = DRAW_TAB, None, 0
            while time.perf_counter() < deadline and not self.stop.is_set():
                if rng.random() < cfg.upload_share:
                    if tab != UPLOAD_TAB:
                        await page.get_by_role("tab", name=re.compile("Upload")).click()
                        tab = UPLOAD_TAB
                    uploads += 1
                    ok = await self.upload(page, name, rng, uploads)
                else:
                    if tab != DRAW_TAB:
                        await page.get_by_role("tab", name=re.compile("Draw")).click()
                        tab = DRAW_TAB
                    points = growing_stroke(rng, box) if box is not None and rng.random() < 0.6 else None
                    if points is None:
                        if box is not None:
                            await self.clear(page, name)
                        _, points, box = garment_stroke(rng)
                    ok = await self.draw(page, name, points)
                    if not ok:
                        box = [0.0, 0.0, 1.0, 1.0]  # unknown state: start over next time
                await check_exceptions(page, rec, name, seen)
                consecutive_timeouts = 0 if ok else consecutive_timeouts + 1
                if consecutive_timeouts >= 3:
                    rec.error(name, "session", "3 predictions in a row timed out; this session gives up")
                    break
                await asyncio.sleep(rng.uniform(*cfg.think))
            await check_exceptions(page, rec, name, seen)
        except Exception as e:  # noqa: BLE001
            rec.error(name, "session", f"{type(e).__name__}: {e}")

    async def _wait_prediction(self, page, name: str, kind: str, tab: int, prev: str, caption: str, t_wall: float):
        cfg, rec = self.cfg, self.rec
        rec.attempts[kind] += 1
        t_input, running = rec.rel(t_wall), rec.trainings_running()
        try:
            handle = await page.wait_for_function(
                NEW_PREDICTION,
                arg=[tab, prev, caption, 1500 if kind == "draw" else 0],
                polling=25,
                timeout=cfg.timeout * 1000,
            )
            res = await handle.json_value()
            if res.get("stale"):
                raise StaleUI(f"chart {res['chart_top']!r} behind the metric {res['metric']!r}")
        except Exception as e:  # noqa: BLE001
            what = "timeout" if "Timeout" in type(e).__name__ else "session"
            d, diag = await self.diagnose(page, name, kind, tab, prev)
            if kind == "draw" and d.get("canvas_has_strokes") is False:
                what, why = "stroke-lost", "the canvas holds no stroke after the mouse-up (its undo is disabled)"
            elif d.get("preview", "").startswith("new") and d.get("metric") and d.get("chart_top") != d.get("metric"):
                what = "stale-ui"
                why = (
                    f"the new prediction came ({d['metric']!r} in the metric and a new preview image) but the "
                    f"probability chart still shows an older answer (top bar {d.get('chart_top')!r}) after "
                    f"{10 if isinstance(e, StaleUI) else cfg.timeout:.0f} s"
                )
            else:
                why = f"no new prediction within {cfg.timeout:.0f} s ({type(e).__name__})"
            rec.error(name, what, f"{kind}: {why}; {diag}")
            return False
        wall = (time.perf_counter() - t_wall) * 1000
        rec.samples.append(
            Sample(
                kind,
                name,
                round(t_input, 2),
                round(res["ms"], 1),
                round(wall, 1),
                running,
                res["send"],
                res["first"],
                res["last"],
            )  # fmt: skip
        )
        return True

    async def draw(self, page, name: str, points) -> bool:
        prev = await page.evaluate(PREVIEW_SRC, DRAW_TAB)
        await stroke(page, points)
        t_wall = time.perf_counter()
        await page.mouse.up()
        return await self._wait_prediction(page, name, "draw", DRAW_TAB, prev, "", t_wall)

    async def upload(self, page, name: str, rng: random.Random, n: int) -> bool:
        prev = await page.evaluate(PREVIEW_SRC, UPLOAD_TAB)
        payload = upload_image(rng, n, name)
        await page.evaluate(ARM, "change")
        t_wall = time.perf_counter()
        panel = page.locator(TAB_PANEL).nth(UPLOAD_TAB)
        await panel.locator('input[type="file"]').set_input_files(payload)
        return await self._wait_prediction(
            page, name, "upload", UPLOAD_TAB, prev, f"Your upload: {payload['name']}", t_wall
        )

    async def clear(self, page, name: str) -> None:
        """The bin: back to an empty canvas; timed (kind "clear") but not a prediction."""
        rec = self.rec
        rec.attempts["clear"] += 1
        prev = await page.evaluate(PREVIEW_SRC, DRAW_TAB)
        t_wall = time.perf_counter()
        t_input, running = rec.rel(t_wall), rec.trainings_running()
        try:
            await page.evaluate("() => { window.__lt.hintSince = null; }")
            await page.locator(RESET_CANVAS).first.click(timeout=10_000)
            handle = await page.wait_for_function(CANVAS_CLEARED, polling=25, timeout=self.cfg.timeout * 1000)
            if await handle.json_value() != "cleared":
                raise StaleUI("the old prediction stayed under the hint")
        except Exception as e:  # noqa: BLE001
            d, diag = await self.diagnose(page, name, "clear", DRAW_TAB, prev)
            if d.get("old_prediction_left"):
                waited = 10 if isinstance(e, StaleUI) else self.cfg.timeout
                rec.error(
                    name,
                    "stale-ui",
                    "clear: the hint 'Draw a piece of clothing' is back but the previous prediction stayed on "
                    f"screen below it for {waited:.0f} s (the fragment's old elements were not removed); {diag}",
                )
            else:
                rec.error(name, "timeout", f"clear: the canvas did not reset ({type(e).__name__}); {diag}")
            return
        wall = (time.perf_counter() - t_wall) * 1000
        rec.samples.append(Sample("clear", name, round(t_input, 2), round(wall, 1), round(wall, 1), running))

    async def diagnose(self, page, name: str, kind: str, tab: int, prev: str) -> tuple[dict, str]:
        """A short account of the tab after a timeout, and a screenshot (the first few only)."""
        try:
            d = await page.evaluate(DIAGNOSE, [tab, prev])
        except Exception as e:  # noqa: BLE001
            return {}, f"no diagnosis: {type(e).__name__}"
        self.shots += 1
        if self.shots <= 6:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            path = ARTIFACTS / f"timeout-{self.shots}-{name}-{kind}.png"
            try:
                await page.screenshot(path=str(path))
                d["screenshot"] = str(path.relative_to(REPO))
            except Exception:  # noqa: BLE001
                pass
        return d, json.dumps(d, ensure_ascii=False)

    # -- the whole run --
    async def main(self, browser) -> None:
        cfg, rec = self.cfg, self.rec
        rec.trainers = [Trainer(f"train{i + 1}") for i in range(cfg.trainers)]
        tasks = [asyncio.create_task(self.trainer(browser, tr, i)) for i, tr in enumerate(rec.trainers)]
        tasks += [asyncio.create_task(self.predictor(browser, f"pred{i + 1}", i)) for i in range(cfg.predictors)]
        if cfg.checker:
            tasks.append(asyncio.create_task(self.queue_checker(browser)))
        # The load phase begins once every training runs (or after a generous setup time).
        setup_deadline = time.perf_counter() + cfg.page_timeout * 1.5
        trainer_tasks, predictor_tasks = tasks[: cfg.trainers], tasks[cfg.trainers : cfg.trainers + cfg.predictors]
        while time.perf_counter() < setup_deadline:
            trainers_ok = all(tr.running_from is not None or t.done() for tr, t in zip(rec.trainers, trainer_tasks))
            predictors_ok = all(i in self.ready or t.done() for i, t in enumerate(predictor_tasks))
            if trainers_ok and predictors_ok:
                break
            await asyncio.sleep(0.25)
        else:
            rec.notes.append(f"setup took over {cfg.page_timeout * 1.5:.0f} s; the load phase began anyway")
        if not all(tr.running_from is not None for tr in rec.trainers):
            rec.notes.append("not every training was running when the load phase began")
        rec.t_go = time.perf_counter()
        self.go.set()
        log(cfg, f"  load phase: {cfg.duration:.0f} s, {rec.trainings_running()} trainings running")
        await asyncio.sleep(cfg.duration)
        # Let running predictions finish (they are bounded by their own timeout).
        predictors = tasks[cfg.trainers : cfg.trainers + cfg.predictors]
        if predictors:
            await asyncio.wait(predictors, timeout=cfg.timeout + 5)
        self.stop.set()
        await asyncio.wait(tasks, timeout=30)
        for t in tasks:
            t.cancel()


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
    # Abandoned trainings must stop after IDLE_TIMEOUT: the server goes idle and its threads do not grow.
    if sampler is not None and sampler.server_pid and cfg.idle_wait > 0:
        log(cfg, f"  all sessions closed; waiting up to {cfg.idle_wait:.0f} s for the server to go idle")
        t_closed = result["t_closed"]
        while time.perf_counter() - t_closed < cfg.idle_wait:
            await asyncio.sleep(1.0)
            cpu = cpu_usage(sampler.window(time.perf_counter() - 3.0, time.perf_counter()))
            if time.perf_counter() - t_closed > 3 and cpu and cpu["server"] < IDLE_CPU:
                await asyncio.sleep(2.0)  # let the stopped threads exit
                result["server_idle_after"] = round(time.perf_counter() - t_closed, 1)
                break


IDLE_CPU = 10  # % of one core: the server counts as idle (no training left running) below this
# The thread count is not expected to fall back to its value before the first session: the HTTP
# server keeps its AnyIO worker threads (one per concurrent upload / media request, up to 40), the
# asyncio executor keeps its workers, numpy starts OpenBLAS's pool. A traced run (threading.enumerate
# inside the server) found exactly those after the idle stop, and no training thread.


# ----- report -------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 1) if values else None,
        "p95": round(pct(values, 95), 1) if values else None,
        "max": round(max(values), 1) if values else None,
    }


def trainer_dict(tr: Trainer, rec: Recorder) -> dict:
    d = asdict(tr)
    for key in ("running_from", "ended_at"):
        d[key] = None if d[key] is None else round(rec.rel(d[key]), 1)
    return d


def fmt_ms(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def build_result(cfg: Config, rec: Recorder, sampler: ProcSampler | None, result: dict) -> dict:
    both = cfg.trainers >= SLOT_LIMIT
    kinds = {}
    for kind in ("draw", "upload", "clear"):
        xs = [s for s in rec.samples if s.kind == kind]
        during = [s for s in xs if s.trainings >= min(SLOT_LIMIT, cfg.trainers) and cfg.trainers]
        kinds[kind] = {
            "attempts": rec.attempts[kind],
            "all": stats([s.ms for s in xs]),
            "wall": stats([s.wall_ms for s in xs]),
            "during_trainings": stats([s.ms for s in during]),
        }
    draws = [s for s in rec.samples if s.kind == "draw" and s.send_ms is not None]
    breakdown = {
        "canvas_send": stats([s.send_ms for s in draws]),
        "first_reply": stats([s.first_ms for s in draws if s.first_ms is not None]),
        "last_reply": stats([s.last_ms for s in draws if s.last_ms is not None]),
        "shown": stats([s.ms for s in draws]),
        "server": stats([s.last_ms - s.send_ms for s in draws if s.last_ms is not None]),
        "render": stats([s.ms - s.last_ms for s in draws if s.last_ms is not None]),
    }
    server: dict = {}
    if sampler is not None and sampler.rows:
        rows = sampler.rows
        t_go = rec.t_go or rows[0]["t"]
        t_end = result.get("t_load_end", rows[-1]["t"])
        t_closed = result.get("t_closed", t_end)
        server = {
            "pid": sampler.server_pid,
            "rss_mb_start": round(result["rss_start_kb"] / 1024, 1),
            "rss_mb_peak": round(max(r["rss_kb"] for r in rows) / 1024, 1),
            "rss_mb_end": round(rows[-1]["rss_kb"] / 1024, 1),
            "threads_start": result["threads_start"],
            "threads_peak": max(r["threads"] for r in rows),
            "threads_at_close": next((r["threads"] for r in rows if r["t"] >= t_closed), rows[-1]["threads"]),
            "threads_end": rows[-1]["threads"],
            "idle_after_close_s": result.get("server_idle_after"),
            "cpu_load_phase": cpu_usage([r for r in rows if t_go <= r["t"] <= t_end]),
            "after_close": [  # every 10 s after the sessions closed: server CPU (% of a core) and threads
                {
                    "from_s": k,
                    "server_cpu": (cpu_usage(sampler.window(t_closed + k, t_closed + k + 5)) or {}).get("server"),
                    "threads": sampler.window(t_closed + k, t_closed + k + 5)[-1]["threads"],
                }
                for k in range(0, int(cfg.idle_wait) + 1, 10)
                if len(sampler.window(t_closed + k, t_closed + k + 5)) >= 2
            ],
        }
    p95_target = [kinds[k]["during_trainings" if both else "all"]["p95"] for k in ("draw", "upload")]
    predictions = kinds["draw"]["attempts"] + kinds["upload"]["attempts"]
    arrived = kinds["draw"]["all"]["n"] + kinds["upload"]["all"]["n"]
    targets = {
        "errors == 0": {"ok": not rec.errors, "value": len(rec.errors)},
        "every prediction arrived": {
            "ok": predictions > 0 and arrived == predictions,
            "value": f"{arrived}/{predictions}",
        },
        f"p95 input->prediction < {TARGET_P95_S:.1f} s" + (" while 2 trainings run" if both else ""): {
            "ok": all(v is not None and v < TARGET_P95_S * 1000 for v in p95_target),
            "value": " / ".join(f"{k} {fmt_ms(v)} ms" for k, v in zip(("draw", "upload"), p95_target)),
        },
    }
    if cfg.checker:
        q = rec.queue
        targets["training slot queue held"] = {
            "ok": q.saw_message and not q.started_training and q.position == q.expected_position,
            "value": q.text or q.note or "no progress line",
        }
    if rec.trainers:
        targets["trainings progressed"] = {
            "ok": all(
                tr.first_epoch and tr.last_epoch and (tr.last_epoch > tr.first_epoch or tr.finished)
                for tr in rec.trainers
            ),  # fmt: skip
            "value": "; ".join(f"{tr.name} {tr.first_epoch}->{tr.last_epoch}" for tr in rec.trainers),
        }
    if server and cfg.idle_wait > 0 and cfg.trainers:
        idle = server["idle_after_close_s"]
        targets[f"abandoned trainings stopped (idle timeout {IDLE_TIMEOUT:.0f} s), no thread left behind"] = {
            "ok": idle is not None and server["threads_end"] <= server["threads_at_close"],
            "value": (f"server idle {idle} s after close" if idle is not None else "server still busy")
            + f"; threads {server['threads_start']} at start, {server['threads_peak']} peak, "
            f"{server['threads_at_close']} at close, {server['threads_end']} at the end",
        }
    return {
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("as_json", "quiet")}
        | {"predictors": cfg.predictors, "queue_checker": cfg.checker, "epochs": cfg.epochs},
        "machine": result.get("machine", {}),
        "load_phase_s": round((result.get("t_load_end", 0) - (rec.t_go or 0)), 1) if rec.t_go else None,
        "latency_ms": kinds,
        "draw_breakdown_ms": breakdown,
        "trainers": [trainer_dict(tr, rec) for tr in rec.trainers],
        "queue": asdict(rec.queue),
        "server": server,
        "errors": rec.errors,
        "notes": rec.notes,
        "aborted_requests": rec.aborted_requests,
        "blocked_external_requests": sorted(rec.blocked_external),
        "server_log_problems": result.get("server_log_problems", []),
        "targets": targets,
        "pass": all(t["ok"] for t in targets.values()),
    }


def report(cfg: Config, res: dict) -> str:
    m, lines = res["machine"], []
    add = lines.append
    add("=" * 78)
    add("Fashion Live load test")
    add("=" * 78)
    add(
        f"machine: {m.get('cores')} CPUs; load average at start {m.get('loadavg_start')}, at the end {m.get('loadavg_end')}"
    )
    if m.get("others_cpu_before") is not None:
        add(f"  CPU used by other processes in the 2 s before the start: {m['others_cpu_before']}% of one core")
    if m.get("speed"):
        sp = m["speed"]
        add(
            f"  speed right now (lower is faster; compare runs only at similar speeds): 40 matmuls 384x384 "
            f"{sp['matmul_ms']} ms, 2M-step Python loop {sp['python_ms']} ms"
        )
    add(f"server: {m.get('url')} ({m.get('server')})")
    if m.get("snapshot"):
        add("  served from a copy of the checkout taken at the start (--snapshot)")
    if m.get("server_env"):
        add(f"  server environment: {m['server_env']}")
    add(
        f"sessions: {cfg.sessions} = {cfg.trainers} training + {cfg.predictors} drawing/uploading"
        + (" (+1 queue checker, open only while it probes the queue)" if cfg.checker else "")
    )
    add(
        f"browsers: one Chromium on this machine at nice {cfg.browser_nice}"
        + (
            " (lower CPU priority than the server: as if on the users' own machines)"
            if cfg.browser_nice > 0
            else " (same CPU priority as the server: they share its 2 cores as equals)"
        )
    )
    subset = f"{cfg.train_subset:,} images" if cfg.train_subset else "all 60,000 images"
    add(
        f"trainings: fast preset, hidden {cfg.hidden}, {cfg.epochs} epochs on {subset}; load phase {res['load_phase_s']} s"
    )
    add("")
    add("Latency, input -> new prediction on screen (ms; page clock from mouse-up / file chosen):")
    add(
        f"  {'kind':<7}{'tries':>6}{'ok':>5}{'p50':>8}{'p95':>8}{'max':>8}   {'during trainings: n':>20}{'p50':>7}{'p95':>7}   wall p95"
    )
    for kind, k in res["latency_ms"].items():
        a, d, w = k["all"], k["during_trainings"], k["wall"]
        add(
            f"  {kind:<7}{k['attempts']:>6}{a['n']:>5}{fmt_ms(a['p50']):>8}{fmt_ms(a['p95']):>8}{fmt_ms(a['max']):>8}   "
            f"{d['n']:>20}{fmt_ms(d['p50']):>7}{fmt_ms(d['p95']):>7}   {fmt_ms(w['p95']):>8}"
        )
    add("  (clear = the canvas bin until the empty state shows; informational, not a prediction)")
    b = res["draw_breakdown_ms"]
    add("Draws, where the time goes (ms after mouse-up, p50 / p95):")
    add(
        f"  canvas sends the drawing  {fmt_ms(b['canvas_send']['p50']):>6} / {fmt_ms(b['canvas_send']['p95']):>6}   (the canvas debounces 200 ms, then PNG-encodes)"
    )
    add(f"  first reply frame         {fmt_ms(b['first_reply']['p50']):>6} / {fmt_ms(b['first_reply']['p95']):>6}")
    add(f"  last reply frame          {fmt_ms(b['last_reply']['p50']):>6} / {fmt_ms(b['last_reply']['p95']):>6}")
    add(f"  prediction shown          {fmt_ms(b['shown']['p50']):>6} / {fmt_ms(b['shown']['p95']):>6}")
    add(f"  => server (send..last)    {fmt_ms(b['server']['p50']):>6} / {fmt_ms(b['server']['p95']):>6};"
        f"  browser (last..shown) {fmt_ms(b['render']['p50'])} / {fmt_ms(b['render']['p95'])}")  # fmt: skip
    add("")
    for tr in res["trainers"]:
        fate = (
            "finished"
            if tr["finished"]
            else ("ended" if tr["ended_at"] is not None else "still running at the end (abandoned)")
        )
        add(
            f"{tr['name']}: running {tr['started_s'] and round(tr['started_s'], 1)} s after Start; "
            f"epoch/batch {tr['first_epoch']} -> {tr['last_epoch']} of {tr['epochs']} epochs x {tr['batches']} batches; {fate}"
        )
        if tr["last_line"]:
            add(f"    last progress line: {tr['last_line']}")
    q = res["queue"]
    if q["ran"]:
        add(
            f"queue checker: pressed Start with {q['trainings_running_at_press']} trainings running; "
            + (
                f"saw {q['text']!r} after {q['after_s']:.1f} s"
                if q["saw_message"]
                else f"did NOT see the queue message ({q['text'] or q['note']!r})"
            )
            + ("; left the queue on Stop" if q["left_queue"] else "; did not confirm leaving the queue")
        )
    s = res["server"]
    if s:
        add(
            f"server memory (RSS, process tree): start {s['rss_mb_start']} MB, peak {s['rss_mb_peak']} MB, end {s['rss_mb_end']} MB"
        )
        add(
            f"server threads: start {s['threads_start']}, peak {s['threads_peak']}, at close {s['threads_at_close']}, "
            f"end {s['threads_end']}"
            + (
                f" (server idle {s['idle_after_close_s']} s after close)"
                if s["idle_after_close_s"] is not None
                else (" (server not idle by the end of the wait)" if cfg.idle_wait > 0 else "")
            )
        )
        if s["threads_end"] > s["threads_start"]:
            add("  (above the start: pool threads kept after first use, see the note at IDLE_CPU in the script)")
        c = s["cpu_load_phase"]
        if c:
            add(
                f"CPU in the load phase (% of one core, {c['cores']} cores): server {c['server']}%, "
                f"chromium + Playwright {c['browser_and_driver']}%, everything else {c['others']}%, machine {c['machine']}%"
            )
        if s["after_close"]:
            add(
                "after close, every 10 s (server CPU % / threads): "
                + ", ".join(f"+{r['from_s']} s {r['server_cpu']}%/{r['threads']}" for r in s["after_close"])
            )
    add("")
    add(f"errors: {len(res['errors'])}")
    for e in res["errors"][:25]:
        add(f"  - [{e['session']} @ {e['t']} s] {e['kind']}: {e['detail'][:300]}")
    if len(res["errors"]) > 25:
        add(f"  ... and {len(res['errors']) - 25} more")
    for n in res["notes"]:
        add(f"note: {n}")
    if res["server_log_problems"]:
        add("server log lines with Traceback/Error:")
        for line in res["server_log_problems"][:10]:
            add(f"  {line[:200]}")
    if res["blocked_external_requests"]:
        add(f"blocked non-loopback requests (not errors): {', '.join(res['blocked_external_requests'])}")
    if res["aborted_requests"]:
        add(f"aborted requests (images replaced before they loaded; not errors): {res['aborted_requests']}")
    add("")
    add("Targets:")
    for name, t in res["targets"].items():
        add(f"  {'PASS' if t['ok'] else 'MISS'}  {name}: {t['value']}")
    add("=" * 78)
    return "\n".join(lines)


# ----- entry points -------------------------------------------------------------------------------------
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # passed on to the server
SNAPSHOT_SKIP = (".git", "artifacts", ".hypothesis", "__pycache__", ".pytest_cache", ".ruff_cache", ".benchmarks")


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
