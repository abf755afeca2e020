"""How long a run will take on this machine: a short speed probe, scaled to the run.

``estimate_run_seconds`` builds ``cfg``'s network in a real ``Trainer`` on random pixels,
trains a few warm-up steps, times the next ones (about ``PROBE_SECONDS``) and one validation
forward pass, then scales per example to the run's batches, epochs and validation passes.
It measures the machine as it is now, load included: a busy machine gives a longer estimate.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from model.datasets.spec import N_CLASSES, N_PIXELS
from model.training.config import TrainConfig
from model.training.trainer import Trainer

PROBE_SECONDS = 0.25  # timed training steps (at least MIN_TIMED_STEPS), after the warm-up
SPIKE = 5.0  # a timed step counts as at most this many times the median step (a rare long pause)
WARMUP_STEPS, WARMUP_SECONDS = 3, 0.05  # whichever comes first, after the first step
MIN_TIMED_STEPS, MAX_TIMED_STEPS = 3, 400
MAX_PROBE_BATCH = 1024  # larger batches are timed at this size and scaled per example
MAX_PROBE_PARAMS = 4_000_000  # larger networks are timed narrower and scaled by their weight count
PROBE_FLOPS = 4e8  # rough multiply-adds per probe step: keeps one step of a wide network short


def _weights(sizes: list[int]) -> int:
    """Multiply-adds per example of one forward pass (the weights' count) for layer sizes like [784, 256, 10]."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def _probe_config(cfg: TrainConfig) -> tuple[TrainConfig, float]:
    """(the configuration timed, the factor its time per example is multiplied by).

    Same layers, activations, optimizer and regularisation as ``cfg``; a tiny learning rate
    (the cost of a step does not depend on it, and random data must not make it diverge);
    hidden layers narrowed when the network is too large to allocate for a probe.
    """
    sizes = [N_PIXELS, *cfg.hidden, N_CLASSES]
    hidden = list(cfg.hidden)
    while _weights([N_PIXELS, *hidden, N_CLASSES]) > MAX_PROBE_PARAMS:
        hidden = [max(1, int(h * 0.8)) for h in hidden]
    per_example = _weights([N_PIXELS, *hidden, N_CLASSES])
    factor = _weights(sizes) / per_example
    batch = int(min(cfg.batch_size, MAX_PROBE_BATCH, max(8, PROBE_FLOPS // (3 * per_example))))
    probe = dataclasses.replace(
        cfg,
        hidden=hidden,
        lr=1e-9,
        batch_size=batch,
        epochs=1000,
        val_fraction=0.0,
        train_subset=0,
        patience=0,
        warmup_epochs=0.0,
        drawings=0.0,  # the drawings are rendered once before training (cached), not per step
    )
    return probe, factor


def _split_sizes(cfg: TrainConfig, n_images: int) -> tuple[int, int]:
    """(training images, validation images) of a run on ``n_images``, as ``Trainer`` splits them."""
    n = min(cfg.train_subset, n_images) if cfg.train_subset else n_images
    n_val = round(n * cfg.val_fraction)
    return n - n_val, n_val


def probe_seconds_per_example(cfg: TrainConfig) -> tuple[float, float]:
    """(training, validation) seconds per image for ``cfg``'s network on this machine, now.

    Training: a real ``Trainer`` on random pixels, a few warm-up steps, then about
    ``PROBE_SECONDS`` of steps timed one by one (forward, backward, update, dropout, batch
    gathering and the loop's own work). Their mean, because on a shared machine many steps
    are slowed by other processes and a whole run is too; but one rare long pause counts as
    ``SPIKE`` median steps at most. Validation: a forward pass of up to 2048 images, after
    one to warm up.
    """
    probe, factor = _probe_config(cfg)
    rng = np.random.default_rng(0)
    rows = probe.batch_size * 8  # 8 steps per probe epoch: the epoch-end work is in the timing too
    x = rng.integers(0, 256, (rows, N_PIXELS), dtype=np.uint8)
    y = np.arange(rows) % N_CLASSES
    trainer = Trainer(probe, x, y)
    began = last = time.perf_counter()
    started, seen = 0.0, trainer.seen
    durations, images = [], 0  # of the timed steps
    for report in trainer.iter_run(report_every=1):  # one report per step
        if report.event not in ("batch", "epoch"):
            break
        now = time.perf_counter()
        if started:
            durations.append(now - last)
            images += trainer.seen - seen
            done = len(durations) >= MAX_TIMED_STEPS or (
                now - started >= PROBE_SECONDS and len(durations) >= MIN_TIMED_STEPS
            )
            if done:
                break
        elif trainer.step >= WARMUP_STEPS or (trainer.step > 1 and now - began >= WARMUP_SECONDS):
            started = now
        last, seen = now, trainer.seen
    steps = np.array(durations)
    train = float(np.minimum(steps, SPIKE * np.median(steps)).sum()) / max(images, 1) * factor
    chunk = trainer.net.preprocessor.transform(x[:2048])
    trainer.net.forward(chunk)  # warm-up
    t0 = time.perf_counter()
    trainer.net.forward(chunk)
    validation = (time.perf_counter() - t0) / len(chunk) * factor
    return train, validation


def estimate_run_seconds(cfg: TrainConfig, n_images: int = 60_000) -> float:
    """Seconds ``cfg`` would train on ``n_images`` labelled images on this machine, now.

    Training steps (as ``Trainer`` does them) plus the validation pass after every epoch;
    not the data loading or the final test. The probe takes well under a second (longer on a
    busy machine or for very wide networks).
    """
    cfg = dataclasses.replace(cfg).validate()
    n_train, n_val = _split_sizes(cfg, n_images)
    if n_train <= 0:
        return 0.0
    train, validation = probe_seconds_per_example(cfg)
    # Per image: a probe at a smaller batch size scales so, and so does a last, partial batch.
    return cfg.epochs * (n_train * train + n_val * validation)


def estimate_render_seconds(cfg: TrainConfig, n_images: int = 60_000, probes: int = 24) -> float:
    """Seconds it takes here to draw the training images once (``cfg.drawings``; 0 without).

    The drawings are made before the first epoch and cached, so this is paid by the first run
    with the same data and seed only. Timed on ``probes`` garment-like shapes (a T-shirt with
    sleeves), each drawn as a silhouette and an outline, as ``drawing_pool`` does.
    """
    if not cfg.drawings:
        return 0.0
    from model.datasets.renderings import drawing_pool

    shirt = np.zeros((probes, 28, 28), np.uint8)
    for i in range(probes):  # a little different each, so no shape is special
        shirt[i, 4 + i % 3 : 25, 8:20] = 200
        shirt[i, 4 + i % 3 : 11, 2 + i % 2 : 26 - i % 2] = 180
    drawing_pool(shirt[:2].reshape(2, N_PIXELS), seed=1)  # warm-up: first calls import and allocate
    t0 = time.perf_counter()
    drawing_pool(shirt.reshape(probes, N_PIXELS), seed=0)
    per_image = (time.perf_counter() - t0) / probes
    n_train, _ = _split_sizes(cfg, n_images)
    return per_image * n_train
