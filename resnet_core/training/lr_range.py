"""The learning-rate range test: raise the rate step by step and watch the loss (as fastai's lr_find).

Training starts from the run's own starting weights at a very low rate that grows exponentially over a
few hundred steps; the loss, smoothed, first falls and then blows up. The suggested rate is where the
smoothed loss falls fastest against log(rate): low enough to be stable, high enough to learn quickly.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import TrainingData
from resnet_core.hardware import resolve_device
from resnet_core.training.callbacks import CancelTraining
from resnet_core.training.engine import _autocast, _batch_input, speed_settings
from resnet_core.training.models import build_model, freeze_backbone, set_train_mode, trainable_parameters
from resnet_core.training.weights import resolve_weights

SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected
BLOW_UP = 4.0  # stop once the smoothed loss is this many times its lowest value


@dataclass(frozen=True)
class LRRange:
    rates: list[float]
    losses: list[float]  # raw, one per step
    smoothed: list[float]
    suggestion: float | None  # None when the loss never fell

    def to_dict(self) -> dict:
        return {"rates": self.rates, "losses": self.losses, "smoothed": self.smoothed,
                "suggestion": self.suggestion}


def rate_schedule(start: float, end: float, steps: int) -> list[float]:
    if not 0 < start < end or steps < 2:
        raise ValueError(f"need 0 < start < end and at least 2 steps, got {start}, {end}, {steps}")
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


StepReport = Callable[[int, int], None]  # (steps done, steps planned)


def sweep(step: Callable[[float], float], rates: list[float], cancel: threading.Event | None = None,
          on_step: StepReport | None = None) -> LRRange:
    """Call step(rate) for each rate (one optimiser step, returning its loss) until the loss blows up.

    `cancel` is checked before every step, so a cancel stops the sweep within one step (CancelTraining);
    `on_step` hears of each finished step (it may raise to stop, as a cancelled job's progress does)."""
    losses, smoothed, tried = [], [], []
    average, lowest = 0.0, math.inf
    for i, rate in enumerate(rates):
        if cancel is not None and cancel.is_set():
            raise CancelTraining("the learning-rate range test was cancelled")
        loss = float(step(rate))
        tried.append(rate)
        losses.append(loss)
        if on_step is not None:
            on_step(i + 1, len(rates))
        if not math.isfinite(loss):
            smoothed.append(math.inf)
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        value = average / (1 - SMOOTHING ** (i + 1))
        smoothed.append(value)
        lowest = min(lowest, value)
        if i > 5 and value > BLOW_UP * lowest:
            break
    return LRRange(rates=tried, losses=losses, smoothed=smoothed, suggestion=steepest_descent(tried, smoothed))


def steepest_descent(rates: list[float], smoothed: list[float]) -> float | None:
    """The rate where the smoothed loss falls fastest per unit of log(rate), before its minimum."""
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(finite) < 3:
        return None
    end = min(finite, key=lambda i: smoothed[i])  # only the falling part counts
    best, steepest = None, 0.0
    for i in range(1, end + 1):
        slope = (smoothed[i] - smoothed[i - 1]) / (math.log(rates[i]) - math.log(rates[i - 1]))
        if slope < steepest:
            best, steepest = i, slope
    return rates[best] if best is not None else None


def lr_range_test(config: TrainConfig, data: TrainingData, steps: int = 100, start: float = 1e-7,
                  end: float = 1.0, cancel: threading.Event | None = None,
                  on_step: StepReport | None = None) -> LRRange:
    """The range test for this configuration's model, weights and augmentation on `data`'s training split.
    Stops within one step of `cancel` being set (CancelTraining); `on_step` hears of each step."""
    device = resolve_device(config.device)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    weights_mode, _ = resolve_weights(config.weights, config.model, config.weights_path)
    model = build_model(config.model, len(data.classes), weights=weights_mode, weights_path=config.weights_path)
    if not config.fine_tune:
        freeze_backbone(model)
    model.to(device)
    speed = speed_settings(device, config.batch_size)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    set_train_mode(model, config.fine_tune)
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=start, weight_decay=config.weight_decay)
    batch = max(2, min(config.batch_size, len(data.train_idx)))

    def step(rate: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = rate
        idx = data.train_idx[torch.randint(len(data.train_idx), (batch,), generator=gen)]
        x = _batch_input(data.pixels, idx, speed, config.augmentation, gen)
        y = data.labels[idx].to(device)
        with _autocast(speed):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        if not torch.isfinite(loss):
            return math.inf
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return sweep(step, rate_schedule(start, end, steps), cancel, on_step)
