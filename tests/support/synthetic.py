"""Small stand-ins for Fashion-MNIST made in memory: learnable block images and a trousers picture."""

from __future__ import annotations

import numpy as np

from model.datasets.fashion_mnist import Dataset
from model.datasets.spec import IMAGE_SIDE, N_PIXELS


def blocks(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n learnable stand-in images: (n, 784) uint8 and labels (n,) int64 in a seeded order.

    Dim noise with one bright 8x4 block whose position (2 rows of 5) is the class: a small
    network learns it in a few epochs, far above chance (10%).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = rng.integers(0, 80, (n, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 5)
        x[i, 2 + r * 12 : 10 + r * 12, 1 + col * 5 : 5 + col * 5] = 255
    return x.reshape(n, N_PIXELS), y.astype(np.int64)


def trousers(size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """(H, W) uint8: dark trousers (two legs) on a white background; taller than wide."""
    w, h = size
    arr = np.full((h, w), 255, dtype=np.uint8)
    arr[10:150, 30:90] = 20
    arr[60:150, 58:62] = 255  # the gap between the legs
    return arr


def dataset(n_train: int = 600, n_test: int = 200) -> Dataset:
    """A tiny in-memory Dataset of block images (different seeds for training and test)."""
    xtr, ytr = blocks(n_train, 0)
    xte, yte = blocks(n_test, 1)
    return Dataset.from_arrays(xtr, ytr, xte, yte, source="synthetic")
