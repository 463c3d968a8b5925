"""What test-time augmentation gains on a run's own test split, measured with its model.

The flip's gain comes for free from the mirrored logits kept at training time (results/tta.py); five
crops cannot be stored that way, so they are measured here by running the model on the test images
again. Measured once per run and kept in its folder (tta_gain.json): the answer does not change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.results.predict import TTA_MODES, Predictor
from resnet_core.results.tta import GAIN_NAME
from resnet_core.runs.predictions import load_predictions
from resnet_core.runs.store import RunRecord

BATCH = 32  # test images per forward pass


class GainUnavailable(ValueError):
    """The gain cannot be measured; the message says why (no stored test split, images gone)."""


def tta_gain(predictor: Predictor, record: RunRecord, run_dir: Path) -> dict[str, Any]:
    """{"test_images": n, "accuracy": {mode: test accuracy for each of TTA_MODES}}, measured once."""
    cached = read_json(run_dir / GAIN_NAME, default=None)
    if isinstance(cached, dict) and set(cached.get("accuracy", {})) == set(TTA_MODES):
        return cached
    predictions = load_predictions(run_dir)
    if predictions is None or not len(predictions.test_true):
        raise GainUnavailable(f"run {record.id} kept no test predictions, so what test-time augmentation "
                              "gains on its test split cannot be measured; train it again to measure it")
    root = Path(record.dataset_root or "")
    pixels = []
    for relative in predictions.test_paths:
        path = root / str(relative)
        if not path.is_file():
            raise GainUnavailable(f"test image {relative} of run {record.id} is no longer in {root}, so the "
                                  "gain cannot be measured on its test split")
        pixels.append(predictor.pixels(path))
    true = torch.as_tensor(predictions.test_true)
    right = dict.fromkeys(TTA_MODES, 0)
    for start in range(0, len(pixels), BATCH):
        batch = torch.stack(pixels[start:start + BATCH])
        for mode in TTA_MODES:
            right[mode] += int((predictor.tta_probabilities(batch, mode).argmax(1) == true[start:start + BATCH]).sum())
    result = {"test_images": len(pixels), "accuracy": {m: right[m] / len(pixels) for m in TTA_MODES}}
    atomic_write_json(run_dir / GAIN_NAME, result)
    return result
