"""Tests for the training loop and its settings: determinism, progress reports, stop/resume,
early stopping, divergence, snapshots and TrainConfig validation.

The data is synthetic: 600 noisy 28x28 images whose class is the position of one bright block,
so a small network learns it in a few epochs and every test runs in well under a second or two.
"""

from __future__ import annotations

import math
import pickle
import threading
from itertools import pairwise

import numpy as np
import pytest

from model.errors import ConfigError
from model.nn.losses import cross_entropy, mean_nll
from model.nn.network import MLP
from model.nn.preprocessing import Preprocessor
from model.training.config import (
    CHOICES,
    HELP,
    MAX_LAYERS,
    MAX_UNITS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    RANGES,
    TrainConfig,
    changed_settings,
    from_query,
    to_query,
)
from model.training.pipeline import cli_command
from model.training.trainer import DIVERGED_LOSS, History, Progress, Trainer, divergence_message, stalled_message
from tests.support.synthetic import blocks

pytestmark = pytest.mark.usefixtures("one_blas_thread")


X, Y = blocks()


def small_cfg(**kw) -> TrainConfig:
    base = dict(hidden=[32], epochs=3, batch_size=64, dropout=0.2, val_fraction=0.1, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def train(cfg: TrainConfig, x=X, y=Y) -> Trainer:
    t = Trainer(cfg, x, y)
    t.run()
    return t


# ----- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"optimizer": "nesterov", "lr": 0.05, "schedule": "step", "step_epochs": 1, "input_dropout": 0.1},
        {"optimizer": "adamw", "weight_decay": 0.01, "preprocessing": "standardize", "warmup_epochs": 1.0},
        {"hidden": [16, 8], "activation": "gelu", "label_smoothing": 0.1, "l2": 1e-4, "train_subset": 400},
    ],
    ids=["default", "nesterov-step", "adamw-standardize", "deep-gelu-subset"],
)
def test_same_seed_gives_bit_identical_params(kw):
    a = train(small_cfg(**kw))
    b = train(small_cfg(**kw))
    assert a.status == b.status == "done"
    assert np.array_equal(a.net.params, b.net.params)
    assert a.history.train_loss == b.history.train_loss
    assert a.history.val_acc == b.history.val_acc
    c = train(small_cfg(**{**kw, "seed": 2}))
    assert not np.array_equal(a.net.params, c.net.params)


def test_training_learns_the_synthetic_task():
    t = train(small_cfg(epochs=4, dropout=0.0, lr=3e-3))
    assert t.history.train_loss[-1] < t.history.train_loss[0]
    assert t.history.val_acc[-1] >= 0.9
    assert (t.net.predict(X) == Y).mean() >= 0.9


# ----- progress reports -------------------------------------------------------------------


