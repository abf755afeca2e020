"""Tests for model.datasets.fashion_mnist: every reader, every malformed case, download and splits.

All files are tiny fakes written into tmp_path; only the last test touches the real dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import time
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from model.datasets import fashion_mnist as data
from model.datasets.fashion_mnist import (
    CLASS_NAMES,
    CSV_FILES,
    ENV_VAR,
    NPZ_FILE,
    OFFICIAL_FILES,
    Dataset,
    dataset_available,
    load_fashion_mnist,
    read_csv,
    read_idx,
    read_npz,
    resolve_data_dir,
)
from model.errors import ConfigError, DataError
from model.training.splits import stratified_split, subset

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion-mnist"


# ------------------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: magic 0x000008<ndim>, big-endian dims, then the data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x800 | array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8) cycling through all ten classes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, (np.arange(n) % 10).astype(np.uint8)


TRAIN = fake_split(30, 1)
TEST = fake_split(10, 2)


def idx_files(train=TRAIN, test=TEST) -> dict[str, bytes]:
    """Official .gz file name -> gzipped IDX bytes of the fake dataset."""
    arrays = (train[0], train[1], test[0], test[1])
    return {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in zip(OFFICIAL_FILES, arrays)}


def write_idx_folder(folder: Path, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in idx_files().items():
        if gz:
            (folder / name).write_bytes(blob)
        else:
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(blob))
    return folder


def csv_text(images: np.ndarray, labels: np.ndarray, header: bool = True) -> str:
    lines = ["label," + ",".join(f"pixel{i}" for i in range(1, 785))] if header else []
    for img, lab in zip(images.reshape(len(images), 784), labels):
        lines.append(",".join(map(str, [int(lab), *img.tolist()])))
    return "\n".join(lines) + "\n"


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def good_rows(n: int = 3) -> list[str]:
    """Header plus n valid CSV rows, as lines (so tests can break one)."""
    return csv_text(TRAIN[0][:n], TRAIN[1][:n]).splitlines()


@pytest.fixture
def official_md5(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Make the fake .gz files 'official' so loading them raises no MD5 warning."""
    files = idx_files()
    for name, blob in files.items():
        monkeypatch.setitem(data.OFFICIAL_MD5, name, hashlib.md5(blob).hexdigest())
    return files


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may see the user's real env var or cache folder."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --------------------------------------------------------------------------------- IDX


def test_class_names() -> None:
    assert len(CLASS_NAMES) == 10
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_roundtrip(tmp_path: Path, compress: bool) -> None:
    images, labels = TRAIN
    for array, name in ((images, "img"), (labels, "lab")):
        blob = idx_bytes(array)
        path = tmp_path / name
        path.write_bytes(gzip.compress(blob) if compress else blob)
        out = read_idx(path)
        assert out.dtype == np.uint8 and out.shape == array.shape
        np.testing.assert_array_equal(out, array)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path: Path) -> None:
    raw_named_gz = tmp_path / "labels.gz"
    raw_named_gz.write_bytes(idx_bytes(TRAIN[1]))
    gz_named_raw = tmp_path / "labels-idx1-ubyte"
    gz_named_raw.write_bytes(gzip.compress(idx_bytes(TRAIN[1])))
    np.testing.assert_array_equal(read_idx(raw_named_gz), TRAIN[1])
    np.testing.assert_array_equal(read_idx(gz_named_raw), TRAIN[1])


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"\x00\x00\x08\x02" + struct.pack(">2I", 1, 1) + b"\x00", "wrong magic"),
        (b"\x12\x34\x56\x78" + bytes(20), "0x12345678"),
        (b"\x00\x00", "wrong magic"),
        (b"", "wrong magic"),
        (b"\x00\x00\x08\x03\x00\x00", "header is incomplete"),
        (idx_bytes(TRAIN[0])[:-10], "truncated"),
        (idx_bytes(TRAIN[1]) + b"junk", "unexpected bytes"),
    ],
    ids=[
        "2d-magic",
        "garbage-magic",
        "tiny",
        "empty",
        "short-header",
        "truncated",
        "trailing",
    ],
)
def test_read_idx_rejects_malformed(tmp_path: Path, blob: bytes, expected: str) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(blob)
    with pytest.raises(DataError, match=expected) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip(tmp_path: Path) -> None:
    blob = gzip.compress(idx_bytes(TRAIN[0]))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(idx_bytes(TRAIN[0])))
    blob[20:60] = bytes(range(40))  # scramble the deflate stream
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DataError, match="is a folder"):
        read_idx(tmp_path)


# --------------------------------------------------------------------------------- CSV


