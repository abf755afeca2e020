"""The Draw tab's ghosts (ui/predict_view.py): each class's mean training image, faint behind the canvas."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from model.datasets.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from tests.conftest import HAVE_REAL_DATA, REAL_DATA
from ui.predict_view import (
    GHOST_CANVAS,
    GHOST_COLOR,
    GHOST_SIDE,
    NO_GHOST,
    class_means,
    ghost_image,
    ghosts,
)

MARGIN = (GHOST_CANVAS - GHOST_SIDE) // 2


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def bar(left: int, right: int, value: int = 200) -> np.ndarray:
    """A (28, 28) image with a full-height vertical bar over columns left..right-1."""
    img = np.zeros((28, 28), np.uint8)
    img[:, left:right] = value
    return img


def test_class_means_are_the_mean_image_of_each_class():
    x = np.stack([bar(0, 4, 100), bar(0, 4, 200), bar(10, 14), np.zeros((28, 28), np.uint8)])
    y = np.array([1, 1, 8, 8])
    means = class_means(x.reshape(4, 784), y)
    assert means.shape == (10, 28, 28) and means.dtype == np.float32
    assert np.allclose(means[1], bar(0, 4, 150)) and np.allclose(means[8], bar(10, 14, 100))
    assert not means[[0, 2, 3, 4, 5, 6, 7, 9]].any()  # classes without images: all zero
    assert np.array_equal(class_means(x, y), means)  # (n, 28, 28) images too


def test_ghost_is_the_canvas_size_dim_and_inside_a_margin():
    img = ghost_image(bar(12, 16, 90))
    arr = np.asarray(img)
    assert img.size == (GHOST_CANVAS, GHOST_CANVAS) == (280, 280) and arr.shape == (280, 280, 3)
    assert tuple(arr.reshape(-1, 3).max(axis=0)) == GHOST_COLOR  # its brightest pixel, whatever the mean's level
    assert arr.max() <= 70  # faint next to the white strokes
    assert arr[:, :, 2].max() > arr[:, :, 0].max()  # greyish blue
    inside = np.zeros((280, 280), bool)
    inside[MARGIN : MARGIN + GHOST_SIDE, MARGIN : MARGIN + GHOST_SIDE] = True
    assert not arr[~inside].any()  # a margin all round, so strokes traced on its edge stay on the canvas
    # The bar (columns 12-15 of 28) is lit in the middle of the canvas, and nowhere near the sides.
    scale = GHOST_SIDE / 28
    middle = MARGIN + int(14 * scale)
    assert (arr[MARGIN + 10 : MARGIN + GHOST_SIDE - 10, middle] == GHOST_COLOR).all()
    assert not arr[:, : MARGIN + int(10 * scale)].any() and not arr[:, MARGIN + int(18 * scale) :].any()


def test_no_ghost_and_empty_means_are_plain_black():
    for img in (ghost_image(None), ghost_image(np.zeros((28, 28))), ghost_image(np.full(784, np.nan))):
        assert img.size == (280, 280) and not np.asarray(img).any()
    black = decode(NO_GHOST)
    assert black.shape[:2] == (280, 280) and not black[..., :3].any()


def test_ghosts_are_one_per_class_computed_once_per_dataset():
    x = np.stack([bar(c, c + 3) for c in range(10)])
    y = np.arange(10)
    first = ghosts(x, y, "fingerprint-a")
    assert len(first) == 10 and ghosts(x, y, "fingerprint-a") is first  # cached, not recomputed
    for c, png in enumerate(first):
        assert np.array_equal(decode(png), np.asarray(ghost_image(x[c])))
    assert len({bytes(p) for p in first}) == 10  # class-specific
    shifted = ghosts(x[::-1], y, "fingerprint-b")  # another dataset: its own ghosts
    assert np.array_equal(decode(shifted[0]), np.asarray(ghost_image(x[9])))


@pytest.mark.skipif(not HAVE_REAL_DATA, reason=f"the official Fashion-MNIST files are not in {REAL_DATA}")
def test_real_ghosts_show_each_class_shape():
    ds = load_fashion_mnist(REAL_DATA, download=False)
    lit = {
        name: np.asarray(ghost_image(mean)).max(axis=2) > 0.5 * max(GHOST_COLOR)
        for name, mean in zip(CLASS_NAMES, class_means(ds.x_train, ds.y_train))
    }
    middle_row = GHOST_CANVAS // 2
    assert lit["Trouser"][middle_row].sum() < 0.7 * lit["T-shirt/top"][middle_row].sum()  # narrow legs, wide body
    shoe_rows = np.flatnonzero(lit["Sneaker"].any(axis=1))
    assert shoe_rows.min() > GHOST_CANVAS // 4  # a sneaker is low and flat: nothing in the top quarter
    assert np.flatnonzero(lit["Dress"].any(axis=1)).min() < MARGIN + 10  # a dress fills the height


def test_fill_advice_reads_the_models_training_settings():
    from model.nn.network import MLP
    from ui.predict_view import fill_advice

    net = MLP([784, 4, 10], ["relu"])
    assert fill_advice(net, False) is None and fill_advice(None, True) is None  # settings unknown: no advice
    net.meta["config"] = {"drawings": 0.0}
    assert "trained without drawings" in fill_advice(net, False)
    assert fill_advice(net, True) is None  # already the better choice
    net.meta["config"] = {"drawings": 0.3}
    assert "lowers its accuracy" in fill_advice(net, True)
    assert fill_advice(net, False) is None
    net.meta["config"] = {"drawings": "a lot"}
    assert fill_advice(net, True) is None