@pytest.mark.parametrize("val_fraction", [0.1, 0.0])
def test_progress_report_sequence_and_history(val_fraction):
    cfg = small_cfg(epochs=3, val_fraction=val_fraction)
    t = Trainer(cfg, X, Y)
    reports: list[Progress] = []
    last = t.run(callback=reports.append, report_every=2)
    assert last is reports[-1]
    events = [r.event for r in reports]
    assert events[-1] == "done" and events.count("done") == 1
    assert events.count("epoch") == 3 and "batch" in events
    assert set(events) == {"batch", "epoch", "done"}
    # Each epoch's batch reports come before its epoch report.
    epoch_positions = [i for i, e in enumerate(events) if e == "epoch"]
    assert events[0] == "batch" and events[epoch_positions[0] - 1] == "batch"
    n_train = 600 - round(600 * val_fraction)
    batches = math.ceil(n_train / 64)
    assert all(r.batches == batches and r.epochs == 3 for r in reports)
    batch_reports = [r for r in reports if r.event == "batch"]
    assert all(r.batch % 2 == 0 and 0 < r.batch < batches for r in batch_reports)
    assert len(batch_reports) == 3 * ((batches - 1) // 2)
    fractions = [r.fraction for r in reports]
    assert all(b >= a for a, b in pairwise(fractions))
    strict = [r.fraction for r in reports if r.event in ("batch", "epoch")]
    assert all(b > a for a, b in pairwise(strict))
    assert 0 < fractions[0] < 0.2 and fractions[-1] == 1.0
    seen = [r.seen for r in reports]
    assert all(b >= a for a, b in pairwise(seen)) and seen[-1] == 3 * n_train
    assert [r.epoch for r in reports if r.event == "epoch"] == [1, 2, 3]
    assert (
        last.eta == 0.0
        and last.message.startswith("Training finished: ")
        and " s." in last.message
        and t.status == "done"
        and t.finished
    )
    h = t.history
    for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        assert len(getattr(h, key)) == 3, key
    assert h.epoch == [1, 2, 3]
    assert len(h.batch_seen) == len(h.batch_loss) == len(batch_reports)
    assert all(math.isfinite(v) for v in h.train_loss + h.batch_loss)
    assert all(0 <= a <= 1 for a in h.train_acc)
    assert all(b >= a for a, b in pairwise(h.seconds))
    epoch_reports = [r for r in reports if r.event == "epoch"]
    assert [r.train_loss for r in epoch_reports] == h.train_loss
    if val_fraction:
        assert all(v is not None and 0 <= v <= 1 for v in h.val_acc)
        assert all(v is not None and v > 0 for v in h.val_loss)
        assert all(r.val_acc is not None and r.val_loss is not None for r in epoch_reports)
        assert [r.val_acc for r in epoch_reports] == h.val_acc
        assert len(t.y_val) == 60
    else:
        assert h.val_acc == [None] * 3 and h.val_loss == [None] * 3
        assert all(r.val_acc is None and r.val_loss is None for r in reports)
        assert t.evaluate_val() == (None, None)
    d = h.to_dict()
    assert set(d) == set(History().__dict__) and d["train_loss"] == h.train_loss
    # A finished trainer does nothing more.
    assert list(t.iter_run()) == []
    assert t.run() is last


def test_cosine_lr_in_history_decays():
    t = train(small_cfg(epochs=4, schedule="cosine", lr=0.01))
    lrs = t.history.lr
    assert lrs[0] < 0.01 and all(b < a for a, b in pairwise(lrs))
    assert lrs[-1] < 1e-4


def test_default_report_every_gives_about_fifty_reports_per_epoch():
    x, y = blocks(1200, seed=3)
    t = Trainer(small_cfg(epochs=1, batch_size=8, val_fraction=0.0, hidden=[8]), x, y)
    reports = list(t.iter_run())
    n_batch = sum(r.event == "batch" for r in reports)
    assert 45 <= n_batch <= 50  # 150 batches, one report every 3


# ----- stop and resume ----------------------------------------------------------------------


def _stop_after(t: Trainer, k: int, report_every: int = 1) -> list[Progress]:
    reports = []
    for r in t.iter_run(report_every):
        reports.append(r)
        if len(reports) == k:
            t.stop()
    return reports


@pytest.mark.parametrize("k", [1, 4, 11], ids=["first-batch", "mid-epoch", "second-epoch"])
def test_stop_mid_epoch_then_resume_is_bit_identical(k):
    cfg = small_cfg(epochs=3, dropout=0.3, input_dropout=0.1)
    reference = train(cfg)
    t = Trainer(cfg, X, Y)
    reports = _stop_after(t, k)
    assert reports[-1].event == "stopped" and t.status == "stopped" and not t.finished
    assert reports[-2].event == "batch"  # k counts batch reports only here
    assert "Stopped" in reports[-1].message
    assert np.isfinite(t.net.params).all()
    stopped_at = (t.epoch, t.batch)
    assert t.batch == reports[-2].batch  # stops after the current batch, not later
    assert len(t.history.epoch) == stopped_at[0] < 3
    final = t.run()
    assert final.event == "done" and t.status == "done"
    assert np.array_equal(t.net.params, reference.net.params)
    assert t.history.train_loss == reference.history.train_loss
    assert t.history.val_loss == reference.history.val_loss
    assert t.seen == reference.seen


def test_a_stopped_trainer_travels_without_its_data_and_resumes_bit_identically():
    """What the app's cluster does: pickle a stopped run to another process, give it the data, resume."""
    cfg = small_cfg(epochs=3, dropout=0.3, input_dropout=0.1, train_subset=500)
    reference = train(cfg)
    t = Trainer(cfg, X, Y)
    _stop_after(t, 4)
    sent = pickle.dumps(t)
    assert len(sent) < 8 * t.net.params.nbytes  # weights, optimizer moments, snapshots: no data arrays
    moved = pickle.loads(sent)
    assert moved.x_train is None and moved.x_val is None
    moved.attach_data(X, Y)
    moved.run()
    assert moved.status == "done"
    assert np.array_equal(moved.net.params, reference.net.params)
    assert moved.history.val_loss == reference.history.val_loss


def test_release_data_keeps_history_and_weights():
    t = Trainer(small_cfg(epochs=1), X, Y)
    t.run()
    params, history = t.net.params.copy(), t.history.to_dict()
    t.release_data()
    assert t.x_train is None and t.x_val is None
    assert np.array_equal(t.net.params, params) and t.history.to_dict() == history


@pytest.mark.parametrize("when", ["epoch-report", "before-run"])
def test_stop_at_epoch_boundary_then_resume_is_bit_identical(when):
    cfg = small_cfg(epochs=3)
    reference = train(cfg)
    t = Trainer(cfg, X, Y)
    if when == "before-run":
        t.stop()
        assert t.run().event == "stopped"
        assert t.epoch == 0 and t.batch == 0
    else:
        for r in t.iter_run():
            if r.event == "epoch" and r.epoch == 1:
                t.stop()
        assert t.status == "stopped" and t.epoch == 1 and t.batch == 0
    t.run()
    assert t.status == "done"
    assert np.array_equal(t.net.params, reference.net.params)


def test_stop_resume_twice_and_stopped_report_fields():
    cfg = small_cfg(epochs=2, dropout=0.0)
    reference = train(cfg)
    t = Trainer(cfg, X, Y)
    first = _stop_after(t, 2)
    assert first[-1].epoch == 1 and first[-1].batch == 2 and first[-1].eta > 0
    second = _stop_after(t, 3)
    assert second[-1].event == "stopped"
    assert second[-1].seen > first[-1].seen
    assert second[-1].fraction >= second[-2].fraction
    t.run()
    assert np.array_equal(t.net.params, reference.net.params)


def test_stop_from_another_thread():
    cfg = small_cfg(epochs=200, hidden=[16], val_fraction=0.0)
    t = Trainer(cfg, X, Y)
    started, done = threading.Event(), threading.Event()
    reports: list[Progress] = []

    def on_report(p: Progress) -> None:
        reports.append(p)
        started.set()
        done.wait(0.002)  # give the stopping thread a chance to run

    def stopper() -> None:
        started.wait(5)
        t.stop()

    thread = threading.Thread(target=stopper)
    thread.start()
    last = t.run(on_report, report_every=1)
    done.set()
    thread.join(5)
    assert last.event == "stopped" and t.status == "stopped"
    assert len(t.history.epoch) < 200
    assert np.isfinite(t.net.params).all()
    before = t.net.params.copy()
    snap = t.snapshot()
    np.testing.assert_array_equal(snap.params, before)


def test_stop_before_run_is_honoured_and_consumed():
    t = Trainer(small_cfg(epochs=1), X, Y)
    initial = t.net.params.copy()
    t.stop()
    first = t.run()
    assert first.event == "stopped" and t.status == "stopped"
    assert t.seen == 0 and t.history.epoch == []
    np.testing.assert_array_equal(t.net.params, initial)
    # The request was consumed: the next run trains to the end.
    assert t.run().event == "done"
    assert len(t.history.epoch) == 1 and not np.array_equal(t.net.params, initial)


# ----- early stopping -----------------------------------------------------------------------


def _noisy_labels() -> np.ndarray:
    # Random labels: nothing generalises, so validation stops improving and early stopping triggers.
    return np.random.default_rng(5).integers(0, 10, len(Y))


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_restores_best_weights(restore_best):
    cfg = small_cfg(
        epochs=40, patience=2, optimizer="adam", lr=0.01, dropout=0.0, val_fraction=0.3, restore_best=restore_best
    )
    t = Trainer(cfg, X, _noisy_labels())
    params_after_epoch = {}
    reports = []
    for r in t.iter_run():
        reports.append(r)
        if r.event in ("epoch", "early_stop"):
            params_after_epoch[r.epoch] = t.net.params.copy() if r.event == "epoch" else None
    last = reports[-1]
    assert last.event == "early_stop" and t.status == "early_stop" and t.finished
    stopped_epoch = len(t.history.epoch)
    assert stopped_epoch < 40
    h = t.history
    keys = [(a, -v) for a, v in zip(h.val_acc, h.val_loss, strict=True)]
    best = max(range(stopped_epoch), key=lambda i: keys[i]) + 1
    assert stopped_epoch - best == 2  # exactly `patience` epochs without improvement
    assert "Early stop" in last.message and "2 epochs" in last.message
    assert t.message == last.message
    if restore_best:
        assert f"weights of epoch {best} were restored" in last.message
        assert np.array_equal(t.net.params, params_after_epoch[best])
        # The restored weights reproduce the best validation accuracy.
        assert t.evaluate_val()[1] == pytest.approx(h.val_acc[best - 1])
    else:
        assert "restored" not in last.message
        assert not np.array_equal(t.net.params, params_after_epoch[best])
    assert list(t.iter_run()) == []  # finished: run() again does nothing


def test_no_early_stop_without_patience_or_validation():
    t = train(small_cfg(epochs=5, patience=0, lr=0.01, dropout=0.0, val_fraction=0.3), y=_noisy_labels())
    assert t.status == "done" and len(t.history.epoch) == 5
    t = train(small_cfg(epochs=5, patience=1, lr=0.01, dropout=0.0, val_fraction=0.0), y=_noisy_labels())
    assert t.status == "done" and len(t.history.epoch) == 5


def test_restore_best_at_the_end_of_a_full_run():
    cfg = small_cfg(epochs=4, patience=10, lr=0.01, dropout=0.0, val_fraction=0.3)
    t = Trainer(cfg, X, _noisy_labels())
    snaps = {}
    for r in t.iter_run():
        if r.event == "epoch":
            snaps[r.epoch] = t.net.params.copy()
    assert t.status == "done"
    h = t.history
    best = max(range(4), key=lambda i: (h.val_acc[i], -h.val_loss[i])) + 1
    assert np.array_equal(t.net.params, snaps[best])


# ----- divergence ---------------------------------------------------------------------------


def test_divergence_is_detected_and_last_good_weights_restored():
    cfg = small_cfg(
        activation="sigmoid", optimizer="sgd", lr=100.0, schedule="constant", dropout=0.0, epochs=5, init="xavier"
    )
    t = Trainer(cfg, X, Y)
    initial = t.net.params.copy()
    good = initial
    reports = []
    for r in t.iter_run(report_every=1):
        reports.append(r)
        if r.event == "epoch":
            good = t.net.params.copy()
    last = reports[-1]
    assert last.event == "diverged" and t.status == "diverged" and t.finished
    assert [r.event for r in reports].count("diverged") == 1
    assert "learning rate 100" in last.message and "too high" in last.message
    assert "sigmoid" in last.message and "Adam" in last.message
    assert t.message == last.message and last.eta == 0.0
    assert np.isfinite(t.net.params).all()
    assert np.array_equal(t.net.params, good)
    h = t.history
    for key in ("train_loss", "train_acc", "batch_loss", "lr"):
        assert all(math.isfinite(v) for v in getattr(h, key)), key
    assert all(v is None or math.isfinite(v) for v in h.val_loss + h.val_acc)
    assert all(v <= DIVERGED_LOSS for v in h.batch_loss)
    assert list(t.iter_run()) == []


def test_divergence_with_nan_inputs_reports_nan():
    x = X.astype(np.float64)
    t = Trainer(small_cfg(epochs=1, val_fraction=0.0), x, Y)
    t.x_train[5, 3] = np.nan  # a poisoned pixel: the loss becomes NaN when its batch comes
    initial = t.net.params.copy()
    last = t.run()
    assert last.event == "diverged"
    assert "NaN" in last.message
    np.testing.assert_array_equal(t.net.params, initial)


@pytest.mark.parametrize("preprocessing", ["scale", "standardize", "l2"])
def test_uint8_pixels_train_exactly_like_the_same_pixels_as_floats(preprocessing):
    """uint8 pixels are kept as bytes and preprocessed batch by batch; float pixels once, up front."""
    cfg = small_cfg(epochs=2, preprocessing=preprocessing, batch_size=64)
    as_bytes, as_floats = Trainer(cfg, X, Y), Trainer(cfg, X.astype(np.float64), Y)
    assert as_bytes.x_pixels is not None and as_floats.x_train is not None
    as_bytes.run(), as_floats.run()
    np.testing.assert_array_equal(as_bytes.net.params, as_floats.net.params)


def test_divergence_and_stall_messages():
    cfg = TrainConfig(activation="tanh", optimizer="adam", lr=0.5)
    msg = divergence_message(cfg, 3, 7, 1e6)
    assert "epoch 3, batch 7" in msg and "1e+06" in msg and "0.05" in msg and "Adam with" not in msg
    assert "NaN" in divergence_message(cfg, 1, 1, math.nan)
    stall = stalled_message(
        TrainConfig(hidden=[10], activation="sigmoid", lr=1.0, init="normal", batch_size=60000), 0.1
    )
    for part in ("10%", "saturate", "full-batch", "10 hidden units", "'normal'"):
        assert part in stall


def test_stalled_training_warns():
    cfg = small_cfg(epochs=3, optimizer="sgd", lr=1e-6, schedule="constant", init="normal", hidden=[8])
    t = train(cfg, y=_noisy_labels())
    assert t.status == "done"
    # From epoch 2 on; the text includes the accuracy, so epochs 2 and 3 may add one each.
    assert 1 <= len(t.warnings) <= 2 and len(set(t.warnings)) == len(t.warnings)
    assert all("stalling" in w and "'normal' initializer" in w for w in t.warnings)
    healthy = train(small_cfg(epochs=2))
    assert healthy.warnings == []


def test_an_l2_penalty_above_the_divergence_threshold_is_not_a_divergence():
    """Wide layers at l2 0.1 start with a penalty of about 77 (> 50): the data loss decides, not the objective."""
    cfg = small_cfg(hidden=[512, 256], l2=0.1, epochs=2)
    t = Trainer(cfg, X, Y)
    assert t.l2_penalty() > DIVERGED_LOSS
    last = t.run()
    assert last.event == "done" and t.status == "done", last.message
    h = t.history
    assert h.train_objective[0] > DIVERGED_LOSS > 10 * max(h.train_loss)  # the penalty, reported apart
    assert all(p > 0 for p in h.l2_penalty) and h.l2_penalty[1] < h.l2_penalty[0]  # L2 shrinks the weights
    assert last.l2_penalty == h.l2_penalty[-1] and last.objective == h.train_objective[-1]
    assert h.val_acc[-1] >= 0.9


def test_train_loss_is_the_data_cross_entropy_the_objective_apart():
    """One full-batch step per epoch: the first epoch's train loss is the starting weights' plain
    cross-entropy on the training split, and the objective adds label smoothing and the L2 penalty."""
    cfg = small_cfg(batch_size=600, epochs=1, dropout=0.0, label_smoothing=0.2, l2=0.01, val_fraction=0.0)
    t = Trainer(cfg, X, Y)
    logits = t.net.forward(t.net.preprocessor.transform(t.x_pixels))
    plain, smoothed, penalty = mean_nll(logits, t.y_train), cross_entropy(logits, t.y_train, 0.2)[0], t.l2_penalty()
    assert cross_entropy(logits, t.y_train)[0] == plain  # the same quantity as the unsmoothed loss
    t.run()
    h = t.history
    assert h.train_loss[0] == pytest.approx(plain, rel=1e-5)
    assert h.train_objective[0] == pytest.approx(smoothed + penalty, rel=1e-5)
    assert h.l2_penalty[0] == pytest.approx(t.l2_penalty()) and h.l2_penalty[0] != pytest.approx(penalty)


def test_train_and_validation_losses_compare_like_with_like():
    """With label smoothing, a network right on both splits has train and validation losses alike
    (both plain cross-entropy); the smoothed objective stays far above them."""
    cfg = small_cfg(hidden=[32], label_smoothing=0.2, l2=1e-3, dropout=0.0, epochs=8, lr=3e-3, val_fraction=0.2)
    t = train(cfg)
    h = t.history
    assert h.train_acc[-1] == h.val_acc[-1] == 1.0
    assert abs(h.train_loss[-1] - h.val_loss[-1]) < 0.05
    assert h.train_objective[-1] > h.train_loss[-1] + 0.5
    # The live per-batch curve is the same kind as the train curve: well below the objective.
    assert h.batch_loss[-1] < h.train_objective[-1] - 0.3


def test_without_regularisation_the_objective_is_the_train_loss():
    t = train(small_cfg(epochs=2))
    assert t.history.train_objective == t.history.train_loss and t.history.l2_penalty == [0.0, 0.0]


def test_the_stall_warning_describes_the_run_now():
    """A run near chance gets the warning once; when it recovers, the warning goes."""
    cfg = small_cfg(epochs=7, optimizer="sgd", lr=1e-6, schedule="constant", init="xavier", dropout=0.0)
    t = Trainer(cfg, X, Y)
    messages, warned = [], []
    for r in t.iter_run():
        if r.event != "epoch":
            continue
        messages.append(r.message)
        warned.append(list(t.warnings))
        if r.epoch == 3:
            cfg.lr = 0.5  # the learner's fix, as a resumed run with a sane rate would have it
    assert warned[0] == [] and messages[0] == ""  # epoch 1: too early to call
    assert len(warned[1]) == 1 and "stalling" in warned[1][0] and "after 2 epochs" in warned[1][0]
    assert messages[1] == warned[1][0] and messages[2] == ""  # said once, when it began
    assert "after 3 epochs" in warned[2][0]  # kept up to date
    assert t.history.train_acc[-1] > 0.5 and warned[-1] == [] and t.warnings == []


# ----- snapshots ------------------------------------------------------------------------------


def test_snapshot_is_independent_of_further_training():
    cfg = small_cfg(epochs=2)
    t = Trainer(cfg, X, Y)
    snap = None
    for r in t.iter_run(report_every=1):
        if snap is None and r.event == "batch":
            snap = t.snapshot()
            frozen = snap.params.copy()
            proba = snap.predict_proba(X[:20])
    assert t.status == "done"
    np.testing.assert_array_equal(snap.params, frozen)
    assert not np.array_equal(snap.params, t.net.params)
    np.testing.assert_array_equal(snap.predict_proba(X[:20]), proba)
    assert snap.describe() == t.net.describe() == "784-32-10 (relu)"
    assert snap.preprocessor.kind == t.net.preprocessor.kind
    # Changing the snapshot does not change the trainer's network either.
    current = t.net.params.copy()
    snap.params[:] = 0
    snap.meta["x"] = 1
    np.testing.assert_array_equal(t.net.params, current)
    assert "x" not in t.net.meta


def test_snapshots_are_published_at_the_cadence_and_at_every_epoch_end():
    t = Trainer(small_cfg(epochs=2), X, Y)
    t.snapshot_every = math.inf  # no timed copies: only the epoch ends publish
    initial, seen = t.snapshot(), []
    for r in t.iter_run(report_every=1):
        if r.event == "batch" and r.epoch == 1:
            assert t.snapshot() is initial  # not republished between its cadence
        elif r.event == "epoch" and r.epoch == 1:
            np.testing.assert_array_equal(t.snapshot().params, t.net.params)  # current at the epoch end
            t.snapshot_every = 0.0  # from now on after every batch
        elif r.event == "batch":
            np.testing.assert_array_equal(t.snapshot().params, t.net.params)
            seen.append(t.snapshot())
    assert len({id(s) for s in seen}) == len(seen) > 1  # a fresh copy each time
    np.testing.assert_array_equal(t.snapshot().params, t.net.params)
    assert t.snapshot() is not t.net


def test_trainer_can_continue_a_given_network():
    first = train(small_cfg(epochs=2, preprocessing="standardize"))
    net = first.net.copy()
    t = Trainer(small_cfg(epochs=1, preprocessing="scale"), X, Y, net=net)
    assert t.net is net and t.net.preprocessor is first.net.preprocessor  # keeps the network's preprocessing
    t.run()
    assert not np.array_equal(net.params, first.net.params)


def test_whole_number_float_settings_are_usable_or_rejected():
    cfg = small_cfg(epochs=1, batch_size=64.0)
    try:
        t = Trainer(cfg, X, Y)
    except ConfigError:
        return  # rejecting is fine too
    assert t.run().event == "done"


# ----- TrainConfig ----------------------------------------------------------------------------


BAD_SETTINGS = [
    ("hidden", []),
    ("hidden", [0]),
    ("hidden", [MAX_UNITS + 1]),
    ("hidden", [64] * (MAX_LAYERS + 1)),
    ("hidden", [32.5]),
    ("hidden", ["64"]),
    ("hidden", [True]),
    ("hidden", 128),
    ("activation", "swish"),
    ("activation", "RELU"),
    ("init", "zeros"),
    ("optimizer", "rmsprop"),
    ("schedule", "linear"),
    ("preprocessing", "minmax"),
    ("lr", 0.0),
    ("lr", -0.1),
    ("lr", 101.0),
    ("lr", math.nan),
    ("lr", math.inf),
    ("lr", "0.1"),
    ("lr", None),
    ("lr", True),
    ("momentum", -0.1),
    ("momentum", 1.0),
    ("weight_decay", -1e-4),
    ("weight_decay", 1.5),
    ("warmup_epochs", -1.0),
    ("warmup_epochs", 101),
    ("step_epochs", 0),
    ("step_epochs", 2.5),
    ("gamma", 0.0),
    ("gamma", 1.1),
    ("batch_size", 0),
    ("batch_size", 60001),
    ("batch_size", 12.5),
    ("epochs", 0),
    ("epochs", 1001),
    ("epochs", -3),
    ("l2", -0.1),
    ("l2", 2.0),
    ("dropout", 0.95),
    ("dropout", -0.1),
    ("input_dropout", 1.0),
    ("label_smoothing", 0.6),
    ("val_fraction", 0.6),
    ("val_fraction", -0.1),
    ("seed", -1),
    ("seed", 2**32),
    ("seed", 1.5),
    ("patience", -1),
    ("patience", 1001),
    ("train_subset", -5),
    ("train_subset", 60001),
]


@pytest.mark.parametrize("field,value", BAD_SETTINGS, ids=[f"{f}={v!r}" for f, v in BAD_SETTINGS])
def test_validate_rejects_bad_values_naming_the_field(field, value):
    cfg = TrainConfig(**{field: value})
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    assert str(info.value).startswith(f"{field}:")
    with pytest.raises(ConfigError, match=f"^{field}:"):
        Trainer(cfg, X[:50], Y[:50])
    if field == "hidden" and isinstance(value, list) and value and not isinstance(value[0], int | float):
        return  # from_dict converts hidden sizes with int() first ("64" -> 64)
    if field == "hidden" and value in ([32.5], [True]):
        return  # ... and int() truncates these (see the report)
    with pytest.raises(ConfigError, match=f"^{field}:"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), field: value})


