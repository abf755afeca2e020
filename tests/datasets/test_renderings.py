"""Tests for model/datasets/renderings.py: dataset images redrawn as canvas drawings."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from model.datasets import renderings
from model.datasets.images import canvas_to_model_input
from model.datasets.renderings import (
    CANVAS,
    INK,
    MARGIN,
    MAX_LONG_SIDE,
    MIN_LONG_SIDE,
    default_cache_dir,
    drawing_pool,
    garment_mask,
    place,
    pool_path,
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


# ---------------------------------------------------------------------- speed-ups change nothing


def synthetic_images() -> np.ndarray:
    """(14, 784) uint8: random blobs with grey levels and specks, a full frame, one pixel, a 1 px line, a blank."""
    rng = np.random.default_rng(2026)
    imgs = []
    for k in range(10):
        noise = ndi.gaussian_filter(rng.normal(size=(28, 28)), 2.0 + k % 3)
        shape = noise > np.quantile(noise, 0.35 + 0.04 * k)
        grey = rng.integers(11, 256, size=(28, 28))
        img = np.where(shape, grey, rng.integers(0, 9, size=(28, 28)))
        imgs.append(img.astype(np.uint8).ravel())
    full = np.full((28, 28), 90, np.uint8)
    dot = np.zeros((28, 28), np.uint8)
    dot[13, 20] = 255
    line = np.zeros((28, 28), np.uint8)
    line[3:25, 9] = 200
    return np.stack([*imgs, full.ravel(), dot.ravel(), line.ravel(), np.zeros(784, np.uint8)])


def sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# Digests of the outputs of the first implementation (whole 280x280 canvas, ndi.binary_fill_holes,
# ndi.binary_erosion, np.isin), computed before it was made faster (2026-12-02, NumPy 2.4.6,
# SciPy 1.17.1, Pillow 13.0.0). The faster code must give the very same bytes; a Pillow or SciPy
# upgrade that changes resampling or distances would change them too (then regenerate them).
RENDER_DIGEST = "c9d5f8af0de729f6ee74188c1c30f70e213b6ee3032a9042225f98ad04408a16"
INPUT_DIGESTS = {
    "silhouette": "deb12866ad72fd4cc714b396dbf63a500ecaacf0c29ad971da0b4a88ad9aa262",
    "outline": "6cf3fb7c5c6804fcf2ed1f2a2f730645b8592f21a9ea0b9f0da8de63a31d3187",
    "mixed": "430e5f465feb4e1d6cffdd2dff99e0dd5be224bc3c5b960e4056c9176d1a676a",
}
INPUT_ARGS = {
    "silhouette": ("silhouette", 22),
    "outline": ("outline", range(6, 41)),
    "mixed": (["original", "silhouette", "outline"], [6, 13.3, 40]),
}


def test_render_gives_the_same_canvases_as_the_first_implementation():
    x = synthetic_images()
    canvases = [
        render(img, kind, i, brush)
        for kind in ("original", "silhouette", "outline")
        for brush in (6, 7.5, 22, 40)
        for i, img in enumerate(x)
    ]
    assert sha256(*canvases) == RENDER_DIGEST


@pytest.mark.parametrize("name", sorted(INPUT_DIGESTS))
def test_render_inputs_gives_the_same_inputs_as_the_first_implementation(name):
    kinds, brushes = INPUT_ARGS[name]
    assert sha256(render_inputs(synthetic_images(), kinds, 5, brushes)) == INPUT_DIGESTS[name]


@pytest.mark.parametrize(
    "kind,brush", [("original", 22), ("silhouette", 22), ("outline", 6), ("outline", 7.5), ("outline", 40)]
)
def test_render_inputs_reads_the_drawings_box_as_the_whole_canvas(kind, brush):
    # render_inputs hands canvas_to_model_input only the drawing's black-framed box.
    x = synthetic_images()
    fast = render_inputs(x, kind, 3, brush)
    for i, img in enumerate(x):
        whole = canvas_to_model_input(render(img, kind, np.random.default_rng([3, i]), brush)).ravel()
        assert np.array_equal(fast[i], whole), i


def fill_small_holes_reference(mask: np.ndarray, limit: float) -> np.ndarray:
    """The first implementation, with ndi.binary_fill_holes."""
    filled = ndi.binary_fill_holes(mask)
    holes = filled & ~mask
    if not holes.any():
        return mask
    labels, _ = ndi.label(holes)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < limit * filled.sum())
    small = small[small > 0]
    return mask | np.isin(labels, small)


@pytest.mark.parametrize("seed", range(20))
def test_fill_small_holes_fills_what_binary_fill_holes_finds(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 40, size=2))
    mask = rng.random(shape) < rng.uniform(0.3, 0.9)
    for limit in (0.0, 0.02, 0.1, 1.0):
        assert np.array_equal(renderings._fill_small_holes(mask, limit), fill_small_holes_reference(mask, limit))


# ---------------------------------------------------------------------- drawing_pool


def test_drawing_pool_is_silhouettes_and_outlines_as_render_inputs_gives_them():
    x = synthetic_images()
    pool = drawing_pool(x, seed=7)
    assert pool.shape == (2, len(x), 784) and pool.dtype == np.uint8
    assert np.array_equal(pool[0], render_inputs(x, "silhouette", 7, renderings.DEFAULT_BRUSH))
    assert np.array_equal(pool[1], render_inputs(x, "outline", 8, range(6, 41)))
    assert np.array_equal(drawing_pool(x.reshape(-1, 28, 28), seed=7), pool)
    assert not np.array_equal(drawing_pool(x, seed=8)[1], pool[1])


def test_progress_is_reported_in_steps_and_ends_at_total(monkeypatch):
    monkeypatch.setattr(renderings, "PROGRESS_EVERY", 4)
    calls = []
    drawing_pool(synthetic_images()[:5], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 10), (8, 10), (10, 10)]


def test_cache_hit_loads_the_pool_without_rendering(tmp_path, monkeypatch):
    x = synthetic_images()[:4]
    first = drawing_pool(x, 3, tmp_path)
    path = pool_path(x, 3, tmp_path)
    assert path.name.startswith("drawings-") and path.name.endswith("-3-v1.npy")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    assert np.array_equal(np.load(path, allow_pickle=False), first)

    def no_drawing(*args, **kwargs):
        raise AssertionError("rendered although cached")

    monkeypatch.setattr(renderings, "_draw", no_drawing)
    calls = []
    again = drawing_pool(x, 3, tmp_path, lambda done, total: calls.append((done, total)))
    assert np.array_equal(again, first) and calls == [(8, 8)]
    with pytest.raises(AssertionError, match="rendered although cached"):
        drawing_pool(x, 4, tmp_path)  # another seed is another pool
    with pytest.raises(AssertionError, match="rendered although cached"):
        drawing_pool(x[:3], 3, tmp_path)  # other images too


def test_pool_file_names_tell_images_and_seeds_apart(tmp_path):
    x = synthetic_images()
    names = {
        pool_path(x, 0, tmp_path),
        pool_path(x, 1, tmp_path),
        pool_path(x[::-1], 0, tmp_path),
        pool_path(x[:1], 0, tmp_path),
        pool_path(x.astype(np.int16), 0, tmp_path),
    }
    assert len(names) == 5
    assert pool_path(x.reshape(-1, 28, 28), 0, tmp_path) == pool_path(x, 0, tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a numpy file"),
        lambda path: path.write_bytes(path.read_bytes()[:200]),  # truncated
        lambda path: np.save(path, np.zeros((2, 3, 784), np.uint8)),  # another pool's shape
        lambda path: np.save(path, np.zeros((2, 4, 784), np.float32)),
        lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True),
    ],
)
def test_a_bad_cache_file_is_rendered_again_with_a_warning(tmp_path, damage):
    x = synthetic_images()[:4]
    good = drawing_pool(x, 0, tmp_path)
    path = pool_path(x, 0, tmp_path)
    damage(path)
    with pytest.warns(UserWarning, match="rendering them again"):
        again = drawing_pool(x, 0, tmp_path)
    assert np.array_equal(again, good)
    assert np.array_equal(np.load(path, allow_pickle=False), good)  # and the file is repaired


def test_an_impossible_cache_folder_warns_once_and_still_gives_the_pool(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folder = blocker / "cache"  # cannot be created: its parent is a file
    x = synthetic_images()[:2]
    with pytest.warns(UserWarning, match="Cannot create the cache folder"):
        pool = drawing_pool(x, 0, folder)
    assert np.array_equal(pool, drawing_pool(x, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(drawing_pool(x, 0, folder), pool)  # warned once only


def test_an_unwritable_cache_file_warns_and_still_gives_the_pool(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(renderings.os, "replace", refuse)
    x = synthetic_images()[:2]
    with pytest.warns(UserWarning, match="Could not cache the drawings"):
        pool = drawing_pool(x, 0, tmp_path)
    assert np.array_equal(pool, drawing_pool(x, 0))
    assert list(tmp_path.iterdir()) == []  # the temporary file is removed


def test_default_cache_dir_from_the_environment_or_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHION_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("FASHION_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "fashion-live" / "drawings"
