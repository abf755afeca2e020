"""Model files: ``.npz`` with W1, b1, ..., Wn, bn, optional input_mean/input_std, and a JSON ``meta``.

Loading never unpickles (``allow_pickle=False``) and checks every array's name, shape
and values before building the network; saving is atomic (temp file, then os.replace).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from model.datasets.spec import N_CLASSES, N_PIXELS
from model.errors import ModelFileError
from model.nn.activations import ACTIVATIONS
from model.nn.network import MLP
from model.nn.preprocessing import PREPROCESSING, Preprocessor
from model.training.config import is_number

MODELS_ENV_VAR = "FASHION_MODELS_DIR"
MAX_MODEL_BYTES = 256 * 1024 * 1024  # uncompressed; refuses zip bombs before reading
REQUIRED_META = ("hidden_activations", "classes", "config", "metrics", "history", "data_md5", "created")


def models_dir() -> Path:
    """Where saved models live: $FASHION_MODELS_DIR, else <repo>/models (the CLI's default, the app's list)."""
    return Path(os.environ.get(MODELS_ENV_VAR) or Path(__file__).resolve().parents[1] / "models")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def model_bytes(net: MLP) -> bytes:
    """The model file's content, e.g. for a download button."""
    meta = {"created": now_iso(), "classes": [], "config": {}, "metrics": {}, "history": {}, "data_md5": ""}
    meta.update(net.meta)
    meta["hidden_activations"] = list(net.activations)
    meta["preprocessing"] = net.preprocessor.kind
    arrays = {}
    for i, (W, b) in enumerate(zip(net.W, net.b), start=1):
        arrays[f"W{i}"] = np.asarray(W, np.float32)
        arrays[f"b{i}"] = np.asarray(b, np.float32)
    if net.preprocessor.kind == "standardize":
        arrays["input_mean"] = net.preprocessor.mean
        arrays["input_std"] = net.preprocessor.std
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    return buf.getvalue()


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write bytes so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_model(net: MLP, path: str | Path) -> Path:
    """Save atomically to ``path`` (.npz)."""
    return write_atomic(path, model_bytes(net))


def load_model(source: str | Path | bytes | BinaryIO, name: str | None = None) -> MLP:
    """Load and validate a model file from a path, bytes or a binary file object."""
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the model file")
    try:
        raw = (
            Path(source).read_bytes()
            if isinstance(source, (str, Path))
            else source
            if isinstance(source, bytes)
            else source.read()
        )
    except OSError as e:
        raise ModelFileError(f"Cannot read {label}: {e.strerror or e}.") from None
    if not raw:
        raise ModelFileError(f"{label} is empty.")
    arrays = _read_arrays(raw, label)
    meta = _read_meta(arrays, label)
    return _build(arrays, meta, label)


def _read_arrays(raw: bytes, label: str) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_MODEL_BYTES:
                raise ModelFileError(f"{label} unpacks to more than {MAX_MODEL_BYTES >> 20} MB; refusing to load it.")
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        odd = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
        if odd:
            raise ModelFileError(f"{label}: entries {', '.join(odd)} are not NumPy arrays.")
        return arrays
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ModelFileError(
                f"{label} contains pickled Python objects; they are never loaded, for safety."
            ) from None
        raise ModelFileError(f"{label} is not a valid model file ({e}).") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, MemoryError) as e:
        raise ModelFileError(
            f"{label} is not a valid .npz model file: it is corrupt or truncated ({type(e).__name__})."
        ) from None


def _read_meta(arrays: dict[str, np.ndarray], label: str) -> dict:
    if "meta" not in arrays:
        raise ModelFileError(f"{label} has no 'meta' entry (the JSON description of the model).")
    meta_arr = arrays["meta"]
    if meta_arr.dtype.kind != "U" or meta_arr.ndim != 0:
        raise ModelFileError(f"{label}: 'meta' must be a JSON string.")
    try:
        meta = json.loads(str(meta_arr))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{label}: 'meta' is not valid JSON ({e.msg} at position {e.pos}).") from None
    except RecursionError:
        raise ModelFileError(f"{label}: 'meta' is nested too deeply.") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{label}: 'meta' must be a JSON object.")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ModelFileError(f"{label}: 'meta' lacks {', '.join(missing)}.")
    acts = meta["hidden_activations"]
    if not isinstance(acts, list) or not all(isinstance(a, str) and a in ACTIVATIONS for a in acts):
        raise ModelFileError(f"{label}: hidden_activations must list names from {', '.join(ACTIVATIONS)}.")
    if meta.get("preprocessing", "scale") not in PREPROCESSING:
        raise ModelFileError(f"{label}: unknown preprocessing {meta.get('preprocessing')!r}.")
    _check_meta_types(meta, label)
    return meta


