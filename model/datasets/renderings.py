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

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
# A drawing is made on its own box, this many black px all round, instead of on the whole canvas:
# canvas_to_model_input reads the background from a 2 px frame and crops to the ink, so the box
# gives it the very same input as the canvas (and 3-5x fewer pixels to go through).
BORDER = 2
CACHE_VERSION = 1  # bump when a rendering changes, so old cached pools are not reused
ENV_CACHE = "FASHION_CACHE_DIR"
PROGRESS_EVERY = 1000  # images between two progress reports of drawing_pool


@dataclass(frozen=True)
class Placement:
    """Where the garment's bounding box lands on the canvas, in canvas px."""

    top: int
    left: int
    height: int
    width: int


Box = tuple[int, int, int, int]  # rows [r0, r1), columns [c0, c1) of a (28, 28) image


def _as_image(image: np.ndarray) -> np.ndarray:
    """One image (784,) or (28, 28), any numeric dtype 0-255 -> (28, 28) float32."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.size != N_PIXELS:
        raise ValueError(f"expected a 28x28 image (784 pixels), got shape {arr.shape}")
    return arr.reshape(IMAGE_SIDE, IMAGE_SIDE)


def _as_batch(images: np.ndarray) -> np.ndarray:
    """(n, 784) or (n, 28, 28) images -> (n, 784) view; ValueError for other shapes."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise ValueError(f"expected images of shape (n, 784) or (n, 28, 28), got {x.shape}")
    return x


def _clean(mask: np.ndarray) -> np.ndarray:
    """Drop specks (parts smaller than SPECK of the largest) from a boolean mask."""
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= SPECK * sizes.max()
    keep[0] = False
    return keep[labels]  # a look-up table: np.isin sorts, this does not


def garment_mask(image: np.ndarray) -> np.ndarray:
    """(784,) or (28, 28) image -> (28, 28) bool: pixels above INK, specks dropped."""
    return _clean(_as_image(image) > INK)


def _garment_box(img: np.ndarray) -> Box:
    """The bounding box of a (28, 28) float image's garment mask (the whole image if blank)."""
    mask = _clean(img > INK)
    if not mask.any():
        return 0, IMAGE_SIDE, 0, IMAGE_SIDE
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _fill_small_holes(mask: np.ndarray, limit: float = SMALL_HOLE) -> np.ndarray:
    """Fill the holes of a bool mask whose area is below ``limit`` of the filled shape."""
    # The holes are the background's 4-connected parts that do not touch the frame, exactly
    # what ndi.binary_fill_holes fills; one labelling finds them and their sizes at once.
    labels, n = ndi.label(~mask)
    if n == 0:
        return mask
    hole = np.ones(n + 1, dtype=bool)
    hole[0] = False  # the shape itself
    for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        hole[side] = False
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    hole_area = int(sizes[hole].sum())
    if hole_area == 0:
        return mask
    filled_area = int(np.count_nonzero(mask)) + hole_area
    small = hole & (sizes < limit * filled_area)
    return mask | small[labels]


def _place(box: Box, rng: np.random.Generator, brush: float) -> Placement:
    """``place`` for a garment box already found."""
    h, w = box[1] - box[0], box[3] - box[2]
    pad = int(np.ceil(brush / 2))
    room = CANVAS - 2 * MARGIN - 2 * pad
    long_side = min(rng.uniform(MIN_LONG_SIDE, MAX_LONG_SIDE), room)
    scale = long_side / max(h, w)
    height, width = max(1, round(h * scale)), max(1, round(w * scale))
    lo = MARGIN + pad
    top = int(rng.integers(lo, CANVAS - lo - height + 1))
    left = int(rng.integers(lo, CANVAS - lo - width + 1))
    return Placement(top, left, height, width)


