"""The settings every part of ResNet Pilot agrees on: names, limits and the training config."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

MODELS = ("resnet18", "resnet50", "resnet101")
MODEL_LABELS = {"resnet18": "ResNet18", "resnet50": "ResNet50", "resnet101": "ResNet101"}
AUGMENTATIONS = ("none", "light", "standard", "heavy")
WEIGHTS = ("auto", "imagenet", "none", "file")
# The starting-weights choices in words, as the Wizard, Train and Study pages offer them.
WEIGHT_LABELS = {"auto": "Auto — ImageNet when available", "imagenet": "ImageNet (pretrained)",
                 "none": "None — random initialisation", "file": "A weights file I upload"}
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_DEVICES = 64  # processes in one DDP run (GPUs, or CPU processes)
SCHEDULES = ("cosine", "constant")
PRIORITIES = ("speed", "balanced", "accuracy")
TASK_KINDS = ("simple", "fine-grained")
# How training treats unequal classes: "none" (every image counts the same) or "weighted_loss"
# (cross-entropy weighted by n_train / (classes × n_class), so every class counts the same).
CLASS_BALANCE = ("none", "weighted_loss", "balanced_sampler")
CLASS_BALANCE_LABELS = {"none": "None — every image counts the same",
                        "weighted_loss": "Class-weighted loss — every class counts the same",
                        "balanced_sampler": "Balanced sampler — every class is drawn as often"}

# The widest ranges any model card allows; per-model ranges live in recommend.py.
LIMITS = {
    "epochs": (1, 200),
    "batch_size": (1, 1024),
    "learning_rate": (1e-6, 1.0),
    "patience": (1, 200),
    "eval_every": (1, 50),
    "image_size": (16, 1024),
}


class ConfigError(ValueError):
    """A setting is out of range or unknown; the message says which and what is allowed."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how one run trains. Frozen so a running job cannot drift."""

    dataset: str
    model: str = "resnet18"
    weights: str = "auto"  # auto | imagenet | none | file
    weights_path: str | None = None  # with weights="file"
    fine_tune: bool = True  # True: all layers train; False: frozen backbone, only the head
    augmentation: str = "standard"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    patience: int = 2  # early stopping on validation loss, in evaluations
    eval_every: int = 1  # evaluate every N epochs (the cards' "Eval Steps")
    image_size: int = 224
    seed: int = 0
    device: str = "auto"
    max_train_images: int | None = None  # stratified subset of the train split (the study's sizes)
    class_balance: str = "none"  # see CLASS_BALANCE
    # Processes (one per GPU, or CPU processes) training this run together with DDP; batch_size is
    # per device, so the global batch is batch_size × devices.
    devices: int = 1
    sync_batchnorm: bool = False  # BatchNorm statistics over the global batch (GPUs only)
    recommended: tuple[str, ...] = field(default=())  # which fields came from the wizard

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def problems(self) -> list[str]:
        out = []
        if not self.dataset:
            out.append("dataset is empty: name an imported dataset or a folder")
        _choice(out, "model", self.model, MODELS)
        _choice(out, "weights", self.weights, WEIGHTS)
        _choice(out, "augmentation", self.augmentation, AUGMENTATIONS)
        _choice(out, "schedule", self.schedule, SCHEDULES)
        _choice(out, "device", self.device, DEVICES)
        _choice(out, "class_balance", self.class_balance, CLASS_BALANCE)
        if self.weights == "file" and not self.weights_path:
            out.append("weights='file' needs weights_path: the .pt/.pth file to start from")
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f"{name} must be a finite number, got {value}")
            elif not lo <= value <= hi:
                out.append(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
        if not isinstance(self.devices, int) or not 1 <= self.devices <= MAX_DEVICES:
            out.append(f"devices must be a whole number from 1 to {MAX_DEVICES}, got {self.devices!r}")
        if self.max_train_images is not None and self.max_train_images < 2:
            out.append(f"max_train_images must be at least 2, got {self.max_train_images}")
        return out

    def describe(self) -> str:
        """The config in words, as the reference study names its rows."""
        return describe_config(self.model, self.fine_tune, self.augmentation)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["recommended"] = list(self.recommended)
        return d

    def key(self) -> str:
        """These settings as one stable string: equal settings give equal keys in any process and
        version of Python (what a page compares to tell whether the settings it used changed)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if "recommended" in kwargs:
            kwargs["recommended"] = tuple(kwargs["recommended"])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def describe_config(model: str, fine_tune: bool, augmentation: str) -> str:
    """'ResNet50 + fine-tuning + augmentation' — the reference study's row names."""
    parts = [MODEL_LABELS.get(model, model)]
    if fine_tune:
        parts.append("fine-tuning")
    if augmentation != "none":
        parts.append("augmentation" if augmentation == "standard" else f"{augmentation} augmentation")
    return " + ".join(parts)


def _choice(out: list[str], name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        out.append(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
