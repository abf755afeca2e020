"""Inside the network: what its layers do, live while a run trains and for any model.

- Train (``network_panels``): per-layer gradient norms and dead (ReLU) or saturated (sigmoid,
  tanh) units over the run, measured in the training worker at the live view's cadence
  (``model.training.diagnostics``, carried in the job's status), and the first layer's weights
  as images from the latest snapshot.
- Predict (``activation_panel``): the hidden units the image on the page excites most and, for
  the strongest of them, the test images that excite each one most.
- Explore (``model_panel``): one reading of the chosen model on test images.

Each panel is one HTML block with light SVG charts (``ui.live_chart``) and small PNGs inlined
(no matplotlib or Vega on the live refresh). The Train and Explore panels sit in expanders that
compute nothing while closed; Predict's sits under the answer in every tab, so it is kept cheap
and has no widgets (a widget there would need a different key in each tab).
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import streamlit as st
from matplotlib import colormaps

from model.datasets.fashion_mnist import CLASS_NAMES, Dataset
from model.errors import FashionError
from model.nn.network import MLP
from model.training.config import TrainConfig
from model.training.diagnostics import (
    PROBE_SIZE,
    SATURATION_BOUNDS,
    SATURATION_MARGIN,
    DiagnosticsHistory,
    Reading,
    first_layer_at_start,
    layer_activations,
    measure,
    probe_indices,
    strongest_units,
    top_examples,
    vanishing_ratio,
)
from ui.charts import SIDE, weight_grid
from ui.live_chart import Series, svg_chart, svg_img
from ui.models import fingerprint
from ui.predict_view import png_data_uri

# Session-state keys of the panels' expanders (they track open/closed so a closed one costs nothing).
TRAIN_EXPANDER = "inside_train"
EXPLORE_EXPANDER = "inside_explore"
TRAIN_TITLE = "Inside the network: gradients, dead units, first-layer weights"
EXPLORE_TITLE = "Inside this model: gradients, dead units, what the first layer learned"
PREDICT_TITLE = "Inside the network: the hidden units this image excites"
PANEL_LABEL = "Inside the network"  # the Train panel's accessible name (browser tests find it by it)
ACTIVATIONS_LABEL = "Hidden activations"  # the Predict panel's accessible name

VANISHING_RATIO = 0.01  # first-layer gradient norm under 1% of the output layer's: vanishing
DEAD_ALARM = 0.25  # a quarter of a layer's ReLU units dead is more than healthy training gives
SATURATED_ALARM = 0.25  # likewise for saturated sigmoid/tanh activations
TILES, TILE_COLS = 32, 8  # first-layer units drawn live, per row
TILE_SCALE = 3  # the tiles' PNG is drawn this many times larger, pixelated, by the browser
TOP_UNITS = 8  # strongest units listed per hidden layer on Predict
EXPLAINED_UNITS = 3  # of which this many get their most exciting test images
TOP_IMAGES = 6  # test images per explained unit
THUMB = 56  # px, each 28x28 test image drawn 2x
LIVE_SEARCH = 1000  # test images searched for the live (training) model, whose weights change every few seconds


# ----- small pure helpers ------------------------------------------------------------
def share(v: float) -> str:
    """A share as a whole percent that never rounds to a false 0% or 100%."""
    if v <= 0:
        return "0%"
    if v >= 1:
        return "100%"
    if v < 0.005:
        return "<1%"
    if v > 0.995:
        return ">99%"
    return f"{v:.0%}"


def layer_names(n_weight_layers: int) -> list[str]:
    """Legend names of the weight layers, input side first: 'layer 1', ..., 'output' ('1', ..., 'out' past 5)."""
    if n_weight_layers > 5:  # the long names would run past the chart's width
        return [str(i + 1) for i in range(n_weight_layers - 1)] + ["out"]
    return [f"layer {i + 1}" for i in range(n_weight_layers - 1)] + ["output"]


def hidden_names(n_hidden: int) -> list[str]:
    """Legend names of the hidden layers: 'hidden 1', ... ('1', ... past 4)."""
    return [f"hidden {j + 1}" if n_hidden <= 4 else str(j + 1) for j in range(n_hidden)]


def layer_colors(n: int) -> list[str]:
    """n colours from dark (first layer) to light (output), as hex."""
    cmap = colormaps["plasma"]
    return ["#{:02x}{:02x}{:02x}".format(*(int(255 * c) for c in cmap(0.8 * i / max(n - 1, 1))[:3])) for i in range(n)]


def unit_measure(activations: list[str]) -> str | None:
    """Which share the units chart shows for these hidden activations: 'dead', 'saturated' or None (gelu, mixed)."""
    kinds = {
        "dead" if a in ("relu", "leaky_relu") else "saturated" if a in SATURATION_BOUNDS else None for a in activations
    }
    return kinds.pop() if len(kinds) == 1 else None


# ----- the Train page's charts ----------------------------------------------------------
GRADIENT_TITLE = "Gradient norm of each layer (log10)"
UNIT_TITLES = {"dead": "Dead units in each hidden layer", "saturated": "Saturated outputs in each hidden layer"}


def gradient_chart_svg(history: DiagnosticsHistory) -> str:
    """Per-layer gradient norms over the run, on a log10 axis (an SVG string; its title is ``GRADIENT_TITLE``)."""
    per_layer = history.per_layer("grad_norms")
    names, colors = layer_names(len(per_layer)), layer_colors(len(per_layer))
    series = [
        Series(name, history.x, [math.log10(v) if v and v > 0 else None for v in values], color, points=False)
        for name, values, color in zip(names, per_layer, colors)
    ]
    return svg_chart(series, "")


def units_chart_svg(history: DiagnosticsHistory, activations: list[str]) -> str | None:
    """Dead (relu) or saturated (sigmoid, tanh) share per hidden layer over the run (titled by ``UNIT_TITLES``);
    None for gelu."""
    kind = unit_measure(activations)
    if kind is None:
        return None
    per_layer = history.per_layer(kind)
    colors = layer_colors(len(per_layer) + 1)
    series = [
        Series(name, history.x, values, colors[j], points=False)
        for j, (name, values) in enumerate(zip(hidden_names(len(per_layer)), per_layer))
    ]
    return svg_chart(series, "", percent=True)


def _chart(title: str, svg: str, alt: str) -> str:
    return (
        f'<div><div style="font-weight:600;font-size:0.875rem;padding-left:50px">'
        f"{escape(title)}</div>{svg_img(svg, alt)}</div>"
    )


def tile_limit(W1: np.ndarray, n_units: int = TILES) -> float:
    """The colour scale's end for tiles of W1 (784, units): the 99.5th percentile of |weight| of the drawn units."""
    shown = np.abs(np.asarray(W1, dtype=np.float64)[:, :n_units])
    limit = float(np.percentile(shown, 99.5)) if shown.size else 1.0
    return limit if limit > 0 and math.isfinite(limit) else 1.0


