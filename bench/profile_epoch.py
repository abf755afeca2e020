"""Where one epoch of our engine goes: the real Trainer, with timers wrapped around its parts.

Usage:
    python bench/profile_epoch.py [--data-dir DIR] [--repeats N] [--cprofile]

Runs the benchmark epoch of bench_epoch.py (784-128-10 ReLU, batch 128, Adam 1e-3, no validation,
no dropout) through ``Trainer.run`` and times, per epoch, the calls the loop makes: the batch
gather (``Trainer._batch``), ``MLP.forward``, the loss (``cross_entropy`` as called by
``MLP.loss_and_grad``), ``MLP.backward`` and ``Adam.update_params``; "rest" is everything else
(trainer bookkeeping, progress reports). Nothing is re-implemented, so the figures follow the engine
as it changes. Plain and wrapped epochs alternate with the epoch's matmuls alone (bench_epoch's
MatmulsOnly), so the timers' own cost shows as the difference of the first two, and the plain epoch
is set against its matmuls. Besides the per-epoch totals, each part's fastest 10% of calls (the
10th percentile per call, times the number of batches) is printed: on a shared machine this
lower envelope moves far less than the totals.
With --cprofile, one more epoch runs under cProfile and the top functions by own time are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_epoch import BATCH, MatmulsOnly, default_data_dir, epoch_config  # noqa: E402

import model.nn.network as network  # noqa: E402
from model.datasets.fashion_mnist import load_fashion_mnist  # noqa: E402
from model.training.trainer import Trainer  # noqa: E402

PARTS = ("gather", "forward", "loss", "backward", "optimizer")


def timed(fn, totals: dict, key: str, calls: dict | None = None):
    clock = time.perf_counter
    record = calls.setdefault(key, []).append if calls is not None else None

    def wrapper(*args, **kwargs):
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = clock() - t0
            totals[key] += dt
            if record is not None:
                record(dt)

    return wrapper


def wrapped_epoch(x, y, seed: int, calls: dict | None = None) -> tuple[float, dict]:
    """One epoch with timers around its parts: (epoch seconds, seconds per part); each call's time into ``calls``."""
    trainer = Trainer(epoch_config(seed), x, y)
    totals = dict.fromkeys(PARTS, 0.0)
    trainer._batch = timed(trainer._batch, totals, "gather", calls)
    trainer.net.forward = timed(trainer.net.forward, totals, "forward", calls)
    trainer.net.backward = timed(trainer.net.backward, totals, "backward", calls)
    trainer.optimizer.update_params = timed(trainer.optimizer.update_params, totals, "optimizer", calls)
    original_ce = network.cross_entropy
    network.cross_entropy = timed(original_ce, totals, "loss", calls)  # the name loss_and_grad looks up
    try:
        t0 = time.perf_counter()
        trainer.run()
        total = time.perf_counter() - t0
    finally:
        network.cross_entropy = original_ce
    return total, totals


def plain_epoch(x, y, seed: int) -> float:
    trainer = Trainer(epoch_config(seed), x, y)
    t0 = time.perf_counter()
    trainer.run()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=default_data_dir(), help="Fashion-MNIST folder")
    ap.add_argument("--repeats", type=int, default=5, help="epochs of each kind after one warm-up (default 5)")
    ap.add_argument("--cprofile", action="store_true", help="also profile one epoch with cProfile")
    args = ap.parse_args(argv)
    ds = load_fashion_mnist(args.data_dir, download=False)
    x, y = ds.x_train, ds.y_train
    batches = -(-len(y) // BATCH)

    plain, wrapped, mm, parts, calls = [], [], [], {k: [] for k in PARTS}, {}
    floor = MatmulsOnly(len(y))
    for r in range(args.repeats + 1):
        p = plain_epoch(x, y, r)
        w, totals = wrapped_epoch(x, y, r, calls if r else None)
        m = floor.run(r)
        if r:  # round 0 is the warm-up
            plain.append(p)
            wrapped.append(w)
            mm.append(m)
            for k in PARTS:
                parts[k].append(totals[k])
    rest = [w - sum(parts[k][i] for k in PARTS) for i, w in enumerate(wrapped)]

    med_w = statistics.median(wrapped)
    print(f"one epoch, {len(y)} images, {batches} batches; medians (min) over {args.repeats} epochs after 1 warm-up")
    print(f"  plain Trainer.run     {statistics.median(plain) * 1e3:7.1f} ms  ({min(plain) * 1e3:.1f})")
    print(f"  with part timers      {med_w * 1e3:7.1f} ms  ({min(wrapped) * 1e3:.1f})")
    print(
        f"  the epoch's matmuls   {statistics.median(mm) * 1e3:7.1f} ms  ({min(mm) * 1e3:.1f})  alone, at batch shapes"
    )
    paired = statistics.median(p / m for p, m in zip(plain, mm, strict=True))
    print(f"  plain / matmuls       {paired:7.2f}     (median of the per-round ratios)")
    print(f"\n  {'part':34s} {'ms/epoch':>9s} {'(min)':>8s} {'us/batch':>9s} {'share':>6s} {'p10 ms/epoch':>13s}")
    labels = {
        "gather": "gather (Trainer._batch)",
        "forward": "MLP.forward",
        "loss": "cross_entropy",
        "backward": "MLP.backward",
        "optimizer": "optimizer.update_params",
    }
    for k in PARTS:
        m = statistics.median(parts[k])
        p10 = statistics.quantiles(calls[k], n=10)[0] * batches
        print(
            f"  {labels[k]:34s} {m * 1e3:9.1f} {min(parts[k]) * 1e3:8.1f} {m / batches * 1e6:9.1f} {m / med_w:6.1%}"
            f" {p10 * 1e3:13.1f}"
        )
    m = statistics.median(rest)
    rest_label = "rest (trainer loop, reports)"
    print(f"  {rest_label:34s} {m * 1e3:9.1f} {min(rest) * 1e3:8.1f} {m / batches * 1e6:9.1f} {m / med_w:6.1%}")

    if args.cprofile:
        trainer = Trainer(epoch_config(0), x, y)
        prof = cProfile.Profile()
        prof.enable()
        trainer.run()
        prof.disable()
        print("\ncProfile of one epoch (own time; cProfile's per-call overhead inflates small calls):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