@pytest.mark.parametrize("header", [True, False])
def test_read_csv_ok(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "f.csv"
    path.write_text(csv_text(*TRAIN, header=header))
    images, labels = read_csv(path)
    assert images.dtype == np.uint8 and images.shape == (30, 784)
    assert labels.dtype == np.uint8 and labels.shape == (30,)
    np.testing.assert_array_equal(images, TRAIN[0].reshape(30, 784))
    np.testing.assert_array_equal(labels, TRAIN[1])


def test_read_csv_accepts_crlf_bom_and_float_cells(tmp_path: Path) -> None:
    lines = good_rows(2)
    lines[1] = lines[1].replace(",", ".0,", 3)  # "3.0"-style cells, as pandas writes floats
    path = tmp_path / "f.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    images, labels = read_csv(path)
    np.testing.assert_array_equal(labels, TRAIN[1][:2])
    np.testing.assert_array_equal(images, TRAIN[0][:2].reshape(2, 784))


def break_cell(line: str, column: int, value: str) -> str:
    cells = line.split(",")
    cells[column - 1] = value
    return ",".join(cells)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda row: row.rsplit(",", 1)[0], "line 3 has 784 columns, expected 785"),
        (lambda row: row + ",0", "line 3 has 786 columns"),
        (
            lambda row: break_cell(row, 5, "abc"),
            "line 3, column 5: pixel 4 'abc' is not a number",
        ),
        (lambda row: break_cell(row, 7, "nan"), "line 3, column 7: pixel 6 is 'nan'"),
        (
            lambda row: break_cell(row, 7, ""),
            "line 3, column 7: pixel 6 is an empty cell",
        ),
        (lambda row: break_cell(row, 2, "256"), "line 3, column 2: pixel 1 is 256"),
        (
            lambda row: break_cell(row, 2, "-1"),
            "pixel 1 is -1, expected a number from 0 to 255",
        ),
        (lambda row: break_cell(row, 1, "10"), "line 3, column 1: the label is 10"),
        (
            lambda row: break_cell(row, 1, "2.5"),
            "the label is 2.5, expected a whole number",
        ),
        (lambda row: break_cell(row, 1, "99999"), "the label is 99999"),
    ],
    ids=[
        "short",
        "long",
        "text",
        "nan",
        "empty",
        "256",
        "negative",
        "label10",
        "label2.5",
        "huge",
    ],
)
def test_read_csv_rejects_malformed(tmp_path: Path, mutate, expected: str) -> None:
    lines = good_rows(3)
    lines[2] = mutate(lines[2])  # data line 2 = file line 3
    path = write_csv(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError, match=expected) as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_read_csv_every_row_wrong_width(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "narrow.csv", ["1,2,3", "4,5,6"])
    with pytest.raises(DataError, match="line 1 has 3 columns, expected 785"):
        read_csv(path)


def test_read_csv_bad_header_and_empty(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="header line has 3 columns"):
        read_csv(write_csv(tmp_path / "h.csv", ["label,a,b", *good_rows(1)[1:]]))
    with pytest.raises(DataError, match="no data rows"):
        read_csv(write_csv(tmp_path / "only-header.csv", good_rows(0)))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="no data rows"):
        read_csv(tmp_path / "empty.csv")


def test_read_csv_bad_first_data_line_is_not_taken_for_a_header(tmp_path: Path) -> None:
    lines = good_rows(2)[1:]  # no header
    lines[0] = break_cell(lines[0], 1, "abc")
    with pytest.raises(DataError, match="line 1, column 1: the label 'abc' is not a number"):
        read_csv(write_csv(tmp_path / "f.csv", lines))


def test_read_csv_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(gzip.compress(b"label,pixel1\n" * 100))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_csv(path)


# --------------------------------------------------------------------------------- NPZ


def test_read_npz_keras_keys(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=TRAIN[0], y_train=TRAIN[1], x_test=TEST[0], y_test=TEST[1])
    parts = read_npz(path)
    assert set(parts) == {"train", "test"}
    assert parts["train"][0].shape == (30, 784) and parts["test"][1].shape == (10,)