GOOD_EDGES = [
    ("hidden", [1]),
    ("hidden", [MAX_UNITS]),
    ("hidden", [4] * MAX_LAYERS),
    ("hidden", (64, 32)),
    ("lr", 100.0),
    ("lr", 1e-9),
    ("momentum", 0.0),
    ("momentum", 0.999),
    ("weight_decay", 1.0),
    ("gamma", 1.0),
    ("dropout", 0.9),
    ("val_fraction", 0.0),
    ("val_fraction", 0.5),
    ("seed", 0),
    ("seed", 2**32 - 1),
    ("patience", 0),
    ("batch_size", 60000),
    ("epochs", 1),
    ("label_smoothing", 0.5),
    ("train_subset", 0),
    ("warmup_epochs", 0),
]


@pytest.mark.parametrize("field,value", GOOD_EDGES, ids=[f"{f}={v!r}" for f, v in GOOD_EDGES])
def test_validate_accepts_edge_values(field, value):
    cfg = TrainConfig(**{field: value})
    assert cfg.validate() is cfg


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_validate_accepts_every_choice(name):
    for option in CHOICES[name]:
        TrainConfig(**{name: option}).validate()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_round_trip(name):
    cfg = PRESETS[name]
    assert cfg.validate() is cfg
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and again is not cfg