def _check_meta_types(meta: dict, label: str) -> None:
    """The fields the app and CLI read (model card, learning curves, runs table) must have usable types."""
    if not isinstance(meta["metrics"], dict):
        raise ModelFileError(f"{label}: 'meta' field 'metrics' must be a JSON object.")
    history = meta["history"]
    if not isinstance(history, dict):
        raise ModelFileError(f"{label}: 'meta' field 'history' must be a JSON object of lists.")
    for key, values in history.items():
        if not isinstance(values, list) or not all(v is None or is_number(v) for v in values):
            raise ModelFileError(f"{label}: 'meta' history '{key}' must be a list of numbers.")
    for key in ("train_seconds", "epochs_trained"):
        if meta.get(key) is not None and not is_number(meta[key]):
            raise ModelFileError(f"{label}: 'meta' field '{key}' must be a number, not {meta[key]!r}.")


def _finite32(a: np.ndarray) -> bool:
    """Finite, and still finite once stored as float32 (1e300 would become inf)."""
    a = np.asarray(a, np.float64)
    return bool(np.isfinite(a).all() and (np.abs(a) <= np.finfo(np.float32).max).all())


def _build(arrays: dict[str, np.ndarray], meta: dict, label: str) -> MLP:
    n_layers = len(meta["hidden_activations"]) + 1
    sizes = [N_PIXELS]
    for i in range(1, n_layers + 1):
        W, b = arrays.get(f"W{i}"), arrays.get(f"b{i}")
        if W is None or b is None:
            raise ModelFileError(f"{label}: missing W{i} or b{i} ({n_layers} layers expected from hidden_activations).")
        if W.ndim != 2 or W.shape[0] != sizes[-1] or b.shape != (W.shape[1],):
            raise ModelFileError(
                f"{label}: W{i} has shape {W.shape} and b{i} {b.shape}; expected ({sizes[-1]}, k) and (k,)."
            )
        if W.shape[1] == 0:
            raise ModelFileError(f"{label}: W{i} has no output units.")
        if W.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
            raise ModelFileError(f"{label}: W{i} and b{i} must hold numbers.")
        if not (_finite32(W) and _finite32(b)):
            raise ModelFileError(
                f"{label}: W{i} or b{i} contains NaN or infinite values, or values too large for float32."
            )
        sizes.append(W.shape[1])
    if sizes[-1] != N_CLASSES:
        raise ModelFileError(f"{label}: the last layer has {sizes[-1]} outputs; expected {N_CLASSES} classes.")
    if f"W{n_layers + 1}" in arrays:
        raise ModelFileError(f"{label}: has more weight matrices than hidden_activations describes.")
    kind = meta.get("preprocessing", "standardize" if "input_mean" in arrays else "scale")
    pre = Preprocessor(kind)
    if kind == "standardize":
        mean, std = arrays.get("input_mean"), arrays.get("input_std")
        if mean is None or std is None or mean.shape != (N_PIXELS,) or std.shape != (N_PIXELS,):
            raise ModelFileError(f"{label}: standardized inputs need input_mean and input_std of shape ({N_PIXELS},).")
        if mean.dtype.kind not in "fiu" or std.dtype.kind not in "fiu":
            raise ModelFileError(f"{label}: input_mean and input_std must hold numbers.")
        if not (_finite32(mean) and _finite32(std) and (std > 0).all()):
            raise ModelFileError(f"{label}: input_mean/input_std must be finite with input_std > 0.")
        pre = Preprocessor(kind, mean.astype(np.float32), std.astype(np.float32))
    net = MLP(sizes, meta["hidden_activations"], preprocessor=pre)
    for i in range(n_layers):
        net.W[i][...] = arrays[f"W{i + 1}"]
        net.b[i][...] = arrays[f"b{i + 1}"]
    net.meta = meta
    return net
