"""The Wizard page's core: its inputs (from a dataset's scan, the detected hardware, or typed in),
the recommendation for them, and the settings it hands to the Train page."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_core.advice import estimate
from resnet_core.advice.cpu_speed import CpuSpeed, largest_batch, load_cpu_speeds, machine_key, speed_for
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


def recommend_for(inputs: WizardInputs, cpu_speeds: Sequence[CpuSpeed] = ()) -> Recommendation:
    """The model cards' advice for these inputs; weights 'auto' counts on ImageNet weights only
    where they are on disk (or can be downloaded). The bands count the training split of the
    dataset's images, as planning a run does. cpu_speeds: what this CPU measured (cpu_speeds_here),
    which a CPU plan's batch and image size follow. Raises RecommendationError for bad inputs."""
    return recommend(
        num_images=training_images(inputs.num_images), dataset_images=inputs.num_images,
        num_classes=inputs.num_classes, gpu_mem_gb=inputs.gpu_mem_gb,
        priority=inputs.priority, task=inputs.task, weights=inputs.weights,
        weights_available=weights_availability(inputs.weights),
        smallest_class=inputs.smallest_class or None, median_size=inputs.median_size,
        largest_class=inputs.largest_class or None, cpu_speeds=cpu_speeds)


def cpu_machine(inputs: WizardInputs, hw: Hardware) -> str | None:
    """This machine's key for CPU measurements when the plan is for a CPU and this machine trains on
    one (a measurement here says nothing about another machine); None otherwise."""
    if inputs.gpu_mem_gb is not None or hw.device != "cpu":
        return None
    return machine_key(hw.cpu_count, hw.torch_threads)


def cpu_speeds_here(inputs: WizardInputs, hw: Hardware, workspace_root: str | Path) -> list[CpuSpeed]:
    """The CPU measurements the plan may follow: this machine's, for a CPU plan (else none)."""
    machine = cpu_machine(inputs, hw)
    return [] if machine is None else load_cpu_speeds(workspace_root, machine)


@dataclass(frozen=True)
class CpuProbePlan:
    """What 'Measure batch and image sizes' times: the model at the cards' batch and image size."""

    model: str
    card_batch: int
    card_size: int
    max_batch: int
    measured: CpuSpeed | None  # this model's earlier measurement here, if any


def cpu_probe_plan(card_rec: Recommendation, speeds: Sequence[CpuSpeed]) -> CpuProbePlan:
    """From the cards' recommendation alone (without the measurement, which may have changed them)."""
    return CpuProbePlan(card_rec.model, card_rec.batch_size, card_rec.image_size,
                        largest_batch(card_rec.model, card_rec.num_images, card_rec.weights == "imagenet"),
                        speed_for(speeds, card_rec.model))


def train_prefill(rec: Recommendation, weights: str, dataset: str) -> TrainConfig:
    """The settings the Train page starts from (st.session_state[PLAN]): the recommendation's, with
    the weights as the user chose them ('auto' still resolves when training starts) and the dataset."""
    return config_from_advice(rec, dataset, weights=weights)


# What each setting is called in "Why these settings".
WHY_LABELS = {"model": "Model", "weights": "Weights", "batch_size": "Batch size", "epochs": "Epochs",
              "learning_rate": "Learning rate", "augmentation": "Augmentation", "fine_tune": "Fine-tuning",
              "patience": "Patience", "eval_every": "Evaluation", "image_size": "Image size"}


def why_lines(rec: Recommendation) -> list[str]:
    """'**Model** — because …', one per setting the recommendation explains, then the class balance."""
    return [*(f"**{WHY_LABELS.get(k, k)}** — {text}" for k, text in rec.why.items()),
            f"**Class balance** — {rec.class_balance_reason}"]


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
                  training_active: bool, exact_batch: bool = False) -> TimeEstimate:
    """From the rate measured on `device`: the time for the whole run and what it counts.
    training_active: a run was training meanwhile (the speed may be understated). exact_batch: the
    rate was measured at the plan's own batch size (a CPU measurement), not the probe's."""
    probe_batch = rec.batch_size if exact_batch else estimate.probe_batch_size(rec.batch_size, device, rec.image_size)
    num_train, num_val, num_test = estimate.split_counts(num_images)
    est = estimate.estimate_training_time(rec, num_train, num_val, images_per_s, num_test=num_test)
    help_text = (f"{rec.epochs} epochs over {num_train:,} training images, {est.evaluations} evaluations of "
                 f"{num_val:,} validation images (at about 3× the training speed) and one test pass of "
                 f"{num_test:,}.")
    notes = [f"{est.describe()}.", f"Early stopping (patience {rec.patience}) may end it sooner.",
             "Not counted: reading the images once before the first epoch."]
    if exact_batch:
        notes.append(f"Measured here with the plan's batches of {rec.batch_size} at {rec.image_size} px.")
    elif probe_batch != rec.batch_size:
        notes.append(f"Measured with batches of {probe_batch} to keep the measurement short; a CPU can run a "
                     f"batch of {rec.batch_size} faster or slower per image, so measure batch sizes here to "
                     "know.")
    if training_active:
        notes.append("A training run was in progress while measuring, so the speed may be understated.")
    return TimeEstimate(format_rough_duration(est.seconds), help_text, " ".join(notes))


def planned_hardware(inputs: WizardInputs) -> str:
    """'a GPU with 8 GB' or 'a CPU': what the user planned for."""
    return f"a GPU with {inputs.gpu_mem_gb:g} GB" if inputs.gpu_mem_gb is not None else "a CPU"
