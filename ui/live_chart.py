"""Light line charts for the live training view: HTML with the lines in an inline SVG image.

Redrawing Vega charts every two seconds costs the browser and the server far more CPU than these
light images (Altair validates every spec; the README's figures give the measurements). The
finished run gets the interactive charts (``ui.charts.learning_curves``) with the same lines,
colours, axes (``value_axis``, ``epoch_axis``), height and legend place, so nothing jumps at the end.

Each chart is a box of the page's width: the lines are an SVG stretched to the plot area (so
they use the whole width at any window size); titles, tick labels and the legend are HTML text,
so they keep their size however wide the window is.
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
CHART_HEIGHT = 300  # px, each chart (title, plot, axis labels), live and finished; one legend below both
PLOT_HEIGHT = 180  # px of it for the plot area of the live charts (as Vega lays out the finished ones)
TITLE_HEIGHT = 45  # px above the plot for the title
Y_LABELS = 48  # px left of the plot for the y tick labels
VIEW = 1000.0  # the stretched SVG's coordinates: 0-VIEW on both axes
INSET = 12.0  # the data keep this far (in VIEW units) from the plot's edges, so edge dots show whole
MAX_TICKS = 6
WIDTH, HEIGHT = 400, 200  # px of a fixed-size ``svg_chart``
LEFT, RIGHT, TOP, BOTTOM = 50, 12, 30, 30  # its plot margins in px: tick labels, title row, x label
SVG_FONT = 'font-family="sans-serif" font-size="11" fill="#555"'
FONT = "font-family:'Source Sans',sans-serif;font-size:11px;color:#808495"
LIVE_CSS = (  # side by side like st.columns, stacked where st.columns stack (narrow screens)
    "<style>.fl-curves{display:flex;gap:1rem}.fl-curves>div{flex:1 1 0;min-width:0}"
    "@media (max-width:640px){.fl-curves{flex-direction:column}}</style>"
)


@dataclass(frozen=True)
class Series:
    """One line: x and y values of equal length (non-finite y values are left out)."""

    name: str
    xs: list[float]
    ys: list[float | None]
    color: str
    points: bool = True  # a dot on each value (per-epoch series) or a bare line (per-batch)


@dataclass(frozen=True)
class Axis:
    """An axis: its limits and the values that get a tick and a label (a ``format`` of d3/Vega)."""

    lo: float
    hi: float
    ticks: tuple[float, ...]
    format: str  # "d" (whole numbers), ".2f" (decimals) or ".0%" (whole percents)

    def label(self, v: float) -> str:
        """The tick label for v, written as the finished run's Vega chart writes it."""
        if self.format.endswith("%"):
            return f"{100 * v:.{int(self.format[1:-1])}f}%"
        if self.format == "d":
            return f"{v:.0f}"
        return f"{v:{self.format}}"

    def share(self, v: float) -> float:
        """Where v sits along the axis, 0 at ``lo`` to 1 at ``hi``."""
        return (v - self.lo) / (self.hi - self.lo)


def finite_points(series: Series) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in zip(series.xs, series.ys)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]


def nice_step(span: float, max_ticks: int = MAX_TICKS, min_step: float = 0.0) -> float:
    """The smallest step of 1, 2 or 5 times a power of ten (at least ``min_step``) that puts at most
    ``max_ticks`` ticks on a span."""
    span = max(span, 1e-12)
    power = 10.0 ** math.floor(math.log10(span / max_ticks))
    for unit in (1, 2, 5, 10, 20, 50):
        step = unit * power
        if step >= min_step and span / step <= max_ticks - 1 + 1e-9:
            return step
    return max(50 * power, min_step)


def _ticks(lo: float, hi: float, step: float) -> tuple[float, ...]:
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return tuple(round(i * step, 10) for i in range(first, last + 1))


def value_axis(values: list[float], percent: bool) -> Axis:
    """A y axis for these values, widened to whole ticks (whole percents for accuracy).

    Limits are multiples of the tick step just outside the values, so every gridline has a round
    label; accuracies stay within 0-100%.
    """
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi - lo < 1e-9:  # a flat line: give it some room instead of dividing by zero
        pad = 0.01 if percent else max(abs(hi) * 0.1, 0.1)
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, min_step=0.01 if percent else 0.0)
    lo, hi = round(math.floor(lo / step + 1e-9) * step, 10), round(math.ceil(hi / step - 1e-9) * step, 10)
    if percent:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    if hi - lo < step / 2:  # a flat line on a tick (0% or 100%): one step of room
        lo, hi = (hi - step, hi) if hi >= 1.0 or not percent else (lo, lo + step)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) - (2 if percent else 0))
    fmt = f".{decimals}%" if percent else (f".{decimals}f" if decimals else "d")
    return Axis(lo, hi, _ticks(lo, hi, step), fmt)


