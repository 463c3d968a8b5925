"""From "train on this folder" plus whatever the user chose to a complete TrainConfig.

The wizard (recommend.py) fills every setting the user left out, for this dataset and this machine;
the config records which fields were recommended so the result can say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_core.advice.recommend import patience_for, recommend, training_images
from resnet_core.config import MODEL_LABELS, MODELS, TrainConfig
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


def median_size(report) -> tuple[int, int] | None:
    """The scan's median (width, height) of the images, when it recorded one."""
    if report.median_width and report.median_height:
        return report.median_width, report.median_height
    return None


def random_init_warning(model: str, weights: str) -> str | None:
    """What to say where the user picks the starting weights when the run will start from random
    initialisation (weights 'none', or 'auto' with no ImageNet weights here); None otherwise."""
    label = MODEL_LABELS.get(model, model)
    if weights == "none":
        cause = "Starting weights 'none'"
    elif weights == "auto" and not weights_availability("auto").get(model, False):
        cause = f"No ImageNet weights for {label} on this machine"
    else:
        return None
    return (f"{cause}: this run starts from random initialisation. Every model card assumes "
            f"ImageNet-pretrained weights; from scratch a network needs more epochs, a higher learning rate "
            f"and more images to reach the same accuracy. To add them, put torchvision's {label} ImageNet "
            f"checkpoint in the torch hub cache (see Home), or choose 'a weights file'.")


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
    # The bands count the images the run trains on (recommend.training_images); runs on a subset
    # still validate on the whole dataset's validation split.
    val_images = split_sizes(report.num_images, DEFAULT_FRACTIONS)[1]
    rec = recommend(
        num_images=max(training_images(report.num_images, max_train_images), 1),
        dataset_images=report.num_images, val_images=val_images,
        num_classes=max(len(report.classes), 1), gpu_mem_gb=gpu_mem_gb,
        priority=priority, task=task,
        weights="imagenet" if mode == "file" else mode,
        weights_available=True if mode == "file" else weights_availability(mode),
        image_size=overrides.get("image_size"), smallest_class=report.smallest_class_count or None,
        median_size=median_size(report),
        model=overrides.get("model"))
    settings = rec.train_settings()
    recommended = [k for k in settings["recommended"] if k not in overrides and k != "weights"]
    settings.update(overrides)
    settings.update(weights=mode, weights_path=path, recommended=tuple(recommended))
    if "epochs" in overrides and "patience" not in overrides:
        # The wizard's patience was for its own epoch count; keep it at the study's share.
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
