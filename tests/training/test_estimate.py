"""The run-time estimate: a short speed probe on this machine, scaled to the run.

The scaling is tested with a fixed probe result (deterministic); the probe itself with real
timings, comparing only settings whose costs differ many times over (the machine is shared).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from model.training import estimate
from model.training.config import PRESETS, TrainConfig
from model.training.estimate import estimate_run_seconds, probe_seconds_per_example

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture
def fixed_probe(monkeypatch):
    """A probe that answers 1 ms per training image and 0.25 ms per validation image."""
    calls = []

    def probe(cfg: TrainConfig) -> tuple[float, float]:
        calls.append(cfg)
        return 1e-3, 2.5e-4

    monkeypatch.setattr(estimate, "probe_seconds_per_example", probe)
    return calls


def test_scales_to_the_runs_images_epochs_and_validation(fixed_probe):
    cfg = TrainConfig(epochs=10, val_fraction=0.1)
    # 54,000 training images at 1 ms and 6,000 validation images at 0.25 ms, ten times.
    assert estimate_run_seconds(cfg) == pytest.approx(10 * (54.0 + 1.5))
    assert estimate_run_seconds(dataclasses.replace(cfg, epochs=20)) == pytest.approx(2 * 555.0)
    assert estimate_run_seconds(cfg, n_images=6000) == pytest.approx(55.5)
    assert estimate_run_seconds(dataclasses.replace(cfg, train_subset=6000)) == pytest.approx(55.5)
    assert estimate_run_seconds(dataclasses.replace(cfg, val_fraction=0.0)) == pytest.approx(600.0)
    assert estimate_run_seconds(cfg, n_images=0) == 0.0
    assert fixed_probe[0] == cfg  # the probe sees the run's own settings


def test_bad_settings_are_refused_before_probing(fixed_probe):
    with pytest.raises(Exception, match="^lr:"):
        estimate_run_seconds(TrainConfig(lr=-1.0))
    assert fixed_probe == []


def test_the_probe_is_short_and_positive():
    cfg = PRESETS["fast"]
    began = time.perf_counter()
    seconds = estimate_run_seconds(cfg)
    took = time.perf_counter() - began
    assert seconds > 0
    assert took < 1.5, took  # about 0.25 s on an idle 2-core machine


def test_the_probe_is_monotone_in_width_and_batch_work():
    narrow = probe_seconds_per_example(TrainConfig(hidden=[16]))
    wide = probe_seconds_per_example(TrainConfig(hidden=[1024, 1024]))
    assert 0 < narrow[0] and 0 < narrow[1]
    assert wide[0] > 3 * narrow[0] and wide[1] > 3 * narrow[1]  # about 100 times the multiply-adds
    small_batches = estimate_run_seconds(TrainConfig(hidden=[16], batch_size=4, epochs=1))
    big_batches = estimate_run_seconds(TrainConfig(hidden=[16], batch_size=512, epochs=1))
    assert small_batches > 3 * big_batches  # per-step overhead: 128 times the steps


def test_very_wide_networks_are_probed_narrower_and_scaled():
    cfg = TrainConfig(hidden=[4096, 4096, 4096])  # 42 million weights: too many to allocate for a probe
    probe, factor = estimate._probe_config(cfg)
    assert sum(a * b for a, b in zip([784, *probe.hidden], [*probe.hidden, 10], strict=True)) <= (
        estimate.MAX_PROBE_PARAMS
    )
    assert factor > 5 and probe.batch_size < cfg.batch_size
    began = time.perf_counter()
    assert estimate_run_seconds(cfg, n_images=1000) > estimate_run_seconds(TrainConfig(hidden=[256]), n_images=1000)
    assert time.perf_counter() - began < 5


def test_drawing_time_is_estimated_only_for_runs_with_drawings():
    from model.training.estimate import estimate_render_seconds

    assert estimate_render_seconds(TrainConfig()) == 0.0
    seconds = estimate_render_seconds(TrainConfig(drawings=0.2), n_images=60_000)
    assert 0 < seconds < 60_000  # a real probe: under a second per image on any machine
