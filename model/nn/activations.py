"""Hidden-layer activations as a table of (function, derivative) pairs.

Each ``forward(z, out)`` writes f(z) into ``out`` (shape (batch, units)); each
``derivative(z, a)`` returns f'(z) given the pre-activation ``z`` and ``a = f(z)``,
so backprop can reuse whichever is cheaper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01
_GELU_C = np.float32(np.sqrt(2.0 / np.pi))


class Activation(NamedTuple):
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=out)


def _relu_deriv(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return z > 0  # bool multiplies cheaply in place


def _leaky_relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.multiply(z, LEAKY_SLOPE, out=out)
    return np.maximum(z, out, out=out)


def _leaky_relu_deriv(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.where(z > 0, np.float32(1), np.float32(LEAKY_SLOPE))


def _sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) never overflows, unlike 1 / (1 + exp(-z)).
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def _sigmoid_deriv(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return a * (1 - a)


def _tanh(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=out)


def _tanh_deriv(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return 1 - a * a


def _gelu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # The tanh approximation of GELU (Hendrycks & Gimpel), as in GPT-2.
    np.tanh(_GELU_C * (z + 0.044715 * z**3), out=out)
    out += 1
    out *= 0.5 * z
    return out


def _gelu_deriv(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    t = np.tanh(_GELU_C * (z + 0.044715 * z**3))
    dt = (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)
    return 0.5 * (1 + t) + 0.5 * z * dt


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(_relu, _relu_deriv),
    "leaky_relu": Activation(_leaky_relu, _leaky_relu_deriv),
    "gelu": Activation(_gelu, _gelu_deriv),
    "sigmoid": Activation(_sigmoid, _sigmoid_deriv),
    "tanh": Activation(_tanh, _tanh_deriv),
}
