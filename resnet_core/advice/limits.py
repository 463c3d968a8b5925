"""The ranges a training setting may take: config.LIMITS narrowed by the model cards, checked here only.

config.LIMITS are the widest ranges any run accepts (TrainConfig refuses values outside them). Each
model card narrows batch size, epochs and learning rate for its model. The cards' ranges are
fine-tuning ranges for ImageNet weights: from random initialisation the learning rate may go up to
1e-3 (the usual AdamW rate from scratch, above the ResNet-50 and ResNet-101 ranges) and the epochs to
twice the card's maximum.

The wizard keeps its picks inside these ranges, a plan warns about a chosen value outside them, and
the Train page takes them as its widgets' min and max, bringing a value inside before drawing.
"""
from __future__ import annotations

from collections.abc import Mapping

from resnet_core.advice.model_cards import card
from resnet_core.config import LIMITS, MODEL_LABELS, TrainConfig

RANDOM_INIT_LR = 1e-3  # AdamW from scratch; the cards' rates are for fine-tuning
RANDOM_INIT_EPOCH_FACTOR = 2
CARD_FIELDS = ("batch_size", "epochs", "learning_rate")  # the ones a model card narrows
NUMBER_FIELDS = ("epochs", "batch_size", "learning_rate", "patience", "eval_every", "image_size")
FIELD_LABELS = {"epochs": "Epochs", "batch_size": "Batch size", "learning_rate": "Learning rate",
                "patience": "Patience", "eval_every": "Evaluate every", "image_size": "Image size"}

Limits = dict[str, tuple[float, float]]


def card_limits(model: str, random_init: bool = False) -> Limits:
    """The card's ranges: batch_size, epochs and learning_rate as (min, max).

    With random_init the cards' fine-tuning ranges are widened: learning rate up to 1e-3 (the
    from-scratch rate the wizard uses) and epochs up to twice the card's maximum.
    """
    c = card(model)
    lr_lo, lr_hi = c.learning_rate_range
    ep_lo, ep_hi = c.epochs_range
    if random_init:
        lr_hi = max(lr_hi, RANDOM_INIT_LR)
        ep_hi = min(LIMITS["epochs"][1], ep_hi * RANDOM_INIT_EPOCH_FACTOR)
    return {"batch_size": c.batch_size_range, "epochs": (ep_lo, ep_hi), "learning_rate": (lr_lo, lr_hi)}


def setting_limits(model: str, random_init: bool = False) -> Limits:
    """Every numeric setting's range for this model: the card's where it gives one, else config.LIMITS."""
    return {**LIMITS, **card_limits(model, random_init=random_init)}


def outside_card_limits(config: TrainConfig, limits: Mapping[str, tuple[float, float]]) -> list[str]:
    """A warning for each setting of the config outside the given card ranges."""
    out = []
    for name, (lo, hi) in limits.items():
        value = getattr(config, name)
        if not lo <= value <= hi:
            out.append(f"{name.replace('_', ' ')} {value:g} is outside the {config.describe().split(' ')[0]} "
                       f"card's range {lo:g}–{hi:g}.")
    return out


def clamp_to_limits(values: Mapping[str, float | None], limits: Mapping[str, tuple[float, float]],
                    model: str) -> tuple[dict[str, float | int], list[str]]:
    """The values that must change to lie inside the limits (learning rate a float, the rest whole
    numbers), and a sentence for each saying what changed. Missing (None) values are left alone."""
    changed: dict[str, float | int] = {}
    messages = []
    for name in NUMBER_FIELDS:
        value, (lo, hi) = values.get(name), limits[name]
        if value is None or lo <= value <= hi:
            continue
        new = min(max(value, lo), hi)
        source = "the ResNet model card's" if name in CARD_FIELDS else "the"
        messages.append(f"{FIELD_LABELS[name]} {value:g} is outside {source} range for "
                        f"{MODEL_LABELS[model]} ({lo:g}–{hi:g}); set to {new:g}.")
        changed[name] = new if name == "learning_rate" else int(new)
    return changed, messages
