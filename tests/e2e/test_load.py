"""A reduced load test for CI: 3 browser sessions on one `streamlit run app.py` for about 25 s.

One session trains (5,000 images, 3 epochs), two draw on the Predict canvas and upload images,
all at once in one headless Debian chromium (never `playwright install`). Asserts no errors (exception
boxes, page errors, console errors, timeouts), that every prediction arrived, and a generous p95.
The full run, with its real targets, is `python bench/load_test.py` (8 sessions, 2 trainings, 90 s).

Run:  python -m pytest tests/e2e/test_load.py -q -s   (about 60 s)
"""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.async_api", reason="the Python playwright package is not installed")

from tests.support.browser import CHROMIUM, REPO, data_dir  # noqa: E402

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the load test needs it", allow_module_level=True)
if data_dir() is None:
    pytest.skip("the real Fashion-MNIST files are not on this machine; the trainer needs them", allow_module_level=True)

# CI machines are noisy (shared cores, other jobs), so CI only checks a generous bound that still
# catches a server that stalls; the real target, p95 < 1.0 s with two trainings running, is
# checked by bench/load_test.py.
CI_P95_MS = 3000.0


def load_bench():
    """bench/load_test.py, the entry script, loaded by path (bench/ is not on the test path)."""
    spec = importlib.util.spec_from_file_location("load_test", REPO / "bench" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_three_sessions_draw_upload_while_training():
    lt = load_bench()
    cfg = lt.Config(
        sessions=3,
        trainers=1,  # one training: no queue checker (that needs 2 running trainings)
        duration=25.0,
        train_epochs=3,
        train_subset=5000,
        idle_wait=0.0,  # the 60 s idle-stop check belongs to the full run
        timeout=20.0,
        page_timeout=60.0,
        seed=7,
    )
    res = lt.run(cfg)
    print("\n" + lt.report(cfg, res))

    problems = [f"[{e['session']}] {e['kind']}: {e['detail'][:300]}" for e in res["errors"]]
    assert not problems, "errors under load:\n" + "\n".join(problems)
    for kind in ("draw", "upload"):
        lat = res["latency_ms"][kind]
        assert lat["attempts"] > 0, f"no {kind} was tried in {cfg.duration:.0f} s"
        assert lat["all"]["n"] == lat["attempts"], (
            f"only {lat['all']['n']} of {lat['attempts']} {kind}s got a prediction"
        )
        assert lat["all"]["p95"] < CI_P95_MS, f"{kind} p95 {lat['all']['p95']:.0f} ms >= {CI_P95_MS:.0f} ms"
    (trainer,) = res["trainers"]
    assert trainer["first_epoch"] is not None, "the training never showed an 'Epoch' progress line"
    assert trainer["finished"] or trainer["last_epoch"] > trainer["first_epoch"], (
        f"the training did not move: {trainer}"
    )
