"""The engine's public API: every name importable from ``model``, and ``import model`` stays light."""

import subprocess
import sys

import pytest

import model
from tests.conftest import REPO


@pytest.mark.parametrize("name", model.__all__)
def test_every_public_name_resolves(name):
    value = getattr(model, name)
    assert value is not None and name in dir(model)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        model.Trainr  # noqa: B018


def test_import_model_loads_nothing_heavy():
    code = "import sys, model; print(sorted(m for m in ('numpy', 'sklearn', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_quick_start_names_are_the_engine_objects():
    from model.datasets.images import canvas_to_model_input
    from model.nn.network import MLP
    from model.training.trainer import Trainer

    assert (model.MLP, model.Trainer, model.canvas_to_model_input) == (MLP, Trainer, canvas_to_model_input)
