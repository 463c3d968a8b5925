"""The learning-rate range test on the user's data, for the leading candidate.

The leading candidate is the race's winner when the Wizard raced this recommendation, else the cards'
pick. The test runs on the dataset's training split decoded at the race's image size (quick, and the
rate that suits a model hardly depends on the image size); the test split is never touched.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.planning import config_from_advice
from resnet_core.advice.race import RACE_IMAGE_SIZE, RaceResult
from resnet_core.advice.recommend import Recommendation, format_number
from resnet_core.config import TrainConfig
from resnet_core.data.handle import open_dataset
from resnet_core.data.prepare import check_classes, check_split, prepare_data
from resnet_core.hardware import resolve_device
from resnet_core.training.callbacks import CancelTraining
from resnet_core.training.lr_range import LRRange, lr_range_test
from resnet_core.workspace import Workspace

RANGE_STEPS = 100
RANGE_START, RANGE_END = 1e-7, 1.0
RANGE_STAGE = "range test"  # the stage name progress reports while the steps run

Progress = Callable[[str, int, int], None]  # (stage: "scanning", "decoding" or RANGE_STAGE, done, total)


@dataclass(frozen=True)
class LRCheck:
    config: TrainConfig  # the configuration tested (its learning rate is the one it was planned with)
    candidate: str  # its name in words: "the race's winner, ..." or "the cards' pick"
    result: LRRange

    def verdict(self) -> str:
        """The suggestion beside the planned rate, in one sentence."""
        planned = format_number(self.config.learning_rate)
        if self.result.suggestion is None:
            return (f"The loss did not fall anywhere in the range tested, so the test suggests no rate; keep "
                    f"{planned} from the cards.")
        suggested = format_number(self.result.suggestion)
        ratio = self.result.suggestion / self.config.learning_rate
        if 1 / 3 <= ratio <= 3:
            return (f"The loss falls fastest near {suggested}, close to the planned {planned}: the planned "
                    "rate suits your data.")
        side = "higher" if ratio > 1 else "lower"
        return (f"The loss falls fastest near {suggested}, {ratio if ratio > 1 else 1 / ratio:.0f}× {side} "
                f"than the planned {planned}; consider a learning rate nearer {suggested}.")

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "planned_rate": self.config.learning_rate,
                **self.result.to_dict(), "verdict": self.verdict()}


def leading_config(rec: Recommendation, dataset: str, race: RaceResult | None = None,
                   device: str = "auto") -> tuple[TrainConfig, str]:
    """The race's winner when there is one, else the cards' pick."""
    if race is not None and race.winning is not None:
        return race.winning.config, f"the race's winner, {race.winning.name}"
    return config_from_advice(rec, dataset, weights=rec.weights, device=device), "the cards' pick"


def lr_check_on_data(dataset: str, workspace: Workspace, rec: Recommendation, *, race: RaceResult | None = None,
                     device: str = "auto", steps: int = RANGE_STEPS,
                     cancel: threading.Event | None = None, progress: Progress | None = None) -> LRCheck:
    """Run the range test on `dataset` for the leading candidate. DataError/DatasetError for a dataset
    that cannot train; CancelTraining once `cancel` is set (checked at each report while the data is
    scanned and decoded, and before every step). `progress` hears (stage, done, total) as it goes."""
    def report(stage: str, done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():
            raise CancelTraining("the learning-rate range test was cancelled")
        if progress is not None:
            progress(stage, done, total)

    handle = open_dataset(dataset, workspace, progress=lambda done, total: report("scanning", done, total))
    check_classes(handle.name, handle.report)
    check_split(handle.name, handle.split)
    device = str(resolve_device(device))
    config, candidate = leading_config(rec, handle.name, race, device)
    config = dataclasses.replace(config, device=device)
    size = min(RACE_IMAGE_SIZE, config.image_size)
    data = prepare_data(dataclasses.replace(config, image_size=size), workspace, progress=report, dataset=handle)
    data = dataclasses.replace(data, test_idx=data.test_idx[:0])  # never look at the test split
    result = lr_range_test(dataclasses.replace(config, image_size=size), data, steps=steps,
                           start=RANGE_START, end=RANGE_END, cancel=cancel,
                           on_step=lambda done, total: report(RANGE_STAGE, done, total))
    return LRCheck(config, candidate, result)
