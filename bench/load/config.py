"""The load test's settings and records: what each browser session reports while the test runs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from tests.support.browser import REPO
from ui.cluster import LOCAL_WORKERS
from ui.jobs import IDLE_TIMEOUT

TARGET_P95_S = 1.0  # input -> prediction on screen, while 2 trainings run
SLOT_LIMIT = LOCAL_WORKERS  # trainings the embedded cluster runs at once; more wait in its queue
HARD_CAP_EXTRA_S = 180.0  # the whole run may take duration + this (setup, closing, idle wait)
ARTIFACTS = REPO / "artifacts" / "load"  # git-ignored (/artifacts/): report, server log, screenshots


@dataclass
class Config:
    """One run's settings; the command line of bench/load_test.py fills them."""

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
        # Enough epochs to outlast the test, so the trainings are abandoned and the idle stop is
        # tested: an epoch takes over 1.5 s with two trainings and the browsers on 2 cores (one
        # training alone, about 0.85 s).
        return self.train_epochs or max(4, math.ceil((self.duration + 60) / 1.5))

    @property
    def hard_cap(self) -> float:
        """Seconds the whole run may take; an --idle-wait above the default 75 s extends it."""
        return self.duration + HARD_CAP_EXTRA_S + max(self.idle_wait - 75.0, 0.0)


@dataclass
class Sample:
    """One timed input: a draw, an upload or a clear (the canvas bin)."""

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
    """What a training session saw on its Train page (its progress line, how the run ended)."""

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
    """What the queue checker saw when it pressed Start while every training slot was taken."""

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
        """A perf_counter time (default now) in seconds since the load phase began; 0 before it."""
        t = time.perf_counter() if t is None else t
        return t - self.t_go if self.t_go is not None else 0.0

    def error(self, session: str, kind: str, detail: str) -> None:
        """Record (and print) a problem; the browser's own noise while the sessions close is not one."""
        if self.closing and kind in ("console", "http", "request"):
            return
        self.errors.append({"session": session, "kind": kind, "detail": detail[:500], "t": round(self.rel(), 1)})
        if not self.cfg.quiet:
            print(f"  ! [{session}] {kind}: {detail[:200]}", flush=True)

    def trainings_running(self) -> int:
        """Trainings running now, as last seen by the trainer sessions."""
        now = time.perf_counter()
        return sum(
            1
            for tr in self.trainers
            if tr.running_from is not None and tr.running_from <= now and (tr.ended_at is None or tr.ended_at > now)
        )


def log(cfg: Config, msg: str) -> None:
    """A progress line on stdout, unless the run is quiet."""
    if not cfg.quiet:
        print(msg, flush=True)
