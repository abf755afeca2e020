"""Inside the network (ui/inside.py): its charts, tiles and words, the readings a training job
carries from its worker, and the panels rendered by Streamlit (AppTest)."""

from __future__ import annotations

import base64
import io
import os
import re
import time
from html import unescape

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from model.nn.network import MLP
from model.training.config import TrainConfig
from model.training.diagnostics import (
    DiagnosticsHistory,
    Reading,
    first_layer_at_start,
    layer_activations,
    measure,
    probe_indices,
    strongest_units,
)
from tests.support.synthetic import dataset
from ui import inside

DS = dataset()


def reading(first: float, dead: float | None = 0.05, sat: float | None = None) -> Reading:
    return Reading([first, 0.5], [dead], [sat], loss=1.0)


def history(n: int = 5, activation: str = "relu") -> DiagnosticsHistory:
    h = DiagnosticsHistory()
    for i in range(n):
        dead = 0.1 * i if activation == "relu" else None
        sat = 0.2 * i if activation == "sigmoid" else None
        h.add(0.5 * i, Reading([10.0 ** -(i + 1), 0.1, 0.2], [dead, dead], [sat, sat], loss=2.0))
    return h


def data_uris(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/[a-z+]+;base64,([A-Za-z0-9+/=]+)", html)]


# ----- words ---------------------------------------------------------------------------
def test_share_never_rounds_to_a_false_zero_or_hundred():
    assert [inside.share(v) for v in (0, 0.001, 0.08, 0.999, 1)] == ["0%", "<1%", "8%", ">99%", "100%"]


def test_notes_name_a_vanishing_gradient_only_when_the_first_layer_gets_under_a_hundredth():
    stalled = inside.reading_notes(reading(1e-4), ["relu"], [256])
    assert stalled[0].startswith("**Vanishing gradient**") and "5,000 times smaller" in stalled[0]
    healthy = inside.reading_notes(reading(0.4), ["relu"], [256])
    assert "Vanishing" not in healthy[0] and "0.8 times" in healthy[0]


def test_notes_raise_the_alarm_for_many_dead_or_saturated_units_and_say_the_share_otherwise():
    many = inside.reading_notes(reading(0.4, dead=0.9), ["relu"], [256])[1]
    assert many.startswith("**Dead units**") and "90%" in many and "256 relu units" in many and "learning rate" in many
    few = inside.reading_notes(reading(0.4, dead=0.03), ["relu"], [256])[1]
    assert few.startswith("Hidden layer 1: 3% of its 256 relu units are dead") and "**" not in few
    sat = inside.reading_notes(reading(0.4, dead=None, sat=0.6), ["sigmoid"], [128])[1]
    assert sat.startswith("**Saturated units**") and "60%" in sat and "within 0.01 of 0 or 1" in sat
    assert len(inside.reading_notes(reading(0.4, dead=None), ["gelu"], [10])) == 1  # gradient note only


# ----- charts and tiles ----------------------------------------------------------------------
def test_gradient_chart_draws_one_log10_line_per_layer():
    svg = inside.gradient_chart_svg(history())
    assert svg.count("<polyline") == 3
    for name in ("layer 1", "layer 2", "output"):
        assert f">{name}<" in svg
    ticks = re.findall(r'text-anchor="end"[^>]*>([^<]*)<', svg)  # the y axis: log10 of 1e-5 ... 0.2
    assert ticks[0] == "-5" and "-3" in ticks and float(ticks[-1]) >= -0.7
    html = inside.training_html(history(), ["relu", "relu"], None)
    assert inside.GRADIENT_TITLE in html and "log10" in inside.GRADIENT_TITLE


def test_units_chart_is_dead_units_for_relu_saturated_outputs_for_sigmoid_and_absent_for_gelu():
    relu = inside.units_chart_svg(history(activation="relu"), ["relu", "relu"])
    assert ">hidden 1<" in relu and relu.count("<polyline") == 2
    assert inside.UNIT_TITLES["dead"] in inside.training_html(history(), ["relu", "relu"], None)
    sig = inside.units_chart_svg(history(activation="sigmoid"), ["sigmoid", "sigmoid"])
    assert sig.count("<polyline") == 2
    assert inside.UNIT_TITLES["saturated"] in inside.training_html(history(), ["sigmoid", "sigmoid"], None)
    assert "Dead" not in inside.training_html(history(), ["gelu", "gelu"], None)
    assert inside.units_chart_svg(history(activation="gelu"), ["gelu", "gelu"]) is None


def test_weight_tiles_are_red_for_positive_blue_for_negative_with_white_gaps():
    W1 = np.zeros((784, 2), np.float32)
    W1[:392, 0], W1[392:, 0] = 1.0, -1.0  # top half of tile 0 pushes on, bottom half off
    rgb = inside.weight_tiles_png(W1, n_units=2, cols=2)
    assert rgb.shape == (28, 57, 3) and rgb.dtype == np.uint8
    top, bottom, gap, zero = rgb[2, 5], rgb[25, 5], rgb[5, 28], rgb[5, 40]
    assert int(top[0]) > int(top[2]) + 50  # red (the dark end of the scale)
    assert int(bottom[2]) > int(bottom[0]) + 50  # blue
    assert gap.tolist() == [255, 255, 255]
    assert abs(int(zero[0]) - int(zero[2])) < 10  # zero weight: the neutral middle of the scale


def test_training_html_holds_the_charts_and_the_tiles():
    net = MLP([784, 16, 8, 10], ["relu", "relu"])
    html = inside.training_html(history(), ["relu", "relu"], net.W[0])
    assert f'aria-label="{inside.PANEL_LABEL}"' in html and 'data-readings="5"' in html
    pictures = data_uris(html)
    assert len(pictures) == 3  # two charts, one tile image
    tiles = Image.open(io.BytesIO(pictures[-1]))
    assert tiles.size == (8 * 29 - 1, 2 * 29 - 1)  # 16 units, 8 per row
    assert "first 16 units" not in html  # no start given: the weights only
    start = np.zeros_like(net.W[0])
    assert inside.LEARNED_LOOK["scale"] in inside.tiles_html(net.W[0], start)
    busy = inside.tiles_html(net.W[0], start, "standardize")
    assert inside.LEARNED_LOOK["standardize"] in busy and inside.LEARNED_LOOK["scale"] not in busy
    assert len(data_uris(inside.training_html(DiagnosticsHistory(), ["relu"], None))) == 0


def test_tiles_show_what_was_learned_and_the_weights_on_one_scale():
    start = np.random.default_rng(0).normal(0, 0.05, (784, 8)).astype(np.float32)
    now = start.copy()
    now[:392, 0] += 0.2  # unit 0 learned to like the top half; the others did not move
    html = inside.tiles_html(now, start)
    changed, weights = (np.asarray(Image.open(io.BytesIO(p))) for p in data_uris(html))
    assert 'data-tiles="changed"' in html and 'data-tiles="weights"' in html and "first 8 units" in html
    assert int(changed[2, 5, 0]) > int(changed[2, 5, 2]) + 50  # unit 0's top half: red
    still = changed[:, 29:].reshape(-1, 3)  # units that did not move, and the gaps: blank (near white)
    assert still.min() >= 240 and len(np.unique(still, axis=0)) <= 2
    assert f"from -{inside.tile_limit(now):.2g} to {inside.tile_limit(now):.2g}" in html
    moved = np.linalg.norm(now - start) / np.linalg.norm(start)
    assert f"moved by {100 * moved:.0f}% of its starting size" in html
    changes = [inside.relative_change(f * start, start) for f in (1, 3, 1.37, 1.048, 1.00052, 1.000001)]
    assert changes == ["0%", "200%", "37%", "4.8%", "0.052%", "<0.01%"]


def test_the_start_of_a_model_comes_from_its_settings_when_they_fit():
    cfg = TrainConfig(hidden=[16, 8], init="normal", seed=4)
    net = MLP([784, 16, 8, 10], ["relu", "relu"])
    np.testing.assert_array_equal(inside.start_of(net, cfg.to_dict()), first_layer_at_start(cfg))
    assert inside.start_of(net, TrainConfig(hidden=[32])) is None  # another architecture
    assert inside.start_of(net, None) is None and inside.start_of(net, {"lr": "fast"}) is None


# ----- Predict's activations ------------------------------------------------------------------
def test_activations_html_lists_the_strongest_units_and_their_most_exciting_test_images():
    net = MLP([784, 32, 16, 10], ["relu", "sigmoid"], rng=np.random.default_rng(0))
    image = DS.x_test[3].reshape(28, 28)
    tops, peaks = inside._exciting.__wrapped__(net, "md5", DS, DS.md5, len(DS.y_test))
    html = inside.activations_html(net, image, DS.x_test, DS.y_test, tops, peaks)
    acts = layer_activations(net, image.reshape(1, -1))
    for j, h in enumerate(acts, 1):
        shown = [int(u) for u in re.findall(rf'data-unit="(\d+)" data-layer="{j}"', html)]
        assert shown == strongest_units(h[0], inside.TOP_UNITS).tolist()
        explained = [int(u) for u in re.findall(rf'data-exciting="{j}:(\d+)"', html)]
        assert explained == shown[: inside.EXPLAINED_UNITS]
    # The most exciting test images of the first explained unit of layer 1, in order.
    u = int(strongest_units(acts[0][0])[0])
    all_acts = layer_activations(net, DS.x_test)[0][:, u]
    block = html.split(f'data-exciting="1:{u}"')[1].split("</div></div>")[0]
    shown_images = [np.asarray(Image.open(io.BytesIO(p))).ravel() for p in data_uris(block)]
    expected = DS.x_test[np.argsort(-all_acts, kind="stable")[: inside.TOP_IMAGES]]
    assert len(shown_images) == inside.TOP_IMAGES
    np.testing.assert_array_equal(np.array(shown_images), expected)  # light on black: the raw pixels
    u2 = int(strongest_units(acts[1][0])[0])  # the strongest unit of layer 2, against its max over the test set
    peak = layer_activations(net, DS.x_test)[1][:, u2].max()
    assert f"· {inside.share(acts[1][0][u2] / peak)} of its max" in unescape(html)
    assert "active (above 0)" in html  # relu layer
    few, _ = inside._exciting.__wrapped__(net, "md5", DS, DS.md5, 50)  # a sample: 5 of each class
    sample = probe_indices(DS.y_test, 50)
    assert set(few[0].ravel()) <= set(sample.tolist())
    sample_acts = layer_activations(net, DS.x_test[sample])[0][:, u]
    np.testing.assert_array_equal(few[0][u], sample[np.argsort(-sample_acts, kind="stable")[: inside.TOP_IMAGES]])
    bare = inside.activations_html(net, image)  # no dataset: bars only
    assert "data-exciting" not in bare and "data-unit" in bare


# ----- the panels, rendered (AppTest) ----------------------------------------------------------
class FakeJob:
    def __init__(self, readings: dict, net: MLP | None, cfg: TrainConfig):
        self.inside, self._net, self.cfg = readings, net, cfg

    def snapshot(self):
        return self._net


def train_panel(job, open_: bool):
    import streamlit as st

    from ui import inside

    if open_:
        st.session_state.setdefault(inside.TRAIN_EXPANDER, True)
    inside.network_panels(job)


def test_train_panel_computes_nothing_closed_and_shows_charts_tiles_and_words_open():
    cfg = TrainConfig(hidden=[16, 8])
    job = FakeJob(history().to_dict(), MLP([784, 16, 8, 10], ["relu", "relu"]), cfg)
    closed = AppTest.from_function(train_panel, args=(job, False)).run()
    assert not closed.exception
    assert [e.label for e in closed.expander] == [inside.TRAIN_TITLE]
    assert not closed.get("html") and not closed.markdown
    opened = AppTest.from_function(train_panel, args=(job, True)).run()
    assert not opened.exception
    html = opened.get("html")[0].proto.body
    assert 'data-readings="5"' in html and len(data_uris(html)) == 4  # two charts, two tile pictures
    words = " ".join(m.value for m in opened.markdown)
    assert "**Vanishing gradient**" in words  # the last reading: 1e-5 against 0.2


def test_train_panel_before_the_first_reading_says_so():
    at = AppTest.from_function(train_panel, args=(FakeJob({}, None, TrainConfig()), True)).run()
    assert not at.exception
    assert any("once the run has started" in c.value for c in at.caption)


def predict_panel(net, ds):
    from ui import inside

    inside.activation_panel(net, ds.x_test[0], ds)
    inside.activation_panel(net, ds.x_test[1], ds)  # twice on one page, as in Predict's tabs


def test_predict_panel_works_in_several_tabs_at_once_and_searches_fewer_images_for_the_live_model():
    ds = dataset(n_test=1500)
    live = MLP([784, 16, 10], ["relu"])  # a snapshot of a run still training: no record yet
    at = AppTest.from_function(predict_panel, args=(live, ds)).run()
    assert not at.exception
    assert [e.label for e in at.expander] == [inside.PREDICT_TITLE] * 2
    assert all(f'aria-label="{inside.ACTIVATIONS_LABEL}"' in h.proto.body for h in at.get("html"))
    assert f"of {inside.LIVE_SEARCH:,} test images" in at.caption[0].value
    finished = live.copy()
    finished.meta = {"config": {"hidden": [16]}}
    at = AppTest.from_function(predict_panel, args=(finished, ds)).run()
    assert "of 1,500 test images" in at.caption[0].value


def explore_panel(net, ds):
    import streamlit as st

    from ui import inside

    st.session_state.setdefault(inside.EXPLORE_EXPANDER, True)
    inside.model_panel(net, ds)


def test_explore_panel_reads_a_model_on_test_images():
    net = MLP([784, 16, 8, 10], ["relu", "relu"])
    at = AppTest.from_function(explore_panel, args=(net, DS)).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["layer 1", "layer 2", "output"]
    idx = probe_indices(DS.y_test)
    expected = measure(net, DS.x_test[idx], DS.y_test[idx])
    assert list(table["dead units"])[:2] == [inside.share(v) for v in expected.dead]
    np.testing.assert_allclose(table["gradient norm"], expected.grad_norms)
    assert "Gradients reach the first layer" in " ".join(m.value for m in at.markdown)
    linear = AppTest.from_function(explore_panel, args=(MLP([784, 10], []), DS)).run()  # no hidden layer
    assert not linear.exception and list(linear.dataframe[0].value["layer"]) == ["output"]


# ----- readings from a training worker (the embedded Dask cluster) -------------------------------
@pytest.fixture(scope="module")
def local_cluster():
    from ui import cluster

    os.environ.pop(cluster.SCHEDULER_ENV, None)
    cluster.shutdown()
    cluster.client()
    yield
    cluster.shutdown()


def test_a_training_job_carries_its_readings_over_the_run_and_across_a_resume(local_cluster):
    from ui.jobs import TrainingJob

    def run_until(job, cond, timeout=90.0):
        end = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < end, "timed out"
            job.heartbeat()
            time.sleep(0.05)

    cfg = TrainConfig(hidden=[16, 8], epochs=400, batch_size=8, val_fraction=0.0)  # runs until stopped
    job = TrainingJob(cfg, DS).start()
    run_until(job, lambda: len(DiagnosticsHistory.from_dict(getattr(job, "inside", None))) >= 2)
    job.stop()
    run_until(job, lambda: not job.alive)
    first = DiagnosticsHistory.from_dict(job.inside)
    assert job.state == "stopped"
    assert len(first.grad_norms[0]) == 3 and len(first.dead[0]) == 2 and first.saturated[0] == [None, None]
    assert first.x == sorted(first.x) and first.x[-1] == pytest.approx(job.progress.seen / job.per_epoch)
    job.start()  # resume: the readings go on from where they were
    run_until(job, lambda: len(DiagnosticsHistory.from_dict(job.inside)) > len(first) + 1)
    job.stop()
    run_until(job, lambda: not job.alive)
    resumed = DiagnosticsHistory.from_dict(job.inside)
    assert resumed.x[: len(first)] == first.x and resumed.x[-1] > first.x[-1]
