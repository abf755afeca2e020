"""Shared fixtures: where the real dataset is, app tests pointed at it or at nothing, one BLAS thread, the shipped model."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("FASHION_MNIST_DIR") or REPO.parent / "shared/data/fashion-mnist")
HAVE_REAL_DATA = (REAL_DATA / "train-images-idx3-ubyte.gz").exists()


@pytest.fixture
def real_data(monkeypatch):
    """Point the app and loaders at the official files, or skip saying why."""
    if not HAVE_REAL_DATA:
        pytest.skip(f"the official Fashion-MNIST files are not in {REAL_DATA}")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(REAL_DATA))
    return REAL_DATA


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Point the app at an empty folder: the dataset is absent."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("FASHION_MNIST_DIR", str(empty))
    return empty


@pytest.fixture(autouse=True)
def models_dir(monkeypatch, tmp_path):
    """Saved models of every test go to a temporary folder, never into the repo."""
    folder = tmp_path / "models"
    monkeypatch.setenv("FASHION_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch, tmp_path_factory):
    """Cached drawings (model.datasets.renderings) go to one temporary folder per test session."""
    folder = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("FASHION_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def one_blas_thread():
    """One BLAS thread for a test module (``pytestmark = pytest.mark.usefixtures("one_blas_thread")``).

    The engine tests' matrices are tiny: one thread is several times faster on shared CPUs.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def shipped_model():
    """The shipped default model (weights/default.npz), loaded once per test module."""
    from ui.store import load_default

    return load_default()