def weight_tiles_png(
    W1: np.ndarray, n_units: int = TILES, cols: int = TILE_COLS, limit: float | None = None
) -> np.ndarray:
    """First-layer weights W1 (784, units) as an RGB image (H, W, 3) uint8 of 28x28 tiles.

    Red pixels push a unit on, blue push it off, white is 0 and the gaps between tiles; one colour
    scale for all tiles, from -``limit`` to ``limit`` (default ``tile_limit(W1)``), as Explore's figure.
    """
    grid = weight_grid(W1, n_units, cols)
    limit = tile_limit(W1, n_units) if limit is None else limit
    rgba = colormaps["RdBu_r"](np.clip((np.nan_to_num(grid) / limit + 1) / 2, 0, 1))
    rgb = (rgba[..., :3] * 255).astype(np.uint8)
    rgb[~np.isfinite(grid)] = 255
    return rgb


LEARNED_LOOK = {  # what the learned part of the first layer looks like, by the model's input preprocessing
    "scale": "Garment shapes and edges appear as the run learns.",
    "l2": "Garment shapes and edges appear as the run learns.",
    "standardize": "With standardized inputs, rarely inked pixels near the border count as much as the centre, so "
    "even the learned part is busy: look for blobs and strokes rather than whole garments.",
}


def relative_change(W1: np.ndarray, W1_start: np.ndarray) -> str:
    """How far W1 moved from W1_start, as a percentage of the start's norm: '37%', '4.8%', '0.052%', '<0.01%'."""
    start = float(np.linalg.norm(W1_start))
    v = float(np.linalg.norm(np.asarray(W1, np.float64) - W1_start)) / start if start else 0.0
    if v >= 0.1:
        return f"{100 * v:.0f}%"
    return f"{100 * v:.2g}%" if v >= 1e-4 or v == 0 else "<0.01%"


