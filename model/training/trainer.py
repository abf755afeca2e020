"""The training loop: minibatches, schedules, progress reports, stop/resume, early stopping.

``Trainer.iter_run()`` yields ``Progress`` reports; ``run(callback)`` drives it. A stop
request (``stop()``, from any thread) ends the loop after the current batch; calling
``run`` again resumes exactly where it left off. While it trains, the loop publishes a copy
of the network every ``snapshot_every`` seconds and at every epoch end, stop and finish;
``snapshot()`` hands out the latest, so other threads can predict without a lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from model.datasets.spec import N_CLASSES, N_PIXELS
from model.nn.losses import cross_entropy, mean_nll
from model.nn.network import MLP
from model.nn.optimizers import make_optimizer
from model.nn.preprocessing import Preprocessor
from model.nn.schedules import learning_rate
from model.training.augment import shift_and_flip
from model.training.config import TrainConfig
from model.training.splits import stratified_split, subset

# A batch's data loss (plain cross-entropy, without label smoothing or the L2 penalty) this far
# above chance (ln 10 = 2.3) means the weights are blowing up.
DIVERGED_LOSS = 50.0
# The latest epoch's train accuracy below this, from the second epoch on: stalled.
STALLED_ACCURACY = 0.2
SNAPSHOT_EVERY = 1.0  # seconds between published copies of the network while training


class RunState(StrEnum):
    """Where a training run is: ``Trainer.status``, and ``TrainingJob.state`` in the app.

    A Trainer goes READY -> RUNNING -> STOPPED (resumable) or a finished state; a job adds
    QUEUED and PREPARING before training, CANCELLED and ERROR. Values are plain strings, so
    ``state == "done"`` and JSON work as before.
    """

    READY = "ready"  # built, nothing trained yet
    QUEUED = "queued"  # a job waiting for a free training slot
    PREPARING = "preparing"  # a job splitting and preprocessing the data
    RUNNING = "running"
    STOPPED = "stopped"  # on request; running again resumes
    DONE = "done"
    EARLY_STOP = "early_stop"
    DIVERGED = "diverged"  # the loss blew up; the last good epoch's weights are kept
    CANCELLED = "cancelled"  # a job that left the queue before training
    ERROR = "error"  # a job whose training raised; the message says what

    @property
    def finished(self) -> bool:
        """True when training cannot go on (a stopped run can)."""
        return self in (RunState.DONE, RunState.EARLY_STOP, RunState.DIVERGED)


class StopFlag:
    """A request to stop after the current batch: set from any thread, consumed by the training loop.

    A plain attribute (assigning it is atomic), no lock. A queued job, which has no Trainer yet,
    makes the flag and hands it to the Trainer it builds: one flag per run, whoever asks.
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def clear(self) -> None:
        self.requested = False


@dataclass
class Progress:
    """One report: ``event`` is batch, epoch, done, stopped, early_stop or diverged.

    ``train_loss`` is the data loss (plain cross-entropy, the kind ``val_loss`` is), averaged
    over this epoch's batches as they were trained (dropout on); ``objective`` is what the
    optimizer minimised on them (label-smoothed cross-entropy plus the L2 penalty), equal to
    ``train_loss`` without regularisation.
    """

    event: str
    epoch: int  # 1-based epoch being trained (or just finished)
    epochs: int
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    seen: int  # examples trained on so far, all epochs
    train_loss: float  # running mean of the data cross-entropy over this epoch's batches
    train_acc: float
    val_loss: float | None = None
    val_acc: float | None = None
    lr: float = 0.0
    examples_per_sec: float = 0.0
    elapsed: float = 0.0
    eta: float = 0.0
    message: str = ""
    objective: float | None = None  # running mean of the regularised training objective
    l2_penalty: float | None = None  # 0.5 * l2 * sum of squared weights at the latest epoch end

    @property
    def fraction(self) -> float:
        """Share of the whole run done, 0-1."""
        total = self.epochs * self.batches
        return min(((self.epoch - 1) * self.batches + self.batch) / total, 1.0) if total else 0.0


