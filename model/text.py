"""How numbers read in the CLI and the app: one rule each for probabilities and durations."""

from __future__ import annotations


def format_probability(p: float) -> str:
    """A probability as a percentage with one decimal that never rounds to a false 100.0% or 0.0%.

    Above 99.9% reads ">99.9%", below 0.1% (but above 0) "<0.1%": a softmax output is never
    exactly 1 or 0, and a rounded "100.0%" would claim a certainty the network does not have.
    """
    p = float(p)
    if p > 0.999:
        return ">99.9%"
    if 0 < p < 0.001:
        return "<0.1%"
    return f"{p:.1%}"


def format_duration(seconds: float) -> str:
    """Whole seconds as m:ss, or h:mm:ss from an hour on; negative durations read 0:00."""
    seconds = max(int(round(seconds)), 0)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