def tiles_html(W1: np.ndarray, W1_start: np.ndarray | None = None, preprocessing: str = "scale") -> str:
    """The first layer as two pictures on one colour scale: what it learned (W1 - W1_start), and W1 itself.

    Without ``W1_start``, only the weights. ``preprocessing`` (the model's) decides what the caption
    promises: standardized inputs make even the learned part busy.
    """
    n = min(TILES, W1.shape[1])
    limit = tile_limit(W1, n)
    figures = []
    if W1_start is not None:
        figures.append(
            _tiles_figure(
                weight_tiles_png(W1 - W1_start, n, TILE_COLS, limit),
                f"What the first layer has learned: each of the first {n} units' weights minus their random start. "
                f"{LEARNED_LOOK.get(preprocessing, LEARNED_LOOK['scale'])} A blank tile is a unit whose weights have "
                "not moved (a ReLU dead from the start gets no gradient). So far the layer has moved by "
                f"{relative_change(W1, W1_start)} of its starting size.",
                "changed",
            )
        )
    figures.append(
        _tiles_figure(
            weight_tiles_png(W1, n, TILE_COLS, limit),
            "The weights themselves: the random start's speckle still covers most of what was learned, which is why "
            "trained first layers look like noise.",
            "weights",
        )
    )
    return (
        '<div style="display:flex;gap:1.5rem;flex-wrap:wrap;margin-top:0.75rem">'
        + "".join(figures)
        + f'</div><p style="font-size:0.875rem;opacity:0.6;margin:0.25rem 0 0">One tile per unit, one pixel per input '
        f"pixel: red pushes the unit on, blue pushes it off, white is 0; one colour scale for both, from "
        f"-{limit:.2g} to {limit:.2g}.</p>"
    )


def _tiles_figure(rgb: np.ndarray, caption: str, kind: str) -> str:
    h, w = rgb.shape[:2]
    return (
        f'<figure data-tiles="{kind}" style="margin:0;flex:1 1 22rem;max-width:{w * TILE_SCALE}px">'
        f'<img src="{png_data_uri(rgb)}" width="{w * TILE_SCALE}" height="{h * TILE_SCALE}" alt="{escape(caption)}" '
        'style="image-rendering:pixelated;display:block;width:100%;height:auto">'
        f'<figcaption style="font-size:0.875rem;opacity:0.6;margin-top:0.25rem">{escape(caption)}</figcaption>'
        "</figure>"
    )


