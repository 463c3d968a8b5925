"""The Train page's form as plain data: its fields, their limits, the values it starts from, and the
TrainConfig it hands to the job manager.

The form starts from a TrainConfig (the Wizard's plan, or the wizard's defaults for the dataset) and
ends as one; in between its values live in widgets. A field the user leaves as it was filled stays
'recommended'.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resnet_core import hardware
from resnet_core.advice.limits import Limits, setting_limits
from resnet_core.advice.planning import for_devices, validation_split_images, weights_availability, with_overrides
from resnet_core.advice.recommend import patience_floor, patience_for, study_patience
from resnet_core.config import CLASS_BALANCE_LABELS, MODEL_LABELS, ConfigError, TrainConfig
from resnet_core.data.augment import DESCRIPTIONS as AUGMENTATION_DESCRIPTIONS
from resnet_core.data.handle import open_dataset
from resnet_core.data.registry import get_dataset
from resnet_core.data.scan import DatasetError
from resnet_core.training.weights_upload import check_weights_file
from resnet_core.views import glossary
from resnet_core.workspace import Workspace

# The form's fields (TrainConfig names), in the order the page draws them.
FORM_FIELDS = ("model", "weights", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate",
               "patience", "eval_every", "image_size", "seed", "device", "class_balance", "devices")
WHOLE_NUMBERS = ("epochs", "batch_size", "patience", "eval_every", "image_size", "seed", "devices")
SEED_RANGE = (0, 2**31 - 1)

# What each choice means, as the widgets' help.
CHOICE_HELP = {
    "dataset": "The images to train on; each run uses the dataset's saved split.",
    "model": "Deeper models can be more accurate but train slower and need more images.",
    "weights": "ImageNet weights give a head start; 'auto' falls back to random initialisation when they "
               "are not on this machine. " + glossary.WEIGHTS_FILE,
    "fine_tune": "Fine-tuning adapts every layer; a frozen backbone trains only the last layer: faster, "
                 "but usually less accurate.",
    "augmentation": "\n".join(f"- **{k}**: {v}" for k, v in AUGMENTATION_DESCRIPTIONS.items()),
    "device": "Where to train; 'auto' picks the GPU when there is one.",
    "class_balance": "With unequal classes, a class-weighted loss (or a balanced sampler, which draws every "
                     "class as often) keeps the model from favouring the large ones (the Wizard recommends "
                     "the one that measured better at 3× or more).",
    "devices": "Train this one run on several GPUs at once (DistributedDataParallel, one process per GPU). "
               "The batch size stays per GPU; the learning rate is multiplied by the number of GPUs "
               "(the linear scaling rule) unless you change it.",
    "weights_file": "A state dict or checkpoint of a ResNet of the chosen depth; its classification layer "
                    "is replaced to fit your classes.",
}
_NUMBER_WORDS = {  # label, step, help ({card}: the model card's range for this field)
    "epochs": ("Epochs", 1, "{card}"),
    "batch_size": ("Batch size", 1, "Images per step; smaller if the GPU runs out of memory (training "
                                    "halves it by itself if needed)."),
    "learning_rate": ("Learning rate", 1e-5, "{card}"),
    "patience": ("Patience (evaluations)", 1, glossary.PATIENCE + " The cost-performance study suggests "
                                              "10–20% of the epochs."),
    "eval_every": ("Evaluate every (epochs)", 1, glossary.EVALUATION),
    "image_size": ("Image size (px)", 16, "Images are resized and centre-cropped to this square; the "
                                          "cards use 224."),
    "seed": ("Seed", 1, "Same seed, same settings: the same run again."),
}


@dataclass(frozen=True)
class NumberField:
    """One number widget of the form: its label, range, step and help."""

    label: str
    min_value: int | float
    max_value: int | float
    step: int | float
    help: str
    format: str | None = None


def starts_from_random(model: str, weights: str) -> bool:
    """Will this model start without ImageNet weights ('auto' falls back when they are missing)?"""
    return weights == "none" or (weights == "auto" and not weights_availability("auto").get(model, False))


def random_init_warning(model: str, weights: str) -> str | None:
    """What to say where the user picks the starting weights when the run will start from random
    initialisation (weights 'none', or 'auto' with no ImageNet weights here); None otherwise."""
    if not starts_from_random(model, weights):
        return None
    label = MODEL_LABELS.get(model, model)
    cause = "Starting weights 'none'" if weights == "none" else f"No ImageNet weights for {label} on this machine"
    return (f"{cause}: this run starts from random initialisation. Every model card assumes "
            f"ImageNet-pretrained weights; from scratch a network needs more epochs, a higher learning rate "
            f"and more images to reach the same accuracy. To add them, put torchvision's {label} ImageNet "
            f"checkpoint in the torch hub cache (see Home), or choose 'a weights file'.")


def form_limits(model: str, weights: str) -> Limits:
    """Each number field's min and max: the model card's ranges (wider from random initialisation),
    config.LIMITS for the others."""
    return setting_limits(model, random_init=starts_from_random(model, weights))


def number_fields(limits: Limits, model: str) -> dict[str, NumberField]:
    """The form's number widgets, with the limits as their min and max (whole numbers but for the
    learning rate)."""
    fields = {}
    for name, (label, step, text) in _NUMBER_WORDS.items():
        lo, hi = limits.get(name, SEED_RANGE)
        whole = name != "learning_rate"
        card = f"The {MODEL_LABELS[model]} card's range: {lo:g}–{hi:g}."
        fields[name] = NumberField(label, int(lo) if whole else float(lo), int(hi) if whole else float(hi),
                                   step, text.format(card=card), None if whole else "%.1e")
    return fields


def form_values(config: TrainConfig) -> dict[str, Any]:
    """What the form's widgets show for these settings."""
    return {name: getattr(config, name) for name in FORM_FIELDS}


