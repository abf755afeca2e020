"""Bad input, end to end: broken uploads, model files, dataset files and settings, driven through the pages.

Every case asserts the page raised no exception, said what is wrong in words that name the file or the
problem, and stayed usable afterwards (a good upload still predicts, a good model still imports).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import math
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from model.datasets.images import MAX_UPLOAD_BYTES, is_blank, load_image, preprocess_upload
from model.errors import ImageError
from model.model_file import load_model, model_bytes
from model.nn.network import MLP
from model.training.config import RANGES
from tests.conftest import REPO
from tests.support.answers import answer_blocks, captions
from tests.support.answers import shown_figures as metrics  # st.metric values and the Predict answer's figures
from tests.support.synthetic import blocks, trousers
from ui import models, state
from ui.predict_view import predict_image, read_upload

TIMEOUT = 60
HOME, TRAIN, PREDICT = "app.py", "ui/pages/train.py", "ui/pages/predict.py"
DATA_PAGES = ("ui/pages/train.py", "ui/pages/metrics.py", "ui/pages/explore.py")
START = state.START


def page(path: str) -> AppTest:
    return AppTest.from_file(str(REPO / path), default_timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ======================================================================= images to upload
def wide_bar() -> np.ndarray:
    """(H, W) uint8: a wide dark bar on white, which the shipped model does not call a Trouser."""
    arr = np.full((160, 120), 255, dtype=np.uint8)
    arr[60:100, 10:110] = 0
    return arr


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


GOOD_PNG = encode(Image.fromarray(trousers()), "PNG")


def animated_gif() -> bytes:
    """Frame 1 trousers, frame 2 a wide bar: the prediction must come from frame 1."""
    first, second = (Image.fromarray(a).convert("P") for a in (trousers(), wide_bar()))
    return encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def exif_rotated_jpeg() -> bytes:
    """Trousers stored lying on their side, with EXIF Orientation=6 ("rotate 90° clockwise to view")."""
    stored = Image.fromarray(trousers()).transpose(Image.Transpose.ROTATE_90).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", exif=exif.tobytes(), quality=95)


@functools.cache
def bomb_png() -> bytes:
    """A valid 30000x30000 1-bit PNG (900 megapixels): about 110 KB, deflate's 1:1032 limit on 112 MB."""
    return encode(Image.new("1", (30000, 30000)), "PNG", optimize=False)


