"""Pure helpers for the Train page (no Streamlit): status lines, which settings are in use, estimates."""

from __future__ import annotations

from collections.abc import Callable

from model.text import format_duration
from model.training.trainer import Progress, RunState
from ui.jobs import TrainingJob

# Settings that do nothing with some choices of others: (is it off?, why, for its help).
# Each reason names the setting it depends on and that setting's current value.
_INACTIVE: dict[str, tuple[Callable[[dict], bool], str]] = {
    "momentum": (
        lambda v: v["optimizer"] not in ("momentum", "nesterov"),
        "Not used now: only the momentum and nesterov optimizers use it, and the optimizer is {optimizer}.",
    ),
    "weight_decay": (
        lambda v: v["optimizer"] != "adamw",
        "Not used now: only the adamw optimizer uses it, and the optimizer is {optimizer}.",
    ),
    "step_epochs": (
        lambda v: v["schedule"] != "step",
        "Not used now: only the step schedule uses it, and the schedule is {schedule}.",
    ),
    "gamma": (
        lambda v: v["schedule"] != "step",
        "Not used now: only the step schedule uses it, and the schedule is {schedule}.",
    ),
    "patience": (
        lambda v: not v["val_fraction"],
        "Not used now: early stopping watches the validation images, and the validation fraction is 0.",
    ),
    "restore_best": (
        lambda v: not v["val_fraction"] or not v["patience"],
        "Not used now: the best epoch is only tracked with early stopping, which is off "
        "(it needs a patience above 0 and a validation fraction above 0).",
    ),
}


def inactive_reason(key: str, values: dict) -> str:
    """Why the setting ``key`` does nothing with these settings (values by TrainConfig field), or ''."""
    rule = _INACTIVE.get(key)
    if rule is None or not rule[0](values):
        return ""
    return rule[1].format(**values)


def epoch_counter(p: Progress) -> str:
    """The epoch in progress (or just finished) out of all: 'epoch 11/30'. Every counter says it this way."""
    return f"epoch {p.epoch}/{p.epochs}"


def status_line(job: TrainingJob) -> str:
    """One line saying what the job is doing, for people (queue place, epoch, speed, ETA)."""
    p = job.progress
    if job.state == RunState.QUEUED:
        place = job.queue_position
        if not place:  # left the queue, no report from its worker yet
            return "Starting on a training worker…"
        return (
            f"Waiting for a free training slot: you are number {place} in the queue "
            f"({job.slot_limit} trainings run at once on the training cluster). It starts by itself."
        )
    if job.state == RunState.PREPARING and job.rendered:
        done, total = job.rendered
        return (
            f"Drawing the training images as silhouettes and outlines on a training worker: {done:,} of "
            f"{total:,} drawings (once; later runs with the same data and seed reuse them)…"
        )
    if job.state == RunState.PREPARING:
        return "Preparing the data on a training worker (loading, splitting and preprocessing the images)…"
    if p is None:
        return "Starting…"
    counter = epoch_counter(p)
    text = f"{counter[0].upper()}{counter[1:]} · batch {p.batch}/{p.batches} · {p.examples_per_sec:,.0f} images/s"
    if job.alive:
        text += f" · about {format_duration(p.eta)} left"
    else:
        text += f" · {format_duration(p.elapsed)} in all"
    return text


def estimate_text(seconds: float) -> str:
    """A run's estimated duration in round figures: 'about 45 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 20:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90:
        return f"about {5 * round(seconds / 5)} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"
