"""The Wizard's 'On your earlier datasets': what won on the workspace's other datasets of this kind."""
from __future__ import annotations

from typing import Any

from resnet_core.advice.dataset_profile import DatasetProfile, profile_of
from resnet_core.advice.learned import earlier_advice
from resnet_core.advice.recommend import training_images
from resnet_core.data.registry import get_dataset
from resnet_core.data.scan import DatasetError
from resnet_core.workspace import Workspace


def wizard_earlier(dataset: str | None, num_images: int, num_classes: int, workspace: Workspace, store: Any,
                   recommendation: Any = None) -> dict[str, Any]:
    """earlier_advice for the numbers the Wizard plans with; the kind (image side, channels) comes from
    the selected dataset's images, unknown when the numbers are typed without one."""
    kind = None
    if dataset is not None:
        try:
            kind = profile_of(get_dataset(dataset, workspace))
        except DatasetError:
            kind = None
    profile = DatasetProfile(training_images(num_images), num_classes,
                             kind.median_side if kind else None, kind.channels if kind else None)
    return earlier_advice(profile, workspace, store, exclude=dataset, recommendation=recommendation)


def finding_lines(earlier: dict[str, Any]) -> list[str]:
    """One line a finding, as a sentence of its own."""
    return [f["sentence"][:1].upper() + f["sentence"][1:] for f in earlier["findings"]]
