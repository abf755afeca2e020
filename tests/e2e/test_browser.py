"""End-to-end tests: the real app under `streamlit run`, driven in headless Chromium.

Run:  python -m pytest tests/test_browser.py -q -s   (or -m browser)

Uses Debian's /usr/bin/chromium through Playwright's sync API (never `playwright install`).
The app trains on the real Fashion-MNIST ($FASHION_MNIST_DIR, else /work/shared/data/fashion-mnist)
and saves models into a temporary $FASHION_MODELS_DIR, never into the repository.
Screenshots go to $ARTIFACTS_DIR, else <repo>/artifacts/browser/ (git-ignored via /artifacts/).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import urllib.parse

import numpy as np
import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")

from tests.support.browser import (  # noqa: E402
    ANSWER,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTION,
    MAIN,
    PROBABILITY_BARS,
    VIEWPORT,
    assert_no_exception,
    data_dir,
    draw_stroke,
    free_port,
    goto,
    metric_value,
    screenshot,
    start_server,
    stop_server,
    tail,
    tshirt_png,
    tshirt_zigzag,
    visible_panel,
    wait_for_health,
    wait_until_idle,
)

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it", allow_module_level=True)

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from model.datasets.fashion_mnist import CLASS_NAMES  # noqa: E402

DATA = data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="the real Fashion-MNIST files are not on this machine")


STCORE_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
TIMINGS: dict[str, str] = {}  # printed at the end of the module (run with -s to see them)


def record(name: str, value: str) -> None:
    TIMINGS[name] = value
    print(f"\n[timing] {name}: {value}")


# ----- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` on a free port; yields its base URL, stops it afterwards."""
    tmp = tmp_path_factory.mktemp("browser")
    for old in ARTIFACTS.glob("*-FAILED.png"):  # failure shots of an earlier run would mislead
        old.unlink()
    port = free_port()
    env = dict(os.environ)
    if DATA is not None:
        env["FASHION_MNIST_DIR"] = str(DATA)
    env["FASHION_MODELS_DIR"] = str(tmp / "models")
    env["PYTHONUNBUFFERED"] = "1"
    log_path = tmp / "streamlit.log"
    proc = start_server(port, env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, proc, timeout=90)
    except Exception as e:
        stop_server(proc)
        pytest.fail(f"streamlit did not start: {e}\n{tail(log_path)}")
    yield base
    stop_server(proc)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "streamlit.log").write_text(log_path.read_text(errors="replace"))
    problems = [
        line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line or "Error" in line
    ]
    print(
        f"\n[server] log saved to {ARTIFACTS / 'streamlit.log'}"
        + (f"; {len(problems)} error lines" if problems else "")
    )
    if TIMINGS:
        print("[timings] " + "; ".join(f"{k}: {v}" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def is_local(url: str) -> bool:
    """True for the app's own requests (loopback) and inline data; anything else needs the internet."""
    parsed = urllib.parse.urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost")


def watch(context, pg) -> tuple[list[str], list[str]]:
    """(errors, outside): the page's errors (console errors, uncaught exceptions, failed requests) and the
    requests it tried to send off this machine, which are refused as if offline."""
    errors: list[str] = []
    outside: list[str] = []

    def offline(route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", offline)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.on(
        "console",
        lambda m: (
            errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    # Any failed request, except the frontend's probe of /<Page>/_stcore/... before it falls back to /_stcore/.
    pg.on(
        "response",
        lambda r: (
            errors.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not STCORE_PROBE.search(urllib.parse.urlparse(r.url).path)
            else None
        ),
    )
    return errors, outside


@pytest.fixture
def page(browser, server, request):
    """A fresh context (so a fresh Streamlit session) per test, offline: it fails the test if the page
    logged an error or tried to reach another machine (fonts, icons), and saves a screenshot on failure."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors, outside = watch(context, pg)
    failed_before = request.session.testsfailed
    yield pg
    if request.session.testsfailed > failed_before:
        try:
            print(f"\n[failure] screenshot: {screenshot(pg, request.node.name + '-FAILED')}")
        except Exception as e:  # noqa: BLE001
            print(f"\n[failure] no screenshot: {e}")
    context.close()
    assert not outside, "the app asked for files from other machines (it must work offline):\n  " + "\n  ".join(
        sorted(set(outside))
    )
    assert not errors, f"errors in the browser during {request.node.name}:\n  " + "\n  ".join(errors[:20])


# ----- 1. every page loads -----------------------------------------------------------------
# Home last on purpose: a direct link to a page must work on a server where nobody has opened
# Home yet (the pages are only known once app.py's st.navigation has run).
PAGES = [
    ("train", "Train", "Train"),
    ("predict", "Predict", "Predict"),
    ("metrics", "Metrics", "Metrics"),
    ("explore", "Explore", "Explore"),
    ("home", "", "Fashion Live"),
]
NAV_LABELS = ["Home", "Train", "Predict", "Metrics", "Explore"]


@pytest.mark.parametrize(("name", "path", "title"), PAGES, ids=[p[0] for p in PAGES])
def test_page_loads_without_exception(page, server, name, path, title):
    goto(page, server, path, timeout=90)
    expect(page.locator(f"{MAIN} h1").first).to_have_text(title)
    expect(page).to_have_title(re.compile(re.escape(title)))
    shot = screenshot(page, f"page-{name}")
    assert_no_exception(page, f"/{path} (see {shot})")
    # The sidebar navigation: app.py's names (Home, ...) and the URL paths /Train, /Predict, ...
    links = page.locator('[data-testid="stSidebarNav"] a').evaluate_all(
        "els => els.map(a => [a.innerText.trim().split('\\n').pop().trim(), a.getAttribute('href')])"
    )
    labels = [label for label, _ in links]
    paths = {urllib.parse.urlparse(href).path for _, href in links}
    for other in ("/Train", "/Predict", "/Metrics", "/Explore"):
        assert other in paths, f"sidebar navigation has no link to {other}: {sorted(paths)}"
    assert labels == NAV_LABELS, f"sidebar navigation on /{path} reads {labels}, expected {NAV_LABELS} (see {shot})"


def test_no_deploy_button_and_a_local_tab_icon(page, server):
    """Learners get no Deploy button or developer menu; the tab icon is served by the app (offline-safe)."""
    goto(page, server, "Train", timeout=90)
    expect(page.locator('[data-testid="stToolbar"]')).not_to_contain_text("Deploy")
    assert page.get_by_role("button", name="Deploy").count() == 0
    icon = page.locator("link[rel='shortcut icon']").get_attribute("href") or ""
    assert is_local(urllib.parse.urljoin(page.url, icon)), icon


# ----- 2-3. Predict --------------------------------------------------------------------------
PREVIEW_CAPTION = "What the model sees"


def probability_ranking(scope) -> list[str]:
    """Class names from top to bottom of the probability bars, by their on-screen position.

    The page sorts the bars by probability, highest first, so this is the model's ranking."""
    bars = scope.locator(f"{PROBABILITY_BARS}:visible").first
    expect(bars).to_be_visible()
    labels = bars.evaluate(
        """(c) => [...c.querySelectorAll('[data-class]')]
             .filter(r => r.getBoundingClientRect().height > 0)
             .map(r => [r.dataset.class, r.getBoundingClientRect().top])"""
    )
    return [name for name, _ in sorted(labels, key=lambda item: item[1])]


def answer_stat(scope, label: str) -> str:
    """The visible text of one figure at the top of the Predict answer ("Prediction", "Probability")."""
    return scope.locator(f'{ANSWER}:visible [data-stat="{label}"]').first.inner_text().strip()


def check_prediction(scope) -> tuple[str, str, list[str]]:
    label = answer_stat(scope, "Prediction")
    prob = answer_stat(scope, "Probability")
    assert scope.locator(f"{ANSWER}:visible").first.get_attribute("data-prediction") == label
    assert label in CLASS_NAMES, f"prediction {label!r} is not a Fashion-MNIST class"
    value = float(re.sub(r"[^0-9.]", "", prob))
    assert 0 < value <= 100 and prob.strip().endswith("%"), f"odd probability {prob!r}"
    ranking = probability_ranking(scope)
    assert sorted(ranking) == sorted(CLASS_NAMES), f"the bars should list all 10 classes once, got {ranking}"
    assert ranking[0] == label, f"the top bar {ranking[0]!r} differs from the prediction {label!r}"
    return label, prob, ranking


# Resolves to the ms since the last mouseup once the visible tab shows an answer for an input other
# than `prev` (its data-input), with its pictures decoded, the probability bars and the Prediction.
WAIT_FOR_NEW_PREDICTION = """
([prev, caption]) => {
  if (window.__mouseup == null) return false;
  const panel = [...document.querySelectorAll('[data-testid="stTabPanel"]')].find(p => p.offsetParent !== null);
  if (!panel) return false;
  const answer = panel.querySelector(ANSWER);
  if (!answer || answer.dataset.input === prev || !answer.innerText.includes(caption)) return false;
  const imgs = [...answer.querySelectorAll('img')];
  if (imgs.length < 2 || imgs.some(i => !i.complete || i.naturalWidth === 0)) return false;
  if (!answer.querySelector(BARS) || !answer.querySelector('[data-stat="Prediction"]')) return false;
  return {ms: performance.now() - window.__mouseup, src: answer.dataset.input};
}
""".replace("BARS", json.dumps(PROBABILITY_BARS)).replace("ANSWER", json.dumps(ANSWER))
ARM_MOUSEUP = """() => { window.__mouseup = null;
  document.addEventListener('mouseup', () => { window.__mouseup = performance.now(); }, {capture: true, once: true}); }"""


def test_predict_draw_stroke_shows_probabilities(page, server):
    goto(page, server, "Predict", timeout=90)
    panel = visible_panel(page)
    expect(page.get_by_role("tab", selected=True)).to_contain_text("Draw")
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible(timeout=60_000)
    expect(panel.get_by_text("Draw a piece of clothing")).to_be_visible()
    assert_no_exception(page, "Predict")

    # First stroke: a filled T-shirt shape in one go; time from mouse-up to the prediction.
    page.evaluate(ARM_MOUSEUP)
    t0 = time.perf_counter()
    draw_stroke(page, tshirt_zigzag(), release=False)
    t_draw = time.perf_counter() - t0
    t_up = time.perf_counter()
    page.mouse.up()
    res = page.wait_for_function(WAIT_FOR_NEW_PREDICTION, arg=["", PREVIEW_CAPTION], timeout=60_000).json_value()
    wall = time.perf_counter() - t_up
    record(
        "stroke->prediction (first)",
        f"{res['ms']:.0f} ms in the page, {wall * 1000:.0f} ms wall (stroke took {t_draw:.1f} s)",
    )
    wait_until_idle(page)
    label, prob, ranking = check_prediction(panel)
    print(f"\n[predict] drawing -> {label} ({prob}); ranking {ranking}")
    screenshot(page, "predict-draw-1")

    # Second stroke (a line under the shirt): the prediction must update again.
    page.evaluate(ARM_MOUSEUP)
    draw_stroke(page, [(0.15, 0.94), (0.85, 0.94)], release=False)
    t_up = time.perf_counter()
    page.mouse.up()
    res2 = page.wait_for_function(
        WAIT_FOR_NEW_PREDICTION, arg=[res["src"], PREVIEW_CAPTION], timeout=60_000
    ).json_value()
    wall = time.perf_counter() - t_up
    record("stroke->prediction (update)", f"{res2['ms']:.0f} ms in the page, {wall * 1000:.0f} ms wall")
    wait_until_idle(page)
    check_prediction(panel)
    assert_no_exception(page, "Predict after drawing")
    screenshot(page, "predict-draw-2")


def fetch_preview(page, scope) -> np.ndarray:
    """The '28x28 as the model sees it' image, decoded from the answer and brought to 28x28 (grey)."""
    from PIL import Image

    pic = scope.locator(f"{ANSWER}:visible figure").filter(has_text=PREVIEW_CAPTION).first
    src = pic.locator("img").get_attribute("src")
    head, _, data = src.partition(",")
    assert head == "data:image/png;base64", f"the preview is not an inline PNG: {src[:40]!r}"
    img = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
    assert img.width == img.height and img.width % 28 == 0, f"preview is {img.size}, not a multiple of 28x28"
    return np.asarray(img.resize((28, 28), Image.Resampling.BOX), dtype=np.float64)


UPLOADS = [("white-on-black", 255, 0), ("dark-on-white", 40, 255)]


@pytest.mark.parametrize(("name", "garment", "background"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_predict_upload_png(page, server, tmp_path, name, garment, background):
    png = tshirt_png(tmp_path / f"tshirt-{name}.png", garment=garment, background=background)
    goto(page, server, "Predict", timeout=90)
    page.get_by_role("tab", name=re.compile("Upload")).click()
    expect(page.get_by_role("tab", selected=True)).to_contain_text("Upload")
    panel = visible_panel(page)
    panel.locator('input[type="file"]').set_input_files(str(png))
    expect(panel.locator('[data-testid="stImage"]').filter(has_text=f"Your upload: {png.name}")).to_be_visible(
        timeout=60_000
    )
    expect(panel.locator(ANSWER).filter(has_text=PREVIEW_CAPTION)).to_be_visible(timeout=60_000)
    wait_until_idle(page)
    assert_no_exception(page, f"Predict upload {name}")
    label, prob, ranking = check_prediction(panel)
    print(f"\n[predict] upload {png.name} -> {label} ({prob}); ranking {ranking}")

    # Like Fashion-MNIST, the preview is a light garment on black whatever the upload's colours.
    pix = fetch_preview(page, panel)
    border = np.concatenate([pix[0], pix[-1], pix[:, 0], pix[:, -1]])
    centre = pix[10:20, 11:17]
    assert border.mean() < 40, f"preview border should be black, mean {border.mean():.0f}"
    assert centre.mean() > 120, f"preview body should be light, mean {centre.mean():.0f}"
    upper = {"T-shirt/top", "Shirt", "Pullover", "Coat", "Dress"}
    assert upper & set(ranking[:3]), f"a T-shirt silhouette should rank some top-wear in the top 3, got {ranking[:3]}"
    screenshot(page, f"predict-upload-{name}")


@needs_data
def test_predict_test_image_tab(page, server):
    goto(page, server, "Predict", timeout=90)
    page.get_by_role("tab", name=re.compile("Test image")).click()
    panel = visible_panel(page)
    expect(panel.get_by_text(re.compile(r"Test image #[\d,]+ of 10,000"))).to_be_visible()
    first = panel.get_by_text(re.compile(r"Test image #")).inner_text()
    check_prediction(panel)
    truth = re.search(r"true label is (.+?)\.?$", first).group(1)
    right = answer_stat(panel, "Prediction") == truth
    verdict = panel.locator(f"{ANSWER}:visible [data-verdict]")
    expect(verdict).to_have_text(
        re.compile(rf"^. {'Correct' if right else 'Wrong'}: the true label is {re.escape(truth)}")
    )
    panel.get_by_role("button", name="Random test image").click()
    expect(panel.get_by_text(re.compile(r"Test image #"))).not_to_have_text(first, timeout=30_000)
    wait_until_idle(page)
    check_prediction(panel)
    assert_no_exception(page, "Predict test image tab")
    screenshot(page, "predict-test-image")


def ring_points(n: int = 40) -> list[tuple[float, float]]:
    """A closed ring, one stroke, a little more than a full turn (fractions of the canvas)."""
    turns = np.linspace(0.0, 2.1 * np.pi, n)
    return [(0.5 + 0.33 * np.cos(t), 0.5 + 0.33 * np.sin(t)) for t in turns]


def draw_and_wait(page, points: list[tuple[float, float]], prev: str = "") -> str:
    """Draw one stroke and wait for the answer to a new input; returns that input's id."""
    page.evaluate(ARM_MOUSEUP)
    draw_stroke(page, points)
    res = page.wait_for_function(WAIT_FOR_NEW_PREDICTION, arg=[prev, PREVIEW_CAPTION], timeout=60_000).json_value()
    wait_until_idle(page)
    return res["src"]


def test_predict_fill_toggle_fills_a_drawn_ring(page, server):
    goto(page, server, "Predict", timeout=90)
    panel = visible_panel(page)
    expect(page.locator("canvas.upper-canvas").first).to_be_visible(timeout=60_000)
    first = draw_and_wait(page, ring_points())
    outline = fetch_preview(page, panel)
    assert outline[12:16, 12:16].mean() < 10 and outline.max() > 200, "a ring should reach the model as a ring"
    panel.get_by_test_id("stCheckbox").filter(has_text="Fill in closed outlines").locator("label").click()
    expect(panel.locator(ANSWER)).not_to_have_attribute("data-input", first, timeout=30_000)
    wait_until_idle(page)
    filled = fetch_preview(page, panel)
    assert filled[12:16, 12:16].mean() > 200, f"with Fill on, the ring's inside should be white: {filled[12:16, 12:16]}"
    assert_no_exception(page, "Predict with Fill on")
    screenshot(page, "predict-draw-filled")


@needs_data
def test_predict_ghost_shows_on_the_canvas_but_not_in_the_drawing(page, server):
    from PIL import Image

    goto(page, server, "Predict", timeout=90)
    panel = visible_panel(page)
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible(timeout=60_000)
    panel.locator('[data-testid="stSelectbox"]').filter(has_text="Ghost").click()
    page.get_by_role("option", name="Pullover", exact=True).click()
    wait_until_idle(page)
    page.wait_for_timeout(500)  # the canvas draws its background image once it has loaded
    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), dtype=int)
    h, w, _ = shot.shape
    assert shot[h // 2, w // 2, 2] > 30 and shot[h // 2, w // 2, 2] > shot[h // 2, w // 2, 0], "no ghost on the canvas"
    assert shot[10:15, 10:15].max() < 10, "the canvas should stay black around the ghost"
    expect(panel.get_by_text("Draw a piece of clothing")).to_be_visible()  # a ghost alone is not a drawing
    draw_and_wait(page, ring_points())
    pix = fetch_preview(page, panel)
    # The pullover's ghost is lit in the ring's middle: the model input is black there, so it holds the strokes only.
    assert pix[12:16, 12:16].mean() < 10, f"the ghost reached the model input: {pix[12:16, 12:16]}"
    assert_no_exception(page, "Predict with a ghost")
    screenshot(page, "predict-draw-ghost")


# ----- 4-5. Train ----------------------------------------------------------------------------
PROGRESS = '[data-testid="stProgress"]'
EPOCH = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")


def set_training_form(page, **values) -> None:
    """Type settings into the Train page; each change reruns the page (no form), so wait for it."""
    for label, value in values.items():
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Tab")
        expect(box).to_have_value(str(value))
        wait_until_idle(page)


def progress_text(page) -> str:
    bars = page.locator(f"{MAIN} {PROGRESS}")
    return bars.first.inner_text().strip() if bars.count() else ""


def learning_curves(page):
    return page.locator(f'{MAIN} [data-testid="stVegaLiteChart"]').filter(has_text="epoch")


@needs_data
@pytest.mark.slow
def test_train_short_run_live_view_and_finish(page, server):
    goto(page, server, "Train", timeout=90)
    assert_no_exception(page, "Train")
    expect(page.get_by_text("No training yet in this session")).to_be_visible()
    set_training_form(page, **{"Epochs": 2, "Train subset": 3000, "Hidden layers": "32"})
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start training").click()

    seen: list[str] = []  # every distinct progress line, to show the live view moving
    first_epoch_at = curves_at = finished_at = None
    done = page.locator(f'{MAIN} [data-testid="stAlert"]').filter(has_text="Training finished")
    deadline = t0 + 120
    while time.perf_counter() < deadline and (finished_at is None or curves_at is None):
        text = progress_text(page)
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        now = time.perf_counter() - t0
        if first_epoch_at is None and EPOCH.search(text):
            first_epoch_at = now
        if curves_at is None and learning_curves(page).count() >= 2:
            curves_at = now
        if finished_at is None and done.count():
            finished_at = now
        time.sleep(0.1)
    print(f"\n[train] progress lines seen: {seen}")
    assert finished_at is not None, f"no 'Training finished.' within 120 s; progress lines: {seen}"
    assert first_epoch_at is not None, f"never saw 'Epoch x/2' in the progress bar: {seen}"
    assert any(re.search(r"Epoch \d+/2\b", s) for s in seen), seen
    assert curves_at is not None, "the learning curves (loss and accuracy vs epoch) never appeared"
    wait_until_idle(page)
    acc = metric_value(page, "Test accuracy")
    f1 = metric_value(page, "Macro F1")
    acc_value = float(acc.rstrip("%"))
    assert 30 < acc_value <= 100, f"2 epochs on 3,000 images should beat chance clearly, got {acc}"
    record(
        "train 2 epochs x 3000 imgs, hidden 32",
        f"first 'Epoch' line {first_epoch_at:.1f} s, curves {curves_at:.1f} s, 'Training finished.' {finished_at:.1f} s "
        f"after Start; test accuracy {acc}, macro F1 {f1}",
    )
    expect(learning_curves(page)).to_have_count(2)
    expect(page.get_by_role("button", name="Save model")).to_be_visible()
    assert "epochs=2" in page.url and "train_subset=3000" in page.url and "hidden=32" in page.url, page.url
    assert_no_exception(page, "Train after a run")
    screenshot(page, "train-short-finished")


@needs_data
@pytest.mark.slow
def test_train_long_run_stop_and_resume(page, server):
    """30 epochs on all 60,000 images: watch it move, Stop, see the stopped state, Resume, Stop again.

    Checks after the Stop are collected and reported together, so one missing piece does not
    hide the others."""
    goto(page, server, "Train", timeout=90)
    set_training_form(page, **{"Epochs": 30, "Train subset": 0})
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    main = page.locator(MAIN)  # the top bar has its own "Stop" (the script's) while a run is going
    stop = main.get_by_role("button", name="Stop", exact=True)
    resume = main.get_by_role("button", name="Resume training")
    bar = page.locator(f"{MAIN} {PROGRESS}").first
    problems: list[str] = []
    try:
        expect(stop).to_be_visible(timeout=60_000)
        # The live view moves: the progress line changes between two looks.
        expect(bar).to_contain_text(re.compile(r"Epoch \d+/30"), timeout=60_000)
        first = progress_text(page)
        expect(bar).not_to_have_text(first, timeout=30_000)
        print(f"\n[train] live: {first!r} -> {progress_text(page)!r}")
        moving_at = time.perf_counter() - t0
        # No need to wait for a whole epoch here (a minute on a busy machine): the short run
        # checks the learning curves; Resume is checked against the (epoch, batch) it stopped at.
        # (The sidebar's own status is left out on Train: the live view shows it there.)
        screenshot(page, "train-long-running")
        running = progress_text(page)
        t_stop = time.perf_counter()
        stop.click()
        expect(resume).to_be_visible(timeout=60_000)
        stop_latency = time.perf_counter() - t_stop
        wait_until_idle(page)
        stopped_line = progress_text(page)
        m = EPOCH.search(stopped_line)
        assert m, f"no epoch in the stopped progress line {stopped_line!r}"
        stopped_epoch, stopped_batch = int(m.group(1)), int(m.group(3))
        acc = metric_value(page, "Test accuracy")
        screenshot(page, "train-long-stopped")
        alerts = page.locator(f'{MAIN} [data-testid="stAlert"]').all_inner_texts()
        if not any("Stopped" in a for a in alerts):
            problems.append(f"no 'Stopped' message after Stop (alerts on the page: {alerts})")
        if stop.count():
            problems.append("the Stop button is still shown after the run stopped")
        record(
            "train full set, 30 epochs then Stop",
            f"live view moving {moving_at:.1f} s after Start; Resume shown {stop_latency:.1f} s after Stop; "
            f"stopped at {stopped_line!r} ({running!r} when pressed); test accuracy {acc}",
        )
        exc = page.locator(EXCEPTION).all_inner_texts()
        if exc:
            problems.append(f"exception after Stop: {exc}")

        # Resume continues where it stopped (not from epoch 1), then stop again.
        resume.click()
        expect(stop).to_be_visible(timeout=60_000)
        # Wait until the resumed run reports a new position ("about m:ss left" only while it runs).
        resumed_line, deadline = "", time.perf_counter() + 60
        while time.perf_counter() < deadline:
            resumed_line = progress_text(page)
            m2 = EPOCH.search(resumed_line)
            if "left" in resumed_line and m2 and (int(m2.group(1)), int(m2.group(3))) != (stopped_epoch, stopped_batch):
                break
            time.sleep(0.2)
        m2 = EPOCH.search(resumed_line)
        if not m2 or (int(m2.group(1)), int(m2.group(3))) < (stopped_epoch, stopped_batch):
            problems.append(f"Resume did not continue from epoch {stopped_epoch}: {resumed_line!r}")
        print(f"\n[train] resumed: {stopped_line!r} -> {resumed_line!r}")
        screenshot(page, "train-long-resumed")
        stop.click()
        try:
            expect(resume).to_be_visible(timeout=30_000)
        except AssertionError:
            problems.append("after Resume and a second Stop, no 'Resume training' button (results not redrawn)")
        wait_until_idle(page)  # the previous run's elements stay in the page until the rerun ends
        if stop.count():
            problems.append("after Resume and a second Stop, the Stop button is still shown")
        screenshot(page, "train-long-stopped-again")
        exc = page.locator(EXCEPTION).all_inner_texts()
        if exc:
            problems.append(f"exception after Resume and Stop: {exc}")
    finally:
        if stop.count() and stop.is_visible():  # never leave a 30-epoch run burning the 2 cores
            stop.click()
    assert not problems, "Train stop/resume problems:\n- " + "\n- ".join(problems)


# ----- 6. the Train page as a teacher wants it ------------------------------------------------
SIDEBAR = '[data-testid="stSidebar"]'
SIZES = [(1400, 1000), (1280, 720)]
NARROW = [(800, 900), (1280, 720)]


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def fully_in_view(page, locator) -> bool:
    box, view = locator.bounding_box(), page.viewport_size
    return (
        bool(box)
        and 0 <= box["y"]
        and box["y"] + box["height"] <= view["height"]
        and box["x"] + box["width"] <= view["width"]
    )


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_after_start_the_live_view_is_in_sight(page, server, size):
    """The learner presses Start (scrolled down to it on a small screen) and sees the run at once."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    goto(page, server, "Train", timeout=90)
    set_training_form(page, **{"Epochs": 3, "Train subset": 6000, "Hidden layers": "32"})
    start = page.locator(MAIN).get_by_role("button", name="Start training")
    start.scroll_into_view_if_needed()
    start.click()
    bar = page.locator(f"{MAIN} {PROGRESS}").first
    expect(bar).to_be_visible(timeout=60_000)
    page.wait_for_timeout(500)  # the one scroll to the live view
    screenshot(page, f"train-after-start-{size_id(size)}", full=False)
    assert fully_in_view(page, page.locator("#live")), "the Live heading is out of sight after Start"
    assert fully_in_view(page, bar), f"the progress bar is out of sight after Start: {bar.bounding_box()}"
    expect(page.locator(MAIN).get_by_role("button", name="Stop", exact=True)).to_be_visible()
    done = page.locator(f'{MAIN} [data-testid="stAlert"]').filter(has_text="Training finished")
    expect(done).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    assert fully_in_view(page, page.locator("#live")), "the results pushed the live view out of sight"
    screenshot(page, f"train-finished-{size_id(size)}", full=False)


@needs_data
@pytest.mark.slow
def test_sidebar_status_stops_refreshing_when_the_run_ends(page, server):
    """On another page the sidebar shows the run, refreshing itself every 2 s, and stops once it ended."""
    sent: list[float] = []  # every message the page sends to the server (reruns, fragment ticks, widgets)
    page.on("websocket", lambda ws: ws.on("framesent", lambda _payload: sent.append(time.monotonic())))
    goto(page, server, "Train", timeout=90)
    # Long enough (about half a minute in a worker) to be still running when Predict has loaded.
    set_training_form(page, **{"Epochs": 30, "Train subset": 20000, "Hidden layers": "64"})
    page.locator(MAIN).get_by_role("button", name="Start training").click()
    expect(page.locator(f"{MAIN} {PROGRESS}").first).to_contain_text(re.compile(r"Epoch \d+/30"), timeout=120_000)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Predict").click()  # same session, another page
    expect(page.locator(f"{MAIN} h1")).to_have_text("Predict")
    status = page.locator(SIDEBAR).get_by_text(re.compile(r"^Training(: epoch \d+/30| is starting)"))
    expect(status).to_be_visible(timeout=30_000)
    ticking = len(sent)
    expect(status).to_have_count(0, timeout=300_000)  # the run ended: the page redrew once without it
    wait_until_idle(page)
    assert len(sent) > ticking, "the sidebar status never refreshed itself while the run went on"
    page.wait_for_timeout(1000)
    before = len(sent)
    page.wait_for_timeout(8000)
    extra = len(sent) - before
    record("messages in 8 s on Predict after the run ended", str(extra))
    assert extra == 0, f"the page still sends {extra} messages in 8 s after the run ended (a timer left running)"


@needs_data
@pytest.mark.parametrize("size", NARROW, ids=size_id)
def test_nothing_is_cut_off_on_smaller_screens(page, server, size):
    """Every button and checkbox label is read whole; the drawing canvas fits its column and the window."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    goto(page, server, "Train", timeout=90)
    labels = f"{MAIN} .stMarkdownEllipsis"
    try:  # a busy machine may measure a label before it wraps: wait (up to 15 s) for the settled layout
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)].every(e => e.scrollWidth <= e.clientWidth + 1)",
            arg=labels,
            timeout=15_000,
        )
    except PlaywrightTimeoutError:
        pass  # still cut: the assertion below names the labels
    cut = page.locator(labels).evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"
    )
    screenshot(page, f"train-{size_id(size)}")
    assert not cut, f"labels cut off at {size_id(size)}: {cut}"
    goto(page, server, "Predict", timeout=90)
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible(timeout=60_000)
    column = page.locator('[data-testid="stColumn"]').filter(has=canvas).last
    box, col = canvas.bounding_box(), column.bounding_box()
    screenshot(page, f"predict-{size_id(size)}")
    assert box["x"] >= col["x"] - 1 and box["x"] + box["width"] <= col["x"] + col["width"] + 1, (box, col)
    assert box["x"] + box["width"] <= size[0], f"the canvas runs off the window: {box}"


# ----- 7. saved models survive a server restart --------------------------------------------------
@needs_data
@pytest.mark.slow
def test_saved_model_survives_a_server_restart(browser, tmp_path):
    """Save through the UI, restart the server, reopen the workspace link: the model is listed; a stranger's is not."""
    models = tmp_path / "models"
    env = {**os.environ, "FASHION_MNIST_DIR": str(DATA), "FASHION_MODELS_DIR": str(models)}

    def serve(log_name):
        port = free_port()
        proc = start_server(port, env, tmp_path / log_name)
        wait_for_health(f"http://127.0.0.1:{port}", proc, timeout=90)
        return proc, f"http://127.0.0.1:{port}"

    proc, base = serve("first.log")
    page = browser.new_page(viewport=VIEWPORT)
    try:
        goto(page, base, "Train", timeout=90)
        set_training_form(page, **{"Epochs": 1, "Train subset": 2000, "Hidden layers": "16"})
        page.locator(MAIN).get_by_role("button", name="Start training").click()
        expect(page.get_by_text(re.compile(r"Training finished"))).to_be_visible(timeout=120_000)
        wait_until_idle(page)
        page.get_by_role("textbox", name="Save as").fill("restart-check")
        page.locator(MAIN).get_by_role("button", name="Save model").click()
        token = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["ws"][0]
        saved = models / token / "restart-check.npz"
        deadline = time.perf_counter() + 30
        while not saved.exists() and time.perf_counter() < deadline:
            time.sleep(0.2)
        assert saved.exists(), f"not saved under the workspace folder: {sorted(p.name for p in models.rglob('*'))}"
    finally:
        page.close()
        stop_server(proc)

    proc, base = serve("second.log")  # a new server process: nothing in memory survived
    try:
        for link, listed in ((f"?ws={token}", True), ("", False)):
            page = browser.new_page(viewport=VIEWPORT)
            goto(page, base, link, timeout=90)
            page.locator(f'{MAIN} [data-testid="stSelectbox"]').first.click()
            options = page.locator('[role="option"]').all_inner_texts()
            screenshot(page, f"restart-{'owner' if listed else 'stranger'}")
            page.close()
            assert ("Saved: restart-check" in options) == listed, options
    finally:
        stop_server(proc)
