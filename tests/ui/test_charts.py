"""Pure figure builders and helpers behind the Metrics and Explore pages (model/plots.py)."""

from __future__ import annotations

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from model.datasets.fashion_mnist import CLASS_NAMES
from model.nn.network import MLP
from model.training.evaluation import Evaluation, evaluate
from ui import charts as plots


# ----------------------------------------------------------------------------- helpers
def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


def confusion_matrix() -> np.ndarray:
    """A 10x10 count matrix whose biggest mistake is Shirt (6) predicted as T-shirt/top (0)."""
    m = np.diag(np.full(10, 90))
    m[6, 0] = 40
    m[4, 2] = 25
    m[2, 4] = 12
    m[9, 7] = 5
    return m


def fake_evaluation() -> Evaluation:
    """Six test items with known predictions and confidences."""
    y = np.array([6, 6, 6, 0, 0, 6])
    pred = np.array([0, 0, 6, 0, 6, 0])
    conf = np.array([0.70, 0.95, 0.80, 0.60, 0.50, 0.995])
    proba = np.full((6, 10), 0.0, dtype=np.float32)
    for i, (p, c) in enumerate(zip(pred, conf, strict=True)):
        proba[i] = (1 - c) / 9
        proba[i, p] = c
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y, pred), 1)
    return Evaluation(
        accuracy=float((y == pred).mean()),
        macro_f1=0.5,
        confusion=confusion,
        report=[],
        proba=proba,
        pred=pred,
        y=y,
    )


def small_net(hidden=(16, 8)) -> MLP:
    sizes = [784, *hidden, 10]
    return MLP(sizes, ["relu", "tanh", "relu"][: len(hidden)], rng=np.random.default_rng(1))


@pytest.fixture(autouse=True)
def no_pyplot_leaks():
    """Figures are plain matplotlib Figures: building them never registers anything with pyplot."""
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


# ----------------------------------------------------------------------------- confusion matrix
def test_most_confused_pair_ignores_the_diagonal():
    assert plots.most_confused_pair(confusion_matrix()) == (6, 0)
    assert plots.most_confused_pair(np.diag(np.arange(1, 11))) != (9, 9)


@pytest.mark.parametrize("normalized", [False, True])
def test_confusion_figure_labels_both_axes_with_class_names(normalized):
    fig = plots.confusion_figure(confusion_matrix(), normalized=normalized)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Predicted class"
    assert ax.get_ylabel() == "True class"
    assert tick_texts(ax.get_xticklabels()) == list(CLASS_NAMES)
    assert tick_texts(ax.get_yticklabels()) == list(CLASS_NAMES)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 100  # every cell annotated
    if normalized:
        assert "100" not in texts[60]  # row Shirt, column T-shirt: 40 of 130 images -> 31
        assert texts[60] == "31"
        assert "rows sum to 100%" in ax.get_title()
    else:
        assert texts[60] == "40" and texts[0] == "90"


def test_confusion_figure_renders(tmp_path):
    fig = plots.confusion_figure(confusion_matrix(), normalized=True)
    fig.savefig(tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_confusion_figure_handles_an_empty_row():
    m = confusion_matrix()
    m[3] = 0  # a class with no test images: no division by zero
    fig = plots.confusion_figure(m, normalized=True)
    assert fig.axes[0].texts[33].get_text() == "0"


@pytest.mark.parametrize("normalized", [False, True])
def test_confusion_colour_bar_says_its_scale_with_readable_round_ticks(normalized):
    fig = plots.confusion_figure(confusion_matrix(), normalized=normalized)
    bar = fig.axes[1]
    assert "square-root" in bar.get_ylabel()  # the scale is not linear: the bar says so
    labels = [t for t in bar.get_yticklabels() if t.get_text()]
    assert len(labels) >= 4 and all(t.get_fontsize() >= 10 for t in labels)
    assert all(t.get_fontsize() >= 10 for t in fig.axes[0].get_yticklabels())  # as large as the class names
    ticks = bar.get_yticks()
    if normalized:
        assert [t.get_text() for t in labels][:4] == ["0%", "1%", "5%", "10%"]
    else:
        assert list(ticks[:4]) == [0, 1, 5, 10] and ticks.max() <= 90


def test_confusion_caption_matches_the_colours():
    """White to dark blue: more images is darker, so mix-ups are the darker cells off the diagonal."""
    fig = plots.confusion_figure(confusion_matrix())
    im = fig.axes[0].images[0]
    rgba = im.cmap(im.norm(np.array([0.0, 5.0, 40.0, 90.0])))
    lightness = rgba[:, :3].mean(axis=1)
    assert list(lightness) == sorted(lightness, reverse=True)  # 0 lightest, ..., the diagonal's 90 darkest
    caption = plots.CONFUSION_CAPTION
    assert "darker" in caption and "bright" not in caption and "square-root" in caption


# ----------------------------------------------------------------------------- tables and bars
def test_report_frame_keeps_every_row_indexed_by_class():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (200, 784), dtype=np.uint8), np.arange(200) % 10
    ev = evaluate(small_net(), x, y)
    df = plots.report_frame(ev.report)
    assert list(df.columns) == ["precision", "recall", "f1", "support"]
    assert list(df.index) == [*CLASS_NAMES, "macro avg", "weighted avg"]
    assert df.loc["macro avg", "support"] == 200


