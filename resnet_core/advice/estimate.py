"""How long a planned run will take on this machine, from a short measured probe rather than a guess.

`probe_throughput` times a few real training steps (forward, backward, optimiser step) of the
chosen ResNet on random images, after one untimed warm-up step, on the device training would use.
`estimate_training_time` turns that rate into seconds for a whole run. What the estimate leaves
out, and says so: decoding the images once before the first epoch, and early stopping, which
often ends a run sooner.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from resnet_core.config import MODELS
from resnet_core.data.splits import DEFAULT_FRACTIONS
from resnet_core.hardware import resolve_device
from resnet_core.text import format_rough_duration
from resnet_core.training.engine import speed_settings
from resnet_core.training.models import build_model, freeze_backbone, set_train_mode

# Evaluation runs forward only, without gradients, in larger batches: about 3× the training rate.
EVAL_SPEEDUP = 3.0
# On a CPU, big batches (planned for a GPU elsewhere) are probed with at most this many pixels per
# step (two 224 px images; never fewer than 8 images) to keep the probe short. Small images keep
# more of their batch: at 32 px a batch of 8 runs at a third of the rate of the batch of 64 a
# plan uses, and the estimate came out several times the real time.
CPU_PROBE_MAX_PIXELS = 2 * 224 * 224
# Probes at or below this image size finish within a second or two even on a laptop CPU.
CHEAP_IMAGE_SIZE = 64
_PROBE_CLASSES = 10

_cache: dict[tuple, float] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Estimate:
    seconds: float
    train_images_per_s: float
    eval_images_per_s: float
    epochs: int
    evaluations: int

    def describe(self) -> str:
        """'about 4 min on this machine (measured: 180 images/s)'."""
        return (f"about {format_rough_duration(self.seconds)} on this machine "
                f"(measured: {format_rate(self.train_images_per_s)} images/s)")


def probe_batch_size(batch_size: int, device: str | torch.device, image_size: int = 224) -> int:
    """The batch the probe really uses: the planned one, capped on CPU (see CPU_PROBE_MAX_PIXELS)."""
    batch_size = max(2, int(batch_size))  # BatchNorm in training mode needs 2 images
    if torch.device(device).type != "cpu":
        return batch_size
    cap = max(8, CPU_PROBE_MAX_PIXELS // (max(16, int(image_size)) ** 2))
    return min(batch_size, cap)


def probe_is_cheap(image_size: int, device: str | torch.device) -> bool:
    """True when the probe takes a moment only, so a page may run it without being asked."""
    return torch.device(device).type != "cpu" or image_size <= CHEAP_IMAGE_SIZE


def probe_throughput(model: str, batch_size: int, image_size: int, fine_tune: bool,
                     device: str | torch.device, steps: int = 3) -> float:
    """Training images per second for this model and setting here, measured over `steps` steps.

    Cached per (model, batch size, image size, fine_tune, device) for the life of the process.
    Raises ValueError for an unknown model or sizes out of range.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if image_size < 16 or batch_size < 1 or steps < 1:
        raise ValueError(f"image_size must be at least 16, batch_size and steps at least 1; "
                         f"got {image_size}, {batch_size}, {steps}")
    key = _key(model, batch_size, image_size, fine_tune, device, steps)
    batch, dev = key[1], torch.device(device)
    with _lock:  # one probe at a time: two at once would each measure half the machine
        if key not in _cache:
            _cache[key] = _measure(model, batch, int(image_size), bool(fine_tune), dev, int(steps))
        return _cache[key]


def exact_throughput(model: str, batch_size: int, image_size: int, fine_tune: bool,
                     device: str | torch.device, steps: int = 2) -> float:
    """Training images per second at exactly this batch size (probe_throughput caps a CPU's batch to
    keep the probe short; comparing batch sizes needs the real ones). Not cached: the caller keeps it."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    with _lock:
        return _measure(model, max(2, int(batch_size)), int(image_size), bool(fine_tune), torch.device(device),
                        int(steps))


def cached_throughput(model: str, batch_size: int, image_size: int, fine_tune: bool,
                      device: str | torch.device, steps: int = 3) -> float | None:
    """The rate an earlier probe of this setting measured in this process, or None."""
    with _lock:
        return _cache.get(_key(model, batch_size, image_size, fine_tune, device, steps))


@dataclass(frozen=True)
class ProbeDecision:
    """Whether the training-time probes of some settings may run without asking the user.

    probes: one (model, batch_size, image_size, fine_tune, device) per distinct setting, the
    arguments of probe_throughput and cached_throughput.
    """

    probes: tuple[tuple[str, int, int, bool, torch.device], ...]
    measured: bool  # every probe ran before in this process: its rate is cached
    cheap: bool  # every probe finishes in a second or two here, so it may run unasked

    @property
    def ask_first(self) -> bool:
        """True when measuring needs the user's click (slow probes not measured yet)."""
        return bool(self.probes) and not self.measured and not self.cheap


