"""The load test's browser sessions, run together on one asyncio loop.

- trainers open /Train and start a training, then watch its progress line (it must keep moving);
- the queue checker presses Start while every training slot is taken, must be told its place in the
  queue, then presses Stop and must be told it left the queue;
- predictors loop on /Predict, drawing strokes and uploading pictures, and time each input until
  its new prediction is on screen.
Problems go to the Recorder as errors; each session carries on (or gives up) on its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time

from bench.load.config import ARTIFACTS, SLOT_LIMIT, Config, Recorder, Sample, Trainer, log
from bench.load.inputs import garment_stroke, growing_stroke, upload_image
from bench.load.page import (
    ARM,
    CANVAS,
    CANVAS_CLEARED,
    DIAGNOSE,
    DRAW_TAB,
    EPOCH_RE,
    NEW_PREDICTION,
    PREVIEW_SRC,
    QUEUE_RE,
    RESET_CANVAS,
    TAB_PANEL,
    UPLOAD_TAB,
    StaleUI,
    check_exceptions,
    fill_form,
    new_session,
    open_page,
    open_train,
    progress_text,
    stroke,
    wait_idle,
)
from tests.support.browser import MAIN, REPO

STALL_S = 30.0  # a running training's progress line (batch, speed, ETA) must change within this time


class Run:
    """Every session of one run against the server at `base`; `main` runs them all."""

    def __init__(self, cfg: Config, base: str, rec: Recorder):
        self.cfg, self.base, self.rec = cfg, base, rec
        self.go = asyncio.Event()  # set when the load phase begins
        self.stop = asyncio.Event()  # set when it ends
        self.contexts: list = []
        self.ready: set[int] = set()  # predictors whose page has loaded
        self.shots = 0

    async def session(self, browser, name: str):
        """A new session, closed with the others at the end of the run."""
        ctx, page = await new_session(browser, self.rec, name)
        self.contexts.append(ctx)
        return ctx, page

    # -- trainer --
    async def trainer(self, browser, tr: Trainer, index: int) -> None:
        """Start a training on /Train, then watch its progress line until the load phase ends."""
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
        """Once the load phase runs, press Start with every slot taken: queued, then Stop leaves the queue."""
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
        """Draw and upload on /Predict until the load phase ends, timing each input to its prediction."""
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
        """Wait for the new prediction after an input; record its Sample (True) or the error (False)."""
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
        """One stroke on the canvas (points as canvas fractions), timed from the mouse-up."""
        prev = await page.evaluate(PREVIEW_SRC, DRAW_TAB)
        await stroke(page, points)
        t_wall = time.perf_counter()
        await page.mouse.up()
        return await self._wait_prediction(page, name, "draw", DRAW_TAB, prev, "", t_wall)

    async def upload(self, page, name: str, rng: random.Random, n: int) -> bool:
        """Upload one new picture, timed from the file input's change event."""
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
        """Start every session, run the load phase for cfg.duration seconds, then stop the sessions."""
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