def config_from_form(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None,
                     weights_path: str | None) -> TrainConfig:
    """The run the form describes: the settings it was filled from, with the user's changes.

    A field the user changed is no longer 'recommended'; the subset size (set in the Wizard) stays.
    ConfigError for a setting out of range.
    """
    return _config_and_device_notes(values, dataset, filled_from, weights_path)[0]


def devices_notes(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None) -> list[str]:
    """Under the Devices choice: what a run over several GPUs changes beyond the global batch (the
    learning rate scaled, and why; SyncBatchNorm), so the reason is not lost. Empty on one GPU, or
    while a setting is out of range (the form says so when the run starts)."""
    if int(values.get("devices") or 1) <= 1:
        return []
    try:
        notes = _config_and_device_notes(values, dataset, filled_from, None)[1]
    except ConfigError:
        return []
    return notes[1:]  # the first is the global batch, which batch_caption says per GPU


def _config_and_device_notes(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None,
                             weights_path: str | None) -> tuple[TrainConfig, list[str]]:
    typed = {name: values[name] for name in FORM_FIELDS}
    for name in WHOLE_NUMBERS:
        typed[name] = int(typed[name])
    typed["learning_rate"] = float(typed["learning_rate"])
    base = filled_from if filled_from is not None else TrainConfig(dataset=dataset)
    devices = typed.pop("devices")
    changed = {name: value for name, value in typed.items() if getattr(base, name) != value}
    config = with_overrides(base, {**changed, "dataset": dataset, "devices": 1,
                                   "weights_path": weights_path if typed["weights"] == "file" else None})
    if devices == 1:
        return config, []
    return for_devices(config, devices, None, on_gpu=config.device != "cpu" and hardware.gpu_count() > 1,
                       lr_chosen="learning_rate" in changed)


def device_choices() -> list[int] | None:
    """How many GPUs the form offers to train one run on (1 to all of them), or None where there are
    fewer than two (the choice is then not shown)."""
    count = hardware.gpu_count()
    return list(range(1, count + 1)) if count > 1 else None


