"""Tests for model/datasets/segment.py: garments separated from gradients, shadows and texture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from model.datasets.images import to_model_input
from model.datasets.segment import Segmentation, segment

SIDE = 240
NAVY = (30, 40, 90)


def shirt_mask(side: int = SIDE, dx: int = 0, dy: int = 0) -> np.ndarray:
    """(side, side) bool: a T-shirt (sleeves on top), about 60% of the side tall."""
    img = Image.new("L", (side, side), 0)
    s = side / 240
    pts = [(70, 50), (100, 40), (140, 40), (170, 50), (200, 90), (175, 105), (160, 90), (160, 195), (80, 195)]
    pts += [(80, 90), (65, 105), (40, 90)]
    ImageDraw.Draw(img).polygon([(x * s + dx, y * s + dy) for x, y in pts], fill=255)
    return np.asarray(img) > 127


def photo(bg: np.ndarray, mask: np.ndarray, colour=NAVY, shade: bool = True) -> np.ndarray:
    """(H, W, 3) uint8: a garment of ``colour`` (with soft folds) composited on ``bg``."""
    h, w = mask.shape
    yy = np.mgrid[0:h, 0:w][0]
    folds = 1.0 + (0.15 * np.sin(yy / 9.0) if shade else 0.0)
    garment = np.clip(np.array(colour, np.float32) * folds[..., None], 0, 255)
    out = np.where(mask[..., None], garment, bg)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def plain_bg(colour=(245, 243, 240)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.float32), (SIDE, SIDE, 3)).copy()


def gradient_bg() -> np.ndarray:
    t = np.linspace(0, 1, SIDE, dtype=np.float32)[None, :, None]
    return np.array([235, 220, 195], np.float32) * (1 - t) + np.array([175, 158, 128], np.float32) * t + 0 * t


def shadowed(bg: np.ndarray, mask: np.ndarray, depth: float = 0.4) -> np.ndarray:
    shade = ndi.gaussian_filter(ndi.shift(mask.astype(np.float32), (12, 12), order=0), 9)
    return bg * (1 - depth * shade)[..., None]


def textured_bg(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0:SIDE, 0:SIDE][0].astype(np.float32)
    grain = 12 * np.sin(2 * np.pi * yy / 8.0) + ndi.gaussian_filter(rng.normal(0, 14, (SIDE, SIDE)), 0.7)
    return np.array([215, 190, 150], np.float32) + grain[..., None]


def fits(found: np.ndarray, truth: np.ndarray, missed: float = 0.01, stray: float = 0.005) -> bool:
    """The mask covers the garment (but ``missed`` of it); beyond its 4 px rim there is at most
    ``stray`` of the garment's area (a shadow's last corner), and nothing beyond 8 px."""
    lost = (truth & ~found).sum() / truth.sum()
    dist = ndi.distance_transform_edt(~truth)
    beyond = (found & (dist > 4)).sum() / truth.sum()
    return lost <= missed and beyond <= stray and not (found & (dist > 8)).any()


def at_work_size(mask: np.ndarray, seg: Segmentation) -> np.ndarray:
    h, w = seg.mask.shape
    return np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))


def test_plain_background_is_called_plain_and_the_garment_found():
    mask = shirt_mask()
    seg = segment(photo(plain_bg(), mask))
    assert seg.plain
    assert seg.mask.shape == seg.gray.shape and seg.gray.dtype == np.float32
    assert fits(seg.mask, at_work_size(mask, seg))
    assert not seg.gray[~seg.mask].any()
    assert np.allclose(seg.background, (245, 243, 240), atol=1)


@pytest.mark.parametrize(
    "name,make_bg",
    [
        ("gradient", lambda m: gradient_bg()),
        ("shadow", lambda m: shadowed(plain_bg(), m)),
        ("gradient and shadow", lambda m: shadowed(gradient_bg(), m)),
        ("texture", lambda m: textured_bg()),
    ],
)
def test_busy_background_is_removed_and_the_garment_kept(name, make_bg):
    mask = shirt_mask()
    seg = segment(photo(make_bg(mask), mask))
    assert not seg.plain, name
    truth = at_work_size(mask, seg)
    assert fits(seg.mask, truth), name
    # Outside the garment (beyond its anti-aliased rim) nothing is left: no haze for the recipe.
    far = ndi.distance_transform_edt(~truth) > 8
    assert not seg.gray[far].any(), name
    # The garment is light on black with its contrast kept (navy on a light ground: strong).
    assert np.median(seg.gray[truth & seg.mask]) > 100, name


def test_segmented_busy_photo_reads_like_the_plain_one():
    """Through the recipe, a garment on gradient + shadow gives nearly the plain photo's input."""
    mask = shirt_mask()
    plain_input = to_model_input(Image.fromarray(photo(plain_bg(), mask)))
    busy = segment(photo(shadowed(gradient_bg(), mask), mask))
    busy_input = to_model_input(Image.fromarray(np.rint(busy.gray).astype(np.uint8)))
    raw_busy_input = to_model_input(Image.fromarray(photo(shadowed(gradient_bg(), mask), mask)), False)
    err = np.abs(busy_input.astype(int) - plain_input).mean()
    raw_err = np.abs(raw_busy_input.astype(int) - plain_input).mean()
    assert err < 12 and err < raw_err / 3


