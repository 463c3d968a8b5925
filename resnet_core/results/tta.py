"""Test-time augmentation with a horizontal flip: average the probabilities of an image and its
mirror. Whether that helps depends on the run, so its gain is measured on the run's own test split
(from the mirrored test logits kept in predictions.npz) before anyone turns it on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resnet_core.results.calibration import softmax
from resnet_core.runs.predictions import RunPredictions

# Each test-time augmentation's accuracy on the run's test split, measured with its model by
# results/tta_measure.py (five crops cannot be kept as logits at training time like the flip).
GAIN_NAME = "tta_gain.json"


@dataclass(frozen=True)
class FlipGain:
    plain: float  # test accuracy without the flip
    flipped: float  # test accuracy averaging each image with its mirror
    test_images: int

    @property
    def gain(self) -> float:
        return self.flipped - self.plain


def flip_average(probs: np.ndarray, probs_mirrored: np.ndarray) -> np.ndarray:
    return (np.asarray(probs) + np.asarray(probs_mirrored)) / 2


def flip_gain(predictions: RunPredictions) -> FlipGain | None:
    """Test accuracy with and without the flip; None when the run kept no mirrored test logits."""
    mirrored = predictions.test_logits_mirrored
    if mirrored is None or len(predictions.test_true) == 0:
        return None
    t = predictions.temperature
    averaged = flip_average(softmax(predictions.test_logits, t), softmax(mirrored, t))
    true = predictions.test_true
    return FlipGain(plain=float((predictions.test_pred == true).mean()),
                    flipped=float((averaged.argmax(1) == true).mean()), test_images=len(true))
