"""Scores that do not let a large class hide a small one: balanced accuracy and macro-F1.

Accuracy counts images, so on a 10:1 dataset a model that never predicts the small class still
scores about 91%. Balanced accuracy is the mean of the per-class recalls and macro-F1 the mean of
the per-class F1 scores: every class counts the same. Both average over the classes that have test
images (a class the test split lacks has no recall to average).

They are computed from a confusion matrix (rows: true class, columns: predicted), so a stored run's
test report gives them for runs trained before they were reported.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# The keys under which a run's scores travel (rows, CSV columns, CLI JSON).
BALANCED_ACC = "balanced_acc"
MACRO_F1 = "macro_f1"


def confusion_matrix(true: Sequence[int], pred: Sequence[int], num_classes: int) -> np.ndarray:
    """k×k counts: row = true class, column = predicted class."""
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    k = int(num_classes)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def _recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.asarray(confusion, dtype=np.float64)
    tp = np.diagonal(c)
    actual, predicted = c.sum(1), c.sum(0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return recall, f1, actual > 0


def balanced_accuracy(confusion: np.ndarray) -> float | None:
    """Mean recall over the classes with test images; None without any test image."""
    recall, _, present = _recall_f1(confusion)
    return float(recall[present].mean()) if present.any() else None


def macro_f1(confusion: np.ndarray) -> float | None:
    """Mean F1 over the classes with test images; None without any test image."""
    _, f1, present = _recall_f1(confusion)
    return float(f1[present].mean()) if present.any() else None


def scores_from_predictions(true: Sequence[int], pred: Sequence[int], num_classes: int) -> dict[str, float | None]:
    confusion = confusion_matrix(true, pred, num_classes)
    return {BALANCED_ACC: balanced_accuracy(confusion), MACRO_F1: macro_f1(confusion)}


def run_scores(final_metrics: dict[str, Any] | None) -> dict[str, float | None]:
    """Balanced accuracy and macro-F1 of a stored run, from its test report's confusion matrix
    (None for each when the run has no usable one)."""
    confusion = (final_metrics or {}).get("confusion")
    try:
        matrix = np.asarray(confusion, dtype=np.int64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not matrix.size:
        return {BALANCED_ACC: None, MACRO_F1: None}
    return {BALANCED_ACC: balanced_accuracy(matrix), MACRO_F1: macro_f1(matrix)}


def keep_known(values: dict[str, Any], fallback: dict[str, Any]) -> dict[str, Any]:
    """`values`, with fallback's value wherever `values` has None: scores from stored predictions win,
    those from the test report's confusion matrix fill in for runs stored without predictions."""
    return {key: fallback.get(key) if value is None else value for key, value in values.items()}
