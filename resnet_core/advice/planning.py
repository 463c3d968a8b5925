"""From "train on this folder" plus whatever the user chose to a complete TrainConfig.

The wizard (recommend.py) fills every setting the user left out, for this dataset and this machine;
the config records which fields were recommended so the result can say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_core.advice.recommend import patience_for, recommend
from resnet_core.config import MODELS, TrainConfig
from resnet_core.data.prepare import check_classes
from resnet_core.data.registry import dataset_report, resolve_dataset
from resnet_core.data.splits import DEFAULT_FRACTIONS, split_sizes
from resnet_core.hardware import detect_hardware
from resnet_core.training.weights import can_download, imagenet_weights_available
from resnet_core.workspace import Workspace


@dataclass(frozen=True)
class Plan:
    config: TrainConfig
    recommendation: Any  # recommend.Recommendation
    warnings: list[str]


def weights_request(weights: str) -> tuple[str, str | None]:
    """'auto'|'imagenet'|'none'|PATH → (config weights mode, weights file or None)."""
    if weights in ("auto", "imagenet", "none"):
        return weights, None
    return "file", weights


def weights_availability(weights: str) -> dict[str, bool]:
    """Per model: can the plan count on ImageNet weights (cached, or downloadable when asked)?"""
    if weights == "none":
        return {m: False for m in MODELS}
    cached = {m: imagenet_weights_available(m) for m in MODELS}
    if all(cached.values()):
        return cached
    online = can_download()
    return {m: cached[m] or online for m in MODELS}


def plan_training(data: str, workspace: Workspace, overrides: dict[str, Any] | None = None,
                  weights: str = "auto", seed: int = 0, device: str = "auto",
                  max_train_images: int | None = None, priority: str = "balanced",
                  task: str = "simple", gpu_mem_gb: float | None | str = "detect") -> Plan:
    """Resolve the dataset, ask the wizard, and let explicit choices (non-None overrides) win."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    info = resolve_dataset(data, workspace)
    report = dataset_report(info)
    check_classes(info.name, report)  # before advice that would only be about a broken dataset
    if gpu_mem_gb == "detect":
        hw = detect_hardware()
        gpu_mem_gb = hw.memory_gb if hw.device == "cuda" and device in ("auto", "cuda") else None
    mode, path = weights_request(weights)
    num_images = report.num_images
    if max_train_images:
        # The wizard's dataset-size bands count the images a run trains on.
        num_images = min(num_images, round(max_train_images / 0.7))
    rec = recommend(
        num_images=max(num_images, 1), num_classes=max(len(report.classes), 1), gpu_mem_gb=gpu_mem_gb,
        priority=priority, task=task,
        weights="imagenet" if mode == "file" else mode,
        weights_available=True if mode == "file" else weights_availability(mode),
        image_size=overrides.get("image_size", 224), smallest_class=report.smallest_class_count or None,
        model=overrides.get("model"), largest_class=max(report.counts.values(), default=0) or None)
    settings = rec.train_settings()
    recommended = [k for k in settings["recommended"] if k not in overrides and k != "weights"]
    settings.update(overrides)
    settings.update(weights=mode, weights_path=path, recommended=tuple(recommended))
    if "epochs" in overrides and "patience" not in overrides:
        # The wizard's patience was for its own epoch count; keep it at the study's share.
        # Runs on a subset still validate on the whole dataset's validation split.
        val_images = split_sizes(report.num_images, DEFAULT_FRACTIONS)[1]
        settings["patience"] = patience_for(overrides["epochs"], priority, val_images)
    if mode == "auto" and rec.weights == "none" and "fine_tune" not in overrides:
        settings["fine_tune"] = True  # a frozen random backbone learns nothing
    config = TrainConfig(dataset=info.name, seed=seed, device=device, max_train_images=max_train_images,
                         **settings)
    warnings = list(rec.warnings)
    warnings += _outside_card_limits(config, rec.limits)
    return Plan(config, rec, warnings)


def _outside_card_limits(config: TrainConfig, limits: dict[str, tuple[float, float]]) -> list[str]:
    out = []
    for name, (lo, hi) in limits.items():
        value = getattr(config, name)
        if not lo <= value <= hi:
            out.append(f"{name.replace('_', ' ')} {value:g} is outside the {config.describe().split(' ')[0]} "
                       f"card's range {lo:g}–{hi:g}.")
    return out
