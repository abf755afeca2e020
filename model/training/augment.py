"""Random changes to training images each time they are shown: shifts and mirror images.

A network trained on the dataset's exact framing learns that a sleeve is at one pixel and not
the next; moving each image a pixel or two, and mirroring some (clothes look alike mirrored),
shows it the same garment in slightly different places, a regulariser that costs no extra
epochs. Images stay 0-255 pixels; preprocessing comes after, as for the originals.
"""

from __future__ import annotations

import numpy as np

from model.datasets.spec import IMAGE_SIDE, N_PIXELS

_AXIS = np.arange(IMAGE_SIDE)


def shift_and_flip(pixels: np.ndarray, rng: np.random.Generator, max_shift: int, flip: bool) -> np.ndarray:
    """Images (n, 784) 0-255 -> (n, 784) of the same dtype, each moved and/or mirrored at random.

    Each image moves by dy, dx drawn uniformly from [-max_shift, max_shift] (what moves out is
    lost, what comes in is background 0) and, with ``flip``, is mirrored left-right with
    probability 1/2.
    """
    n = len(pixels)
    images = np.asarray(pixels).reshape(n, IMAGE_SIDE, IMAGE_SIDE)
    s = int(max_shift)
    padded = np.pad(images, ((0, 0), (s, s), (s, s))) if s else images
    dy = rng.integers(-s, s + 1, size=n) if s else np.zeros(n, np.int64)
    dx = rng.integers(-s, s + 1, size=n) if s else np.zeros(n, np.int64)
    cols = np.broadcast_to(_AXIS, (n, IMAGE_SIDE))
    if flip:
        mirrored = rng.random(n) < 0.5
        cols = np.where(mirrored[:, None], _AXIS[::-1], cols)
    # Output pixel (r, c) of image i is padded pixel (r + s - dy_i, col_i(c) + s - dx_i).
    rows = _AXIS[None, :] + (s - dy)[:, None]
    cols = cols + (s - dx)[:, None]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, N_PIXELS)
