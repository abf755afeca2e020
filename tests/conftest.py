"""Shared fixtures: where the real dataset is, and app tests pointed at it or at nothing."""

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