def probe_key(config: Any) -> tuple[str, int, int, bool, torch.device]:
    """probe_throughput's arguments for anything with model, batch_size, image_size and fine_tune
    (a TrainConfig, a Recommendation); the device is the config's, else where training would run."""
    device = resolve_device(getattr(config, "device", "auto"))
    return config.model, int(config.batch_size), int(config.image_size), bool(config.fine_tune), device


def probe_decision(configs: Iterable[Any]) -> ProbeDecision:
    """The one rule the Wizard and the Study page follow before timing settings: measured already,
    cheap enough to measure unasked, or worth a click first."""
    probes = tuple(dict.fromkeys(probe_key(c) for c in configs))
    return ProbeDecision(probes, measured=all(cached_throughput(*p) is not None for p in probes),
                         cheap=all(probe_is_cheap(p[2], p[4]) for p in probes))


def _key(model: str, batch_size: int, image_size: int, fine_tune: bool, device: str | torch.device,
         steps: int) -> tuple:
    dev = torch.device(device)
    return (model, probe_batch_size(batch_size, dev, image_size), int(image_size), bool(fine_tune), str(dev),
            int(steps))


def _measure(arch: str, batch: int, image_size: int, fine_tune: bool, device: torch.device,
             steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(arch, _PROBE_CLASSES, weights="none")
    if not fine_tune:
        freeze_backbone(model)
    speed = speed_settings(device, batch)
    model.to(device)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    set_train_mode(model, fine_tune)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.rand(batch, 3, image_size, image_size, device=device)
    if speed.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, _PROBE_CLASSES, (batch,), device=device)
    autocast = (torch.autocast(device.type, dtype=speed.autocast_dtype) if speed.autocast_dtype
                else nullcontext())

    def step() -> None:
        with autocast:
            if fine_tune:
                logits = model(x)
            else:
                with torch.no_grad():
                    feats = model.features(x)
                logits = model.head(feats.float())
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    try:
        step()  # warm-up: first-call allocations and kernel selection are not the steady rate
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        elapsed = time.perf_counter() - start
    finally:
        model = optimizer = None  # let go of the probe's memory before emptying the CUDA cache
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return batch * steps / max(elapsed, 1e-9)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def estimate_training_time(plan: Any, num_train: int, num_val: int, images_per_s: float,
                           num_test: int = 0, eval_images_per_s: float | None = None) -> Estimate:
    """Seconds for a whole run: every epoch trains on num_train images, every evaluation scores
    num_val (at EVAL_SPEEDUP × the training rate unless measured), and the test split once at the end.

    `plan` is a Recommendation or a TrainConfig (anything with `epochs` and `eval_every`).
    """
    if not images_per_s or images_per_s <= 0 or not math.isfinite(images_per_s):
        raise ValueError(f"images_per_s must be a positive number, got {images_per_s!r}")
    if num_train < 0 or num_val < 0 or num_test < 0:
        raise ValueError("image counts cannot be negative")
    epochs = int(plan.epochs)
    every = max(1, int(getattr(plan, "eval_every", 1) or 1))
    evaluations = math.ceil(epochs / every)
    eval_rate = eval_images_per_s or images_per_s * EVAL_SPEEDUP
    seconds = epochs * num_train / images_per_s + (evaluations * num_val + num_test) / eval_rate
    return Estimate(seconds, images_per_s, eval_rate, epochs, evaluations)


def split_counts(num_images: int) -> tuple[int, int, int]:
    """Roughly how many of num_images the saved split gives to train, val and test (70/15/15)."""
    n = max(0, int(num_images))
    val = round(n * DEFAULT_FRACTIONS[1])
    test = round(n * DEFAULT_FRACTIONS[2])
    return n - val - test, val, test


def format_rate(images_per_s: float) -> str:
    """'180', '1,250', or '2.4' for slow machines, where a rounded '2' would hide a lot."""
    return f"{images_per_s:,.0f}" if images_per_s >= 10 else f"{images_per_s:.1f}"


def eta_seconds(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left for work that is `done` of `total` after `elapsed_s`, at the rate so far;
    None until there is a rate to go by."""
    if done <= 0 or total <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s / done * (total - min(done, total)))
