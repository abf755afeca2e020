"""Saved models on disk: safe names, listing, and the shipped default that is never overwritten."""

from __future__ import annotations

import re
from pathlib import Path

from model.errors import ModelFileError
from model.model_file import load_model, model_bytes, models_dir, write_atomic
from model.nn.network import MLP

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "weights" / "default.npz"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
RESERVED = {"default"}


def safe_name(name: str) -> str:
    """A model name that is a plain file stem: letters, digits, space, _ . -; at most 64."""
    name = (name or "").strip()
    if name.lower().endswith(".npz"):
        name = name[:-4]
    if not NAME_RE.match(name) or ".." in name:
        raise ModelFileError(
            "Model names use letters, digits, spaces, '_', '-' and '.', start with a letter or digit, "
            "and are at most 64 characters."
        )
    if name.lower() in RESERVED:
        raise ModelFileError(f"'{name}' is reserved for the shipped model; choose another name.")
    return name


class ModelStore:
    """A folder of saved models; ``owner`` gives each user a subfolder of their own."""

    def __init__(self, root: str | Path | None = None, owner: str = ""):
        self.root = Path(root) if root is not None else models_dir()
        self.folder = self.root / owner if owner else self.root

    def path_for(self, name: str) -> Path:
        path = (self.folder / f"{safe_name(name)}.npz").resolve()
        if path.parent != self.folder.resolve():  # belt and braces after safe_name
            raise ModelFileError("Model names cannot point outside the models folder.")
        return path

    def save(self, net: MLP, name: str, overwrite: bool = False) -> Path:
        path = self.path_for(name)
        if path.exists() and not overwrite:
            raise ModelFileError(f"A model named '{safe_name(name)}' exists already; choose another name.")
        return write_atomic(path, model_bytes(net))

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.npz") if NAME_RE.match(p.stem))

    def load(self, name: str) -> MLP:
        path = self.path_for(name)
        if not path.exists():
            raise ModelFileError(f"No saved model named '{name}'.")
        return load_model(path, name=f"'{name}'")

    def delete(self, name: str) -> None:
        self.path_for(name).unlink(missing_ok=True)


def load_default() -> MLP:
    """The shipped pretrained model."""
    if not DEFAULT_MODEL.exists():
        raise ModelFileError(f"The shipped model {DEFAULT_MODEL} is missing; reinstall or retrain it.")
    return load_model(DEFAULT_MODEL, name="weights/default.npz")
