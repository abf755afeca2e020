"""Optimizers over one flat float32 parameter vector, separate from the model.

``update_params(params, grads)`` changes ``params`` in place. Working on one flat
vector (the network's weights are views into it) makes each update a handful of
vectorised passes instead of a Python loop over layers.
"""

from __future__ import annotations

import math

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
# Adam's moments of weights whose gradient is exactly 0 (dead ReLU units, blank border pixels)
# decay geometrically into subnormal floats, which the CPU computes many times slower: every
# FLUSH_EVERY steps values under TINY become exactly 0 (which stays 0), too rare to cost a pass
# and early enough that nothing reaches the subnormal range (1.2e-38) in between.
FLUSH_EVERY = 64
TINY = 1e-30


class SGD:
    """Plain SGD, or heavy-ball momentum (optionally Nesterov) when momentum > 0."""

    def __init__(self, size: int, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False):
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity = np.zeros(size, dtype=np.float32) if momentum else None
        self._tmp = np.empty(size, dtype=np.float32)

    def update_params(self, params: np.ndarray, grads: np.ndarray) -> None:
        step = np.multiply(grads, self.lr, out=self._tmp)  # lr * g
        if self.velocity is None:
            params -= step
            return
        v = self.velocity
        v *= self.momentum
        v -= step  # v = mu v - lr g
        if not self.nesterov:
            params += v
            return
        # Nesterov look-ahead: p += mu v - lr g
        params -= step
        np.multiply(v, self.momentum, out=step)
        params += step


class Adam:
    """Adam; with weight_decay > 0 it is AdamW (decay decoupled from the gradient).

    AdamW shrinks only the slices in ``decay_slices`` (the weight matrices, not
    the biases) by ``lr * weight_decay`` each step, as in Loshchilov & Hutter.
    """

    def __init__(
        self,
        size: int,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decay_slices: list[slice] | None = None,
    ):
        self.lr = lr
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay = weight_decay
        self.decay_slices = decay_slices or [slice(None)]
        self.t = 0
        self.m = np.zeros(size, dtype=np.float32)
        self.v = np.zeros(size, dtype=np.float32)
        self._tmp = np.empty(size, dtype=np.float32)
        self._tiny = np.empty(size, dtype=bool)

    def _flush_tiny(self) -> None:
        """Set moments under TINY to exactly 0, so they never become subnormal (see FLUSH_EVERY)."""
        for moment in (self.m, self.v):
            np.less(np.abs(moment, out=self._tmp), TINY, out=self._tiny)
            np.copyto(moment, 0.0, where=self._tiny)

    def update_params(self, params: np.ndarray, grads: np.ndarray) -> None:
        self.t += 1
        if self.t % FLUSH_EVERY == 0:
            self._flush_tiny()
        b1, b2, tmp = self.beta1, self.beta2, self._tmp
        if self.weight_decay:
            for s in self.decay_slices:
                params[s] *= 1.0 - self.lr * self.weight_decay
        # Moments are kept without their (1 - beta) factors, m' = m / (1 - b1) and
        # v' = v / (1 - b2), which saves two passes; the factors and Adam's bias
        # correction are folded into one step size and epsilon (Kingma & Ba, sec. 2).
        self.m *= b1
        self.m += grads
        np.square(grads, out=tmp)  # a unary pass: lighter than multiply(grads, grads)
        self.v *= b2
        self.v += tmp
        # Python floats, not np.float64: a float64 scalar would turn the float32 passes below into
        # slow casting float64 loops under NumPy 2's promotion rules.
        v_scale = math.sqrt((1 - b2) / (1 - b2**self.t))  # sqrt(v_hat) = v_scale * sqrt(v')
        step = self.lr * (1 - b1) / (1 - b1**self.t) / v_scale
        np.sqrt(self.v, out=tmp)
        tmp += self.eps / v_scale
        np.divide(self.m, tmp, out=tmp)
        tmp *= step
        params -= tmp


def make_optimizer(
    name: str,
    size: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    decay_slices: list[slice] | None = None,
) -> SGD | Adam:
    """Build an optimizer by name (one of OPTIMIZERS) for a parameter vector of ``size``."""
    if name == "sgd":
        return SGD(size, lr)
    if name in ("momentum", "nesterov"):
        return SGD(size, lr, momentum=momentum, nesterov=name == "nesterov")
    if name == "adam":
        return Adam(size, lr)
    if name == "adamw":
        return Adam(size, lr, weight_decay=weight_decay, decay_slices=decay_slices)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
