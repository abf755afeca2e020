"""Charts of the app: figures and pure helpers for Metrics and Explore, and the learning curves.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: nothing is kept in
pyplot's global registry, so a server that draws on every rerun does not leak figures, and
``savefig`` renders with the Agg canvas whatever backend is configured. Interactive charts
(hover tooltips) are Altair specs; image grids are plain uint8 arrays for ``st.image``.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from matplotlib import colormaps
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sklearn.decomposition import PCA

from model.datasets.fashion_mnist import CLASS_NAMES
from model.datasets.images import upscale_for_display
from model.nn.network import MLP
from model.text import format_probability
from model.training.evaluation import Evaluation, confident_mistakes
from ui.live_chart import (
    BATCH_SERIES,
    CHART_HEIGHT,
    SERIES_COLORS,
    Axis,
    Series,
    curve_axes,
    curve_series,
    finite_points,
    legend_html,
)

SIDE = 28
# Ten well-separated colours (matplotlib's tab10), one per class, shared by every chart.
CLASS_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
INPUT_LAYER = "Input pixels"


# ----- confusion matrix -------------------------------------------------------------
def most_confused_pair(confusion: np.ndarray) -> tuple[int, int]:
    """(true, predicted) of the largest off-diagonal count: the model's favourite mistake."""
    off = np.array(confusion, dtype=float, copy=True)
    np.fill_diagonal(off, -1)
    true, pred = np.unravel_index(int(np.argmax(off)), off.shape)
    return int(true), int(pred)


COLOR_SCALE_NOTE = "square-root colour scale, so small mix-ups still show"
CONFUSION_CAPTION = (
    "Read it by row: each row is one true class, split over what the model said. The diagonal holds the correct "
    "answers (the darkest blue); any other blue cell is a mix-up, and the darker it is, the more images of its "
    f"row's class were taken for its column's class. Colours follow a {COLOR_SCALE_NOTE} (see the colour bar)."
)


def sqrt_ticks(top: float, share: bool) -> list[float]:
    """Round colour-bar ticks from 0 to ``top``, spread evenly along a square-root scale.

    Shares (0-1) get 0, 1%, 5%, 10%, 25%, 50%, 100%; counts get 0 and 1-2.5-5 steps. Ticks closer
    than 9% of the bar to the one before are left out, so labels never overlap.
    """
    if share:
        candidates = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    else:
        candidates = [m * 10**k for k in range(0, 7) for m in (1, 2.5, 5)]
    ticks, last = [0.0], 0.0
    for v in candidates:
        pos = (v / top) ** 0.5 if top > 0 else 1.0
        if v <= top * (1 + 1e-9) and pos - last >= 0.09:
            ticks.append(v)
            last = pos
    return ticks


def confusion_figure(confusion: np.ndarray, normalized: bool = False, classes=CLASS_NAMES) -> Figure:
    """Heatmap of a (k, k) confusion matrix (rows = true class), every cell annotated.

    ``normalized`` rescales each row to sum to 1 (the share of that class predicted as each class).
    White to dark blue: the more images, the darker. The colour follows the square root of the value
    (said on the colour bar), so the small off-diagonal mistakes are not lost in the white.
    """
    counts = np.asarray(confusion, dtype=float)
    k = len(classes)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalized else counts
    fig = Figure(figsize=(7.2, 6.2), layout="constrained")
    ax = fig.add_subplot()
    top = max(float(values.max()), 1e-9)
    im = ax.imshow(values, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0, vmax=top), interpolation="nearest")
    ax.set_xticks(range(k), classes, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title("Share of each true class (rows sum to 100%)" if normalized else "Number of test images")
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, k), minor=True)
    ax.set_yticks(np.arange(-0.5, k), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            if normalized:
                text = "0" if v == 0 else ("<1" if v < 0.005 else f"{100 * v:.0f}")
            else:
                text = f"{int(v)}"
            dark = im.norm(v) > 0.55
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color="white" if dark else "#222222")
    cbar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, ticks=sqrt_ticks(top, normalized))
    cbar.ax.tick_params(labelsize=10)
    if normalized:
        cbar.formatter = PercentFormatter(xmax=1, decimals=0)
        cbar.update_ticks()
    what = "share of the row" if normalized else "test images"
    cbar.set_label(f"{what} ({COLOR_SCALE_NOTE})", fontsize=10)
    return fig


# ----- tables -----------------------------------------------------------------------
def report_frame(rows: list[dict]) -> pd.DataFrame:
    """The per-class precision/recall/F1/support rows as a table indexed by class."""
    df = pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])
    return df.set_index("class")


