"""Fashion-MNIST images redrawn the way people draw on the Predict page's canvas.

The canvas is 280x280, white strokes on black. A person draws one garment large, with some
margin, either filled in (a silhouette) or, more often, as an outline with the round brush
(the page's slider offers 6-40 px, 22 px by default). ``render`` makes such a canvas from a
dataset image (n = 784 pixels, uint8, light garment on black) so it can go through the app's
own ``canvas_to_model_input``; ``render_inputs`` does it for many images and returns the
28x28 model inputs, for measuring a model on drawings and for training on them.

Kinds:
- ``original``: the image itself, upscaled (grey levels kept);
- ``silhouette``: the garment's shape filled flat white;
- ``outline``: only the contour of that shape, stroked with a round brush of ``brush`` px.

The garment's longest side is drawn 180-240 px long (less if a wide brush would not fit),
at a random place that keeps every stroke ``MARGIN`` px or more from the canvas edge. Every
choice comes from ``seed`` (and the image's index in a batch), so a rendering is repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from model.datasets.images import canvas_to_model_input
from model.datasets.spec import IMAGE_SIDE, N_PIXELS

CANVAS = 280  # the Predict page's canvas, px
KINDS = ("original", "silhouette", "outline")
DEFAULT_BRUSH = 22  # the canvas slider's default
BRUSH_RANGE = (6, 40)  # the canvas slider's range
MIN_LONG_SIDE, MAX_LONG_SIDE = 180, 240
MARGIN = 10  # px from the canvas edge to the nearest stroke pixel, at least
# A dataset pixel above this level (of 255) is part of the garment. Fashion-MNIST's background
# is 0 with faint specks of 1-8; white garments are dim (the photos were negated) but above 8.
INK = 10.0
# Specks: connected parts smaller than this share of the largest part are dropped.
SPECK = 0.02
# Holes smaller than this share of the filled shape are filled (threshold artefacts, stitching);
# larger ones (a bag's handle, a sandal's straps) stay open, as a person would draw them.
SMALL_HOLE = 0.02


@dataclass(frozen=True)
class Placement:
    """Where the garment's bounding box lands on the canvas, in canvas px."""

    top: int
    left: int
    height: int
    width: int


