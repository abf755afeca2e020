"""The web server's start-up and memory, measured as a user meets them, for any checkout of the app.

1. Start-up: from ``streamlit run app.py`` to a usable Home page in Chromium.
2. First training: from pressing Start on Train (opened fresh) to the first batch in the progress line.
3. Memory: ``--runs`` users one after another each open Train, train one epoch on all 60,000 images
   and close their tab; the server process's RSS (children not included) is printed after each run
   and once more ``--settle`` s after the last.

``--repo DIR`` measures another checkout (e.g. a ``git worktree`` of an older commit) the same way,
so two versions can be compared in one sitting. A measurement, not a test: it prints and exits 0.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.browser import (  # noqa: E402 - the browser tests' server and page helpers
    CHROMIUM,
    CHROMIUM_ARGS,
    MAIN,
    TITLE,
    data_dir,
    free_port,
    start_server,
    stop_server,
    wait_for_health,
)

BATCH_RE = re.compile(r"batch (\d+)/")


def mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def progress_text(page) -> str:
    bars = page.locator(f'{MAIN} [data-testid="stProgress"]')
    return bars.first.inner_text().strip() if bars.count() else ""


def train_once(browser, base: str, epochs: int, subset: int, hidden: str, timeout: float) -> tuple[float, float]:
    """One user trains once and closes the tab: (s from Start to the first batch, s to the end)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/Train", timeout=timeout * 1000)
    page.get_by_role("button", name="Start training").wait_for(timeout=timeout * 1000)
    fill(page, "Epochs", str(epochs))
    fill(page, "Train subset", str(subset))
    fill(page, "Hidden layers", hidden)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    first = None
    deadline = t0 + timeout
    done = page.locator(f'{MAIN} [data-testid="stAlert"]').filter(has_text="Training finished")
    while time.perf_counter() < deadline:
        m = BATCH_RE.search(progress_text(page))
        if first is None and m and int(m.group(1)) > 0:
            first = time.perf_counter() - t0
        if done.count():
            break
        time.sleep(0.05)
    end = time.perf_counter() - t0
    context.close()
    return (first if first is not None else float("nan")), end


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose app.py to run (default: this one)")
    ap.add_argument(
        "--data-dir", default=None, help="the Fashion-MNIST folder (default: $FASHION_MNIST_DIR or ../shared)"
    )
    ap.add_argument("--runs", type=int, default=10, help="trainings one after another for the memory figure")
    ap.add_argument("--settle", type=float, default=10.0, help="s to wait after the last run before the last RSS")
    ap.add_argument("--hidden", default="32", help="hidden layers of each training (the form's text)")
    ap.add_argument("--timeout", type=float, default=180.0, help="s allowed for each step")
    args = ap.parse_args(argv)
    folder = args.data_dir or data_dir()
    if folder is None:
        print("no Fashion-MNIST folder: pass --data-dir or set FASHION_MNIST_DIR")
        return 0
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FASHION_MNIST_DIR": str(folder), "FASHION_MODELS_DIR": "/tmp/fashion-bench-models"}
    log = Path("/tmp") / f"app_server_{port}.log"
    print(f"app_server: {args.repo} at {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    server = start_server(port, env, log, cwd=args.repo)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            wait_for_health(base, server, args.timeout)
            page = browser.new_page()
            page.goto(base, timeout=args.timeout * 1000)
            page.locator(TITLE).filter(has_text="Fashion Live").wait_for(timeout=args.timeout * 1000)
            page.get_by_text("Where to go").wait_for(timeout=args.timeout * 1000)
            print(f"start-up: streamlit run to a usable Home page: {time.perf_counter() - t0:.1f} s")
            page.close()
            print(f"server RSS before any training: {mb(server.pid):.0f} MB")
            for i in range(args.runs):
                first, end = train_once(browser, base, 1, 0, args.hidden, args.timeout)
                label = "first training" if i == 0 else f"run {i + 1}"
                print(
                    f"{label}: Start to first batch {first:.1f} s, to the end {end:.1f} s; "
                    f"server RSS {mb(server.pid):.0f} MB"
                )
            time.sleep(args.settle)
            print(f"server RSS {args.settle:.0f} s after the last run: {mb(server.pid):.0f} MB")
            browser.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
