"""The Wizard page's core: its inputs (from a dataset's scan, the detected hardware, or typed in),
the recommendation for them, and the settings it hands to the Train page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_core.advice.planning import weights_availability
from resnet_core.advice.recommend import Recommendation, recommend
from resnet_core.config import TrainConfig
from resnet_core.data.scan import ScanReport
from resnet_core.hardware import Hardware

DEFAULT_GPU_MEM_GB = 8.0  # what the GPU field shows when this machine has none to read


@dataclass(frozen=True)
class WizardInputs:
    num_images: int
    num_classes: int
    smallest_class: int | None
    gpu_mem_gb: float | None  # None: plan for CPU
    priority: str = "balanced"
    task: str = "simple"
    weights: str = "auto"  # auto | imagenet | none
    largest_class: int | None = None  # with smallest_class, decides class weighting


def dataset_numbers(report: ScanReport) -> dict[str, int]:
    """The scan's numbers the wizard starts from."""
    return {"num_images": report.num_images, "num_classes": len(report.classes),
            "smallest_class": report.smallest_class_count,
            "largest_class": max(report.counts.values(), default=0)}


def hardware_defaults(hw: Hardware) -> tuple[str, float]:
    """('GPU' or 'CPU', GPU memory in GB to show) for this machine."""
    if hw.gpu_mem_gb is not None:
        return "GPU", float(hw.gpu_mem_gb)
    return "CPU", DEFAULT_GPU_MEM_GB


def plans_other_hardware(inputs: WizardInputs, hw: Hardware) -> bool:
    """True when the plan is for a machine unlike this one (so its time estimate is for this one)."""
    here = hw.gpu_mem_gb
    if (inputs.gpu_mem_gb is None) != (here is None):
        return True
    return here is not None and abs(inputs.gpu_mem_gb - here) > 0.5


def recommend_for(inputs: WizardInputs) -> Recommendation:
    """The model cards' advice for these inputs; weights 'auto' counts on ImageNet weights only
    where they are on disk (or can be downloaded). Raises RecommendationError for bad inputs."""
    return recommend(
        num_images=inputs.num_images, num_classes=inputs.num_classes, gpu_mem_gb=inputs.gpu_mem_gb,
        priority=inputs.priority, task=inputs.task, weights=inputs.weights,
        weights_available=weights_availability(inputs.weights),
        smallest_class=inputs.smallest_class or None, largest_class=inputs.largest_class or None)


def train_prefill(rec: Recommendation, weights: str, dataset: str) -> dict[str, Any]:
    """The TrainConfig fields for the Train page (st.session_state[PLAN]): the recommendation's
    settings, the weights as the user chose them ('auto' still resolves when training starts) and
    the dataset. Validated by building the TrainConfig, so the Train page gets no surprises."""
    settings = rec.train_settings()
    settings["weights"] = weights
    settings["recommended"] = tuple(k for k in settings["recommended"] if k != "weights")
    return TrainConfig(dataset=dataset, **settings).to_dict()