def _as_image(image: np.ndarray) -> np.ndarray:
    """One image (784,) or (28, 28), any numeric dtype 0-255 -> (28, 28) float32."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.size != N_PIXELS:
        raise ValueError(f"expected a 28x28 image (784 pixels), got shape {arr.shape}")
    return arr.reshape(IMAGE_SIDE, IMAGE_SIDE)


def _clean(mask: np.ndarray) -> np.ndarray:
    """Drop specks (parts smaller than SPECK of the largest) from a boolean mask."""
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= SPECK * sizes.max()) + 1
    return np.isin(labels, keep)


def garment_mask(image: np.ndarray) -> np.ndarray:
    """(784,) or (28, 28) image -> (28, 28) bool: pixels above INK, specks dropped."""
    return _clean(_as_image(image) > INK)


def _fill_small_holes(mask: np.ndarray, limit: float = SMALL_HOLE) -> np.ndarray:
    """Fill the holes of a bool mask whose area is below ``limit`` of the filled shape."""
    filled = ndi.binary_fill_holes(mask)
    holes = filled & ~mask
    if not holes.any():
        return mask
    labels, _ = ndi.label(holes)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < limit * filled.sum())
    small = small[small > 0]
    return mask | np.isin(labels, small)


def place(image: np.ndarray, seed: int | np.random.Generator = 0, brush: float = 0.0) -> Placement:
    """Random size and position of the garment's bounding box on the canvas.

    The longest side is 180-240 px, shrunk if needed so that a stroke of ``brush`` px
    around the box still keeps MARGIN px from every edge; the position is uniform over
    the places that keep that margin.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mask = garment_mask(image)
    if not mask.any():
        mask = np.ones((IMAGE_SIDE, IMAGE_SIDE), dtype=bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    pad = int(np.ceil(brush / 2))
    room = CANVAS - 2 * MARGIN - 2 * pad
    long_side = min(rng.uniform(MIN_LONG_SIDE, MAX_LONG_SIDE), room)
    scale = long_side / max(h, w)
    height, width = max(1, round(h * scale)), max(1, round(w * scale))
    lo = MARGIN + pad
    top = int(rng.integers(lo, CANVAS - lo - height + 1))
    left = int(rng.integers(lo, CANVAS - lo - width + 1))
    return Placement(top, left, height, width)


def _upscaled(image: np.ndarray, where: Placement) -> np.ndarray:
    """The garment's bounding box of a (28, 28) float image, resized to where's size."""
    mask = garment_mask(image)
    if not mask.any():
        mask = np.ones((IMAGE_SIDE, IMAGE_SIDE), dtype=bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = np.ascontiguousarray(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    big = Image.fromarray(crop, mode="F").resize((where.width, where.height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(big), 0.0, 255.0)


def silhouette_mask(image: np.ndarray, where: Placement) -> np.ndarray:
    """(280, 280) bool: the garment's shape at ``where``, specks dropped, small holes filled."""
    big = _upscaled(_as_image(image), where)
    shape = _fill_small_holes(_clean(big > INK))
    out = np.zeros((CANVAS, CANVAS), dtype=bool)
    out[where.top : where.top + where.height, where.left : where.left + where.width] = shape
    return out


def stroke_contour(shape: np.ndarray, brush: float) -> np.ndarray:
    """(H, W) bool shape -> (H, W) float32 0-1 ink of its contour drawn with a round brush.

    The brush's centre runs along the shape's edge pixels (outer contour and open holes),
    so the line is ``brush`` px wide, half inside and half outside; edges are anti-aliased.
    """
    if not shape.any():
        return np.zeros(shape.shape, dtype=np.float32)
    edge = shape & ~ndi.binary_erosion(shape, border_value=0)
    dist = ndi.distance_transform_edt(~edge)
    return np.clip(brush / 2.0 + 0.5 - dist, 0.0, 1.0).astype(np.float32)


def to_rgba(ink: np.ndarray) -> np.ndarray:
    """(280, 280) ink 0-1 (or grey 0-255 if ``ink`` is uint8) -> (280, 280, 4) uint8 canvas.

    White on an opaque black background, as the Predict page's canvas is set up.
    """
    grey = ink if ink.dtype == np.uint8 else np.rint(np.clip(ink, 0.0, 1.0) * 255.0).astype(np.uint8)
    out = np.empty((*grey.shape, 4), dtype=np.uint8)
    out[..., :3] = grey[..., None]
    out[..., 3] = 255
    return out


def render(
    image: np.ndarray,
    kind: str = "outline",
    seed: int | np.random.Generator = 0,
    brush: float = DEFAULT_BRUSH,
) -> np.ndarray:
    """One dataset image (784,) or (28, 28) uint8 -> canvas pixels (280, 280, 4) uint8.

    kind: ``original``, ``silhouette`` or ``outline`` (drawn with a ``brush`` px round brush).
    The same image, kind, seed and brush always give the same canvas.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not brush > 0:
        raise ValueError(f"brush must be a positive width in px, got {brush!r}")
    img = _as_image(image)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    where = place(img, rng, brush if kind == "outline" else 0.0)
    if kind == "original":
        grey = np.zeros((CANVAS, CANVAS), dtype=np.float32)
        grey[where.top : where.top + where.height, where.left : where.left + where.width] = _upscaled(img, where)
        return to_rgba(np.rint(grey).astype(np.uint8))
    shape = silhouette_mask(img, where)
    if kind == "silhouette":
        return to_rgba(shape.astype(np.float32))
    return to_rgba(stroke_contour(shape, brush))


def render_inputs(
    images: np.ndarray,
    kinds: str | Sequence[str] = "outline",
    seed: int = 0,
    brushes: float | Sequence[float] = DEFAULT_BRUSH,
) -> np.ndarray:
    """Many images (n, 784) uint8 -> their drawings as model inputs (n, 784) uint8.

    Each image is rendered on the canvas (kind and brush drawn at random from ``kinds`` and
    ``brushes`` when several are given) and read back through ``canvas_to_model_input``,
    exactly as the Predict page reads a drawing. Image i uses the random stream (seed, i),
    so a result does not depend on how a set is split into batches.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise ValueError(f"expected images of shape (n, 784) or (n, 28, 28), got {x.shape}")
    kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
    brush_list = [brushes] if np.isscalar(brushes) else list(brushes)
    for k in kind_list:
        if k not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {k!r}")
    if not kind_list or not brush_list:
        raise ValueError("give at least one kind and one brush width")
    out = np.empty((len(x), N_PIXELS), dtype=np.uint8)
    for i, img in enumerate(x):
        rng = np.random.default_rng([seed, i])
        kind = kind_list[int(rng.integers(len(kind_list)))] if len(kind_list) > 1 else kind_list[0]
        brush = brush_list[int(rng.integers(len(brush_list)))] if len(brush_list) > 1 else brush_list[0]
        out[i] = canvas_to_model_input(render(img, kind, rng, brush)).ravel()
    return out
