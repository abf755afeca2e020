"""Fashion-MNIST loading: IDX (gzipped or raw), Kaggle CSV and NumPy files, and the downloader.

Every bad or missing data file raises `DataError` with a message meant to be shown as is.
Images are returned flattened as uint8 arrays of shape (n, 784); labels are class numbers 0-9.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.datasets.spec import CLASS_NAMES as CLASS_NAMES  # the dataset's classes, also imported from here
from model.datasets.spec import IMAGE_SIDE, N_PIXELS
from model.errors import DataError

ENV_VAR = "FASHION_MNIST_DIR"
# MD5 of each official .gz file, in load order (train images+labels, test images+labels).
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
OFFICIAL_FILES: tuple[str, ...] = tuple(OFFICIAL_MD5)
# Sizes in bytes, only used to weight the download progress bar when no Content-Length is sent.
_SIZES = dict(zip(OFFICIAL_FILES, (26_421_880, 29_515, 4_422_102, 5_148)))
MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
CSV_FILES: tuple[str, str] = ("fashion-mnist_train.csv", "fashion-mnist_test.csv")
NPZ_FILE = "fashion-mnist.npz"

Progress = Callable[[float, str], None]
Split = tuple[np.ndarray, np.ndarray]  # (images (n, 784) uint8, labels (n,) uint8)

_TIMEOUT = 30  # seconds per network operation; a stalled mirror must not hang the app
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_NDIM = {0x00000801: 1, 0x00000803: 3}  # IDX magic number -> number of dimensions
_IMAGE_SHAPES = {(N_PIXELS,), (IMAGE_SIDE, IMAGE_SIDE), (IMAGE_SIDE, IMAGE_SIDE, 1), (1, IMAGE_SIDE, IMAGE_SIDE)}


# ----------------------------------------------------------------------------- readers


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn low-level read/decode failures into a DataError naming the file."""
    try:
        yield
    except FileNotFoundError as e:
        raise DataError(f"Data file not found: {path}") from e
    except PermissionError as e:
        raise DataError(f"No permission to read the data file {path}.") from e
    except IsADirectoryError as e:
        raise DataError(f"{path} is a folder, but a data file was expected.") from e
    except (gzip.BadGzipFile, zlib.error, EOFError) as e:
        raise DataError(
            f"{path} is corrupt or truncated ({e}): its compressed data cannot be unpacked. "
            "Delete it and download it again."
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a UTF-8 text file, so it cannot be a CSV file.") from e
    except (OSError, ValueError, struct.error, zipfile.BadZipFile) as e:
        raise DataError(f"Could not read the data file {path}: {e}") from e


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzipped or raw (detected by content, not by name).

    Returns uint8 images (n, rows, cols) for magic 0x00000803 or labels (n,) for 0x00000801.
    The array is a read-only view of the file's bytes (no copy, so the 47 MB train set loads fast).
    """
    path = Path(path)
    with _reading(path):
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    ndim = _IDX_NDIM.get(magic) if magic is not None else None
    if ndim is None:
        found = f"0x{magic:08X}" if magic is not None else f"only {len(raw)} bytes"
        raise DataError(
            f"{path} is not a Fashion-MNIST IDX file: wrong magic number ({found}); expected "
            "0x00000803 (images) or 0x00000801 (labels)."
        )
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path} is truncated: its IDX header is incomplete.")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    size, have = math.prod(shape), len(raw) - start
    if have < size:
        raise DataError(
            f"{path} is truncated: the header promises shape {shape} ({size} bytes of data) but "
            f"only {have} bytes follow. Delete it and download it again."
        )
    if have > size:
        raise DataError(
            f"{path} has {have - size} unexpected bytes after the data (header says shape "
            f"{shape}). The file is damaged."
        )
    return np.frombuffer(raw, np.uint8, count=size, offset=start).reshape(shape)


def read_csv(path: str | Path) -> Split:
    """Read a Kaggle-style CSV: optional header, then rows of `label,pixel1,...,pixel784`.

    Returns (images (n, 784) uint8, labels (n,) uint8). Problems are reported with a line number.
    """
    path = Path(path)
    with _reading(path):
        with path.open(encoding="utf-8-sig") as f:
            first = f.readline()
        # A header has no numbers at all; a data line with one bad cell is not a header.
        header = bool(first.strip()) and not any(map(_parses_as_number, first.split(",")))
        if header and len(first.split(",")) != 1 + N_PIXELS:
            raise DataError(f"{path}: {_csv_problem(path, header)}")
        table = None
        # Fast C parser first; int16 holds every valid value and overflows loudly on huge ones.
        # Files written from floats ("3.0") fail the int parse and get a float parse instead.
        with warnings.catch_warnings():
            # loadtxt only warns on empty input; the line scan below raises instead.
            warnings.simplefilter("ignore")
            for dtype in (np.int16, np.float64):
                try:
                    table = np.loadtxt(
                        path,
                        delimiter=",",
                        dtype=dtype,
                        skiprows=int(header),
                        ndmin=2,
                        comments=None,
                        encoding="utf-8-sig",
                    )
                    break
                except ValueError:
                    continue
    fallback = f"{path} is not a valid Fashion-MNIST CSV file."
    if table is not None and table.shape[1] == 1 + N_PIXELS:
        try:
            return _validate(table[:, 1:], table[:, 0], str(path))
        except DataError as e:
            fallback = str(e)  # used only if the line scan finds nothing more precise
    with _reading(path):
        problem = _csv_problem(path, header)  # slow, but names the line to blame
    raise DataError(f"{path}: {problem}" if problem else fallback)


def _parses_as_number(text: str) -> bool:
    """True if a CSV cell holds a number (a header cell does not)."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def _csv_problem(path: Path, header: bool) -> str | None:
    """Find the first bad line of a CSV (slow, only run after the fast parse has failed)."""
    ncols = 1 + N_PIXELS
    rows = 0
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            cells = line.rstrip("\r\n").split(",")
            if header and lineno == 1:
                if len(cells) != ncols:
                    return f"the header line has {len(cells)} columns, expected {ncols}."
                continue
            if not line.strip():
                continue
            rows += 1
            if len(cells) != ncols:
                return f"line {lineno} has {len(cells)} columns, expected {ncols} (a label followed by {N_PIXELS} pixel values)."
            # Whole-line check first (about 3x faster); cell by cell only to explain a bad line.
            try:
                v = list(map(float, cells))
                if math.isfinite(sum(v)) and min(v) >= 0 and max(v[1:]) <= 255 and v[0] <= 9 and v[0] == int(v[0]):
                    continue
            except ValueError:
                pass
            problem = _cell_problem(lineno, cells)
            if problem:
                return problem
    return None if rows else "the file contains no data rows."


def _cell_problem(lineno: int, cells: list[str]) -> str | None:
    """Describe the first bad cell of one CSV line."""
    for col, cell in enumerate(cells, start=1):
        what, text = ("the label" if col == 1 else f"pixel {col - 1}"), cell.strip()
        where = f"line {lineno}, column {col}: {what}"
        if not text:
            return f"{where} is an empty cell."
        try:
            value = float(text)
        except ValueError:
            return f"{where} {text!r} is not a number."
        if not math.isfinite(value):
            return f"{where} is {text!r}, not a number."
        hi = 9 if col == 1 else 255
        # Pixels may be non-integers (they are rounded); labels must be whole.
        if not 0 <= value <= hi or (col == 1 and value != int(value)):
            whole = "whole " if col == 1 else ""
            return f"{where} is {text}, expected a {whole}number from 0 to {hi}."
    return None


_NPZ_KEYS = {  # split -> accepted (images key, labels key) spellings, compared in lower case
    "train": (("x_train", "y_train"), ("train_images", "train_labels")),
    "test": (("x_test", "y_test"), ("test_images", "test_labels")),
    "all": (("images", "labels"), ("x", "y")),
}


def read_npz(path: str | Path) -> dict[str, Split]:
    """Read a NumPy file without unpickling anything.

    .npz: keys x_train/y_train/x_test/y_test (or train_images/..., or images/labels).
    .npy: one (n, 785) array laid out like the CSV (label, then 784 pixels).
    Returns {"train"|"test"|"all": (images (n, 784) uint8, labels (n,) uint8)}.
    """
    path = Path(path)
    # We own the file handle: np.load(path) leaks it when the zip is corrupt.
    with _reading(path), path.open("rb") as f:
        head = f.read(6)
        if not (head.startswith(b"PK") or head == b"\x93NUMPY"):
            raise DataError(f"{path} is not a NumPy .npz or .npy file.")
        f.seek(0)
        try:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.ndarray):  # .npy
                arrays = {"": loaded}
            else:
                with loaded:
                    arrays = {k.lower(): loaded[k] for k in loaded.files}
        except ValueError as e:
            if "pickle" in str(e).lower() or "object arrays" in str(e).lower():
                raise DataError(
                    f"{path} contains pickled Python objects, which are refused for "
                    "safety. Save plain numeric arrays instead (np.savez with uint8 or "
                    "float arrays)."
                ) from e
            raise
    where = str(path)
    if "" in arrays:
        table = arrays[""]
        if table.ndim != 2 or table.shape[1] != 1 + N_PIXELS:
            raise DataError(
                f"{path}: a .npy file must hold an (n, {1 + N_PIXELS}) array (label, then {N_PIXELS} pixels); "
                f"found shape {table.shape}."
            )
        return {"all": _validate(table[:, 1:], table[:, 0], where)}
    out: dict[str, Split] = {}
    for split, spellings in _NPZ_KEYS.items():
        for xk, yk in spellings:
            if xk in arrays or yk in arrays:
                if not (xk in arrays and yk in arrays):
                    have, miss = (xk, yk) if xk in arrays else (yk, xk)
                    raise DataError(f"{path} has the array '{have}' but no '{miss}'.")
                out[split] = _validate(arrays[xk], arrays[yk], f"{where} [{xk}/{yk}]")
                break
    if not out:
        raise DataError(
            f"{path} has the arrays {sorted(arrays)}, but expected x_train, y_train, x_test, "
            "y_test (or images, labels)."
        )
    return out


