"""Inside a network while it learns: per-layer gradient norms, dead and saturated units.

``measure(net, pixels, labels)`` takes one reading of a network on a fixed probe batch of raw
pixels (n, 784) in 0-255 (the network's own preprocessing is applied, as in its training and
prediction; the same convention as ``MLP.predict``), in evaluation mode (no dropout):

- ``grad_norms[i]``: the Frobenius norm of d loss / d W_i for weight layer i (the last is the
  output layer), where the loss is the plain mean cross-entropy of the probe batch: the data loss,
  without label smoothing or the L2 penalty, so the number says how much the data pushes each
  layer. Computed by the network's own backprop (``MLP.loss_and_grad``) on a copy, so the
  network read is never written to. Early layers' norms far below the output layer's: a
  vanishing gradient.
- ``dead[j]`` (relu and leaky_relu hidden layers): the share of layer j's units whose
  pre-activation is never positive on the probe batch. A dead ReLU outputs 0 for every image and
  gets no gradient, so it cannot come back through the data (a leaky one keeps 1% of its slope).
  None for the other activations.
- ``saturated[j]`` (sigmoid and tanh hidden layers): the share of layer j's activations (unit x
  image) within ``SATURATION_MARGIN`` of the activation's bounds, by output range: sigmoid below
  0.01 or above 0.99, tanh beyond -0.99 or 0.99. There the slope is under 4% of its largest
  (sigmoid: under 0.0099 of 0.25; tanh: under 0.02 of 1), so the unit barely learns. None for the
  other activations.

``DiagnosticsHistory`` keeps the readings of a run over time (x in epochs), thinned to at most
``max_points``, and travels as a plain dict. ``layer_activations`` and ``top_examples`` serve the
"what excites this unit" view. Pure NumPy; one reading of a 784-256-10 network on 512 images is
a forward and backward pass of those 512 images, a fraction of a training epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from model.datasets.spec import N_PIXELS
from model.nn.initializers import INITIALIZERS
from model.nn.network import MLP, _Cache
from model.training.config import TrainConfig

PROBE_SIZE = 512  # images in the probe batch: enough that "never positive" means dead, cheap to run
SATURATION_MARGIN = 0.01  # an output this close to its activation's bound counts as saturated
DEAD_KINDS = ("relu", "leaky_relu")
SATURATION_BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
MAX_POINTS = 200  # readings kept per run; older ones are thinned, the first and latest always kept


@dataclass(frozen=True)
class Reading:
    """One look inside a network: lists per weight layer (``grad_norms``) or per hidden layer."""

    grad_norms: list[float]  # per weight layer, output layer last: ||d loss / d W_i||
    dead: list[float | None]  # per hidden layer: share of dead units (relu-like), else None
    saturated: list[float | None]  # per hidden layer: share of saturated activations (sigmoid/tanh), else None
    loss: float  # the probe batch's mean cross-entropy


def probe_indices(labels: np.ndarray, n: int = PROBE_SIZE, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded probe batch of about n items, the same number from each class.

    labels (m,) int. Fewer items than n: all of them.
    """
    labels = np.asarray(labels)
    if len(labels) <= n:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = max(1, n // len(classes))
    picks = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        picks.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(picks))


def dead_share(z: np.ndarray) -> float:
    """Share of units (columns of pre-activations z (n, units)) never positive on any of the n rows."""
    return float(np.mean(~(z > 0).any(axis=0))) if z.size else 0.0


def saturated_share(h: np.ndarray, activation: str) -> float | None:
    """Share of the activations h (n, units) within ``SATURATION_MARGIN`` of the activation's bounds.

    None for activations without bounds on both sides (relu, leaky_relu, gelu).
    """
    bounds = SATURATION_BOUNDS.get(activation)
    if bounds is None:
        return None
    if not h.size:
        return 0.0
    low, high = bounds
    return float(np.mean((h < low + SATURATION_MARGIN) | (h > high - SATURATION_MARGIN)))


def measure(net: MLP, pixels: np.ndarray, labels: np.ndarray) -> Reading:
    """A reading of ``net`` on raw probe pixels (n, 784) in 0-255 with labels (n,); see the module docstring.

    Works on a copy of the network (its gradient buffers are written), so ``net`` may be shared.
    """
    pixels = np.asarray(pixels).reshape(-1, N_PIXELS)
    labels = np.asarray(labels).astype(np.int64)
    if len(pixels) != len(labels) or not len(labels):
        raise ValueError(f"need as many labels as images, at least one: got {len(pixels)} images, {len(labels)} labels")
    clone = net.copy()
    loss, _ = clone.loss_and_grad(clone.preprocessor.transform(pixels), labels)
    cache = clone._cache  # the training forward's pre-activations (zs) and outputs (hs) per hidden layer
    grad_norms = [float(np.linalg.norm(g)) for g in clone.gW]
    dead = [dead_share(z) if act in DEAD_KINDS else None for act, z in zip(net.activations, cache.zs)]
    saturated = [saturated_share(h, act) for act, h in zip(net.activations, cache.hs)]
    return Reading(grad_norms, dead, saturated, float(loss))