def test_upload_path_segments_busy_photos_and_leaves_plain_ones_alone():
    """to_model_input (what Predict and the CLI use) cuts the garment from a busy background itself."""
    mask = shirt_mask()
    busy = Image.fromarray(photo(shadowed(gradient_bg(), mask), mask))
    cut = segment(np.asarray(busy))
    by_hand = to_model_input(Image.fromarray(np.rint(cut.gray).astype(np.uint8)))  # rounded: nearly the same
    assert np.abs(to_model_input(busy).astype(int) - by_hand).max() <= 2
    assert np.abs(to_model_input(busy).astype(int) - to_model_input(busy, segment_background=False)).mean() > 10
    plain = Image.fromarray(photo(plain_bg(), mask))
    assert np.array_equal(to_model_input(plain), to_model_input(plain, segment_background=False))
    # A cut-out with transparency is already segmented: its alpha decides, not segment().
    rgba = busy.convert("RGBA")
    rgba.putalpha(Image.fromarray((mask * 255).astype(np.uint8)))
    assert np.array_equal(to_model_input(rgba), to_model_input(rgba, segment_background=False))


def test_garment_touching_the_edge_and_off_centre():
    mask = shirt_mask(dx=60, dy=45)  # the right sleeve and hem run off the photo
    seg = segment(photo(gradient_bg(), mask))
    assert fits(seg.mask, at_work_size(mask, seg))


def test_light_garment_on_dark_background_stays_light_on_black():
    mask = shirt_mask()
    seg = segment(
        photo(plain_bg((30, 30, 35)) + ndi.gaussian_filter(np.zeros((SIDE, SIDE, 3)), 1), mask, (235, 230, 220))
    )
    truth = at_work_size(mask, seg)
    assert np.median(seg.gray[truth]) > 150 and not seg.gray[ndi.distance_transform_edt(~truth) > 4].any()


def test_big_photos_are_analysed_small_and_rgba_is_flattened():
    mask = shirt_mask(side=960)
    big = photo(np.broadcast_to(np.array([240, 240, 240], np.float32), (960, 960, 3)), mask)
    seg = segment(big)
    assert max(seg.mask.shape) <= 256 and seg.plain
    rgba = np.dstack([big, np.full(big.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0  # a transparent corner counts as white background
    assert np.array_equal(segment(rgba).mask, seg.mask)


def test_close_crops_and_small_images_keep_the_recipe():
    """A garment running off the photo's edges, or a dataset-sized image, is not segmented."""
    big = shirt_mask(side=480, dy=150)[-SIDE:, 120:360]  # the shirt's lower part fills the frame's bottom
    assert segment(photo(gradient_bg(), big)).plain
    small = np.asarray(Image.fromarray(photo(gradient_bg(), shirt_mask())).resize((56, 56)))
    assert segment(small).plain
    assert not segment(photo(gradient_bg(), shirt_mask())).plain


def test_grey_and_tiny_inputs():
    grey = photo(plain_bg(), shirt_mask())[..., 0]
    assert segment(grey).mask.shape == (SIDE, SIDE)
    tiny = segment(np.zeros((3, 5, 3), np.uint8))
    assert tiny.plain and tiny.mask.shape == (3, 5)


@pytest.mark.parametrize("shape", [(10,), (10, 10, 2), (10, 10, 5), (0, 10, 3)])
def test_bad_shapes_are_refused_with_a_message(shape):
    with pytest.raises(ValueError, match="RGB"):
        segment(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("colour", [(205, 205, 210), (225, 222, 215), (150, 150, 155)])
def test_pale_garment_on_plain_background_keeps_todays_path(colour):
    """A pale garment's folds look like a shadow; on a plain background it must stay 'plain'."""
    mask = shirt_mask()
    seg = segment(photo(plain_bg(), mask, colour))
    assert seg.plain