def epoch_axis(x_max: float) -> Axis:
    """The x axis in epochs, from 0 to ``x_max`` (at least 1), with whole-epoch ticks."""
    hi = max(float(x_max), 1.0)
    step = max(1.0, nice_step(hi, max_ticks=8))
    return Axis(0.0, hi, _ticks(0.0, hi, step), "d")


def x_extent(*lines: list[Series]) -> float:
    """The largest x of all these lines (at least 1): one x range for every chart of a run."""
    return max([1.0] + [x for group in lines for s in group for x, _ in finite_points(s)])


def _at(axis: Axis, v: float, flip: bool = False) -> float:
    """The VIEW coordinate of v on an axis (flip: y grows downwards on screen)."""
    share = axis.share(v)
    return INSET + (1.0 - share if flip else share) * (VIEW - 2 * INSET)


def plot_svg(series: list[Series], x: Axis, y: Axis) -> str:
    """The plot area as an SVG (0-VIEW on both axes) meant to be stretched to any size.

    Gridlines at the ticks, one polyline per series and a dot on each point of a
    ``points`` series. Strokes and dots keep their size however the image is stretched.
    """
    fixed = 'vector-effect="non-scaling-stroke"'
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {VIEW:.0f} {VIEW:.0f}" preserveAspectRatio="none">',
        f'<clipPath id="plot"><rect x="0" y="0" width="{VIEW:.0f}" height="{VIEW:.0f}"/></clipPath>',
    ]
    for t in y.ticks:
        yy = _at(y, t, flip=True)
        out.append(f'<line x1="0" y1="{yy:.1f}" x2="{VIEW:.0f}" y2="{yy:.1f}" stroke="#e6e6e6" {fixed}/>')
    for t in x.ticks:
        xx = _at(x, t)
        out.append(f'<line x1="{xx:.1f}" y1="0" x2="{xx:.1f}" y2="{VIEW:.0f}" stroke="#e6e6e6" {fixed}/>')
    for s in series:
        pts = [(_at(x, px), _at(y, py, flip=True)) for px, py in finite_points(s)]
        if not pts:
            continue
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        width = 2 if s.points else 1.5
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="{width}" '
            f'stroke-linejoin="round" clip-path="url(#plot)" {fixed}/>'
        )
        if s.points:  # zero-length round-capped strokes: round dots whatever the stretch
            dots = "".join(f"M{a:.1f},{b:.1f}h0" for a, b in pts)
            out.append(
                f'<path class="dots" d="{dots}" stroke="{s.color}" stroke-width="6" stroke-linecap="round" {fixed}/>'
            )
    out.append("</svg>")
    return "".join(out)


