"""A dense (fully connected) network with softmax output, in plain NumPy.

All weights and biases live in one flat vector ``params``; ``W[i]`` (inputs, outputs)
and ``b[i]`` (outputs,) are views into it, and ``gW``/``gb`` into ``grads``. Samples
are rows: a batch x has shape (n, 784) and the logits (n, 10).

Inference (``logits``, ``predict_proba``, ``input_gradient``, ``hidden_activations``) only
reads the weights and keeps its intermediate arrays local, so one network can answer many
sessions at once; training (``loss_and_grad``, ``backward``) writes ``grads`` and is for
one thread. Training passes also reuse their intermediate arrays (pre-activations,
activations, dropout masks, backpropagated errors) from batch to batch of the same size,
instead of allocating and faulting in fresh ones each step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from model.datasets.spec import N_PIXELS
from model.nn.activations import ACTIVATIONS
from model.nn.initializers import INITIALIZERS
from model.nn.losses import cross_entropy, softmax
from model.nn.preprocessing import Preprocessor


@dataclass
class _Cache:
    """What a backward pass needs from its forward pass."""

    inputs: list = field(default_factory=list)  # input to layer i, (n, fan_in)
    zs: list = field(default_factory=list)  # pre-activations of hidden layers
    hs: list = field(default_factory=list)  # activations before dropout
    keeps: list = field(default_factory=list)  # dropout masks (0 or 1 / (1 - rate)) or None
    input_keep: np.ndarray | None = None
    dropout: float = 0.0
    input_dropout: float = 0.0


class MLP:
    """Multi-layer perceptron: ``sizes`` like [784, 128, 10], one activation per hidden layer."""

    def __init__(
        self,
        sizes: list[int],
        activations: list[str],
        init: str = "he",
        rng: np.random.Generator | None = None,
        preprocessor: Preprocessor | None = None,
        dtype: type = np.float32,
    ):
        if len(activations) != len(sizes) - 2:
            raise ValueError("need one activation per hidden layer")
        for name in activations:
            if name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown initializer {init!r}; choose one of {', '.join(INITIALIZERS)}")
        self.sizes = [int(s) for s in sizes]
        self.activations = list(activations)
        self.preprocessor = preprocessor or Preprocessor()
        self.meta: dict = {}
        self.dtype = np.dtype(dtype)
        shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.params = np.zeros(sum(i * o + o for i, o in shapes), dtype=self.dtype)
        self._bind(np.zeros_like(self.params))
        rng = rng if rng is not None else np.random.default_rng(0)
        for W in self.W:
            W[...] = INITIALIZERS[init](W.shape[0], W.shape[1], rng)

    def _bind(self, grads: np.ndarray) -> None:
        """Lay out the per-layer views ``W``, ``b`` (into ``params``) and ``gW``, ``gb`` (into ``grads``).

        Layer i's weights (fan_in * fan_out values, row-major) come first, then its biases;
        ``weight_slices[i]`` is where its weights sit in the flat vector (for weight decay).
        """
        self.grads = grads
        self.W, self.b, self.gW, self.gb, self.weight_slices = [], [], [], [], []
        offset = 0
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = slice(offset, offset + fan_in * fan_out)
            bias = slice(w.stop, w.stop + fan_out)
            self.W.append(self.params[w].reshape(fan_in, fan_out))
            self.b.append(self.params[bias])
            self.gW.append(grads[w].reshape(fan_in, fan_out))
            self.gb.append(grads[bias])
            self.weight_slices.append(w)
            offset = bias.stop
        self._cache = _Cache()
        self._work: dict[tuple, np.ndarray] = {}  # training buffers, see _buffer

    def _buffer(
        self, name: str, layer: int, shape: tuple[int, ...], dtype: np.dtype, fill: float | None = None
    ) -> np.ndarray:
        """A training buffer of this shape and dtype, the same array every batch of that size.

        Only the training passes use these (one thread); whatever a pass returns to its caller
        is freshly allocated. Batch sizes come and go (the last batch of an epoch is smaller),
        so the pool is emptied when it grows past a few sizes. A new buffer holds ``fill`` if given
        (for constant buffers), else whatever memory it got.
        """
        key = (name, layer, shape, dtype)
        buf = self._work.get(key)
        if buf is None:
            if len(self._work) >= 16 * len(self.sizes):
                self._work.clear()
            buf = self._work[key] = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
        return buf

    def _dropout_mask(
        self, rng: np.random.Generator, shape: tuple[int, ...], rate: float, name: str, layer: int
    ) -> np.ndarray:
        """Inverted-dropout mask (n, units) in the network's dtype: 0 where dropped, 1 / (1 - rate) where kept.

        Drawn as float32 uniforms u, kept where u >= rate (the same draws and comparisons as a
        boolean mask); folding the 1 / (1 - rate) scale into the mask makes applying it, forward
        and backward, one multiplication, with results equal to masking then scaling.
        """
        u = self._buffer("uniform", layer, shape, np.dtype(np.float32))
        rng.random(dtype=np.float32, out=u)
        mask = u if self.dtype == u.dtype else self._buffer(name, layer, shape, self.dtype)
        np.greater_equal(u, rate, out=mask)  # 1.0 kept, 0.0 dropped
        mask *= self.dtype.type(1 / (1 - rate))
        return mask

    # ----- the two passes -------------------------------------------------------
    def _forward(
        self,
        x: np.ndarray,
        cache: _Cache,
        rng: np.random.Generator | None = None,
        reuse: bool = False,
    ) -> np.ndarray:
        """The forward loop: logits (n, 10) for model inputs x (n, 784), recording each layer in ``cache``.

        Dropout applies when ``cache.dropout`` / ``cache.input_dropout`` are set (training only).
        With ``reuse`` (training, one thread) the intermediate arrays are the network's reused
        buffers; the returned logits are always a new array.
        """
        n, last = len(x), len(self.W) - 1
        reuse = reuse and x.dtype == self.dtype

        def out(name: str, layer: int, width: int) -> np.ndarray | None:
            return self._buffer(name, layer, (n, width), self.dtype) if reuse else None

        if cache.input_dropout:
            cache.input_keep = keep = self._dropout_mask(rng, x.shape, cache.input_dropout, "keep", -1)
            x = np.multiply(x, keep, out=out("dropped", -1, x.shape[1]))
        a = x
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            cache.inputs.append(a)
            z = np.matmul(a, W, out=out("z", i, W.shape[1]) if i < last else None)
            z += b
            if i == last:
                break
            h_out = out("h", i, z.shape[1])
            h = ACTIVATIONS[self.activations[i]].forward(z, np.empty_like(z) if h_out is None else h_out)
            cache.zs.append(z)
            cache.hs.append(h)
            if cache.dropout:
                keep = self._dropout_mask(rng, h.shape, cache.dropout, "keep", i)
                a = np.multiply(h, keep, out=out("dropped", i, h.shape[1]))
            else:
                a, keep = h, None
            cache.keeps.append(keep)
        return z

    def _backward(
        self, cache: _Cache, dlogits: np.ndarray, weight_grads: bool, l2: float = 0.0, input_grad: bool = False
    ) -> np.ndarray | None:
        """The backward loop from dloss/dlogits (n, 10); returns dloss/dx (n, 784) if ``input_grad``.

        With ``weight_grads`` it fills ``grads`` (training), reusing the network's buffers for
        the errors it passes back; without, it writes nothing on the network, so saliency maps
        can be computed by many threads at once.
        """
        d = dlogits
        for i in reversed(range(len(self.W))):
            if weight_grads:
                np.matmul(cache.inputs[i].T, d, out=self.gW[i])
                # The bias gradient is the column sum of d: as ones @ d (a BLAS matrix-vector product)
                # it takes a third of the time of np.sum(d, axis=0), which adds row by row.
                np.matmul(self._buffer("ones", 0, (len(d),), d.dtype, fill=1), d, out=self.gb[i])
                if l2:
                    self.gW[i] += np.multiply(
                        self.W[i], l2, out=self._buffer("l2", i, self.W[i].shape, self.W[i].dtype)
                    )
            if i == 0 and not input_grad:
                return None
            reuse = weight_grads and i > 0 and d.dtype == self.dtype
            d = np.matmul(
                d, self.W[i].T, out=self._buffer("d", i, (len(d), self.sizes[i]), self.dtype) if reuse else None
            )
            if i == 0:
                if cache.input_keep is not None:
                    d *= cache.input_keep
                return d
            if cache.keeps[i - 1] is not None:
                d *= cache.keeps[i - 1]
            d *= ACTIVATIONS[self.activations[i - 1]].derivative(cache.zs[i - 1], cache.hs[i - 1])
        return None

    # ----- training passes -------------------------------------------------
    def forward(
        self,
        x: np.ndarray,
        train: bool = False,
        rng: np.random.Generator | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> np.ndarray:
        """Logits (n, 10) for preprocessed inputs x (n, 784). With train=True, caches for backward."""
        if not train:
            return self._forward(x, _Cache())
        cache = _Cache(dropout=dropout, input_dropout=input_dropout)
        z = self._forward(x, cache, rng, reuse=True)
        self._cache = cache
        return z

    def backward(self, dlogits: np.ndarray, l2: float = 0.0, input_grad: bool = False) -> np.ndarray | None:
        """Fill ``grads`` from dloss/dlogits (n, 10) of the last training forward; returns dloss/dx (n, 784) if input_grad."""
        return self._backward(self._cache, dlogits, weight_grads=True, l2=l2, input_grad=input_grad)

    def loss_and_grad(
        self,
        x: np.ndarray,
        y: np.ndarray,
        l2: float = 0.0,
        label_smoothing: float = 0.0,
        rng: np.random.Generator | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> tuple[float, np.ndarray]:
        """One training step's maths: returns (loss, logits) and fills ``grads``.

        The loss is the mean cross-entropy plus 0.5 * l2 * sum of squared weights.
        """
        logits = self.forward(x, train=True, rng=rng, dropout=dropout, input_dropout=input_dropout)
        loss, dlogits = cross_entropy(logits, y, label_smoothing)
        if l2:
            loss += 0.5 * l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.W)
        self.backward(dlogits.astype(self.dtype, copy=False), l2=l2)
        return loss, logits

    # ----- inference on raw pixels -----------------------------------------
    def logits(self, pixels: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Logits (n, 10) for raw pixels (n, 784) or (n, 28, 28) in 0-255, in chunks."""
        pixels = np.asarray(pixels).reshape(-1, N_PIXELS)
        out = [self.forward(self.preprocessor.transform(pixels[i : i + batch])) for i in range(0, len(pixels), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.sizes[-1]), self.dtype)

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10) for raw pixels in 0-255."""
        return softmax(self.logits(pixels).astype(np.float64)).astype(np.float32)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Predicted class indices (n,) for raw pixels in 0-255."""
        return self.logits(pixels).argmax(axis=1)

    def input_gradient(self, pixels: np.ndarray, target: np.ndarray | int | None = None) -> np.ndarray:
        """d p[target] / d (pixels / 255), shape (n, 784): the saliency map.

        ``target`` defaults to each image's predicted class. Reads the weights only (its
        forward and backward arrays are local), so it is safe from many threads at once.
        """
        pixels, cache, p = self._forward_proba(pixels)
        t = p.argmax(axis=1) if target is None else np.broadcast_to(np.asarray(target), (len(p),))
        return self._saliency(pixels, cache, p, t)

    def proba_and_saliency(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities (n, 10), the predicted class's saliency (n, 784)) from one forward pass.

        What Predict shows for an image, with the network read once instead of twice. The
        saliency is None when the probabilities are not finite (weights that overflowed).
        """
        pixels, cache, p = self._forward_proba(pixels)
        if not np.isfinite(p).all():
            return p, None
        return p, self._saliency(pixels, cache, p, p.argmax(axis=1))

    def _forward_proba(self, pixels: np.ndarray) -> tuple[np.ndarray, _Cache, np.ndarray]:
        """(pixels (n, 784), the forward pass's local cache, probabilities (n, 10) float64) for raw pixels."""
        pixels = np.asarray(pixels).reshape(-1, N_PIXELS)
        cache = _Cache()
        return pixels, cache, softmax(self._forward(self.preprocessor.transform(pixels), cache).astype(np.float64))

    def _saliency(self, pixels: np.ndarray, cache: _Cache, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        """d p[t] / d (pixels / 255) (n, 784) float32, from a forward pass's cache and probabilities p."""
        n = len(p)
        # d p_t / d z_j = p_t (1[j = t] - p_j)
        dz = -p[np.arange(n), t][:, None] * p
        dz[np.arange(n), t] += p[np.arange(n), t]
        dx = self._backward(cache, dz.astype(self.dtype), weight_grads=False, input_grad=True)
        return self.preprocessor.backprop(pixels, dx).astype(np.float32)

    def hidden_activations(self, pixels: np.ndarray, layer: int = -1) -> np.ndarray:
        """Activations (n, units) of a hidden layer for raw pixels, e.g. for a PCA view."""
        cache = _Cache()
        self._forward(self.preprocessor.transform(np.asarray(pixels).reshape(-1, N_PIXELS)), cache)
        return cache.hs[layer]

    # ----- bookkeeping ------------------------------------------------------
    @property
    def n_params(self) -> int:
        return int(self.params.size)

    def describe(self) -> str:
        """Architecture in one line, e.g. '784-128-10 (relu)'."""
        return "-".join(map(str, self.sizes)) + (f" ({', '.join(self.activations)})" if self.activations else "")

    def __getstate__(self) -> dict:
        """Pickled as the flat parameter vector only; the per-layer views are laid out again on load."""
        state = self.__dict__.copy()
        for name in ("grads", "W", "b", "gW", "gb", "weight_slices", "_cache", "_work"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind(np.zeros_like(self.params))

    def copy(self) -> MLP:
        """An independent snapshot (weights, preprocessing, meta), e.g. of a model mid-training."""
        clone = copy.copy(self)
        clone.params = self.params.copy()
        clone._bind(np.zeros_like(self.params))
        clone.meta = copy.deepcopy(self.meta)
        return clone
