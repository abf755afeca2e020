"""Seeded, class-stratified splits and subsets of a labelled set (indices, never copies of the data)."""

from __future__ import annotations

import numpy as np

from model.errors import ConfigError


def _stratified_pick(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of k items, each class getting a share proportional to its size."""
    n = len(y)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = counts * (k / n)
    quota = np.floor(exact).astype(np.int64)
    # Largest-remainder rounding so the total is exactly k; random tie-break stays seeded.
    short = k - int(quota.sum())
    order = np.lexsort((rng.random(len(counts)), -(exact - quota)))
    quota[order[:short]] += 1
    picks = [rng.permutation(np.flatnonzero(inverse == c))[:q] for c, q in enumerate(quota)]
    return np.sort(np.concatenate(picks))


def stratified_split(y: np.ndarray, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split of indices 0..n-1 -> (train_idx, val_idx), both sorted int64.

    The validation set has round(n * val_fraction) items; val_fraction 0 gives an empty one.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"The validation fraction must be at least 0 and below 1, not {val_fraction}.")
    y = np.asarray(y).reshape(-1)
    val = _stratified_pick(y, round(len(y) * val_fraction), np.random.default_rng(seed))
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep), val.astype(np.int64)


def subset(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-balanced sample of n items: (x[idx], y[idx]) in original order (copies)."""
    if n < 0:
        raise ConfigError(f"The subset size must be 0 or more, not {n}.")
    idx = _stratified_pick(np.asarray(y).reshape(-1), n, np.random.default_rng(seed))
    return x[idx], y[idx]