SCORE_FORMAT = "%.3f"  # the one rule for scores in tables (precision, recall, F1): three decimals, always shown


def report_columns() -> dict:
    """Column settings of a per-class report table: scores with three decimals, support as a count.

    Every table of scores (Train's results, Metrics' report, Explore's runs) writes a score the same
    way, so 0.980 never sits beside 0.845 as "0.98".
    """
    score = {c: st.column_config.NumberColumn(c, format=SCORE_FORMAT) for c in ("precision", "recall", "f1")}
    support = st.column_config.NumberColumn("support", format="%d", help="Test images of this class.")
    return {**score, "support": support}


def per_class_accuracy_chart(accuracy: np.ndarray, overall: float | None = None, classes=CLASS_NAMES) -> alt.Chart:
    """Horizontal bars of each class's accuracy, worst first, with the overall accuracy as a rule."""
    df = pd.DataFrame({"class": list(classes), "accuracy": np.asarray(accuracy, dtype=float)})
    order = df.sort_values("accuracy")["class"].tolist()
    bars = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", title="Accuracy")),
            y=alt.Y("class:N", sort=order, title=None),
            color=alt.Color("class:N", scale=alt.Scale(domain=list(classes), range=list(CLASS_COLORS)), legend=None),
            tooltip=["class", alt.Tooltip("accuracy:Q", format=".1%")],
        )
    )
    # Labels sit at the start of each bar, clear of the overall-accuracy rule near the bars' ends.
    labels = bars.mark_text(align="left", fontSize=11, fontWeight="bold").encode(
        x=alt.value(5), text=alt.Text("accuracy:Q", format=".0%"), color=alt.value("white")
    )
    chart = bars + labels
    if overall is not None:
        rule = (
            alt.Chart(pd.DataFrame({"overall": [float(overall)]}))
            .mark_rule(strokeDash=[4, 3], color="#333")
            .encode(x="overall:Q", tooltip=[alt.Tooltip("overall:Q", format=".1%", title="overall accuracy")])
        )
        chart = chart + rule
    return chart.properties(height=300)


# ----- image galleries ----------------------------------------------------------------
def upscale(image: np.ndarray, factor: int = 3) -> np.ndarray:
    """A 28x28 (or 784) uint8 image enlarged by pixel repetition, so it stays crisp."""
    return upscale_for_display(np.asarray(image).reshape(SIDE, SIDE), factor)


percent = format_probability  # the engine's one rule for writing a probability


def cell_indices(ev: Evaluation, true: int, pred: int, limit: int = 16) -> np.ndarray:
    """Test indices whose true class is ``true`` and prediction ``pred``, most confident first."""
    return confident_mistakes(ev, true=true, pred=pred, limit=limit)


def gallery(
    ev: Evaluation, x: np.ndarray, indices: np.ndarray, factor: int = 3, classes=CLASS_NAMES
) -> tuple[list[np.ndarray], list[str]]:
    """Upscaled images and captions "true → predicted (p%)" for the given test indices."""
    images, captions = [], []
    for i in np.asarray(indices, dtype=int):
        t, p = int(ev.y[i]), int(ev.pred[i])
        images.append(upscale(x[i], factor))
        captions.append(f"{classes[t]} → {classes[p]} ({percent(float(ev.proba[i, p]))})")
    return images, captions


