"""Pure helpers for the Train page's live view (no Streamlit): status lines."""

from __future__ import annotations

from model.text import format_duration
from ui.jobs import TrainingJob


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
        text += f" · about {format_duration(p.eta)} left"
    else:
        text += f" · {format_duration(p.elapsed)} in all"
    return text
