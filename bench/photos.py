"""Benchmark: uploaded photos with awkward backgrounds, before and after segmentation.

Usage:
    python bench/photos.py [--model weights/default.npz] [--data-dir DIR] [--n 300] [--seed 0]
                           [--kinds plain,gradient,...] [--save DIR] [--json]

Test images (a class-balanced sample of --n, the same every run) are turned into product-style
photos in memory: the garment, negated back to a dark-on-light photo and tinted a random colour,
on a 300x300 background, encoded as an upload. One fixture kind per column:

  plain       off-white background, PNG             jpeg       the same, JPEG quality 75
  offcentre   plain, garment near a corner          rotated    plain, garment turned 3-8 degrees
  gradient    beige-to-brown linear gradient        shadow     plain, a soft shadow under it
  texture     wood-like grain and fine noise        studio     gradient + shadow (the issue's bag)
  everything  gradient, shadow, texture, off-centre, rotated and JPEG at once

Each photo's bytes go through the app's upload path (model.datasets.images.preprocess_upload)
twice: without segmentation (segment_background=False, the recipe alone, as before) and as the
app does it, with the garment cut from a non-plain background first (model.datasets.segment;
a photo whose background it calls plain keeps the recipe's input unchanged). Accuracy is printed
per kind, before and after, with the share of photos whose input did not change.
--save writes a contact sheet per kind (photo, before, after).

It exits 0 whatever the figures (1 if the model or data cannot be loaded).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.datasets.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402
from model.datasets.images import preprocess_upload  # noqa: E402
from model.errors import DataError, ModelFileError  # noqa: E402
from model.model_file import load_model  # noqa: E402
from model.training.splits import subset  # noqa: E402

SIDE = 300  # photo size, px
GARMENT_COLOURS = np.array(
    [(20, 20, 25), (25, 35, 80), (90, 90, 95), (120, 30, 35), (30, 70, 40), (95, 65, 40), (60, 60, 130)],
    dtype=np.float32,
)
PLAIN = (246, 244, 240)
KINDS = ("plain", "jpeg", "offcentre", "rotated", "gradient", "shadow", "texture", "studio", "everything")
FEATURES = {
    "plain": (),
    "jpeg": ("jpeg",),
    "offcentre": ("offcentre",),
    "rotated": ("rotated",),
    "gradient": ("gradient",),
    "shadow": ("shadow",),
    "texture": ("texture",),
    "studio": ("gradient", "shadow"),
    "everything": ("gradient", "shadow", "texture", "offcentre", "rotated", "jpeg"),
}


def default_data_dir() -> str | None:
    """$FASHION_MNIST_DIR, else ../shared/data/fashion-mnist next to the repo, else None."""
    if os.environ.get("FASHION_MNIST_DIR"):
        return os.environ["FASHION_MNIST_DIR"]
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    return str(shared) if shared.exists() else None


def garment_layer(image: np.ndarray, rng: np.random.Generator, rotate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dataset image (784,) -> garment RGB (h, w, 3) and its opacity (h, w), 150-220 px long.

    The dataset negated product photos, so the photo's darkness is the image's brightness;
    a random colour tints the dark parts. The opacity is the garment's filled shape with a
    crisp, anti-aliased edge, as a cut-out product shot has; near the edge the garment's
    colour is taken from just inside, so the dataset's own anti-aliasing (a fade to white)
    does not become a light halo on coloured backgrounds.
    """
    v = image.reshape(28, 28).astype(np.float32)
    long_side = int(rng.integers(150, 221))
    size = (long_side, long_side)
    big = np.clip(np.asarray(Image.fromarray(v, mode="F").resize(size, Image.Resampling.BICUBIC)), 0, 255)
    shape = big > 10
    labels, n = ndi.label(shape)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        shape = np.isin(labels, np.flatnonzero(sizes >= 0.02 * sizes.max()) + 1)
    filled = ndi.binary_fill_holes(shape)
    holes, _ = ndi.label(filled & ~shape)
    hole_sizes = np.bincount(holes.ravel())
    small = np.flatnonzero(hole_sizes < 0.02 * filled.sum())
    shape = shape | np.isin(holes, small[small > 0])
    alpha = ndi.gaussian_filter(shape.astype(np.float32), 0.7)
    rim = shape & (ndi.distance_transform_edt(shape) <= 6)
    big = np.where(rim, np.maximum(big, ndi.grey_dilation(big, size=(9, 9))), big) / 255.0
    colour = GARMENT_COLOURS[int(rng.integers(len(GARMENT_COLOURS)))]
    rgb = 255.0 - big[..., None] * (255.0 - colour)
    if rotate:
        angle = float(rng.uniform(3, 8) * rng.choice([-1, 1]))
        rgba = np.concatenate([rgb, alpha[..., None] * 255.0], axis=2)
        turned = [
            np.asarray(Image.fromarray(rgba[..., c]).rotate(angle, Image.Resampling.BICUBIC, expand=True))
            for c in range(4)
        ]
        alpha = np.clip(turned[3] / 255.0, 0, 1)
        rgb = np.stack(turned[:3], axis=2)
        rgb = np.where(alpha[..., None] > 0.01, rgb / np.maximum(alpha[..., None], 0.01), 255.0)
        rgb = np.clip(rgb, 0, 255)
    rows, cols = np.flatnonzero(alpha.max(axis=1) > 0.01), np.flatnonzero(alpha.max(axis=0) > 0.01)
    if len(rows) == 0:
        return rgb[:1, :1], alpha[:1, :1]
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return rgb[crop], alpha[crop]