def reading_notes(reading: Reading, activations: list[str], hidden: list[int] | None = None) -> list[str]:
    """What a reading says, in plain words (Markdown lines): gradient flow, then each hidden layer (``hidden``: their sizes)."""
    notes = []
    ratio = vanishing_ratio(reading)
    if ratio is not None and ratio < VANISHING_RATIO:
        notes.append(
            f"**Vanishing gradient**: the first layer's gradient is {1 / max(ratio, 1e-30):,.0f} times smaller than "
            "the output layer's, so the early layers barely change while the output layer learns."
        )
    elif ratio is not None:
        notes.append(
            f"Gradients reach the first layer: its gradient is {ratio:.2g} times the output layer's "
            f"(under {VANISHING_RATIO:g} the early layers would barely learn)."
        )
    for j, (act, dead, sat) in enumerate(zip(activations, reading.dead, reading.saturated)):
        units = f" {hidden[j]}" if hidden else ""
        if dead is not None:
            text = f"hidden layer {j + 1}: {share(dead)} of its{units} {act} units are dead (never active on the probe images)"
            if dead >= DEAD_ALARM:
                why = (
                    "get no gradient and cannot come back"
                    if act == "relu"
                    else "pass back only 1% of the gradient, so they recover slowly"
                )
                text = f"**Dead units** in {text}: they output nothing for any image, {why}. A lower learning rate avoids this."
            notes.append(text[0].upper() + text[1:] if not text.startswith("**") else text)
        elif sat is not None:
            low, high = SATURATION_BOUNDS[act]
            text = (
                f"hidden layer {j + 1}: {share(sat)} of its {act} outputs are saturated "
                f"(within {SATURATION_MARGIN:g} of {low:g} or {high:g})"
            )
            if sat >= SATURATED_ALARM:
                text = f"**Saturated units** in {text}: there the slope is almost flat, so those units barely learn."
            notes.append(text[0].upper() + text[1:] if not text.startswith("**") else text)
    return notes


def training_html(
    history: DiagnosticsHistory,
    activations: list[str],
    W1: np.ndarray | None,
    W1_start: np.ndarray | None = None,
    preprocessing: str = "scale",
) -> str:
    """The Train panel's pictures: the two charts side by side, then the first layer's tiles (``tiles_html``)."""
    parts = [f'<div aria-label="{PANEL_LABEL}" data-readings="{len(history)}">']
    if len(history):
        charts = [_chart(GRADIENT_TITLE, gradient_chart_svg(history), "Gradient norm of each layer over the run")]
        kind = unit_measure(activations)
        if kind is not None:
            charts.append(
                _chart(
                    UNIT_TITLES[kind],
                    units_chart_svg(history, activations),
                    f"Share of {kind} units in each hidden layer over the run",
                )
            )
        parts.append('<div style="display:flex;gap:1.5rem;flex-wrap:wrap">' + "".join(charts) + "</div>")
    if W1 is not None:
        parts.append(tiles_html(W1, W1_start, preprocessing))
    return "".join(parts) + "</div>"


@st.cache_data(show_spinner=False, max_entries=8)
def _start(init: str, seed: int, units: int) -> np.ndarray:
    """The first layer a run with these settings started from (784, units); see ``first_layer_at_start``."""
    return first_layer_at_start(TrainConfig(hidden=[units], init=init, seed=seed))


def start_of(net: MLP, cfg: TrainConfig | dict | None) -> np.ndarray | None:
    """The first layer ``net`` started from, if ``cfg`` (its run's settings) says how: else None."""
    try:
        cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg or {})
    except (FashionError, TypeError, ValueError):
        return None
    if not cfg.hidden or cfg.hidden[0] != net.W[0].shape[1] or len(net.sizes) < 3:
        return None
    return _start(cfg.init, cfg.seed, cfg.hidden[0])


