"""Benchmark: one training epoch of a 784-128-10 ReLU MLP, this engine vs PyTorch vs scikit-learn.

Usage:
    python bench/bench_epoch.py [--data-dir DIR] [--repeats N] [--json]

What it measures, in one run (see bench/README.md for how to read the numbers):
  1. data load time of load_fashion_mnist (first call in the process, then a second call);
  2. one epoch (60,000 images, batch 128, Adam lr 1e-3, float32, shuffled) in
       a. this engine through the real Trainer (epoch time excludes Trainer.__init__, reported apart),
       b. PyTorch CPU, a plain idiomatic loop (skipped with a note if torch is not installed),
       c. scikit-learn's MLPClassifier.fit with max_iter=1 (skipped with a note if not installed);
     the engines run interleaved, round-robin with a rotating order, after warm-up round(s);
  3. the matmul lower bound: the epoch's matmul FLOPs / the best float32 matmul rate measured here,
     and the epoch's own matmuls alone at batch shapes (same calls, nothing else), timed in the rounds;
  4. single-image predict latency (preprocess_upload of a PNG + predict_proba) and model load time.
Targets: ours / PyTorch <= 0.6, ours / the epoch's matmuls <= 1.5 (and ours / bound <= 2.5, aim 2.0).

Timings are wall-clock (time.perf_counter). The machine may be shared, so every figure is
reported as median and minimum over the repeats. Each ratio is printed three ways: paired (the
median over rounds of the ratio within a round, which cancels drift between rounds; rounds where
either side took over 1.5x its best are left out), ratio of the minimums and ratio of the medians;
the PASS/MISS verdicts use the paired one (--stat to change). The script never fails on a missed
target: it exits 0 (1 only if the data could not be loaded).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.datasets.fashion_mnist import load_fashion_mnist  # noqa: E402
from model.nn.network import MLP  # noqa: E402
from model.training.config import TrainConfig  # noqa: E402
from model.training.trainer import Trainer  # noqa: E402

N_IN, N_HID, N_OUT = 784, 128, 10
BATCH, LR = 128, 1e-3
TARGET_VS_TORCH = 0.6  # ours / PyTorch epoch time
TARGET_VS_MATMULS = 1.5  # ours / the epoch's own matmuls alone, at batch shapes
TARGET_VS_BOUND = 2.5  # ours / matmul lower bound (aim 2.0)
AIM_VS_BOUND = 2.0
THREADS = 2
NOISY = 1.5  # flag an engine whose slowest epoch took this many times its fastest


def epoch_flops(n: int) -> float:
    """Matmul FLOPs of one epoch of 784-128-10 over n samples (2 FLOPs per multiply-add).

    forward: x@W1, h@W2; backward weight grads: x.T@d1, h.T@d2 (same count);
    backward input grad of layer 2 only (d2@W2.T); no input grad for layer 1.
    """
    fwd = 2 * n * (N_IN * N_HID + N_HID * N_OUT)
    return float(fwd + fwd + 2 * n * N_HID * N_OUT)


def summary(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": list(times)}


def default_data_dir() -> str | None:
    env = os.environ.get("FASHION_MNIST_DIR")
    if env:
        return env
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    return str(shared) if shared.exists() else None


def blas_info() -> str:
    """NumPy's BLAS, its thread count and (OpenBLAS) the kernel set it chose, e.g. 'openblas x2 Haswell'."""
    try:
        from threadpoolctl import threadpool_info

        libs = [
            " ".join(str(d[k]) for k in ("internal_api", "num_threads", "architecture") if d.get(k) is not None)
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
        return ", ".join(libs).replace(" ", " x", 1) or "unknown"
    except Exception:  # threadpoolctl is optional
        return "unknown (threadpoolctl not installed)"


def cpu_has_avx512() -> bool | None:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return None
    return all(f in flags for f in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))


