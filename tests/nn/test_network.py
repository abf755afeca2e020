"""Tests for the numerical core: activations, losses, network gradients, optimizers, schedules,
initializers and preprocessing. Gradients are checked against central differences in float64;
optimizers against textbook reference implementations written here.
"""

from __future__ import annotations

import math
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pytest

from model.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from model.nn.initializers import INITIALIZERS, he, normal, uniform, xavier
from model.nn.losses import cross_entropy, log_softmax, softmax
from model.nn.network import MLP
from model.nn.optimizers import OPTIMIZERS, SGD, Adam, make_optimizer
from model.nn.preprocessing import STD_FLOOR, Preprocessor
from model.nn.schedules import learning_rate

ACTS = sorted(ACTIVATIONS)
# Overflow, division by zero and invalid operations are errors; underflow of exp(-huge) to 0 is
# the correct, intended result of a max-shifted softmax and is not.
STRICT_FP = {"over": "raise", "divide": "raise", "invalid": "raise", "under": "ignore"}


pytestmark = pytest.mark.usefixtures("one_blas_thread")


# ----- activations ---------------------------------------------------------------


def _act_forward(name: str, z: np.ndarray) -> np.ndarray:
    return ACTIVATIONS[name].forward(z, np.empty_like(z))


REFERENCE_ACTS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "gelu": lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
}


def test_reference_table_covers_every_activation():
    assert set(REFERENCE_ACTS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTS)
def test_activation_forward_matches_reference(name):
    z = np.concatenate([np.linspace(-8, 8, 161), [-30.0, -1e-3, 1e-3, 30.0]])
    with np.errstate(over="ignore"):  # the naive reference sigmoid may overflow in exp(-z)
        expected = REFERENCE_ACTS[name](z)
    # GELU's sqrt(2/pi) is stored as float32 (~3e-8 off), which shows absolutely in its left tail.
    atol = 1e-9 if name == "gelu" else 1e-12
    np.testing.assert_allclose(_act_forward(name, z.copy()), expected, rtol=2e-7, atol=atol)


@pytest.mark.parametrize("name", ACTS)
def test_activation_forward_writes_into_out_and_keeps_z(name):
    z = np.linspace(-3, 3, 12).reshape(3, 4)
    z_before = z.copy()
    out = np.full_like(z, np.nan)
    result = ACTIVATIONS[name].forward(z, out)
    assert np.shares_memory(result, out)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(z, z_before)


