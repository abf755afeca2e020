"""Optimizer details the reference comparisons in test_network.py do not reach."""

import numpy as np

from model.nn.optimizers import Adam


def test_adam_moments_never_become_subnormal():
    """Weights whose gradient is exactly 0 (dead units) must not leave subnormal floats in m and v."""
    opt = Adam(4, lr=1e-3)
    params = np.zeros(4, np.float32)
    grads = np.array([1e-3, 1e-3, 1e-3, 1e-3], np.float32)
    opt.update_params(params, grads)
    grads[:2] = 0.0  # two weights stop getting any gradient
    tiny = np.finfo(np.float32).tiny  # the smallest normal float32
    for _ in range(3000):  # 0.9 ** 3000 would take m far below the normal range
        opt.update_params(params, grads)
        for moment in (opt.m, opt.v):
            assert not ((moment != 0) & (np.abs(moment) < tiny)).any()
    assert (opt.m[:2] == 0).all() and (opt.m[2:] > 0).all()
