"""Input preprocessing, stored with the model so training and prediction agree.

Pixels come in as 0-255 values, shape (n, 784). ``scale`` maps them to [0, 1];
``standardize`` then subtracts a per-pixel mean and divides by a per-pixel spread
fitted on the training split; ``l2`` scales each image to unit length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.datasets.spec import N_PIXELS

PREPROCESSING = ("scale", "standardize", "l2")
# Border pixels barely vary in Fashion-MNIST; dividing a drawing's ink there by a
# spread of ~0.001 would blow it up, so the spread is floored (0-1 scale).
STD_FLOOR = 0.05


@dataclass
class Preprocessor:
    kind: str = "scale"
    mean: np.ndarray | None = None  # (784,) float32, standardize only
    std: np.ndarray | None = None  # (784,) float32, standardize only

    @classmethod
    def fit(cls, kind: str, pixels: np.ndarray, std_floor: float = STD_FLOOR) -> Preprocessor:
        """Fit on training pixels (n, 784) in 0-255."""
        if kind not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {kind!r}; choose one of {', '.join(PREPROCESSING)}")
        if kind != "standardize":
            return cls(kind)
        x = pixels.astype(np.float32) / 255
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = np.maximum(x.std(axis=0, dtype=np.float64), std_floor).astype(np.float32)
        return cls(kind, mean, std)

    def transform(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Pixels (n, 784) or (n, 28, 28) in 0-255 -> float32 model inputs (n, 784), into ``out`` if given."""
        pixels = np.asarray(pixels).reshape(-1, N_PIXELS)
        if out is None:
            x = pixels.astype(np.float32)
        else:
            x = out
            np.copyto(x, pixels)
        x *= np.float32(1 / 255)
        if self.kind == "standardize":
            x -= self.mean
            x /= self.std
        elif self.kind == "l2":
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-6))
        return x

    def backprop(self, pixels: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Carry d(loss)/d(model input) (n, 784) back to d(loss)/d(pixels / 255)."""
        if self.kind == "standardize":
            return dx / self.std
        if self.kind == "l2":
            # x = u / |u|: the Jacobian removes the component along x, then divides by |u|.
            u = np.asarray(pixels, np.float64).reshape(-1, N_PIXELS) / 255
            norm = np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-6)
            x = u / norm
            return (dx - (dx * x).sum(axis=1, keepdims=True) * x) / norm
        return dx
