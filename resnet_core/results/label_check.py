"""Images that may be mislabelled: out-of-sample probabilities, then confident learning.

1. Features: each image's pooled backbone features — ImageNet weights when they are on this machine,
   otherwise the backbone of a finished run (it was trained on these labels, mislabelled images
   included, so it may have partly learned their wrong labels: a weaker guarantee, stated in the
   report).
2. Out-of-sample probabilities: stratified K-fold cross-validation (default 5) of a linear head
   (multinomial logistic regression) on those features. An image's probabilities come from the head
   trained on the other folds only, so its own label never influenced them.
3. Confident learning (Northcutt et al.): per class j a threshold t_j, the mean probability of j
   over the images labelled j (the class's self-confidence). An image labelled i whose probability
   for another class j reaches t_j is a candidate; its suggestion is the most probable such class,
   and candidates are ranked by the margin p(suggested) − p(given label).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from resnet_core.data.prepare import TrainingData
from resnet_core.training.checkpoints import load_checkpoint
from resnet_core.training.models import build_model
from resnet_core.training.weights import imagenet_weights_available

DEFAULT_FOLDS = 5
_HEAD_STEPS = 300
_FEATURE_BATCH = 64

Progress = Callable[[int, int], None]


class LabelCheckUnavailable(ValueError):
    """No features to check with; the message says what to do."""


@dataclass(frozen=True)
class Suspect:
    path: str
    given: str
    suggested: str
    confidence: float  # out-of-sample probability of the suggested class
    margin: float  # p(suggested) − p(given)


@dataclass
class LabelReport:
    method: str  # how the features were made, and what that guarantees
    folds: int
    num_images: int
    suspects: list[Suspect] = field(default_factory=list)  # most suspicious first

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "folds": self.folds, "num_images": self.num_images,
                "suspects": [s.__dict__ for s in self.suspects]}


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """A fold number per image; each class's images are dealt round the folds in a shuffled order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        out[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # so small classes do not all start in fold 0
    return out


def _fit_linear_head(x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int) -> torch.nn.Linear:
    """Multinomial logistic regression with a little L2, full-batch Adam (features are few)."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], num_classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05, weight_decay=1e-3)
    for _ in range(_HEAD_STEPS):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        optimizer.step()
    return head


def out_of_sample_probabilities(features: np.ndarray, labels: np.ndarray, num_classes: int,
                                folds: int = DEFAULT_FOLDS, seed: int = 0,
                                progress: Progress | None = None,
                                fold_of: np.ndarray | None = None) -> np.ndarray:
    """N × k probabilities; row i from a head trained on the folds that do not hold image i.

    fold_of: a fold number per image (stratified_folds by default)."""
    x_all = torch.as_tensor(np.asarray(features, dtype=np.float32))
    y_all = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    fold_of = stratified_folds(labels, folds, seed) if fold_of is None else np.asarray(fold_of)
    probs = np.zeros((len(y_all), num_classes), dtype=np.float64)
    for f in range(folds):
        held = np.flatnonzero(fold_of == f)
        train = np.flatnonzero(fold_of != f)
        if not len(held) or not len(train):
            continue
        # Standardised with the training folds' statistics only: the held-out fold stays unseen.
        mean, std = x_all[train].mean(0), x_all[train].std(0).clamp(min=1e-6)
        head = _fit_linear_head((x_all[train] - mean) / std, y_all[train], num_classes, seed + f)
        with torch.no_grad():
            probs[held] = head((x_all[held] - mean) / std).softmax(1).double().numpy()
        if progress:
            progress(f + 1, folds)
    return probs


def confident_suspects(probs: np.ndarray, labels: np.ndarray) -> list[tuple[int, int, float, float]]:
    """(image, suggested class, p(suggested), margin) for the likely mislabels, largest margin first."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    k = probs.shape[1]
    thresholds = np.array([probs[labels == j, j].mean() if (labels == j).any() else np.inf for j in range(k)])
    out = []
    for i, given in enumerate(labels):
        confident = probs[i] >= thresholds
        confident[given] = False
        if not confident.any():
            continue
        suggested = int(np.argmax(np.where(confident, probs[i], -np.inf)))
        margin = probs[i, suggested] - probs[i, given]
        if margin > 0:  # the given label is at least as likely: not a disagreement
            out.append((i, suggested, float(probs[i, suggested]), float(margin)))
    return sorted(out, key=lambda t: -t[3])


@torch.inference_mode()
def image_features(data: TrainingData, run_checkpoint: str | None = None, arch: str = "resnet18",
                   progress: Progress | None = None) -> tuple[np.ndarray, str]:
    """Pooled backbone features of every row of `data`, and the method in words.

    ImageNet weights when on this machine (and no run is named); otherwise the run's model.
    """
    if run_checkpoint is None and imagenet_weights_available(arch):
        model = build_model(arch, len(data.classes), weights="imagenet")
        method = (f"ImageNet {arch} features: the backbone never saw these labels, so every "
                  "probability is out of sample.")
    elif run_checkpoint is not None:
        model, _ = load_checkpoint(run_checkpoint)
        method = ("Features of a finished run's model: it was trained on these labels, mislabelled "
                  "images included, so it may have partly learned their wrong labels and miss some. "
                  "The linear head is still cross-validated (each image scored by a head that never "
                  "saw it).")
    else:
        raise LabelCheckUnavailable("no ImageNet weights on this machine and no finished run to take "
                                "features from: train a run on this dataset first, or put the ImageNet "
                                "weights in the torch cache")
    model.eval()
    n = len(data.pixels)
    chunks = []
    for start in range(0, n, _FEATURE_BATCH):
        batch = data.pixels[start:start + _FEATURE_BATCH].float().div_(255.0)
        chunks.append(model.features(batch).float())
        if progress:
            progress(min(n, start + _FEATURE_BATCH), n)
    feats = torch.cat(chunks).numpy() if chunks else np.zeros((0, 1), np.float32)
    return feats, method


def check_labels(data: TrainingData, features: np.ndarray, method: str, folds: int = DEFAULT_FOLDS,
                 seed: int = 0, progress: Progress | None = None) -> LabelReport:
    """The images whose given label disagrees with a confident out-of-sample prediction.

    Only the rows of the split count: an image the user excluded (or that failed to decode) is
    neither scored nor used to score the others."""
    rows = data.labelled_idx().numpy()
    labels = data.labels.numpy()[rows]
    probs = out_of_sample_probabilities(np.asarray(features)[rows], labels, len(data.classes), folds, seed,
                                        progress)
    suspects = [Suspect(path=data.paths[rows[i]], given=data.classes[int(labels[i])],
                        suggested=data.classes[j], confidence=p, margin=m)
                for i, j, p, m in confident_suspects(probs, labels)]
    return LabelReport(method=method, folds=folds, num_images=len(labels), suspects=suspects)