def background(features: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """(SIDE, SIDE, 3) float32 background: plain off-white, a gradient and/or texture."""
    bg = np.empty((SIDE, SIDE, 3), dtype=np.float32)
    bg[:] = PLAIN
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / (SIDE - 1)
    if "gradient" in features:
        theta = rng.uniform(0, 2 * np.pi)
        t = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5)) / 0.71 + 0.5
        light = np.array([236, 222, 196], np.float32) + rng.uniform(-10, 10, 3)
        dark = light - rng.uniform(45, 75) * np.array([1.0, 1.05, 1.15], np.float32)
        bg = light + np.clip(t, 0, 1)[..., None] * (dark - light)
    if "texture" in features:
        period = rng.uniform(6, 12)
        wobble = ndi.gaussian_filter(rng.normal(0, 1, (SIDE, SIDE)), 12) * 40
        grain = 12 * np.sin(2 * np.pi * (yy * SIDE + wobble) / period)
        noise = ndi.gaussian_filter(rng.normal(0, 14, (SIDE, SIDE)), 0.7)
        blotch = ndi.gaussian_filter(rng.normal(0, 1, (SIDE, SIDE)), 20) * 250
        tone = (grain + noise + blotch)[..., None] * np.array([1.0, 0.9, 0.75], np.float32)
        bg = bg * 0.92 + tone
    return bg