# (file name, bytes or a function making them, MIME type, words the error must contain)
REFUSED = {
    "not an image": ("notes.png", b"Just some text, renamed to .png.\n" * 20, "image/png", "not an image"),
    "zero bytes": ("empty.png", b"", "image/png", "empty"),
    "truncated PNG": ("half.png", GOOD_PNG[: len(GOOD_PNG) // 2], "image/png", "truncated"),
    "truncated JPEG": (
        "half.jpg",
        (lambda: (j := encode(Image.fromarray(trousers()).convert("RGB"), "JPEG"))[: len(j) // 2]),
        "image/jpeg",
        "truncated",
    ),
    "decompression bomb": ("bomb.png", bomb_png, "image/png", "pixels"),
    "over the upload limit": ("huge.png", lambda: GOOD_PNG + b"\0" * (11 * 1024 * 1024), "image/png", "larger than"),
}
BLANK = {
    "fully transparent": ("clear.png", lambda: encode(Image.new("RGBA", (60, 60), (200, 30, 30, 0)), "PNG")),
    "all white": ("white.jpg", lambda: encode(Image.new("RGB", (60, 60), "white"), "JPEG")),
    "all black": ("black.png", lambda: encode(Image.new("L", (60, 60), 0), "PNG")),
}
PREDICTED = {  # readable but unusual files: each must be predicted like the plain trousers PNG
    "animated GIF": ("moving.gif", animated_gif, "image/gif"),
    "16-bit PNG": ("deep.png", lambda: encode(Image.fromarray(trousers().astype(np.uint16) * 257), "PNG"), "image/png"),
    "CMYK JPEG": ("print.jpg", lambda: encode(Image.fromarray(trousers()).convert("CMYK"), "JPEG"), "image/jpeg"),
    "EXIF-rotated JPEG": ("phone.jpg", exif_rotated_jpeg, "image/jpeg"),
}


def data_of(made) -> bytes:
    return made() if callable(made) else made


# -------------------------------------------------------------- the pure functions first
@pytest.fixture(scope="module")
def net(shipped_model: MLP) -> MLP:
    return shipped_model  # conftest's shipped-model fixture, under this file's short name


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess_upload(GOOD_PNG, "trousers.png")


def bbox(arr: np.ndarray) -> tuple[int, int]:
    """(height, width) of the non-zero content."""
    rows, cols = np.flatnonzero(arr.any(axis=1)), np.flatnonzero(arr.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


@pytest.mark.parametrize("case", REFUSED)
def test_refused_files_raise_image_error_naming_the_file(case):
    name, made, _, words = REFUSED[case]
    with pytest.raises(ImageError) as err:
        read_upload(data_of(made), name)
    assert name in str(err.value) and words in str(err.value)


def test_upload_size_limit_is_enforced_by_the_image_code_not_only_by_streamlit():
    """AppTest (and any direct caller) bypasses the server's max_upload_size, so images.py must refuse it."""
    assert MAX_UPLOAD_BYTES == 10 * 1024 * 1024
    with pytest.raises(ImageError, match="larger than 10 MB"):
        load_image(b"\0" * (MAX_UPLOAD_BYTES + 1), "huge.png")
    with pytest.raises(ImageError, match="larger than 10 MB"):
        load_image(io.BytesIO(b"\0" * (MAX_UPLOAD_BYTES + 1)), "huge.png")


@pytest.mark.parametrize("case", BLANK)
def test_blank_files_give_an_empty_input(case):
    name, made = BLANK[case]
    assert is_blank(preprocess_upload(data_of(made), name))


@pytest.mark.parametrize("case", PREDICTED)
def test_unusual_files_give_the_same_input_as_a_plain_png(case, reference, net):
    name, made, _ = PREDICTED[case]
    image28 = preprocess_upload(data_of(made), name)
    assert image28.shape == (28, 28) and image28.dtype == np.uint8
    assert bbox(image28) == bbox(reference)  # upright (tall), same crop
    assert np.abs(image28.astype(int) - reference).mean() < 8  # JPEG noise only
    assert predict_image(net, image28).label == "Trouser"


def test_exif_rotation_makes_the_trousers_upright(reference):
    data = exif_rotated_jpeg()
    stored = Image.open(io.BytesIO(data))
    assert stored.width > stored.height and stored.getexif()[0x0112] == 6  # lying on its side as stored
    image28 = preprocess_upload(data, "phone.jpg")
    h, w = bbox(image28)
    assert h == 28 and w < 20  # tall: trousers stand upright
    # the gap between the legs is at the bottom, as in the upright reference
    assert image28[24, 13:15].max() < image28[24, 9:12].min()


def test_animated_gif_is_predicted_from_its_first_frame(net):
    first = predict_image(net, preprocess_upload(animated_gif(), "moving.gif"))
    second = predict_image(net, preprocess_upload(encode(Image.fromarray(wide_bar()), "PNG"), "bar.png"))
    assert first.label == "Trouser" and second.label != "Trouser"  # so the frame choice is visible


def high_bit_tiff(mode: str, size: tuple[int, int] = (2800, 5600)) -> bytes:
    """A 16-megapixel float (or 32/16-bit integer) TIFF of a dark garment on white: ~140 KB deflated."""
    w, h = size
    img = Image.new("F", size, 1.0)
    ImageDraw.Draw(img).rectangle((w // 4, h // 10, 3 * w // 4, 9 * h // 10), fill=0.1)
    if mode != "F":
        img = Image.fromarray((np.asarray(img) * 60000).astype(np.int32 if mode == "I" else np.uint16))
    return encode(img, "TIFF", compression="tiff_adobe_deflate")


@pytest.mark.parametrize("mode", ["F", "I", "I;16"])
def test_big_high_bit_images_do_not_balloon_memory(mode):
    """A small upload must not cost a gigabyte: 16 MP as float64 copies took 24 bytes per pixel (374 MB)."""
    data = high_bit_tiff(mode)
    assert len(data) < 300_000  # a small upload...
    tracemalloc.start()
    try:
        image28 = preprocess_upload(data, "deep.png")  # a TIFF renamed .png passes the uploader's type filter
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2800 * 5600, f"{peak / 2**20:.0f} MB"  # ... less than one float32 copy of the image
    assert not is_blank(image28) and bbox(image28)[0] == 28 and bbox(image28)[1] < 20  # a tall garment


# -------------------------------------------------------------- the Predict page
@pytest.fixture
def predict_page(monkeypatch, tmp_path) -> AppTest:
    """The Predict page without a dataset (uploads do not need it), already run once."""
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "no-data"))
    at = page(PREDICT).run()
    no_exception(at)
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.get("file_uploader")[0].clear().upload(name, data, mime)
    at.run()
    no_exception(at)
    return at


def assert_predicts_trousers(at: AppTest) -> None:
    upload(at, "trousers.png", GOOD_PNG)
    assert not at.error and not any("trousers.png" in w for w in texts(at.warning))
    assert metrics(at)["Prediction"] == ["Trouser"]


@pytest.mark.parametrize("case", REFUSED)
def test_predict_page_refuses_bad_files_with_a_clear_error(predict_page, case):
    name, made, mime, words = REFUSED[case]
    at = upload(predict_page, name, data_of(made), mime)
    errors = texts(at.error)
    assert any(name in e and words in e for e in errors), errors
    assert "Prediction" not in metrics(at)
    assert_predicts_trousers(at)


@pytest.mark.parametrize("case", BLANK)
def test_predict_page_warns_about_blank_images(predict_page, case):
    name, made = BLANK[case]
    at = upload(predict_page, name, data_of(made), "image/png")
    assert any("Nothing to classify" in w and name in w for w in texts(at.warning))
    assert not at.error and "Prediction" not in metrics(at)
    assert_predicts_trousers(at)


@pytest.mark.parametrize("case", PREDICTED)
def test_predict_page_predicts_unusual_files(predict_page, case):
    name, made, mime = PREDICTED[case]
    at = upload(predict_page, name, data_of(made), mime)
    assert not at.error and not at.warning
    assert metrics(at)["Prediction"] == ["Trouser"]
    assert f"Your upload: {name}" in [c for image in at.image for c in image.captions]
    assert "What the model sees: 28×28 pixels" in captions(answer_blocks(at)[0])


# ======================================================================= model files on Home
def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def good_arrays() -> dict[str, np.ndarray]:
    net = MLP([784, 16, 10], ["relu"], rng=np.random.default_rng(0))
    net.meta = {"metrics": {"test_accuracy": 0.5, "macro_f1": 0.4}, "created": "2024-05-01T12:00:00+00:00"}
    with np.load(io.BytesIO(model_bytes(net))) as f:
        return {k: f[k] for k in f.files}


def meta_with(**changes) -> np.ndarray:
    meta = json.loads(str(good_arrays()["meta"]))
    meta.update(changes)
    return np.array(json.dumps(meta))


def bad_model(case: str) -> bytes:
    good = good_arrays()
    if case == "pickled object array":
        buf = io.BytesIO()
        np.savez(buf, **{**good, "W1": np.array([{"evil": 1}], dtype=object)}, allow_pickle=True)
        return buf.getvalue()
    if case == "wrong shapes":
        return npz(**{**good, "W1": np.zeros((100, 16), np.float32)})
    if case == "NaN weights":
        w = good["W2"].copy()
        w[3, 4] = np.nan
        return npz(**{**good, "W2": w})
    if case == "missing meta":
        return npz(**{k: v for k, v in good.items() if k != "meta"})
    if case == "meta not valid JSON":
        return npz(**{**good, "meta": np.array("{'hidden': [16],")})
    if case == "random bytes":
        return np.random.default_rng(0).bytes(5000)
    raise AssertionError(case)


BAD_MODELS = {
    "pickled object array": "pickled",
    "wrong shapes": "shape",
    "NaN weights": "NaN",
    "missing meta": "no 'meta'",
    "meta not valid JSON": "not valid JSON",
    "random bytes": "not a valid",
}


@pytest.fixture
def home(no_data) -> AppTest:
    at = page(HOME).run()
    no_exception(at)
    return at


def import_model(at: AppTest, name: str, data: bytes) -> AppTest:
    at.get("file_uploader")[0].clear().upload(name, data, "application/octet-stream")
    at.run()
    no_exception(at)
    return at


def assert_imports(at: AppTest, name: str = "good.npz") -> None:
    """A valid file imports without a message and is offered in the model picker."""
    import_model(at, name, npz(**good_arrays()))
    assert not at.error, texts(at.error)
    assert f"This session: imported {name}" in at.selectbox(key="home_model").options
    assert at.session_state["imported"] == at.get("file_uploader")[0].value.file_id


def test_an_imported_model_becomes_the_active_model(home):
    import_model(home, "good.npz", npz(**good_arrays()))
    assert not home.error
    assert home.session_state["active_model"] == "This session: imported good.npz"
    assert home.selectbox(key="home_model").value == "This session: imported good.npz"
    assert metrics(home)["Architecture"] == ["784-16-10"]


def test_an_imported_model_can_be_picked_and_shows_its_card(home):
    import_model(home, "good.npz", npz(**good_arrays()))
    home.selectbox(key="home_model").select("This session: imported good.npz").run()
    no_exception(home)
    assert metrics(home)["Architecture"] == ["784-16-10"]
    assert metrics(home)["Test accuracy"] == ["50.00%"]


@pytest.mark.parametrize("case", BAD_MODELS)
def test_home_refuses_bad_model_files_then_imports_a_good_one(home, case):
    name = f"{case.replace(' ', '-')}.npz"
    at = import_model(home, name, bad_model(case))
    errors = texts(at.error)
    assert any(name in e and BAD_MODELS[case] in e for e in errors), errors
    assert at.session_state["active_model"] == models.DEFAULT_LABEL  # the bad file did not become active
    assert_imports(at)


# meta that passes the required-keys check but has values of the wrong type: the model card (Home),
# the learning curves (Metrics) and the runs table (Explore) read these fields.
REFUSED_META = {
    "metrics is a list": ({"metrics": [0.5]}, "'metrics'"),
    "history is a list": ({"history": [1, 2]}, "'history'"),
    "history values not numbers": ({"history": {"epoch": [1, 2], "train_acc": ["high", "low"]}}, "'train_acc'"),
    "train_seconds is text": ({"train_seconds": "fast", "epochs_trained": 3}, "'train_seconds'"),
    "epochs_trained is text": ({"train_seconds": 12.0, "epochs_trained": "many"}, "'epochs_trained'"),
}
ACCEPTED_META = {  # odd but harmless: nothing computes with these
    "command is a number": {"command": 42},
    "config is a string": {"config": "relu"},
    "history with gaps": {"history": {"epoch": [1, 2], "train_acc": [0.5, None], "val_acc": [None, 0.4]}},
}


@pytest.mark.parametrize("case", REFUSED_META)
def test_home_refuses_meta_with_values_of_the_wrong_type(home, case):
    changes, field = REFUSED_META[case]
    at = import_model(home, "odd.npz", npz(**{**good_arrays(), "meta": meta_with(**changes)}))
    errors = texts(at.error)
    assert any("odd.npz" in e and field in e for e in errors), errors
    assert_imports(at)


@pytest.mark.parametrize("case", ACCEPTED_META)
def test_odd_but_harmless_meta_is_shown_on_every_page(monkeypatch, tmp_path, quiet_md5, case):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(write_dataset(tmp_path / "tiny")))
    data = npz(**{**good_arrays(), "meta": meta_with(**ACCEPTED_META[case])})
    at = import_model(page(HOME).run(), "odd.npz", data)
    assert not at.error, texts(at.error)
    at.selectbox(key="home_model").select("This session: imported odd.npz").run()
    no_exception(at)
    assert metrics(at)["Architecture"] == ["784-16-10"]
    for path in ("ui/pages/metrics.py", "ui/pages/explore.py"):
        other = page(path)
        other.session_state["session_models"] = {"odd": load_model(data, name="odd.npz")}
        other.session_state["active_model"] = "This session: odd"
        other.run()
        no_exception(other)
        assert not other.error, (path, texts(other.error))


# ======================================================================= dataset files
def idx(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, np.uint8)
    magic = magic if magic is not None else (0x803 if arr.ndim == 3 else 0x801)
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def image_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n learnable block images (n, 28, 28), as the IDX writer takes them, and their labels."""
    x, y = blocks(n, seed)
    return x.reshape(n, 28, 28), y


def write_dataset(folder: Path, n_train: int = 50, n_test: int = 20, **replace: bytes) -> Path:
    """The four official .gz names holding a tiny IDX dataset; replace=... swaps files' bytes."""
    folder.mkdir(parents=True)
    (xtr, ytr), (xte, yte) = image_split(n_train, 0), image_split(n_test, 1)
    files = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx(xtr)),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx(ytr)),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx(xte)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx(yte)),
    }
    for key, data in replace.items():
        files[key.replace("_", "-") + ".gz"] = data
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _bad_labels() -> bytes:
    y = np.arange(20) % 10
    y[7] = 12
    return gzip.compress(idx(y))


