"""Light line charts for the live training view: SVG drawn in Python, shown as an inline image.

Redrawing the three Vega charts every two seconds cost an open Train page 18% of a core in
Chromium and the server ~110 ms of CPU per refresh (Altair validates every spec); with these SVGs
the page takes 8% (the same as with no charts at all) and the server ~6 ms (measured 2026-11-26).
The finished run still gets the interactive charts (``ui.learning_curves``).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from html import escape

TRAIN_COLOR, VAL_COLOR, SMOOTH_COLOR = "#e4572e", "#1f77b4", "#f2ab96"
BATCH_SERIES = "per batch (smoothed)"
# The finished run's interactive charts use the same names and colours, so nothing jumps at the end.
SERIES_COLORS = {BATCH_SERIES: SMOOTH_COLOR, "train": TRAIN_COLOR, "validation": VAL_COLOR}
SPLITS = (("train", "train"), ("validation", "val"))  # (series name, history key prefix)
WIDTH, HEIGHT = 400, 200
LEFT, RIGHT, TOP, BOTTOM = 50, 12, 30, 30  # plot margins in px: tick labels, title row, x label
FONT = 'font-family="sans-serif" font-size="11" fill="#555"'


@dataclass(frozen=True)
class Series:
    """One line: x and y values of equal length (non-finite y values are left out)."""

    name: str
    xs: list[float]
    ys: list[float | None]
    color: str
    points: bool = True  # a dot on each value (per-epoch series) or a bare line (per-batch)


def finite_points(series: Series) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in zip(series.xs, series.ys)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]


def y_range(values: list[float], percent: bool) -> tuple[float, float]:
    """Axis limits for these values with a little room (also used by the finished run's charts)."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:  # a flat line: give it some room instead of dividing by zero
        pad = 0.01 if percent else max(abs(hi) * 0.1, 0.1)
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _x_ticks(x_max: float) -> list[int]:
    step = max(1, math.ceil(x_max / 6))
    return list(range(0, int(math.floor(x_max)) + 1, step))


def _label(v: float, percent: bool, span: float) -> str:
    if percent:
        return f"{v:.0%}" if span >= 0.2 else f"{v:.1%}"
    return f"{v:.{1 if span >= 2 else 2 if span >= 0.2 else 3}f}"


def svg_chart(
    series: list[Series],
    title: str,
    percent: bool = False,
    x_label: str = "epoch",
    y_from: list[float] | None = None,
) -> str:
    """An SVG line chart (WIDTH x HEIGHT) of the series, x from 0 to the largest x (at least 1).

    The y axis spans all values, or only ``y_from`` when given (lines outside it are clipped).
    """
    drawn = [(s, finite_points(s)) for s in series]
    values = [y for _, pts in drawn for _, y in pts] if y_from is None else [v for v in y_from if math.isfinite(v)]
    x_max = max([1.0] + [x for _, pts in drawn for x, _ in pts])
    y_lo, y_hi = y_range(values, percent) if values else (0.0, 1.0)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + x / x_max * pw

    def py(y: float) -> float:
        return TOP + (y_hi - y) / (y_hi - y_lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<text x="{LEFT}" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
        f'<clipPath id="plot"><rect x="{LEFT}" y="{TOP - 3}" width="{pw + 3}" height="{ph + 6}"/></clipPath>',
    ]
    legend_x = LEFT + 8 * len(title) + 16
    for s, _ in drawn:
        out.append(
            f'<line x1="{legend_x}" y1="10" x2="{legend_x + 14}" y2="10" stroke="{s.color}" stroke-width="2"/>'
            f'<text x="{legend_x + 18}" y="14" {FONT}>{escape(s.name)}</text>'
        )
        legend_x += 26 + 6 * len(s.name)
    for i in range(5):  # horizontal grid lines with their values
        y = y_lo + (y_hi - y_lo) * i / 4
        out.append(
            f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{WIDTH - RIGHT}" y2="{py(y):.1f}" stroke="#e6e6e6"/>'
            f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end" {FONT}>{_label(y, percent, y_hi - y_lo)}</text>'
        )
    for t in _x_ticks(x_max):
        out.append(f'<text x="{px(t):.1f}" y="{TOP + ph + 14}" text-anchor="middle" {FONT}>{t}</text>')
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 2}" text-anchor="middle" {FONT}>{x_label}</text>')
    for s, pts in drawn:
        if not pts:
            continue
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        width = 2 if s.points else 1.5
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="{width}" clip-path="url(#plot)"/>'
        )
        if s.points:
            out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{s.color}"/>' for x, y in pts)
    out.append("</svg>")
    return "".join(out)


def svg_img(svg: str, alt: str) -> str:
    """An SVG as an <img> with a data URI: Streamlit's st.html keeps images but strips inline <svg>."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(alt)}" style="max-width:100%;height:auto">'


def curve_series(history: dict, per_epoch: int | None) -> tuple[list[Series], list[Series]]:
    """The learning curves' lines, (loss, accuracy); x in epochs.

    Train and validation per epoch and, for the loss when ``per_epoch`` (training images per epoch)
    is given, the smoothed per-batch loss. The live SVGs and the finished run's charts both draw these.
    """
    epochs = history.get("epoch", [])
    loss = [Series(name, epochs, history.get(f"{key}_loss", []), SERIES_COLORS[name]) for name, key in SPLITS]
    acc = [Series(name, epochs, history.get(f"{key}_acc", []), SERIES_COLORS[name]) for name, key in SPLITS]
    if per_epoch is not None:
        seen = [s / max(per_epoch, 1) for s in history.get("batch_seen", [])]
        batch = Series(BATCH_SERIES, seen, history.get("batch_loss", []), SMOOTH_COLOR, points=False)
        loss.insert(0, batch)
    return loss, acc


def loss_axis_values(loss: list[Series]) -> list[float] | None:
    """The loss values the y axis should span (None: all of them), from ``curve_series``'s loss lines.

    Once an epoch is done this leaves out the first half epoch of per-batch loss: the loss falls
    steeply at the start and would flatten the rest of the curve.
    """
    if not any(s.xs for s in loss if s.name != BATCH_SERIES):
        return None
    values = [y for s in loss for x, y in finite_points(s) if s.name != BATCH_SERIES or x >= 0.5]
    return values or None


def live_curves_html(history: dict, per_epoch: int) -> str:
    """Loss and accuracy so far, side by side; x in epochs (``per_epoch`` training images each).

    The loss chart also shows the smoothed per-batch training loss, so it moves within an epoch; its
    y axis spans ``loss_axis_values``.
    """
    loss_series, acc_series = curve_series(history, per_epoch)
    loss = svg_chart(loss_series, "Loss", y_from=loss_axis_values(loss_series))
    acc = svg_chart(acc_series, "Accuracy", percent=True)
    return (
        '<div aria-label="Learning curves so far" style="display:flex;gap:1.5rem;flex-wrap:wrap">'
        + svg_img(loss, "Loss so far: per batch (smoothed), and train and validation loss per epoch")
        + svg_img(acc, "Accuracy so far: train and validation accuracy per epoch")
        + "</div>"
    )
