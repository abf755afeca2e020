"""The Predict page (AppTest) and its pure logic in model/predict_view.py."""

from __future__ import annotations

import base64
import io
import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from model.datasets.fashion_mnist import CLASS_NAMES
from model.datasets.images import is_blank
from model.errors import ImageError, PredictionError
from model.nn.network import MLP
from tests.conftest import REAL_DATA
from tests.support.answers import answer_blocks, captions, images, stats, verdict_of
from tests.support.answers import shown_figures as metrics  # st.metric values and the Predict answer's figures
from tests.support.synthetic import trousers
from ui import models
from ui.predict_view import (
    NO_GHOST,
    SALIENCY_EDGES,
    answer_html,
    as_image28,
    class_order,
    format_probability,
    ghosts,
    input_id,
    normalize_saliency,
    pick_test_index,
    predict_image,
    probability_bars_html,
    read_upload,
    saliency_overlay,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "ui" / "pages" / "predict.py")
DATA = REAL_DATA  # $FASHION_MNIST_DIR, else the copy beside the checkout
needs_data = pytest.mark.skipif(not (DATA / "t10k-images-idx3-ubyte.gz").exists(), reason="Fashion-MNIST not on disk")


# ----------------------------------------------------------------------------- helpers
def png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, "PNG")
    return buf.getvalue()


def blob(seed: int = 0) -> np.ndarray:
    """A (28, 28) uint8 garment-like blob."""
    img = np.zeros((28, 28), dtype=np.uint8)
    img[4:24, 8:20] = 200
    img += np.random.default_rng(seed).integers(0, 40, (28, 28), dtype=np.uint8)
    return img


@pytest.fixture(scope="module")
def net(shipped_model: MLP) -> MLP:
    return shipped_model  # conftest's shipped-model fixture, under this file's short name


@pytest.fixture(scope="module")
def net64() -> MLP:
    """A small float64 network, so finite differences are exact enough to check gradients."""
    return MLP([784, 16, 10], ["tanh"], rng=np.random.default_rng(1), dtype=np.float64)


# ----------------------------------------------------------------------------- predict_view
def test_as_image28_accepts_flat_and_square_and_rejects_other_sizes():
    flat = np.arange(784) % 256
    assert as_image28(flat).shape == (28, 28)
    assert as_image28(flat).dtype == np.uint8
    assert np.array_equal(as_image28(flat.reshape(28, 28)), as_image28(flat))
    assert as_image28(np.full((28, 28), 999)).max() == 255
    with pytest.raises(ImageError, match="28x28"):
        as_image28(np.zeros((27, 28)))


def test_predict_image_matches_the_network(net):
    img = blob()
    pred = predict_image(net, img)
    proba = net.predict_proba(img.reshape(1, 784))[0]
    assert pred.proba.shape == (10,)
    assert pred.proba.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(pred.proba, proba, rtol=1e-5)
    assert pred.index == int(np.argmax(proba))
    assert pred.label == CLASS_NAMES[pred.index]
    assert pred.confidence == pytest.approx(float(proba.max()))
    assert pred.top(3)[0] == (pred.label, pytest.approx(pred.confidence))
    assert pred.saliency.shape == (28, 28)
    np.testing.assert_allclose(pred.saliency.ravel(), net.input_gradient(img.reshape(1, 784), pred.index)[0], rtol=1e-5)
    assert np.array_equal(pred.image, img)


def test_saliency_is_the_gradient_of_the_predicted_probability(net64):
    """Check the meaning promised in the caption against finite differences: d p[pred] / d (pixel / 255)."""
    img = blob(3)
    pred = predict_image(net64, img)
    x = img.reshape(1, 784).astype(np.float64)
    eps = 1e-3  # in pixel/255 units

    def prob(pixels: np.ndarray) -> float:  # in float64 (predict_proba rounds to float32)
        z = net64.logits(pixels)[0].astype(np.float64)
        e = np.exp(z - z.max())
        return float(e[pred.index] / e.sum())

    for pixel in (0, 300, 410, 783):
        up, down = x.copy(), x.copy()
        up[0, pixel] += eps * 255
        down[0, pixel] -= eps * 255
        numeric = (prob(up) - prob(down)) / (2 * eps)
        assert pred.saliency.ravel()[pixel] == pytest.approx(numeric, rel=2e-2, abs=1e-6)