# ----- the data -----------------------------------------------------------------------
def sample_indices(y: np.ndarray, per_class: int = 8, seed: int = 0, n_classes: int = 10) -> np.ndarray:
    """(n_classes, per_class) indices: a seeded random sample of each class (fewer -> -1)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    out = np.full((n_classes, per_class), -1, dtype=np.int64)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        take = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else idx
        out[c, : len(take)] = take
    return out


def sample_grid_figure(x: np.ndarray, indices: np.ndarray, classes=CLASS_NAMES) -> Figure:
    """One row of example images per class, class names on the left, on a single canvas.

    Light garments on black, as the dataset stores them and as Predict and Metrics show them;
    a white 2-pixel gap separates the tiles.
    """
    rows, cols = indices.shape
    gap = 2
    canvas = np.full((rows * (SIDE + gap) - gap, cols * (SIDE + gap) - gap), 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            i = indices[r, c]
            top, left = r * (SIDE + gap), c * (SIDE + gap)
            canvas[top : top + SIDE, left : left + SIDE] = np.asarray(x[i]).reshape(SIDE, SIDE) if i >= 0 else 0
    fig = Figure(figsize=(0.75 * cols + 1.4, 0.75 * rows), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * (SIDE + gap) + SIDE / 2 for r in range(rows)], list(classes)[:rows])
    ax.set_xticks([])
    ax.tick_params(length=0, labelsize=10)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def class_counts(y_train: np.ndarray, y_test: np.ndarray, classes=CLASS_NAMES) -> pd.DataFrame:
    """Long table (class, split, images) of how many images each class has in each split."""
    k = len(classes)
    rows = []
    for split, y in (("train", y_train), ("test", y_test)):
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=k)[:k]
        rows += [{"class": classes[c], "split": split, "images": int(counts[c])} for c in range(k)]
    return pd.DataFrame(rows, columns=["class", "split", "images"])


def class_counts_chart(counts: pd.DataFrame, classes=CLASS_NAMES) -> alt.Chart:
    """Grouped bars: images per class, train and test side by side."""
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            y=alt.Y("class:N", sort=list(classes), title=None),
            yOffset=alt.YOffset("split:N", sort=["train", "test"]),
            x=alt.X("images:Q", title="Images"),
            color=alt.Color(
                "split:N",
                sort=["train", "test"],
                scale=alt.Scale(range=["#4c78a8", "#e4572e"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["class", "split", alt.Tooltip("images:Q", format=",")],
        )
        .properties(height=340)
    )


# ----- first-layer weights ------------------------------------------------------------
def weight_grid(W1: np.ndarray, n_units: int = 64, cols: int = 8, per_unit: bool = False) -> np.ndarray:
    """The first ``n_units`` columns of W1 (784, units) as 28x28 tiles on one float canvas.

    Tiles are separated by a 1-pixel NaN border (drawn as background). With ``per_unit`` each
    tile is divided by its own 99th percentile of |weight| (and clipped to -1..1), so faint units
    show their pattern too.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    n = min(int(n_units), W1.shape[1])
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    step = SIDE + 1
    canvas = np.full((rows * step - 1, cols * step - 1), np.nan)
    for u in range(n):
        tile = W1[:, u].reshape(SIDE, SIDE)
        if per_unit:  # a high percentile, not the max: one extreme pixel would wash the rest out
            tile = np.clip(tile / max(float(np.percentile(np.abs(tile), 99)), 1e-12), -1, 1)
        r, c = divmod(u, cols)
        canvas[r * step : r * step + SIDE, c * step : c * step + SIDE] = tile
    return canvas