def test_read_npz_images_labels_any_dtype(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    images = TRAIN[0].reshape(30, 784).astype(np.float32)
    np.savez_compressed(path, images=images, labels=TRAIN[1].astype(np.int64))
    x, y = read_npz(path)["all"]
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    np.testing.assert_array_equal(x, TRAIN[0].reshape(30, 784))


def test_read_npy_table(tmp_path: Path) -> None:
    path = tmp_path / "d.npy"
    np.save(path, np.column_stack([TRAIN[1], TRAIN[0].reshape(30, 784)]).astype(np.int32))
    _, y = read_npz(path)["all"]
    np.testing.assert_array_equal(y, TRAIN[1])
    np.save(path, TRAIN[0])
    with pytest.raises(DataError, match=r"\(n, 785\)"):
        read_npz(path)


def test_read_npz_rejects_pickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1))
    with pytest.raises(DataError, match="pickled"):
        read_npz(path)
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        read_npz(npy)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello, this is text", "not a NumPy"),
        (b"PK\x03\x04 truncated zip", "Could not read"),
    ],
)
def test_read_npz_rejects_non_numpy(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected):
        read_npz(path)


def test_read_npz_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, foo=np.zeros(3))
    with pytest.raises(DataError, match="expected x_train"):
        read_npz(path)
    np.savez(path, x_train=TRAIN[0])
    with pytest.raises(DataError, match="'x_train' but no 'y_train'"):
        read_npz(path)


# -------------------------------------------------------------- validation (all formats)


@pytest.mark.parametrize(
    ("images", "labels", "expected"),
    [
        (TRAIN[0][:3], TRAIN[1][:2], "3 images but 2 labels"),
        (TRAIN[0][:3], np.array([0, 1, 10]), "label 10 in position 2 is outside 0-9"),
        (TRAIN[0][:3], np.array([0, -1, 1]), "label -1 in position 1"),
        (TRAIN[0][:3, :27], TRAIN[1][:3], "wrong image size"),
        (np.zeros((3, 785)), TRAIN[1][:3], "wrong image size"),
        (np.zeros((0, 784)), np.zeros(0), "no images"),
        (
            np.full((2, 784), 300),
            np.zeros(2),
            "pixel value 300 in image 0 is outside 0-255",
        ),
        (np.full((2, 784), np.nan), np.zeros(2), "NaN"),
        (np.full((2, 784), 0.5), np.zeros(2), "look normalised"),
        (np.zeros((2, 784)), np.array([0.0, 1.5]), "not a whole number"),
        (np.zeros((2, 784)), np.eye(10)[:2], "one-hot"),
        (np.zeros((2, 784)), np.array(["a", "b"]), "must be numbers"),
    ],
    ids=[
        "count",
        "label10",
        "label-1",
        "27x28",
        "785px",
        "empty",
        "px300",
        "nan",
        "unit-range",
        "label1.5",
        "onehot",
        "strings",
    ],
)
def test_validation_via_npz(tmp_path: Path, images, labels, expected: str) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, images=images, labels=labels)
    with pytest.raises(DataError, match=expected) as info:
        read_npz(path)
    assert str(path) in str(info.value)


def test_validation_via_idx_folder(tmp_path: Path) -> None:
    """Count mismatch and out-of-range labels in IDX files name the files."""
    folder = write_idx_folder(tmp_path / "d", gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(TRAIN[1][:29]))
    with pytest.raises(DataError, match="30 images but 29 labels") as info:
        load_fashion_mnist(folder, download=False)
    assert "train-labels-idx1-ubyte" in str(info.value)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(30, 12)))
    with pytest.raises(DataError, match="label 12"):
        load_fashion_mnist(folder, download=False)


def test_swapped_idx_files(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "d", gz=False)
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(TEST[1]))
    with pytest.raises(DataError, match="holds labels, but this file name should hold images"):
        load_fashion_mnist(folder, download=False)


# ----------------------------------------------------------------------- whole datasets


def check_fake(ds: Dataset) -> None:
    assert ds.x_train.shape == (30, 784) and ds.x_test.shape == (10, 784)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, TRAIN[0].reshape(30, 784))
    np.testing.assert_array_equal(ds.y_test, TEST[1])
    assert len(ds.md5) == 32
    assert not ds.x_train.flags.writeable  # shared cached data must not be altered


def test_load_formats_agree(tmp_path: Path, official_md5) -> None:
    raw = load_fashion_mnist(write_idx_folder(tmp_path / "raw", gz=False), download=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # official MD5s -> no warning
        gz = load_fashion_mnist(write_idx_folder(tmp_path / "gz"), download=False)
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / CSV_FILES[0]).write_text(csv_text(*TRAIN))
    (csv_dir / CSV_FILES[1]).write_text(csv_text(*TEST, header=False))
    csv = load_fashion_mnist(csv_dir, download=False)
    npz_dir = tmp_path / "npz"
    npz_dir.mkdir()
    np.savez(
        npz_dir / NPZ_FILE,
        x_train=TRAIN[0],
        y_train=TRAIN[1],
        x_test=TEST[0],
        y_test=TEST[1],
    )
    npz = load_fashion_mnist(npz_dir, download=False)
    npz_file = load_fashion_mnist(npz_dir / NPZ_FILE, download=False)
    for ds in (raw, gz, csv, npz, npz_file):
        check_fake(ds)
    assert len({ds.md5 for ds in (raw, gz, csv, npz, npz_file)}) == 1
    assert "IDX" in raw.source and "CSV" in csv.source and NPZ_FILE in npz.source


