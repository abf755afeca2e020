"""Benchmark: how well a model reads what people draw on the Predict page's canvas.

Usage:
    python bench/drawings.py [--model weights/default.npz] [--data-dir DIR] [--n 1000] [--seeds 3]
                             [--brush 22] [--thin 11] [--fill-holes] [--json]

Test images (a class-balanced sample of --n, the same every run) are redrawn on the 280x280 canvas
by model.datasets.renderings: the original image upscaled, its silhouette filled flat white, and
its outline drawn with a round brush of --brush px and of --thin px; the garment's longest side is
180-240 px, placed with a margin, with --seeds different placements and sizes per image. Every
canvas is read back by the app's own canvas_to_model_input, then classified. Accuracy is printed
per kind (mean over seeds, with the seeds' range) and per class, against the targets of issue 12:
outline >= 85%, silhouette >= 88%, original not lower than the reference model's (--reference,
the shipped weights/default.npz by default).

--fill-holes also measures each canvas as the Predict page's 'Fill in closed outlines' toggle reads it,
canvas_to_model_input(..., fill=True): SciPy's binary_fill_holes of its stroke mask (pixels brighter
than half white), so a closed outline becomes the silhouette it encloses.

It exits 0 whatever the figures (1 if the model or data cannot be loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.datasets.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402
from model.datasets.images import canvas_to_model_input  # noqa: E402
from model.datasets.renderings import render  # noqa: E402
from model.errors import DataError, ModelFileError  # noqa: E402
from model.model_file import load_model  # noqa: E402
from model.nn.network import MLP  # noqa: E402
from model.training.splits import subset  # noqa: E402

TARGETS = {"outline": 0.85, "silhouette": 0.88}
DEFAULT_MODEL = REPO / "weights" / "default.npz"


def default_data_dir() -> str | None:
    """$FASHION_MNIST_DIR, else ../shared/data/fashion-mnist next to the repo, else None."""
    if os.environ.get("FASHION_MNIST_DIR"):
        return os.environ["FASHION_MNIST_DIR"]
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    return str(shared) if shared.exists() else None


def conditions(brush: float, thin: float) -> list[tuple[str, str, float]]:
    """(name, kind, brush) of each measured drawing style."""
    return [
        ("original", "original", brush),
        ("silhouette", "silhouette", brush),
        (f"outline {brush:g} px", "outline", brush),
        (f"outline {thin:g} px", "outline", thin),
    ]


def render_set(
    x: np.ndarray, conds: list[tuple[str, str, float]], seeds: int, fill: bool
) -> dict[str, list[np.ndarray]]:
    """Model inputs (n, 784) uint8 per condition name (and 'name + fill'), one array per seed."""
    inputs: dict[str, list[np.ndarray]] = {}
    for name, kind, brush in conds:
        for seed in range(seeds):
            plain = np.empty((len(x), 784), dtype=np.uint8)
            filled = np.empty_like(plain) if fill else None
            for i, img in enumerate(x):
                canvas = render(img, kind, np.random.default_rng([seed, i]), brush)
                plain[i] = canvas_to_model_input(canvas).ravel()
                if filled is not None:
                    filled[i] = canvas_to_model_input(canvas, fill=True).ravel()  # the app's Fill toggle
            inputs.setdefault(name, []).append(plain)
            if filled is not None:
                inputs.setdefault(f"{name} + fill", []).append(filled)
    return inputs


def score(net: MLP, inputs: dict[str, list[np.ndarray]], y: np.ndarray) -> dict[str, dict]:
    """Accuracy per condition: mean over seeds, seeds' min/max, and per class (all seeds pooled)."""
    out = {}
    for name, per_seed in inputs.items():
        preds = [net.predict(xs) for xs in per_seed]
        accs = [float(np.mean(p == y)) for p in preds]
        pooled = np.concatenate(preds) == np.tile(y, len(preds))
        labels = np.tile(y, len(preds))
        per_class = {CLASS_NAMES[c]: float(pooled[labels == c].mean()) for c in range(len(CLASS_NAMES))}
        out[name] = {"accuracy": float(np.mean(accs)), "min": min(accs), "max": max(accs), "per_class": per_class}
    return out


def target_of(name: str, reference: dict[str, dict] | None) -> float | None:
    """The accuracy a condition should reach (None: no target)."""
    base = name.removesuffix(" + fill")
    if base.startswith("outline"):
        return TARGETS["outline"]
    if base == "silhouette":
        return TARGETS["silhouette"]
    if base == "original" and reference is not None:
        return reference["original"]["accuracy"]
    return None


