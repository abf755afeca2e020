"""Tests for model/datasets/renderings.py: dataset images redrawn as canvas drawings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from model.datasets.images import canvas_to_model_input
from model.datasets.renderings import (
    CANVAS,
    INK,
    MARGIN,
    MAX_LONG_SIDE,
    MIN_LONG_SIDE,
    garment_mask,
    place,
    render,
    render_inputs,
    silhouette_mask,
)


def tshirt() -> np.ndarray:
    """(784,) uint8: a T-shirt (sleeves on top) with a dim patterned body and one stray speck."""
    img = np.zeros((28, 28), dtype=np.uint8)
    img[2:8, 1:27] = 200  # shoulders and sleeves
    img[8:27, 6:22] = 150  # body
    img[12:20, 10:18] = 20  # a dim print inside, still garment (above INK)
    img[14:16, 13:15] = 0  # a tiny hole in the print: filled in the silhouette
    img[0, 27] = 5  # a speck below INK
    return img.ravel()


def bag() -> np.ndarray:
    """(784,) uint8: a bag whose handle encloses a large hole, which a silhouette keeps."""
    img = np.zeros((28, 28), dtype=np.uint8)
    img[2:12, 7:21] = 180  # handle loop
    img[4:12, 10:18] = 0  # the opening of the handle (8x8: 64 px, about 14% of the shape)
    img[12:26, 2:26] = 160  # body
    return img.ravel()


def white(canvas: np.ndarray) -> np.ndarray:
    """Ink of a canvas as a bool mask (at least half white)."""
    return canvas[..., 0] >= 128


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


@pytest.mark.parametrize("kind", ["original", "silhouette", "outline"])
def test_render_is_an_opaque_canvas_white_on_black(kind):
    canvas = render(tshirt(), kind, seed=3)
    assert canvas.shape == (CANVAS, CANVAS, 4) and canvas.dtype == np.uint8
    assert np.all(canvas[..., 3] == 255)
    assert np.array_equal(canvas[..., 0], canvas[..., 1]) and np.array_equal(canvas[..., 0], canvas[..., 2])
    assert canvas[0, 0, 0] == 0
    assert canvas[..., 0].max() == (200 if kind == "original" else 255)  # grey levels kept / flat white
    x28 = canvas_to_model_input(canvas)
    assert x28.shape == (28, 28) and x28.max() == 255  # the app reads it as a drawing


@pytest.mark.parametrize("kind", ["original", "silhouette", "outline"])
def test_same_seed_same_drawing_other_seed_other_placement(kind):
    a, b = render(tshirt(), kind, seed=7), render(tshirt(), kind, seed=7)
    assert np.array_equal(a, b)
    others = [render(tshirt(), kind, seed=s) for s in range(1, 6)]
    assert any(not np.array_equal(a, o) for o in others)
    assert len({bbox(white(o)) for o in others}) > 1


@pytest.mark.parametrize("seed", range(8))
def test_silhouette_covers_the_garment_and_is_flat_white(seed):
    original, sil = render(tshirt(), "original", seed), render(tshirt(), "silhouette", seed)
    garment = original[..., 0] > INK  # the upscaled garment, dim print included
    assert garment.sum() > 10_000
    covered = sil[..., 0][garment]
    assert np.all(covered == 255)
    # Flat: only black and white, and nothing outside the garment's box.
    assert set(np.unique(sil[..., 0])) == {0, 255}
    top, bottom, left, right = bbox(garment)
    outside = np.ones((CANVAS, CANVAS), dtype=bool)
    outside[top : bottom + 1, left : right + 1] = False
    assert not sil[..., 0][outside].any()


def test_silhouette_fills_small_holes_and_keeps_a_handle_open():
    assert not garment_mask(tshirt())[14, 13]  # the tiny hole is there in the image...
    sil = white(render(tshirt(), "silhouette", seed=0))
    assert ndi.binary_fill_holes(sil).sum() == sil.sum()  # ...and filled in the drawing
    bag_sil = white(render(bag(), "silhouette", seed=0))
    hole = ndi.binary_fill_holes(bag_sil) & ~bag_sil
    assert hole.sum() > 0.08 * bag_sil.sum()  # the handle's opening stays open


@pytest.mark.parametrize("brush", [6, 11, 22, 40])
def test_outline_is_a_thin_line_on_the_silhouettes_edge(brush):
    seed = 5
    outline = render(tshirt(), "outline", seed, brush)
    ink = outline[..., 0] > 0
    # The same placement with the same brush: the silhouette it outlines.
    where = place(tshirt(), np.random.default_rng(seed), brush)
    shape = silhouette_mask(tshirt(), where)
    edge = shape & ~ndi.binary_erosion(shape)
    dist_to_edge = ndi.distance_transform_edt(~edge)
    assert dist_to_edge[ink].max() <= brush / 2 + 1  # every stroke pixel lies on the contour
    assert np.all(outline[..., 0][dist_to_edge <= brush / 2 - 1] == 255)  # the whole contour is drawn, solid
    interior = ndi.distance_transform_edt(shape) > brush / 2 + 2
    assert interior.any() and not ink[interior].any()  # the inside stays black
    # A line brush px wide along the contour: its ink is about contour length x brush.
    ink_area = outline[..., 0].sum() / 255.0
    assert 0.85 * edge.sum() * brush <= ink_area <= 1.1 * edge.sum() * brush


@pytest.mark.parametrize("kind,brush", [("original", 22), ("silhouette", 22), ("outline", 22), ("outline", 40)])
def test_size_and_margin(kind, brush):
    for seed in range(12):
        img = tshirt() if seed % 2 else bag()
        ink = render(img, kind, seed, brush)[..., 0] > 0
        top, bottom, left, right = bbox(ink)
        assert min(top, left) >= MARGIN and max(bottom, right) <= CANVAS - 1 - MARGIN
        longest = max(bottom - top + 1, right - left + 1)
        if kind == "outline":  # the line reaches brush/2 beyond the shape's box
            longest -= 2 * int(np.ceil(brush / 2))
            upper = min(MAX_LONG_SIDE, CANVAS - 2 * MARGIN - 2 * int(np.ceil(brush / 2)))
        else:
            upper = MAX_LONG_SIDE
        assert min(MIN_LONG_SIDE, upper) - 3 <= longest <= upper + 2


def test_render_inputs_matches_the_canvas_path_and_ignores_batching():
    x = np.stack([tshirt(), bag(), tshirt(), bag()])
    out = render_inputs(x, ["silhouette", "outline"], seed=4, brushes=[11, 22])
    assert out.shape == (4, 784) and out.dtype == np.uint8
    assert np.array_equal(render_inputs(x[:2], ["silhouette", "outline"], 4, [11, 22]), out[:2])
    assert np.array_equal(render_inputs(x.reshape(4, 28, 28), ["silhouette", "outline"], 4, [11, 22]), out)
    one = render_inputs(x[:1], "outline", seed=9, brushes=22)[0]
    rng = np.random.default_rng([9, 0])
    assert np.array_equal(one, canvas_to_model_input(render(x[0], "outline", rng, 22)).ravel())
    assert not np.array_equal(render_inputs(x, "outline", 4), render_inputs(x, "silhouette", 4))


def test_blank_image_gives_a_blank_canvas():
    for kind in ("original", "silhouette", "outline"):
        canvas = render(np.zeros(784, np.uint8), kind)
        assert not canvas[..., 0].any()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: render(tshirt(), "sketch"), "kind must be one of"),
        (lambda: render(np.zeros(100), "outline"), "28x28"),
        (lambda: render(tshirt(), "outline", brush=0), "brush"),
        (lambda: render_inputs(np.zeros((3, 100)), "outline"), "784"),
        (lambda: render_inputs(np.zeros((3, 784)), ["outline", "doodle"]), "kind must be one of"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
