"""Weight initializers: each maps (fan_in, fan_out, rng) to a float32 matrix (fan_in, fan_out)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[int, int, np.random.Generator], np.ndarray]


def he(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming normal: keeps ReLU activations' variance constant across layers."""
    return rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform: suited to tanh and sigmoid."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """U(-0.5, 0.5), the plain scheme of many from-scratch tutorials."""
    return rng.uniform(-0.5, 0.5, (fan_in, fan_out)).astype(np.float32)


def normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """0.01 * N(0, 1), the other classic tutorial scheme (slow to start in deep nets)."""
    return rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(0.01)


INITIALIZERS: dict[str, Initializer] = {
    "he": he,
    "xavier": xavier,
    "glorot": xavier,
    "uniform": uniform,
    "normal": normal,
}
