"""Separate a garment from a photo's background before the Fashion-MNIST recipe.

The recipe in ``images.py`` trims what is within a tolerance of the border's colour, so on a
plain background it works as is; but a gradient, a shadow or a textured surface survives
into the 28x28 input as a grey haze the network has never seen. ``segment`` finds the
background the way a person would with a "magic wand" from the edges, at most 256 px wide:

1. the background's colour is modelled from the photo's outer frame as a smooth surface
   (a quadratic in x and y per channel, fitted robustly, so a gradient or vignette is
   captured and a garment touching the frame is ignored);
2. on the smoothed photo (fine texture and JPEG noise averaged out), what is close to that
   model and connected to the frame is background for sure; from it a local background is
   interpolated (it follows blotches and uneven light), and a second flood fill with a
   tolerance set by the background's own spread gives the plain background;
3. a shadow is the background's hue, darker by a factor down to SHADOW_DARKEST, with no
   sharp edge in between: the flood goes on into such pixels, at most SHADOW_REACH far,
   never across a garment's outline (edges are widened so a one-pixel gap lets none in);
   a "shadow" bigger than the garment left over is not believed (a pale garment's folds
   look like shade) and then none is removed;
4. what is left is cleaned with morphology (opening, small parts dropped, a 1 px rim back).

The result, ``gray``, is the garment's contrast against a smooth surface fitted to the
background around it, light on black, with everything else exactly 0: what
``to_model_input`` then trims, resizes and centres. A dark garment on a lighter ground is
measured relative to the light falling where it lies (flat-field correction), so one navy
shirt reads the same at both ends of a gradient. ``plain`` says the background was plain
already (the recipe's own trim tolerance covers it and no real shadow was found), so a
caller can keep today's path unchanged for such photos; a close crop (the garment covers more
than CLOSE_CROP of the frame, as in the dataset's own images) is called plain too.
Only NumPy, Pillow and SciPy are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

WORK_SIDE = 256  # photos are analysed with their longest side at most this many px
MIN_SIDE = 64  # smaller images are icons or dataset-sized crops, not photos: left to the recipe
FRAME = 0.04  # width of the border frame the background is learnt from, share of the side
SMOOTH = 1.5  # Gaussian sigma (work px) that averages out texture and JPEG noise
MIN_TOLERANCE = 14.0  # colour distance (0-255 scale) always counted as background
NOISE_TOLERANCE = 4.0  # ...or this many times the frame's own spread around the model
SHADOW_DARKEST = 0.45  # a shadow keeps at least this share of the background's brightness
EDGE = 7.0  # grey levels per px: a sharper change is an object's edge, not a soft shadow
EDGE_SMOOTH = 1.0  # Gaussian sigma (work px) before edges are measured
SHADOW_PLAIN = 0.85  # a darker region the shadow rule took is a real shadow...
SHADOW_AREA = 0.015  # ...if it covers more than this share of the photo
SHADOW_REACH = 0.14  # a shadow extends at most this share of the side from the plain background
SHADOW_HUE = 1.0  # a shadow keeps the hue: off by at most this times the tolerance
SHADOW_SHARE = 0.5  # shadows covering more than this share of shadow + garment are not believed
PLAIN_TOLERANCE = 16.0  # images.TRIM_TOLERANCE: what today's recipe trims as background
MIN_PART = 0.15  # garment parts smaller than this share of the largest are dropped
LOCAL = 0.08  # the local background follows changes over about this share of the side
CLOSE_CROP = 0.02  # a garment covering more of the frame than this runs off the photo: not segmented
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's "L" and images.py


def _luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) -> (...) luminance (element-wise: a BLAS call for this is slow on a busy machine)."""
    return rgb[..., 0] * _LUMA[0] + rgb[..., 1] * _LUMA[1] + rgb[..., 2] * _LUMA[2]