def test_normalize_saliency():
    assert not normalize_saliency(np.zeros((28, 28))).any()
    sal = np.zeros((28, 28))
    sal[3, 4], sal[10, 10] = -2.0, 1.0
    out = normalize_saliency(sal, percentile=100)
    assert out[3, 4] == 1.0 and out[10, 10] == 0.5  # magnitude, sign dropped
    assert out.min() >= 0 and out.max() <= 1
    noisy = np.full((28, 28), np.nan)
    assert not normalize_saliency(noisy).any()
    # One outlier does not wash out the rest: the 99th percentile maps to 1.
    spread = np.linspace(0, 1, 784).reshape(28, 28)
    spread[0, 0] = 1e6
    assert normalize_saliency(spread)[27, 27] == pytest.approx(1.0)


def test_saliency_overlay_shape_crispness_and_colours():
    img = blob()
    sal = np.zeros((28, 28))
    sal[14, 14] = 1.0
    out = saliency_overlay(img, sal, scale=8)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    # nearest-neighbour upscale: every 8x8 block is one colour
    blocks = out.reshape(28, 8, 28, 8, 3)
    assert (blocks == blocks[:, :1, :, :1, :]).all()
    small = saliency_overlay(img, sal, scale=1)
    assert np.array_equal(small, out[::8, ::8])
    # pixels with no saliency show the dimmed greyscale input
    grey = np.rint(img / 255.0 * 0.55 * 255.0)
    cold = np.ones((28, 28), bool)
    cold[14, 14] = False
    for c in range(3):
        assert np.abs(small[..., c][cold].astype(float) - grey[cold]).max() <= 1
    # the salient pixel is coloured (not grey) and stands out
    r, g, b = small[14, 14].astype(int)
    assert not (r == g == b)
    assert r > grey[14, 14]
    with pytest.raises(ImageError):
        saliency_overlay(img, np.zeros((10, 10)))


def test_probability_bars_sorted_all_classes_top3_highlighted():
    proba = np.array([0.01, 0.6, 0.0, 0.0004, 0.2, 0.05, 0.04, 0.05, 0.0496, 0.0])
    html = probability_bars_html(proba)
    names, probs, shown = bar_rows(html)
    assert names == class_order(proba) and sorted(names) == sorted(CLASS_NAMES)
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-6
    assert shown[:2] == ["60.0%", "20.0%"] and "<0.1%" in shown and shown[-1] == "0.0%"
    assert html.count("#e4572e") == 3 and html.count("width:60.00%") == 1
    assert "<script" not in html and html.startswith('<div role="list"')


def test_probability_bars_never_overflow_or_show_nan():
    html = probability_bars_html(np.array([1.0] + [0.0] * 9))
    assert "width:100.00%" in html and bar_rows(html)[2][0] == ">99.9%" and "nan" not in html.lower()


def test_answer_html_holds_the_whole_answer(net):
    pred = predict_image(net, blob())
    html = answer_html(pred)
    assert stats(html) == {"Prediction": pred.label, "Probability": format_probability(pred.confidence)}
    assert f'data-prediction="{pred.label}"' in html and f'data-input="{input_id(pred.image)}"' in html
    shown_input, shown_saliency = images(html)
    assert np.array_equal(shown_input, pred.image)  # exactly the 28x28 the model saw
    assert np.array_equal(shown_saliency, saliency_overlay(pred.image, pred.saliency, scale=1))
    assert captions(html) == ["What the model sees: 28×28 pixels", f"Saliency for {pred.label}"]
    assert bar_rows(html)[0] == class_order(pred.proba) and verdict_of(html) is None
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html).lower()  # base64 may spell 'nan'
    assert "<script" not in text and "nan" not in text


def test_answer_html_says_right_or_wrong_for_test_images(net):
    pred = predict_image(net, blob())
    assert verdict_of(answer_html(pred, pred.index)) == "✓ " + verdict(pred, pred.index)
    other = (pred.index + 3) % 10
    wrong = verdict_of(answer_html(pred, other))
    assert wrong == "✗ " + verdict(pred, other) and CLASS_NAMES[other] in wrong
    assert 'data-verdict="wrong"' in answer_html(pred, other)


def test_input_id_tells_inputs_apart():
    a = blob()
    b = a.copy()
    b[0, 0] ^= 1
    assert input_id(a) == input_id(a.copy()) != input_id(b) and len(input_id(a)) == 12


