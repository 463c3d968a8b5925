"""From "train on this folder" plus whatever the user chose to a complete TrainConfig.

The wizard (recommend.py) fills every setting the user left out, for this dataset and this machine;
`config_from_advice` is the one way from its recommendation to a TrainConfig (the command line, the
study, the Wizard and Train pages all go through it). The config records which fields were
recommended so the result can say so.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.cpu_speed import load_cpu_speeds, machine_key
from resnet_core.advice.limits import outside_card_limits
from resnet_core.advice.recommend import Recommendation, patience_for, recommend, training_images
from resnet_core.config import LIMITS, MODELS, ConfigError, TrainConfig
from resnet_core.data.handle import DatasetHandle, open_dataset
from resnet_core.data.prepare import check_classes
from resnet_core.data.splits import DEFAULT_FRACTIONS, saved_assignments, split_sizes
from resnet_core.hardware import detect_hardware
from resnet_core.training.weights import can_download, imagenet_weights_available
from resnet_core.workspace import Workspace

# The TrainConfig fields a recommendation fills in, in the order `recommended` lists them. The
# weights are the user's choice ('auto' resolves when training starts), never recommended.
ADVISED_FIELDS = ("model", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate",
                  "patience", "eval_every", "image_size", "class_balance")


@dataclass(frozen=True)
class Plan:
    config: TrainConfig
    recommendation: Recommendation
    warnings: list[str]
    dataset: DatasetHandle | None = None  # the dataset as planned, for create_run to reuse
    notes: tuple[str, ...] = ()  # what the plan decided and why (several devices: batch, learning rate)


# Below this many images per device, BatchNorm's batch statistics get noisy: SyncBatchNorm computes
# them over the whole global batch instead.
SYNC_BATCHNORM_BELOW = 16


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


def validation_split_images(dataset: DatasetHandle) -> int:
    """The validation images early stopping will watch: the saved split's, or as many as the first
    split will put there (per class, as the split assigns them). Reads no image and writes no split."""
    saved = saved_assignments(dataset.info)
    if saved:
        return sum(1 for image in dataset.report.images if saved.get(image.path) == "val")
    return sum(split_sizes(n, DEFAULT_FRACTIONS)[1] for n in dataset.report.counts.values())


def plan_training(data: str | DatasetHandle, workspace: Workspace, overrides: dict[str, Any] | None = None,
                  weights: str = "auto", seed: int = 0, device: str = "auto",
                  max_train_images: int | None = None, priority: str = "balanced",
                  task: str = "simple", gpu_mem_gb: float | None | str = "detect", devices: int = 1,
                  sync_batchnorm: bool | None = None) -> Plan:
    """Resolve the dataset, ask the wizard, and let explicit choices (non-None overrides) win.

    data: a dataset name or folder, or a dataset already opened (a study plans many runs on one).
    Training on this machine's CPU (gpu_mem_gb detected as none), the batch and image size follow what
    this CPU measured (the Wizard's 'Measure batch and image sizes'), as the Wizard's plan does.
    devices: train over this many devices (see `for_devices`); sync_batchnorm None lets the plan decide.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    dataset = data if isinstance(data, DatasetHandle) else open_dataset(data, workspace)
    info, report = dataset.info, dataset.report
    check_classes(info.name, report)  # before advice that would only be about a broken dataset
    cpu_speeds = []
    if gpu_mem_gb == "detect":
        hw = detect_hardware()
        gpu_mem_gb = hw.memory_gb if hw.device == "cuda" and device in ("auto", "cuda") else None
        if gpu_mem_gb is None and (hw.device == "cpu" or device == "cpu"):
            cpu_speeds = load_cpu_speeds(workspace.root, machine_key(hw.cpu_count, hw.torch_threads))
    mode, path = weights_request(weights)
    # The bands count the images the run trains on (recommend.training_images); runs on a subset
    # still validate on the whole dataset's validation split.
    val_images = validation_split_images(dataset)
    rec = recommend(
        num_images=max(training_images(report.num_images, max_train_images), 1),
        dataset_images=report.num_images, val_images=val_images,
        num_classes=max(len(report.classes), 1), gpu_mem_gb=gpu_mem_gb,
        priority=priority, task=task,
        weights="imagenet" if mode == "file" else mode,
        weights_available=True if mode == "file" else weights_availability(mode),
        image_size=overrides.get("image_size"), smallest_class=report.smallest_class_count or None,
        median_size=median_size(report), model=overrides.get("model"),
        largest_class=max(report.counts.values(), default=0) or None, cpu_speeds=cpu_speeds)
    config = config_from_advice(rec, info.name, overrides, weights=mode, weights_path=path, seed=seed,
                                device=device, max_train_images=max_train_images, val_images=val_images)
    warnings = list(rec.warnings)
    warnings += outside_card_limits(config, rec.limits)
    config, notes = for_devices(config, devices, sync_batchnorm, on_gpu=gpu_mem_gb is not None,
                                lr_chosen="learning_rate" in overrides)
    return Plan(config, rec, warnings, dataset, tuple(notes))


def for_devices(config: TrainConfig, devices: int, sync_batchnorm: bool | None, on_gpu: bool,
                lr_chosen: bool) -> tuple[TrainConfig, list[str]]:
    """The config for a run over `devices` devices, and the notes that say what changed and why.

    The batch size stays per device (the cards' advice is per GPU memory), so the global batch is
    batch × devices. The learning rate follows the linear scaling rule (Goyal et al., 2017: k times
    the batch, k times the rate), unless the user chose it. SyncBatchNorm is recommended on GPUs
    below SYNC_BATCHNORM_BELOW images per device; on CPUs it is not available.
    """
    if devices == 1:
        if sync_batchnorm:
            raise ConfigError("SyncBatchNorm only applies to a run over several devices: add --devices 2 or more")
        return config, []
    if devices < 1:
        raise ConfigError(f"devices must be 1 or more, got {devices}")
    if sync_batchnorm and not on_gpu:
        raise ConfigError("SyncBatchNorm needs GPUs (PyTorch syncs BatchNorm only through CUDA); "
                          "on CPU processes leave out --sync-batchnorm")
    hw = detect_hardware()
    if on_gpu and hw.device == "cuda":
        import torch

        visible = torch.cuda.device_count()
        if devices > visible:
            raise ConfigError(f"{devices} devices were asked for but this machine has {visible} GPU(s); "
                              f"use --devices {visible} or fewer")
    changes: dict = {"devices": devices}
    notes = [f"Batch size {config.batch_size} per device × {devices} devices = global batch "
             f"{config.batch_size * devices}."]
    if not lr_chosen:
        scaled = min(LIMITS["learning_rate"][1], config.learning_rate * devices)
        changes["learning_rate"] = scaled
        notes.append(f"Learning rate {scaled:g} = {config.learning_rate:g} × {devices}: the linear scaling rule "
                     f"(a {devices}× larger global batch takes {devices}× fewer steps per epoch, so each step "
                     "moves further); set the learning rate yourself to keep another.")
    if sync_batchnorm is None:
        sync_batchnorm = on_gpu and config.batch_size < SYNC_BATCHNORM_BELOW and config.fine_tune
        if sync_batchnorm:
            notes.append(f"SyncBatchNorm on: {config.batch_size} images per device is below "
                         f"{SYNC_BATCHNORM_BELOW}, where BatchNorm's statistics of one device's batch get "
                         "noisy; it computes them over the global batch.")
    changes["sync_batchnorm"] = bool(sync_batchnorm)
    recommended = config.recommended if "learning_rate" not in changes else \
        tuple(dict.fromkeys([*config.recommended, "learning_rate"]))
    return config.replace(**changes, recommended=recommended), notes


def config_from_advice(rec: Recommendation, dataset: str, overrides: Mapping[str, Any] | None = None, *,
                       weights: str = "auto", weights_path: str | None = None, seed: int = 0,
                       device: str = "auto", max_train_images: int | None = None,
                       val_images: int | None = None) -> TrainConfig:
    """The recommendation's settings as a TrainConfig, with every non-None override winning.

    `recommended` names the advised fields no override replaced. weights is the user's choice
    (auto | imagenet | none | file, with weights_path), not what the advice assumed. Overridden epochs
    without an overridden patience bring the patience along (the study's share of the new epochs;
    val_images, the validation split's size, sets its floor). ConfigError for a bad override.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings = {name: getattr(rec, name) for name in ADVISED_FIELDS}
    settings.update(overrides)
    if "epochs" in overrides and "patience" not in overrides:
        # The wizard's patience was for its own epoch count; keep it at the study's share.
        settings["patience"] = patience_for(overrides["epochs"], rec.priority, val_images)
    if weights == "auto" and rec.weights == "none" and "fine_tune" not in overrides:
        settings["fine_tune"] = True  # a frozen random backbone learns nothing
    return TrainConfig(dataset=dataset, weights=weights, weights_path=weights_path, seed=seed, device=device,
                       max_train_images=max_train_images,
                       recommended=tuple(name for name in ADVISED_FIELDS if name not in overrides), **settings)


def with_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """The config with these fields changed; a changed field is no longer 'recommended'."""
    recommended = tuple(name for name in config.recommended if name not in overrides)
    return config.replace(**overrides, recommended=recommended)