def weights_figure(W1: np.ndarray, n_units: int = 64, cols: int = 8, per_unit: bool = False) -> Figure:
    """First-layer weights as images: red pixels push a unit on, blue pixels push it off."""
    grid = weight_grid(W1, n_units, cols, per_unit)
    limit = 1.0 if per_unit else float(np.nanpercentile(np.abs(grid), 99.5)) or 1.0
    rows = (grid.shape[0] + 1) // (SIDE + 1)
    ncols = (grid.shape[1] + 1) // (SIDE + 1)
    fig = Figure(figsize=(0.95 * ncols + 1.0, 0.95 * rows), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["RdBu_r"].with_extremes(bad="white")
    im = ax.imshow(grid, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_axis_off()
    cbar = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.01)
    cbar.set_label("weight, scaled per unit" if per_unit else "weight", fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    return fig


def weights_caption(net: MLP) -> str:
    """What the first-layer tiles of this model really look like, and why (for Explore's caption).

    Trained tiles are mostly speckle with faint blobs and strokes, not garment pictures: each of
    many units keeps much of its random start and learns only a small piece of a pattern. Standardized
    inputs and input dropout, when the model used them, spread the weights further; both are named.
    """
    if len(net.sizes) == 2:
        return (
            "Each tile is one class's template: its 784 weights as a 28x28 picture, red pixels speaking for the "
            "class and blue ones against it. With no hidden layer, these ten templates are the whole model."
        )
    units = net.sizes[1]
    meta = net.meta if isinstance(net.meta, dict) else {}
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}  # an imported file's meta may be odd
    why = [
        f"each of the {units:,} units keeps much of its random start (the speckle) and learns only a small piece "
        "of a pattern, shared out with the others"
    ]
    if net.preprocessor.kind == "standardize":
        why.append(
            "the inputs were standardized, so rarely lit pixels near the border count as much as the bright "
            "centre and the whole tile is busy"
        )
    dropout = cfg.get("input_dropout")
    if isinstance(dropout, (int, float)) and dropout > 0:
        why.append(
            f"input dropout hid {dropout:.0%} of the pixels at random in every step, so no unit can rely on a few "
            "pixels and each spreads its weights over many"
        )
    reasons = "; ".join(why)
    return (
        "Each tile is one hidden unit's 784 input weights drawn as a 28x28 picture: red pixels push the unit on, "
        "blue ones push it off. Expect mostly speckle with faint blobs and strokes, not pictures of garments: "
        f"{reasons}. A few units show clearer shapes (a bar, an outline); a network with fewer units "
        "(try 32 on Train) shows more of them."
    )


# ----- hidden-layer projection ----------------------------------------------------------
def layer_options(net: MLP) -> list[str]:
    """Labels for the layers a projection can use: the raw input, then each hidden layer."""
    hidden = [f"Hidden layer {i + 1} ({net.sizes[i + 1]} {act} units)" for i, act in enumerate(net.activations)]
    return [INPUT_LAYER, *hidden]


def layer_features(net: MLP, pixels: np.ndarray, option: str) -> np.ndarray:
    """The features named by a ``layer_options`` label for raw pixels (n, 784)."""
    options = layer_options(net)
    k = options.index(option)
    if k == 0:
        return np.asarray(pixels, dtype=np.float32).reshape(len(pixels), -1) / 255.0
    return net.hidden_activations(pixels, layer=k - 1)


def projection_sample(y: np.ndarray, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted, seeded random indices of n items (all of them if there are fewer)."""
    rng = np.random.default_rng(seed)
    n = min(n, len(y))
    return np.sort(rng.choice(len(y), size=n, replace=False))


def pca_projection(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA of (n, d) features: the (n, 2) coordinates and the share of variance each axis keeps."""
    features = np.asarray(features, dtype=np.float64)
    if features.shape[1] < 2 or len(features) < 2:
        points = np.zeros((len(features), 2))
        points[:, : min(2, features.shape[1])] = features[:, :2]
        return points, np.zeros(2)
    pca = PCA(n_components=2, random_state=seed)
    points = pca.fit_transform(features)
    return points, pca.explained_variance_ratio_


def projection_figure(
    points: np.ndarray, labels: np.ndarray, explained: np.ndarray | None = None, classes=CLASS_NAMES
) -> Figure:
    """Scatter of 2-D points coloured by class, with a legend beside it."""
    fig = Figure(figsize=(7.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    labels = np.asarray(labels)
    for c, name in enumerate(classes):
        m = labels == c
        ax.scatter(points[m, 0], points[m, 1], s=7, alpha=0.7, color=CLASS_COLORS[c], label=name, linewidths=0)
    ev = explained if explained is not None else np.zeros(2)
    ax.set_xlabel(f"Principal component 1 ({100 * ev[0]:.0f}% of variance)" if ev[0] else "Principal component 1")
    ax.set_ylabel(f"Principal component 2 ({100 * ev[1]:.0f}% of variance)" if ev[1] else "Principal component 2")
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    leg = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, markerscale=2.5, fontsize=9)
    for handle in leg.legend_handles:
        handle.set_alpha(1)
    return fig


# ----- comparing runs -------------------------------------------------------------------
def curves_frame(histories: dict[str, dict]) -> pd.DataFrame:
    """Long table (model, split, epoch, accuracy) of train/validation accuracy per model."""
    rows = []
    for model, history in histories.items():
        history = history or {}
        epochs = history.get("epoch", [])
        for split, key in (("validation", "val_acc"), ("train", "train_acc")):
            for e, acc in zip(epochs, history.get(key, []) or [], strict=False):
                if acc is not None:
                    rows.append({"model": model, "split": split, "epoch": int(e), "accuracy": float(acc)})
    return pd.DataFrame(rows, columns=["model", "split", "epoch", "accuracy"])


def curves_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Accuracy per epoch, one colour per model, solid = validation, dashed = train."""
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format="%"), title="Accuracy"),
        color=alt.Color("model:N", title="Model", legend=alt.Legend(orient="bottom", columns=2, labelLimit=360)),
    )
    lines = base.mark_line(strokeWidth=2).encode(
        strokeDash=alt.StrokeDash(
            "split:N",
            sort=["validation", "train"],
            scale=alt.Scale(domain=["validation", "train"], range=[[1, 0], [5, 3]]),
            legend=alt.Legend(title="Split", symbolType="stroke", symbolStrokeWidth=2, symbolStrokeColor="#555"),
        ),
        detail="split:N",
    )
    points = base.mark_point(size=22, filled=True).encode(
        tooltip=["model", "split", "epoch", alt.Tooltip("accuracy:Q", format=".2%")]
    )
    return (lines + points).properties(height=360)


def run_summary(label: str, net: MLP, ev: Evaluation | None) -> dict:
    """One row of the runs table: test scores (from ``ev``, else the saved meta) and provenance."""
    meta = net.meta or {}
    saved = meta.get("metrics", {}) or {}
    history = meta.get("history", {}) or {}
    epochs = meta.get("epochs_trained") or (len(history.get("epoch", [])) or None)
    seconds = meta.get("train_seconds")
    return {
        "model": label,
        "test accuracy": ev.accuracy if ev is not None else saved.get("test_accuracy"),
        "macro F1": ev.macro_f1 if ev is not None else saved.get("macro_f1"),
        "architecture": net.describe(),
        "parameters": net.n_params,
        "epochs": int(epochs) if epochs is not None else None,
        "train seconds": float(seconds) if isinstance(seconds, (int, float)) else None,
        "created": str(meta.get("created", ""))[:16].replace("T", " "),
    }


# ----- learning curves ------------------------------------------------------------
def curve_frames(series: tuple[list[Series], list[Series]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``curve_series``'s (loss, accuracy) lines as long-format frames: ``epoch``, ``series``, ``value``.

    Missing and non-finite values are left out, as in the live view's charts.
    """
    columns = ["epoch", "series", "value"]
    return tuple(  # type: ignore[return-value]
        pd.DataFrame([(x, s.name, y) for s in lines for x, y in finite_points(s)], columns=columns) for lines in series
    )


def _series_color(frame: pd.DataFrame) -> alt.Color:
    names = [n for n in SERIES_COLORS if n in set(frame["series"])]
    scale = alt.Scale(domain=names, range=[SERIES_COLORS[n] for n in names])
    return alt.Color("series:N", title=None, scale=scale, legend=None)  # one HTML legend below both charts


def vega_axis(axis: Axis, title: str | None) -> tuple[alt.Scale, alt.Axis]:
    """The scale and axis of a ``live_chart.Axis`` for Altair: the live charts' limits and ticks."""
    scale = alt.Scale(domain=[axis.lo, axis.hi], nice=False, zero=False)
    return scale, alt.Axis(values=list(axis.ticks), format=axis.format, title=title, grid=True)


def _curve_chart(chart: alt.LayerChart, title: str) -> alt.LayerChart:
    """A learning-curve chart laid out like the live one: its title left above, no y title (the title says it)."""
    return chart.properties(title=alt.TitleParams(title, anchor="start", fontSize=14))


def learning_curves(history: dict, per_epoch: int | None = None) -> None:
    """Loss and accuracy side by side, interactive; the live view's lines, names, colours and axes.

    ``per_epoch`` (training images per epoch) adds the smoothed per-batch loss to the loss chart.
    Both charts share one x range; both are ``CHART_HEIGHT`` px with one legend below them, as live.
    """
    loss_series, acc_series = curve_series(history, per_epoch)
    loss, acc = curve_frames((loss_series, acc_series))
    if loss.empty and acc.empty:
        st.caption("No finished epoch yet.")
        return
    x_axis, loss_y, acc_y = curve_axes(loss_series, acc_series)
    x_scale, x_ax = vega_axis(x_axis, "epoch")
    x = alt.X("epoch:Q", scale=x_scale, axis=x_ax)
    y_scale, y_ax = vega_axis(loss_y, None)
    tooltip = ["series:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")]
    base = alt.Chart(loss).encode(x=x, y=alt.Y("value:Q", scale=y_scale, axis=y_ax), color=_series_color(loss))
    loss_chart = alt.layer(
        base.transform_filter(alt.datum.series == BATCH_SERIES).mark_line(strokeWidth=1.5, clip=True),
        base.transform_filter(alt.datum.series != BATCH_SERIES).mark_line(point=True, clip=True),
    ).encode(tooltip=tooltip)
    left, right = st.columns(2)
    left.altair_chart(_curve_chart(loss_chart, "Loss"), width="stretch", height=CHART_HEIGHT)
    st.html(legend_html(loss_series + acc_series))
    if acc.empty:  # stopped inside the first epoch: only the per-batch loss exists
        right.caption("Accuracy is measured at the end of each epoch; no epoch finished.")
        return
    y_scale, y_ax = vega_axis(acc_y, None)
    # A layer too, though a single one: Vega lays out layered charts a little differently, and the
    # two plots should line up side by side.
    acc_chart = alt.layer(
        alt.Chart(acc)
        .mark_line(point=True, clip=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", scale=y_scale, axis=y_ax),
            color=_series_color(acc),
            tooltip=["series:N", "epoch:Q", alt.Tooltip("value:Q", format=".2%")],
        )
    )
    right.altair_chart(_curve_chart(acc_chart, "Accuracy"), width="stretch", height=CHART_HEIGHT)
