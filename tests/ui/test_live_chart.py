"""The live training view's SVG charts (model/live_chart.py)."""

from __future__ import annotations

import base64
import math
import re

from ui.live_chart import (
    HEIGHT,
    WIDTH,
    Series,
    curve_series,
    finite_points,
    live_curves_html,
    loss_axis_values,
    svg_chart,
    y_range,
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


def test_live_curves_html_has_both_charts_with_the_history():
    history = {
        "epoch": [1, 2],
        "train_loss": [0.9, 0.6],
        "val_loss": [0.8, 0.65],
        "train_acc": [0.7, 0.8],
        "val_acc": [0.72, 0.79],
        "batch_seen": [100, 500, 1000, 1500],
        "batch_loss": [2.0, 1.2, 0.9, 0.7],
    }
    html = live_curves_html(history, per_epoch=1000)
    svgs = [base64.b64decode(d).decode() for d in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)]
    assert len(svgs) == 2 and "Loss" in svgs[0] and "Accuracy" in svgs[1]
    smoothed, train, val = polylines(svgs[0])
    assert len(smoothed) == 4 and len(train) == 2 and len(val) == 2
    assert math.isclose(smoothed[2][0], train[0][0], abs_tol=0.2)  # 1000 images seen = the end of epoch 1
    assert "<script" not in html


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
    lo, hi = y_range([0.8, 1.0], percent=False)
    assert lo < 0.8 and hi > 1.0 and hi - lo < 0.3  # a little room, not the whole range from zero
