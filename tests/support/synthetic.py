"""Small stand-ins for Fashion-MNIST made in memory: learnable block images and a trousers picture."""

from __future__ import annotations

import numpy as np

from model.datasets.fashion_mnist import Dataset


def blocks(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 784) uint8 images with noise and a bright 4x8 block whose position is the label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(y):
        r, c = 2 + (label // 5) * 12, 2 + (label % 5) * 5
        x[i, r : r + 8, c : c + 4] = 230
    return x.reshape(n, 784), y


def block_images(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uint8 images (n, 784) with dim noise and a bright 8x4 block whose position is the class (shuffled)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = rng.integers(0, 80, (n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 5)
        x[i, 2 + r * 12 : 10 + r * 12, 1 + col * 5 : 5 + col * 5] = 255
    return x.reshape(n, 784), y.astype(np.int64)


def trousers(size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """(H, W) uint8: dark trousers (two legs) on a white background; taller than wide."""
    w, h = size
    arr = np.full((h, w), 255, dtype=np.uint8)
    arr[10:150, 30:90] = 20
    arr[60:150, 58:62] = 255  # the gap between the legs
    return arr


def dataset(n_train: int = 600, n_test: int = 200) -> Dataset:
    xtr, ytr = blocks(n_train, 0)
    xte, yte = blocks(n_test, 1)
    return Dataset.from_arrays(xtr, ytr, xte, yte, source="synthetic")