def report(results: dict[str, dict], reference: dict[str, dict] | None, ref_name: str) -> None:
    """Print one line per condition with its target, then the per-class table."""
    width = max(len(n) for n in results)
    print(f"\n{'drawing':<{width}}  accuracy (seeds' range)   target")
    for name, r in results.items():
        target = target_of(name, reference)
        line = f"{name:<{width}}  {r['accuracy']:6.1%} ({r['min']:.1%}-{r['max']:.1%})"
        if target is not None:
            what = ref_name if name.removesuffix(" + fill") == "original" else ""
            verdict = "PASS" if r["accuracy"] >= target - 1e-9 else "MISS"
            line += f"   >= {target:.1%} {what}".rstrip() + f"  {verdict}"
        if reference is not None and name in reference and reference is not results:
            line += f"   [{ref_name}: {reference[name]['accuracy']:.1%}]"
        print(line)
    names = list(results)
    short = [n.replace("outline ", "outl ").replace(" + fill", "+f") for n in names]
    cw = max(9, *(len(s) for s in short))
    print("\nper class " + "".join(f"{s:>{cw + 1}}" for s in short))
    for cls in CLASS_NAMES:
        print(f"{cls:<10}" + "".join(f"{results[n]['per_class'][cls]:>{cw + 1}.0%}" for n in names))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="model file to measure (default weights/default.npz)")
    p.add_argument(
        "--reference",
        default=str(DEFAULT_MODEL),
        help="model whose 'original' figure is the target (default weights/default.npz; 'none' to skip)",
    )
    p.add_argument("--data-dir", default=default_data_dir(), help="Fashion-MNIST folder (default $FASHION_MNIST_DIR)")
    p.add_argument("--n", type=int, default=1000, help="test images, class-balanced (default 1000)")
    p.add_argument("--seeds", type=int, default=3, help="placements/sizes per image (default 3)")
    p.add_argument("--brush", type=float, default=22.0, help="outline brush width in canvas px (default 22)")
    p.add_argument("--thin", type=float, default=11.0, help="the thin outline's brush width (default 11)")
    p.add_argument("--fill-holes", action="store_true", help="also measure with enclosed regions filled")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = p.parse_args(argv)
    if not 1 <= args.n <= 10000 or not 1 <= args.seeds <= 20:
        p.error("--n must be 1-10000 and --seeds 1-20")
    if not (0 < args.brush <= 120 and 0 < args.thin <= 120):
        p.error("brush widths must be above 0 and at most 120 px")
    try:
        net = load_model(args.model)
        ref = None
        if args.reference.lower() != "none":
            ref = net if Path(args.reference).resolve() == Path(args.model).resolve() else load_model(args.reference)
        ds = load_fashion_mnist(args.data_dir, download=False)
    except (ModelFileError, DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    x, y = subset(ds.x_test, ds.y_test, args.n, seed=0)
    started = time.perf_counter()
    inputs = render_set(x, conditions(args.brush, args.thin), args.seeds, args.fill_holes)
    render_s = time.perf_counter() - started
    results = score(net, inputs, y)
    ref_results = None if ref is None else (results if ref is net else score(ref, inputs, y))
    test_acc = float(np.mean(net.predict(ds.x_test) == ds.y_test))
    ref_name = Path(args.reference).name
    if args.json:
        out = {
            "model": args.model,
            "reference": None if ref is None else args.reference,
            "n": int(len(y)),
            "seeds": args.seeds,
            "brush": args.brush,
            "thin": args.thin,
            "test_accuracy": test_acc,
            "results": results,
            "reference_results": None if ref_results is None else {k: v["accuracy"] for k, v in ref_results.items()},
            "targets": {name: target_of(name, ref_results) for name in results},
            "render_seconds": round(render_s, 1),
        }
        print(json.dumps(out, indent=1))
        return 0
    print(f"model {args.model}: {net.describe()}; test accuracy (10,000 dataset images) {test_acc:.2%}")
    print(
        f"{len(y)} test images x {args.seeds} seeds, drawn on the 280x280 canvas (longest side 180-240 px), "
        f"read by canvas_to_model_input; rendered in {render_s:.0f} s"
    )
    report(results, ref_results, ref_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
