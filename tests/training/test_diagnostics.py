"""Readings inside a network: gradient norms checked by finite differences, dead and saturated units on
constructed networks, the history container, and on the real data the stories they are for."""

import numpy as np
import pytest

from model.datasets.fashion_mnist import load_fashion_mnist
from model.nn.losses import cross_entropy
from model.nn.network import MLP
from model.training import diagnostics as d
from model.training.config import PRESETS, TrainConfig
from model.training.trainer import Trainer
from tests.conftest import HAVE_REAL_DATA, REAL_DATA


def pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 784)).astype(np.uint8)


# ----- gradient norms --------------------------------------------------------------------
def test_gradient_norms_match_finite_differences_of_the_data_loss():
    """Every weight of every layer by central differences (float64), then the norms compared."""
    rng = np.random.default_rng(1)
    net = MLP([784, 3, 4, 10], ["tanh", "sigmoid"], init="xavier", rng=rng, dtype=np.float64)
    for b in net.b:
        b[...] = rng.normal(0, 0.5, b.shape)
    x, y = pixels(12), rng.integers(0, 10, 12)
    inputs = net.preprocessor.transform(x).astype(np.float64)

    def loss() -> float:
        return cross_entropy(net.forward(inputs), y)[0]

    eps = 1e-6
    expected = []
    for W in net.W:
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            keep = W[idx]
            W[idx] = keep + eps
            up = loss()
            W[idx] = keep - eps
            down = loss()
            W[idx] = keep
            g[idx] = (up - down) / (2 * eps)
        expected.append(np.linalg.norm(g))
    reading = d.measure(net, x, y)
    np.testing.assert_allclose(reading.grad_norms, expected, rtol=1e-5)
    assert reading.loss == pytest.approx(loss(), rel=1e-12)


def test_gradient_norms_are_those_of_the_networks_own_backprop_and_leave_it_untouched():
    net = MLP([784, 32, 16, 10], ["relu", "relu"], rng=np.random.default_rng(2))
    net.grads[...] = 7.0  # whatever a training step left there
    params, grads = net.params.copy(), net.grads.copy()
    x, y = pixels(64, seed=3), np.arange(64) % 10
    reading = d.measure(net, x, y)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.grads, grads)
    own = net.copy()
    loss, _ = own.loss_and_grad(own.preprocessor.transform(x), y)  # plain cross-entropy: no l2, no smoothing
    np.testing.assert_allclose(reading.grad_norms, [np.linalg.norm(g) for g in own.gW], rtol=1e-6)
    assert reading.loss == pytest.approx(loss)
    assert len(reading.grad_norms) == 3 and len(reading.dead) == len(reading.saturated) == 2


def test_measure_says_what_is_wrong_with_its_input():
    net = MLP([784, 8, 10], ["relu"])
    with pytest.raises(ValueError, match="as many labels"):
        d.measure(net, pixels(4), np.arange(3))
    with pytest.raises(ValueError, match="at least one"):
        d.measure(net, pixels(0), np.arange(0))


# ----- dead and saturated units on constructed networks ------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_dead_share_counts_units_never_positive_on_the_probe(activation):
    net = MLP([784, 8, 10], [activation], rng=np.random.default_rng(0))
    W, b = net.W[0], net.b[0]
    W[:, :3] = -np.abs(W[:, :3])  # inputs are >= 0 (scale preprocessing): never positive...
    b[:3] = -0.1
    W[:, 3] = -np.abs(W[:, 3])  # ...but this one is lifted above 0 by its bias: alive
    b[3] = 1e3
    W[:, 4:] = np.abs(W[:, 4:])  # positive on any image with ink
    reading = d.measure(net, pixels(50), np.arange(50) % 10)
    assert reading.dead == [3 / 8]
    assert reading.saturated == [None]


def test_a_unit_positive_on_one_probe_image_is_not_dead():
    z = np.full((100, 4), -1.0)
    z[37, 2] = 1e-6
    assert d.dead_share(z) == 3 / 4
    z[:, :] = 0.0  # exactly 0 is not active: a ReLU passes no gradient there
    assert d.dead_share(z) == 1.0