def network_panels(job) -> None:
    """The Train page's inside view of a run (a ``TrainingJob``), in an expander that costs nothing closed."""
    box = st.expander(TRAIN_TITLE, key=TRAIN_EXPANDER, on_change="rerun")
    if not box.open:
        return
    with box:
        # The job's latest readings, from its worker's status reports (``ui.jobs``); a job that
        # never reported has none.
        history = DiagnosticsHistory.from_dict(getattr(job, "inside", None))
        net = job.snapshot()
        if not len(history) and net is None:
            st.caption("The readings appear here once the run has started training.")
            return
        activations = [job.cfg.activation] * len(job.cfg.hidden)
        W1 = net.W[0] if net is not None else None
        start = start_of(net, job.cfg) if net is not None else None
        st.html(training_html(history, activations, W1, start, job.cfg.preprocessing))
        latest = history.latest
        if latest is not None:
            st.markdown("  \n".join(reading_notes(latest, activations, job.cfg.hidden)))
        st.caption(
            f"Measured every few seconds in the training process on a fixed batch of {PROBE_SIZE} training images "
            "(no dropout). Gradient norm: how hard the data loss pulls on each layer's weights, on a log scale (-1 is "
            "0.1, -3 is 0.001); lines far below the output layer's mean those layers barely learn. A dead ReLU unit is never active on any of these images; "
            f"a saturated sigmoid or tanh output is within {SATURATION_MARGIN:g} of its limits, where its slope is "
            "nearly flat."
        )


# ----- Explore: one reading of any model ------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _reading(_net: MLP, net_md5: str, _ds: Dataset, data_md5: str) -> Reading:
    idx = probe_indices(_ds.y_test)
    return measure(_net, _ds.x_test[idx], _ds.y_test[idx])


def model_panel(net: MLP, ds: Dataset) -> None:
    """Explore: gradient norms per layer and dead or saturated units of a model, measured now on test images."""
    box = st.expander(EXPLORE_TITLE, key=EXPLORE_EXPANDER, on_change="rerun")
    if not box.open:
        return
    with box:
        reading = _reading(net, fingerprint(net), ds, ds.md5)
        names = layer_names(len(reading.grad_norms))
        rows = [{"layer": name, "gradient norm": g} for name, g in zip(names, reading.grad_norms)]
        for j, (dead, sat) in enumerate(zip(reading.dead, reading.saturated)):
            rows[j]["dead units"] = None if dead is None else share(dead)
            rows[j]["saturated outputs"] = None if sat is None else share(sat)
        st.dataframe(
            rows, hide_index=True, column_config={"gradient norm": st.column_config.NumberColumn(format="%.3g")}
        )
        st.markdown("  \n".join(reading_notes(reading, net.activations, net.sizes[1:-1])))
        start = start_of(net, (net.meta or {}).get("config"))
        if start is not None:
            st.html(tiles_html(net.W[0], start, net.preprocessor.kind))
        st.caption(
            f"Measured now on {min(PROBE_SIZE, len(ds.y_test))} test images (the same for every model), without "
            f"dropout; loss {reading.loss:.3f}. A trained model has small gradients everywhere: what matters is how the "
            "layers compare. While a run trains, the Train page shows these over time."
        )


