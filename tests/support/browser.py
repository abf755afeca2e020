"""Helpers for the end-to-end browser tests (tests/test_browser.py).

Starts the app with ``streamlit run`` on a free port, drives Debian's chromium through
Playwright's sync API, waits for Streamlit to finish a run, and saves screenshots.
Never downloads a browser: ``playwright install`` is not needed and must not be run.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ui.predict_view import ANSWER_LABEL, BARS_LABEL

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REAL_DATA = REPO.parent / "shared" / "data" / "fashion-mnist"  # beside the checkout, as in CI
DATA_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# <repo>/artifacts/ is already git-ignored ("/artifacts/" in .gitignore).
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or REPO / "artifacts" / "browser")
VIEWPORT = {"width": 1400, "height": 1000}

# Selectors checked against the DOM of Streamlit 1.67.
APP = '[data-testid="stApp"]'
MAIN = '[data-testid="stMain"]'  # the scrolling container of the page body
TITLE = '[data-testid="stMain"] [data-testid="stHeading"] h1'
RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'  # the "Running..." man in the top bar
EXCEPTION = '[data-testid="stException"]'
PROBABILITY_BARS = f'[aria-label="{BARS_LABEL}"]'  # the Predict page's probability bars
# The Predict page's whole answer: one section with data-prediction (the class) and data-input (input id).
ANSWER = f'section[aria-label="{ANSWER_LABEL}"][data-input]'


# ----- data and server ---------------------------------------------------------------
def has_data(folder: str | os.PathLike | None) -> bool:
    """True if the folder holds the four official Fashion-MNIST files (gzipped or not)."""
    if not folder:
        return False
    path = Path(folder)
    return all((path / name).exists() or (path / f"{name}.gz").exists() for name in DATA_FILES)


def data_dir() -> Path | None:
    """The real dataset: $FASHION_MNIST_DIR if it holds the files, else the shared copy, else None."""
    for candidate in (os.environ.get("FASHION_MNIST_DIR"), REAL_DATA):
        if has_data(candidate):
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(base_url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll /_stcore/health until it answers "ok"; raise (with the reason) if not in time."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as r:
                body = r.read().decode(errors="replace").strip()
                if r.status == 200 and body == "ok":
                    return
                last = f"HTTP {r.status}: {body!r}"
        except (urllib.error.URLError, OSError) as e:
            last = repr(e)
        time.sleep(0.25)
    raise TimeoutError(f"streamlit not healthy after {timeout:.0f} s ({last})")


def start_server(port: int, env: dict, log_path: Path, cwd: Path = REPO) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(log_path, "wb")  # noqa: SIM115 - closed by stop_server via proc.log
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate, then kill if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----- Streamlit in the browser ----------------------------------------------------------
def wait_until_idle(page, timeout: float = 60.0, quiet: float = 0.75) -> None:
    """Wait until the page's script has run: the app and its title are there and the
    "Running..." indicator has been absent for ``quiet`` seconds (fragments that rerun on a
    timer may flash it briefly; we only need a quiet moment, not silence forever)."""
    deadline = time.monotonic() + timeout
    page.wait_for_selector(APP, state="attached", timeout=timeout * 1000)
    page.wait_for_selector(TITLE, state="visible", timeout=max(deadline - time.monotonic(), 1) * 1000)
    quiet_since = None
    while True:
        now = time.monotonic()
        if page.locator(RUNNING).count() == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet:
                return
        else:
            quiet_since = None
        if now > deadline:
            raise TimeoutError(f"Streamlit still running after {timeout:.0f} s on {page.url}")
        time.sleep(0.1)


def goto(page, base_url: str, path: str = "", timeout: float = 60.0) -> None:
    page.goto(f"{base_url}/{path.lstrip('/')}", timeout=timeout * 1000, wait_until="domcontentloaded")
    wait_until_idle(page, timeout)


def exceptions(page) -> list[str]:
    """Texts of the visible Streamlit exception boxes (empty list when all is fine)."""
    return [t.strip() for t in page.locator(EXCEPTION).all_inner_texts()]


def assert_no_exception(page, where: str = "") -> None:
    found = exceptions(page)
    assert not found, f"exception box on {where or page.url}:\n" + "\n---\n".join(found)


def screenshot(page, name: str, full: bool = True) -> Path:
    """Save <ARTIFACTS>/<name>.png. Streamlit scrolls inside stMain, not the document, so a
    full shot temporarily grows the viewport to the height of the content."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    size = page.viewport_size or VIEWPORT
    height = size["height"]
    if full:
        try:
            height = page.evaluate(
                """(sel) => { const m = document.querySelector(sel);
                              return m ? m.scrollHeight : document.documentElement.scrollHeight; }""",
                MAIN,
            )
        except Exception:  # noqa: BLE001 - a page mid-navigation: keep the viewport
            height = size["height"]
    height = int(min(max(height, size["height"]), 6000))
    if height != size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(400)  # let charts re-lay out
    try:
        page.screenshot(path=str(path))
    finally:
        if height != size["height"]:
            page.set_viewport_size(size)
    return path


def visible_panel(page):
    """The tab panel that is showing (st.tabs keeps the hidden ones in the DOM)."""
    return page.locator('[data-testid="stTabPanel"]:visible')


def metric_value(scope, label: str) -> str:
    """The value of the visible st.metric with this label."""
    root = scope if hasattr(scope, "goto") else scope.page  # a Page or a Locator
    label_box = root.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    box = scope.locator('[data-testid="stMetric"]:visible').filter(has=label_box)
    box.first.wait_for(state="visible")
    return box.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def draw_stroke(page, points: list[tuple[float, float]], steps: int = 4, release: bool = True) -> None:
    """One freehand stroke on the drawable canvas; points are fractions (0-1) of its size."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box, "canvas.upper-canvas has no bounding box"

    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(p), steps=steps)
    if release:
        page.mouse.up()


def tshirt_zigzag() -> list[tuple[float, float]]:
    """A single stroke that fills a T-shirt shape (sleeves on top, body below) row by row."""
    pts: list[tuple[float, float]] = []
    y, flip = 0.18, False
    while y <= 0.88:
        left, right = (0.12, 0.88) if y < 0.40 else (0.30, 0.70)
        row = [(left, y), (right, y)]
        pts += row[::-1] if flip else row
        y += 0.06
        flip = not flip
    return pts


def tshirt_png(path: Path, garment: int = 255, background: int = 0, size: int = 240) -> Path:
    """A T-shirt silhouette (sleeves, neck cut-out) in one grey level on another."""
    from PIL import Image, ImageDraw

    s = size / 240
    img = Image.new("L", (size, size), background)
    d = ImageDraw.Draw(img)
    outline = [(70, 30), (100, 30), (120, 45), (140, 30), (170, 30), (225, 75), (200, 110), (180, 95),
               (180, 215), (60, 215), (60, 95), (40, 110), (15, 75)]  # fmt: skip
    d.polygon([(x * s, y * s) for x, y in outline], fill=garment)
    img.save(path)
    return path