def test_saturated_share_of_constructed_sigmoid_and_tanh_layers():
    net = MLP([784, 8, 10], ["sigmoid"])
    net.W[0][...] = 0.0  # outputs are sigmoid(bias) for every image
    net.b[0][...] = [10, 10, -10, 5, 4.5, 0, -4.5, -5]  # sigmoid(4.5) = 0.989, sigmoid(5) = 0.9933
    reading = d.measure(net, pixels(20), np.arange(20) % 10)
    assert reading.saturated == [pytest.approx(5 / 8)]  # 10, 10, -10, 5, -5
    assert reading.dead == [None]
    net = MLP([784, 4, 10], ["tanh"])
    net.W[0][...] = 0.0
    net.b[0][...] = [3, -3, 2, 0]  # tanh(3) = 0.995, tanh(2) = 0.964
    assert d.measure(net, pixels(20), np.arange(20) % 10).saturated == [pytest.approx(2 / 4)]


def test_saturated_share_counts_activations_by_the_stated_margin():
    h = np.array([[0.005, 0.5, 0.995, 0.99], [0.011, 0.2, 0.999, 0.01]])  # 0.99 and 0.01 are on the edge: not saturated
    assert d.saturated_share(h, "sigmoid") == 3 / 8
    assert d.saturated_share(np.array([[-0.995, 0.99, 0.5, 1.0]]), "tanh") == 2 / 4
    assert d.saturated_share(h, "relu") is None and d.saturated_share(h, "gelu") is None


def test_gelu_layers_report_neither_dead_nor_saturated():
    reading = d.measure(MLP([784, 8, 10], ["gelu"]), pixels(10), np.arange(10))
    assert reading.dead == [None] and reading.saturated == [None]


# ----- probe, activations, exciting images -------------------------------------------------
def test_probe_indices_are_balanced_seeded_and_sorted():
    y = np.repeat(np.arange(10), 300)
    idx = d.probe_indices(y, n=500, seed=4)
    assert len(idx) == 500 and len(set(idx)) == 500 and np.all(np.diff(idx) > 0)
    assert np.all(np.bincount(y[idx], minlength=10) == 50)
    np.testing.assert_array_equal(idx, d.probe_indices(y, n=500, seed=4))
    assert not np.array_equal(idx, d.probe_indices(y, n=500, seed=5))
    np.testing.assert_array_equal(d.probe_indices(y[:40], n=500), np.arange(40))


def test_layer_activations_are_the_networks_hidden_activations_in_one_pass():
    net = MLP([784, 16, 8, 10], ["relu", "tanh"], rng=np.random.default_rng(5))
    x = pixels(30, seed=6)
    acts = d.layer_activations(net, x, batch=7)  # several chunks
    assert [a.shape for a in acts] == [(30, 16), (30, 8)]
    for j, a in enumerate(acts):
        # Chunks of 7 rows take other BLAS kernels than 30 rows: the sums agree to float32 rounding.
        np.testing.assert_allclose(a, net.hidden_activations(x, layer=j), rtol=1e-5, atol=1e-5)
    assert [a.shape for a in d.layer_activations(net, x[:0])] == [(0, 16), (0, 8)]


def test_top_examples_and_strongest_units_rank_by_activation():
    rng = np.random.default_rng(7)
    acts = rng.normal(size=(200, 5)).astype(np.float32)
    top = d.top_examples(acts, k=4)
    assert top.shape == (5, 4)
    for u in range(5):
        np.testing.assert_array_equal(top[u], np.argsort(-acts[:, u], kind="stable")[:4])
    assert d.top_examples(acts[:3], k=4).shape == (5, 3)
    h = np.array([0.1, 3.0, -1.0, 2.0])
    np.testing.assert_array_equal(d.strongest_units(h, k=2), [1, 3])


@pytest.mark.parametrize("init", ["he", "normal", "uniform"])
def test_first_layer_at_start_is_the_weights_a_trainer_starts_from(init):
    x, y = pixels(60, seed=8), np.arange(60) % 10
    cfg = TrainConfig(hidden=[12, 6], init=init, seed=11, epochs=1)
    np.testing.assert_array_equal(d.first_layer_at_start(cfg), Trainer(cfg, x, y).net.W[0])


# ----- history -----------------------------------------------------------------------------
def reading(i: float) -> d.Reading:
    return d.Reading([i, 10 * i], [i / 100], [None], loss=2.0 - i / 100)


