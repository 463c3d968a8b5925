"""The mislabel finder: out of sample, and precise on a learnable dataset with flipped labels."""
from __future__ import annotations

import numpy as np

from resnet_core.results.label_check import (
    confident_suspects,
    out_of_sample_probabilities,
    stratified_folds,
)

CLASSES = 5
PER_CLASS = 40


def learnable(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features around one centre per class, with noise: a linear head learns them well."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (CLASSES, 16))
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    return centres[labels] + rng.normal(0, 0.6, (len(labels), 16)), labels


def test_an_images_own_label_never_reaches_its_probabilities():
    features, labels = learnable()
    folds = stratified_folds(labels, 5)
    before = out_of_sample_probabilities(features, labels, CLASSES, fold_of=folds)
    changed = labels.copy()
    i = 7
    changed[i] = (labels[i] + 1) % CLASSES
    after = out_of_sample_probabilities(features, changed, CLASSES, fold_of=folds)
    assert np.array_equal(before[i], after[i])  # its own fold's head never saw it
    other = folds != folds[i]
    assert not np.allclose(before[other], after[other])  # the heads that did see it changed


def test_folds_are_stratified():
    labels = np.repeat(np.arange(3), [50, 20, 7])
    folds = stratified_folds(labels, 5)
    for c in range(3):
        counts = np.bincount(folds[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_ten_percent_flipped_labels_are_found_with_precision_at_least_0_7():
    features, labels = learnable(seed=1)
    rng = np.random.default_rng(2)
    flipped = rng.choice(len(labels), size=len(labels) // 10, replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, CLASSES, len(flipped))) % CLASSES
    probs = out_of_sample_probabilities(features, noisy, CLASSES)
    suspects = confident_suspects(probs, noisy)
    top = [i for i, *_ in suspects[:len(flipped)]]
    precision = len(set(top) & set(flipped.tolist())) / len(flipped)
    assert precision >= 0.7, precision
    # The suggestion is the true class for the flipped images found.
    suggested = {i: j for i, j, *_ in suspects}
    assert all(suggested[i] == labels[i] for i in set(top) & set(flipped.tolist()))
