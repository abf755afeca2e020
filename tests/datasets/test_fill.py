"""Filling closed outlines on the drawing canvas (model/datasets/images.py: fill_outline, canvas_to_model_input)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from model.datasets.images import FILL_LEVEL, canvas_to_model_input, fill_outline, is_blank
from model.errors import ImageError

WHITE = (255, 255, 255, 255)
BOX = (60, 50, 220, 230)  # the ring's bounding box on the 280x280 canvas


def canvas(draw, background_alpha: int = 255) -> np.ndarray:
    """A 280x280 RGBA canvas, black (or transparent) with white strokes, as the Predict page sends it."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, background_alpha))
    draw(ImageDraw.Draw(img))
    return np.asarray(img).copy()


def ring(width: int = 22, background_alpha: int = 255) -> np.ndarray:
    return canvas(lambda d: d.ellipse(BOX, outline=WHITE, width=width), background_alpha)


def disc(background_alpha: int = 255) -> np.ndarray:
    return canvas(lambda d: d.ellipse(BOX, fill=WHITE), background_alpha)


def arc(width: int = 22, background_alpha: int = 255) -> np.ndarray:
    """The ring with a 60-degree gap: an outline that is not closed."""
    return canvas(lambda d: d.arc(BOX, 200, 460, fill=WHITE, width=width), background_alpha)


def digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("background_alpha", [255, 0])  # black, or transparent as with a ghost behind the canvas
def test_a_drawn_ring_becomes_a_filled_disc(background_alpha):
    plain = canvas_to_model_input(ring(background_alpha=background_alpha))
    filled = canvas_to_model_input(ring(background_alpha=background_alpha), fill=True)
    assert plain[14, 14] == 0 and filled[14, 14] > 200  # the middle: empty as drawn, white once filled
    solid = canvas_to_model_input(disc(background_alpha))
    assert np.abs(filled.astype(int) - solid.astype(int)).max() <= 8  # the silhouette the ring encloses
    assert filled.sum() > 1.5 * plain.sum()


@pytest.mark.parametrize("width", [6, 22, 40])
def test_an_open_arc_stays_an_outline(width):
    drawing = arc(width)
    assert np.array_equal(fill_outline(drawing), drawing)
    assert np.array_equal(canvas_to_model_input(drawing, fill=True), canvas_to_model_input(drawing))


def test_an_outline_running_off_the_canvas_is_not_closed():
    drawing = canvas(lambda d: d.ellipse((-40, 50, 200, 230), outline=WHITE, width=22))
    assert np.array_equal(fill_outline(drawing), drawing)


def test_without_fill_the_input_is_what_it_was_before_fill_existed():
    # Digests of canvas_to_model_input's outputs before `fill` was added to it.
    assert digest(canvas_to_model_input(ring())) == "d9b7b28a88be41a1"
    assert digest(canvas_to_model_input(ring(background_alpha=0), fill=False)) == "d9b7b28a88be41a1"
    assert digest(canvas_to_model_input(arc(11))) == "557fea06186f96cc"
    assert digest(canvas_to_model_input(arc(40, background_alpha=0))) == "5ee56854f5ccda2f"


def test_blank_stays_blank():
    for blank in (np.zeros((280, 280, 4), np.uint8), canvas(lambda d: None)):
        assert np.array_equal(fill_outline(blank), blank)
        assert is_blank(canvas_to_model_input(blank, fill=True))
    assert is_blank(canvas_to_model_input(None, fill=True))  # type: ignore[arg-type]


def test_fill_outline_paints_only_the_inside_white_and_keeps_shape_and_dtype():
    drawing = ring()
    drawing[140, 60:62] = (100, 100, 100, 255)  # a dim pixel in the stroke band: below FILL_LEVEL...
    out = fill_outline(drawing)
    assert out.shape == drawing.shape and out.dtype == drawing.dtype
    lum = drawing[..., :3].mean(axis=2)
    inside = (out != drawing).any(axis=2)
    assert (out[inside] == 255).all() and inside[140, 140] and not inside[5, 5]
    assert not inside[lum > FILL_LEVEL].any()  # strokes keep their value
    assert (out[140, 60:62] == drawing[140, 60:62]).all()  # ...but on the outer side, so not enclosed
    # The same for RGB, grey and 0-1 float canvases.
    rgb, grey = drawing[..., :3], drawing[..., 0]
    assert np.array_equal(fill_outline(rgb), out[..., :3])
    assert np.array_equal(fill_outline(grey), out[..., 0])
    unit = drawing.astype(np.float32) / 255.0
    assert np.array_equal(fill_outline(unit), out.astype(np.float32) / 255.0)


def test_filling_inside_canvas_to_model_input_is_filling_the_pixels_first():
    for drawing in (ring(11), ring(40, background_alpha=0), arc()):
        assert np.array_equal(canvas_to_model_input(drawing, fill=True), canvas_to_model_input(fill_outline(drawing)))


def test_a_filled_drawing_with_a_hole_in_a_hole_is_filled_whole():
    """A bag drawn with its handle: the handle's hole is closed in too, so it is filled (as the caption says)."""

    def bag(d):
        d.rectangle((60, 110, 220, 240), outline=WHITE, width=16)
        d.arc((90, 40, 190, 180), 180, 360, fill=WHITE, width=16)  # ends on the body's top

    plain, out = canvas_to_model_input(canvas(bag)), canvas_to_model_input(canvas(bag), fill=True)
    assert plain[20, 14] == 0 and plain[5, 14] == 0
    assert out[20, 14] > 200 and out[5, 14] > 200  # the body and the handle's hole


@pytest.mark.parametrize("bad", [np.zeros((28, 28, 2)), np.zeros((3,)), "abc"])
def test_bad_pixels_are_an_image_error_with_fill_too(bad):
    with pytest.raises(ImageError):
        fill_outline(bad)
    with pytest.raises(ImageError):
        canvas_to_model_input(bad, fill=True)
