"""The load test's view of a page: selectors, JavaScript probes run in the page, async helpers.

INIT_SCRIPT, injected before every page's own scripts, timestamps each input (a mouse-up on the
canvas, a file chosen) and the websocket frames after it, so a latency is measured in the page's own
clock, from the input to the new prediction on screen, and split into send / server / render.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse

from bench.load.config import Recorder
from model.datasets.fashion_mnist import CLASS_NAMES
from tests.support.browser import ANSWER, EXCEPTION, MAIN, PROBABILITY_BARS, RUNNING, TITLE, VIEWPORT

# Selectors beyond the browser tests' (Streamlit 1.67, streamlit-drawable-canvas 0.13: the canvas
# sits in an open shadow root).
TAB_PANEL = '[data-testid="stTabPanel"]'
PROGRESS = f'{MAIN} [data-testid="stProgress"]'
CANVAS = "canvas.upper-canvas"
RESET_CANVAS = 'button[aria-label="Reset canvas & history"]'
DRAW_TAB, UPLOAD_TAB = 0, 1  # the Predict page's tabs
# The Train page's progress line: queued, or training.
QUEUE_RE = re.compile(r"Waiting for a free training slot: you are number (\d+) in the queue")
EPOCH_RE = re.compile(r"Epoch (\d+)/(\d+) · batch (\d+)/(\d+)")
# The frontend first asks for <page>/_stcore/health and host-config; those 404s are expected.
STCORE_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")

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
# Arms the timer: the next input of this kind ('mouseup' or 'change') becomes time zero.
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


async def new_session(browser, rec: Recorder, name: str):
    """A browser context (its own Streamlit session) and page, its problems reported to `rec`."""
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
    """Go to base/path and wait until the page's script has run."""
    await page.goto(f"{base}/{path}", timeout=timeout * 1000, wait_until="domcontentloaded")
    await wait_idle(page, timeout)


async def open_train(page, base: str, timeout: float) -> None:
    """/Train with its form ready (the first visit may wait for the dataset to load)."""
    await open_page(page, base, "Train", timeout)
    await page.get_by_role("button", name="Start training").wait_for(state="visible", timeout=timeout * 1000)


async def check_exceptions(page, rec: Recorder, name: str, seen: set[str]) -> None:
    """Report each Streamlit exception box on the page once (`seen` holds those reported)."""
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
    """The text of the page's first progress bar, "" if there is none."""
    bars = page.locator(PROGRESS)
    return (await bars.first.inner_text(timeout=5000)).strip() if await bars.count() else ""


async def fill_form(page, values: dict) -> None:
    """Type each value into the input labelled by its key, and wait until the widget holds it."""
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
