"""How sure a score is: bootstrap intervals over the test images, and whether two runs differ.

A test split of a few hundred images measures accuracy to within a few points; these say how many.
- `score_intervals`: accuracy, balanced accuracy and macro-F1 with a 95% percentile bootstrap
  interval (the test images resampled with replacement, seeded, so the same run always gets the
  same interval).
- `mcnemar_p`: McNemar's exact test on the same test images: of the images exactly one of the two
  runs gets right, is the split further from 50/50 than chance would make it? Two runs are "within
  noise" of each other when p >= 0.05.
- For a configuration repeated with other seeds, `repeats_score_intervals` averages the scores of its
  runs over the same resampled images, and `sign_flip_p` compares two configurations by each image's
  share of runs that got it right (the same test as McNemar's when each side is a single run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
TIE_ALPHA = 0.05
# Resampled image indices held in memory at once (keeps a large test split's bootstrap small).
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class ScoreIntervals:
    accuracy: Interval
    balanced_accuracy: Interval
    macro_f1: Interval
    test_images: int


def score_intervals(true: np.ndarray, pred: np.ndarray, num_classes: int, resamples: int = RESAMPLES,
                    level: float = LEVEL, seed: int = SEED) -> ScoreIntervals | None:
    """The three scores with their bootstrap intervals; None when there are no test images."""
    return repeats_score_intervals(true, np.asarray(pred)[None, :], num_classes, resamples, level, seed)


def repeats_score_intervals(true: np.ndarray, preds: np.ndarray, num_classes: int, resamples: int = RESAMPLES,
                            level: float = LEVEL, seed: int = SEED) -> ScoreIntervals | None:
    """The mean scores of several runs on the same test images (preds: one row of predictions per
    run) with bootstrap intervals: each resample of the images scores every run, then averages."""
    true, preds = np.asarray(true, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    n = len(true)
    if n == 0 or num_classes < 1 or preds.ndim != 2 or preds.shape[1] != n or len(preds) == 0:
        return None
    full, boot = zip(*(_bootstrap(true, pred, num_classes, resamples, seed) for pred in preds))
    full, boot = np.mean(full, axis=0), np.mean(boot, axis=0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail], axis=1)
    intervals = [Interval(float(full[i, 0]), float(low[i]), float(high[i])) for i in range(3)]
    return ScoreIntervals(*intervals, test_images=n)


def _bootstrap(true: np.ndarray, pred: np.ndarray, num_classes: int, resamples: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores on all images: 3×1, scores on each resample: 3×resamples). The same seed draws the
    same resamples, so several runs' scores can be averaged resample by resample."""
    n, k = len(true), num_classes
    # Classes of the test split: macro scores average over these in every resample, so a class
    # missing from one resample counts as a miss rather than changing what is averaged.
    present = np.bincount(true, minlength=k) > 0
    full = _scores(np.bincount(true * k + pred, minlength=k * k).reshape(1, k, k), present)
    rng = np.random.default_rng(seed)
    samples = []
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        codes = (true[idx] * k + pred[idx]) + (np.arange(b) * k * k)[:, None]
        confusion = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)
        samples.append(_scores(confusion, present))
    return full, np.concatenate(samples, axis=1)


def _scores(confusion: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows accuracy, balanced accuracy, macro-F1; one column per confusion matrix (b×k×k)."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(np.float64)
    actual = confusion.sum(2)
    predicted = confusion.sum(1)
    n = actual.sum(1)
    accuracy = tp.sum(1) / np.maximum(n, 1)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    # Balanced accuracy: mean recall over the classes this sample has images of.
    seen = (actual > 0) & present
    balanced = (recall * seen).sum(1) / np.maximum(seen.sum(1), 1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    macro_f1 = (f1 * present).sum(1) / max(int(present.sum()), 1)
    return np.stack([accuracy, balanced, macro_f1])


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for two runs scored on the same images in the same order."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("McNemar's test needs both runs scored on the same images")
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    return _binomial_two_sided(min(only_a, only_b), only_a + only_b)


def _binomial_two_sided(k: int, n: int) -> float:
    """P(X <= k) * 2 for X ~ Binomial(n, 1/2), at most 1 (in log space: n may be thousands)."""
    if n == 0:
        return 1.0
    log_half_n = -n * math.log(2)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n
             for i in range(k + 1)]
    top = max(terms)
    cdf = math.exp(top) * sum(math.exp(t - top) for t in terms)
    return min(1.0, 2 * cdf)


def sign_flip_p(share_a: np.ndarray, share_b: np.ndarray, draws: int = 10_000, seed: int = SEED) -> float:
    """Two-sided p-value that two configurations are equally good on the same images, from each
    image's share of runs that got it right (share_a, share_b in [0, 1], same image order).

    Under "equally good" each image's difference could as well have the other sign: the p-value is
    how often randomly flipped signs give a total at least as far from zero (seeded Monte Carlo).
    With single runs on both sides the differences are -1, 0 or 1 and this is McNemar's exact test.
    """
    a, b = np.asarray(share_a, dtype=np.float64), np.asarray(share_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("the paired test needs both sides scored on the same images")
    diff = a - b
    diff = diff[np.abs(diff) > 1e-12]
    if diff.size == 0:
        return 1.0
    if np.all(np.isclose(np.abs(diff), 1.0)):
        plus = int((diff > 0).sum())
        return _binomial_two_sided(min(plus, diff.size - plus), diff.size)
    observed = abs(diff.sum())
    rng = np.random.default_rng(seed)
    beyond = 0
    chunk = max(1, _CHUNK_CELLS // diff.size)
    for start in range(0, draws, chunk):
        b_ = min(chunk, draws - start)
        signs = rng.integers(0, 2, size=(b_, diff.size)) * 2 - 1
        beyond += int((np.abs(signs @ diff) >= observed - 1e-9).sum())
    return (beyond + 1) / (draws + 1)


def within_noise(correct_leader: np.ndarray, correct_other: np.ndarray, alpha: float = TIE_ALPHA) -> bool:
    """True when the two runs' difference on the same test images could be chance (p >= alpha)."""
    return mcnemar_p(correct_leader, correct_other) >= alpha
