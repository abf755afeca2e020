"""The live training view's charts and the small SVG charts (ui/live_chart.py)."""

from __future__ import annotations

import base64
import math
import re

from ui.live_chart import (
    BATCH_SERIES,
    CHART_HEIGHT,
    HEIGHT,
    VIEW,
    WIDTH,
    Series,
    curve_series,
    epoch_axis,
    finite_points,
    live_curves_html,
    loss_axis_values,
    svg_chart,
    value_axis,
)


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in pts.split()] for pts in re.findall(r'<polyline points="([^"]+)"', svg)
    ]


def test_points_map_into_the_plot_in_order_and_keep_their_shape():
    svg = svg_chart([Series("train", [1, 2, 3, 4], [2.0, 1.0, 0.5, 0.25], "#e4572e")], "Loss")
    (line,) = polylines(svg)
    assert len(line) == 4 and svg.count("<circle") == 4
    xs, ys = [p[0] for p in line], [p[1] for p in line]
    assert all(0 <= x <= WIDTH for x in xs) and all(0 <= y <= HEIGHT for y in ys)
    assert xs == sorted(xs) and ys == sorted(ys)  # x grows; a falling loss goes down the screen (y grows)
    # equal x steps stay equal and y stays proportional: (2 - 1) is twice (1 - 0.5) on screen too
    assert math.isclose(xs[1] - xs[0], xs[2] - xs[1], rel_tol=1e-2)
    assert math.isclose(ys[1] - ys[0], 2 * (ys[2] - ys[1]), rel_tol=1e-2)


def test_non_finite_values_are_left_out_never_printed():
    s = Series("train", [1, 2, 3, 4], [1.0, float("nan"), None, float("inf")], "#000")
    assert finite_points(s) == [(1.0, 1.0)]
    svg = svg_chart([s, Series("validation", [], [], "#111")], "Loss")
    assert "nan" not in svg.lower() and "inf" not in svg.lower() and len(polylines(svg)) == 1


def test_empty_and_flat_series_still_draw_axes():
    assert svg_chart([Series("train", [], [], "#000")], "Loss").startswith("<svg")
    (line,) = polylines(svg_chart([Series("train", [1, 2], [0.5, 0.5], "#000")], "Accuracy", percent=True))
    assert line[0][1] == line[1][1] and 0 < line[0][1] < HEIGHT


def test_percent_axis_labels():
    svg = svg_chart([Series("train", [1, 2], [0.5, 0.9], "#000")], "Accuracy", percent=True)
    labels = re.findall(r'text-anchor="end"[^>]*>([^<]+)<', svg)
    assert len(labels) == 5 and all(label.endswith("%") for label in labels)


HISTORY = {
    "epoch": [1, 2],
    "train_loss": [0.9, 0.6],
    "val_loss": [0.8, 0.65],
    "train_acc": [0.7, 0.8],
    "val_acc": [0.72, 0.79],
    "batch_seen": [100, 500, 1000, 1500, 2000, 2400],  # the run is 0.4 epochs into its third epoch
    "batch_loss": [2.0, 1.2, 0.9, 0.7, 0.62, 0.6],
}


def charts_of(html: str) -> dict[str, str]:
    """The live HTML's charts by title (their data-chart attribute)."""
    parts = re.split(r'(?=<div data-chart=")', html)
    return {re.match(r'<div data-chart="([^"]+)"', p).group(1): p for p in parts if p.startswith("<div data-chart")}


def svg_of(chart: str) -> str:
    (data,) = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', chart)
    return base64.b64decode(data).decode()


def tick_labels(chart: str, axis: str) -> list[str]:
    return re.findall(rf'data-axis="{axis}"[^>]*>([^<]+)<', chart)


def test_live_curves_html_has_both_charts_with_the_history():
    html = live_curves_html(HISTORY, per_epoch=1000)
    charts = charts_of(html)
    assert list(charts) == ["Loss", "Accuracy"]
    smoothed, train, val = polylines(svg_of(charts["Loss"]))
    assert len(smoothed) == 6 and len(train) == 2 and len(val) == 2
    assert math.isclose(smoothed[2][0], train[0][0], abs_tol=0.2)  # 1000 images seen = the end of epoch 1
    assert "<script" not in html


