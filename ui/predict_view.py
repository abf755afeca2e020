"""Pure logic behind the Predict page: one prediction with its saliency map, the overlay image, the ghosts.

No Streamlit here, so everything is unit-tested directly. A prediction costs one forward
pass plus one backward pass to the input, which keeps the page responsive while drawing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import dataclass
from html import escape
from typing import BinaryIO

import numpy as np
from matplotlib import colormaps
from PIL import Image

from model.datasets.images import has_alpha, load_image, to_model_input, upscale_for_display
from model.datasets.spec import CLASS_NAMES, IMAGE_SIDE, N_PIXELS
from model.errors import ImageError, PredictionError
from model.nn.network import MLP
from model.text import format_probability
from model.training.evaluation import top_k

# Saliency is scaled by a high percentile rather than the maximum, so a single extreme
# pixel does not wash out the rest of the map.
SALIENCY_PERCENTILE = 99.0
TOP_COLOR, OTHER_COLOR = "#e4572e", "#a0a0a0"  # the top 3 bars, the rest
BARS_LABEL = "Probability of each class"  # the bars' accessible name; browser tests find them by it
ANSWER_LABEL = "Prediction"  # the answer's accessible name (the section that holds all of it)
INPUT_CAPTION = f"What the model sees: {IMAGE_SIDE}×{IMAGE_SIDE} pixels"
SHOWN_SIZE = 224  # px: each 28x28 picture is drawn 8x, crisp (the browser scales it, nearest neighbour)
# The Draw tab's ghost: a class's mean training image, faint behind the 280x280 canvas. Drawn 224 px
# (8x) with a 28-px margin, like a garment drawn large (the "drawings" augmentation draws them 180-240
# px long), so strokes traced along its edge stay on the canvas; at most this greyish blue, so the
# white strokes stand out from it.
GHOST_CANVAS = 280
GHOST_SIDE = 224
GHOST_COLOR = (46, 56, 70)


@dataclass(frozen=True)
class Prediction:
    """What the network says about one 28x28 image."""

    image: np.ndarray  # (28, 28) uint8, exactly what the model saw
    proba: np.ndarray  # (10,) float, sums to 1
    saliency: np.ndarray  # (28, 28) float: d p[predicted] / d (pixel / 255)

    @property
    def index(self) -> int:
        return int(np.argmax(self.proba))

    @property
    def label(self) -> str:
        return CLASS_NAMES[self.index]

    @property
    def confidence(self) -> float:
        return float(self.proba[self.index])

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return top_k(self.proba, k)


def _as28(arr: np.ndarray) -> np.ndarray:
    """A 28x28 (or 784) array reshaped to (28, 28); ImageError for any other size."""
    if arr.size != N_PIXELS:
        raise ImageError(f"Expected a {IMAGE_SIDE}x{IMAGE_SIDE} image, got shape {arr.shape}.")
    return arr.reshape(IMAGE_SIDE, IMAGE_SIDE)


def as_image28(image: np.ndarray) -> np.ndarray:
    """Validate a 28x28 (or 784) input and return it as (28, 28) uint8."""
    return np.clip(_as28(np.asarray(image)), 0, 255).astype(np.uint8)


def as_float28(image: np.ndarray) -> np.ndarray:
    """A 28x28 (or 784) array of any number type as (28, 28) float32, unclipped."""
    return _as28(np.asarray(image, dtype=np.float32))


def predict_image(net: MLP, image: np.ndarray) -> Prediction:
    """Probabilities and the saliency of the predicted class for one 28x28 image (0-255).

    Raises PredictionError when the network's outputs are not finite.
    """
    img = as_image28(image)
    pixels = img.reshape(1, N_PIXELS)
    with np.errstate(invalid="ignore", over="ignore"):  # checked just below, with a message for people
        proba, grad = net.proba_and_saliency(pixels)
    proba = proba[0]
    if grad is None:  # e.g. a live snapshot taken the moment a training diverged
        raise PredictionError(
            "This model's outputs are not numbers (its weights overflowed, as when a training diverges), "
            "so it cannot classify anything. Pick another model; a diverged training's last good weights "
            "come back by themselves."
        )
    return Prediction(image=img, proba=proba, saliency=grad[0].reshape(IMAGE_SIDE, IMAGE_SIDE).astype(np.float64))


def class_order(proba: np.ndarray) -> list[str]:
    """Class names from most to least likely (ties keep class order), for sorting a bar chart."""
    return [CLASS_NAMES[i] for i in np.argsort(-np.asarray(proba, dtype=np.float64), kind="stable")]


def normalize_saliency(saliency: np.ndarray, percentile: float = SALIENCY_PERCENTILE) -> np.ndarray:
    """|gradient| scaled to 0-1 (the given percentile maps to 1); all zeros stay zeros."""
    mag = np.abs(np.nan_to_num(np.asarray(saliency, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0))
    if mag.size == 0:
        return mag
    top = float(np.percentile(mag, percentile))
    if top <= 0:
        top = float(mag.max())
    if top <= 0:
        return np.zeros_like(mag)
    return np.clip(mag / top, 0.0, 1.0)


def saliency_overlay(
    image: np.ndarray,
    saliency: np.ndarray,
    scale: int = 8,
    cmap: str = "inferno",
    strength: float = 0.85,
    dim: float = 0.55,
) -> np.ndarray:
    """RGB (28*scale, 28*scale, 3) uint8: the saliency as a heat map blended over the input.

    The greyscale input is dimmed by ``dim`` so the colours stand out; each pixel is then
    mixed with its colormap colour in proportion to its normalized |gradient| (times
    ``strength``), so pixels that do not matter show the input and the ones that matter
    most glow. Upscaled with nearest neighbour so pixels stay crisp.
    """
    img = as_image28(image).astype(np.float64) / 255.0
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.size != N_PIXELS:
        raise ImageError(f"Expected a {IMAGE_SIDE}x{IMAGE_SIDE} saliency map, got shape {sal.shape}.")
    weight = normalize_saliency(sal.reshape(IMAGE_SIDE, IMAGE_SIDE))
    heat = colormaps[cmap](weight)[..., :3]
    grey = np.repeat((img * dim)[..., None], 3, axis=2)
    alpha = (np.clip(strength, 0.0, 1.0) * weight)[..., None]
    rgb = grey * (1.0 - alpha) + heat * alpha
    rgb8 = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    if scale == 1:
        return rgb8
    # Upscale each channel the same crisp way as the plain input.
    return np.stack([upscale_for_display(rgb8[..., c], scale) for c in range(3)], axis=2)


def read_upload(data: bytes | BinaryIO, name: str = "image", preview: int = 280) -> tuple[Image.Image, np.ndarray]:
    """Decode an upload once: (an RGB(A) preview at most ``preview`` px, the (28, 28) uint8 model input).

    Raises ImageError (with a message for the user) for anything that is not a usable image.
    """
    img = load_image(data, name)
    image28 = to_model_input(img)
    try:
        shown = img.copy() if img.mode in ("RGB", "RGBA", "L") else img.convert("RGBA" if has_alpha(img) else "RGB")
    except (ValueError, OSError):  # a mode Pillow cannot convert: show what the model sees instead
        shown = Image.fromarray(upscale_for_display(image28, 8))
    shown.thumbnail((preview, preview))
    return shown, image28


def verdict(prediction: Prediction, true_index: int) -> str:
    """One line for a test image: right or wrong, with the true label."""
    truth = CLASS_NAMES[int(true_index)]
    if prediction.index == int(true_index):
        return f"Correct: the true label is {truth}."
    return f"Wrong: the true label is {truth}, which got {format_probability(prediction.proba[int(true_index)])}."


def pick_test_index(rng: np.random.Generator, labels: np.ndarray, class_index: int | None = None) -> int:
    """A random test-set index, optionally among the images of one class."""
    labels = np.asarray(labels)
    if class_index is None:
        if len(labels) == 0:
            raise ImageError("The test set is empty.")
        return int(rng.integers(len(labels)))
    candidates = np.flatnonzero(labels == class_index)
    if len(candidates) == 0:
        raise ImageError(f"The test set has no image of class {CLASS_NAMES[class_index]}.")
    return int(rng.choice(candidates))


def probability_bars_html(proba: np.ndarray, top: int = 3) -> str:
    """All class probabilities (10,) as horizontal bars, most likely first, the top ``top`` highlighted.

    Plain HTML with the percentage written on every row, like Teachable Machine: a browser draws it
    in a fraction of the time a Vega chart takes, which keeps answers quick when a whole class draws
    at once. Each row carries ``data-class`` and ``data-probability`` for tests and tools.
    """
    proba = np.asarray(proba, dtype=np.float64)
    rows = []
    for rank, name in enumerate(class_order(proba)):
        p = float(proba[CLASS_NAMES.index(name)])
        width = min(max(p, 0.0), 1.0) * 100
        color, weight = (TOP_COLOR, 600) if rank < top else (OTHER_COLOR, 400)
        rows.append(
            f'<div role="listitem" data-class="{escape(name)}" data-probability="{p:.6f}" '
            'style="display:flex;align-items:center;gap:0.6rem;margin:0.2rem 0">'
            f'<span style="flex:0 0 6.5rem;text-align:right;font-weight:{weight}">{escape(name)}</span>'
            '<span style="flex:1 1 auto;height:1.1rem;background:rgba(128,128,128,0.15);border-radius:3px">'
            f'<span style="display:block;height:100%;width:{width:.2f}%;background:{color};border-radius:3px">'
            "</span></span>"
            f'<span style="flex:0 0 3.8rem;text-align:right;font-variant-numeric:tabular-nums;font-weight:{weight}">'
            f"{escape(format_probability(p))}</span></div>"
        )
    return f'<div role="list" aria-label="{BARS_LABEL}">' + "".join(rows) + "</div>"


def input_id(image28: np.ndarray) -> str:
    """A short fingerprint of a 28x28 input: tells one answer from the next (tests, tools)."""
    return hashlib.md5(as_image28(image28).tobytes()).hexdigest()[:12]


def png_bytes(image: Image.Image) -> bytes:
    """A Pillow image encoded as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def png_data_uri(image: np.ndarray) -> str:
    """A small (H, W) or (H, W, 3) uint8 image as a ``data:image/png`` URI, to inline in HTML."""
    png = png_bytes(Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(image: np.ndarray, caption: str, alt: str) -> str:
    return (
        '<figure style="margin:0">'
        f'<img src="{png_data_uri(image)}" width="{SHOWN_SIZE}" height="{SHOWN_SIZE}" alt="{escape(alt)}" '
        'style="image-rendering:pixelated;display:block;max-width:100%;height:auto">'
        f'<figcaption style="font-size:0.875rem;opacity:0.6;margin-top:0.25rem">{escape(caption)}</figcaption>'
        "</figure>"
    )


def _stat(label: str, value: str, help_text: str) -> str:
    return (
        f'<div title="{escape(help_text)}"><div style="font-size:0.875rem">{escape(label)}</div>'
        f'<div data-stat="{escape(label)}" style="font-size:2.25rem;line-height:1.2">{escape(value)}</div></div>'
    )


# Pixels that are almost never inked in the training images can carry much of a saliency map:
# true to the gradient, but easy to misread, so the caption says so.
SALIENCY_EDGES = (
    "Hot pixels near the edges and corners are real but not evidence: training images almost never have "
    "ink there, so the network never learned what ink there means, and its answer is touchy about it."
)


def answer_html(prediction: Prediction, true_index: int | None = None) -> str:
    """The whole answer for one image as one HTML block (no scripts, inline styles only).

    The predicted class and its probability, right or wrong for a test image, the 28x28 input as the
    model sees it, the saliency overlay, all ten probabilities and what the saliency map means. One
    element instead of a dozen, with the pictures inlined (about 1 KB each at 28x28): the browser
    draws it in one go and fetches nothing more, which keeps answers quick when a whole class draws
    at once. The section carries ``data-prediction`` and ``data-input`` (see ``input_id``).
    """
    pred = prediction
    parts = [
        '<div style="display:flex;gap:3rem;flex-wrap:wrap">',
        _stat("Prediction", pred.label, "The class with the highest probability."),
        _stat("Probability", format_probability(pred.confidence), "The network's softmax output for that class."),
        "</div>",
    ]
    if true_index is not None:
        right = pred.index == int(true_index)
        tone = ("rgba(33,195,84,0.1)", "#177233", "✓") if right else ("rgba(255,43,43,0.09)", "#7d353b", "✗")
        parts.append(
            f'<div role="status" data-verdict="{"correct" if right else "wrong"}" '
            f'style="background:{tone[0]};color:{tone[1]};border-radius:0.5rem;padding:0.75rem 1rem;margin:0.75rem 0">'
            f"{tone[2]} {escape(verdict(pred, int(true_index)))}</div>"
        )
    parts += [
        '<div style="display:flex;gap:1.5rem;flex-wrap:wrap;margin:0.75rem 0">',
        _figure(pred.image, INPUT_CAPTION, f"The input, 28x28 pixels, predicted {pred.label}"),
        _figure(
            saliency_overlay(pred.image, pred.saliency, scale=1),
            f"Saliency for {pred.label}",
            f"Saliency map for {pred.label} over the input",
        ),
        "</div>",
        f'<p style="font-weight:600;margin:0.5rem 0 0.25rem">{BARS_LABEL}</p>',
        probability_bars_html(pred.proba),
        '<p style="font-size:0.875rem;opacity:0.6;margin-top:0.75rem">'
        f"Saliency map: the hotter a pixel, the more a change to it would move the probability of "
        f"{escape(pred.label)} (the gradient of that probability with respect to each input pixel). "
        f"{SALIENCY_EDGES}</p>",
    ]
    return (
        f'<section aria-label="{ANSWER_LABEL}" data-prediction="{escape(pred.label)}" '
        f'data-input="{input_id(pred.image)}">' + "".join(parts) + "</section>"
    )


# ----------------------------------------------------------------------------- the Draw tab's ghosts
def class_means(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mean image of each class: images (n, 784) or (n, 28, 28), labels (n,) -> (10, 28, 28) float32.

    A class without images gets an all-zero mean.
    """
    x = np.asarray(x).reshape(len(x), N_PIXELS)
    y = np.asarray(y)
    sums = np.zeros((len(CLASS_NAMES), N_PIXELS), dtype=np.float64)
    counts = np.bincount(y, minlength=len(CLASS_NAMES))[: len(CLASS_NAMES)]
    for c in np.flatnonzero(counts):
        sums[c] = x[y == c].sum(axis=0, dtype=np.float64)
    means = sums / np.maximum(counts, 1)[:, None]
    return means.reshape(len(CLASS_NAMES), IMAGE_SIDE, IMAGE_SIDE).astype(np.float32)


def ghost_image(mean28: np.ndarray | None) -> Image.Image:
    """A (28, 28) mean image as the canvas's faint background: RGB GHOST_CANVAS px square, black elsewhere.

    The mean is scaled so its brightest pixel is GHOST_COLOR, enlarged smoothly to GHOST_SIDE px
    and centred. ``None`` (no ghost) gives the plain black background.
    """
    out = np.zeros((GHOST_CANVAS, GHOST_CANVAS, 3), dtype=np.uint8)
    if mean28 is None:
        return Image.fromarray(out)
    mean = np.nan_to_num(as_float28(mean28), nan=0.0, posinf=0.0, neginf=0.0).clip(0.0, None)
    peak = float(mean.max())
    if peak > 0:
        big = Image.fromarray(mean / peak, mode="F").resize((GHOST_SIDE, GHOST_SIDE), Image.Resampling.BILINEAR)
        level = np.clip(np.asarray(big), 0.0, 1.0)[..., None] * np.array(GHOST_COLOR, dtype=np.float32)
        top = (GHOST_CANVAS - GHOST_SIDE) // 2
        out[top : top + GHOST_SIDE, top : top + GHOST_SIDE] = np.rint(level).astype(np.uint8)
    return Image.fromarray(out)


NO_GHOST = png_bytes(ghost_image(None))  # the canvas's background when no ghost is chosen: plain black
_ghosts: dict[str, tuple[bytes, ...]] = {}  # dataset fingerprint -> its ten ghosts as PNG (a few KB)
_ghosts_lock = threading.Lock()


def ghosts(x_train: np.ndarray, y_train: np.ndarray, fingerprint: str) -> tuple[bytes, ...]:
    """The ten classes' ghosts as PNG bytes, computed once per dataset (``fingerprint``) for every session.

    PNG bytes, not images: immutable, so sessions share them safely, and the canvas need not
    re-encode a picture on every stroke.
    """
    with _ghosts_lock:
        if fingerprint not in _ghosts:
            _ghosts.clear()  # one dataset at a time
            _ghosts[fingerprint] = tuple(png_bytes(ghost_image(m)) for m in class_means(x_train, y_train))
        return _ghosts[fingerprint]


def fill_advice(net: MLP | None, fill: bool) -> str | None:
    """A hint under the Fill toggle when the chosen model's training says which way reads drawings better.

    From the model's stored training settings (``meta['config']['drawings']``); None when they are
    unknown (e.g. the live model, an imported file) or the toggle is already the better choice.
    Figures from ``bench/drawings.py --fill-holes`` (README).
    """
    config = (net.meta.get("config") if net is not None else None) or {}
    drawings = config.get("drawings")
    if not isinstance(drawings, (int, float)) or isinstance(drawings, bool):
        return None
    if drawings == 0 and not fill:
        return (
            "This model was trained without drawings and reads outlines poorly: turn on *Fill in closed outlines* "
            "if you draw one, or fill the garment in as you draw."
        )
    if drawings > 0 and fill:
        return (
            "This model was trained with drawings and reads outlines better as they are drawn: *Fill in closed "
            "outlines* lowers its accuracy."
        )
    return None
