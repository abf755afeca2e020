"""Tests for model files (model/io.py) and test-set metrics (model/metrics.py).

Every malformed file must raise ModelFileError with a message a user can act on, never another
exception, and loading must never execute code from the file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.metrics import classification_report

from model import model_file as model_io
from model.datasets.fashion_mnist import CLASS_NAMES
from model.errors import FashionError, ModelFileError
from model.model_file import REQUIRED_META, load_model, model_bytes, save_model
from model.nn.network import MLP
from model.nn.preprocessing import Preprocessor
from model.training.config import TrainConfig
from model.training.evaluation import confident_mistakes, evaluate, report_csv, top_k
from model.training.trainer import Trainer
from tests.support.synthetic import blocks

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 784), dtype=np.uint8)


def tiny_net(kind: str = "scale", hidden=(16,), acts=None, seed: int = 0) -> MLP:
    rng = np.random.default_rng(seed)
    train = _pixels(100, seed + 1)
    train[:, :40] = 0  # constant columns: floored std
    net = MLP(
        [784, *hidden, 10],
        acts or ["relu"] * len(hidden),
        init="he",
        rng=rng,
        preprocessor=Preprocessor.fit(kind, train),
    )
    net.params += rng.normal(0, 0.05, net.params.shape).astype(np.float32)  # non-zero biases
    net.meta = {
        "classes": list(CLASS_NAMES),
        "config": TrainConfig(hidden=list(hidden)).to_dict(),
        "metrics": {"test_accuracy": 0.5, "macro_f1": 0.4},
        "history": {"train_loss": [2.0, 1.5], "val_acc": [None, 0.3]},
        "data_md5": "abc123",
        "created": "2024-05-01T12:00:00+00:00",
        "custom": {"nested": [1, 2.5, "x", None, True]},
    }
    return net


def arrays_of(net: MLP) -> dict:
    """The arrays of a valid model file, to be broken one way at a time."""
    with np.load(io.BytesIO(model_bytes(net))) as npz:
        return {key: npz[key] for key in npz.files}


def meta_of(arrays: dict) -> dict:
    return json.loads(str(arrays["meta"]))


def npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def with_meta(arrays: dict, **changes) -> dict:
    meta = meta_of(arrays)
    for key, value in changes.items():
        if value is _DELETE:
            del meta[key]
        else:
            meta[key] = value
    return {**arrays, "meta": np.array(json.dumps(meta))}


_DELETE = object()


# ----- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,hidden,acts",
    [
        ("scale", (16,), ["relu"]),
        ("standardize", (16,), ["gelu"]),
        ("standardize", (12, 8), ["tanh", "sigmoid"]),
        ("l2", (8,), ["leaky_relu"]),
    ],
)
def test_save_load_round_trip(tmp_path, kind, hidden, acts):
    net = tiny_net(kind, hidden, acts)
    pixels = _pixels(20, seed=9)
    expected = net.predict_proba(pixels)
    path = save_model(net, tmp_path / "sub" / "model.npz")
    assert path == tmp_path / "sub" / "model.npz" and path.exists()
    assert sorted(os.listdir(path.parent)) == ["model.npz"]  # atomic: no temp file left behind
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        loaded = load_model(source)
        np.testing.assert_array_equal(loaded.predict_proba(pixels), expected)
        np.testing.assert_array_equal(loaded.params, net.params)
    assert loaded.sizes == net.sizes and loaded.activations == list(acts)
    assert loaded.preprocessor.kind == kind
    if kind == "standardize":
        np.testing.assert_array_equal(loaded.preprocessor.mean, net.preprocessor.mean)
        np.testing.assert_array_equal(loaded.preprocessor.std, net.preprocessor.std)
        assert loaded.preprocessor.std.dtype == np.float32
    else:
        assert loaded.preprocessor.mean is None and loaded.preprocessor.std is None
    for key, value in net.meta.items():
        assert loaded.meta[key] == value, key
    assert loaded.meta["hidden_activations"] == list(acts)
    assert loaded.meta["preprocessing"] == kind
    assert loaded.params.dtype == np.float32
    assert loaded.describe() == net.describe()


def test_model_bytes_contents_and_defaults():
    net = MLP([784, 5, 10], ["tanh"], rng=np.random.default_rng(0))  # no meta at all
    arrays = arrays_of(net)
    assert set(arrays) == {"meta", "W1", "b1", "W2", "b2"}
    assert arrays["W1"].shape == (784, 5) and arrays["W1"].dtype == np.float32
    meta = meta_of(arrays)
    assert set(REQUIRED_META) <= set(meta)
    assert meta["hidden_activations"] == ["tanh"] and meta["preprocessing"] == "scale"
    assert meta["created"].endswith("+00:00")
    loaded = load_model(model_bytes(net))
    np.testing.assert_array_equal(loaded.params, net.params)
    # Saving does not touch the network's own meta.
    assert net.meta == {}


def test_save_overwrites_and_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    first, second = tiny_net(seed=1), tiny_net(seed=2)
    save_model(first, path)
    old = path.read_bytes()
    save_model(second, path)
    assert path.read_bytes() != old
    np.testing.assert_array_equal(load_model(path).params, second.params)
    current = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(model_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_model(first, path)
    assert path.read_bytes() == current
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_missing_or_unreadable_path(tmp_path):
    with pytest.raises(ModelFileError, match="Cannot read missing.npz"):
        load_model(tmp_path / "missing.npz")
    with pytest.raises(ModelFileError, match="Cannot read"):
        load_model(tmp_path)  # a directory
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty.npz is empty"):
        load_model(empty)
    assert issubclass(ModelFileError, FashionError)


def test_name_appears_in_messages():
    with pytest.raises(ModelFileError, match="^upload.npz is empty"):
        load_model(b"", name="upload.npz")
    with pytest.raises(ModelFileError, match="^the model file"):
        load_model(b"junk")


# ----- malformed files ------------------------------------------------------------------------

NET = tiny_net("scale", (16,), ["relu"])
GOOD = arrays_of(NET)
STD_NET = tiny_net("standardize", (16,), ["relu"])
STD_GOOD = arrays_of(STD_NET)


def _drop(arrays: dict, *keys: str) -> dict:
    return {k: v for k, v in arrays.items() if k not in keys}


def _set(arrays: dict, **changes) -> dict:
    return {**arrays, **changes}


def _poison(key: str, value: float, index=(0, 0)) -> dict:
    arr = GOOD[key].copy()
    arr[index] = value
    return _set(GOOD, **{key: arr})


def _zip_with_raw_member(member: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in GOOD.items():
            if f"{key}.npy" == member:
                continue
            item = io.BytesIO()
            np.save(item, value)
            zf.writestr(f"{key}.npy", item.getvalue())
        zf.writestr(member, content)
    return buf.getvalue()


VALID = npz_bytes(GOOD)

MALFORMED = {
    "empty bytes": (b"", "is empty"),
    "random bytes": (np.random.default_rng(0).bytes(5000), "not a valid .npz"),
    "text": (b"W1,b1\n1,2\n", "corrupt or truncated"),
    "truncated half": (VALID[: len(VALID) // 2], "corrupt or truncated"),
    "truncated tail": (VALID[:-30], "corrupt or truncated"),
    "zip header only": (VALID[:4], "corrupt or truncated"),
    "npy header": (b"\x93NUMPY" + b"\x00" * 100, "corrupt or truncated"),
    "object array": (npz_bytes(_set(GOOD, W1=np.array([{"a": 1}, None], dtype=object))), "pickled"),
    "object meta": (npz_bytes(_set(GOOD, meta=np.array([{"a": 1}], dtype=object))), "pickled"),
    "missing meta": (npz_bytes(_drop(GOOD, "meta")), "no 'meta'"),
    "meta not a string": (npz_bytes(_set(GOOD, meta=np.array(5))), "'meta' must be a JSON string"),
    "meta string array": (npz_bytes(_set(GOOD, meta=np.array(["{}", "{}"]))), "'meta' must be a JSON string"),
    "meta bytes": (npz_bytes(_set(GOOD, meta=np.array(b"{}"))), "'meta' must be a JSON string"),
    "meta invalid json": (npz_bytes(_set(GOOD, meta=np.array("{'hidden': 1"))), "'meta' is not valid JSON"),
    "meta empty string": (npz_bytes(_set(GOOD, meta=np.array(""))), "'meta' is not valid JSON"),
    "meta is a list": (npz_bytes(_set(GOOD, meta=np.array("[1, 2]"))), "'meta' must be a JSON object"),
    "meta is a string": (npz_bytes(_set(GOOD, meta=np.array('"relu"'))), "'meta' must be a JSON object"),
    "meta is null": (npz_bytes(_set(GOOD, meta=np.array("null"))), "'meta' must be a JSON object"),
    "unknown activation": (npz_bytes(with_meta(GOOD, hidden_activations=["swish"])), "hidden_activations must"),
    "activation not a list": (npz_bytes(with_meta(GOOD, hidden_activations="relu")), "hidden_activations must"),
    "activation number": (npz_bytes(with_meta(GOOD, hidden_activations=[3])), "hidden_activations must"),
    "unknown preprocessing": (npz_bytes(with_meta(GOOD, preprocessing="minmax")), "unknown preprocessing 'minmax'"),
    "preprocessing null": (npz_bytes(with_meta(GOOD, preprocessing=None)), "unknown preprocessing None"),
    "W1 rows not 784": (npz_bytes(_set(GOOD, W1=np.zeros((783, 16), np.float32))), r"W1 has shape \(783, 16\)"),
    "W1 transposed": (npz_bytes(_set(GOOD, W1=GOOD["W1"].T.copy())), r"expected \(784, k\)"),
    "W1 1-d": (npz_bytes(_set(GOOD, W1=GOOD["W1"].ravel())), "W1 has shape"),
    "W1 3-d": (npz_bytes(_set(GOOD, W1=GOOD["W1"][None])), "W1 has shape"),
    "chain mismatch": (npz_bytes(_set(GOOD, W2=np.zeros((15, 10), np.float32))), r"W2 has shape \(15, 10\)"),
    "b1 wrong length": (npz_bytes(_set(GOOD, b1=np.zeros(15, np.float32))), r"b1 \(15,\)"),
    "b2 2-d": (npz_bytes(_set(GOOD, b2=GOOD["b2"][None])), "b2"),
    "missing b1": (npz_bytes(_drop(GOOD, "b1")), "missing W1 or b1"),
    "missing W2": (npz_bytes(_drop(GOOD, "W2")), "missing W2 or b2"),
    "missing all weights": (npz_bytes(_drop(GOOD, "W1", "b1", "W2", "b2")), "missing W1 or b1"),
    "more activations than layers": (
        npz_bytes(with_meta(GOOD, hidden_activations=["relu", "relu"])),
        "missing W3 or b3",
    ),
    "NaN weight": (npz_bytes(_poison("W1", np.nan)), "NaN or infinite"),
    "inf weight": (npz_bytes(_poison("W2", np.inf, (3, 4))), "NaN or infinite"),
    "-inf weight": (npz_bytes(_poison("W1", -np.inf, (783, 15))), "NaN or infinite"),
    "NaN bias": (npz_bytes(_poison("b2", np.nan, 9)), "NaN or infinite"),
    "string weights": (npz_bytes(_set(GOOD, W2=GOOD["W2"].astype(str))), "must hold numbers"),
    "bool weights": (npz_bytes(_set(GOOD, W2=GOOD["W2"] > 0)), "must hold numbers"),
    "complex weights": (npz_bytes(_set(GOOD, W2=GOOD["W2"].astype(complex))), "must hold numbers"),
    "output not 10": (
        npz_bytes(_set(GOOD, W2=np.zeros((16, 9), np.float32), b2=np.zeros(9, np.float32))),
        "9 outputs; expected 10 classes",
    ),
    "no hidden, output not 10": (
        npz_bytes(
            _set(
                with_meta(_drop(GOOD, "W2", "b2"), hidden_activations=[]),
                W1=np.zeros((784, 16), np.float32),
            )
        ),
        "16 outputs; expected 10",
    ),
    "extra W layer": (
        npz_bytes(_set(GOOD, W3=np.zeros((10, 10), np.float32), b3=np.zeros(10, np.float32))),
        "more weight matrices than hidden_activations",
    ),
    "standardize without input_std": (
        npz_bytes(_drop(STD_GOOD, "input_std")),
        r"need input_mean and input_std of shape \(784,\)",
    ),
    "standardize without input_mean": (npz_bytes(_drop(STD_GOOD, "input_mean")), "need input_mean and input_std"),
    "standardize without both": (
        npz_bytes(_drop(STD_GOOD, "input_mean", "input_std")),
        "need input_mean and input_std",
    ),
    "input_std zero": (npz_bytes(_set(STD_GOOD, input_std=np.zeros(784, np.float32))), "input_std > 0"),
    "input_std one negative": (
        npz_bytes(_set(STD_GOOD, input_std=np.where(np.arange(784) == 5, -0.1, 0.2).astype(np.float32))),
        "input_std > 0",
    ),
    "input_std NaN": (npz_bytes(_set(STD_GOOD, input_std=np.full(784, np.nan, np.float32))), "finite"),
    "input_mean inf": (npz_bytes(_set(STD_GOOD, input_mean=np.full(784, np.inf, np.float32))), "finite"),
    "input_std wrong shape": (npz_bytes(_set(STD_GOOD, input_std=np.ones(28, np.float32))), r"shape \(784,\)"),
    "input_mean 2-d": (npz_bytes(_set(STD_GOOD, input_mean=np.zeros((28, 28), np.float32))), r"shape \(784,\)"),
    "standardize implied by arrays, std missing": (
        npz_bytes(_drop(with_meta(STD_GOOD, preprocessing=_DELETE), "input_std")),
        "need input_mean and input_std",
    ),
}
for _key in REQUIRED_META:
    MALFORMED[f"meta lacks {_key}"] = (npz_bytes(with_meta(GOOD, **{_key: _DELETE})), f"'meta' lacks {_key}")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_raises_model_file_error(case, tmp_path):
    raw, message = MALFORMED[case]
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(raw)
    text = str(info.value)
    assert text.startswith("the model file") and len(text) < 400
    assert "Traceback" not in text
    # Same from a path, with the file's name in the message.
    path = tmp_path / "bad.npz"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError, match="^bad.npz"):
        load_model(path)


def test_malformed_cases_are_minimal_changes_of_a_valid_file():
    # Guards the table above: the unbroken files load fine.
    np.testing.assert_array_equal(load_model(VALID).params, NET.params)
    np.testing.assert_array_equal(load_model(npz_bytes(STD_GOOD)).preprocessor.std, STD_NET.preprocessor.std)
    assert load_model(npz_bytes(with_meta(GOOD, preprocessing=_DELETE))).preprocessor.kind == "scale"
    implied = load_model(npz_bytes(with_meta(STD_GOOD, preprocessing=_DELETE)))
    assert implied.preprocessor.kind == "standardize"


def test_integer_and_float64_weights_are_accepted_and_converted():
    arrays = _set(GOOD, W1=GOOD["W1"].astype(np.float64), b2=np.arange(10, dtype=np.int32))
    net = load_model(npz_bytes(arrays))
    assert net.params.dtype == np.float32
    np.testing.assert_array_equal(net.b[1], np.arange(10))
    np.testing.assert_array_equal(net.W[0], GOOD["W1"])


def test_zip_bomb_guard(monkeypatch):
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", 10_000)
    with pytest.raises(ModelFileError, match="unpacks to more than"):
        load_model(VALID)


# Known gaps: each of these raises something other than ModelFileError (or loads a broken net).
def test_zip_member_that_is_not_npy_raises_model_file_error():
    with pytest.raises(ModelFileError):
        load_model(_zip_with_raw_member("W1.npy", b"not an array"))


def test_unhashable_activation_entry_raises_model_file_error():
    with pytest.raises(ModelFileError, match="hidden_activations"):
        load_model(npz_bytes(with_meta(GOOD, hidden_activations=[["relu"]])))


def test_non_numeric_input_std_raises_model_file_error():
    with pytest.raises(ModelFileError, match="input_"):
        load_model(npz_bytes(_set(STD_GOOD, input_std=np.full(784, "0.3"))))


def test_zero_width_hidden_layer_raises_model_file_error():
    arrays = _set(
        GOOD,
        W1=np.zeros((784, 0), np.float32),
        b1=np.zeros(0, np.float32),
        W2=np.zeros((0, 10), np.float32),
    )
    with pytest.raises(ModelFileError):
        load_model(npz_bytes(arrays))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_weights_overflowing_float32_are_rejected():
    w = GOOD["W1"].astype(np.float64)
    w[0, 0] = 1e300
    try:
        net = load_model(npz_bytes(_set(GOOD, W1=w)))
    except ModelFileError:
        return
    assert np.isfinite(net.params).all()


def test_deeply_nested_meta_raises_model_file_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ModelFileError):
        load_model(npz_bytes(_set(GOOD, meta=np.array(deep))))


# ----- no code execution ------------------------------------------------------------------------


class _TouchOnUnpickle:
    """Unpickling this object creates ``path``: a harmless stand-in for arbitrary code."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _payloads(marker: pathlib.Path) -> dict[str, bytes]:
    evil = _TouchOnUnpickle(marker)
    npy = io.BytesIO()
    np.save(npy, np.array([evil], dtype=object), allow_pickle=True)
    return {
        "object W1": npz_bytes(_set(GOOD, W1=np.array([evil], dtype=object))),
        "object meta": npz_bytes(_set(GOOD, meta=np.array(evil, dtype=object))),
        "object input_std": npz_bytes(_set(STD_GOOD, input_std=np.array([evil] * 784, dtype=object))),
        "raw pickle": pickle.dumps(evil),
        "npy with objects": npy.getvalue(),
    }