def test_class_order():
    proba = np.array([0.05, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.25])
    order = class_order(proba)
    assert order[:3] == ["Trouser", "Ankle boot", "Coat"]
    assert sorted(order) == sorted(CLASS_NAMES)
    assert order[4:] == [CLASS_NAMES[i] for i in (2, 3, 5, 6, 7, 8)]  # ties keep class order


def test_format_probability():
    assert format_probability(0.9999) == ">99.9%"
    assert format_probability(1.0) == ">99.9%"
    assert format_probability(0.0004) == "<0.1%"
    assert format_probability(0.0) == "0.0%"
    assert format_probability(0.5) == "50.0%"


def test_verdict(net):
    pred = predict_image(net, blob())
    assert verdict(pred, pred.index).startswith("Correct")
    other = (pred.index + 1) % 10
    text = verdict(pred, other)
    assert text.startswith("Wrong") and CLASS_NAMES[other] in text


def test_pick_test_index_is_seeded_and_filters_by_class():
    labels = np.array([0, 1, 2, 1, 1, 9])
    a = [pick_test_index(np.random.default_rng(5), labels) for _ in range(3)]
    assert len(set(a)) == 1 and 0 <= a[0] < len(labels)
    rng = np.random.default_rng(0)
    assert {pick_test_index(rng, labels, 1) for _ in range(50)} == {1, 3, 4}
    with pytest.raises(ImageError):
        pick_test_index(rng, labels, 5)
    with pytest.raises(ImageError):
        pick_test_index(rng, np.array([], dtype=int))


def test_read_upload_gives_a_preview_and_the_model_input():
    preview, image28 = read_upload(png(trousers()), "trousers.png")
    assert image28.shape == (28, 28) and image28.dtype == np.uint8 and not is_blank(image28)
    assert preview.mode in ("RGB", "RGBA", "L") and max(preview.size) <= 280
    big, _ = read_upload(png(trousers((1200, 1600))), "big.png")
    assert max(big.size) <= 280
    with pytest.raises(ImageError):
        read_upload(b"not an image", "bad.png")
    _, blank = read_upload(png(np.full((50, 50), 255, np.uint8)), "white.png")
    assert is_blank(blank)


# ----------------------------------------------------------------------------- the page
def run_page(monkeypatch, data_dir: Path | str, **state) -> AppTest:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(data_dir))
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def chart_order(at: AppTest, i: int = 0) -> list[str]:
    """The class order, top to bottom, of the i-th block of probability bars."""
    return bar_rows(at.get("html")[i].proto.body)[0]


def bar_rows(html: str) -> tuple[list[str], list[float], list[str]]:
    """(class names, probabilities, shown percentages) of the rows, top to bottom."""
    rows = re.findall(r'data-class="([^"]+)" data-probability="([^"]+)".*?>([^<>]+)</span></div>', html)
    return [r[0] for r in rows], [float(r[1]) for r in rows], [unescape(r[2]) for r in rows]


def test_page_without_dataset(monkeypatch, tmp_path):
    at = run_page(monkeypatch, tmp_path)
    assert not at.exception
    assert at.title[0].value == "Predict"
    infos = " ".join(i.value for i in at.info)
    assert "FASHION_MNIST_DIR" in infos and "Draw and Upload work without it" in infos
    assert "Draw a piece of clothing" in infos  # blank canvas: a prompt, not a prediction
    assert not at.metric  # nothing drawn, nothing uploaded, no test set
    assert [t.label for t in at.tabs] == [
        ":material/draw: Draw",
        ":material/upload: Upload",
        ":material/casino: Test image",
    ]
    assert not at.button  # no "Random test image" without the data


def test_every_widget_has_help(monkeypatch):
    at = run_page(monkeypatch, DATA if DATA.exists() else "/nonexistent")
    widgets = [*at.selectbox, *at.slider, *at.toggle, *at.button, *at.get("file_uploader")]
    assert widgets
    for w in widgets:
        assert w.help, f"{w.label!r} has no help"


def test_upload_predicts_and_bad_files_keep_the_page_usable(monkeypatch, tmp_path):
    at = run_page(monkeypatch, tmp_path)
    uploader = at.get("file_uploader")[0]
    uploader.upload("trousers.png", png(trousers()), "image/png")
    at.run()
    assert not at.exception
    assert metrics(at)["Prediction"] == ["Trouser"]
    (answer,) = answer_blocks(at)
    assert (
        "Saliency map: the hotter a pixel" in answer
        and SALIENCY_EDGES in answer
        and captions(answer)[1] == "Saliency for Trouser"
    )
    assert len(at.image) == 1 and len(images(answer)) == 2  # the upload preview; model input and saliency

    at.get("file_uploader")[0].clear().upload("bad.png", b"this is not an image", "image/png")
    at.run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
    assert "Prediction" not in metrics(at)

    at.get("file_uploader")[0].clear().upload("white.png", png(np.full((40, 40), 255, np.uint8)), "image/png")
    at.run()
    assert not at.exception
    assert any("Nothing to classify" in w.value for w in at.warning)
    assert "Prediction" not in metrics(at)


