"""The Wizard page's core: its inputs (from a dataset's scan, the detected hardware, or typed in),
the recommendation for them, and the settings it hands to the Train page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_core.advice import estimate
from resnet_core.advice.measured import MeasuredRanking
from resnet_core.advice.planning import config_from_advice, weights_availability
from resnet_core.advice.recommend import Recommendation, recommend, training_images
from resnet_core.config import TrainConfig
from resnet_core.data.scan import ScanReport
from resnet_core.hardware import Hardware
from resnet_core.text import format_duration, format_rough_duration

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
    median_size: tuple[int, int] | None = None  # the images' median (width, height), from the scan


def dataset_numbers(report: ScanReport) -> dict[str, int]:
    """The scan's numbers the wizard starts from."""
    return {"num_images": report.num_images, "num_classes": len(report.classes),
            "smallest_class": report.smallest_class_count}


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
    where they are on disk (or can be downloaded). The bands count the training split of the
    dataset's images, as planning a run does. Raises RecommendationError for bad inputs."""
    return recommend(
        num_images=training_images(inputs.num_images), dataset_images=inputs.num_images,
        num_classes=inputs.num_classes, gpu_mem_gb=inputs.gpu_mem_gb,
        priority=inputs.priority, task=inputs.task, weights=inputs.weights,
        weights_available=weights_availability(inputs.weights),
        smallest_class=inputs.smallest_class or None, median_size=inputs.median_size)


def train_prefill(rec: Recommendation, weights: str, dataset: str) -> TrainConfig:
    """The settings the Train page starts from (st.session_state[PLAN]): the recommendation's, with
    the weights as the user chose them ('auto' still resolves when training starts) and the dataset."""
    return config_from_advice(rec, dataset, weights=weights)


# What each setting is called in "Why these settings".
WHY_LABELS = {"model": "Model", "weights": "Weights", "batch_size": "Batch size", "epochs": "Epochs",
              "learning_rate": "Learning rate", "augmentation": "Augmentation", "fine_tune": "Fine-tuning",
              "patience": "Patience", "eval_every": "Evaluation", "image_size": "Image size"}


def why_lines(rec: Recommendation) -> list[str]:
    """'**Model** — because …', one per setting the recommendation explains."""
    return [f"**{WHY_LABELS.get(k, k)}** — {text}" for k, text in rec.why.items()]


def measured_rows(ranking: MeasuredRanking, shown: int) -> list[dict[str, Any]]:
    """The best run of each measured configuration, best first, at most `shown` of them."""
    return [{"Run": r.id, "Configuration": r.description, "Test Acc": r.test_acc,
             "Training Time": format_duration(r.train_time_s), "Wizard's pick": r is ranking.pick}
            for r in ranking.runs[:shown]]


@dataclass(frozen=True)
class TimeEstimate:
    """The recommendation's training time on this machine, as the Wizard shows it."""

    metric: str
    help: str
    caption: str


def time_estimate(rec: Recommendation, num_images: int, images_per_s: float, device: Any,
                  training_active: bool) -> TimeEstimate:
    """From the rate measured on `device`: the time for the whole run and what it counts.
    training_active: a run was training meanwhile (the speed may be understated)."""
    probe_batch = estimate.probe_batch_size(rec.batch_size, device, rec.image_size)
    num_train, num_val, num_test = estimate.split_counts(num_images)
    est = estimate.estimate_training_time(rec, num_train, num_val, images_per_s, num_test=num_test)
    help_text = (f"{rec.epochs} epochs over {num_train:,} training images, {est.evaluations} evaluations of "
                 f"{num_val:,} validation images (at about 3× the training speed) and one test pass of "
                 f"{num_test:,}.")
    notes = [f"{est.describe()}.", f"Early stopping (patience {rec.patience}) may end it sooner.",
             "Not counted: reading the images once before the first epoch."]
    if probe_batch != rec.batch_size:
        notes.append(f"Measured with batches of {probe_batch}: on a CPU the speed hardly depends on the batch size.")
    if training_active:
        notes.append("A training run was in progress while measuring, so the speed may be understated.")
    return TimeEstimate(format_rough_duration(est.seconds), help_text, " ".join(notes))


def planned_hardware(inputs: WizardInputs) -> str:
    """'a GPU with 8 GB' or 'a CPU': what the user planned for."""
    return f"a GPU with {inputs.gpu_mem_gb:g} GB" if inputs.gpu_mem_gb is not None else "a CPU"