def devices_label(devices: int) -> str:
    return "1 GPU" if devices == 1 else f"{devices} GPUs (DDP)"


def batch_caption(batch_size: int, devices: int) -> str:
    """Under the Devices choice: the global batch the per-GPU batch size makes ('' on one GPU)."""
    if devices <= 1:
        return ""
    return f"Per GPU: the global batch is {int(batch_size) * devices} ({batch_size} × {devices} GPUs)."


def weights_file_verdict(path: str, model: str) -> tuple[str | None, str | None]:
    """(what is wrong with the weights file for this model, None) or (None, what it holds)."""
    try:
        return None, check_weights_file(path, model)
    except (ValueError, OSError) as e:  # WeightsError is a ValueError
        return str(e), None


def weights_file_problem(weights: str, weights_path: str | None, file_problem: str | None) -> str | None:
    """Why a run cannot start with these starting weights, or None. file_problem: what reading the
    uploaded file found wrong (already shown under the file)."""
    if weights != "file":
        return None
    if not weights_path:
        return ("Starting weights is set to 'a weights file', but no file is uploaded: upload a .pt or "
                "a .pth file, or choose another starting-weights option.")
    if file_problem:
        name = weights_path.rsplit("/", 1)[-1]
        return (f"Not started: {name} cannot be used as starting weights (see the message under the "
                "file). Upload another file or choose other starting weights.")
    return None


def class_balance_label(choice: str) -> str:
    """How the Class balance selector names a choice (config.CLASS_BALANCE)."""
    return CLASS_BALANCE_LABELS[choice]


def validation_split_size(dataset: str, workspace: Workspace) -> int | None:
    """How many validation images early stopping watches on this dataset (None: it cannot be read).
    Counted again only when the dataset's metadata changes (a new split, an exclusion or a move), so
    a page may ask on every run."""
    return _validation_split_size(str(workspace.root), dataset, _metadata_stamp(dataset, workspace))


def _metadata_stamp(dataset: str, workspace: Workspace) -> tuple:
    # The files directly in the metadata folder (scan, split, label decisions): a few stats, never the images.
    try:
        with os.scandir(get_dataset(dataset, workspace).meta_dir) as entries:
            return tuple(sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_file()))
    except (DatasetError, OSError):
        return ()


@functools.lru_cache(maxsize=32)
def _validation_split_size(root: str, dataset: str, stamp: tuple) -> int | None:
    try:
        return validation_split_images(open_dataset(dataset, Workspace.at(root), registered_only=True))
    except (DatasetError, OSError, ValueError):  # unreadable now: the form keeps the share of the epochs
        return None


def form_patience(epochs: int, val_images: int | None) -> int:
    """The patience that follows edited epochs: the wizard's own rule, with this dataset's validation split."""
    return patience_for(epochs, "balanced", val_images)


def patience_hint(epochs: int, val_images: int | None = None) -> str:
    """'10–20% of 30 epochs: 3–6': the study's share of the epochs, as a caption under patience, with
    the floor and its reason where the share falls below it."""
    lo, hi = study_patience(epochs, "speed"), study_patience(epochs, "accuracy")
    text = f"10–20% of {epochs} epochs: {lo}–{hi}" if lo != hi else f"10–20% of {epochs} epochs: {lo}"
    floor, why = patience_floor(val_images)
    if lo < floor:
        text += f"; at least {floor} evaluations, because {why}"
    return text


def source_caption(plan: TrainConfig | None, dataset: str) -> str:
    """Where the form's settings came from."""
    if plan is None:
        return "Settings from the wizard's defaults — open the Wizard to tailor them."
    where = "" if plan.dataset == dataset else f" (planned for {plan.dataset})"
    return f"Settings from the Wizard{where} — change anything you like."


def subset_note(plan: TrainConfig | None) -> str | None:
    """A caption when the Wizard's plan trains on a subset of the training images."""
    if plan is None or not plan.max_train_images:
        return None
    return f"Trains on a stratified subset of {plan.max_train_images:,} training images (set in the Wizard)."
