"""Pure helpers for the Train page's live view (no Streamlit): status lines and learning-curve data."""

from __future__ import annotations

import math

import pandas as pd

from .jobs import TrainingJob
from .live_chart import BATCH_SERIES


def format_seconds(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_line(job: TrainingJob) -> str:
    """One line saying what the job is doing, for people (queue place, epoch, speed, ETA)."""
    p = job.progress
    if job.state == "queued":
        return (
            f"Waiting for a free training slot: you are number {job.queue_position} in the queue "
            f"({job.slots.limit} trainings run at once on this server). It starts by itself."
        )
    if job.state == "preparing":
        return "Preparing the data (splitting and preprocessing 60,000 images)…"
    if p is None:
        return "Starting…"
    text = f"Epoch {p.epoch}/{p.epochs} · batch {p.batch}/{p.batches} · {p.examples_per_sec:,.0f} images/s"
    if job.alive:
        text += f" · about {format_seconds(p.eta)} left"
    else:
        text += f" · {format_seconds(p.elapsed)} in all"
    return text


def curve_frames(history: dict, per_epoch: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loss, accuracy) learning curves in long format: columns ``epoch``, ``series``, ``value``.

    Series are "train" and "validation" per epoch (missing or non-finite values left out) and, for
    the loss when ``per_epoch`` (training images per epoch) is given, the smoothed per-batch loss
    with a fractional epoch: the same lines as the live view's charts.
    """
    loss_rows, acc_rows = [], []
    epochs = history.get("epoch", [])
    for name, split in (("train", "train"), ("validation", "val")):
        for rows, metric in ((loss_rows, "loss"), (acc_rows, "acc")):
            for e, v in zip(epochs, history.get(f"{split}_{metric}", [])):
                if v is not None and math.isfinite(v):
                    rows.append((e, name, v))
    if per_epoch:
        for seen, v in zip(history.get("batch_seen", []), history.get("batch_loss", [])):
            if v is not None and math.isfinite(v):
                loss_rows.append((seen / per_epoch, BATCH_SERIES, v))
    columns = ["epoch", "series", "value"]
    return pd.DataFrame(loss_rows, columns=columns), pd.DataFrame(acc_rows, columns=columns)