def test_per_class_accuracy_chart_sorts_worst_first_and_draws_the_overall_rule():
    acc = np.linspace(0.5, 0.95, 10)[::-1]  # T-shirt best, Ankle boot worst
    spec = plots.per_class_accuracy_chart(acc, overall=0.8).to_dict()
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["sort"][0] == "Ankle boot"
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert len(spec["layer"]) == 3  # bars, labels, overall rule
    assert len(plots.per_class_accuracy_chart(acc).to_dict()["layer"]) == 2


# ----------------------------------------------------------------------------- galleries
def test_upscale_repeats_pixels_without_blurring():
    img = np.arange(784, dtype=np.uint16).reshape(28, 28) % 256
    big = plots.upscale(img.reshape(784), 4)
    assert big.shape == (112, 112) and big.dtype == np.uint8
    assert np.array_equal(big[::4, ::4], img)
    assert np.array_equal(big[3::4, 3::4], img)  # each 4x4 block is one value


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.5, "50.0%"), (0.984, "98.4%"), (0.9949, "99.5%"), (0.999, "99.9%"), (0.9999, ">99.9%"), (1.0, ">99.9%")],
)
def test_percent_never_claims_certainty(p, text):
    assert plots.percent(p) == text


def test_cell_indices_pick_one_confusion_cell_most_confident_first():
    ev = fake_evaluation()
    assert plots.cell_indices(ev, 6, 0).tolist() == [5, 1, 0]  # Shirt predicted T-shirt, by confidence
    assert plots.cell_indices(ev, 6, 0, limit=2).tolist() == [5, 1]
    assert plots.cell_indices(ev, 0, 6).tolist() == [4]
    assert plots.cell_indices(ev, 6, 6).tolist() == [2]  # the diagonal: correct answers
    assert plots.cell_indices(ev, 3, 5).tolist() == []


def test_gallery_captions_read_true_arrow_predicted_with_confidence():
    ev = fake_evaluation()
    x = np.random.default_rng(0).integers(0, 256, (6, 784), dtype=np.uint8)
    images, captions = plots.gallery(ev, x, np.array([5, 0]), factor=3)
    assert [im.shape for im in images] == [(84, 84), (84, 84)]
    assert captions == ["Shirt → T-shirt/top (99.5%)", "Shirt → T-shirt/top (70.0%)"]
    assert plots.gallery(ev, x, np.array([], dtype=int)) == ([], [])


# ----------------------------------------------------------------------------- the data
def test_sample_indices_are_per_class_distinct_and_seeded():
    y = np.repeat(np.arange(10), 20)
    idx = plots.sample_indices(y, per_class=8, seed=3)
    assert idx.shape == (10, 8)
    for c in range(10):
        assert (y[idx[c]] == c).all() and len(set(idx[c])) == 8
    assert np.array_equal(idx, plots.sample_indices(y, per_class=8, seed=3))
    assert not np.array_equal(idx, plots.sample_indices(y, per_class=8, seed=4))


def test_sample_indices_pad_a_short_class():
    y = np.array([0, 0, 1])
    idx = plots.sample_indices(y, per_class=3, seed=0, n_classes=3)
    assert (idx[1] == [2, -1, -1]).all() and (idx[2] == -1).all()


def test_sample_grid_figure_names_each_row():
    y = np.repeat(np.arange(10), 10)
    x = np.random.default_rng(0).integers(0, 256, (100, 784), dtype=np.uint8)
    fig = plots.sample_grid_figure(x, plots.sample_indices(y, per_class=8))
    ax = fig.axes[0]
    assert tick_texts(ax.get_yticklabels()) == list(CLASS_NAMES)
    assert ax.images[0].get_array().shape == (10 * 30 - 2, 8 * 30 - 2)