def test_unofficial_gz_only_warns(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "d")  # fake files: MD5s differ from the real ones
    with pytest.warns(UserWarning, match="not the official"):
        ds = load_fashion_mnist(folder, download=False)
    check_fake(ds)


def test_md5_is_a_stable_fingerprint() -> None:
    a = Dataset.from_arrays(*TRAIN, *TEST)
    b = Dataset.from_arrays(TRAIN[0].reshape(30, 784).astype(float), TRAIN[1], *TEST)
    c = Dataset.from_arrays(TRAIN[0], TRAIN[1][::-1], *TEST)
    assert a.md5 == b.md5 != c.md5


def test_dataset_copies_callers_arrays() -> None:
    x = TRAIN[0].copy()
    ds = Dataset.from_arrays(x, TRAIN[1], *TEST)
    x[:] = 0  # the caller changes its array afterwards
    np.testing.assert_array_equal(ds.x_train, TRAIN[0].reshape(30, 784))
    assert ds.md5 == Dataset.from_arrays(*TRAIN, *TEST).md5
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 1


def test_missing_without_download(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    with pytest.raises(DataError) as info:
        load_fashion_mnist(folder, download=False)
    msg = str(info.value)
    assert str(folder) in msg and ENV_VAR in msg and "does not exist" in msg
    assert all(name in msg for name in OFFICIAL_FILES) and CSV_FILES[0] in msg
    write_idx_folder(folder)
    (folder / OFFICIAL_FILES[1]).unlink()
    with pytest.raises(DataError, match=f"missing: {OFFICIAL_FILES[1]}"):
        load_fashion_mnist(folder, download=False)
    assert not dataset_available(folder)


def test_path_is_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hi")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_fashion_mnist(path)


def test_progress_reaches_one(tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []
    load_fashion_mnist(
        write_idx_folder(tmp_path / "d", gz=False),
        download=False,
        progress=lambda f, m: calls.append((f, m)),
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


# ------------------------------------------------------------------ folder resolution


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "home" / ".cache" / "fashion-live" / "fashion-mnist"
    assert resolve_data_dir() == default
    assert not dataset_available()
    env_dir = write_idx_folder(tmp_path / "env", gz=False)
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    assert resolve_data_dir() == env_dir and resolve_data_dir("") == env_dir
    assert dataset_available()
    assert load_fashion_mnist(download=False).source == f"IDX files in {env_dir}"
    arg_dir = tmp_path / "arg"
    assert resolve_data_dir(arg_dir) == arg_dir  # the argument beats the env var
    assert not dataset_available(arg_dir)
    write_idx_folder(default, gz=False)
    monkeypatch.delenv(ENV_VAR)
    assert dataset_available() and load_fashion_mnist(download=False).x_test.shape == (
        10,
        784,
    )


# ------------------------------------------------------------------------------ download


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> list[str]:
    """Patch urlopen to serve files by name; returns the list of requested URLs."""
    urls: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> FakeResponse:
        assert timeout > 0
        urls.append(url)
        return FakeResponse(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    return urls


def test_download_success(tmp_path: Path, monkeypatch, official_md5) -> None:
    urls = serve(monkeypatch, official_md5)
    folder = tmp_path / "new" / "dir"
    calls: list[float] = []
    ds = load_fashion_mnist(folder, progress=lambda f, m: calls.append(f))
    check_fake(ds)
    assert sorted(p.name for p in folder.iterdir()) == sorted(OFFICIAL_FILES)  # no temp files
    assert all(u.startswith(data.MIRRORS[0]) for u in urls) and len(urls) == 4
    assert calls == sorted(calls) and calls[-1] == 1.0
    assert dataset_available(folder)


def test_download_only_missing_files(tmp_path: Path, monkeypatch, official_md5) -> None:
    folder = write_idx_folder(tmp_path / "d")
    (folder / OFFICIAL_FILES[3]).unlink()
    urls = serve(monkeypatch, official_md5)
    check_fake(load_fashion_mnist(folder))
    assert [u.rsplit("/", 1)[1] for u in urls] == [OFFICIAL_FILES[3]]


def test_download_md5_mismatch_rejected(tmp_path: Path, monkeypatch, official_md5) -> None:
    tampered = dict(official_md5)
    tampered[OFFICIAL_FILES[0]] = gzip.compress(idx_bytes(TRAIN[0][::-1]))
    urls = serve(monkeypatch, tampered)
    folder = tmp_path / "d"
    with pytest.raises(DataError, match="MD5") as info:
        load_fashion_mnist(folder)
    assert "Could not download" in str(info.value) and ENV_VAR in str(info.value)
    assert len(urls) == len(data.MIRRORS)  # every mirror was tried
    assert list(folder.iterdir()) == []  # the bad file and its temp were deleted


def test_download_falls_back_to_mirror(tmp_path: Path, monkeypatch, official_md5) -> None:
    served = serve(monkeypatch, official_md5)
    good_urlopen = data.urllib.request.urlopen

    def flaky(url: str, timeout: float) -> FakeResponse:
        if url.startswith(data.MIRRORS[0]):
            raise urllib.error.HTTPError(url, 503, "Service Unavailable", {}, None)
        return good_urlopen(url, timeout)

    monkeypatch.setattr(data.urllib.request, "urlopen", flaky)
    check_fake(load_fashion_mnist(tmp_path / "d"))
    assert all(u.startswith(data.MIRRORS[1]) for u in served)


def test_download_http_errors_everywhere(tmp_path: Path, monkeypatch) -> None:
    def gone(url: str, timeout: float):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(data.urllib.request, "urlopen", gone)
    with pytest.raises(DataError, match="HTTP Error 404: Not Found"):
        load_fashion_mnist(tmp_path / "d")


def test_download_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float):
        raise urllib.error.URLError(OSError("Name or service not known"))

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    folder = tmp_path / "d"
    with pytest.raises(DataError) as info:
        load_fashion_mnist(folder)
    msg = str(info.value)
    assert "Could not download" in msg and "Name or service not known" in msg
    assert ENV_VAR in msg and "--data-dir" in msg and str(folder) in msg
    assert list(folder.iterdir()) == []


def test_download_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="Cannot create the data folder"):
        load_fashion_mnist(blocker / "sub")


# -------------------------------------------------------------------------------- splits


def test_stratified_split_proportions_and_determinism() -> None:
    y = np.repeat(np.arange(10), [100, 200, 50, 50, 100, 100, 100, 100, 100, 100])
    train, val = stratified_split(y, 0.2, seed=3)
    assert len(val) == round(len(y) * 0.2) and len(train) + len(val) == len(y)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.bincount(y[val]), np.bincount(y) // 5)
    again = stratified_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(stratified_split(y, 0.2, seed=4)[1], val)


def test_stratified_split_exact_total_with_rounding() -> None:
    y = np.arange(1000) % 7
    _, val = stratified_split(y, 0.1, seed=0)
    assert len(val) == 100
    counts = np.bincount(y[val], minlength=7)
    assert counts.max() - counts.min() <= 1


def test_stratified_split_edges() -> None:
    y = np.arange(50) % 10
    train, val = stratified_split(y, 0.0, seed=0)
    assert val.size == 0 and np.array_equal(train, np.arange(50))
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ConfigError):
            stratified_split(y, bad, seed=0)
    empty_train, empty_val = stratified_split(np.array([], dtype=int), 0.2, seed=0)
    assert empty_train.size == 0 and empty_val.size == 0


def test_subset() -> None:
    x = np.arange(300).reshape(100, 3)
    y = np.arange(100) % 10
    xs, ys = subset(x, y, 20, seed=1)
    assert xs.shape == (20, 3) and np.all(np.bincount(ys) == 2)
    np.testing.assert_array_equal(x[xs[:, 0] // 3], xs)  # rows stay paired with labels
    np.testing.assert_array_equal(y[xs[:, 0] // 3], ys)
    np.testing.assert_array_equal(subset(x, y, 20, seed=1)[0], xs)
    assert subset(x, y, 500)[0].shape == (100, 3)
    assert subset(x, y, 0)[0].shape == (0, 3)
    with pytest.raises(ConfigError):
        subset(x, y, -1)


# ----------------------------------------------------------------------------- real data


def test_real_dataset() -> None:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real Fashion-MNIST not found at {REAL_DATA}")
    start = time.perf_counter()
    ds = load_fashion_mnist(REAL_DATA, download=False)
    elapsed = time.perf_counter() - start
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert ds.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.all(np.bincount(ds.y_train) == 6000)
    assert elapsed < 10, f"loading took {elapsed:.1f} s"
