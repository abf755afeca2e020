"""Pure helpers for the Train page's live view (no Streamlit): status lines."""

from __future__ import annotations

from model.text import format_duration
from model.training.trainer import RunState
from ui.jobs import TrainingJob


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
    if job.state == RunState.PREPARING:
        return "Preparing the data on a training worker (loading, splitting and preprocessing the images)…"
    if p is None:
        return "Starting…"
    text = f"Epoch {p.epoch}/{p.epochs} · batch {p.batch}/{p.batches} · {p.examples_per_sec:,.0f} images/s"
    if job.alive:
        text += f" · about {format_duration(p.eta)} left"
    else:
        text += f" · {format_duration(p.elapsed)} in all"
    return text
