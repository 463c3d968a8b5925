"""One rule for "the wizard's pick", used by the Wizard (what measured runs say) and the Study page.

A run is the wizard's pick only when its settings are the recommendation's: the same depth and
fine-tuning, augmentation on or off as advised (a study measures one 'with augmentation' where the
cards may say light or heavy, so that stands in, after an exact match), and none of the settings the
wizard tunes was overridden, by hand on the Train page or by a study's overrides (each is still
listed in TrainConfig.recommended).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# What the wizard sets for a dataset size and depth; the depth, fine-tuning and augmentation are
# compared by value instead, because a study sets those itself.
TUNED_SETTINGS = ("epochs", "batch_size", "learning_rate", "patience", "eval_every", "image_size")


@dataclass(frozen=True)
class Advice:
    """The configuration the wizard advised, as a study plan records it per size."""

    model: str
    fine_tune: bool
    augmentation: str


def overridden_settings(config: Any) -> tuple[str, ...]:
    """The tuned settings of a TrainConfig that did not come from the wizard."""
    return tuple(name for name in TUNED_SETTINGS if name not in config.recommended)


def is_wizard_pick(config: Any, advice: Any) -> bool:
    """True when a run with this TrainConfig is the wizard's pick for `advice` (anything with model,
    fine_tune and augmentation: a Recommendation, an Advice, a TrainConfig)."""
    if config is None or advice is None:
        return False
    return (config.model == advice.model and config.fine_tune == advice.fine_tune
            and (config.augmentation == "none") == (advice.augmentation == "none")
            and not overridden_settings(config))


def wizard_pick_run(runs: Iterable[Any], advice: Any) -> Any | None:
    """The run (anything with .config) that stands for the wizard's pick: the first of `runs` (give
    them best first) that is the pick with exactly the advised augmentation, else the first that is
    the pick with a stand-in; None when no run is."""
    picks = [r for r in runs if is_wizard_pick(r.config, advice)]
    exact = [r for r in picks if r.config.augmentation == advice.augmentation]
    return (exact or picks or [None])[0]
