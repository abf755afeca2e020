"""The load test's result and report: latency statistics, server figures, the targets, the text.

build_result turns what the sessions and the /proc sampler recorded into one JSON-ready dict (also
what --json prints); report formats it for people, ending with PASS or MISS for each target.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from bench.load.config import SLOT_LIMIT, TARGET_P95_S, Config, Recorder, Trainer
from bench.load.machine import ProcSampler, cpu_usage
from ui.jobs import IDLE_TIMEOUT


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(values: list[float]) -> dict:
    """n, p50, p95 and max of a list of milliseconds, rounded to 0.1."""
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 1) if values else None,
        "p95": round(pct(values, 95), 1) if values else None,
        "max": round(max(values), 1) if values else None,
    }


def trainer_dict(tr: Trainer, rec: Recorder) -> dict:
    """A training's record for the JSON, its times in seconds since the load phase began."""
    d = asdict(tr)
    for key in ("running_from", "ended_at"):
        d[key] = None if d[key] is None else round(rec.rel(d[key]), 1)
    return d


def fmt_ms(v: float | None) -> str:
    """Milliseconds as a whole number with thousands separators, '-' for none."""
    return "-" if v is None else f"{v:,.0f}"


def build_result(cfg: Config, rec: Recorder, sampler: ProcSampler | None, result: dict) -> dict:
    """The run's result: latencies, draw breakdown, trainings, queue, server figures, errors, targets.

    `result` holds what the driver measured itself (machine, start and close times, server log).
    """
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
            "worker_rss_mb_peak": round(max(r["worker_rss_kb"] for r in rows) / 1024, 1),
            "threads_start": result["threads_start"],
            "threads_peak": max(r["threads"] for r in rows),
            "threads_at_close": next((r["threads"] for r in rows if r["t"] >= t_closed), rows[-1]["threads"]),
            "threads_end": rows[-1]["threads"],
            "idle_after_close_s": result.get("server_idle_after"),
            "cpu_load_phase": cpu_usage([r for r in rows if t_go <= r["t"] <= t_end]),
            "after_close": [  # every 10 s after the sessions closed: server and worker CPU (% of a core), threads
                {
                    "from_s": k,
                    "server_cpu": (cpu_usage(sampler.window(t_closed + k, t_closed + k + 5)) or {}).get("server"),
                    "worker_cpu": (cpu_usage(sampler.window(t_closed + k, t_closed + k + 5)) or {}).get("workers"),
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
    """The printed report of a result from build_result, ending with PASS or MISS per target."""
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
            f"server memory (RSS, web process): start {s['rss_mb_start']} MB, peak {s['rss_mb_peak']} MB, end {s['rss_mb_end']} MB"
            + (
                f"; its child processes (Dask scheduler, workers) peak {s['worker_rss_mb_peak']} MB"
                if s["worker_rss_mb_peak"]
                else ""
            )
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
                f"its training workers {c['workers']}%, "
                f"chromium + Playwright {c['browser_and_driver']}%, everything else {c['others']}%, machine {c['machine']}%"
            )
        if s["after_close"]:
            add(
                "after close, every 10 s (server CPU % / worker CPU % / server threads): "
                + ", ".join(
                    f"+{r['from_s']} s {r['server_cpu']}%/{r['worker_cpu']}%/{r['threads']}" for r in s["after_close"]
                )
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
