"""The Study page's plan as plain data: the dataset's split counts, the inputs checked and planned,
the plan in numbers and rows, its time estimate in words, and the labels of saved studies.

No Streamlit: the page reads its widgets into StudyInputs, calls these, and draws what they return.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_core.advice import estimate
from resnet_core.advice.planning import weights_availability
from resnet_core.config import LIMITS, MODEL_LABELS
from resnet_core.data.registry import dataset_report, get_dataset
from resnet_core.data.splits import get_split
from resnet_core.status import RunStatus
from resnet_core.study.plan import StudyPlan, plan_study
from resnet_core.study.run import StudyEstimate, estimate_study_time
from resnet_core.text import format_rough_duration
from resnet_core.workspace import Workspace

# ----- the dataset -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitCounts:
    """Images in the dataset's saved split: every study size is a subset of `train`."""

    train: int
    val: int
    test: int
    classes: int

    def text(self) -> str:
        return (f"{self.train:,} training · {self.val:,} validation · {self.test:,} test images in "
                f"{self.classes} classes. Every run is scored on the same test images.")


def split_counts(dataset: str, workspace: Workspace) -> SplitCounts:
    """Raises DatasetError (a ValueError) when the dataset cannot be read."""
    info = get_dataset(dataset, workspace)
    split = get_split(info, dataset_report(info))
    return SplitCounts(len(split.train), len(split.val), len(split.test), len(split.classes))


# ----- the inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyInputs:
    """What the user asked for: plan_study's arguments, hashable so a page can keep its plan."""

    dataset: str
    sizes: tuple[int, ...]
    models: tuple[str, ...]
    augmentations: tuple[str, ...]
    include_frozen_random: bool
    weights: str
    overrides: tuple[tuple[str, Any], ...]  # (setting, value) of the overrides given, sorted


@dataclass(frozen=True)
class OverrideInput:
    """A number box for one of the wizard's settings a study may override, within the config's limits."""

    name: str
    label: str
    step: float
    format: str | None = None

    @property
    def low(self) -> int | float:
        return _number_like(LIMITS[self.name][0], self.step)

    @property
    def high(self) -> int | float:
        return _number_like(LIMITS[self.name][1], self.step)


def _number_like(value: float, step: float) -> int | float:
    # Streamlit's number box wants its bounds of the same type as its step.
    return float(value) if isinstance(step, float) else int(value)


OVERRIDE_INPUTS = (OverrideInput("epochs", "Epochs", 1), OverrideInput("batch_size", "Batch size", 1),
                   OverrideInput("learning_rate", "Learning rate", 1e-5, "%.1e"),
                   OverrideInput("image_size", "Image size (px)", 16))


def study_inputs(dataset: str, sizes: Sequence[Any], models: Sequence[str], augmentations: Sequence[str],
                 include_frozen_random: bool, weights: str,
                 overrides: Mapping[str, Any]) -> StudyInputs | str:
    """The inputs to plan, or what is missing (a sentence for the user)."""
    if not sizes:
        return "Pick at least one training-set size."
    if not models or not augmentations:
        return f"Pick at least one {'depth' if not models else 'augmentation'}."
    return StudyInputs(dataset, tuple(int(s) for s in sizes), tuple(models), tuple(augmentations),
                       bool(include_frozen_random), weights,
                       tuple(sorted((k, v) for k, v in overrides.items() if v is not None)))


def random_start_models(models: Sequence[str], weights: str) -> list[str]:
    """Labels of the chosen depths that would start from random weights here."""
    available = weights_availability(weights)
    return [MODEL_LABELS[m] for m in models if not available.get(m, False)]


def plan_for(inputs: StudyInputs, workspace: Workspace) -> tuple[StudyPlan | None, str | None]:
    """(the plan, None), or (None, why it cannot be planned) in words for the user."""
    try:
        return plan_study(inputs.dataset, inputs.sizes, models=inputs.models,
                          augmentations=inputs.augmentations,
                          include_frozen_random=inputs.include_frozen_random,
                          overrides=dict(inputs.overrides), workspace=workspace, weights=inputs.weights), None
    except ValueError as e:  # StudyError and the config's own range errors
        return None, f"Cannot plan this study: {e}"
    except Exception as e:  # a bug: no traceback for the user
        return None, f"Cannot plan this study: unexpected {type(e).__name__}: {e}."


# ----- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanNumbers:
    runs: int
    per_size: int  # configurations per size
    sizes: int
    done: int  # configurations with a completed run already

    @property
    def all_done(self) -> bool:
        return self.done == self.runs

    def launch_caption(self) -> str | None:
        """What Launch will do, under its button."""
        if 0 < self.done < self.runs:
            return (f"{self.done} of {self.runs} configurations are done already: Launch runs only the other "
                    f"{self.runs - self.done}, so a stopped study resumes where it was.")
        if not self.done:
            return ("Runs queue in the background: you can leave this page and come back. Launching the same "
                    "plan again never repeats a finished configuration.")
        return None