def svg_img(svg: str, alt: str, style: str = "max-width:100%;height:auto") -> str:
    """An SVG as an <img> with a data URI: Streamlit's st.html keeps images but strips inline <svg>."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(alt)}" style="{style}">'


def svg_chart(
    series: list[Series],
    title: str,
    percent: bool = False,
    x_label: str = "epoch",
    y_from: list[float] | None = None,
) -> str:
    """A fixed-size SVG line chart (WIDTH x HEIGHT px) of the series, x from 0 to the largest x (at least 1).

    For small charts beside others (the "inside the network" panels); the learning curves use
    ``chart_html``, which takes the page's width. The y axis spans all values, or only ``y_from``
    when given (lines outside it are clipped), with round ticks (``value_axis``).
    """
    drawn = [(s, finite_points(s)) for s in series]
    values = [y for _, pts in drawn for _, y in pts] if y_from is None else list(y_from)
    x_axis = epoch_axis(x_extent(series))
    y_axis = value_axis(values, percent)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + x_axis.share(x) * pw

    def py(y: float) -> float:
        return TOP + (1 - y_axis.share(y)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<text x="{LEFT}" y="14" {SVG_FONT} font-weight="bold">{escape(title)}</text>',
        f'<clipPath id="plot"><rect x="{LEFT}" y="{TOP - 3}" width="{pw + 3}" height="{ph + 6}"/></clipPath>',
    ]
    legend_x = LEFT + 8 * len(title) + 16
    for s, _ in drawn:
        out.append(
            f'<line x1="{legend_x}" y1="10" x2="{legend_x + 14}" y2="10" stroke="{s.color}" stroke-width="2"/>'
            f'<text x="{legend_x + 18}" y="14" {SVG_FONT}>{escape(s.name)}</text>'
        )
        legend_x += 26 + 6 * len(s.name)
    for t in y_axis.ticks:  # horizontal grid lines with their values
        out.append(
            f'<line x1="{LEFT}" y1="{py(t):.1f}" x2="{WIDTH - RIGHT}" y2="{py(t):.1f}" stroke="#e6e6e6"/>'
            f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end" {SVG_FONT}>{y_axis.label(t)}</text>'
        )
    for t in x_axis.ticks:
        out.append(
            f'<text x="{px(t):.1f}" y="{TOP + ph + 14}" text-anchor="middle" {SVG_FONT}>{x_axis.label(t)}</text>'
        )
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 2}" text-anchor="middle" {SVG_FONT}>{x_label}</text>')
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


def chart_html(series: list[Series], title: str, x: Axis, y: Axis, alt: str) -> str:
    """One chart, CHART_HEIGHT px high and as wide as its container: title, plot, tick labels, x title."""
    plot = svg_img(plot_svg(series, x, y), alt, "position:absolute;inset:0;width:100%;height:100%")
    ticks = []
    for t in y.ticks:
        top = _at(y, t, flip=True) / VIEW * 100
        ticks.append(
            f'<span data-axis="y" style="position:absolute;right:calc(100% + 6px);top:{top:.2f}%;'
            f'transform:translateY(-50%);white-space:nowrap">{y.label(t)}</span>'
        )
    for t in x.ticks:
        left = _at(x, t) / VIEW * 100
        ticks.append(
            f'<span data-axis="x" style="position:absolute;left:{left:.2f}%;top:calc(100% + 12px);'
            f'transform:translateX(-50%)">{x.label(t)}</span>'
        )
    return (
        f'<div data-chart="{escape(title)}" style="height:{CHART_HEIGHT}px;box-sizing:border-box;{FONT}">'
        f'<div style="font-weight:bold;font-size:14px;color:#31333f;height:{TITLE_HEIGHT}px">{escape(title)}</div>'
        f'<div style="position:relative;height:{PLOT_HEIGHT}px;margin:0 8px 0 {Y_LABELS}px">{plot}{"".join(ticks)}</div>'
        f'<div style="text-align:center;margin:40px 0 0 {Y_LABELS}px;font-size:13px">epoch</div>'
        "</div>"
    )


def legend_html(series: list[Series]) -> str:
    """One legend for a row of charts, below them: a line of each series' colour and its name (once).

    HTML, so it wraps on a narrow window instead of being cut off; the finished run's charts
    show the same one under their Vega charts.
    """
    names = dict.fromkeys(s.name for s in series if finite_points(s))  # a series with no values yet: not listed
    items = "".join(
        f'<span data-series="{escape(name)}" style="margin-right:1.25rem;white-space:nowrap">'
        f'<span style="display:inline-block;width:16px;height:3px;background:{SERIES_COLORS.get(name, "#555")};'
        f'vertical-align:middle;margin-right:5px"></span>{escape(name)}</span>'
        for name in names
    )
    return f'<div aria-label="Legend" style="margin-left:{Y_LABELS}px;{FONT};font-size:13px">{items}</div>'


def curve_series(history: dict, per_epoch: int | None) -> tuple[list[Series], list[Series]]:
    """The learning curves' lines, (loss, accuracy); x in epochs.

    Train and validation per epoch and, for the loss when ``per_epoch`` (training images per epoch)
    is given, the smoothed per-batch loss. The live charts and the finished run's charts both draw these.
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
    steeply at the start and would flatten the rest of the curve (those points are clipped).
    """
    if not any(s.xs for s in loss if s.name != BATCH_SERIES):
        return None
    values = [y for s in loss for x, y in finite_points(s) if s.name != BATCH_SERIES or x >= 0.5]
    return values or None


def curve_axes(loss: list[Series], acc: list[Series]) -> tuple[Axis, Axis, Axis]:
    """(x, loss y, accuracy y): one x range for both charts, each y axis with round ticks."""
    x = epoch_axis(x_extent(loss, acc))
    loss_values = loss_axis_values(loss)
    if loss_values is None:
        loss_values = [y for s in loss for _, y in finite_points(s)]
    acc_values = [y for s in acc for _, y in finite_points(s)]
    return x, value_axis(loss_values, False), value_axis(acc_values, True)


def live_curves_html(history: dict, per_epoch: int) -> str:
    """Loss and accuracy so far, side by side, one legend below; x in epochs (``per_epoch`` images each).

    The loss chart also shows the smoothed per-batch training loss, so it moves within an epoch.
    """
    loss, acc = curve_series(history, per_epoch)
    x, loss_y, acc_y = curve_axes(loss, acc)
    return (
        LIVE_CSS
        + '<div aria-label="Learning curves so far">'
        + '<div class="fl-curves">'
        + chart_html(
            loss, "Loss", x, loss_y, "Loss so far: per batch (smoothed), and train and validation loss per epoch"
        )
        + chart_html(acc, "Accuracy", x, acc_y, "Accuracy so far: train and validation accuracy per epoch")
        + "</div>"
        + '<div style="margin-top:1rem">'  # the gap Streamlit leaves between the finished charts and their legend
        + legend_html(loss + acc)
        + "</div></div>"
    )
