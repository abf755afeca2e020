"""Saved models: names cannot escape the folder or replace the shipped default."""

import pytest

from model.errors import ModelFileError
from model.nn.network import MLP
from ui.store import DEFAULT_MODEL, ModelStore, load_default, safe_name


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "../evil",
        "..",
        "a/../../b",
        "/etc/passwd",
        "a/b",
        "a\\b",
        ".hidden",
        "default",
        "DEFAULT.npz",
        "x" * 65,
        "naïve",
        "a\0b",
        "~root",
    ],
)
def test_bad_names_are_refused(bad):
    with pytest.raises(ModelFileError):
        safe_name(bad)


def test_good_names_and_round_trip(tmp_path):
    store = ModelStore(tmp_path, owner="abc")
    net = MLP([784, 8, 10], ["relu"])
    assert safe_name(" my run-1.v2.npz ") == "my run-1.v2"
    path = store.save(net, "my run-1")
    assert path.parent == (tmp_path / "abc").resolve()
    assert store.names() == ["my run-1"]
    assert (store.load("my run-1").params == net.params).all()
    with pytest.raises(ModelFileError, match="exists already"):
        store.save(net, "my run-1")
    store.save(net, "my run-1", overwrite=True)
    assert ModelStore(tmp_path, owner="other").names() == []  # another session sees nothing
    store.delete("my run-1")
    assert store.names() == []


def test_shipped_default_loads_and_cannot_be_overwritten(tmp_path):
    net = load_default()
    assert net.sizes[0] == 784 and net.sizes[-1] == 10
    before = DEFAULT_MODEL.read_bytes()
    with pytest.raises(ModelFileError):
        ModelStore(DEFAULT_MODEL.parent).save(net, "default")
    assert DEFAULT_MODEL.read_bytes() == before