def test_loss_and_accuracy_share_one_x_range():
    """The per-batch loss runs ahead of the last finished epoch; the accuracy chart's x axis goes as far."""
    charts = charts_of(live_curves_html(HISTORY, per_epoch=1000))
    assert tick_labels(charts["Loss"], "x") == tick_labels(charts["Accuracy"], "x") == ["0", "1", "2"]
    loss_train = polylines(svg_of(charts["Loss"]))[1]
    acc_train = polylines(svg_of(charts["Accuracy"]))[0]
    assert [x for x, _ in loss_train] == [x for x, _ in acc_train]  # epoch 1 and 2 at the same place in both
    assert acc_train[-1][0] < VIEW * 0.9  # epoch 2 of 2.4 shown: room on the right, as in the loss chart


def test_live_charts_have_whole_percent_ticks_a_fixed_height_and_one_legend_below():
    html = live_curves_html(HISTORY, per_epoch=1000)
    charts = charts_of(html)
    acc = tick_labels(charts["Accuracy"], "y")
    assert acc and all(re.fullmatch(r"\d+%", label) for label in acc), acc
    assert acc[0] == "70%" and acc[-1] == "80%"  # the values 70-80% with round limits
    for chart in charts.values():
        assert f"height:{CHART_HEIGHT}px" in chart
    legend = html[html.index('aria-label="Legend"') :]
    assert html.index('data-chart="Accuracy"') < html.index('aria-label="Legend"')  # below both charts
    assert re.findall(r'data-series="([^"]+)"', legend) == [BATCH_SERIES, "train", "validation"]  # each once


def test_the_legend_leaves_out_series_without_values():
    no_validation = {**HISTORY, "val_loss": [None, None], "val_acc": [None, None]}
    html = live_curves_html(no_validation, per_epoch=1000)
    assert re.findall(r'data-series="([^"]+)"', html) == [BATCH_SERIES, "train"]


def test_value_axis_has_round_ticks_around_the_values():
    acc = value_axis([0.853, 0.871, 0.902, 0.917], percent=True)
    assert acc.lo <= 0.853 and acc.hi >= 0.917 and acc.hi <= 1.0
    assert [acc.label(t) for t in acc.ticks] == ["84%", "86%", "88%", "90%", "92%"]
    loss = value_axis([0.31, 0.29, 0.55], percent=False)
    assert [loss.label(t) for t in loss.ticks] == ["0.2", "0.3", "0.4", "0.5", "0.6"]
    assert (loss.lo, loss.hi) == (0.2, 0.6)
    full = value_axis([1.0, 1.0], percent=True)
    assert full.hi == 1.0 and full.lo < 1.0  # a flat 100% line gets room below, not above 100%
    assert epoch_axis(30).ticks == (0, 5, 10, 15, 20, 25, 30) and epoch_axis(0.3).hi == 1.0


def test_loss_axis_leaves_out_the_steep_first_half_epoch_once_an_epoch_is_done():
    history = {"batch_seen": [50, 100, 150, 200], "batch_loss": [9.0, 8.0, 1.0, 0.9]}
    assert loss_axis_values(curve_series(history, per_epoch=200)[0]) is None  # no epoch yet: the axis spans every value
    history |= {"epoch": [1], "train_loss": [0.8], "val_loss": [float("nan")]}
    assert sorted(loss_axis_values(curve_series(history, per_epoch=200)[0])) == [
        0.8,
        0.9,
        1.0,
        8.0,
    ]  # 9.0 came at 0.25 epochs
    axis = value_axis([0.8, 1.0], percent=False)
    assert axis.lo <= 0.8 and axis.hi >= 1.0 and axis.hi - axis.lo < 0.3  # round limits, not the whole range from zero