# ----- Predict: the hidden units one image excites ----------------------------------------
@st.cache_resource(show_spinner=False, max_entries=4)
def _exciting(
    _net: MLP, net_md5: str, _ds: Dataset, data_md5: str, searched: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per hidden layer: (units, TOP_IMAGES) test indices exciting each unit most, and each unit's top activation.

    Among ``searched`` test images: all of them, or a seeded sample with as many of each class.
    """
    idx = probe_indices(_ds.y_test, searched, seed=0)
    acts = layer_activations(_net, _ds.x_test[idx])
    tops = [idx[top_examples(a, TOP_IMAGES)] for a in acts]
    peaks = [a.max(axis=0) if len(a) else np.zeros(a.shape[1], a.dtype) for a in acts]
    return tops, peaks


def _thumb(image: np.ndarray, caption: str) -> str:
    """A 28x28 test image, light on black as in the dataset, drawn 2x."""
    return (
        f'<figure style="margin:0;width:{THUMB}px" title="{escape(caption)}">'
        f'<img src="{png_data_uri(np.asarray(image).reshape(SIDE, SIDE))}" width="{THUMB}" height="{THUMB}" '
        f'alt="{escape(caption)}" style="image-rendering:pixelated;display:block">'
        f'<figcaption style="font-size:0.7rem;opacity:0.6;white-space:nowrap;overflow:hidden">{escape(caption)}'
        "</figcaption></figure>"
    )


def activations_html(
    net: MLP,
    image28: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    tops: list[np.ndarray] | None = None,
    peaks: list[np.ndarray] | None = None,
) -> str:
    """Each hidden layer's strongest units for one 28x28 image, as bars, and (with the test set's
    ``tops`` and ``peaks`` from ``_exciting``) the test images that excite the strongest units most."""
    acts = [a[0] for a in layer_activations(net, np.asarray(image28).reshape(1, -1))]
    parts = [f'<section aria-label="{ACTIVATIONS_LABEL}">']
    for j, (h, act) in enumerate(zip(acts, net.activations)):
        units = strongest_units(h, TOP_UNITS)
        active = f"; {int((h > 0).sum())} of {len(h)} active (above 0)" if act in ("relu", "leaky_relu", "gelu") else ""
        parts.append(
            f'<p style="font-weight:600;margin:0.75rem 0 0.25rem">Hidden layer {j + 1} ({len(h)} {escape(act)} units)'
            f"{active}: the strongest</p>"
        )
        top_value = max(float(h[units[0]]), 1e-12) if len(units) else 1.0
        rows = []
        for u in units:
            v = float(h[u])
            width = min(max(v / top_value, 0.0), 1.0) * 100
            of_peak = ""
            if peaks is not None and peaks[j][u] > 0:
                of_peak = f" · {share(v / float(peaks[j][u]))} of its max"
            rows.append(
                f'<div data-unit="{u}" data-layer="{j + 1}" style="display:flex;align-items:center;gap:0.6rem;margin:0.15rem 0">'
                f'<span style="flex:0 0 4.5rem;text-align:right">unit {u}</span>'
                '<span style="flex:1 1 auto;height:0.9rem;background:rgba(128,128,128,0.15);border-radius:3px">'
                f'<span style="display:block;height:100%;width:{width:.1f}%;background:#e4572e;border-radius:3px"></span></span>'
                f'<span style="flex:0 0 9.5rem;font-variant-numeric:tabular-nums;font-size:0.875rem">{v:.3g}{escape(of_peak)}</span></div>'
            )
        parts.append("".join(rows))
        if tops is not None and x_test is not None and y_test is not None:
            for u in units[:EXPLAINED_UNITS]:
                thumbs = "".join(_thumb(x_test[i], CLASS_NAMES[int(y_test[i])]) for i in tops[j][u])
                parts.append(
                    f'<div data-exciting="{j + 1}:{u}" style="margin:0.4rem 0">'
                    f'<div style="font-size:0.875rem;margin-bottom:0.2rem">Test images that excite unit {u} most:</div>'
                    f'<div style="display:flex;gap:0.4rem;flex-wrap:wrap">{thumbs}</div></div>'
                )
    return "".join(parts) + "</section>"


def activation_panel(net: MLP | None, image28: np.ndarray, ds: Dataset | None) -> None:
    """Predict: under the answer, the hidden units the image excites most and what else excites them."""
    if net is None or len(net.sizes) < 3:
        return
    with st.expander(PREDICT_TITLE):
        if ds is None:
            st.html(activations_html(net, image28))
            st.caption("The test images that excite each unit most appear once the Fashion-MNIST files are here.")
            return
        # A finished model's record (meta) is filled in when its run ends; a network without one is the
        # live snapshot, new every few seconds: it searches fewer test images, so its refreshes stay cheap.
        searched = len(ds.y_test) if net.meta else min(LIVE_SEARCH, len(ds.y_test))
        tops, peaks = _exciting(net, fingerprint(net), ds, ds.md5, searched)
        st.html(activations_html(net, image28, ds.x_test, ds.y_test, tops, peaks))
        st.caption(
            "Each hidden unit computes one number from the image; the bars are this image's largest, and 'of its "
            "max' compares each with the most any of the test images searched gets out of that unit. What a unit "
            f"responds to shows in the {TOP_IMAGES} of {searched:,} test images that drive it hardest."
        )