def epoch_config(seed: int) -> TrainConfig:
    """The benchmark epoch: 784-128-10 ReLU, batch 128, Adam, constant lr, no dropout, no validation."""
    return TrainConfig(
        hidden=[N_HID],
        activation="relu",
        init="he",
        optimizer="adam",
        lr=LR,
        schedule="constant",
        batch_size=BATCH,
        epochs=1,
        dropout=0.0,
        input_dropout=0.0,
        label_smoothing=0.0,
        l2=0.0,
        preprocessing="scale",
        val_fraction=0.0,
        seed=seed,
    )


class OthersCpu:
    """CPU time used by other processes while we ran (Linux /proc/stat minus our own os.times())."""

    def __init__(self):
        self.start = self._snap()

    @staticmethod
    def _snap() -> tuple[float, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / hz  # all but idle and iowait
        t = os.times()
        return time.monotonic(), busy, t.user + t.system

    def share(self) -> float | None:
        """Average number of CPUs other processes kept busy since construction."""
        end = self._snap()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        others = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(others, 0.0) / (end[0] - self.start[0])


# ----------------------------------------------------------------------------- 1. data


def time_data_load(data_dir: str | None) -> tuple[object | None, dict]:
    t0 = time.perf_counter()
    try:
        ds = load_fashion_mnist(data_dir, download=False)
    except Exception as e:  # DataError and friends: report, keep going with the rest
        return None, {"error": f"{type(e).__name__}: {e}"}
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_fashion_mnist(data_dir, download=False)
    second = time.perf_counter() - t0
    return ds, {"first_s": first, "second_s": second, "source": ds.source, "n_train": int(len(ds.y_train))}


# ----------------------------------------------------------------------------- 2. epochs


class Ours:
    name = "ours"
    label = "this engine (Trainer)"

    def __init__(self, x_uint8: np.ndarray, y: np.ndarray):
        self.x, self.y = x_uint8, y
        self.init_times: list[float] = []
        self.losses: list[float] = []
        self.accs: list[float] = []

    def run(self, seed: int) -> float:
        cfg = epoch_config(seed)
        t0 = time.perf_counter()
        trainer = Trainer(cfg, self.x, self.y)  # one-time preprocessing: reported apart
        t1 = time.perf_counter()
        trainer.run()
        t2 = time.perf_counter()
        if trainer.status != "done" or trainer.x_pixels is None or trainer.n != len(self.y):
            raise RuntimeError(
                f"unexpected trainer state: {trainer.status}, pixels kept: {trainer.x_pixels is not None}, n={trainer.n}"
            )
        self.init_times.append(t1 - t0)
        self.losses.append(trainer.history.train_loss[-1])
        self.accs.append(trainer.history.train_acc[-1])
        return t2 - t1


class Torch:
    name = "torch"
    label = "PyTorch CPU"

    def __init__(self, x: np.ndarray, y: np.ndarray):
        import torch

        self.torch = torch
        torch.set_num_threads(THREADS)
        self.x = torch.from_numpy(x)  # float32, preloaded; x is already scaled to [0, 1]
        self.y = torch.from_numpy(y.astype(np.int64))
        self.losses: list[float] = []
        self.version = torch.__version__

    def run(self, seed: int) -> float:
        torch, nn = self.torch, self.torch.nn
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(N_IN, N_HID), nn.ReLU(), nn.Linear(N_HID, N_OUT))
        loss_fn = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        n = len(self.y)
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = self.x[idx], self.y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)  # like Trainer, track the epoch's training loss
        elapsed = time.perf_counter() - t0
        self.losses.append(total / n)
        return elapsed