def test_payload_is_live_when_unpickled(tmp_path):
    # Control: the payload really runs when something unpickles it, so the next test means something.
    marker = tmp_path / "control"
    with np.load(io.BytesIO(_payloads(marker)["object W1"]), allow_pickle=True) as npz:
        npz["W1"]
    assert marker.exists()
    marker.unlink()
    pickle.loads(_payloads(marker)["raw pickle"])
    assert marker.exists()


@pytest.mark.parametrize("payload", ["object W1", "object meta", "object input_std", "raw pickle", "npy with objects"])
def test_loading_never_executes_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    raw = _payloads(marker)[payload]
    with pytest.raises(ModelFileError) as info:
        load_model(raw)
    assert not marker.exists()
    if payload.startswith("object"):
        assert "pickled Python objects" in str(info.value) and "never loaded" in str(info.value)
    path = tmp_path / "evil.npz"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not marker.exists()


# ----- metrics -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation():
    x, y = blocks(400, seed=1)
    cfg = TrainConfig(hidden=[16], epochs=2, batch_size=32, lr=3e-3, dropout=0.0, val_fraction=0.0, seed=3)
    trainer = Trainer(cfg, x, y)
    trainer.run()
    net = trainer.snapshot()
    x_test, y_test = blocks(300, seed=2)
    # Relabel a quarter of the test set at random, so there are mistakes in many cells.
    rng = np.random.default_rng(4)
    flip = rng.random(300) < 0.25
    y_test = np.where(flip, rng.integers(0, 10, 300), y_test)
    return net, x_test, y_test, evaluate(net, x_test, y_test)


