"""Softmax cross-entropy, stable for any finite logits (log-sum-exp, no log(0))."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities, shape (n, classes), via the max-shifted log-sum-exp."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities, shape (n, classes); rows sum to 1 even for logits of 1e4."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=1, keepdims=True)
    return e


def cross_entropy(logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits.

    logits: (n, k) float; y: (n,) integer labels. Returns (loss, dlogits of shape (n, k)).
    With label smoothing eps the target is (1 - eps) * one_hot + eps / k.
    """
    n, k = logits.shape
    logp = log_softmax(logits)
    rows = np.arange(n)
    nll = -logp[rows, y]
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(axis=1)
    grad = np.exp(logp)
    if label_smoothing:
        grad -= label_smoothing / k
    grad[rows, y] -= 1 - label_smoothing
    grad /= n
    return float(nll.mean()), grad
