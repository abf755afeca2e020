"""What the inside-the-network readings cost a training: epoch time with and without them.

Trains the fast preset's network (shortened to ``--epochs`` per run) with the real ``Trainer``,
alternating runs without readings and runs that take one the way the app's training worker does
(``ui.jobs.train_task``: every ``--every`` seconds and when the run ends, on the same probe batch of
512 training images). Prints the median seconds per epoch of each kind, their ratio, and the
median time of one reading. The machine may be shared: compare figures within one run only.

    python bench/inside_cost.py --data-dir DIR [--runs 4] [--epochs 3] [--every 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.datasets.fashion_mnist import load_fashion_mnist  # noqa: E402
from model.training.config import PRESETS  # noqa: E402
from model.training.diagnostics import DiagnosticsHistory, measure, probe_indices  # noqa: E402
from model.training.trainer import Trainer  # noqa: E402


def one_run(cfg, ds, readings: bool, every: float) -> tuple[float, float, list[float]]:
    """(wall seconds per epoch, CPU seconds per epoch, CPU seconds of each reading) for one run of cfg.

    CPU time (this process, all its threads) is what the readings take from the machine; on a shared
    machine it varies much less than wall time, which waits for the other processes too.
    """
    probe = probe_indices(ds.y_train)
    px, py = ds.x_train[probe], ds.y_train[probe]
    trainer = Trainer(cfg, ds.x_train, ds.y_train)
    history, costs, last = DiagnosticsHistory(), [], 0.0
    started, cpu = time.perf_counter(), time.process_time()
    for p in trainer.iter_run():
        now = time.monotonic()
        if readings and (now - last >= every or p.event not in ("batch", "epoch")):
            t = time.process_time()
            history.add(trainer.seen / trainer.n, measure(trainer.net, px, py))
            costs.append(time.process_time() - t)
            last = now
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall / cfg.epochs, cpu / cfg.epochs, costs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST files (default: FASHION_MNIST_DIR)")
    ap.add_argument("--runs", type=int, default=4, help="runs of each kind, interleaved")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between readings (the app's live cadence)")
    args = ap.parse_args(argv)
    ds = load_fashion_mnist(args.data_dir, download=False)
    cfg = PRESETS["fast"]
    cfg = type(cfg).from_dict({**cfg.to_dict(), "epochs": args.epochs})
    times: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    costs: list[float] = []
    one_run(cfg, ds, False, args.every)  # warm-up: page in the data, load BLAS
    for i in range(args.runs):
        for readings in (False, True) if i % 2 == 0 else (True, False):
            wall, cpu, c = one_run(cfg, ds, readings, args.every)
            times[readings].append(wall)
            cpus[readings].append(cpu)
            costs += c
            kind = "with" if readings else "without"
            print(f"run {i + 1} {kind} readings: {wall:.3f} s/epoch, {cpu:.3f} CPU s/epoch", flush=True)
    med = {k: (statistics.median(times[k]), statistics.median(cpus[k])) for k in (False, True)}
    per_epoch = len(costs) / (args.runs * args.epochs)
    reading = statistics.median(costs)
    print(
        f"fast preset, {args.epochs} epochs per run, {args.runs} runs of each, readings every {args.every:g} s and at "
        f"the end ({per_epoch:.1f} per epoch). Median s/epoch: {med[False][0]:.3f} without, {med[True][0]:.3f} "
        f"with (ratio {med[True][0] / med[False][0]:.3f}); CPU s/epoch: {med[False][1]:.3f} without, "
        f"{med[True][1]:.3f} with (ratio {med[True][1] / med[False][1]:.3f}). One reading: median "
        f"{1000 * reading:.1f} CPU ms ({1000 * min(costs):.1f}-{1000 * max(costs):.1f}), "
        f"{per_epoch * reading / med[False][1]:.1%} of an epoch's CPU time."
    )


if __name__ == "__main__":
    main()
