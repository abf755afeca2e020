"""Turn uploaded photos and canvas drawings into 28x28 Fashion-MNIST-style inputs.

Fashion-MNIST was made from product shots by: trimming the border close to the
background colour, resizing so the longest edge is 28 px, centring on a 28x28
canvas and negating, so garments are light on black. ``to_model_input`` follows
the same recipe for any Pillow image. Every problem with the input is reported
as an ``ImageError`` with a message that can be shown to the user as is.
"""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from model.datasets.segment import segment
from model.datasets.spec import IMAGE_SIDE
from model.errors import ImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # well below Pillow's own 89 MP warning, ~160 MB as RGBA
# Fashion-MNIST trimmed pixels within 5% of the corner colour; a little more
# (on a 0-255 scale) so JPEG noise around a light background is not "content".
TRIM_TOLERANCE = 16.0
# Big photos are shrunk first (by area, so 1 px-thin images survive): the 28 px
# result cannot tell, and it caps the memory used by the float arrays.
WORK_PIXELS = 1024 * 1024
# Decoders we trust with user uploads (no EPS/Ghostscript, no magic-less formats).
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "ICO", "PPM", "AVIF", "QOI")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow "L"
# fill_outline: a canvas pixel brighter than half white is stroke (as bench/drawings.py --fill-holes measured).
FILL_LEVEL = 127.5


def _read_bytes(data: bytes | bytearray | memoryview | BinaryIO, name: str) -> bytes:
    """Accept bytes or a binary file object; refuse anything over MAX_UPLOAD_BYTES."""
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        else:
            if getattr(data, "seekable", lambda: False)():
                data.seek(0)  # Streamlit's UploadedFile may have been read already
            # One byte more than allowed tells "too big" without reading it all.
            raw = data.read(MAX_UPLOAD_BYTES + 1)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ImageError(f"'{name}' could not be read: {exc}") from exc
    if not isinstance(raw, bytes):
        raise ImageError(f"'{name}' could not be read: expected bytes, got {type(raw).__name__}.")
    if not raw:
        raise ImageError(f"'{name}' is empty (0 bytes). Choose an image file.")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ImageError(f"'{name}' is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Use a smaller image.")
    return raw


def _check_pixels(size: tuple[int, int], name: str) -> None:
    """Refuse images whose header claims too many pixels, before decoding them."""
    w, h = size
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"'{name}' is {w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels. Use a smaller image."
        )


def load_image(data: bytes | BinaryIO, name: str = "image") -> Image.Image:
    """Decode an uploaded image (first frame, EXIF orientation applied), fully loaded."""
    raw = _read_bytes(data, name)
    try:
        with warnings.catch_warnings():
            # Decoders' chatter about odd files is not actionable; but Pillow only
            # *warns* about 89-179 MP images, and that must be an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw), formats=FORMATS)
            _check_pixels(img.size, name)
            img.seek(0)  # first frame of an animated GIF/WebP/APNG
            img.load()  # decode now so truncated files fail here, not later
            # Phones store rotation in EXIF; the copy also detaches the first frame.
            img = ImageOps.exif_transpose(img)
            _check_pixels(img.size, name)
    except ImageError:
        raise
    except Image.UnidentifiedImageError as exc:
        raise ImageError(f"'{name}' is not an image Pillow can read. Use a PNG, JPEG, WebP, GIF or BMP file.") from exc
    except (
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        MemoryError,
    ) as exc:
        raise ImageError(
            f"'{name}' has too many pixels to decode safely (limit "
            f"{MAX_PIXELS // 1_000_000} megapixels). Use a smaller image."
        ) from exc
    except Exception as exc:  # Pillow's decoders raise many types for corrupt data
        raise ImageError(
            f"'{name}' is truncated or corrupt and cannot be decoded ({type(exc).__name__}: {exc})."
        ) from exc
    return img


def _scale_high_bit(arr: np.ndarray) -> np.ndarray:
    """Map 16/32-bit or float pixels (H, W) onto 0-255 float32 by scaling, not clipping."""
    is_float = arr.dtype.kind == "f"
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if arr.size == 0:
        return arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0 and hi <= 1.0 and is_float:
        out = arr * 255.0  # float images are usually 0-1
    elif lo >= 0 and hi <= 255:
        out = arr
    elif lo >= 0 and hi <= 65535:
        out = arr / 257.0  # 16-bit: 65535 -> 255
    else:
        out = (arr - lo) * (255.0 / (hi - lo))  # unknown range: stretch it
    return out.astype(np.float32)


def has_alpha(img: Image.Image) -> bool:
    """True if the image has transparency: an alpha band, or a transparent palette/colour entry."""
    # Not "A" in mode: LAB's second band is called "A" too.
    return img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info


