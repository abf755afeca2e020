"""Test-set evaluation via sklearn.metrics, returned as plain tables the app and CLI show."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from model.datasets.fashion_mnist import CLASS_NAMES
from model.nn.network import MLP


@dataclass
class Evaluation:
    """A network's results on a labelled set: scores, the confusion matrix and the report table."""

    accuracy: float
    macro_f1: float
    confusion: np.ndarray  # (10, 10) counts, rows = true class, columns = predicted
    report: list[dict]  # per class, then "macro avg" and "weighted avg" rows (see the properties)
    proba: np.ndarray  # (n, 10) predicted probabilities
    pred: np.ndarray  # (n,) predicted classes
    y: np.ndarray  # (n,) true classes

    @property
    def per_class(self) -> list[dict]:
        """The report's rows for the classes: class, precision, recall, f1, support."""
        return self.report[: len(self.confusion)]

    @property
    def macro(self) -> dict:
        """The report's macro-average row (each class counts the same)."""
        return self.report[len(self.confusion)]

    @property
    def weighted(self) -> dict:
        """The report's weighted-average row (each class counts by its support)."""
        return self.report[len(self.confusion) + 1]

    @property
    def confusion_normalized(self) -> np.ndarray:
        """Rows sum to 1: the share of each true class predicted as each class."""
        return self.confusion / np.maximum(self.confusion.sum(axis=1, keepdims=True), 1)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """(10,) share of each class's test images classified correctly (its recall)."""
        return np.diag(self.confusion_normalized)

    def summary(self) -> dict:
        return {"test_accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4)}


def evaluate(net: MLP, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...] = CLASS_NAMES) -> Evaluation:
    """Evaluate on raw pixels x (n, 784) in 0-255 and labels y (n,)."""
    # Imported here: scikit-learn is slow to import, and only evaluating needs it (not --help or predict).
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    proba = net.predict_proba(x)
    pred = proba.argmax(axis=1)
    y = np.asarray(y).astype(np.int64)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    rows = [
        {"class": c, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    ]
    for avg in ("macro", "weighted"):
        pa, ra, fa, _ = precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        rows.append(
            {
                "class": f"{avg} avg",
                "precision": float(pa),
                "recall": float(ra),
                "f1": float(fa),
                "support": int(len(y)),
            }
        )
    return Evaluation(
        accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        confusion=confusion_matrix(y, pred, labels=labels),
        report=rows,
        proba=proba,
        pred=pred,
        y=y,
    )


def report_csv(rows: list[dict]) -> str:
    """The per-class report as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["class", "precision", "recall", "f1", "support"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def top_k(proba: np.ndarray, k: int = 3, classes: tuple[str, ...] = CLASS_NAMES) -> list[tuple[str, float]]:
    """The k most likely (class name, probability) pairs for one probability row (10,)."""
    order = np.argsort(proba)[::-1][:k]
    return [(classes[i], float(proba[i])) for i in order]


def confident_mistakes(ev: Evaluation, true: int | None = None, pred: int | None = None, limit: int = 24) -> np.ndarray:
    """Indices of misclassified test images (optionally of one confusion cell), most confident first."""
    mask = ev.pred != ev.y if true is None or pred is None or true != pred else ev.pred == ev.y
    if true is not None:
        mask &= ev.y == true
    if pred is not None:
        mask &= ev.pred == pred
    idx = np.flatnonzero(mask)
    return idx[np.argsort(-ev.proba[idx, ev.pred[idx]])][:limit]