@needs_data
def test_test_image_tab(monkeypatch):
    at = run_page(monkeypatch, DATA)
    assert not at.exception
    shown = metrics(at)
    assert shown["Prediction"][0] in CLASS_NAMES
    assert shown["Probability"][0].endswith("%")
    first = at.session_state["predict_test_index"]
    truth = next(re.search(r"true label is \*\*(.+?)\*\*", c.value) for c in at.caption if "true label" in c.value)[1]
    right = shown["Prediction"][0] == truth
    assert verdict_of(answer_blocks(at)[0]).startswith("✓ Correct" if right else "✗ Wrong")
    assert f"true label is {truth}" in verdict_of(answer_blocks(at)[0])

    assert chart_order(at)[0] == shown["Prediction"][0]

    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["predict_test_index"] != first
    assert metrics(at)["Prediction"][0] in CLASS_NAMES
    # the chart names its order each time, so a new image never shows the previous image's order
    assert chart_order(at)[0] == metrics(at)["Prediction"][0]
    assert any("true label" in c.value for c in at.caption)

    at.selectbox(key="predict_test_class").select("Trouser").run()
    assert not at.exception
    assert any("true label is **Trouser**" in c.value for c in at.caption)
    for _ in range(3):
        at.button[0].click().run()
        assert any("true label is **Trouser**" in c.value for c in at.caption)


class FakeJob:
    """Just enough of TrainingJob for the model picker, the sidebar status and the live panel."""

    def __init__(self, net: MLP):
        self.net, self.alive, self.state, self.progress = net, True, "running", None
        self.queue_position, self.slot_limit = 0, 2

    def snapshot(self) -> MLP:
        return self.net.copy()

    def heartbeat(self) -> None:
        pass


def test_live_model_panel(monkeypatch, tmp_path, net):
    at = run_page(monkeypatch, tmp_path, job=FakeJob(net), active_model=models.LIVE_LABEL)
    assert not at.exception
    assert at.selectbox(key="predict_model").value == models.LIVE_LABEL
    at.get("file_uploader")[0].upload("trousers.png", png(trousers()), "image/png")
    at.run()
    assert not at.exception
    assert any("The model training now" in c.value for c in at.caption)
    assert metrics(at)["Prediction"] == ["Trouser"]


def test_a_model_with_non_finite_outputs_is_refused_not_shown_as_nan(net):
    broken = net.copy()
    broken.params[:] = np.nan
    with pytest.raises(PredictionError, match="not numbers"):
        predict_image(broken, blob())


def test_live_model_caught_mid_divergence_shows_a_warning(monkeypatch, tmp_path, net):
    broken = net.copy()
    broken.params[::7] = np.inf  # a snapshot taken between the overflowing step and the divergence check
    at = run_page(monkeypatch, tmp_path, job=FakeJob(broken), active_model=models.LIVE_LABEL)
    at.get("file_uploader")[0].upload("trousers.png", png(trousers()), "image/png")
    at.run()
    assert not at.exception and not answer_blocks(at)
    assert any("not numbers" in w.value for w in at.warning)
    at.session_state["job"].net = net  # the next refresh has the last good weights again
    at.run()
    assert metrics(at)["Prediction"] == ["Trouser"]