def _luminance(img: Image.Image) -> np.ndarray:
    """Grey levels (H, W) float32 0-255 of any mode; transparency flattened away."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        if img.width * img.height > WORK_PIXELS:
            # Shrink in Pillow before any float64 copy: at 40 MP one such copy alone is 320 MB.
            # BOX averages without overshoot, so the value range that decides the scaling is kept.
            img = _shrink(img.convert("F") if mode.startswith("I;16") else img, Image.Resampling.BOX)
        if mode.startswith("I;16"):
            arr = np.asarray(img).astype(np.float32) / 257.0
        else:
            arr = _scale_high_bit(np.asarray(img))
        return np.asarray(_shrink(Image.fromarray(arr, mode="F")), dtype=np.float32)
    transparent = has_alpha(img)
    try:
        img = img.convert("RGBA" if transparent else "L")
    except ValueError:  # e.g. LAB or La: take the lightness band as is
        img = img.getchannel(0)
        transparent = False
    img = _shrink(img)
    if not transparent:
        return np.asarray(img, dtype=np.float32)
    rgba = np.asarray(img, dtype=np.float32)
    lum = rgba[..., :3] @ _LUMA
    alpha = rgba[..., 3] / 255.0
    if alpha.min() >= 1.0:
        return lum
    weight = float(alpha.sum())
    if weight < 1e-6:  # fully transparent: nothing but background
        return np.zeros_like(lum)
    # Flatten on whichever of black/white contrasts with the opaque part, so a
    # white shirt cut-out doesn't vanish on white (nor a black one on black).
    back = 0.0 if float((lum * alpha).sum()) / weight >= 127.5 else 255.0
    return lum * alpha + back * (1.0 - alpha)


def _shrink(img: Image.Image, resample: Image.Resampling = Image.Resampling.LANCZOS) -> Image.Image:
    """Downscale (premultiplied for RGBA) to about WORK_PIXELS, keeping aspect ratio."""
    w, h = img.size
    if w * h <= WORK_PIXELS:
        return img
    scale = (WORK_PIXELS / (w * h)) ** 0.5
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(new, resample, reducing_gap=3.0)


def _border_median(gray: np.ndarray) -> float:
    """Background estimate: median of the outer frame (2 px, 1 px on tiny images)."""
    k = 2 if min(gray.shape) >= 8 else 1
    frame = np.concatenate([gray[:k].ravel(), gray[-k:].ravel(), gray[:, :k].ravel(), gray[:, -k:].ravel()])
    return float(np.median(frame))


def _fit(gray: np.ndarray) -> np.ndarray:
    """(H, W) float 0-255 -> (28, 28) uint8: light-on-black, trimmed, resized, centred."""
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    if gray.ndim != 2 or gray.size == 0:
        return out
    diff = gray.astype(np.float32) - _border_median(gray)
    mask = np.abs(diff) > TRIM_TOLERANCE
    if not mask.any():
        return out  # blank: all one colour, or only JPEG-level noise
    # Whichever side of the background the content lies on becomes "light":
    # dark garments on white photos are inverted, light ones on black are not.
    if float(diff[mask].mean()) < 0:
        diff = -diff
    fg = np.clip(diff, 0.0, 255.0)
    rows = np.flatnonzero((fg > TRIM_TOLERANCE).any(axis=1))
    cols = np.flatnonzero((fg > TRIM_TOLERANCE).any(axis=0))
    crop = fg[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = IMAGE_SIDE / max(h, w)
    nw, nh = max(1, min(IMAGE_SIDE, round(w * scale))), max(1, min(IMAGE_SIDE, round(h * scale)))
    small = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), mode="F")
    # LANCZOS is a proper low-pass filter when shrinking (its ringing is clipped). Enlarging a
    # crop of a few pixels, its ringing would cut the content's edges to black: BILINEAR does not ring.
    enlarging = nw > w or nh > h
    resample = Image.Resampling.BILINEAR if enlarging else Image.Resampling.LANCZOS
    small = np.asarray(small.resize((nw, nh), resample))
    small = np.clip(small, 0.0, None)
    peak = float(small.max())
    if peak <= 0:
        return out
    # Dataset garments almost all peak at 255; stretch pale photos to match.
    small = np.rint(small * (255.0 / peak)).astype(np.uint8)
    top, left = (IMAGE_SIDE - nh) // 2, (IMAGE_SIDE - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


# Photo modes whose background segment() can model; others (16-bit, float, LAB) keep the plain recipe.
_SEGMENTABLE = ("RGB", "L", "P", "CMYK", "YCbCr")


def _segmented(img: Image.Image, gray: np.ndarray) -> np.ndarray:
    """An opaque photo's garment cut from a gradient, shadow or textured background (H, W) float 0-255.

    Returns ``gray`` unchanged when the background is plain (today's trim removes it exactly),
    or when the photo has transparency (its cut-out is already made) or a mode segment() cannot read.
    """
    if img.mode not in _SEGMENTABLE or has_alpha(img):
        return gray
    seg = segment(np.asarray(_shrink(img).convert("RGB")))
    return gray if seg.plain else seg.gray


def to_model_input(img: Image.Image, segment_background: bool = True) -> np.ndarray:
    """Any Pillow image -> (28, 28) uint8, light garment on black like Fashion-MNIST.

    With ``segment_background`` an opaque photo's garment is first cut from a non-plain
    background (gradient, shadow, texture; see ``segment``); a plain one is left as it is.
    A blank image (one colour, or fully transparent) gives all zeros; see is_blank.
    """
    if not isinstance(img, Image.Image):
        raise ImageError("Expected a decoded image, got " + type(img).__name__ + ".")
    _check_pixels(img.size, "image")  # before img.load() of a lazily opened image
    if 0 in img.size:
        return np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    try:
        img.load()  # a lazily opened image decodes here; corrupt data fails here
    except Exception as exc:  # Pillow's decoders raise many types for corrupt data
        msg = f"The image is truncated or corrupt ({type(exc).__name__})."
        raise ImageError(msg) from exc
    try:
        gray = _luminance(img)
    except MemoryError as exc:
        msg = "The image is too large to process; use a smaller one."
        raise ImageError(msg) from exc
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
    ) as exc:  # modes Pillow can't convert
        msg = f"Images of mode {img.mode!r} cannot be converted: {exc}"
        raise ImageError(msg) from exc
    if segment_background:
        try:
            gray = _segmented(img, gray)
        except MemoryError as exc:
            raise ImageError("The image is too large to process; use a smaller one.") from exc
    return _fit(gray)


def _canvas_luminance(rgba: np.ndarray) -> tuple[np.ndarray, bool]:
    """Drawing-canvas pixels (H, W, 4|3) or (H, W) -> (grey levels (H, W) float32 0-255, read as 0-1 floats).

    Luminance is weighted by alpha, so transparent pixels count as black.
    """
    try:
        arr = np.asarray(rgba, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"The drawing could not be read as pixels: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"The drawing has shape {arr.shape}; expected (height, width, 4).")
    arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    unit = bool(arr.size and arr.max() <= 1.0 and np.asarray(rgba).dtype.kind == "f")
    if unit:
        arr = arr * 255.0  # float canvases are usually 0-1
    arr = np.clip(arr, 0.0, 255.0)
    lum = arr[..., :3] @ _LUMA if arr.shape[2] >= 3 else arr[..., 0]
    if arr.shape[2] == 4:
        lum = lum * (arr[..., 3] / 255.0)
    return lum, unit


def _enclosed(lum: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels that strokes (brighter than FILL_LEVEL) close in all round, strokes excluded."""
    from scipy import ndimage as ndi  # only the fill needs it in this module (segment.py loads SciPy anyway)

    strokes = lum > FILL_LEVEL
    return ndi.binary_fill_holes(strokes) & ~strokes


def fill_outline(rgba: np.ndarray) -> np.ndarray:
    """A drawing with every area its strokes close in painted white: a closed outline becomes a silhouette.

    Takes canvas pixels as ``canvas_to_model_input`` does (light strokes on a dark or transparent
    background; (H, W, 4), (H, W, 3) or (H, W)) and returns an array of the same shape and dtype.
    A pixel is stroke when brighter than FILL_LEVEL; the background pixels that no path along
    other background pixels connects to the drawing's edge are set to full white (and opaque),
    stroke pixels keep their value. An outline with a gap, or one that runs off the edge, has
    nothing inside it and comes back unchanged, as does a blank canvas.
    """
    lum, unit = _canvas_luminance(rgba)
    out = np.array(rgba, copy=True)
    inside = _enclosed(lum)
    if inside.any():
        out[inside] = 1.0 if unit else 255
    return out


def canvas_to_model_input(rgba: np.ndarray, fill: bool = False) -> np.ndarray:
    """Drawing-canvas pixels (H, W, 4) uint8 (also (H, W, 3) or (H, W)) -> (28, 28) uint8.

    Strokes are light on a dark or transparent background; luminance is weighted
    by alpha, so transparent pixels count as black. Blank canvas -> zeros. With
    ``fill``, areas the strokes close in are painted white first (see ``fill_outline``).
    """
    if rgba is None:
        return np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    lum, _ = _canvas_luminance(rgba)
    if fill:
        lum = np.where(_enclosed(lum), np.float32(255.0), lum)
    return _fit(lum)


def preprocess_upload(data: bytes | BinaryIO, name: str = "image", segment_background: bool = True) -> np.ndarray:
    """Uploaded file bytes -> (28, 28) uint8 model input (ImageError if unusable); see to_model_input."""
    return to_model_input(load_image(data, name), segment_background)


def is_blank(arr28: np.ndarray) -> bool:
    """True if a (28, 28) input has no content (to_model_input gives zeros then)."""
    arr = np.asarray(arr28)
    return arr.size == 0 or not bool(np.any(arr > 0))


def upscale_for_display(arr28: np.ndarray, scale: int = 8) -> np.ndarray:
    """(H, W) uint8 -> (H*scale, W*scale) uint8, nearest neighbour so pixels stay crisp."""
    whole = isinstance(scale, (int, np.integer)) and not isinstance(scale, bool)
    if not whole or not 1 <= scale <= 64:
        msg = f"Display scale must be a whole number from 1 to 64, got {scale!r}."
        raise ImageError(msg)
    arr = np.asarray(arr28)
    if arr.ndim != 2:
        raise ImageError(f"Expected a 2-D image to enlarge, got shape {arr.shape}.")
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(arr, scale, axis=0), scale, axis=1)