@dataclass(frozen=True)
class Segmentation:
    """A photo split into garment and background, at the working size (h, w) <= WORK_SIDE.

    mask (h, w) bool: the garment. gray (h, w) float32 0-255: its contrast against the
    background, light on black, 0 outside the mask. plain: the background was plain already.
    background (3,) float32: the background's median colour in the frame, RGB.
    """

    mask: np.ndarray
    gray: np.ndarray
    plain: bool
    background: np.ndarray


def _to_rgb(photo: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) uint8 -> (h, w, 3) float32 at the working size.

    Transparent pixels are flattened onto white. Shrinking happens on the uint8 pixels in
    Pillow, so a big photo costs no full-size float copy.
    """
    arr = np.asarray(photo)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape:
        raise ValueError(f"expected an RGB(A) photo of shape (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 255.0).astype(np.uint8)
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        img = Image.fromarray(arr, "L").convert("RGB")
    elif arr.shape[2] == 3:
        img = Image.fromarray(arr, "RGB")
    else:
        img = Image.alpha_composite(Image.new("RGBA", arr.shape[1::-1], "white"), Image.fromarray(arr, "RGBA"))
        img = img.convert("RGB")
    w, h = img.size
    scale = WORK_SIDE / max(h, w)
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32)


def _frame_mask(h: int, w: int) -> np.ndarray:
    k = max(2, round(FRAME * min(h, w)))
    frame = np.zeros((h, w), dtype=bool)
    frame[:k], frame[-k:], frame[:, :k], frame[:, -k:] = True, True, True, True
    return frame


def _terms(rows: np.ndarray, cols: np.ndarray, h: int, w: int) -> np.ndarray:
    """(n, 6) quadratic terms 1, x, y, x^2, y^2, xy of pixels, with x, y scaled to [-1, 1]."""
    x = cols.astype(np.float64) / max(w - 1, 1) * 2 - 1
    y = rows.astype(np.float64) / max(h - 1, 1) * 2 - 1
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=-1)


def _surface(coef: np.ndarray, h: int, w: int) -> np.ndarray:
    """The fitted quadratic (6, 3) evaluated on the whole (h, w, 3) grid, by broadcasting."""
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) * 2 - 1)[None, :, None]
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) * 2 - 1)[:, None, None]
    c = np.asarray(coef, np.float32)
    return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * y * y + c[5] * (x * y)


def background_model(rgb: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, float]:
    """(h, w, 3) image and a mask of background pixels -> smooth surface (h, w, 3) and spread.

    Least squares of a quadratic per channel on (at most 8,000 of) the masked pixels,
    refitted twice without the pixels far from the fit (a garment touching the edge, a dark
    corner). The spread is the robust standard deviation of their colour distance to the
    surface: the texture and noise the background has.
    """
    h, w = rgb.shape[:2]
    idx = np.flatnonzero(where.ravel())
    if len(idx) > 8000:
        idx = idx[:: len(idx) // 8000 + 1]
    if len(idx) < 6:
        return np.broadcast_to(np.median(rgb.reshape(-1, 3), axis=0), rgb.shape).astype(np.float32), 0.0
    fa, fv = _terms(idx // w, idx % w, h, w), rgb.reshape(-1, 3)[idx].astype(np.float64)
    keep = np.ones(len(fv), dtype=bool)
    coef = np.zeros((6, 3))
    coef[0] = np.median(fv, axis=0)
    spread = 0.0
    for _ in range(3):
        if keep.sum() < 6:
            break
        a = fa[keep]
        try:  # normal equations: 6 unknowns, thousands of pixels
            coef = np.linalg.solve(a.T @ a + 1e-6 * np.eye(6), a.T @ fv[keep])
        except np.linalg.LinAlgError:
            break
        dist = np.linalg.norm(fv - fa @ coef, axis=1)
        spread = _robust_spread(dist[keep])
        keep = dist <= max(3.0 * spread + 1.0, MIN_TOLERANCE)
    return np.clip(_surface(coef, h, w), 0.0, 255.0), spread


def _largest_parts(mask: np.ndarray) -> np.ndarray:
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= MIN_PART * sizes.max()) + 1
    return np.isin(labels, keep)


def _clean(fg: np.ndarray) -> np.ndarray:
    """Foreground mask cleaned: opened (specks and threads off), small parts dropped, 1 px rim back."""
    fg = ndi.binary_opening(fg, structure=np.ones((3, 3), bool), iterations=1)
    fg = _largest_parts(fg)
    return ndi.binary_dilation(fg, iterations=1) if fg.any() else fg


def _flood(candidates: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The parts of a bool mask connected to the frame."""
    labels, _ = ndi.label(candidates)
    touching = np.unique(labels[frame & candidates])
    return np.isin(labels, touching[touching > 0])


