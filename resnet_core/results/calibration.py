"""How far a run's probabilities can be taken at their word: expected calibration error (ECE) and the
reliability diagram's bins, on the test split, before and after its temperature (training/calibration.py).

ECE: the test images binned by the model's confidence (its top probability); in each bin the gap
between the mean confidence and the accuracy, weighted by the bin's share of images. 0 = a model
that is right 80% of the time when it says 80%.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resnet_core.runs.predictions import RunPredictions

BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    confidence: float  # mean top probability of the images in the bin
    accuracy: float
    count: int


@dataclass(frozen=True)
class CalibrationReport:
    temperature: float
    ece_before: float
    ece_after: float
    accuracy: float  # the same before and after: temperature never changes the winning class
    bins_before: list[ReliabilityBin]
    bins_after: list[ReliabilityBin]
    test_images: int


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def reliability_bins(probs: np.ndarray, true: np.ndarray, bins: int = BINS) -> list[ReliabilityBin]:
    """Equal-width confidence bins with images in them (empty bins are left out)."""
    confidence, pred = probs.max(1), probs.argmax(1)
    correct = pred == np.asarray(true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # A confidence of exactly 1.0 belongs to the last bin.
    which = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), float(confidence[mask].mean()),
                                      float(correct[mask].mean()), int(mask.sum())))
    return out


def expected_calibration_error(probs: np.ndarray, true: np.ndarray, bins: int = BINS) -> float:
    cells = reliability_bins(probs, true, bins)
    n = sum(c.count for c in cells)
    return float(sum(c.count * abs(c.confidence - c.accuracy) for c in cells) / n) if n else 0.0


def calibration_report(predictions: RunPredictions, bins: int = BINS) -> CalibrationReport | None:
    """ECE and reliability bins on the test split, uncalibrated and with the run's temperature."""
    if len(predictions.test_true) == 0:
        return None
    before = softmax(predictions.test_logits)
    after = softmax(predictions.test_logits, predictions.temperature)
    true = predictions.test_true
    return CalibrationReport(
        temperature=predictions.temperature,
        ece_before=expected_calibration_error(before, true, bins),
        ece_after=expected_calibration_error(after, true, bins),
        accuracy=float((after.argmax(1) == true).mean()),
        bins_before=reliability_bins(before, true, bins), bins_after=reliability_bins(after, true, bins),
        test_images=len(true))
