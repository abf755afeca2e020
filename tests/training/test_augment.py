"""Tests for model/training/augment.py and the trainer's augmented batches (shift, flip, drawings)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from model.errors import ConfigError
from model.training.augment import shift_and_flip
from model.training.config import TrainConfig, from_query, to_query
from model.training.trainer import Trainer
from tests.support.synthetic import blocks

pytestmark = pytest.mark.usefixtures("one_blas_thread")

X, Y = blocks()


def moved(image: np.ndarray, dy: int, dx: int, mirror: bool) -> np.ndarray:
    """(28, 28) reference: mirrored left-right if asked, then shifted by (dy, dx), zeros coming in."""
    src = image[:, ::-1] if mirror else image
    out = np.zeros_like(src)
    out[max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = src[
        max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)
    ]
    return out


def which_move(image: np.ndarray, result: np.ndarray, s: int) -> set[tuple[int, int, bool]]:
    return {
        (dy, dx, m)
        for dy in range(-s, s + 1)
        for dx in range(-s, s + 1)
        for m in (False, True)
        if np.array_equal(moved(image, dy, dx, m), result)
    }


def test_each_image_is_a_shifted_or_mirrored_copy_of_itself():
    image = np.arange(784, dtype=np.int32).reshape(28, 28) % 251 + 1  # all pixels distinct per row
    batch = np.repeat(image.reshape(1, 784), 400, axis=0)
    out = shift_and_flip(batch, np.random.default_rng(0), 2, True)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    moves = [which_move(image, o.reshape(28, 28), 2) for o in out]
    assert all(len(m) == 1 for m in moves)  # every output is exactly one allowed move
    seen = {next(iter(m)) for m in moves}
    assert len(seen) >= 40  # of the 50 moves, nearly all appear in 400 draws
    assert {m for _, _, m in seen} == {False, True}


def test_no_shift_no_flip_is_the_identity_and_flip_alone_only_mirrors():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, (50, 784), dtype=np.uint8)
    assert np.array_equal(shift_and_flip(batch, rng, 0, False), batch)
    out = shift_and_flip(batch, rng, 0, True).reshape(50, 28, 28)
    mirrored = [np.array_equal(o, b.reshape(28, 28)[:, ::-1]) for o, b in zip(out, batch, strict=True)]
    same = [np.array_equal(o, b.reshape(28, 28)) for o, b in zip(out, batch, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True)) and 10 < sum(mirrored) < 40


def test_augmented_training_is_seeded_and_resumes_bit_identically():
    cfg = TrainConfig(hidden=[32], epochs=3, batch_size=64, val_fraction=0.1, seed=1, shift=2, flip=True)
    reference = Trainer(cfg, X, Y)
    reference.run()
    plain = Trainer(TrainConfig(hidden=[32], epochs=3, batch_size=64, val_fraction=0.1, seed=1), X, Y)
    plain.run()
    assert not np.array_equal(reference.net.params, plain.net.params)  # the images really changed
    assert reference.x_train is None and reference.x_pixels.dtype == np.uint8
    t = Trainer(cfg, X, Y)
    for r in t.iter_run(report_every=1):
        if r.event == "batch" and r.epoch == 2 and r.batch == 3:
            t.stop()
    assert t.status == "stopped"
    moved_trainer = pickle.loads(pickle.dumps(t))
    assert moved_trainer.x_pixels is None  # travels without its data
    moved_trainer.attach_data(X, Y)
    moved_trainer.run()
    assert np.array_equal(moved_trainer.net.params, reference.net.params)
    assert moved_trainer.history.val_loss == reference.history.val_loss


def test_augmentation_still_learns_and_validation_images_are_untouched():
    cfg = TrainConfig(hidden=[64], epochs=6, batch_size=32, val_fraction=0.2, seed=0, shift=1, flip=True)
    t = Trainer(cfg, X, Y)
    before = t.x_val.copy()
    t.run()
    assert np.array_equal(t.x_val, before)
    assert t.history.val_acc[-1] > 0.6  # blocks moved by a pixel still tell their class


def test_settings_are_validated_and_travel_in_links():
    with pytest.raises(ConfigError, match="shift"):
        TrainConfig(shift=5).validate()
    with pytest.raises(ConfigError, match="drawings"):
        TrainConfig(drawings=0.8).validate()
    with pytest.raises(ConfigError, match="flip"):
        TrainConfig(flip="yes").validate()
    cfg = TrainConfig(shift=2, flip=True, drawings=0.25)
    back, problems = from_query(to_query(cfg))
    assert not problems and (back.shift, back.flip, back.drawings) == (2, True, 0.25)


def test_drawings_replace_their_share_of_training_images_and_are_cached(cache_dir):
    cfg = TrainConfig(hidden=[32], epochs=1, batch_size=50, val_fraction=0.0, seed=3, train_subset=200, drawings=0.4)
    calls = []
    t = Trainer(cfg, X, Y, on_render=lambda done, total: calls.append((done, total)))
    assert t.x_drawn.shape == (2, 200, 784) and calls[-1] == (400, 400)
    assert list(cache_dir.glob("drawings-*.npy"))  # rendered once, kept for the next run
    # Which rows of a batch are drawings: compare each with its original and its two drawings.
    pre = t.net.preprocessor
    idx = np.arange(200)
    rows = t._augmented(idx)
    original = np.isclose(rows, pre.transform(t.x_pixels[idx])).all(axis=1)
    drawn = np.zeros(200, bool)
    for k in range(2):
        drawn |= np.isclose(rows, pre.transform(t.x_drawn[k][idx])).all(axis=1)
    assert (original | drawn).all()
    assert 0.25 < (drawn & ~original).mean() < 0.55
    again = Trainer(cfg, X, Y, on_render=lambda done, total: calls.append((done, total)))
    assert np.array_equal(again.x_drawn, t.x_drawn)
    t.run()
    assert t.status == "done"
