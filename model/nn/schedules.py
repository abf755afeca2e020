"""Learning-rate schedules: the rate for a step, given the run's length in steps."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "cosine")


def learning_rate(
    base_lr: float,
    step: int,
    total_steps: int,
    steps_per_epoch: int,
    schedule: str = "constant",
    warmup_epochs: float = 0.0,
    step_epochs: int = 10,
    gamma: float = 0.5,
) -> float:
    """Rate for 0-based ``step``: linear warm-up from ~0, then constant, step or cosine decay."""
    warmup = int(round(warmup_epochs * steps_per_epoch))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        return base_lr * gamma ** ((step // max(steps_per_epoch, 1)) // max(step_epochs, 1))
    if schedule == "cosine":
        span = max(total_steps - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
