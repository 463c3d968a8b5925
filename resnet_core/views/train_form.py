"""The Train page's form as plain data: its fields, their limits, the values it starts from, and the
TrainConfig it hands to the job manager.

The form starts from a TrainConfig (the Wizard's plan, or the wizard's defaults for the dataset) and
ends as one; in between its values live in widgets. A field the user leaves as it was filled stays
'recommended'.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_core.advice.limits import Limits, setting_limits
from resnet_core.advice.planning import weights_availability, with_overrides
from resnet_core.advice.recommend import patience_for
from resnet_core.config import TrainConfig

# The form's fields (TrainConfig names), in the order the page draws them.
FORM_FIELDS = ("model", "weights", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate",
               "patience", "eval_every", "image_size", "seed", "device")
WHOLE_NUMBERS = ("epochs", "batch_size", "patience", "eval_every", "image_size", "seed")


def starts_from_random(model: str, weights: str) -> bool:
    """Will this model start without ImageNet weights ('auto' falls back when they are missing)?"""
    return weights == "none" or (weights == "auto" and not weights_availability("auto").get(model, False))


def form_limits(model: str, weights: str) -> Limits:
    """Each number field's min and max: the model card's ranges (wider from random initialisation),
    config.LIMITS for the others."""
    return setting_limits(model, random_init=starts_from_random(model, weights))


def form_values(config: TrainConfig) -> dict[str, Any]:
    """What the form's widgets show for these settings."""
    return {name: getattr(config, name) for name in FORM_FIELDS}


def config_from_form(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None,
                     weights_path: str | None) -> TrainConfig:
    """The run the form describes: the settings it was filled from, with the user's changes.

    A field the user changed is no longer 'recommended'; the subset size (set in the Wizard) stays.
    ConfigError for a setting out of range.
    """
    typed = {name: values[name] for name in FORM_FIELDS}
    for name in WHOLE_NUMBERS:
        typed[name] = int(typed[name])
    typed["learning_rate"] = float(typed["learning_rate"])
    base = filled_from if filled_from is not None else TrainConfig(dataset=dataset)
    changed = {name: value for name, value in typed.items() if getattr(base, name) != value}
    return with_overrides(base, {**changed, "dataset": dataset,
                                 "weights_path": weights_path if typed["weights"] == "file" else None})


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


def patience_hint(epochs: int) -> str:
    """'10–20% of 30 epochs: 3–6': the study's share of the epochs, as a caption under patience."""
    lo, hi = patience_for(epochs, "speed"), patience_for(epochs, "accuracy")
    return f"10–20% of {epochs} epochs: {lo}–{hi}" if lo != hi else f"10–20% of {epochs} epochs: {lo}"


def subset_note(plan: TrainConfig | None) -> str | None:
    """A caption when the Wizard's plan trains on a subset of the training images."""
    if plan is None or not plan.max_train_images:
        return None
    return f"Trains on a stratified subset of {plan.max_train_images:,} training images (set in the Wizard)."