def test_history_keeps_readings_per_layer_and_survives_a_tuple_transport():
    h = d.DiagnosticsHistory()
    assert len(h) == 0 and h.latest is None
    for i in range(3):
        h.add(0.5 * i, reading(i))
    assert h.per_layer("grad_norms") == [[0, 1, 2], [0, 10, 20]]
    assert h.per_layer("dead") == [[0, 0.01, 0.02]]
    assert h.latest == reading(2)

    def tuples(v):  # what msgpack makes of lists between processes
        return tuple(tuples(x) for x in v) if isinstance(v, list) else v

    back = d.DiagnosticsHistory.from_dict({k: tuples(v) for k, v in h.to_dict().items()})
    assert back.to_dict() == h.to_dict()
    assert len(d.DiagnosticsHistory.from_dict(None)) == 0


def test_history_thins_old_readings_but_keeps_the_first_and_the_latest():
    h = d.DiagnosticsHistory(max_points=10)
    for i in range(100):
        h.add(float(i), reading(i))
    assert 5 <= len(h) <= 10
    assert h.x[0] == 0.0 and h.x[-1] == 99.0 and h.x == sorted(h.x)
    assert len(h.grad_norms) == len(h.dead) == len(h.loss) == len(h)
    assert h.latest == reading(99)


def test_vanishing_ratio_is_first_layer_over_output_layer():
    assert d.vanishing_ratio(d.Reading([1e-5, 1e-3, 0.1], [None, None], [0.0, 0.0], 2.3)) == pytest.approx(1e-4)
    assert d.vanishing_ratio(d.Reading([0.5], [], [], 2.3)) is None


# ----- the stories, on the real data ---------------------------------------------------------
def readings_while_training(cfg: TrainConfig, ds, steps: int) -> d.DiagnosticsHistory:
    idx = d.probe_indices(ds.y_train)
    trainer = Trainer(cfg, ds.x_train, ds.y_train)
    history = d.DiagnosticsHistory()
    history.add(0.0, d.measure(trainer.net, ds.x_train[idx], ds.y_train[idx]))
    for _ in trainer.iter_run(report_every=50):
        if trainer.step >= steps:
            trainer.stop()
    assert trainer.status == "stopped", trainer.message  # not diverged: its weights would be the starting ones
    history.add(trainer.seen / trainer.n, d.measure(trainer.net, ds.x_train[idx], ds.y_train[idx]))
    return history


@pytest.fixture(scope="module")
def real_ds():
    if not HAVE_REAL_DATA:
        pytest.skip(f"the official Fashion-MNIST files are not in {REAL_DATA}")
    return load_fashion_mnist(REAL_DATA, download=False)


# The app's stalling preset (three sigmoid layers, weights 0.01 * N(0, 1), SGD at 0.1), shortened.
STALLING = TrainConfig.from_dict({**PRESETS["stall_deep_sigmoid"].to_dict(), "epochs": 1, "train_subset": 20000})


@pytest.mark.slow
def test_a_stalling_recipe_shows_vanishing_gradients_and_a_healthy_one_does_not(real_ds):
    stalled = readings_while_training(STALLING, real_ds, steps=100).latest
    assert stalled.loss > 2.2  # still at chance (ln 10 = 2.30)
    assert d.vanishing_ratio(stalled) < 1e-2, stalled.grad_norms
    assert stalled.grad_norms == sorted(stalled.grad_norms)  # smaller the further from the output
    healthy = readings_while_training(TrainConfig(hidden=[256, 128], epochs=1, train_subset=20000), real_ds, 100).latest
    assert healthy.loss < 1.0
    assert d.vanishing_ratio(healthy) > 0.1, healthy.grad_norms
    assert max(healthy.dead) < 0.25, healthy.dead


@pytest.mark.slow
def test_a_relu_net_with_a_learning_rate_far_too_high_ends_with_most_units_dead(real_ds):
    cfg = TrainConfig(hidden=[256], lr=0.05, schedule="constant", dropout=0.0, epochs=1)  # Adam at 50x its usual rate
    history = readings_while_training(cfg, real_ds, steps=150)
    assert history.dead[0] == [0.0]  # He init: every unit fires on some image
    assert history.latest.dead[0] > 0.5, history.latest.dead
    fine = readings_while_training(TrainConfig(hidden=[256], dropout=0.0, epochs=1, train_subset=20000), real_ds, 100)
    assert fine.latest.dead[0] < 0.25, fine.latest.dead