def test_sample_grid_draws_garments_light_on_black_like_the_dataset():
    y = np.repeat(np.arange(10), 10)
    x = np.zeros((100, 784), dtype=np.uint8)
    x[:, 300:400] = 220  # a light band on black, as Fashion-MNIST stores a garment
    fig = plots.sample_grid_figure(x, plots.sample_indices(y, per_class=8))
    canvas = fig.axes[0].images[0].get_array()
    tile = np.asarray(canvas[:28, :28])
    assert np.array_equal(tile, x[0].reshape(28, 28))  # as stored, not negated
    assert tile[0, 0] == 0 and canvas[28, 0] == 255  # black background, white gaps between tiles


def test_report_columns_write_every_score_with_three_decimals():
    cols = plots.report_columns()
    assert {name: cols[name]["type_config"]["format"] for name in ("precision", "recall", "f1")} == dict.fromkeys(
        ("precision", "recall", "f1"), "%.3f"
    )
    assert cols["support"]["type_config"]["format"] == "%d"


def test_class_counts_and_chart():
    counts = plots.class_counts(np.repeat(np.arange(10), 6), np.arange(10))
    assert counts.groupby("split")["images"].sum().to_dict() == {"test": 10, "train": 60}
    assert counts.loc[(counts["class"] == "Bag") & (counts.split == "train"), "images"].item() == 6
    spec = plots.class_counts_chart(counts).to_dict()
    assert spec["encoding"]["y"]["field"] == "class" and spec["encoding"]["x"]["field"] == "images"


# ----------------------------------------------------------------------------- first-layer weights
def test_weight_grid_shape_and_tiles():
    W1 = np.random.default_rng(0).normal(size=(784, 40))
    grid = plots.weight_grid(W1, n_units=32, cols=8)
    assert grid.shape == (4 * 29 - 1, 8 * 29 - 1)
    assert np.array_equal(grid[:28, :28], W1[:, 0].reshape(28, 28))
    assert np.array_equal(grid[29:57, 58:86], W1[:, 10].reshape(28, 28))  # row 1, column 2
    assert np.isnan(grid[28]).all() and np.isnan(grid[:, 28]).all()  # separators


def test_weight_grid_with_fewer_units_than_asked_and_per_unit_scaling():
    W1 = np.random.default_rng(0).normal(size=(784, 10)) * np.arange(1, 11)
    grid = plots.weight_grid(W1, n_units=64, cols=8, per_unit=True)
    assert grid.shape == (2 * 29 - 1, 8 * 29 - 1)
    assert np.nanmax(np.abs(grid)) <= 1.0
    assert np.isnan(grid[29:, 2 * 29 :]).all()  # units 10.. do not exist: blank tiles


def test_weights_figure_is_centred_at_zero_with_a_diverging_map():
    W1 = np.random.default_rng(0).normal(size=(784, 64))
    fig = plots.weights_figure(W1, n_units=64, cols=16)
    im = fig.axes[0].images[0]
    lo, hi = im.get_clim()
    assert lo == -hi and hi > 0
    assert im.get_cmap().name.startswith("RdBu")
    assert len(fig.axes) == 2  # the image and its colour bar


def test_weights_caption_says_what_the_tiles_show_and_why(shipped_model):
    text = plots.weights_caption(shipped_model)
    assert "speckle" in text and "not pictures of garments" in text
    assert "standardized" in text and "input dropout hid 10%" in text  # the shipped model's own settings
    assert "outlines and edges" not in text
    plain = small_net((16,))
    plain.meta = {"config": {"input_dropout": 0.0}}
    text = plots.weights_caption(plain)
    assert "standardized" not in text and "input dropout" not in text and "16 units" in text
    assert "template" in plots.weights_caption(MLP([784, 10], []))


# ----------------------------------------------------------------------------- projection
def test_layer_options_and_features_per_layer():
    net = small_net((16, 8))
    options = plots.layer_options(net)
    assert options == [plots.INPUT_LAYER, "Hidden layer 1 (16 relu units)", "Hidden layer 2 (8 tanh units)"]
    x = np.random.default_rng(0).integers(0, 256, (5, 784), dtype=np.uint8)
    assert plots.layer_features(net, x, options[0]).shape == (5, 784)
    assert plots.layer_features(net, x, options[1]).shape == (5, 16)
    assert plots.layer_features(net, x, options[2]).shape == (5, 8)
    assert plots.layer_features(net, x, options[0]).max() <= 1.0


def test_pca_projection_returns_n_by_2():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(300, 20)) * np.linspace(5, 0.1, 20)
    points, explained = plots.pca_projection(h)
    assert points.shape == (300, 2)
    assert explained.shape == (2,) and 1 > explained[0] >= explained[1] > 0
    assert abs(points.mean(axis=0)).max() < 1e-9  # centred


def test_pca_projection_degenerate_inputs():
    assert plots.pca_projection(np.ones((1, 5)))[0].shape == (1, 2)
    assert plots.pca_projection(np.ones((4, 1)))[0].shape == (4, 2)


