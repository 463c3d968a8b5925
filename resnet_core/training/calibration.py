"""Temperature scaling: one number that makes a trained model's probabilities honest.

A network trained with cross-entropy is usually over-confident: of the images it calls 95% sure,
fewer than 95% are right. Dividing its logits by a temperature T > 1 (fitted on the validation
split, after training, by minimising the negative log-likelihood with L-BFGS) softens the
probabilities without changing which class wins, so accuracy stays exactly the same (Guo et al.,
"On Calibration of Modern Neural Networks", 2017).

The fitted temperature is kept in the run folder (calibration.json); prediction divides by it and
exports fold it into the model's graph.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet_core.fsutil import atomic_write_json, read_json

CALIBRATION_NAME = "calibration.json"
# A temperature outside this range means the validation split was too small or degenerate to
# trust (for example every image already right with certainty); it is clipped to it.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature minimising the negative log-likelihood of `labels` under softmax(logits / T).

    1.0 (leave the model as it is) when there are no images to fit on. Optimised over log T, so T
    stays positive.
    """
    # Copies: the engine's logits are inference-mode tensors, which autograd refuses to use.
    logits, labels = logits.detach().float().cpu().clone(), labels.detach().long().cpu().clone()
    if len(labels) == 0 or logits.ndim != 2 or not torch.isfinite(logits).all():
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    t = float(log_t.detach().exp())
    if not math.isfinite(t):
        return 1.0
    return min(MAX_TEMPERATURE, max(MIN_TEMPERATURE, t))


def write_calibration(run_dir: str | os.PathLike, temperature: float, val_images: int) -> None:
    atomic_write_json(Path(run_dir) / CALIBRATION_NAME, {
        "temperature": temperature, "fitted_on": "validation split", "val_images": int(val_images),
        "method": "temperature scaling (L-BFGS on the validation logits' negative log-likelihood)"})


def read_temperature(run_dir: str | os.PathLike) -> float:
    """The run's fitted temperature; 1.0 (uncalibrated) when it has none or the file is unreadable."""
    data = read_json(Path(run_dir) / CALIBRATION_NAME, default=None)
    try:
        t = float(data["temperature"])
    except (TypeError, KeyError, ValueError):
        return 1.0
    return t if math.isfinite(t) and t > 0 else 1.0
