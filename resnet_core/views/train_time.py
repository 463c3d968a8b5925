"""The Train page's time estimate for the settings in its form, from the speed measured on this machine.

Reads only rates measured earlier in this process (by the Wizard, the Study page or the page's own
"Estimate the time" button): the page redraws on every edit, and a probe on each would stall it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resnet_core.advice import estimate
from resnet_core.config import ConfigError, TrainConfig
from resnet_core.text import format_rough_duration
from resnet_core.views.study_plan_view import SplitCounts
from resnet_core.views.train_form import config_from_form


@dataclass(frozen=True)
class TrainTime:
    """What the page shows under the settings: the estimate, or a way to measure the speed first."""

    probe: tuple  # probe_throughput's arguments for these settings
    line: str | None  # None until the speed for these settings is measured

    @property
    def ask_first(self) -> bool:
        return self.line is None


def form_config(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None) -> TrainConfig | None:
    """The run the form describes, or None while a setting is out of range (the form says so on Start)."""
    try:  # Devices is a widget only with two GPUs or more
        return config_from_form({**values, "devices": values.get("devices") or 1}, dataset, filled_from, None)
    except (ConfigError, TypeError):  # TypeError: a number box left empty
        return None


def train_time(config: TrainConfig, counts: SplitCounts) -> TrainTime:
    """The estimate for this run from a rate measured earlier in this process; never probes."""
    probe = estimate.probe_key(config)
    rate = estimate.cached_throughput(*probe)
    return TrainTime(probe, None if rate is None else time_line(config, counts, rate))


def time_line(config: TrainConfig, counts: SplitCounts, images_per_s: float) -> str:
    """'About 3 min on this machine, from the measured speed (180 images/s): …' for a whole run."""
    num_train = min(counts.train, config.max_train_images or counts.train)
    est = estimate.estimate_training_time(config, num_train, counts.val, images_per_s, num_test=counts.test)
    words = format_rough_duration(est.seconds)
    words = words[0].upper() + words[1:] if words.startswith("under") else f"About {words}"
    line = (f"{words} on this machine, from the measured speed ({estimate.format_rate(images_per_s)} "
            f"images/s): {est.epochs} epochs over {num_train:,} training images and {est.evaluations} "
            f"evaluations. Early stopping (patience {config.patience}) may end it sooner; reading the images "
            "once before the first epoch is not counted.")
    if config.devices > 1:
        line += f" Measured on one device; over {config.devices} it should take less."
    return line