def make_photo(image: np.ndarray, kind: str, rng: np.random.Generator) -> bytes:
    """One dataset image (784,) uint8 -> an encoded photo (PNG, or JPEG for jpeg kinds)."""
    features = FEATURES[kind]
    rgb, alpha = garment_layer(image, rng, "rotated" in features)
    h, w = alpha.shape
    bg = background(features, rng)
    if "offcentre" in features:
        m = int(rng.integers(6, 16))
        top = m if rng.random() < 0.5 else SIDE - h - m
        left = m if rng.random() < 0.5 else SIDE - w - m
    else:
        top = (SIDE - h) // 2 + int(rng.integers(-12, 13))
        left = (SIDE - w) // 2 + int(rng.integers(-12, 13))
    top, left = int(np.clip(top, 0, SIDE - h)), int(np.clip(left, 0, SIDE - w))
    full_alpha = np.zeros((SIDE, SIDE), np.float32)
    full_alpha[top : top + h, left : left + w] = alpha
    full_rgb = np.zeros((SIDE, SIDE, 3), np.float32)
    full_rgb[top : top + h, left : left + w] = rgb
    if "shadow" in features:
        dy, dx = rng.integers(6, 16, 2) * rng.choice([-1, 1], 2)
        shade = ndi.gaussian_filter(ndi.shift(full_alpha, (dy, dx), order=1), rng.uniform(7, 12))
        bg = bg * (1.0 - rng.uniform(0.3, 0.45) * np.clip(shade, 0, 1))[..., None]
    photo = np.clip(bg * (1 - full_alpha[..., None]) + full_rgb * full_alpha[..., None], 0, 255)
    img = Image.fromarray(np.rint(photo).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    if "jpeg" in features:
        img.save(buf, "JPEG", quality=75)
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


def run(
    x: np.ndarray, kinds: tuple[str, ...], seed: int, keep: int = 0
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list], dict[str, list[float]]]:
    """Model inputs per kind: {'before', 'after', 'plain' (input unchanged)}; up to ``keep`` examples; timings (s)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    examples: dict[str, list] = {}
    times: dict[str, list[float]] = {"before": [], "after": []}
    for kind in kinds:
        k = KINDS.index(kind)  # the same photos whichever kinds are asked for
        before = np.empty((len(x), 784), np.uint8)
        after = np.empty_like(before)
        plain = np.empty(len(x), bool)
        for i, img in enumerate(x):
            data = make_photo(img, kind, np.random.default_rng([seed, k, i]))
            t0 = time.perf_counter()
            before[i] = preprocess_upload(data, segment_background=False).ravel()
            t1 = time.perf_counter()
            a = preprocess_upload(data)
            plain[i] = np.array_equal(a.ravel(), before[i])
            times["before"].append(t1 - t0)
            times["after"].append(time.perf_counter() - t1)
            after[i] = a.ravel()
            if i < keep:
                examples.setdefault(kind, []).append(data)
        out[kind] = {"before": before, "after": after, "plain": plain}
    return out, examples, times


def contact_sheet(photos: list[bytes], before: np.ndarray, after: np.ndarray) -> Image.Image:
    """Rows of (photo 140 px, before 28->140, after 28->140) for eyeballing the fixtures."""
    rows = []
    for data, b, a in zip(photos, before, after):
        photo = np.asarray(Image.open(io.BytesIO(data)).convert("L").resize((140, 140)))
        big = [np.kron(v.reshape(28, 28), np.ones((5, 5), np.uint8)) for v in (b, a)]
        big = [np.pad(v, ((0, 10), (0, 10))) for v in big]
        rows.append(np.concatenate([np.pad(photo, ((0, 10), (0, 10))), *big], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--model", default=str(REPO / "weights" / "default.npz"), help="model file (default the shipped one)"
    )
    p.add_argument("--data-dir", default=default_data_dir(), help="Fashion-MNIST folder (default $FASHION_MNIST_DIR)")
    p.add_argument("--n", type=int, default=300, help="test images, class-balanced (default 300)")
    p.add_argument("--seed", type=int, default=0, help="fixture randomness (default 0)")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}")
    p.add_argument("--save", metavar="DIR", help="write a contact sheet (PNG) per kind into DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        p.error(f"unknown kind(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(KINDS)}")
    if not 1 <= args.n <= 10000:
        p.error("--n must be 1-10000")
    try:
        net = load_model(args.model)
        ds = load_fashion_mnist(args.data_dir, download=False)
    except (ModelFileError, DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    x, y = subset(ds.x_test, ds.y_test, args.n, seed=0)
    started = time.perf_counter()
    inputs, examples, times = run(x, kinds, args.seed, keep=12 if args.save else 0)
    ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
    seconds = time.perf_counter() - started
    dataset_acc = float(np.mean(net.predict(x) == y))
    results = {}
    for kind, arrays in inputs.items():
        pb, pa = net.predict(arrays["before"]), net.predict(arrays["after"])
        results[kind] = {
            "before": float(np.mean(pb == y)),
            "after": float(np.mean(pa == y)),
            "plain": float(arrays["plain"].mean()),
            "per_class_before": {
                c: float(np.mean(pb[y == i] == i)) for i, c in enumerate(CLASS_NAMES) if (y == i).any()
            },
            "per_class_after": {
                c: float(np.mean(pa[y == i] == i)) for i, c in enumerate(CLASS_NAMES) if (y == i).any()
            },
        }
        if args.save:
            folder = Path(args.save)
            folder.mkdir(parents=True, exist_ok=True)
            k = len(examples[kind])
            contact_sheet(examples[kind], arrays["before"][:k], arrays["after"][:k]).save(folder / f"{kind}.png")
    if args.json:
        print(json.dumps({"model": args.model, "n": len(y), "seed": args.seed, "dataset_images": dataset_acc,
                          "seconds": round(seconds, 1), "median_ms": ms, "results": results}, indent=1))  # fmt: skip
        return 0
    print(f"model {args.model}: {net.describe()}")
    print(
        f"{len(y)} test images as {SIDE}x{SIDE} photos per kind ({seconds:.0f} s); "
        f"the same images as 28x28 dataset inputs: {dataset_acc:.1%}"
    )
    print(f"\n{'kind':<11} {'upload path':>12} {'segmented':>10} {'change':>7}  input unchanged")
    for kind, r in results.items():
        change = r["after"] - r["before"]
        print(f"{kind:<11} {r['before']:>12.1%} {r['after']:>10.1%} {change:>+7.1%}  {r['plain']:.0%}")
    print(f"\nmedian time per photo: upload path {ms['before']:.1f} ms, with segmentation {ms['after']:.1f} ms")
    if "plain" in results:
        same = bool(np.array_equal(inputs["plain"]["before"], inputs["plain"]["after"]))
        print(f"\nplain background: segmented inputs identical to today's: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
