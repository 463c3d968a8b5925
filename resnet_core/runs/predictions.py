"""The best model's per-image outputs, kept in the run folder (predictions.npz).

Written once when a run is scored: the test split's image paths, true labels and logits, the
validation split's labels and logits, and the temperature fitted on them. Small (a few bytes per
image and class) and plain numpy, so intervals, image-by-image comparisons of runs and calibration
can be computed later without loading the model.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resnet_core.fsutil import atomic_write_bytes

if TYPE_CHECKING:  # reading predictions (the `runs` command, the tables) must not load torch
    from resnet_core.training.engine import Predictions

PREDICTIONS_NAME = "predictions.npz"


@dataclass(frozen=True)
class RunPredictions:
    test_paths: np.ndarray  # str, relative to the dataset
    test_true: np.ndarray  # int
    test_logits: np.ndarray  # float32, images × classes
    val_true: np.ndarray
    val_logits: np.ndarray
    temperature: float = 1.0  # divides the logits before softmax; 1.0 = not calibrated
    test_logits_mirrored: np.ndarray | None = None  # the test images flipped left to right

    @property
    def test_pred(self) -> np.ndarray:
        return self.test_logits.argmax(1) if self.test_logits.size else np.zeros(0, dtype=np.int64)

    @property
    def test_correct(self) -> np.ndarray:
        return self.test_pred == self.test_true

    @property
    def num_classes(self) -> int:
        return int(self.test_logits.shape[1]) if self.test_logits.ndim == 2 else 0


def save_predictions(run_dir: str | Path, predictions: Predictions, temperature: float = 1.0) -> None:
    """Write predictions.npz atomically (a reader never sees half a file)."""
    buffer = io.BytesIO()
    mirrored = predictions.test_logits_mirrored
    extra = {} if mirrored is None else {"test_logits_mirrored": mirrored.float().numpy().astype(np.float32)}
    np.savez_compressed(
        buffer, **extra, test_paths=np.asarray(predictions.test_paths, dtype=str),
        test_true=predictions.test_true.numpy().astype(np.int32),
        test_logits=predictions.test_logits.float().numpy().astype(np.float32),
        val_true=predictions.val_true.numpy().astype(np.int32),
        val_logits=predictions.val_logits.float().numpy().astype(np.float32),
        temperature=np.float64(temperature))
    atomic_write_bytes(Path(run_dir) / PREDICTIONS_NAME, buffer.getvalue())


def load_predictions(run_dir: str | Path) -> RunPredictions | None:
    """The run's predictions, or None when it has none (not scored, older version, damaged file)."""
    path = Path(run_dir) / PREDICTIONS_NAME
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            out = RunPredictions(
                test_paths=f["test_paths"], test_true=f["test_true"].astype(np.int64),
                test_logits=f["test_logits"], val_true=f["val_true"].astype(np.int64),
                val_logits=f["val_logits"], temperature=float(f["temperature"]),
                test_logits_mirrored=f["test_logits_mirrored"] if "test_logits_mirrored" in f.files else None)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if len(out.test_true) != len(out.test_logits) or len(out.test_paths) != len(out.test_true):
        return None
    if out.test_logits_mirrored is not None and out.test_logits_mirrored.shape != out.test_logits.shape:
        return None
    return out