@pytest.mark.parametrize("name", ACTS)
def test_activation_derivative_matches_numerical_derivative(name):
    # Near 0 (but not on relu's kink), moderate, and large |z| where sigmoid/tanh saturate.
    z = np.array(
        [-60.0, -30.0, -12.0, -5.0, -2.0, -1.0, -0.3, -1e-2, -1e-3, 1e-3, 1e-2, 0.3, 1.0, 2.0, 5.0, 12.0, 30.0, 60.0]
    )
    z = np.concatenate([z, np.random.default_rng(0).normal(0, 3, 200)])
    z = z[np.abs(z) > 1e-4].reshape(1, -1)
    h = 1e-6
    numerical = (_act_forward(name, z + h) - _act_forward(name, z - h)) / (2 * h)
    a = _act_forward(name, z)
    analytic = np.asarray(ACTIVATIONS[name].derivative(z, a), dtype=np.float64)
    assert analytic.shape == z.shape
    np.testing.assert_allclose(analytic, numerical, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_finite_without_warnings_at_huge_inputs(name, dtype):
    z = np.array([[-1e4, -1e3, -88.0, -20.0, 0.0, 20.0, 88.0, 1e3, 1e4]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(**STRICT_FP):
        warnings.simplefilter("error")
        a = _act_forward(name, z)
        d = np.asarray(ACTIVATIONS[name].derivative(z, a))
    assert a.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(d).all()
    assert d.shape == z.shape
    # Saturation: derivatives vanish (or stay at the linear slope) far from 0.
    expected_right = {"relu": 1, "leaky_relu": 1, "gelu": 1, "sigmoid": 0, "tanh": 0}[name]
    expected_left = {"relu": 0, "leaky_relu": LEAKY_SLOPE, "gelu": 0, "sigmoid": 0, "tanh": 0}[name]
    np.testing.assert_allclose(float(d[0, -1]), expected_right, atol=1e-6)
    np.testing.assert_allclose(float(d[0, 0]), expected_left, atol=1e-6)


def test_activation_special_values():
    z = np.array([[-2.0, 0.0, 2.0]])
    np.testing.assert_allclose(_act_forward("relu", z), [[0, 0, 2]])
    np.testing.assert_allclose(_act_forward("leaky_relu", z), [[-2 * LEAKY_SLOPE, 0, 2]])
    np.testing.assert_allclose(_act_forward("sigmoid", z)[0, 1], 0.5)
    np.testing.assert_allclose(_act_forward("gelu", z)[0, 1], 0.0)
    np.testing.assert_allclose(_act_forward("sigmoid", z)[0, 0] + _act_forward("sigmoid", z)[0, 2], 1.0)


# ----- losses ----------------------------------------------------------------------


def _reference_cross_entropy(logits: np.ndarray, y: np.ndarray, eps: float) -> tuple[float, np.ndarray]:
    """Direct float64 formula without any shifting: only for moderate logits."""
    logits = logits.astype(np.float64)
    n, k = logits.shape
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    q = np.full((n, k), eps / k)
    q[np.arange(n), y] += 1 - eps
    loss = -(q * np.log(p)).sum(axis=1).mean()
    return float(loss), (p - q) / n


HUGE_LOGITS = np.array(
    [
        [1e4, -1e4, 0, 0, 0, 0, 0, 0, 0, 0],
        [-1e4] * 10,
        [1e4] * 10,
        [1e4, 1e4 - 1, -1e4, 5, 3, 1, 0, 0, 0, -2],
        [-1e4, -1e4 + 2, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4],
    ]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_stable_for_huge_logits(dtype):
    logits = HUGE_LOGITS.astype(dtype)
    with warnings.catch_warnings(), np.errstate(**STRICT_FP):
        warnings.simplefilter("error")
        p = softmax(logits)
        logp = log_softmax(logits)
    assert np.isfinite(p).all() and np.isfinite(logp).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert (p >= 0).all() and (logp <= 0).all()
    np.testing.assert_allclose(p[0], np.eye(10)[0], atol=1e-6)
    np.testing.assert_allclose(p[1], 0.1, rtol=1e-6)
    np.testing.assert_allclose(p[2], 0.1, rtol=1e-6)
    np.testing.assert_allclose(logp[1], math.log(0.1), rtol=1e-6)
    # Row 0: log p = logits - 1e4 - log(1 + 8 e^-1e4 + ...) = logits - 1e4.
    np.testing.assert_allclose(logp[0], HUGE_LOGITS[0] - 1e4, rtol=1e-6)
    # Row 3: only the first two logits matter: p0 = 1/(1+e^-1), p1 = e^-1/(1+e^-1).
    np.testing.assert_allclose(p[3, :2], [1 / (1 + math.e**-1), 1 / (1 + math.e)], rtol=1e-6)
    np.testing.assert_allclose(logp[3, 1], -1 - math.log1p(math.e**-1), rtol=1e-6)
    # Row 4: logit 1 is 2 above nine equal others.
    expected = math.exp(2) / (math.exp(2) + 9)
    np.testing.assert_allclose(p[4, 1], expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cross_entropy_stable_for_huge_logits(dtype, eps):
    logits = HUGE_LOGITS.astype(dtype)
    y = np.array([1, 0, 9, 2, 1])
    with warnings.catch_warnings(), np.errstate(**STRICT_FP):
        warnings.simplefilter("error")
        loss, grad = cross_entropy(logits, y, eps)
    assert isinstance(loss, float) and math.isfinite(loss)
    assert np.isfinite(grad).all() and grad.shape == logits.shape
    # Gradient rows of softmax cross-entropy sum to 0 (p and the target both sum to 1).
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)
    # Row 0, label 1: nll = 2e4 exactly; row 1: ln 10; row 2: ln 10; row 3 label 2: ~2e4; row 4 label 1: small.
    logp = log_softmax(HUGE_LOGITS)
    q = np.full((5, 10), eps / 10)
    q[np.arange(5), y] += 1 - eps
    expected = float(-(q * logp).sum(axis=1).mean())
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert loss > 5000  # dominated by rows 0 and 3


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2, 0.5])
def test_cross_entropy_matches_direct_float64_reference(eps):
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (16, 10))
    y = rng.integers(0, 10, 16)
    loss, grad = cross_entropy(logits, y, eps)
    ref_loss, ref_grad = _reference_cross_entropy(logits, y, eps)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(softmax(logits), np.exp(log_softmax(logits)), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 128])
def test_cross_entropy_keeps_float32_and_leaves_its_input_alone(n):
    """One row (whose transpose is already contiguous) and a training batch: a copy is always made."""
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 3, (n, 10)).astype(np.float32)
    y = rng.integers(0, 10, n)
    before = logits.copy()
    loss, grad = cross_entropy(logits, y, 0.1)
    np.testing.assert_array_equal(logits, before)
    assert grad.dtype == np.float32 and grad.shape == (n, 10)
    ref_loss, ref_grad = _reference_cross_entropy(logits, y, 0.1)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-8)
    assert log_softmax(logits).dtype == np.float32
    np.testing.assert_array_equal(logits, before)
    int_loss, _ = cross_entropy(np.zeros((2, 10), np.int64), np.array([1, 2]))
    np.testing.assert_allclose(int_loss, math.log(10))