def test_every_setting_has_help_and_every_preset_a_description():
    assert set(HELP) == set(TrainConfig().to_dict())  # app tooltips and CLI --help, one table
    assert set(PRESET_DESCRIPTIONS) == set(PRESETS)
    for name in ("fast", "best"):  # the architecture a description names is the preset's
        arch = "-".join(map(str, [784, *PRESETS[name].hidden, 10]))
        assert PRESET_DESCRIPTIONS[name].startswith(arch + " ")


def test_links_and_commands_list_the_same_non_default_settings():
    cfg = TrainConfig(hidden=[64, 32], lr=0.01, restore_best=False, epochs=30)  # epochs: the default
    assert changed_settings(cfg) == {"hidden": [64, 32], "lr": 0.01, "restore_best": False}
    assert to_query(cfg) == {"hidden": "64,32", "lr": "0.01", "restore_best": "False"}
    assert cli_command(cfg, "m.npz") == "python -m model train --hidden 64,32 --lr 0.01 --no-restore-best --out m.npz"
    assert from_query(to_query(cfg)) == (cfg, [])
    assert changed_settings(TrainConfig()) == {} and to_query(TrainConfig()) == {}


def test_every_range_is_checked():
    for name, (low, high, inclusive) in RANGES.items():
        with pytest.raises(ConfigError, match=f"^{name}:"):
            TrainConfig(**{name: high * 2 + 1}).validate()
        if not inclusive:
            with pytest.raises(ConfigError, match=f"^{name}:"):
                TrainConfig(**{name: low}).validate()