class Sklearn:
    name = "sklearn"
    label = "scikit-learn MLPClassifier"

    def __init__(self, x: np.ndarray, y: np.ndarray):
        import sklearn
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        self.cls, self.warning = MLPClassifier, ConvergenceWarning
        self.x, self.y = x, y  # float32 in [0, 1]
        self.losses: list[float] = []
        self.dtype = "?"
        self.version = sklearn.__version__

    def run(self, seed: int) -> float:
        clf = self.cls(
            hidden_layer_sizes=(N_HID,),
            activation="relu",
            solver="adam",
            alpha=0.0,  # same maths as ours; sklearn still does its L2 passes (cost unchanged)
            batch_size=BATCH,
            learning_rate_init=LR,
            max_iter=1,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**9,
            early_stopping=False,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.warning)
            t0 = time.perf_counter()
            clf.fit(self.x, self.y)
            elapsed = time.perf_counter() - t0
        self.losses.append(float(clf.loss_))
        self.dtype = str(clf.coefs_[0].dtype)
        return elapsed


def time_epochs(engines: list, repeats: int, warmup: int, verbose: bool) -> dict[str, list[float]]:
    """Round-robin: each round runs every engine once, the order rotating by one per round."""
    times: dict[str, list[float]] = {e.name: [] for e in engines}
    for r in range(warmup + repeats):
        k = r % len(engines)
        order = engines[k:] + engines[:k]
        for eng in order:
            gc.collect()
            t = eng.run(seed=r)
            if r >= warmup:
                times[eng.name].append(t)
            if verbose:
                tag = "warm-up" if r < warmup else f"repeat {r - warmup + 1}/{repeats}"
                print(f"  [{tag}] {eng.name:8s} {t:7.3f} s", flush=True)
    return times


# ----------------------------------------------------------------------------- 3. matmul rate