@pytest.mark.parametrize("eps", [0.0, 0.15])
def test_cross_entropy_gradient_is_derivative_of_loss(eps):
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (5, 7))
    y = rng.integers(0, 7, 5)
    _, grad = cross_entropy(logits, y, eps)
    h = 1e-6
    num = np.zeros_like(logits)
    for idx in np.ndindex(*logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += h
        down[idx] -= h
        num[idx] = (cross_entropy(up, y, eps)[0] - cross_entropy(down, y, eps)[0]) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_cross_entropy_known_values_and_no_input_mutation():
    logits = np.zeros((2, 10))
    before = logits.copy()
    loss, grad = cross_entropy(logits, np.array([3, 7]))
    np.testing.assert_allclose(loss, math.log(10))
    np.testing.assert_allclose(grad[0, 3], (0.1 - 1) / 2)
    np.testing.assert_allclose(grad[0, 0], 0.1 / 2)
    np.testing.assert_array_equal(logits, before)
    # Perfect confidence in the right class costs ~0; smoothing adds a floor.
    sharp = np.full((1, 10), -50.0)
    sharp[0, 2] = 50.0
    assert cross_entropy(sharp, np.array([2]))[0] < 1e-30
    smoothed = cross_entropy(sharp, np.array([2]), 0.1)[0]
    np.testing.assert_allclose(smoothed, 0.1 * 9 / 10 * 100, rtol=1e-9)


# ----- network gradients ------------------------------------------------------------


def _gradient_check(net: MLP, x, y, n_check_per_layer: int | None = None, rng=None, **kw):
    """Compare backward's grads with central differences of loss_and_grad's loss."""
    seed = kw.pop("mask_seed", None)

    def loss_at() -> float:
        extra = dict(kw)
        if seed is not None:
            extra["rng"] = np.random.default_rng(seed)  # the same dropout masks each call
        return net.loss_and_grad(x, y, **extra)[0]

    loss_at()
    analytic = net.grads.copy()
    idx = []
    for w_slice, b in zip(net.weight_slices, net.b, strict=True):
        layer = np.arange(w_slice.start, w_slice.stop + b.size)
        if n_check_per_layer is not None and len(layer) > n_check_per_layer:
            layer = rng.choice(layer, n_check_per_layer, replace=False)
        idx.extend(layer.tolist())
    h = 1e-6
    numeric = np.empty(len(idx))
    for j, k in enumerate(idx):
        old = net.params[k]
        net.params[k] = old + h
        up = loss_at()
        net.params[k] = old - h
        down = loss_at()
        net.params[k] = old
        numeric[j] = (up - down) / (2 * h)
    assert np.abs(analytic[idx]).max() > 1e-4, "degenerate check: all gradients ~0"
    np.testing.assert_allclose(analytic[idx], numeric, rtol=1e-5, atol=1e-8)


REG = [(0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (0.03, 0.25)]


@pytest.mark.parametrize("l2,smoothing", REG, ids=[f"l2={a},ls={b}" for a, b in REG])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes", [[7, 5, 10], [7, 5, 4, 10]], ids=["1hidden", "2hidden"])
def test_loss_and_grad_matches_numerical_gradient(sizes, act, l2, smoothing):
    rng = np.random.default_rng([ACTS.index(act), len(sizes)])
    net = MLP(sizes, [act] * (len(sizes) - 2), init="xavier", rng=rng, dtype=np.float64)
    net.params += rng.normal(0, 0.3, net.params.shape)  # non-zero biases too
    x = rng.normal(0, 1.0, (6, sizes[0]))
    y = rng.integers(0, sizes[-1], 6)
    _gradient_check(net, x, y, l2=l2, label_smoothing=smoothing)


@pytest.mark.parametrize("acts", [["tanh", "relu"], ["gelu", "sigmoid"], ["leaky_relu", "gelu"]])
def test_gradient_check_mixed_activations(acts):
    rng = np.random.default_rng(11)
    net = MLP([6, 5, 4, 3], acts, init="he", rng=rng, dtype=np.float64)
    net.params += rng.normal(0, 0.2, net.params.shape)
    x = rng.normal(0, 1, (5, 6))
    _gradient_check(net, x, rng.integers(0, 3, 5), l2=0.02, label_smoothing=0.1)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_gradient_check_with_fixed_dropout_masks(act):
    # With the same rng seed each call the dropout masks repeat, so the check is exact.
    rng = np.random.default_rng(12)
    net = MLP([8, 6, 5, 10], [act, act], init="xavier", rng=rng, dtype=np.float64)
    net.params += rng.normal(0, 0.3, net.params.shape)
    x = rng.normal(0, 1, (7, 8))
    _gradient_check(net, x, rng.integers(0, 10, 7), mask_seed=99, dropout=0.3, input_dropout=0.2, l2=0.01)


@pytest.mark.parametrize("act", ACTS)
def test_gradient_check_full_size_input_layer_subset(act):
    rng = np.random.default_rng(13)
    net = MLP([784, 12, 10], [act], init="he", rng=rng, dtype=np.float64)
    net.params += rng.normal(0, 0.05, net.params.shape)
    x = rng.random((8, 784))
    _gradient_check(net, x, rng.integers(0, 10, 8), n_check_per_layer=50, rng=rng, l2=0.01, label_smoothing=0.1)


def test_training_passes_reusing_buffers_match_a_fresh_network_at_every_batch_size():
    """Batches of alternating sizes through one network (its buffers reused) against a fresh copy each time."""
    rng = np.random.default_rng(14)
    net = MLP([30, 16, 12, 10], ["relu", "tanh"], rng=rng)
    opt = make_optimizer("adamw", net.n_params, 1e-2, weight_decay=0.01, decay_slices=net.weight_slices)
    x = rng.random((64, 30), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    earlier = []
    for step, n in enumerate([32, 7, 32, 7, 64, 32]):
        xb, yb = x[:n], y[:n]
        kw = dict(l2=0.01, label_smoothing=0.1, dropout=0.25, input_dropout=0.1)
        fresh = net.copy()
        loss, logits = net.loss_and_grad(xb, yb, rng=np.random.default_rng(step), **kw)
        ref_loss, ref_logits = fresh.loss_and_grad(xb, yb, rng=np.random.default_rng(step), **kw)
        assert loss == ref_loss
        np.testing.assert_array_equal(logits, ref_logits)
        np.testing.assert_array_equal(net.grads, fresh.grads)
        earlier.append((logits, logits.copy()))
        opt.update_params(net.params, net.grads)
    for logits, saved in earlier:  # returned logits are the caller's: later batches do not overwrite them
        np.testing.assert_array_equal(logits, saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_matches_the_textbook_masks(dtype):
    """Inverted dropout: keep where a float32 uniform >= rate, scale kept units by 1 / (1 - rate)."""
    rng = np.random.default_rng(15)
    net = MLP([20, 40, 10], ["relu"], rng=rng, dtype=dtype)
    x = rng.random((50, 20)).astype(dtype)
    p_in, p_hid = 0.2, 0.5
    logits = net.forward(x, train=True, rng=np.random.default_rng(3), dropout=p_hid, input_dropout=p_in)
    draws = np.random.default_rng(3)
    keep_in = draws.random(x.shape, dtype=np.float32) >= p_in
    x_in = x * keep_in / (1 - p_in)
    h = np.maximum(x_in @ net.W[0] + net.b[0], 0)
    keep_hid = draws.random(h.shape, dtype=np.float32) >= p_hid
    np.testing.assert_allclose(logits, (h * keep_hid / (1 - p_hid)) @ net.W[1] + net.b[1], rtol=1e-5, atol=1e-6)
    assert 0.15 < 1 - keep_in.mean() < 0.25 and 0.45 < 1 - keep_hid.mean() < 0.55
    # Backward: the same masks and scales carry the error back (checked on the first layer's weights).
    d2 = rng.normal(size=(50, 10)).astype(dtype)
    net.backward(d2)
    d1 = (d2 @ net.W[1].T) * keep_hid / (1 - p_hid) * (x_in @ net.W[0] + net.b[0] > 0)
    np.testing.assert_allclose(net.gW[0], x_in.T @ d1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.gb[0], d1.sum(axis=0), rtol=1e-4, atol=1e-5)


def test_l2_term_in_loss_is_half_l2_times_squared_weights_only():
    rng = np.random.default_rng(5)
    net = MLP([4, 3, 10], ["tanh"], rng=rng, dtype=np.float64)
    net.b[0][...] = 5.0  # biases must not count
    x, y = rng.normal(size=(3, 4)), np.array([0, 1, 2])
    plain = net.loss_and_grad(x, y)[0]
    reg = net.loss_and_grad(x, y, l2=0.2)[0]
    expected = 0.1 * sum(float((W**2).sum()) for W in net.W)
    np.testing.assert_allclose(reg - plain, expected, rtol=1e-12)


def test_forward_shapes_views_and_copy_independence():
    net = MLP([784, 16, 8, 10], ["relu", "gelu"], rng=np.random.default_rng(0))
    assert net.n_params == 784 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert net.params.dtype == np.float32
    for W, b in zip(net.W, net.b, strict=True):
        assert np.shares_memory(W, net.params) and np.shares_memory(b, net.params)
    pixels = np.random.default_rng(1).integers(0, 256, (5, 28, 28))
    p = net.predict_proba(pixels)
    assert p.shape == (5, 10) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(pixels), net.logits(pixels).argmax(axis=1))
    assert net.hidden_activations(pixels).shape == (5, 8)
    assert net.hidden_activations(pixels, 0).shape == (5, 16)
    before = net.params.copy()
    clone = net.copy()
    net.params += 1.0
    np.testing.assert_array_equal(clone.params, before)
    np.testing.assert_array_equal(clone.W[1], before[net.weight_slices[1]].reshape(16, 8))
    np.testing.assert_allclose(clone.predict_proba(pixels), p)
    for W, b in zip(clone.W, clone.b, strict=True):
        assert np.shares_memory(W, clone.params) and np.shares_memory(b, clone.params)


def test_a_pickled_network_keeps_its_layers_as_views_of_one_vector():
    """Networks travel between processes (the app's training workers): the views must survive."""
    net = MLP([784, 16, 10], ["relu"], rng=np.random.default_rng(0))
    pixels = np.random.default_rng(1).integers(0, 256, (3, 784))
    moved = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(moved.predict_proba(pixels), net.predict_proba(pixels))
    for W, b, gW in zip(moved.W, moved.b, moved.gW, strict=True):
        assert np.shares_memory(W, moved.params) and np.shares_memory(b, moved.params)
        assert np.shares_memory(gW, moved.grads)
    moved.params[:] = 0  # an update of the flat vector is an update of every layer
    assert not moved.W[0].any() and not moved.b[1].any()


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        MLP([784, 10, 10], ["relu", "relu"])
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([784, 10, 10], ["swish"])
    with pytest.raises(ValueError, match="unknown initializer"):
        MLP([784, 10, 10], ["relu"], init="zeros")


# ----- input gradient (saliency) ----------------------------------------------------


def _numerical_input_gradient(net: MLP, pixels: np.ndarray, target: np.ndarray, idx: np.ndarray, h: float):
    """d predict_proba[target] / d (pixels / 255) by central differences on chosen pixels."""
    rows = np.arange(len(pixels))
    out = np.empty((len(pixels), len(idx)))
    for j, k in enumerate(idx):
        up, down = pixels.copy(), pixels.copy()
        up[:, k] += h * 255
        down[:, k] -= h * 255
        diff = net.predict_proba(up)[rows, target].astype(np.float64) - net.predict_proba(down)[rows, target]
        out[:, j] = diff / (2 * h)
    return out


def _saliency_net(kind: str, act: str = "tanh") -> tuple[MLP, np.ndarray]:
    rng = np.random.default_rng(21)
    train = rng.integers(0, 256, (64, 784))
    train[:, :30] = 9  # constant columns: std floored
    pre = Preprocessor.fit(kind, train)
    net = MLP([784, 12, 10], [act], init="xavier", rng=rng, preprocessor=pre, dtype=np.float64)
    net.b[1][...] = rng.normal(0, 1, 10)
    pixels = rng.integers(0, 256, (3, 784)).astype(np.float64)
    return net, pixels


@pytest.mark.parametrize("kind", ["scale", "standardize"])
@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_input_gradient_matches_numerical(kind, act):
    net, pixels = _saliency_net(kind, act)
    rng = np.random.default_rng(0)
    idx = np.concatenate([np.arange(5), 30 + rng.choice(754, 25, replace=False)])  # floored and normal pixels
    target = np.array([3, 0, 9])
    grad = net.input_gradient(pixels, target=target)
    assert grad.shape == (3, 784) and grad.dtype == np.float32
    numeric = _numerical_input_gradient(net, pixels, target, idx, h=1e-2)
    scale = np.abs(grad[:, idx]).max()
    assert scale > 1e-4
    np.testing.assert_allclose(grad[:, idx], numeric, rtol=1e-2, atol=2e-3 * scale)


def test_input_gradient_defaults_to_predicted_class_and_keeps_state():
    net, pixels = _saliency_net("standardize")
    net.grads[...] = 7.0
    grads_before = net.grads.copy()
    params_before = net.params.copy()
    pred = net.predict(pixels)
    np.testing.assert_array_equal(net.input_gradient(pixels), net.input_gradient(pixels, target=pred))
    np.testing.assert_array_equal(net.input_gradient(pixels, target=4), net.input_gradient(pixels, target=[4, 4, 4]))
    np.testing.assert_array_equal(net.grads, grads_before)
    np.testing.assert_array_equal(net.params, params_before)


def test_proba_and_saliency_is_predict_proba_and_input_gradient_in_one_pass():
    net, pixels = _saliency_net("standardize")
    proba, grad = net.proba_and_saliency(pixels)
    np.testing.assert_allclose(proba, net.predict_proba(pixels), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(grad, net.input_gradient(pixels))
    net.params[:] = np.nan  # overflowed weights: probabilities that are not numbers, no saliency
    with np.errstate(all="ignore"):
        proba, grad = net.proba_and_saliency(pixels)
    assert grad is None and not np.isfinite(proba).all()


def test_input_gradient_serves_many_threads_at_once():
    # One shared model answers many sessions: saliency maps computed concurrently are the serial ones.
    net, _ = _saliency_net("standardize")
    images = [np.random.default_rng(i).integers(0, 256, (1, 784)).astype(np.float64) for i in range(16)]
    expected = [net.input_gradient(im) for im in images]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            got = list(pool.map(net.input_gradient, images))
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)


def test_input_gradient_matches_numerical_for_l2_preprocessing():
    net, pixels = _saliency_net("l2")
    idx = np.arange(30, 60)
    target = np.array([1, 2, 3])
    grad = net.input_gradient(pixels, target=target)
    numeric = _numerical_input_gradient(net, pixels, target, idx, h=1e-2)
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(grad[:, idx], numeric, rtol=1e-2, atol=2e-3 * scale)


# ----- optimizers ---------------------------------------------------------------------


class RefSGD:
    """Textbook SGD / heavy-ball momentum / Nesterov (Sutskever et al. 2013 form), float64."""

    def __init__(self, size, momentum=0.0, nesterov=False):
        self.mu, self.nesterov = momentum, nesterov
        self.v = np.zeros(size)

    def step(self, p, g, lr):
        if not self.mu:
            return p - lr * g
        self.v = self.mu * self.v - lr * g
        return p + (self.mu * self.v - lr * g if self.nesterov else self.v)


class RefAdamW:
    """Textbook Adam (Kingma & Ba, Alg. 1) with decoupled weight decay (Loshchilov & Hutter), float64."""

    def __init__(self, size, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decay_mask=None):
        self.b1, self.b2, self.eps, self.wd = beta1, beta2, eps, weight_decay
        self.mask = np.ones(size, bool) if decay_mask is None else decay_mask
        self.m, self.v, self.t = np.zeros(size), np.zeros(size), 0

    def step(self, p, g, lr):
        self.t += 1
        p = p - lr * self.wd * p * self.mask
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return p - lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _random_grads(rng, size, steps):
    # Mixed magnitudes (1e-9 .. 10) so that epsilon matters for some entries; some exact zeros.
    scale = 10.0 ** rng.uniform(-9, 1, size)
    grads = rng.normal(0, 1, (steps, size)) * scale
    grads[:, :5] = 0.0
    grads[rng.random((steps, size)) < 0.05] = 0.0
    return grads.astype(np.float32)


def _lr_at(step: int, base: float) -> float:
    return base * (0.5 + 0.5 * math.cos(step / 7))  # varies, as under a schedule


@pytest.mark.parametrize(
    "momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.5, True)], ids=["sgd", "mom", "nest", "nest.5"]
)
def test_sgd_matches_reference(momentum, nesterov):
    rng = np.random.default_rng(7)
    size, steps = 300, 40
    opt = SGD(size, lr=0.1, momentum=momentum, nesterov=nesterov)
    ref = RefSGD(size, momentum, nesterov)
    params = rng.normal(0, 1, size)  # float64 params: the engine's float32 step is exactly visible
    p_ref = params.copy()
    for t, g in enumerate(_random_grads(rng, size, steps)):
        opt.lr = _lr_at(t, 0.1)
        before = params.copy()
        opt.update_params(params, g)
        p_ref = ref.step(before, g.astype(np.float64), opt.lr)  # re-anchor on the engine's params
        delta, ref_delta = params - before, p_ref - before
        assert np.linalg.norm(delta - ref_delta) <= 1e-6 * np.linalg.norm(ref_delta)
        # Element-wise, float32 cancellation in v = mu v - lr g is bounded by the step's scale.
        np.testing.assert_allclose(delta, ref_delta, rtol=1e-5, atol=1e-6 * np.abs(ref_delta).max())


@pytest.mark.parametrize("weight_decay", [0.0, 0.01, 0.3])
@pytest.mark.parametrize("lr", [1e-3, 0.05])
def test_adam_and_adamw_match_reference(weight_decay, lr):
    rng = np.random.default_rng(8)
    size, steps = 500, 150  # past two of Adam's flushes of tiny moments (every FLUSH_EVERY = 64 steps)
    slices = [slice(0, 200), slice(260, 450)]
    mask = np.zeros(size, bool)
    for s in slices:
        mask[s] = True
    opt = Adam(size, lr=lr, weight_decay=weight_decay, decay_slices=slices)
    ref = RefAdamW(size, weight_decay=weight_decay, decay_mask=mask)
    params = rng.normal(0, 1, size)
    start = params.copy()
    p_ref = params.copy()
    for t, g in enumerate(_random_grads(rng, size, steps)):
        opt.lr = _lr_at(t, lr)
        opt.update_params(params, g)
        p_ref = ref.step(p_ref, g.astype(np.float64), opt.lr)
        # The parameters track the reference to ~1e-6 relative (float32 moments).
        denom = np.linalg.norm(p_ref)
        assert np.linalg.norm(params - p_ref) <= 1e-6 * denom, f"step {t + 1}"
    # The total movement of each coordinate agrees too, relative to how far it moved.
    moved = p_ref - start
    big = np.abs(moved) > 1e-2 * np.abs(moved).max()
    np.testing.assert_allclose((params - start)[big], moved[big], rtol=1e-4)
    assert opt.t == steps


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_single_steps_match_reference_relative_to_step_size(weight_decay):
    """Stricter than tracking params: compare each step's update vector itself to ~1e-6 relative."""
    rng = np.random.default_rng(9)
    size, steps = 400, 140  # past two of Adam's flushes of tiny moments
    opt = Adam(size, lr=0.01, weight_decay=weight_decay)
    ref = RefAdamW(size, weight_decay=weight_decay)
    params = rng.normal(0, 1, size)
    for t, g in enumerate(_random_grads(rng, size, steps)):
        before = params.copy()
        opt.update_params(params, g)
        expected = ref.step(before, g.astype(np.float64), opt.lr)  # moments evolve in the reference
        delta, ref_delta = params - before, expected - before
        assert np.linalg.norm(delta - ref_delta) <= 1e-6 * np.linalg.norm(ref_delta), f"step {t + 1}"
        np.testing.assert_allclose(delta, ref_delta, rtol=1e-5, atol=1e-6 * np.abs(ref_delta).max())


def test_adam_first_step_is_lr_times_sign_for_large_gradients():
    opt = Adam(4, lr=0.01)
    params = np.zeros(4)
    opt.update_params(params, np.array([3.0, -0.5, 1e-3, 0.0], np.float32))
    np.testing.assert_allclose(params[:3], [-0.01, 0.01, -0.01], rtol=1e-4)
    assert params[3] == 0.0


def test_adamw_decays_only_decay_slices():
    net = MLP([5, 4, 3], ["relu"], rng=np.random.default_rng(0))
    net.b[0][...] = 1.0
    net.b[1][...] = -2.0
    opt = make_optimizer("adamw", net.n_params, 0.1, weight_decay=0.5, decay_slices=net.weight_slices)
    W0 = [W.copy() for W in net.W]
    for _ in range(3):
        opt.update_params(net.params, np.zeros_like(net.params))  # no gradient: only decay acts
    for W, w0 in zip(net.W, W0, strict=True):
        np.testing.assert_allclose(W, w0 * (1 - 0.1 * 0.5) ** 3, rtol=1e-6)
    np.testing.assert_array_equal(net.b[0], 1.0)
    np.testing.assert_array_equal(net.b[1], -2.0)
    plain = make_optimizer("adam", net.n_params, 0.1, weight_decay=0.5, decay_slices=net.weight_slices)
    before = net.params.copy()
    plain.update_params(net.params, np.zeros_like(net.params))
    np.testing.assert_array_equal(net.params, before)  # plain Adam ignores weight_decay


def test_make_optimizer_builds_the_named_variants():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam", "adamw"}
    sgd = make_optimizer("sgd", 10, 0.1)
    assert isinstance(sgd, SGD) and sgd.velocity is None and sgd.lr == 0.1
    mom = make_optimizer("momentum", 10, 0.1, momentum=0.8)
    assert isinstance(mom, SGD) and mom.momentum == 0.8 and not mom.nesterov
    nest = make_optimizer("nesterov", 10, 0.1)
    assert isinstance(nest, SGD) and nest.nesterov and nest.momentum == 0.9
    adam = make_optimizer("adam", 10, 1e-3, weight_decay=0.1)
    assert isinstance(adam, Adam) and adam.weight_decay == 0.0
    adamw = make_optimizer("adamw", 10, 1e-3, weight_decay=0.1)
    assert isinstance(adamw, Adam) and adamw.weight_decay == 0.1
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", 10, 0.1)


def _separable_problem():
    rng = np.random.default_rng(31)
    centers = rng.normal(0, 1, (4, 12)) * 2
    y = rng.integers(0, 4, 240)
    x = (centers[y] + rng.normal(0, 0.6, (240, 12))).astype(np.float32)
    return x, y


@pytest.mark.parametrize(
    "name,lr", [("sgd", 0.2), ("momentum", 0.05), ("nesterov", 0.05), ("adam", 0.01), ("adamw", 0.01)]
)
def test_every_optimizer_lowers_the_loss(name, lr):
    x, y = _separable_problem()
    net = MLP([12, 16, 4], ["tanh"], init="xavier", rng=np.random.default_rng(2))
    opt = make_optimizer(name, net.n_params, lr, momentum=0.9, weight_decay=1e-3, decay_slices=net.weight_slices)
    first = net.loss_and_grad(x, y)[0]
    losses = []
    rng = np.random.default_rng(0)
    for _ in range(200):
        batch = rng.choice(len(y), 48, replace=False)
        loss, _ = net.loss_and_grad(x[batch], y[batch])
        opt.update_params(net.params, net.grads)
        losses.append(loss)
    final = net.loss_and_grad(x, y)[0]
    assert first > 1.0
    assert final < 0.25 * first, (first, final)
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    assert np.isfinite(net.params).all()
    acc = (net.forward(x).argmax(axis=1) == y).mean()
    assert acc > 0.95


# ----- schedules ------------------------------------------------------------------------


def test_constant_schedule_and_warmup_ramp():
    spe, total = 10, 100
    lrs = [learning_rate(0.5, s, total, spe, "constant", warmup_epochs=2) for s in range(total)]
    warm = lrs[:20]
    np.testing.assert_allclose(warm, 0.5 * np.arange(1, 21) / 20)
    assert all(b > a for a, b in pairwise(warm))
    assert lrs[0] > 0
    np.testing.assert_allclose(lrs[19:], 0.5)


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_warmup_ramps_linearly_for_every_schedule(schedule):
    lrs = [learning_rate(1.0, s, 200, 20, schedule, warmup_epochs=1.5) for s in range(30)]
    np.testing.assert_allclose(lrs, np.arange(1, 31) / 30)
    after = learning_rate(1.0, 30, 200, 20, schedule, warmup_epochs=1.5)
    assert after == pytest.approx(1.0)


def test_warmup_fraction_of_an_epoch_rounds_to_whole_steps():
    assert learning_rate(1.0, 0, 100, 10, "constant", warmup_epochs=0.26) == pytest.approx(1 / 3)
    assert learning_rate(1.0, 0, 100, 10, "constant", warmup_epochs=0.0) == 1.0


def test_cosine_decays_monotonically_to_zero():
    total, spe = 300, 10
    lrs = np.array([learning_rate(2.0, s, total, spe, "cosine") for s in range(total + 1)])
    assert lrs[0] == pytest.approx(2.0)
    assert np.all(np.diff(lrs) <= 1e-15)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)  # step == total_steps
    assert lrs[-2] == pytest.approx(0.0, abs=1e-3)  # the last trained step is ~ 0
    assert lrs[total // 2] == pytest.approx(1.0, rel=1e-9)
    assert learning_rate(2.0, total + 50, total, spe, "cosine") == pytest.approx(0.0)


def test_cosine_with_warmup_starts_decay_after_warmup():
    total, spe = 100, 10
    lrs = [learning_rate(1.0, s, total, spe, "cosine", warmup_epochs=2) for s in range(total)]
    assert lrs[19] == pytest.approx(1.0) and lrs[20] == pytest.approx(1.0)
    assert lrs[20 + 40] == pytest.approx(0.5)
    assert lrs[-1] < 1e-3


@pytest.mark.parametrize("step_epochs", [1, 3, 10])
def test_step_schedule_multiplies_by_gamma_every_step_epochs(step_epochs):
    spe = 7
    for step in range(0, 40 * spe, 3):
        epoch = step // spe
        expected = 0.8 * 0.5 ** (epoch // step_epochs)
        assert learning_rate(0.8, step, 40 * spe, spe, "step", step_epochs=step_epochs) == pytest.approx(expected)
    assert learning_rate(0.8, 2 * spe, 40 * spe, spe, "step", step_epochs=2, gamma=0.1) == pytest.approx(0.08)


def test_unknown_schedule_raises():
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(0.1, 0, 10, 1, "exponential")


# ----- initializers ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_shape_dtype_and_determinism(name):
    init = INITIALIZERS[name]
    w = init(30, 20, np.random.default_rng(1))
    assert w.shape == (30, 20) and w.dtype == np.float32
    np.testing.assert_array_equal(w, init(30, 20, np.random.default_rng(1)))
    assert not np.array_equal(w, init(30, 20, np.random.default_rng(2)))


def test_he_variance_is_two_over_fan_in():
    w = he(500, 400, np.random.default_rng(0))
    assert abs(w.mean()) < 0.003
    assert w.var() == pytest.approx(2 / 500, rel=0.02)
    w = he(50, 4000, np.random.default_rng(1))
    assert w.var() == pytest.approx(2 / 50, rel=0.02)


def test_xavier_uniform_limit_and_variance():
    for fan_in, fan_out in [(300, 500), (784, 10)]:
        w = xavier(fan_in, fan_out, np.random.default_rng(0))
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.98 * limit
        assert w.var() == pytest.approx(limit**2 / 3, rel=0.03)  # = 2 / (fan_in + fan_out)
    assert INITIALIZERS["glorot"] is xavier


def test_uniform_and_normal_tutorial_schemes():
    u = uniform(200, 300, np.random.default_rng(0))
    assert u.min() >= -0.5 and u.max() < 0.5 and u.max() > 0.49
    assert u.var() == pytest.approx(1 / 12, rel=0.03)
    n = normal(200, 300, np.random.default_rng(0))
    assert n.std() == pytest.approx(0.01, rel=0.02)


def test_mlp_uses_initializer_and_zero_biases():
    net = MLP([784, 300, 10], ["relu"], init="he", rng=np.random.default_rng(0))
    assert net.W[0].var() == pytest.approx(2 / 784, rel=0.03)
    assert not net.b[0].any() and not net.b[1].any()


# ----- preprocessing ----------------------------------------------------------------------


def _pixels(n=50, seed=0):
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, (n, 784), dtype=np.uint8)
    px[:, :20] = 0  # constant columns (like the dark border of Fashion-MNIST)
    px[:, 20:25] = 200
    return px


def test_standardize_floors_std_of_constant_columns():
    px = _pixels()
    pre = Preprocessor.fit("standardize", px)
    assert pre.kind == "standardize"
    assert pre.mean.shape == (784,) and pre.std.shape == (784,)
    assert pre.mean.dtype == np.float32 and pre.std.dtype == np.float32
    np.testing.assert_array_equal(pre.std[:25], np.float32(STD_FLOOR))
    assert STD_FLOOR == 0.05
    x = px.astype(np.float64) / 255
    np.testing.assert_allclose(pre.mean, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pre.std[25:], np.maximum(x.std(axis=0)[25:], 0.05), rtol=1e-5)
    np.testing.assert_allclose(pre.mean[20:25], 200 / 255, rtol=1e-6)
    z = pre.transform(px)
    np.testing.assert_allclose(z[:, 25:].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(z[:, 25:].std(axis=0), 1, rtol=1e-3)
    np.testing.assert_allclose(z[:, :25], 0, atol=1e-5)
    # A drawing's ink on a constant border pixel is bounded by the floor: 1 / 0.05 = 20.
    ink = np.zeros((1, 784), np.uint8)
    ink[0, 0] = 255
    assert pre.transform(ink)[0, 0] == pytest.approx(20.0, rel=1e-5)
    assert Preprocessor.fit("standardize", px, std_floor=0.2).std[0] == np.float32(0.2)


@pytest.mark.parametrize("kind", ["scale", "standardize", "l2"])
@pytest.mark.parametrize("shape", [(7, 784), (7, 28, 28)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.int64])
def test_transform_shapes_dtypes_and_no_mutation(kind, shape, dtype):
    pre = Preprocessor.fit(kind, _pixels())
    px = _pixels(7, seed=1).reshape(shape).astype(dtype)
    before = px.copy()
    x = pre.transform(px)
    assert x.shape == (7, 784) and x.dtype == np.float32
    np.testing.assert_array_equal(px, before)
    assert np.isfinite(x).all()


def test_scale_maps_to_unit_interval():
    px = _pixels()
    x = Preprocessor("scale").transform(px)
    np.testing.assert_allclose(x, px / 255, rtol=1e-6)
    assert x.min() >= 0 and x.max() <= 1
    assert Preprocessor.fit("scale", px).mean is None
    dx = np.ones((7, 784), np.float32)
    np.testing.assert_array_equal(Preprocessor("scale").backprop(px, dx), dx)


def test_l2_rows_have_unit_norm_and_blank_rows_stay_zero():
    px = _pixels(10)
    px[3] = 0
    x = Preprocessor.fit("l2", px).transform(px)
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    np.testing.assert_allclose(np.delete(norms, 3), 1.0, rtol=1e-5)
    assert not x[3].any()
    # Scale invariance: a brighter copy of the same image maps to the same input.
    dim = (px[0].astype(np.float64) / 2).reshape(1, -1)
    np.testing.assert_allclose(Preprocessor("l2").transform(dim)[0], x[0], rtol=1e-5, atol=1e-7)


def test_standardize_backprop_and_unknown_kind():
    px = _pixels()
    pre = Preprocessor.fit("standardize", px)
    dx = np.ones((len(px), 784), np.float32)
    np.testing.assert_allclose(pre.backprop(px, dx), dx / pre.std)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Preprocessor.fit("minmax", _pixels())