def _local_background(smooth: np.ndarray, known: np.ndarray, model: np.ndarray, sigma: float) -> np.ndarray:
    """Background colour everywhere (h, w, 3), interpolated from the pixels known to be background.

    Normalized convolution: a Gaussian average of the known pixels only, so slow changes
    of the surface (blotches, uneven light) are followed; where no background pixel is
    near, the smooth model takes over. It is smooth by construction, so it is computed on
    a grid 4x coarser and interpolated back (16x less work than at full size).
    """
    h, w = known.shape
    k = 4 if min(h, w) >= 32 else 1
    hc, wc = -(-h // k), -(-w // k)
    pad = ((0, hc * k - h), (0, wc * k - w))
    kn = np.pad(known.astype(np.float32), pad).reshape(hc, k, wc, k).mean(axis=(1, 3))
    sums = np.pad(smooth * known[..., None], (*pad, (0, 0))).reshape(hc, k, wc, k, 3).mean(axis=(1, 3))
    weight = ndi.gaussian_filter(kn, sigma / k)
    acc = ndi.gaussian_filter(sums, sigma=(sigma / k, sigma / k, 0))
    local = acc / np.maximum(weight, 1e-6)[..., None]
    trust = np.clip(weight / 0.05, 0.0, 1.0)  # trust the average where 5% of the window is known
    coarse = np.concatenate([local, trust[..., None]], axis=2)
    if k > 1:  # back to full size (bilinear), then the padding cut off
        size = (wc * k, hc * k)
        coarse = np.stack(
            [np.asarray(Image.fromarray(coarse[..., c]).resize(size, Image.Resampling.BILINEAR)) for c in range(4)],
            axis=2,
        )[:h, :w]
    trust = coarse[..., 3:4]
    return trust * coarse[..., :3] + (1.0 - trust) * model


def _robust_spread(dist: np.ndarray) -> float:
    return 1.4826 * float(np.median(dist)) if dist.size else 0.0


def segment(photo: np.ndarray) -> Segmentation:
    """Photo (H, W, 3|4) or (H, W) uint8 -> Segmentation of the garment from its background."""
    rgb = _to_rgb(photo)
    h, w = rgb.shape[:2]
    frame = _frame_mask(h, w)
    background = np.median(rgb[frame], axis=0).astype(np.float32)
    if min(photo.shape[:2]) < MIN_SIDE:  # an icon or a dataset-sized image: leave it to the recipe
        return Segmentation(np.ones((h, w), bool), _luma(rgb), True, background)
    smooth = ndi.gaussian_filter(rgb, sigma=(SMOOTH, SMOOTH, 0))
    model, spread = background_model(smooth, frame)
    # Pass 1, cautious: only what is close to the frame's smooth model, connected to the frame.
    known = _flood(np.linalg.norm(smooth - model, axis=2) <= max(MIN_TOLERANCE, 2.0 * spread), frame)
    # Pass 2: against the background interpolated from pass 1, which follows blotches and light.
    local = _local_background(smooth, known, model, LOCAL * max(h, w))
    dist = np.linalg.norm(smooth - local, axis=2)
    tol = max(MIN_TOLERANCE, NOISE_TOLERANCE * _robust_spread(dist[known]))
    plain_bg = _flood(dist <= tol, frame)
    # A shadow scales the background's colour down by a factor r: the same hue, darker,
    # and it changes softly (no sharp edge), unlike a garment's outline.
    r = (smooth * local).sum(axis=2) / np.maximum((local * local).sum(axis=2), 1.0)
    hue_off = np.linalg.norm(smooth - r[..., None] * local, axis=2)
    shadow_like = (r >= SHADOW_DARKEST) & (r <= 1.0) & (hue_off <= SHADOW_HUE * tol)
    sharp = ndi.gaussian_filter(_luma(rgb), EDGE_SMOOTH)
    grad = np.hypot(ndi.sobel(sharp, axis=0), ndi.sobel(sharp, axis=1)) / 8.0
    # Edges are widened so a one-pixel gap in a garment's outline lets no shadow flood in,
    # and a shadow reaches at most SHADOW_REACH from the plain background; then the last
    # few pixels of shadow along the garment's edge, which the widened edges held back.
    edges = ndi.binary_dilation(grad > EDGE, iterations=2)
    reach = max(1, round(SHADOW_REACH * max(h, w)))
    shade = ndi.binary_dilation(plain_bg, iterations=reach, mask=plain_bg | (shadow_like & ~edges))
    bg = ndi.binary_dilation(shade, iterations=3, mask=shade | shadow_like)
    fg = _clean(~bg)
    # A "shadow" larger than what is left of the garment is a pale garment the flood got
    # into (its folds look like shade): then no shadow is removed at all.
    shadow_px = int((bg & ~plain_bg).sum())
    if shadow_px > SHADOW_SHARE * (shadow_px + int(fg.sum())):
        shade = bg = plain_bg
        fg = _clean(~bg)
    # Garment contrast on the unsmoothed photo, against a smooth surface fitted to the plain
    # background around it (shadows left out), so the garment gets no blotches of its own.
    # A dark garment on a lighter ground is measured as a share of the light falling there
    # (flat-field correction: the same navy shirt reads the same at both ends of a gradient),
    # scaled to the border's brightness, which on a plain background is today's contrast.
    surface, _ = background_model(smooth, plain_bg & ~ndi.binary_dilation(fg, iterations=2))
    lum_raw, lum_bg, base = _luma(rgb), _luma(surface), float(_luma(background))
    contrast = lum_raw - lum_bg
    if fg.any() and float(contrast[fg].mean()) < 0:  # dark on light: negate, as the dataset did
        contrast = base * (1.0 - lum_raw / np.maximum(lum_bg, 1.0))
    gray = np.where(fg, np.clip(contrast, 0.0, 255.0), 0.0).astype(np.float32)
    # Plain: today's recipe already removes this background exactly. The plain background
    # (away from the garment's rim) is within its trim tolerance of the border's median, and
    # no real shadow is there (a region the shadow rule took that is darker than SHADOW_PLAIN
    # of the background; lighter ones may be a pale garment's folds, which the recipe keeps).
    around = plain_bg & ~ndi.binary_dilation(fg, iterations=3)
    plain = True
    if around.any():
        off = np.abs(lum_raw[around] - base) > PLAIN_TOLERANCE
        shadowed = shade & ~plain_bg & (r < SHADOW_PLAIN)
        plain = float(off.mean()) <= 0.002 and int(shadowed.sum()) <= SHADOW_AREA * h * w
    # A close crop (a dataset image, a garment filling the photo) leaves too little of the frame
    # to learn the background from: cutting it measurably hurts, so the recipe takes it as it is.
    if float(fg[frame].mean()) > CLOSE_CROP:
        plain = True
    return Segmentation(fg, gray, plain, background)