def matmul_rate(m: int, k: int, n: int, reps: int, min_time: float = 0.2) -> dict:
    """Best float32 rate (FLOP/s) of a (m,k)@(k,n) matmul into a preallocated output."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    np.matmul(a, b, out=out)
    inner = 1
    while True:  # enough calls per sample for a stable timer reading
        t0 = time.perf_counter()
        for _ in range(inner):
            np.matmul(a, b, out=out)
        if time.perf_counter() - t0 >= min_time / 4 or inner >= 1 << 16:
            break
        inner *= 4
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.matmul(a, b, out=out)
        best.append((time.perf_counter() - t0) / inner)
    flop = 2.0 * m * k * n
    return {
        "shape": f"({m}x{k})@({k}x{n})",
        "best_gflops": flop / min(best) / 1e9,
        "median_gflops": flop / statistics.median(best) / 1e9,
    }


class MatmulsOnly:
    """The epoch's own matmuls (same shapes, preallocated outputs, no other work): an achievable floor.

    Runs in the round-robin with the engines so it sees the same machine state; not an engine.
    """

    name = "matmuls"
    label = "the epoch's matmuls alone, at batch shapes"

    def __init__(self, n: int):
        rng = np.random.default_rng(0)
        self.x = rng.random((BATCH, N_IN), dtype=np.float32)
        self.w1 = rng.standard_normal((N_IN, N_HID), dtype=np.float32)
        self.w2 = rng.standard_normal((N_HID, N_OUT), dtype=np.float32)
        shapes = ((BATCH, N_HID), (BATCH, N_OUT), (BATCH, N_OUT), (BATCH, N_HID))
        self.h, self.z2, self.d2, self.d1 = (np.empty(s, np.float32) for s in shapes)
        self.d2[...] = rng.standard_normal(self.d2.shape, dtype=np.float32)
        self.g1, self.g2 = np.empty_like(self.w1), np.empty_like(self.w2)
        self.batches = [BATCH] * (n // BATCH) + ([n % BATCH] if n % BATCH else [])

    def run(self, seed: int) -> float:
        x, w1, w2, g1, g2 = self.x, self.w1, self.w2, self.g1, self.g2
        t0 = time.perf_counter()
        for nb in self.batches:
            xb, hb, zb, d2b, d1b = x[:nb], self.h[:nb], self.z2[:nb], self.d2[:nb], self.d1[:nb]
            np.matmul(xb, w1, out=hb)  # forward layer 1
            np.matmul(hb, w2, out=zb)  # forward layer 2
            np.matmul(hb.T, d2b, out=g2)  # weight grad layer 2
            np.matmul(d2b, w2.T, out=d1b)  # input grad layer 2
            np.matmul(xb.T, d1b, out=g1)  # weight grad layer 1
        return time.perf_counter() - t0


class BoundProbe:
    """Re-measures the matmul lower bound inside each round (best of three 2048^3 matmuls).

    Its "time" is the bound itself, epoch FLOPs / this round's rate, so ours/bound can be paired
    per round like the engine ratios; not an engine.
    """

    name = "bound"
    label = "matmul lower bound, measured in each round"

    def __init__(self, flops: float, size: int = 2048):
        rng = np.random.default_rng(0)
        self.flops, self.size = flops, size
        self.a = rng.standard_normal((size, size), dtype=np.float32)
        self.b = rng.standard_normal((size, size), dtype=np.float32)
        self.out = np.empty((size, size), np.float32)

    def run(self, seed: int) -> float:
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            np.matmul(self.a, self.b, out=self.out)
            best = min(best, time.perf_counter() - t0)
        return self.flops / (2.0 * self.size**3 / best)


# ----------------------------------------------------------------------------- 4. predict


def photo_png(width: int = 300, height: int = 400) -> bytes:
    """A photo-like RGB PNG: lit background gradient, a dark textured garment, sensor noise."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = 200 + 40 * (xx / width) - 30 * (yy / height)
    img = np.repeat(bg[..., None], 3, axis=2) * np.array([1.0, 0.97, 0.92], np.float32)
    cx, cy = width / 2, height / 2
    body = (np.abs(xx - cx) < width * 0.22) & (np.abs(yy - cy) < height * 0.3)
    sleeves = (np.abs(yy - (cy - height * 0.2)) < height * 0.08) & (np.abs(xx - cx) < width * 0.4)
    garment = body | sleeves
    texture = 15 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    img[garment] = (np.array([60, 70, 110], np.float32) + texture[garment, None]) * (
        0.8 + 0.2 * yy[garment, None] / height
    )
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def time_predict(runs: int) -> dict:
    out: dict = {}
    weights = REPO / "weights" / "default.npz"
    if weights.exists():
        from model.model_file import load_model

        t0 = time.perf_counter()
        net = load_model(weights)
        out["model_load_first_s"] = time.perf_counter() - t0
        loads = []
        for _ in range(10):
            t0 = time.perf_counter()
            load_model(weights)
            loads.append(time.perf_counter() - t0)
        out["model_load_s"] = summary(loads)
        out["model"] = f"weights/default.npz ({net.describe()}, {weights.stat().st_size / 1e6:.2f} MB)"
    else:
        t0 = time.perf_counter()
        net = MLP([784, 512, 256, 10], ["relu", "relu"])
        out["model_build_s"] = time.perf_counter() - t0
        out["model"] = f"fresh MLP {net.describe()} (weights/default.npz not found, so no model load time)"
    try:
        from model.datasets.images import preprocess_upload
    except ImportError as e:
        out["note"] = (
            f"model.datasets.images.preprocess_upload unavailable ({e}); timing predict_proba on a blank 28x28 input only"
        )
        preprocess_upload = None
    png = None
    if preprocess_upload is not None:
        try:
            png = photo_png()
        except ImportError as e:
            out["note"] = f"Pillow unavailable ({e}); timing predict_proba only"
    out["png_bytes"] = len(png) if png else 0
    pre_t, pred_t, total_t = [], [], []
    arr = np.zeros((28, 28), np.uint8)
    for i in range(runs + 5):
        t0 = time.perf_counter()
        if png is not None:
            arr = preprocess_upload(png, "photo.png")
        t1 = time.perf_counter()
        proba = net.predict_proba(arr[None])
        t2 = time.perf_counter()
        if i >= 5:  # first few calls warm caches and lazy imports
            pre_t.append(t1 - t0)
            pred_t.append(t2 - t1)
            total_t.append(t2 - t0)
    if proba.shape != (1, 10):
        raise RuntimeError(f"predict_proba returned shape {proba.shape}")
    out["runs"] = runs
    if png is not None:
        out["preprocess_s"] = summary(pre_t)
    out["predict_proba_s"] = summary(pred_t)
    out["total_s"] = summary(total_t)
    for key in ("preprocess_s", "predict_proba_s", "total_s"):
        if key in out:
            out[key]["p90"] = float(np.percentile(out[key]["runs"], 90))
            del out[key]["runs"]
    return out