# -------------------------------------------------------------------------- validation


def _validate(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    """Check one split from any format; return (images (n, 784) uint8, labels (n,) uint8)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    for what, a in (("images", images), ("labels", labels)):
        if a.dtype.kind not in "iuf":
            raise DataError(f"{where}: the {what} must be numbers, found data of type {a.dtype}.")
    if images.ndim == 0 or tuple(images.shape[1:]) not in _IMAGE_SHAPES:
        raise DataError(
            f"{where}: wrong image size; each image must have {N_PIXELS} pixels ({IMAGE_SIDE}x{IMAGE_SIDE}), but the images "
            f"have shape {images.shape}."
        )
    if len(images) == 0:
        raise DataError(f"{where} contains no images.")
    if labels.ndim != 1:
        hint = " (one-hot labels are not supported)" if labels.shape[-1:] == (10,) else ""
        raise DataError(f"{where}: labels must be one class number (0-9) per image{hint}; found shape {labels.shape}.")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels; the counts must match.")
    images = images.reshape(len(images), N_PIXELS)
    # Fractions that never exceed 1 mean data scaled to 0-1; rounding would blank it.
    if (
        images.dtype.kind == "f"
        and np.isfinite(images).all()
        and images.max() <= 1.0
        and (images != np.rint(images)).any()
    ):
        raise DataError(
            f"{where}: pixel values are all between 0 and 1; they look normalised. "
            "Save them as 0-255 (multiply by 255)."
        )
    labels = _to_uint8(labels, 9, "label", where, whole=True)
    images = _to_uint8(images, 255, "pixel value", where, whole=False)
    return images, labels


def _to_uint8(a: np.ndarray, hi: int, what: str, where: str, whole: bool) -> np.ndarray:
    """Range-check values against 0..hi and convert to uint8 (uint8 pixels pass untouched)."""
    if a.dtype == np.uint8 and hi == 255:
        return a
    flat = a.reshape(-1)
    if a.dtype.kind == "f":
        if not np.isfinite(flat).all():
            raise DataError(f"{where}: contains NaN or infinite {what}s.")
        rounded = np.rint(flat)
        if whole and (rounded != flat).any():
            i = int(np.flatnonzero(rounded != flat)[0])
            raise DataError(f"{where}: {what} {flat[i]} at position {i} is not a whole number.")
        flat = rounded
    if flat.min() < 0 or flat.max() > hi:  # min/max: no big temporary mask on good data
        i = int(np.flatnonzero((flat < 0) | (flat > hi))[0])
        pos = f"image {i // N_PIXELS}" if what == "pixel value" else f"position {i}"
        raise DataError(f"{where}: {what} {flat[i]:g} in {pos} is outside 0-{hi}.")
    return flat.astype(np.uint8).reshape(a.shape)


def _fingerprint(*arrays: np.ndarray) -> str:
    """MD5 over shapes and uint8 bytes: the same data gives the same value from any format."""
    h = hashlib.md5(usedforsecurity=False)
    for a in arrays:
        h.update(repr(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype=np.uint8).data)
    return h.hexdigest()


# eq=False: arrays don't compare as booleans (compare .md5 instead); hashing is by identity.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Fashion-MNIST in memory. Arrays are read-only so a cached copy cannot be altered.

    x_train (n, 784) uint8, y_train (n,) int64, x_test (m, 784) uint8, y_test (m,) int64.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    md5: str

    @classmethod
    def from_arrays(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        source: str = "arrays",
    ) -> Dataset:
        """Validate, convert (images (n,784)/(n,28,28), labels (n,)) and fingerprint."""
        xtr, ytr = _validate(x_train, y_train, f"{source} (train)")
        xte, yte = _validate(x_test, y_test, f"{source} (test)")
        md5 = _fingerprint(xtr, ytr, xte, yte)
        # Copy arrays the caller could still write to, so .md5 stays true; the
        # read-only views of IDX file bytes are kept as they are (no 47 MB copy).
        xtr, xte = (a if not a.flags.writeable else a.copy() for a in (xtr, xte))
        arrays = [xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)]
        for a in arrays:
            a.flags.writeable = False
        return cls(*arrays, source=source, md5=md5)


# ---------------------------------------------------------------------- finding/loading


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: the argument, else $FASHION_MNIST_DIR, else ~/.cache/fashion-live/..."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(ENV_VAR)
    if chosen:
        return Path(chosen).expanduser()
    return Path.home() / ".cache" / "fashion-live" / "fashion-mnist"


def _idx_paths(folder: Path) -> dict[str, Path | None]:
    """Official .gz name -> the file present (the .gz, else the uncompressed one) or None."""
    found: dict[str, Path | None] = {}
    for name in OFFICIAL_FILES:
        candidates = (folder / name, folder / name.removesuffix(".gz"))
        found[name] = next((p for p in candidates if p.is_file()), None)
    return found


def _layout(folder: Path) -> str | None:
    """Which complete format is in the folder: 'idx', 'csv', 'npz' or None."""
    if folder.is_file():
        return "file" if folder.suffix.lower() in (".npz", ".npy") else None
    if all(_idx_paths(folder).values()):
        return "idx"
    if all((folder / name).is_file() for name in CSV_FILES):
        return "csv"
    return "npz" if (folder / NPZ_FILE).is_file() else None


def dataset_available(data_dir: str | Path | None = None) -> bool:
    """True if a complete dataset is present (files only; nothing is read or downloaded)."""
    return _layout(resolve_data_dir(data_dir)) is not None


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress:
    """Map a sub-task's 0..1 progress onto [lo, hi] of the caller's bar."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), message)

    return report


def _where_hint(folder: Path) -> str:
    return (
        f"put the four files ({', '.join(OFFICIAL_FILES)}) in {folder}, or set the environment "
        f"variable {ENV_VAR} to a folder that holds them (or pass --data-dir)"
    )


def load_fashion_mnist(
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Load Fashion-MNIST (60000 train + 10000 test), downloading the official files if needed.

    data_dir: a folder (or an .npz/.npy file); default $FASHION_MNIST_DIR, else the user cache.
    progress: called with (fraction 0..1, message) as files are downloaded and read.
    Raises DataError (with a user-facing message) for missing, bad or undownloadable data.
    """
    folder = resolve_data_dir(data_dir)
    layout = _layout(folder)
    report = _scaled(progress, 0.0, 1.0)
    checked: set[str] = set()
    if layout is None and folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder. Give a folder holding the data files, or a .npz/.npy file.")
    if layout is None:
        present = [n for n, p in _idx_paths(folder).items() if p] if folder.is_dir() else []
        missing = [n for n in OFFICIAL_FILES if n not in present]
        if not download:
            state = "does not exist" if not folder.exists() else "has no complete dataset"
            partial = f" (missing: {', '.join(missing)})" if present else ""
            raise DataError(
                f"No Fashion-MNIST data found: the folder {folder} {state}{partial}. Expected "
                f"the four IDX files {', '.join(OFFICIAL_FILES)} (.gz or uncompressed), or "
                f"{CSV_FILES[0]} + {CSV_FILES[1]}, or {NPZ_FILE}. Either {_where_hint(folder)}."
            )
        _download(folder, missing, _scaled(progress, 0.0, 0.8))
        checked.update(missing)  # just verified; no need to hash them again
        layout, report = "idx", _scaled(progress, 0.8, 1.0)

    if layout == "idx":
        train, test = _load_idx(folder, report, checked)
        source = f"IDX files in {folder}"
    elif layout == "csv":
        report(0.0, f"Reading {CSV_FILES[0]}")
        train = read_csv(folder / CSV_FILES[0])
        report(0.8, f"Reading {CSV_FILES[1]}")
        test = read_csv(folder / CSV_FILES[1])
        source = f"Kaggle CSV files in {folder}"
    else:
        path = folder if layout == "file" else folder / NPZ_FILE
        report(0.0, f"Reading {path.name}")
        parts = read_npz(path)
        if "train" not in parts or "test" not in parts:
            raise DataError(
                f"{path} must contain both a training and a test set (arrays x_train, y_train, x_test, y_test)."
            )
        train, test = parts["train"], parts["test"]
        source = f"NumPy file {path}"
    dataset = Dataset.from_arrays(*train, *test, source=source)
    report(1.0, "Fashion-MNIST loaded")
    return dataset


def _load_idx(folder: Path, report: Progress, checked: set[str]) -> tuple[Split, Split]:
    """Read and check the four IDX files; warn (only) if a .gz differs from the official one."""
    paths = _idx_paths(folder)
    arrays = []
    for i, (name, path) in enumerate(paths.items()):
        assert path is not None  # _layout() said all four are present
        report(i / 4, f"Reading {path.name}")
        if path.name == name and name not in checked:
            with _reading(path):
                digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            if digest != OFFICIAL_MD5[name]:
                # Re-compressed copies are legitimate; real damage is caught while parsing.
                warnings.warn(
                    f"{path} has MD5 {digest}, not the official {OFFICIAL_MD5[name]}; using it "
                    "anyway (it may have been re-compressed).",
                    stacklevel=3,
                )
        array = read_idx(path)
        want = 3 if "images" in name else 1
        if array.ndim != want:
            kinds = {1: "labels", 3: "images"}
            raise DataError(
                f"{path} holds {kinds[array.ndim]}, but this file name should hold "
                f"{kinds[want]}. Are the files mixed up?"
            )
        arrays.append(array)
    names = list(paths.values())
    train = _validate(arrays[0], arrays[1], f"{names[0]} + {names[1]}")
    test = _validate(arrays[2], arrays[3], f"{names[2]} + {names[3]}")
    return train, test


# ------------------------------------------------------------------------------ download


class _BadDownload(Exception):
    """A response arrived but its content is wrong (MD5 mismatch)."""


def _download(folder: Path, names: list[str], report: Progress) -> None:
    """Fetch official .gz files into folder: chunked, MD5-checked, written atomically."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"Cannot create the data folder {folder} ({e}). Set {ENV_VAR} to a writable folder.") from e
    total = sum(_SIZES.get(n, 1) for n in names) or 1
    done = 0
    for name in names:
        weight = _SIZES.get(name, 1)

        def step(fraction: float, name: str = name, done: int = done, weight: int = weight) -> None:
            report((done + weight * fraction) / total, f"Downloading {name}")

        reasons = []
        for base in MIRRORS:
            try:
                _fetch(base + name, folder / name, OFFICIAL_MD5[name], step)
                break
            except (OSError, http.client.HTTPException, _BadDownload) as e:
                plain_url_error = isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError)
                reason = e.reason if plain_url_error else e  # "HTTP Error 503: ..."
                reasons.append(f"{base}{name}: {reason}")
        else:
            raise DataError(
                f"Could not download the Fashion-MNIST file {name} ({'; '.join(reasons)}). If "
                f"this computer is offline, get the files elsewhere and {_where_hint(folder)}."
            )
        done += weight


def _fetch(url: str, dest: Path, md5: str, step: Callable[[float], None]) -> None:
    """Stream url into a temp file next to dest; move it into place only if the MD5 matches."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(f"Cannot write to the data folder {dest.parent} ({e}).") from e
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=_TIMEOUT) as resp,
        ):
            length = resp.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else _SIZES.get(dest.name, 0)
            got = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                step(got / size if size else 0.0)
        if digest.hexdigest() != md5:
            raise _BadDownload(
                f"the download has MD5 {digest.hexdigest()}, expected {md5} (corrupted or incomplete); it was discarded"
            )
        os.replace(tmp, dest)
        step(1.0)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
