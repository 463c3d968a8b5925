"""'Check on my data': the race among the cards' candidates, set up for one dataset and this machine.

Opens the dataset once, decodes it at the race's image size, sizes the budget from the recommended
run's estimated time (DEFAULT_BUDGET_SHARE of it unless the user gives one) and runs the race. The
Wizard page and `recommend --race` both call `check_on_data`.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.dataset_profile import profile_of_report
from resnet_core.advice.estimate import estimate_training_time, probe_throughput
from resnet_core.advice.race import (
    DEFAULT_BUDGET_SHARE,
    RACE_IMAGE_SIZE,
    Progress,
    RaceCancelled,
    RaceResult,
    budget_words,
    race_candidates,
    run_race,
)
from resnet_core.advice.race_records import save_race
from resnet_core.advice.recommend import Recommendation
from resnet_core.data.handle import open_dataset
from resnet_core.data.prepare import check_classes, check_split, prepare_data
from resnet_core.hardware import resolve_device
from resnet_core.workspace import Workspace

MIN_BUDGET_S = 30.0  # below this the race cannot finish one round on most machines


@dataclass
class RaceCheck:
    result: RaceResult
    recommended_s: float | None  # the recommended run's estimated seconds here (None: not measured)
    budget_text: str
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "recommended_run_s": self.recommended_s, "budget": self.budget_text,
                "verdict": self.verdict}


def recommended_run_seconds(rec: Recommendation, num_train: int, num_val: int, num_test: int,
                            device: str) -> float:
    """The recommended run's time here, from a short measured probe of its model and settings."""
    rate = probe_throughput(rec.model, rec.batch_size, rec.image_size, rec.fine_tune, device)
    return estimate_training_time(rec, num_train, num_val, rate, num_test=num_test).seconds


def default_budget_s(recommended_s: float) -> float:
    return max(MIN_BUDGET_S, DEFAULT_BUDGET_SHARE * recommended_s)


def check_on_data(dataset: str, workspace: Workspace, rec: Recommendation, *, budget_s: float | None = None,
                  device: str = "auto", weights_available: bool | Mapping[str, bool] = True,
                  cancel: threading.Event | None = None, progress: Progress | None = None,
                  on_prepare: Callable[[str, int, int], None] | None = None,
                  on_budget: Callable[[str], None] | None = None) -> RaceCheck:
    """Race the cards' candidates on `dataset`. DataError/DatasetError for a dataset that cannot train;
    RaceCancelled on cancel (with what was measured). `on_prepare` hears (stage: "scanning" or
    "decoding", done, total) while the images are read; an exception it raises stops the check.
    `on_budget` hears the budget in words once it is settled, before the first trial."""
    scan_progress = (lambda done, total: on_prepare("scanning", done, total)) if on_prepare else None
    handle = open_dataset(dataset, workspace, progress=scan_progress)
    check_classes(handle.name, handle.report)
    check_split(handle.name, handle.split)
    device = str(resolve_device(device))
    candidates = race_candidates(rec, handle.name, weights_available, device=device)
    size = min(RACE_IMAGE_SIZE, rec.image_size)
    data = prepare_data(dataclasses.replace(candidates[0].config, image_size=size), workspace,
                        progress=on_prepare, dataset=handle)
    recommended_s = None
    if budget_s is None:
        recommended_s = recommended_run_seconds(rec, len(handle.split.train), len(handle.split.val),
                                                len(handle.split.test), device)
        budget_s = default_budget_s(recommended_s)
    rate = probe_throughput(rec.model, rec.batch_size, size, rec.fine_tune, device)
    budget_text = budget_words(budget_s, recommended_s)
    if on_budget is not None:
        on_budget(budget_text)
    profile = profile_of_report(handle.report).at_size(len(handle.split.train))  # the split's real count
    try:
        result = run_race(candidates, data, budget_s, images_per_s=rate, cancel=cancel, progress=progress)
    except RaceCancelled as stopped:
        save_race(workspace, handle.name, profile, stopped.result, complete=False)
        raise
    save_race(workspace, handle.name, profile, result, complete=True)
    return RaceCheck(result, recommended_s, budget_text, result.verdict(candidates[0].key))