# ----------------------------------------------------------------------------- report


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= target else "MISS"


def fmt_ratio(r: dict | None, stat: str) -> str:
    if r is None:
        return f"{'n/a':>6s}{'':54s}"
    others = ", ".join(f"{k} {r[k]:.2f}" for k in ("paired", "min", "median") if k != stat)
    return f"{r[stat]:6.2f} {stat:6s} ({others}; {r['paired_rounds']} rounds paired)".ljust(60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="Fashion-MNIST folder (default: $FASHION_MNIST_DIR, else ../shared/data/fashion-mnist)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per engine (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (default 1)")
    ap.add_argument("--predict-runs", type=int, default=200, help="single-image predictions to time (default 200)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=0,
        help="cap NumPy's BLAS threads for the whole run via threadpoolctl (default 0: leave as configured)",
    )
    ap.add_argument(
        "--stat",
        choices=("paired", "min", "median"),
        default="paired",
        help="which ratio the PASS/MISS verdicts use: paired (default; the median over rounds of the ratio "
        "within each round, which cancels drift between rounds, leaving out rounds hit by a burst of other "
        "load), min (ratio of the fastest epochs) or "
        "median (ratio of the medians); all three are printed",
    )
    ap.add_argument("--json", action="store_true", help="also print one JSON object with all figures at the end")
    args = ap.parse_args(argv)
    if args.blas_threads > 0:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            ap.error("--blas-threads needs threadpoolctl (pip install threadpoolctl)")
        limiter = threadpool_limits(args.blas_threads, user_api="blas")  # kept alive for the whole run
        limiter.__enter__()
    if args.repeats < 1 or args.warmup < 0 or args.predict_runs < 1:
        ap.error("--repeats and --predict-runs must be >= 1, --warmup >= 0")

    res: dict = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "blas": blas_info(),
        "loadavg_start": os.getloadavg(),
        "cpu_avx512": cpu_has_avx512(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "blas_threads_cap": args.blas_threads or None,
        "notes": [],
    }
    run_others = OthersCpu()
    print(f"bench_epoch: Python {res['python']}, NumPy {res['numpy']}, {res['cpus']} CPUs, BLAS {res['blas']}")
    if res["cpu_avx512"] and "openblas" in res["blas"] and ("Haswell" in res["blas"] or "Zen" in res["blas"]):
        forced = os.environ.get("OPENBLAS_CORETYPE")
        why = f"OPENBLAS_CORETYPE={forced} is set in the environment" if forced else "OpenBLAS picked them"
        res["notes"].append(
            f"this CPU has AVX-512 but NumPy's OpenBLAS runs AVX2 kernels ({why}); the matmul rate, the bound and "
            "every engine's matmuls depend on that choice"
        )
        print(f"  note: {res['notes'][-1]}")
    print(
        f"load average at start: {' '.join(f'{v:.2f}' for v in res['loadavg_start'])} "
        "(lagging averages; what other processes used during the epochs is printed at the end)"
    )

    # 1. data
    print(f"\n[1] loading Fashion-MNIST from {args.data_dir or '(default location)'} ...", flush=True)
    ds, res["data_load"] = time_data_load(args.data_dir)
    if ds is None:
        print(f"  could not load the data: {res['data_load']['error']}")
        print("  -> skipping the epoch timings; pass --data-dir or set FASHION_MNIST_DIR")
    else:
        print(f"  first call {res['data_load']['first_s']:.3f} s, second call {res['data_load']['second_s']:.3f} s")

    # 3. matmul rate (before the epochs, so the bound is known; no engine is running now)
    print("\n[3] measuring float32 matmul rate ...", flush=True)
    rates = [matmul_rate(2048, 2048, 2048, reps=7), matmul_rate(4096, 4096, 4096, reps=3)]
    peak = max(r["best_gflops"] for r in rates)
    batch_rates = [
        matmul_rate(BATCH, N_IN, N_HID, reps=9),  # forward layer 1
        matmul_rate(N_IN, BATCH, N_HID, reps=9),  # weight grad of layer 1 (x.T @ d1), as a contiguous stand-in
    ]
    n_train = len(ds.y_train) if ds is not None else 60000
    flops = epoch_flops(n_train)
    res["matmul"] = {
        "square": rates,
        "batch_shapes": batch_rates,
        "peak_gflops": peak,
        "epoch_gflop": flops / 1e9,
        "bound_s": flops / (peak * 1e9),
    }
    for r in rates + batch_rates:
        print(f"  {r['shape']:24s} best {r['best_gflops']:7.1f} GFLOP/s (median {r['median_gflops']:.1f})")
    mm = res["matmul"]
    print(
        f"  epoch matmul work {mm['epoch_gflop']:.2f} GFLOP -> lower bound {mm['bound_s']:.3f} s at {peak:.1f} GFLOP/s"
    )

    # 2. epochs
    times: dict[str, list[float]] = {}
    engines: list = []
    epoch_share = None
    if ds is not None:
        x32 = ds.x_train.reshape(len(ds.x_train), N_IN).astype(np.float32) / np.float32(255)
        y = np.asarray(ds.y_train, np.int64)
        engines.append(Ours(ds.x_train, y))
        seen_notes = len(res["notes"])
        if args.no_torch:
            res["notes"].append("PyTorch skipped (--no-torch)")
        else:
            try:
                engines.append(Torch(x32, y))
            except ImportError as e:
                res["notes"].append(f"PyTorch skipped: import torch failed ({e}); install the dev extra to compare")
        if args.no_sklearn:
            res["notes"].append("scikit-learn skipped (--no-sklearn)")
        else:
            try:
                engines.append(Sklearn(x32, y))
            except ImportError as e:
                res["notes"].append(f"scikit-learn skipped: import failed ({e})")
        for note in res["notes"][seen_notes:]:
            print(f"  note: {note}")
    floor, probe = MatmulsOnly(n_train), BoundProbe(flops)
    names = ", ".join(e.name for e in [*engines, floor, probe])
    print(
        f"\n[2] one epoch each ({names}), {args.warmup} warm-up + {args.repeats} timed rounds, interleaved ...",
        flush=True,
    )
    epoch_others = OthersCpu()
    times = time_epochs([*engines, floor, probe], args.repeats, args.warmup, verbose=True)
    epoch_share = epoch_others.share()
    mm["epoch_matmuls_only_s"] = summary(times[floor.name])
    mm["bound_per_round_s"] = times[probe.name]
    mm["bound_s"] = min(mm["bound_s"], *times[probe.name])  # the strictest (fastest rate) seen in the run
    mm["peak_gflops"] = peak = flops / mm["bound_s"] / 1e9
    res["epochs"] = {}
    for eng in engines:
        entry = summary(times[eng.name])
        entry["label"] = eng.label
        entry["mean_train_loss"] = statistics.median(eng.losses)
        if isinstance(eng, Ours):
            entry["trainer_init_s"] = summary(eng.init_times[-args.repeats :])
            entry["train_acc"] = statistics.median(eng.accs)
        if isinstance(eng, Torch):
            entry["version"] = eng.version
            entry["threads"] = eng.torch.get_num_threads()
        if isinstance(eng, Sklearn):
            entry["version"] = eng.version
            entry["internal_dtype"] = eng.dtype
        res["epochs"][eng.name] = entry

    # 4. predict
    print(f"\n[4] single-image predict latency ({args.predict_runs} runs) ...", flush=True)
    res["predict"] = time_predict(args.predict_runs)
    res["loadavg_end"] = os.getloadavg()
    res["other_processes_cpus"] = {"whole_run": run_others.share(), "epochs": epoch_share}

    # 5. report
    ep = res["epochs"]

    bound = mm["bound_s"]
    series = {name: times[name] for name in times}
    series["bound"] = mm["bound_per_round_s"]

    def ratio_set(a: str, b: str) -> dict | None:
        """a/b three ways: median of per-round ratios (paired), ratio of minimums, ratio of medians."""
        if a not in ep or (b not in ep and b not in ("bound", floor.name)):
            return None
        b_min = bound if b == "bound" else min(series[b])
        b_med = statistics.median(series[b])
        sa, sb = series[a], series[b]
        # Rounds where a burst of other load hit either side (> NOISY x its best) are left out.
        pairs = [x / y for x, y in zip(sa, sb) if x <= NOISY * min(sa) and y <= NOISY * min(sb)]
        return {
            "paired": statistics.median(pairs) if pairs else min(sa) / min(sb),
            "paired_rounds": len(pairs),
            "min": ep[a]["min"] / b_min,
            "median": ep[a]["median"] / b_med,
            "per_round": pairs,
        }

    stat = args.stat
    ratios = {
        "statistic": stat,
        "ours_over_torch": ratio_set("ours", "torch"),
        "ours_over_matmuls": ratio_set("ours", floor.name),
        "ours_over_bound": ratio_set("ours", "bound"),
        "sklearn_over_ours": ratio_set("sklearn", "ours"),
    }
    res["ratios"] = ratios

    def pick(key: str) -> float | None:
        return ratios[key][stat] if ratios[key] else None

    res["verdicts"] = {
        f"ours_over_torch<={TARGET_VS_TORCH}": verdict(pick("ours_over_torch"), TARGET_VS_TORCH),
        f"ours_over_matmuls<={TARGET_VS_MATMULS}": verdict(pick("ours_over_matmuls"), TARGET_VS_MATMULS),
        "ours_over_bound<=2.5": verdict(pick("ours_over_bound"), TARGET_VS_BOUND),
        "ours_over_bound<=2.0(aim)": verdict(pick("ours_over_bound"), AIM_VS_BOUND),
    }

    line = "=" * 96
    print(
        f"\n{line}\nRESULTS  (wall-clock seconds; median and min over {args.repeats} interleaved repeats "
        f"after {args.warmup} warm-up)\n{line}"
    )
    if "first_s" in res["data_load"]:
        d = res["data_load"]
        print(
            f"Data load (load_fashion_mnist, {d['n_train']} train): first call {d['first_s']:.3f} s, "
            f"second {d['second_s']:.3f} s"
        )
    print(
        f"\n{'one epoch, 784-128-10 ReLU, batch 128, Adam':48s} "
        f"{'median':>8s} {'min':>8s} {'max':>8s}  {'train loss':>10s}"
    )
    for name, e in ep.items():
        extra = ""
        if name == "ours":
            extra = f"  acc {e['train_acc']:.3f}"
        if name == "sklearn":
            extra = f"  (weights {e['internal_dtype']})"
        if name == "torch":
            extra = f"  ({e['threads']} threads)"
        if e["max"] > NOISY * e["min"]:
            extra += f"  [noisy: max/min {e['max'] / e['min']:.1f}]"
        print(
            f"{e['label']:48s} {e['median']:8.3f} {e['min']:8.3f} {e['max']:8.3f}  {e['mean_train_loss']:10.4f}{extra}"
        )
    if "ours" in ep:
        ti = ep["ours"]["trainer_init_s"]
        print(
            f"{'  + Trainer.__init__ (preprocessing, excluded)':48s} "
            f"{ti['median']:8.3f} {ti['min']:8.3f} {ti['max']:8.3f}"
        )
    print(
        f"{'matmul lower bound':48s} {bound:8.3f}            "
        f"  = {mm['epoch_gflop']:.2f} GFLOP / {peak:.1f} GFLOP/s (best square float32 matmul)"
    )
    em = mm["epoch_matmuls_only_s"]
    print(f"{'the epoch matmuls alone, at batch shapes':48s} {em['median']:8.3f} {em['min']:8.3f} {em['max']:8.3f}")
    br = batch_rates[0]
    print(f"  (batch-shape rate {br['shape']}: {br['best_gflops']:.1f} GFLOP/s best, vs {peak:.1f} square)")
    for note in res["notes"]:
        print(f"  note: {note}")

    p = res["predict"]
    print(f"\nSingle-image predict, {p['model']}:")
    if "model_load_s" in p:
        print(
            f"  model load: first {p['model_load_first_s'] * 1e3:.1f} ms, "
            f"median {p['model_load_s']['median'] * 1e3:.1f} ms"
        )
    if "note" in p:
        print(f"  note: {p['note']}")
    if "preprocess_s" in p:
        s = p["preprocess_s"]
        print(
            f"  preprocess_upload (300x400 PNG, {p['png_bytes'] / 1e3:.0f} kB): median {s['median'] * 1e3:.2f} ms, "
            f"min {s['min'] * 1e3:.2f}, p90 {s['p90'] * 1e3:.2f}"
        )
    s = p["predict_proba_s"]
    print(
        f"  predict_proba (1 image): median {s['median'] * 1e3:.3f} ms, min {s['min'] * 1e3:.3f}, "
        f"p90 {s['p90'] * 1e3:.3f}"
    )
    s = p["total_s"]
    print(f"  total: median {s['median'] * 1e3:.2f} ms, min {s['min'] * 1e3:.2f}, p90 {s['p90'] * 1e3:.2f}")

    print(
        f"\nRatios (verdicts use the {stat} figure; paired = median over rounds of the within-round ratio, "
        f"rounds with a >{NOISY}x outlier left out)"
    )
    v = res["verdicts"]
    print(
        f"  ours / PyTorch   {fmt_ratio(ratios['ours_over_torch'], stat)}"
        f"   target <= {TARGET_VS_TORCH}: {v[f'ours_over_torch<={TARGET_VS_TORCH}']}"
    )
    print(
        f"  ours / matmuls   {fmt_ratio(ratios['ours_over_matmuls'], stat)}"
        f"   target <= {TARGET_VS_MATMULS}: {v[f'ours_over_matmuls<={TARGET_VS_MATMULS}']}"
    )
    print(
        f"  ours / bound     {fmt_ratio(ratios['ours_over_bound'], stat)}"
        f"   target <= {TARGET_VS_BOUND}: {v['ours_over_bound<=2.5']}  "
        f"(aim {AIM_VS_BOUND}: {v['ours_over_bound<=2.0(aim)']})"
    )
    print(f"  sklearn / ours   {fmt_ratio(ratios['sklearn_over_ours'], stat)}")
    la, lb = res["loadavg_start"], res["loadavg_end"]
    oc = res["other_processes_cpus"]
    busy = ""
    if oc["epochs"] is not None:
        busy = f"; other processes kept {oc['epochs']:.2f} of the {res['cpus']} CPUs busy during the epochs"
        if oc["epochs"] > 0.1:
            busy += " -- expect noise, trust the min more than the median"
    print(f"\nload average: start {la[0]:.2f}, end {lb[0]:.2f}{busy}")
    print(line)

    if args.json:
        print(json.dumps(res, default=float))
    return 0 if ds is not None else 1


if __name__ == "__main__":
    sys.exit(main())