def layer_activations(net: MLP, pixels: np.ndarray, batch: int = 4096) -> list[np.ndarray]:
    """Every hidden layer's activations for raw pixels (n, 784) in 0-255: one (n, units_j) array per layer.

    One forward pass (in chunks of ``batch``), reading the weights only: safe from many threads.
    """
    pixels = np.asarray(pixels).reshape(-1, N_PIXELS)
    chunks: list[list[np.ndarray]] = []
    for i in range(0, len(pixels), batch):
        cache = _Cache()
        net._forward(net.preprocessor.transform(pixels[i : i + batch]), cache)
        chunks.append(cache.hs)
    if not chunks:
        return [np.zeros((0, units), net.dtype) for units in net.sizes[1:-1]]
    return [np.concatenate(layer) for layer in zip(*chunks)]


def top_examples(acts: np.ndarray, k: int = 8) -> np.ndarray:
    """For activations acts (n, units): (units, k) row indices of the k rows that excite each unit most, strongest first."""
    n = len(acts)
    k = min(k, n)
    if k == 0:
        return np.zeros((acts.shape[1], 0), np.int64)
    part = np.argpartition(-acts, k - 1, axis=0)[:k]  # (k, units), unordered
    order = np.argsort(-np.take_along_axis(acts, part, axis=0), axis=0, kind="stable")
    return np.take_along_axis(part, order, axis=0).T


def strongest_units(h: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the k largest values of one image's activations h (units,), largest first."""
    h = np.asarray(h).ravel()
    return np.argsort(-h, kind="stable")[: min(k, len(h))]


@dataclass
class DiagnosticsHistory:
    """Readings over a run: ``x`` in epochs (images seen / images per epoch) and one list per reading field.

    ``grad_norms``, ``dead`` and ``saturated`` hold one list per reading (per layer inside). At
    ``max_points`` readings every other older one is dropped (the latest is always kept), so a long
    run keeps its whole span at a coarser step and the status it travels in stays small.
    """

    x: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)
    dead: list[list[float | None]] = field(default_factory=list)
    saturated: list[list[float | None]] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    max_points: int = MAX_POINTS

    def add(self, x: float, reading: Reading) -> None:
        """Append a reading taken at x epochs."""
        self.x.append(float(x))
        self.grad_norms.append(list(reading.grad_norms))
        self.dead.append(list(reading.dead))
        self.saturated.append(list(reading.saturated))
        self.loss.append(reading.loss)
        if len(self.x) > self.max_points:
            keep = list(range(0, len(self.x) - 1, 2)) + [len(self.x) - 1]
            for name in ("x", "grad_norms", "dead", "saturated", "loss"):
                values = getattr(self, name)
                setattr(self, name, [values[i] for i in keep])

    def __len__(self) -> int:
        return len(self.x)

    @property
    def latest(self) -> Reading | None:
        if not self.x:
            return None
        return Reading(self.grad_norms[-1], self.dead[-1], self.saturated[-1], self.loss[-1])

    def per_layer(self, name: str) -> list[list[float | None]]:
        """The series of one field per layer: ``per_layer("grad_norms")[i]`` is layer i's values over x."""
        rows = getattr(self, name)
        width = max((len(r) for r in rows), default=0)
        return [[r[i] if i < len(r) else None for r in rows] for i in range(width)]

    def to_dict(self) -> dict:
        """Plain lists and numbers (for a status report between processes)."""
        return {
            "x": list(self.x),
            "grad_norms": [list(r) for r in self.grad_norms],
            "dead": [list(r) for r in self.dead],
            "saturated": [list(r) for r in self.saturated],
            "loss": list(self.loss),
        }

    @classmethod
    def from_dict(cls, values: dict | None) -> DiagnosticsHistory:
        """Back from ``to_dict`` (tuples, as some transports turn lists into, are fine); None or {}: empty."""
        values = values or {}
        return cls(
            x=[float(v) for v in values.get("x", ())],
            grad_norms=[[float(v) for v in r] for r in values.get("grad_norms", ())],
            dead=[[None if v is None else float(v) for v in r] for r in values.get("dead", ())],
            saturated=[[None if v is None else float(v) for v in r] for r in values.get("saturated", ())],
            loss=[float(v) for v in values.get("loss", ())],
        )


def first_layer_at_start(cfg: TrainConfig) -> np.ndarray:
    """The first layer's weights (784, units) a run of ``cfg`` starts from, drawn again from its seed.

    A ``Trainer`` builds its network with ``default_rng(cfg.seed)`` and the first layer's weights
    are that generator's first draw (tests/training/test_diagnostics.py checks it). The change
    since then shows what the layer has learned; the weights themselves keep their random start's
    speckle, which hides it.
    """
    return INITIALIZERS[cfg.init](N_PIXELS, cfg.hidden[0], np.random.default_rng(cfg.seed))


def vanishing_ratio(reading: Reading) -> float | None:
    """First weight layer's gradient norm over the output layer's (None for a net without hidden layers).

    Far below 1 (say under 0.01) the early layers barely move while the output layer learns.
    """
    norms = reading.grad_norms
    if len(norms) < 2 or not norms[-1] or not math.isfinite(norms[-1]):
        return None
    return norms[0] / norms[-1]
