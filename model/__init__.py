"""Fashion Live's engine: a from-scratch NumPy MLP for Fashion-MNIST, its training and its files.

The public API, importable from ``model`` directly::

    from model import PRESETS, Trainer, evaluate, load_fashion_mnist, save_model

    data = load_fashion_mnist()
    trainer = Trainer(PRESETS["fast"], data.x_train, data.y_train)
    trainer.run()
    print(evaluate(trainer.net, data.x_test, data.y_test).accuracy)
    save_model(trainer.snapshot(), "fast.npz")

Names are imported on first use (PEP 562), so ``import model`` and ``python -m model --help``
stay quick: scikit-learn, for one, is only loaded by ``evaluate``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "MLP": "model.nn.network",
    "Preprocessor": "model.nn.preprocessing",
    "Trainer": "model.training.trainer",
    "Progress": "model.training.trainer",
    "History": "model.training.trainer",
    "RunState": "model.training.trainer",
    "StopFlag": "model.training.trainer",
    "TrainConfig": "model.training.config",
    "PRESETS": "model.training.config",
    "PRESET_DESCRIPTIONS": "model.training.config",
    "Evaluation": "model.training.evaluation",
    "evaluate": "model.training.evaluation",
    "train": "model.training.pipeline",
    "load_model": "model.model_file",
    "save_model": "model.model_file",
    "canvas_to_model_input": "model.datasets.images",
    "preprocess_upload": "model.datasets.images",
    "Dataset": "model.datasets.fashion_mnist",
    "load_fashion_mnist": "model.datasets.fashion_mnist",
    "CLASS_NAMES": "model.datasets.spec",
    "IMAGE_SIDE": "model.datasets.spec",
    "N_PIXELS": "model.datasets.spec",
    "N_CLASSES": "model.datasets.spec",
    "format_probability": "model.text",
    "format_duration": "model.text",
    "FashionError": "model.errors",
    "ConfigError": "model.errors",
    "DataError": "model.errors",
    "ImageError": "model.errors",
    "ModelFileError": "model.errors",
    "PredictionError": "model.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