@dataclass
class History:
    """Per-epoch learning curves plus a smoothed within-epoch loss curve.

    Every loss curve here but ``train_objective`` is the plain data cross-entropy, so
    ``train_loss``, ``val_loss`` and ``batch_loss`` compare like with like; ``train_objective``
    adds label smoothing and the L2 penalty (what the optimizer minimised), and
    ``l2_penalty`` is that penalty alone (0 without L2).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean data cross-entropy of the epoch's batches
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)  # data cross-entropy on the validation split
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    batch_seen: list[int] = field(default_factory=list)  # x-axis of batch_loss
    batch_loss: list[float] = field(default_factory=list)  # moving average (0.95) of the batches' data loss
    train_objective: list[float] = field(default_factory=list)  # mean regularised objective of the epoch's batches
    l2_penalty: list[float] = field(default_factory=list)  # 0.5 * l2 * sum of squared weights at the epoch end

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}


@dataclass
class _EpochSums:
    """Running totals of the epoch in progress, for its mean loss and accuracy."""

    loss: float = 0.0  # sum of batch data loss * batch size
    objective: float = 0.0  # sum of batch objective * batch size
    correct: int = 0
    n: int = 0

    def add(self, loss: float, objective: float, correct: int, n: int) -> None:
        self.loss += loss * n
        self.objective += objective * n
        self.correct += correct
        self.n += n


@dataclass
class _Best:
    """The best validation epoch so far (early stopping and restore_best)."""

    acc: float = -1.0
    loss: float = math.inf
    epoch: int = 0
    params: np.ndarray | None = None

    def beaten_by(self, acc: float, loss: float) -> bool:
        """Higher accuracy wins; at equal accuracy, lower loss."""
        return (acc, -loss) > (self.acc, -self.loss)


def divergence_message(cfg: TrainConfig, epoch: int, batch: int, loss: float) -> str:
    """Plain-words explanation of a blown-up run and what to try instead."""
    what = "became NaN/infinite" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
    advice = (
        f"The learning rate {cfg.lr:g} is most likely too high for {cfg.activation} units with "
        f"{cfg.optimizer}: try {cfg.lr / 10:g} or lower"
    )
    advice += ", or Adam with 0.001." if cfg.optimizer in ("sgd", "momentum", "nesterov") else "."
    return f"Training diverged in epoch {epoch}, batch {batch}: the loss {what}. {advice} The weights from the last good epoch were kept."


def stalled_message(cfg: TrainConfig, acc: float, epoch: int | None = None) -> str:
    """Plain-words explanation of a run whose accuracy stays near chance, with the likely causes."""
    causes = []
    act = cfg.activation
    if act in ("sigmoid", "tanh") and len(cfg.hidden) >= 3:
        causes.append(
            f"the gradient fades as it passes back through {len(cfg.hidden)} {act} layers (vanishing gradients)"
        )
    if cfg.init == "normal":
        causes.append(
            "the 'normal' initializer starts every weight tiny (0.01), so each layer passes on almost no "
            "signal forward and almost no gradient back"
        )
    elif cfg.init == "uniform":
        causes.append("the 'uniform' initializer does not scale the weights to the layer size")
    if act in ("sigmoid", "tanh") and cfg.lr >= 0.5:
        causes.append(
            f"steps as large as {cfg.lr:g} can make {act} units saturate, and saturated units pass back no gradient"
        )
    if cfg.optimizer in ("sgd", "momentum", "nesterov") and cfg.lr < 0.01:
        causes.append(f"plain gradient descent with learning rate {cfg.lr:g} takes tiny steps")
    if act == "relu" and cfg.optimizer in ("adam", "adamw") and cfg.lr >= 0.05:
        causes.append(f"Adam's steps of {cfg.lr:g} (about 0.001 is usual) can switch ReLU units off for good")
    if cfg.batch_size >= 10000:
        causes.append("full-batch gradient descent takes only one step per epoch")
    if min(cfg.hidden) < 32:
        causes.append(f"{min(cfg.hidden)} hidden units are very few for 10 classes of clothing")
    why = "; ".join(causes) or "the learning rate may be too high or too low"
    after = f"after {epoch} epochs " if epoch else ""
    return f"Training is stalling: {after}train accuracy is {acc:.0%}, near chance (10%). Possible causes: {why}."


class Trainer:
    """Trains an MLP on raw pixels x (n, 784) in 0-255 with labels y (n,)."""

    def __init__(
        self,
        cfg: TrainConfig,
        x: np.ndarray,
        y: np.ndarray,
        net: MLP | None = None,
        stop_flag: StopFlag | None = None,
        on_render: Callable[[int, int], None] | None = None,
    ):
        self.cfg = cfg.validate()
        self.on_render = on_render
        rng = np.random.default_rng(cfg.seed)
        x, y, train_idx, val_idx = self._split(x, y)
        pre = net.preprocessor if net is not None else Preprocessor.fit(cfg.preprocessing, x[train_idx])
        self.net = net or MLP(
            [N_PIXELS, *cfg.hidden, N_CLASSES], [cfg.activation] * len(cfg.hidden), cfg.init, rng, pre
        )
        self.attach_data(x, y)
        self.optimizer = make_optimizer(
            cfg.optimizer, self.net.n_params, cfg.lr, cfg.momentum, cfg.weight_decay, self.net.weight_slices
        )
        self.rng = rng
        self.n = len(self.y_train)
        self.batch_size = min(cfg.batch_size, self.n)
        self.batches = math.ceil(self.n / self.batch_size)
        self.total_steps = cfg.epochs * self.batches
        self.history = History()
        self.status = RunState.READY
        self.message = ""
        self.warnings: list[str] = []
        self.latest: Progress | None = None
        self.stop_flag = stop_flag or StopFlag()
        self.snapshot_every = SNAPSHOT_EVERY
        self._publish()
        # Resumable position: epoch index, batch index, this epoch's order and running sums.
        self.epoch, self.batch, self.step, self.seen = 0, 0, 0, 0
        self.perm: np.ndarray | None = None
        self._perm_epoch = -1
        self._sums = _EpochSums()
        self._ema: float | None = None
        self.elapsed = 0.0
        self._good_params = self.net.params.copy()
        self._best = _Best()

    # ----- data -------------------------------------------------------------
    def _split(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x (n, 784), y (n,), train_idx, val_idx): the seeded subset and split this run trains on."""
        cfg = self.cfg
        x = np.asarray(x).reshape(len(x), N_PIXELS)
        y = np.asarray(y).astype(np.int64)
        if cfg.train_subset and cfg.train_subset < len(y):
            x, y = subset(x, y, cfg.train_subset, cfg.seed)
        train_idx, val_idx = stratified_split(y, cfg.val_fraction, cfg.seed)
        return x, y, train_idx, val_idx

    def attach_data(self, x: np.ndarray, y: np.ndarray) -> None:
        """Give the run its data: all training images x (n, 784) in 0-255 and labels y (n,).

        The subset, split and preprocessing are seeded, so the same x and y give exactly the
        arrays this run had: a trainer that travelled without them (``release_data``) resumes
        bit-identically. With augmentation (shift, flip, drawings) the training images are
        kept as pixels and preprocessed batch by batch after their random changes; with
        drawings, every training image is first rendered as a silhouette and an outline
        (``drawing_pool``, cached on disk; ``on_render(done, total)`` reports its progress).
        """
        cfg = self.cfg
        x, y, train_idx, val_idx = self._split(x, y)
        pre = self.net.preprocessor
        self.y_train = y[train_idx]
        self.x_val, self.y_val = pre.transform(x[val_idx]), y[val_idx]
        self.x_train = self.x_pixels = self.x_drawn = None
        if x.dtype == np.uint8 or self._augmenting:
            # Pixels stay uint8 and are preprocessed batch by batch: a quarter of the memory of
            # float32 inputs, and gathering a batch's bytes then converting them is faster too.
            self.x_pixels = np.clip(x[train_idx], 0, 255).astype(np.uint8)
        else:
            self.x_train = pre.transform(x[train_idx])
        if cfg.drawings:
            from model.datasets.renderings import default_cache_dir, drawing_pool  # SciPy, Pillow: only now

            self.x_drawn = drawing_pool(self.x_pixels, cfg.seed, default_cache_dir(), self.on_render)
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def release_data(self) -> None:
        """Drop the preprocessed arrays (about 190 MB for all of Fashion-MNIST); history and weights stay.

        A finished run needs them no more; a stopped one gets them back with ``attach_data``.
        """
        self.x_train = self.x_val = self.x_pixels = self.x_drawn = None
        self._buffers = {}

    def __getstate__(self) -> dict:
        """Pickled (e.g. sent between processes) without its data arrays; see ``attach_data``."""
        state = self.__dict__.copy()
        state.update(x_train=None, x_val=None, x_pixels=None, x_drawn=None, _buffers={}, on_render=None)
        return state

    # ----- control ----------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop after the current batch (safe from any thread)."""
        self.stop_flag.set()

    def snapshot(self) -> MLP:
        """The latest published copy of the network, e.g. for predicting while training goes on.

        While training it is about ``snapshot_every`` seconds old at most (the loop checks
        between batches); at every epoch end, stop and finish it is current. Shared by all callers: read it, do not change it (``copy()`` first).
        """
        return self._published

    def _publish(self) -> None:
        """Copy the network for readers; they take the attribute, whose assignment is atomic."""
        self._published = self.net.copy()
        self._published_at = time.monotonic()

    @property
    def finished(self) -> bool:
        return self.status.finished

    # ----- the loop ---------------------------------------------------------
    def run(self, callback: Callable[[Progress], None] | None = None, report_every: int | None = None) -> Progress:
        """Train to the end (or a stop request); calls ``callback`` on each report, returns the last."""
        last = self.latest
        for last in self.iter_run(report_every):
            if callback is not None:
                callback(last)
        return last

    def iter_run(self, report_every: int | None = None) -> Iterator[Progress]:
        """Generator of progress reports; see the module docstring."""
        if self.finished:
            return
        self.status = RunState.RUNNING
        every = report_every or max(1, self.batches // 50)
        cfg, net, opt = self.cfg, self.net, self.optimizer
        started = time.perf_counter() - self.elapsed
        while self.epoch < cfg.epochs:
            if self._perm_epoch != self.epoch:  # once per epoch, even if stopped at its start
                self.perm = self.rng.permutation(self.n)
                self._perm_epoch = self.epoch
                self._sums = _EpochSums()
            while self.batch < self.batches:
                if self.stop_flag.requested:
                    self.stop_flag.clear()  # consumed: a later run() resumes
                    self.elapsed = time.perf_counter() - started
                    self.status = RunState.STOPPED
                    self.message = "Stopped: the weights learned so far are kept; Resume continues from here."
                    yield self._report("stopped", started, self.message)
                    return
                xb, yb = self._batch(self.batch)
                opt.lr = learning_rate(
                    cfg.lr,
                    self.step,
                    self.total_steps,
                    self.batches,
                    cfg.schedule,
                    cfg.warmup_epochs,
                    cfg.step_epochs,
                    cfg.gamma,
                )
                objective, logits = net.loss_and_grad(
                    xb, yb, cfg.l2, cfg.label_smoothing, self.rng, cfg.dropout, cfg.input_dropout
                )
                # The data loss decides divergence: the L2 penalty of wide layers alone can pass 50.
                loss = mean_nll(logits, yb) if cfg.l2 or cfg.label_smoothing else objective
                if not (math.isfinite(loss) and math.isfinite(objective)) or loss > DIVERGED_LOSS:
                    yield self._diverge(loss if math.isfinite(objective) else objective, started)
                    return
                opt.update_params(net.params, net.grads)
                self.batch += 1
                self.step += 1
                self.seen += len(yb)
                self._sums.add(loss, objective, int((logits.argmax(axis=1) == yb).sum()), len(yb))
                if time.monotonic() - self._published_at >= self.snapshot_every:
                    self._publish()
                self._ema = loss if self._ema is None else 0.95 * self._ema + 0.05 * loss
                if self.batch % every == 0 and self.batch < self.batches:
                    self.history.batch_seen.append(self.seen)
                    self.history.batch_loss.append(self._ema)
                    yield self._report("batch", started)
            if not np.isfinite(net.params).all():
                yield self._diverge(math.nan, started)
                return
            self.elapsed = time.perf_counter() - started
            report = self._end_epoch(started)
            yield report
            if report.event == "early_stop":
                return
        self._finish_restore()
        self.status = RunState.DONE
        self.elapsed = time.perf_counter() - started
        self.message = f"Training finished: {self.epoch} epochs in {self.elapsed:.1f} s."
        yield self._report("done", started, self.message)

    # ----- helpers ------------------------------------------------------------
    def _batch(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.perm[i * self.batch_size : (i + 1) * self.batch_size]
        if self._augmenting:
            return self._augmented(idx), self.y_train[idx]
        # Gathering into reused buffers avoids faulting in fresh pages every batch.
        n = len(idx)
        if n not in self._buffers:
            self._buffers[n] = np.empty((n, N_PIXELS), np.uint8), np.empty((n, N_PIXELS), np.float32)
        pixels, inputs = self._buffers[n]
        if self.x_pixels is None:  # inputs preprocessed once (pixels that were not uint8)
            np.take(self.x_train, idx, axis=0, out=inputs, mode="clip")  # 'raise' would buffer; idx is a permutation
        else:
            np.take(self.x_pixels, idx, axis=0, out=pixels, mode="clip")
            self.net.preprocessor.transform(pixels, out=inputs)
        return inputs, self.y_train[idx]

    @property
    def _augmenting(self) -> bool:
        """Training images change at random each time they are shown (shift, flip or drawings)."""
        return bool(self.cfg.shift or self.cfg.flip or self.cfg.drawings)

    def _augmented(self, idx: np.ndarray) -> np.ndarray:
        """Model inputs (len(idx), 784) of training images idx after their random changes."""
        cfg = self.cfg
        pixels = self.x_pixels[idx]
        if self.x_drawn is not None:
            drawn = self.rng.random(len(idx)) < cfg.drawings
            kind = self.rng.integers(0, len(self.x_drawn), size=int(drawn.sum()))  # silhouette or outline
            pixels[drawn] = self.x_drawn[kind, idx[drawn]]
        if cfg.shift or cfg.flip:
            pixels = shift_and_flip(pixels, self.rng, cfg.shift, cfg.flip)
        return self.net.preprocessor.transform(pixels)

    def evaluate_val(self) -> tuple[float | None, float | None]:
        """(loss, accuracy) on the validation split, or (None, None) without one."""
        if not len(self.y_val):
            return None, None
        losses, correct = 0.0, 0
        for i in range(0, len(self.y_val), 8192):
            logits = self.net.forward(self.x_val[i : i + 8192])
            loss, _ = cross_entropy(logits, self.y_val[i : i + 8192])
            losses += loss * len(logits)
            correct += int((logits.argmax(axis=1) == self.y_val[i : i + 8192]).sum())
        return losses / len(self.y_val), correct / len(self.y_val)

    def l2_penalty(self) -> float:
        """0.5 * l2 * the sum of squared weights (biases excluded): the part of the objective L2 adds."""
        if not self.cfg.l2:
            return 0.0
        return 0.5 * self.cfg.l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.net.W)

    def _end_epoch(self, started: float) -> Progress:
        cfg, h, sums = self.cfg, self.history, self._sums
        val_loss, val_acc = self.evaluate_val()
        train_loss, train_acc = sums.loss / sums.n, sums.correct / sums.n
        self.epoch += 1
        self.batch = 0
        h.epoch.append(self.epoch)
        h.train_loss.append(train_loss)
        h.train_acc.append(train_acc)
        h.val_loss.append(val_loss)
        h.val_acc.append(val_acc)
        h.lr.append(self.optimizer.lr)
        h.seconds.append(time.perf_counter() - started)
        h.train_objective.append(sums.objective / sums.n)
        h.l2_penalty.append(self.l2_penalty())
        self._good_params[...] = self.net.params
        event = "epoch"
        message = self._update_warnings(train_acc)
        if val_acc is not None and cfg.patience:
            if self._best.beaten_by(val_acc, val_loss):
                self._best = _Best(val_acc, val_loss, self.epoch, self.net.params.copy())
            elif self.epoch - self._best.epoch >= cfg.patience:
                self._finish_restore()
                self.status, event = RunState.EARLY_STOP, "early_stop"
                kept = f" The weights of epoch {self._best.epoch} were restored." if cfg.restore_best else ""
                message = self.message = f"Early stop: no validation improvement for {cfg.patience} epochs.{kept}"
        return self._report(event, started, message)

    def _update_warnings(self, train_acc: float) -> str:
        """Make ``warnings`` describe the run as it is now; return a warning that has just begun, else "".

        Stalled means the latest epoch's train accuracy is still near chance, from the second
        epoch on; a run that recovers loses the warning.
        """
        stalled = self.epoch >= 2 and train_acc < STALLED_ACCURACY
        was_stalled = bool(self.warnings)
        self.warnings = [stalled_message(self.cfg, train_acc, self.epoch)] if stalled else []
        return self.warnings[0] if stalled and not was_stalled else ""

    def _finish_restore(self) -> None:
        if self.cfg.restore_best and self._best.params is not None:
            self.net.params[...] = self._best.params

    def _diverge(self, loss: float, started: float) -> Progress:
        self.net.params[...] = self._good_params
        self.status = RunState.DIVERGED
        self.message = divergence_message(self.cfg, self.epoch + 1, self.batch + 1, loss)
        self.elapsed = time.perf_counter() - started
        return self._report("diverged", started, self.message)

    def _report(self, event: str, started: float, message: str = "") -> Progress:
        elapsed = time.perf_counter() - started  # includes earlier runs before a resume
        rate = self.seen / max(elapsed, 1e-9)
        remaining = (self.total_steps - self.step) * self.batch_size / rate if rate > 0 else 0.0
        in_epoch = event in ("batch", "stopped", "diverged")
        n, h = self._sums.n, self.history
        p = Progress(
            event=event,
            epoch=min(self.epoch + 1, self.cfg.epochs) if in_epoch else self.epoch,
            epochs=self.cfg.epochs,
            batch=self.batch if in_epoch else self.batches,
            batches=self.batches,
            seen=self.seen,
            train_loss=self._sums.loss / n if n else (h.train_loss[-1] if h.train_loss else math.nan),
            train_acc=self._sums.correct / n if n else (h.train_acc[-1] if h.train_acc else math.nan),
            objective=self._sums.objective / n if n else (h.train_objective[-1] if h.train_objective else None),
            l2_penalty=h.l2_penalty[-1] if h.l2_penalty else None,
            val_loss=h.val_loss[-1] if h.val_loss else None,
            val_acc=h.val_acc[-1] if h.val_acc else None,
            lr=self.optimizer.lr,
            examples_per_sec=rate,
            elapsed=elapsed,
            eta=0.0 if event in ("done", "early_stop", "diverged") else remaining,
            message=message,
        )
        self.latest = p
        if event != "batch":  # an epoch end, stop or finish: readers get these weights at once
            self._publish()
        return p