def test_from_dict_ignores_unknown_keys_and_normalises_whole_floats():
    values = {
        **TrainConfig().to_dict(),
        "hidden": [64.0, 32],
        "batch_size": 32.0,
        "epochs": 5.0,
        "seed": 7.0,
        "patience": 2.0,
        "step_epochs": 3.0,
        "train_subset": 100.0,
        "unknown_key": "ignored",
        "created": "2024-01-01",
    }
    cfg = TrainConfig.from_dict(values)
    assert cfg.hidden == [64, 32] and all(type(h) is int for h in cfg.hidden)
    for name, expected in [("batch_size", 32), ("epochs", 5), ("seed", 7), ("patience", 2), ("step_epochs", 3)]:
        value = getattr(cfg, name)
        assert value == expected and type(value) is int, name
    assert not hasattr(cfg, "unknown_key")
    assert TrainConfig.from_dict({}) == TrainConfig()
    assert TrainConfig.from_dict({"hidden": (128,)}).hidden == [128]
    assert TrainConfig.from_dict(TrainConfig(hidden=[12, 7], lr=0.02).to_dict()) == TrainConfig(hidden=[12, 7], lr=0.02)


def test_trainer_splits_and_preprocesses():
    t = Trainer(small_cfg(val_fraction=0.2, preprocessing="standardize", train_subset=500), X, Y)
    assert len(t.y_train) + len(t.y_val) == 500 and len(t.y_val) == 100
    assert t.x_pixels.dtype == np.uint8 and t.x_pixels.shape == (400, 784) and t.x_train is None  # X is uint8
    assert np.bincount(t.y_val, minlength=10).tolist() == [10] * 10  # stratified
    assert isinstance(t.net.preprocessor, Preprocessor) and t.net.preprocessor.kind == "standardize"
    assert isinstance(t.net, MLP) and t.net.sizes == [784, 32, 10]
    assert t.status == "ready" and t.latest is None
    # The preprocessor is fitted on the training split only.
    x_sub = t.net.preprocessor.transform(X)
    assert x_sub.shape == (600, 784)