BAD_DATA = {  # case -> (file replaced, its bytes, words the message must contain)
    "wrong magic number": (
        "train-images-idx3-ubyte",
        lambda: gzip.compress(idx(image_split(50, 0)[0], magic=0x00000804)),
        "wrong magic number",
    ),
    "truncated gzip": (
        "t10k-images-idx3-ubyte",
        lambda: (g := gzip.compress(idx(image_split(20, 1)[0])))[: len(g) // 2],
        "truncated",
    ),
    "truncated IDX data": (
        "train-images-idx3-ubyte",
        lambda: gzip.compress(idx(image_split(50, 0)[0])[:-500]),
        "truncated",
    ),
    "count mismatch": ("train-labels-idx1-ubyte", lambda: gzip.compress(idx(np.arange(49) % 10)), "50 images but 49"),
    "label outside 0-9": ("t10k-labels-idx1-ubyte", _bad_labels, "outside 0-9"),
    "images of 32x32": (
        "t10k-images-idx3-ubyte",
        lambda: gzip.compress(idx(np.zeros((20, 32, 32)))),
        "wrong image size",
    ),
    "labels file holds images": (
        "train-labels-idx1-ubyte",
        lambda: gzip.compress(idx(image_split(50, 0)[0])),
        "mixed up",
    ),
    "no images at all": ("t10k-images-idx3-ubyte", lambda: gzip.compress(idx(np.zeros((0, 28, 28)))), "no images"),
}


@pytest.fixture
def quiet_md5():
    """Our tiny files are not the official ones: the loader warns about their MD5, which is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not the official.*")
        yield


@pytest.mark.parametrize("case", BAD_DATA)
def test_data_pages_name_the_bad_dataset_file(monkeypatch, tmp_path, quiet_md5, case):
    bad_file, made, words = BAD_DATA[case]
    folder = write_dataset(tmp_path / "data", **{bad_file.replace("-", "_"): made()})
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    for path in DATA_PAGES:
        at = page(path).run()
        no_exception(at)
        shown = texts(at.warning) + texts(at.error)
        assert any(bad_file in m and words in m for m in shown), (path, shown)
        assert not at.metric and not at.get("form")  # the page stopped: nothing built on bad data


def test_home_and_predict_stay_usable_with_a_bad_dataset_file(monkeypatch, tmp_path, quiet_md5):
    folder = write_dataset(tmp_path / "data", train_labels_idx1_ubyte=gzip.compress(idx(np.arange(49) % 10)))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    at = page(HOME).run()
    no_exception(at)
    assert metrics(at)["Architecture"]  # the shipped model's card
    at = page(PREDICT).run()
    no_exception(at)
    assert_predicts_trousers(at)


def test_home_and_predict_name_the_bad_dataset_file(monkeypatch, tmp_path, quiet_md5):
    folder = write_dataset(tmp_path / "data", train_labels_idx1_ubyte=gzip.compress(idx(np.arange(49) % 10)))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    for path in (HOME, PREDICT):
        at = page(path).run()
        shown = texts(at.info) + texts(at.warning) + texts(at.error)
        assert any("train-labels-idx1-ubyte.gz" in m and "50 images but 49" in m for m in shown), (path, shown)


def test_a_valid_tiny_dataset_works_on_every_data_page(monkeypatch, tmp_path, quiet_md5):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(write_dataset(tmp_path / "tiny")))
    for path in DATA_PAGES:
        at = page(path).run()
        no_exception(at)
        assert not at.warning and not at.error, (path, texts(at.warning), texts(at.error))
    at = page(TRAIN).run()
    assert at.button(key=START) and len(at.number_input) == len(RANGES)


# ======================================================================= hyperparameters
@pytest.fixture
def train_page(monkeypatch, tmp_path, quiet_md5) -> AppTest:
    """The Train page on a tiny valid dataset in its own folder."""
    monkeypatch.setenv("FASHION_MNIST_DIR", str(write_dataset(tmp_path / "tiny")))
    at = page(TRAIN).run()
    no_exception(at)
    return at


def finish_job(at: AppTest):
    job = at.session_state["job"]
    job.join(60)
    assert not job.alive
    at.run()
    no_exception(at)
    return job


@pytest.mark.parametrize(
    "key,bad",
    [("lr", 1000.0), ("lr", -1.0), ("lr", math.nan), ("epochs", 5000), ("dropout", 0.95), ("batch_size", 0)],
)
def test_number_inputs_refuse_out_of_range_values(train_page, key, bad):
    at = train_page
    widget = at.number_input(key=f"cfg_{key}")
    low, high, _ = RANGES[key]
    assert widget.min >= low and widget.max == high  # the widget carries the allowed range
    before = widget.value
    at.number_input(key=f"cfg_{key}").set_value(bad)  # AppTest does not raise: Streamlit keeps the old value
    at.run()
    no_exception(at)
    assert at.number_input(key=f"cfg_{key}").value == before
    # ... and a run started now uses the in-range value, never the refused one
    at.number_input(key="cfg_epochs").set_value(1)
    at.button(key=START).click().run()
    no_exception(at)
    job = finish_job(at)
    value = getattr(job.cfg, key)
    assert value == (1 if key == "epochs" else before) and low <= value <= high


@pytest.mark.parametrize("hidden", ["abc", "", "0", "-5", "1.5", "128;64", "5000", ",".join(["8"] * 9), "1e3"])
def test_bad_hidden_layers_are_named_and_start_nothing(train_page, hidden):
    at = train_page
    at.text_input(key="cfg_hidden").set_value(hidden)
    at.button(key=START).click().run()
    no_exception(at)
    assert any("idden" in e for e in texts(at.error)), texts(at.error)
    assert "job" not in at.session_state


def test_link_settings_out_of_range_are_named(monkeypatch, tmp_path, quiet_md5):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(write_dataset(tmp_path / "tiny")))
    at = page(TRAIN)
    at.query_params["lr"], at.query_params["dropout"], at.query_params["epochs"] = "1e300", "-0.1", "1e9"
    at.run()
    no_exception(at)
    shown = " ".join(texts(at.warning))
    assert "lr=" in shown and "dropout=" in shown and "epochs=" in shown
    assert at.number_input(key="cfg_lr").value == 0.001  # the defaults stay


def test_link_learning_rate_below_the_form_minimum_is_named(monkeypatch, tmp_path, quiet_md5):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(write_dataset(tmp_path / "tiny")))
    at = page(TRAIN)
    at.query_params["lr"] = "1e-9"
    at.run()
    no_exception(at)
    assert at.number_input(key="cfg_lr").value == 1e-9 or any("lr" in w for w in texts(at.warning))


def assert_diverged_in_the_ui(at: AppTest, job) -> None:
    assert job.state == "diverged", (job.state, job.message)
    errors = texts(at.error)
    assert any("diverged" in e and "learning rate" in e for e in errors), errors
    history = job.history
    for key, values in history.items():
        assert all(v is None or math.isfinite(v) for v in values), key
    for chart in at.get("vega_lite_chart"):
        assert "NaN" not in chart.proto.spec and "Infinity" not in chart.proto.spec
    for html in at.get("html"):  # the light live curves, should the run still be going
        assert "nan" not in html.proto.body.lower() and "infinity" not in html.proto.body.lower()
    if job.result is not None:  # the last good weights were kept and tested
        assert np.isfinite(job.result[0].params).all()


def test_unstable_settings_end_with_the_divergence_message_tiny(train_page):
    at = train_page
    at.selectbox(key="cfg_activation").select("sigmoid")
    at.selectbox(key="cfg_optimizer").select("sgd")
    at.number_input(key="cfg_lr").set_value(100.0)
    at.number_input(key="cfg_batch_size").set_value(8)
    at.number_input(key="cfg_epochs").set_value(2)
    at.button(key=START).click().run()
    no_exception(at)
    assert_diverged_in_the_ui(at, finish_job(at))


@pytest.mark.slow
def test_unstable_settings_end_with_the_divergence_message_real(real_data):
    at = page(TRAIN).run()
    no_exception(at)
    at.selectbox(key="cfg_activation").select("sigmoid")
    at.selectbox(key="cfg_optimizer").select("sgd")
    at.number_input(key="cfg_lr").set_value(100.0)
    at.number_input(key="cfg_train_subset").set_value(2000)
    at.number_input(key="cfg_epochs").set_value(2)
    at.button(key=START).click().run()
    no_exception(at)
    assert_diverged_in_the_ui(at, finish_job(at))