def plan_numbers(plan: StudyPlan, cells: Sequence[Any]) -> PlanNumbers:
    """cells: study_view.study_cells of the plan."""
    done = sum(1 for c in cells if c.status == RunStatus.COMPLETED)
    return PlanNumbers(len(plan.entries), len(plan.entries) // max(1, len(plan.sizes)), len(plan.sizes), done)


def plan_rows(plan: StudyPlan, cells: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per run of the plan with its settings and where it stands."""
    return [{"Training images": e.num_images, "Configuration": e.description, "Epochs": e.config.epochs,
             "Batch size": e.config.batch_size, "Learning rate": e.config.learning_rate,
             "Augmentation": e.config.augmentation, "Image size": e.config.image_size,
             "Status": c.text} for e, c in zip(plan.entries, cells)]


def configs_to_run(plan: StudyPlan, cells: Sequence[Any]) -> list[Any]:
    """The TrainConfigs of the configurations not completed yet."""
    return [e.config for e, c in zip(plan.entries, cells) if c.status != RunStatus.COMPLETED]


def measure_prompt(decision: estimate.ProbeDecision) -> str:
    return (f"Training time: measured on request, by a few training steps of each of the "
            f"{len(decision.probes)} settings here (seconds to a minute on a CPU).")


@dataclass(frozen=True)
class EstimateWords:
    metric: str  # the metric's value
    caption: str  # what it counts and leaves out


def estimate_words(est: StudyEstimate, training_active: bool) -> EstimateWords:
    """The study's time estimate as the page shows it; training_active: another run was training
    while measuring (so the speed may be understated)."""
    words = format_rough_duration(est.seconds)
    notes = [f"Estimated time: at most {words} for the {est.remaining} configuration(s) still to run, at the "
             "speed measured on this machine. An upper bound: every run is counted to its last epoch, and "
             "early stopping usually ends runs sooner.", "Not counted: reading the images once per run."]
    if est.devices > 1:
        notes.append(f"{est.devices} GPUs each train one configuration at a time, so that many run at once.")
    if training_active:
        notes.append("Training was in progress while measuring, so the speed may be understated.")
    return EstimateWords("< 1 min" if est.seconds < 60 else words, " ".join(notes))


def cached_estimates(plan: StudyPlan) -> tuple[float, ...] | None:
    """Seconds per entry from rates measured earlier in this process (never probes: pages call this
    on every poll); None when a setting was not measured yet."""
    rates = {}
    for e in plan.entries:
        key = estimate.probe_key(e.config)
        rate = estimate.cached_throughput(*key)
        if rate is None:
            return None
        rates[key[:4]] = rate
    try:
        est = estimate_study_time(plan, lambda c: rates[(c.model, c.batch_size, c.image_size, c.fine_tune)])
    except ValueError:
        return None
    return est.per_entry


# ----- saved studies -----------------------------------------------------------------------------


def pick_words(pick: Mapping[str, Any]) -> str:
    """'ResNet18 + fine-tuning + heavy augmentation (measured here as ResNet18 + fine-tuning + augmentation)'."""
    closest = "" if pick["config"] == pick["wizard"] else f" (measured here as {pick['config']})"
    return f"{pick['wizard']}{closest}"


def same_pick_everywhere(plan: StudyPlan) -> str | None:
    """The wizard's pick in words when it is the same at every size, else None."""
    words = {pick_words(p) for p in plan.wizard_picks.values()}
    return words.pop() if len(words) == 1 else None


def study_label(plan: StudyPlan, cells: Sequence[Any]) -> str:
    """'tiny: 4 configurations at 12, 24 training images · 2 epochs, 32 px · 8/8 done · planned …':
    the settings tell apart studies of the same sizes."""
    done = sum(1 for c in cells if c.status == RunStatus.COMPLETED)
    epochs = sorted({e.config.epochs for e in plan.entries})
    pixels = sorted({e.config.image_size for e in plan.entries})
    span = f"{epochs[0]}–{epochs[-1]} epochs" if len(epochs) > 1 else f"{epochs[0]} epoch{'s' * (epochs[0] != 1)}"
    settings = f"{span}, {'/'.join(map(str, pixels))} px"
    when = plan.created[:16].replace("T", " ") if plan.created else ""
    return f"{plan.name} · {settings} · {done}/{len(cells)} done" + (f" · planned {when}" if when else "")