def test_one_epoch_counter_while_the_live_model_answers(monkeypatch, tmp_path, net):
    """The sidebar and the live answer's caption read the job at different moments: only one counts epochs."""
    from model.training.trainer import Progress

    job = FakeJob(net)
    job.progress = Progress("batch", epoch=11, epochs=30, batch=5, batches=422, seen=0, train_loss=0.5, train_acc=0.8)
    at = run_page(monkeypatch, tmp_path, job=job, active_model=models.LIVE_LABEL)
    at.get("file_uploader")[0].upload("trousers.png", png(trousers()), "image/png")
    at.run()
    assert not at.exception
    counters = [c.value for c in at.caption if re.search(r"epoch \d+/\d+", c.value)]
    assert counters == ["Training: epoch 11/30"], counters
    assert any("The model training now" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- the Draw tab: fill and ghost
def ring_drawing(background_alpha: int = 0) -> dict:
    """The canvas's state after drawing a ring (white, 22 px) on it, as the component sends it."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, background_alpha))
    ImageDraw.Draw(img).ellipse((60, 50, 220, 230), outline=(255, 255, 255, 255), width=22)
    url = "data:image/png;base64," + base64.b64encode(png(np.asarray(img))).decode("ascii")
    return {"drawing": {"raw": {"objects": [], "background": ""}, "data": url}, "backgroundFit": None}


def canvas_background(at: AppTest) -> bytes:
    """The PNG the page hands the drawing canvas as its background image."""
    (canvas,) = at.get("bidi_component")
    url = json.loads(canvas.proto.json)["backgroundImageURL"]
    return base64.b64decode(url.partition(";base64,")[2])


def drawn_input(at: AppTest) -> np.ndarray:
    """The 28x28 input of the Draw tab's answer (the first answer on the page)."""
    return images(answer_blocks(at)[0])[0]


def test_draw_options_without_the_dataset(monkeypatch, tmp_path):
    at = run_page(monkeypatch, tmp_path)
    ghost = at.selectbox(key="predict_ghost")
    assert ghost.disabled and ghost.value == "None" and "not on this machine" in ghost.help
    assert at.toggle(key="predict_fill").value is False
    assert canvas_background(at) == NO_GHOST  # plain black behind the strokes
    assert any("the network sees your strokes alone" in c.value for c in at.caption)


@pytest.mark.filterwarnings("ignore:.*not the official")  # our junk files' MD5, expected here
def test_ghost_names_unusable_dataset_files(monkeypatch, tmp_path):
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (tmp_path / f"{name}.gz").write_bytes(b"not a gzip file")
    at = run_page(monkeypatch, tmp_path)
    assert not at.exception
    ghost = at.selectbox(key="predict_ghost")
    assert ghost.disabled and "cannot be used" in ghost.help and "train-images-idx3-ubyte" in ghost.help
    at.toggle(key="predict_fill").set_value(True).run()  # a rerun of the Draw tab alone: still explained
    assert at.selectbox(key="predict_ghost").help == ghost.help


def test_fill_toggle_fills_a_closed_outline_before_the_network_reads_it(monkeypatch, tmp_path):
    at = run_page(monkeypatch, tmp_path, predict_canvas=ring_drawing())
    assert not at.exception
    outline = drawn_input(at)
    assert outline[14, 14] == 0 and outline[14, 1:4].max() > 200  # a ring: empty in the middle
    at.toggle(key="predict_fill").set_value(True).run()
    assert not at.exception
    filled = drawn_input(at)
    assert filled[14, 14] > 200 and filled.sum() > 1.5 * outline.sum()  # the disc it encloses
    at.toggle(key="predict_fill").set_value(False).run()
    assert np.array_equal(drawn_input(at), outline)


@needs_data
def test_fill_advice_follows_the_shipped_models_training(monkeypatch, tmp_path):
    """The shipped model was trained with drawings: Fill on gets a caption saying it reads outlines better unfilled."""
    at = run_page(monkeypatch, tmp_path, predict_canvas=ring_drawing())
    advice = "trained with drawings and reads outlines better"
    assert not any(advice in c.value for c in at.caption)
    at.toggle(key="predict_fill").set_value(True).run()
    assert not at.exception
    assert any(advice in c.value for c in at.caption)


def test_a_ghost_shows_behind_the_canvas_and_never_reaches_the_network(monkeypatch):
    from model.datasets.fashion_mnist import load_fashion_mnist

    at = run_page(monkeypatch, DATA, predict_canvas=ring_drawing())
    ghost = at.selectbox(key="predict_ghost")
    assert not ghost.disabled and "the network sees only your strokes" in ghost.help
    before = drawn_input(at)
    at.selectbox(key="predict_ghost").select("Trouser").run()
    assert not at.exception
    ds = load_fashion_mnist(DATA, download=False)
    assert canvas_background(at) == ghosts(ds.x_train, ds.y_train, ds.md5)[CLASS_NAMES.index("Trouser")]
    assert np.array_equal(drawn_input(at), before)
    at.selectbox(key="predict_ghost").select("None").run()
    assert canvas_background(at) == NO_GHOST
