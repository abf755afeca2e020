"""Softmax cross-entropy, stable for any finite logits (log-sum-exp, no log(0))."""

from __future__ import annotations

import numpy as np


def _by_class(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The max-shifted logits, their exponentials and the exponentials' sums, laid out by class.

    Returns (t (k, n), e (k, n), s (n,)) for logits (n, k): a copy in float32 or wider, never the
    input; the log-probabilities are t - log(s) and the softmax e / s. With few classes, NumPy
    reduces a row of 10 values slowly (its per-row setup dominates); reducing over the first
    axis of a (k, n) array is k - 1 element-wise passes over contiguous rows, several times
    faster for a training batch.
    """
    t = np.array(logits.T, dtype=np.result_type(logits, np.float32), order="C")
    t -= t.max(axis=0)
    e = np.exp(t)
    return t, e, e.sum(axis=0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities, shape (n, classes), via the max-shifted log-sum-exp."""
    t, _, s = _by_class(logits)
    t -= np.log(s)
    return t.T


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities, shape (n, classes); rows sum to 1 even for logits of 1e4."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=1, keepdims=True)
    return e


def mean_nll(logits: np.ndarray, y: np.ndarray) -> float:
    """Plain mean cross-entropy (negative log-likelihood) of logits (n, k) for labels y (n,), no gradient.

    The data loss: what validation reports, and what training reports beside its regularised
    objective (label smoothing and the L2 penalty change the objective, not this).
    """
    logp = log_softmax(logits)
    return float(-logp[np.arange(len(y)), y].mean())


def cross_entropy(logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits.

    logits: (n, k) float; y: (n,) integer labels. Returns (loss, dlogits of shape (n, k)).
    With label smoothing eps the target is (1 - eps) * one_hot + eps / k.
    """
    n, k = logits.shape
    shifted, grad, sums = _by_class(logits)
    log_sums = np.log(sums)
    rows = np.arange(n)
    nll = log_sums - shifted[y, rows]  # -log p[y], exactly -(shifted - log_sums)[y]
    if label_smoothing:
        shifted -= log_sums  # all the log-probabilities
        nll = (1 - label_smoothing) * nll - label_smoothing * (np.add.reduce(shifted, axis=0) / k)
    grad /= sums  # the softmax, from the exponentials already taken
    if label_smoothing:
        grad -= label_smoothing / k
    grad[y, rows] -= 1 - label_smoothing
    grad /= n
    return float(nll.mean()), grad.T