def place(image: np.ndarray, seed: int | np.random.Generator = 0, brush: float = 0.0) -> Placement:
    """Random size and position of the garment's bounding box on the canvas.

    The longest side is 180-240 px, shrunk if needed so that a stroke of ``brush`` px
    around the box still keeps MARGIN px from every edge; the position is uniform over
    the places that keep that margin.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _place(_garment_box(_as_image(image)), rng, brush)


def _upscale(img: np.ndarray, box: Box, where: Placement) -> np.ndarray:
    """The ``box`` of a (28, 28) float image resized to where's size: (height, width) float32 0-255."""
    crop = np.ascontiguousarray(img[box[0] : box[1], box[2] : box[3]])
    big = Image.fromarray(crop, mode="F").resize((where.width, where.height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(big), 0.0, 255.0)


def _shape(img: np.ndarray, box: Box, where: Placement) -> np.ndarray:
    """(height, width) bool: the garment's shape at where's size, specks dropped, small holes filled."""
    return _fill_small_holes(_clean(_upscale(img, box, where) > INK))


def silhouette_mask(image: np.ndarray, where: Placement) -> np.ndarray:
    """(280, 280) bool: the garment's shape at ``where``, specks dropped, small holes filled."""
    img = _as_image(image)
    out = np.zeros((CANVAS, CANVAS), dtype=bool)
    out[where.top : where.top + where.height, where.left : where.left + where.width] = _shape(
        img, _garment_box(img), where
    )
    return out


def _edge(shape: np.ndarray) -> np.ndarray:
    """Pixels of a bool shape with a 4-neighbour outside it (or off the array): its contour."""
    p = np.pad(shape, 1)  # False all round, as binary_erosion's border_value=0
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return shape & ~inner


def stroke_contour(shape: np.ndarray, brush: float) -> np.ndarray:
    """(H, W) bool shape -> (H, W) float32 0-1 ink of its contour drawn with a round brush.

    The brush's centre runs along the shape's edge pixels (outer contour and open holes),
    so the line is ``brush`` px wide, half inside and half outside; edges are anti-aliased.
    Ink reaches at most ceil(brush / 2) px beyond the shape.
    """
    if not shape.any():
        return np.zeros(shape.shape, dtype=np.float32)
    dist = ndi.distance_transform_edt(~_edge(shape))
    return np.clip(brush / 2.0 + 0.5 - dist, 0.0, 1.0).astype(np.float32)


def _grey(ink: np.ndarray) -> np.ndarray:
    """Ink 0-1 -> grey levels uint8 0-255."""
    return np.rint(np.clip(ink, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_rgba(ink: np.ndarray) -> np.ndarray:
    """(280, 280) ink 0-1 (or grey 0-255 if ``ink`` is uint8) -> (280, 280, 4) uint8 canvas.

    White on an opaque black background, as the Predict page's canvas is set up.
    """
    grey = ink if ink.dtype == np.uint8 else _grey(ink)
    out = np.empty((*grey.shape, 4), dtype=np.uint8)
    out[..., :3] = grey[..., None]
    out[..., 3] = 255
    return out


def _check(kind: str, brush: float | None = None) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if brush is not None and not brush > 0:
        raise ValueError(f"brush must be a positive width in px, got {brush!r}")


def _draw(img: np.ndarray, box: Box, kind: str, rng: np.random.Generator, brush: float) -> tuple[np.ndarray, int, int]:
    """One drawing on its own part of the canvas: (grey (h, w) uint8, top, left) in canvas px.

    Every inked pixel of the canvas ``render`` makes is inside, at least BORDER px from the
    part's edge; everything outside is black. ``img`` is (28, 28) float32, ``box`` its garment box.
    """
    where = _place(box, rng, brush if kind == "outline" else 0.0)
    if kind == "original":
        grey = np.rint(_upscale(img, box, where)).astype(np.uint8)
        return np.pad(grey, BORDER), where.top - BORDER, where.left - BORDER
    shape = _shape(img, box, where)
    if kind == "silhouette":
        grey = shape.view(np.uint8) * np.uint8(255)
        return np.pad(grey, BORDER), where.top - BORDER, where.left - BORDER
    # place() kept MARGIN >= BORDER px beyond the stroke's reach, so the part stays on the canvas.
    pad = int(np.ceil(brush / 2)) + BORDER
    return _grey(stroke_contour(np.pad(shape, pad), brush)), where.top - pad, where.left - pad


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
    _check(kind, brush)
    img = _as_image(image)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    grey, top, left = _draw(img, _garment_box(img), kind, rng, brush)
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    canvas[top : top + grey.shape[0], left : left + grey.shape[1]] = grey
    return to_rgba(canvas)


def _inputs(
    x: np.ndarray,
    kind_list: list[str],
    seed: int,
    brush_list: list[float],
    boxes: list[Box] | None = None,
    step: Callable[[], None] | None = None,
) -> np.ndarray:
    """render_inputs on checked arguments; ``boxes`` the images' garment boxes if known, ``step`` after each image."""
    out = np.empty((len(x), N_PIXELS), dtype=np.uint8)
    for i, image in enumerate(x):
        rng = np.random.default_rng([seed, i])
        kind = kind_list[int(rng.integers(len(kind_list)))] if len(kind_list) > 1 else kind_list[0]
        brush = brush_list[int(rng.integers(len(brush_list)))] if len(brush_list) > 1 else brush_list[0]
        _check(kind, brush)
        img = _as_image(image)
        grey, _, _ = _draw(img, boxes[i] if boxes is not None else _garment_box(img), kind, rng, brush)
        # The drawing's part of the canvas, black-framed, reads as the whole canvas would.
        out[i] = canvas_to_model_input(to_rgba(grey)).ravel()
        if step is not None:
            step()
    return out


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
    x = _as_batch(images)
    kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
    brush_list = [brushes] if np.isscalar(brushes) else list(brushes)
    for k in kind_list:
        _check(k)
    if not kind_list or not brush_list:
        raise ValueError("give at least one kind and one brush width")
    return _inputs(x, kind_list, seed, brush_list)


# ---------------------------------------------------------------------- pool of drawings for training


def default_cache_dir() -> Path:
    """Where drawing pools are cached: $FASHION_CACHE_DIR if set, else ~/.cache/fashion-live/drawings."""
    chosen = os.environ.get(ENV_CACHE)
    if chosen:
        return Path(chosen).expanduser()
    return Path.home() / ".cache" / "fashion-live" / "drawings"


def pool_path(images: np.ndarray, seed: int, cache_dir: str | Path) -> Path:
    """The cache file of ``drawing_pool(images, seed)`` in ``cache_dir``, named by the images' md5."""
    x = np.ascontiguousarray(_as_batch(images))
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(x.tobytes())
    digest.update(f"{x.shape}{x.dtype.str}".encode())  # same bytes as another dtype: other images
    return Path(cache_dir) / f"drawings-{digest.hexdigest()}-{seed}-v{CACHE_VERSION}.npy"


_unwritable: set[str] = set()  # cache folders already warned about, so a UI rerun does not warn again


def _load_pool(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """A cached pool of the expected shape, or None (with a warning if the file is unusable)."""
    if not path.is_file():
        return None
    try:
        pool = np.load(path, allow_pickle=False)
    except Exception as exc:  # truncated, not .npy, pickled, unreadable: all just mean "recompute"
        warnings.warn(f"Ignoring the unreadable cached drawings {path} ({exc}); rendering them again.", stacklevel=3)
        return None
    if not isinstance(pool, np.ndarray) or pool.shape != shape or pool.dtype != np.uint8:
        got = f"{pool.dtype} {pool.shape}" if isinstance(pool, np.ndarray) else type(pool).__name__
        warnings.warn(
            f"Ignoring the cached drawings {path}: {got}, expected uint8 {shape}; rendering them again.", stacklevel=3
        )
        return None
    return pool


def _save_pool(path: Path, pool: np.ndarray) -> None:
    """Write atomically (a temporary file in the same folder, then os.replace); warn if impossible."""
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem + "-", suffix=".tmp", delete=False) as f:
            tmp = Path(f.name)
            np.save(f, pool, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(
            f"Could not cache the drawings in {path.parent} ({exc}); they will be rendered again next time.",
            stacklevel=3,
        )
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def drawing_pool(
    images: np.ndarray,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Every image (n, 784) or (n, 28, 28) drawn twice -> (2, n, 784) uint8 model inputs.

    [0] silhouettes, as ``render_inputs(images, "silhouette", seed)``; [1] outlines with a brush
    drawn per image from the canvas slider's 6-40 px, as ``render_inputs(images, "outline",
    seed + 1, range(6, 41))``. With ``cache_dir`` the pool is kept there as a .npy file named by
    the images' md5 and the seed, and later calls load it. ``progress(done, total)`` is called
    every PROGRESS_EVERY drawings and at the end, with total = 2n (also on a cache hit).
    """
    x = _as_batch(images)
    n = len(x)
    total = 2 * n
    shape = (2, n, N_PIXELS)
    path = None
    if cache_dir is not None:
        folder = Path(cache_dir).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = pool_path(x, seed, folder)
        except OSError as exc:
            if str(folder) not in _unwritable:
                _unwritable.add(str(folder))
                warnings.warn(
                    f"Cannot create the cache folder {folder} ({exc}); drawings are not cached.", stacklevel=2
                )
        if path is not None:
            pool = _load_pool(path, shape)
            if pool is not None:
                if progress is not None:
                    progress(total, total)
                return pool

    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)

    boxes = [_garment_box(_as_image(image)) for image in x]  # shared by both kinds
    pool = np.empty(shape, dtype=np.uint8)
    pool[0] = _inputs(x, ["silhouette"], seed, [DEFAULT_BRUSH], boxes, step)
    pool[1] = _inputs(x, ["outline"], seed + 1, list(range(BRUSH_RANGE[0], BRUSH_RANGE[1] + 1)), boxes, step)
    if progress is not None and total == 0:
        progress(0, 0)
    if path is not None:
        _save_pool(path, pool)
    return pool