def test_evaluate_confusion_accuracy_and_predictions(evaluation):
    net, x, y, ev = evaluation
    n = len(y)
    assert ev.confusion.shape == (10, 10) and ev.confusion.sum() == n
    np.testing.assert_array_equal(ev.confusion.sum(axis=1), np.bincount(y, minlength=10))
    np.testing.assert_array_equal(ev.confusion.sum(axis=0), np.bincount(ev.pred, minlength=10))
    manual = np.zeros((10, 10), int)
    np.add.at(manual, (y, ev.pred), 1)
    np.testing.assert_array_equal(ev.confusion, manual)
    assert ev.accuracy == pytest.approx(float((ev.pred == y).mean()), abs=1e-15)
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / n)
    assert 0.5 < ev.accuracy < 0.95  # learned, but with the relabelled mistakes
    np.testing.assert_array_equal(ev.pred, net.predict_proba(x).argmax(axis=1))
    np.testing.assert_array_equal(ev.y, y)
    assert ev.proba.shape == (n, 10)
    np.testing.assert_allclose(ev.proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(ev.confusion_normalized.sum(axis=1), 1)
    np.testing.assert_allclose(ev.per_class_accuracy, [r["recall"] for r in ev.per_class])
    assert ev.summary() == {"test_accuracy": round(ev.accuracy, 4), "macro_f1": round(ev.macro_f1, 4)}


def test_report_rows_match_sklearn(evaluation):
    _, _, y, ev = evaluation
    rows = ev.report
    assert len(rows) == 12
    assert [r["class"] for r in rows] == [*CLASS_NAMES, "macro avg", "weighted avg"]
    assert ev.per_class == rows[:10] and ev.macro is rows[10] and ev.weighted is rows[11]
    ref = classification_report(
        y, ev.pred, labels=list(range(10)), target_names=list(CLASS_NAMES), output_dict=True, zero_division=0
    )
    for row in rows:
        expected = ref[row["class"]]
        for ours, theirs in [("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")]:
            assert row[ours] == pytest.approx(expected[theirs], abs=1e-12), (row["class"], ours)
        assert row["support"] == int(expected["support"])
    assert sum(r["support"] for r in rows[:10]) == len(y)
    assert ev.macro_f1 == pytest.approx(rows[10]["f1"])
    # Hand check of one class.
    c = int(np.bincount(y).argmax())
    tp = int(((ev.pred == c) & (y == c)).sum())
    assert rows[c]["recall"] == pytest.approx(tp / (y == c).sum())
    assert rows[c]["precision"] == pytest.approx(tp / max((ev.pred == c).sum(), 1))


def test_report_csv_parses_back(evaluation):
    rows = evaluation[3].report
    text = report_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 12
    assert list(parsed[0]) == ["class", "precision", "recall", "f1", "support"]
    for row, back in zip(rows, parsed, strict=True):
        assert back["class"] == row["class"]
        assert float(back["precision"]) == row["precision"] and float(back["f1"]) == row["f1"]
        assert int(back["support"]) == row["support"]


def test_confident_mistakes_are_wrong_and_sorted(evaluation):
    _, _, y, ev = evaluation
    wrong = np.flatnonzero(ev.pred != y)
    assert len(wrong) > 30
    idx = confident_mistakes(ev, limit=1000)
    assert sorted(idx.tolist()) == wrong.tolist()
    conf = ev.proba[idx, ev.pred[idx]]
    assert np.all(np.diff(conf) <= 0)
    top = confident_mistakes(ev, limit=5)
    np.testing.assert_array_equal(top, idx[:5])
    assert len(confident_mistakes(ev)) == min(24, len(wrong))


def test_confident_mistakes_for_one_cell(evaluation):
    _, _, y, ev = evaluation
    off = ev.confusion.copy()
    np.fill_diagonal(off, 0)
    true, pred = np.unravel_index(off.argmax(), off.shape)
    idx = confident_mistakes(ev, true=int(true), pred=int(pred), limit=100)
    assert len(idx) == off[true, pred] > 0
    assert (y[idx] == true).all() and (ev.pred[idx] == pred).all()
    assert np.all(np.diff(ev.proba[idx, ev.pred[idx]]) <= 0)
    # A diagonal cell lists the correct predictions of that class, most confident first.
    diag = confident_mistakes(ev, true=int(true), pred=int(true), limit=1000)
    assert len(diag) == ev.confusion[true, true]
    assert (y[diag] == true).all() and (ev.pred[diag] == true).all()
    # Only the true class: its mistakes, whatever they were predicted as.
    row = confident_mistakes(ev, true=int(true), limit=1000)
    assert len(row) == off[true].sum() and (y[row] == true).all() and (ev.pred[row] != true).all()
    col = confident_mistakes(ev, pred=int(pred), limit=1000)
    assert len(col) == off[:, pred].sum() and (ev.pred[col] == pred).all() and (y[col] != pred).all()


def test_evaluate_with_absent_classes_and_top_k():
    net = tiny_net()
    x = _pixels(30, seed=5)
    y = np.zeros(30, int)  # only class 0 present
    ev = evaluate(net, x, y)
    assert ev.confusion.sum() == 30 and ev.confusion[1:].sum() == 0
    assert all(r["support"] == 0 for r in ev.per_class[1:])
    assert all(np.isfinite([r["precision"], r["recall"], r["f1"]]).all() for r in ev.report)
    pairs = top_k(ev.proba[0], k=3)
    assert len(pairs) == 3 and [p for _, p in pairs] == sorted((p for _, p in pairs), reverse=True)
    assert pairs[0][0] == CLASS_NAMES[int(ev.pred[0])]
    assert pairs[0][1] == pytest.approx(float(ev.proba[0].max()))
