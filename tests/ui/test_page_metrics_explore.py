"""The Metrics and Explore pages (AppTest): with the real dataset, with none, and their controls."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model.datasets.fashion_mnist import CLASS_NAMES
from model.nn.network import MLP

ROOT = Path(__file__).resolve().parents[2]
METRICS = str(ROOT / "ui" / "pages" / "metrics.py")
EXPLORE = str(ROOT / "ui" / "pages" / "explore.py")
TIMEOUT = 60  # evaluation of 10,000 images and a PCA on 2 shared cores


def run(page: str) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    return at


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# ----------------------------------------------------------------------------- without the dataset
@pytest.mark.parametrize("page", [METRICS, EXPLORE])
def test_without_the_dataset_the_page_explains_how_to_get_it(no_data, page):
    at = run(page)
    assert not at.exception
    assert any("needs the Fashion-MNIST dataset" in i.value for i in at.info)
    assert any(b.label == "Download Fashion-MNIST" for b in at.button)
    assert not at.metric and not at.dataframe


# ----------------------------------------------------------------------------- Metrics
def test_metrics_page_shows_scores_table_and_galleries(real_data):
    at = run(METRICS)
    assert_clean(at)
    assert at.title[0].value == "Metrics"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"].endswith("%") and 50 < float(metrics["Test accuracy"][:-1]) <= 100
    assert 0.5 < float(metrics["Macro F1"]) <= 1
    table = at.dataframe[0].value
    assert list(table.index) == [*CLASS_NAMES, "macro avg", "weighted avg"]
    assert list(table.columns) == ["precision", "recall", "f1", "support"]
    assert table.loc["macro avg", "support"] == 10000
    # The cell picker starts on an off-diagonal cell: the model's most frequent mistake.
    true, pred = by_label(at.selectbox, "True class"), by_label(at.selectbox, "Predicted class")
    assert true.value != pred.value
    assert len(at.get("image")) == 3  # confusion matrix and two galleries
    # learning curves: the shipped model trained on every image, with no validation split to show
    assert any("no validation split" in c.value for c in at.caption)
    assert not any(c.value.startswith("Validation far below train") for c in at.caption)
    assert any(b.label == "Download as CSV" for b in at.get("download_button"))


def test_metrics_page_controls_rerun_cleanly(real_data):
    at = run(METRICS)
    at.radio[0].set_value("Share of each true class").run()
    assert_clean(at)
    by_label(at.selectbox, "True class").set_value(3).run()
    by_label(at.selectbox, "Predicted class").set_value(3).run()  # the diagonal: correct answers
    assert_clean(at)
    assert any("were correctly classified" in c.value for c in at.caption)


def test_metrics_page_notes_a_model_without_history(real_data, monkeypatch):
    from ui import models

    bare = MLP([784, 32, 10], ["relu"])
    monkeypatch.setattr(models, "_default_model", lambda: bare)
    at = run(METRICS)
    assert_clean(at)
    assert any("no training history" in i.value for i in at.info)


def test_metrics_page_reads_validation_curves_when_the_model_has_them(real_data, monkeypatch):
    from ui import models

    net = MLP([784, 32, 10], ["relu"])
    net.meta = {"history": {"epoch": [1, 2], "train_loss": [1.0, 0.6], "train_acc": [0.6, 0.7],
                            "val_loss": [1.1, 0.8], "val_acc": [0.55, 0.65]}}  # fmt: skip
    monkeypatch.setattr(models, "_default_model", lambda: net)
    at = run(METRICS)
    assert_clean(at)
    assert any(c.value.startswith("Validation far below train") for c in at.caption)
    assert not any("no validation split" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- Explore
def test_explore_page_renders_every_section(real_data):
    at = run(EXPLORE)
    assert_clean(at)
    assert at.title[0].value == "Explore"
    assert len(at.get("image")) == 3  # samples, first-layer weights, projection
    layer = by_label(at.radio, "Layer")
    assert layer.value == layer.options[-1] and layer.value.startswith("Hidden layer")
    runs = at.dataframe[0].value
    assert runs["model"].tolist() == ["Shipped default"]
    assert 0.5 < runs["test accuracy"].iloc[0] <= 1
    assert {"macro F1", "architecture", "epochs", "train seconds"} <= set(runs.columns)


def test_explore_page_controls_rerun_cleanly(real_data):
    at = run(EXPLORE)
    by_label(at.button, "Show other examples").click().run()
    assert_clean(at)
    by_label(at.toggle, "Scale each unit separately").set_value(True).run()
    by_label(at.slider, "Units shown").set_value(64).run()
    assert_clean(at)
    by_label(at.radio, "Layer").set_value("Input pixels").run()
    assert_clean(at)
    by_label(at.multiselect, "Models").set_value([]).run()
    assert_clean(at)
    assert any("Pick one or more models" in i.value for i in at.info)


def test_explore_compares_a_session_model_with_the_default(real_data):
    at = AppTest.from_file(EXPLORE, default_timeout=TIMEOUT)
    bare = MLP([784, 32, 10], ["relu"])
    bare.meta = {"history": {"epoch": [1, 2], "train_acc": [0.5, 0.6], "val_acc": [0.4, 0.5]}, "train_seconds": 3.0}
    at.session_state["session_models"] = {"tiny": bare}
    at.run(timeout=TIMEOUT)
    assert_clean(at)
    runs = at.dataframe[0].value
    assert runs["model"].tolist() == ["Shipped default", "This session: tiny"]
    assert runs["architecture"].tolist()[1] == "784-32-10 (relu)"
