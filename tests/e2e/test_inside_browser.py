"""End-to-end: the inside-the-network panels in headless Chromium, on the real app and data.

A training: the Train page's panel fills with readings while it trains (gradient norms, dead units,
the first layer's tiles) and keeps them once stopped; Predict shows a test image's strongest hidden
units with the test images exciting them; Explore reads the shipped model. Uses Debian's
/usr/bin/chromium through Playwright (never `playwright install`); screenshots go to
$ARTIFACTS_DIR, else <repo>/artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")

from tests.support.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    MAIN,
    VIEWPORT,
    assert_no_exception,
    data_dir,
    free_port,
    goto,
    screenshot,
    start_server,
    stop_server,
    tail,
    visible_panel,
    wait_for_health,
    wait_until_idle,
)

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it", allow_module_level=True)

DATA = data_dir()
if DATA is None:
    pytest.skip("the real Fashion-MNIST files are not on this machine", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from ui import inside  # noqa: E402

PANEL = f'[aria-label="{inside.PANEL_LABEL}"]'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inside-browser")
    env = {**os.environ, "FASHION_MNIST_DIR": str(DATA), "FASHION_MODELS_DIR": str(tmp / "models")}
    env["PYTHONUNBUFFERED"] = "1"
    port, log = free_port(), tmp / "streamlit.log"
    proc = start_server(port, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, proc, timeout=90)
    except Exception as e:
        stop_server(proc)
        pytest.fail(f"streamlit did not start: {e}\n{tail(log)}")
    yield base
    stop_server(proc)


@pytest.fixture(scope="module")
def page(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_context(viewport=VIEWPORT).new_page()
        pg.set_default_timeout(30_000)
        yield pg
        browser.close()


def open_expander(scope, title: str):
    box = scope.locator('[data-testid="stExpander"]').filter(has_text=title).first
    box.wait_for(timeout=120_000)
    box.locator("summary").click()
    return box


def readings(page) -> int:
    panel = page.locator(f"{MAIN} {PANEL}")
    return int(panel.first.get_attribute("data-readings") or 0) if panel.count() else 0


def test_train_panel_fills_while_training_and_keeps_its_readings(page, server):
    goto(page, server, "Train?hidden=64%2C32&epochs=30", timeout=90)  # all 54,000 images: a minute or more
    page.get_by_role("button", name="Start training").click()
    box = open_expander(page.locator(MAIN), inside.TRAIN_TITLE)
    t0, seen = time.monotonic(), set()
    while time.monotonic() - t0 < 180 and len(seen - {0}) < 3:
        seen.add(readings(page))
        time.sleep(0.3)
    assert len(seen - {0}) >= 3, f"the panel should redraw with more readings while the run trains, saw {seen}"
    page.locator(MAIN).get_by_role("button", name="Stop").click()
    stopped = page.locator(f'{MAIN} [data-testid="stAlert"]').filter(has_text="Stopped")
    expect(stopped.first).to_be_visible(timeout=120_000)
    wait_until_idle(page)
    box.scroll_into_view_if_needed()
    panel = page.locator(f"{MAIN} {PANEL}").first
    expect(panel).to_be_visible()
    assert readings(page) >= max(seen), "the stopped run keeps its readings"
    images = panel.locator("img")
    expect(images).to_have_count(4)  # gradient chart, dead-units chart, learned tiles, weight tiles
    assert all(w > 0 for w in images.evaluate_all("els => els.map(e => e.naturalWidth)")), "an image did not load"
    expect(panel.locator('[data-tiles="changed"]')).to_contain_text("moved by")
    expect(box).to_contain_text(inside.GRADIENT_TITLE)
    expect(box).to_contain_text(inside.UNIT_TITLES["dead"])
    expect(box).to_contain_text(re.compile(r"Gradients reach the first layer|Vanishing gradient"))
    expect(box).to_contain_text("relu units are dead")
    assert_no_exception(page, "Train with the inside panel")
    screenshot(page, "inside-train-stopped")


def test_predict_shows_the_strongest_hidden_units_and_what_excites_them(page, server):
    goto(page, server, "Predict", timeout=90)
    page.get_by_role("tab", name=re.compile("Test image")).click()
    wait_until_idle(page)
    box = open_expander(visible_panel(page), inside.PREDICT_TITLE)
    section = box.locator(f'[aria-label="{inside.ACTIVATIONS_LABEL}"]')
    expect(section).to_be_visible()
    expect(section.locator('[data-unit][data-layer="1"]')).to_have_count(inside.TOP_UNITS)
    exciting = section.locator("[data-exciting]")
    assert exciting.count() >= inside.EXPLAINED_UNITS
    expect(exciting.first.locator("img")).to_have_count(inside.TOP_IMAGES)
    assert_no_exception(page, "Predict with the hidden-units panel")
    box.scroll_into_view_if_needed()
    screenshot(page, "inside-predict", full=False)


def test_explore_reads_a_model(page, server):
    goto(page, server, "Explore", timeout=120)
    box = open_expander(page.locator(MAIN), inside.EXPLORE_TITLE)
    wait_until_idle(page)
    expect(box.locator('[data-testid="stDataFrame"]')).to_be_visible()
    expect(box).to_contain_text("Gradients reach the first layer")
    expect(box.locator('[data-tiles="changed"] img')).to_be_visible()
    assert_no_exception(page, "Explore with the inside panel")
    box.scroll_into_view_if_needed()
    screenshot(page, "inside-explore", full=False)
