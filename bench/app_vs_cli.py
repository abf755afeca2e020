"""How much slower is training in the app (its live view open and refreshing) than in the CLI?

Trains the fast preset for --epochs epochs alternately through ``python -m model train`` and
through the Train page in headless Chromium, and prints the ratio of the trainer's own seconds
(the CLI's ``train_seconds``; the app's "Training finished: ... in X s." message), so start-up
and page loads do not count. Alternating makes drifting machine load hit both sides alike.
Usage: python bench/app_vs_cli.py [--repeats 2] [--epochs 30] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server, wait_for_health  # noqa: E402


def cli_seconds(data_dir: str, epochs: int, out: Path) -> float:
    """The trainer's seconds of one `python -m model train` run (its JSON line's train_seconds)."""
    cmd = [sys.executable, "-m", "model", "train", "--preset", "fast", "--epochs", str(epochs)]
    cmd += ["--data-dir", data_dir, "--out", str(out), "--quiet"]
    line = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return float(json.loads(line)["train_seconds"])


def app_seconds(browser, base: str, epochs: int) -> float:
    """The trainer's seconds of one run started on the Train page, as its finished message gives them."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/Train?epochs={epochs}", timeout=90_000)
        page.get_by_role("button", name="Start training").click(timeout=90_000)
        done = page.get_by_text(re.compile(r"Training finished: \d+ epochs in [\d.]+ s"))
        done.wait_for(timeout=600_000)
        return float(re.search(r"in ([\d.]+) s", done.inner_text()).group(1))
    finally:
        page.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="rounds of one CLI and one app training (default 2)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs of the fast preset (default 30)")
    ap.add_argument(
        "--data-dir",
        default=os.environ.get("FASHION_MNIST_DIR") or str(REPO.parent / "shared/data/fashion-mnist"),
        help="Fashion-MNIST folder (default: $FASHION_MNIST_DIR, else ../shared/data/fashion-mnist)",
    )
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    env = {**os.environ, "FASHION_MNIST_DIR": args.data_dir, "FASHION_MODELS_DIR": str(tmp / "models")}
    server = start_server(port, env, tmp / "server.log")
    cli, app = [], []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, server, timeout=90)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(args.repeats):  # interleaved, so drifting machine load hits both alike
                cli.append(cli_seconds(args.data_dir, args.epochs, tmp / f"cli{i}.npz"))
                app.append(app_seconds(browser, base, args.epochs))
                print(f"run {i + 1}: CLI {cli[-1]:.1f} s, app {app[-1]:.1f} s", flush=True)
            browser.close()
    finally:
        stop_server(server)
    ratio = statistics.median(app) / statistics.median(cli)
    verdict = "PASS" if ratio <= 1.15 else "MISS"
    print(
        f"fast preset, {args.epochs} epochs: CLI median {statistics.median(cli):.1f} s, app median {statistics.median(app):.1f} s"
    )
    print(f"app / CLI = {ratio:.2f}x (target <= 1.15x): {verdict}")
    print(json.dumps({"cli_seconds": cli, "app_seconds": app, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