def test_projection_sample_is_seeded_sorted_and_capped():
    y = np.arange(5000) % 10
    a = plots.projection_sample(y, 2000, seed=0)
    assert len(a) == 2000 == len(set(a)) and (np.diff(a) > 0).all()
    assert np.array_equal(a, plots.projection_sample(y, 2000, seed=0))
    assert len(plots.projection_sample(y[:50], 2000)) == 50


def test_projection_figure_has_a_legend_of_classes_and_axis_labels():
    rng = np.random.default_rng(0)
    fig = plots.projection_figure(rng.normal(size=(100, 2)), np.arange(100) % 10, np.array([0.3, 0.1]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(CLASS_NAMES)
    assert ax.get_xlabel() == "Principal component 1 (30% of variance)"
    assert ax.get_ylabel().startswith("Principal component 2")


# ----------------------------------------------------------------------------- comparing runs
def test_curves_frame_is_long_and_skips_missing_values():
    histories = {
        "a": {"epoch": [1, 2], "train_acc": [0.7, 0.8], "val_acc": [0.65, None]},
        "b": None,
        "c": {"epoch": [1]},
    }
    frame = plots.curves_frame(histories)
    assert list(frame.columns) == ["model", "split", "epoch", "accuracy"]
    assert len(frame) == 3 and set(frame.model) == {"a"}
    assert frame[frame.split == "validation"].accuracy.tolist() == [0.65]
    assert plots.curves_frame({}).empty


def test_curves_chart_encodes_model_and_split():
    frame = plots.curves_frame({"a": {"epoch": [1, 2], "train_acc": [0.7, 0.8], "val_acc": [0.6, 0.7]}})
    spec = plots.curves_chart(frame).to_dict()
    line, points = spec["layer"]
    assert line["encoding"]["color"]["field"] == "model"
    assert line["encoding"]["strokeDash"]["field"] == "split"
    assert "tooltip" in points["encoding"]


def test_finished_learning_curves_match_the_live_ones():
    """Same x range in both charts, the live view's ticks, its height, and one HTML legend below."""
    from streamlit.testing.v1 import AppTest

    def page():
        from ui import charts

        history = {"epoch": [1, 2], "train_loss": [0.9, 0.6], "val_loss": [0.8, 0.65], "train_acc": [0.7, 0.8],
                   "val_acc": [0.72, 0.79], "batch_seen": [500, 1000, 1500, 2000, 2400],
                   "batch_loss": [1.2, 0.9, 0.7, 0.62, 0.6]}  # fmt: skip
        charts.learning_curves(history, 1000)

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    loss, acc = (json.loads(c.proto.spec) for c in at.get("vega_lite_chart"))
    x_loss, x_acc = (spec["layer"][0]["encoding"]["x"] for spec in (loss, acc))
    assert x_loss["scale"]["domain"] == x_acc["scale"]["domain"] == [0.0, 2.4]  # the per-batch loss's reach
    assert x_loss["axis"]["values"] == [0.0, 1.0, 2.0]
    y_acc = acc["layer"][0]["encoding"]["y"]
    assert y_acc["axis"]["format"] == ".0%" and y_acc["axis"]["values"] == [0.7, 0.72, 0.74, 0.76, 0.78, 0.8]
    assert all(spec["layer"][0]["encoding"]["color"]["legend"] is None for spec in (loss, acc))
    (legend,) = [h.proto.body for h in at.get("html") if 'aria-label="Legend"' in h.proto.body]
    assert re.findall(r'data-series="([^"]+)"', legend) == ["per batch (smoothed)", "train", "validation"]


def test_run_summary_prefers_the_fresh_evaluation_and_falls_back_to_meta():
    net = small_net((16,))
    net.meta = {
        "metrics": {"test_accuracy": 0.5, "macro_f1": 0.4},
        "history": {"epoch": [1, 2, 3]},
        "train_seconds": 12.5,
        "created": "2026-01-02T03:04:05+00:00",
    }
    row = plots.run_summary("mine", net, None)
    assert row["test accuracy"] == 0.5 and row["macro F1"] == 0.4
    assert row["epochs"] == 3 and row["train seconds"] == 12.5
    assert row["architecture"] == "784-16-10 (relu)" and row["created"] == "2026-01-02 03:04"
    ev = fake_evaluation()
    assert plots.run_summary("mine", net, ev)["test accuracy"] == ev.accuracy
    empty = small_net((16,))
    row = plots.run_summary("bare", empty, None)
    assert row["test accuracy"] is None and row["epochs"] is None and row["train seconds"] is None
    assert isinstance(pd.DataFrame([row]), pd.DataFrame)
