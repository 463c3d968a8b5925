"""Planning a cost-performance study on the user's own data: every configuration at every size.

As in the reference study, each size trains ResNet depth × fine-tuning or frozen backbone × with or
without augmentation, on nested stratified subsets of the dataset's training split, and every run is
scored on the same test split. Epochs, batch size and learning rate are the wizard's for each size
and depth unless the user overrides them; early stopping watches validation loss.

A study is recorded as a small JSON file (workspace/studies/<id>.json) so pages and commands can find
it again. Running it is run.py; its tables and conclusion are summary.py.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_core.advice.planning import plan_training
from resnet_core.advice.wizard_pick import Advice
from resnet_core.config import AUGMENTATIONS, MODELS, TrainConfig, describe_config
from resnet_core.data.handle import DatasetHandle, open_dataset
from resnet_core.data.registry import now_iso
from resnet_core.data.scan import DatasetError
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.hardware import detect_hardware
from resnet_core.training.models import WeightsError
from resnet_core.training.weights import resolve_weights
from resnet_core.workspace import Workspace

# The reference study's sizes (training images) and grid.
STUDY_SIZES = (833, 2280, 19104)
STUDY_MODELS = ("resnet18", "resnet50")
STUDY_AUGMENTATIONS = ("none", "standard")
# The study's axes: set by the study itself, never by overrides.
STUDY_AXES = ("dataset", "model", "fine_tune", "augmentation", "max_train_images")
# Settings a study may override (the rest of TrainConfig comes from the wizard).
OVERRIDABLE = ("epochs", "batch_size", "learning_rate", "weight_decay", "schedule", "patience",
               "eval_every", "image_size")
_VERSION = 1


class StudyError(ValueError):
    """The study cannot be planned or found as asked; the message says what to change."""


# ----- the plan ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyEntry:
    """One configuration at one size: a complete TrainConfig."""

    num_images: int  # training images (the config's max_train_images)
    config: TrainConfig

    @property
    def description(self) -> str:
        return self.config.describe()

    @property
    def key(self) -> str:
        return config_key(self.config)


@dataclass(frozen=True)
class StudyPlan:
    study_id: str
    name: str
    dataset: str
    sizes: tuple[int, ...]  # training images per size, smallest first
    entries: tuple[StudyEntry, ...]  # run order: size, then the study's row order
    num_val: int
    num_test: int
    num_train_available: int
    left_out: tuple[str, ...] = ()  # configuration descriptions left out, with the reason in notes
    notes: tuple[str, ...] = ()
    wizard_picks: dict[int, dict[str, Any]] = field(default_factory=dict)  # size -> see _wizard_pick
    created: str = ""

    def entries_for(self, size: int) -> list[StudyEntry]:
        return [e for e in self.entries if e.num_images == size]

    def wizard_pick_names(self) -> dict[int, str]:
        """Per size, the study configuration the wizard would pick (closest one in the grid)."""
        return {size: pick["config"] for size, pick in self.wizard_picks.items()}

    def wizard_advice(self, size: int) -> Advice | None:
        """What the wizard alone would train at this size (depth, fine-tuning, augmentation)."""
        pick = self.wizard_picks.get(size)
        if not pick:
            return None
        if "model" in pick:
            return Advice(pick["model"], bool(pick["fine_tune"]), pick["augmentation"])
        # Plans saved before the advice was recorded: the grid configuration that stood in for it.
        entry = next((e for e in self.entries_for(size) if e.description == pick["config"]), None)
        return None if entry is None else Advice(entry.config.model, entry.config.fine_tune,
                                                 entry.config.augmentation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _VERSION, "study_id": self.study_id, "name": self.name, "dataset": self.dataset,
            "sizes": list(self.sizes), "num_val": self.num_val, "num_test": self.num_test,
            "num_train_available": self.num_train_available, "left_out": list(self.left_out),
            "notes": list(self.notes), "created": self.created,
            "wizard_picks": {str(k): v for k, v in self.wizard_picks.items()},
            "entries": [{"num_images": e.num_images, "description": e.description,
                         "config": e.config.to_dict()} for e in self.entries],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudyPlan":
        return cls(
            study_id=str(d["study_id"]), name=str(d.get("name", d["study_id"])),
            dataset=str(d["dataset"]), sizes=tuple(int(s) for s in d["sizes"]),
            entries=tuple(StudyEntry(int(e["num_images"]), TrainConfig.from_dict(e["config"]))
                          for e in d["entries"]),
            num_val=int(d.get("num_val", 0)), num_test=int(d.get("num_test", 0)),
            num_train_available=int(d.get("num_train_available", 0)),
            left_out=tuple(d.get("left_out", ())), notes=tuple(d.get("notes", ())),
            wizard_picks={int(k): dict(v) for k, v in dict(d.get("wizard_picks", {})).items()},
            created=str(d.get("created", "")))


def config_key(config: TrainConfig) -> str:
    """What makes two runs the same configuration: every setting except which were recommended."""
    d = config.to_dict()
    d.pop("recommended", None)
    return json.dumps(d, sort_keys=True)


def study_configurations(models: Sequence[str], augmentations: Sequence[str]) -> list[tuple[str, bool, str]]:
    """(model, fine_tune, augmentation) in the reference study's row order:
    ResNet18, ResNet18 + fine-tuning, ResNet18 + augmentation, ResNet18 + fine-tuning + augmentation, ..."""
    return [(m, ft, aug) for m in models for aug in augmentations for ft in (False, True)]


def plan_study(dataset: str, sizes: Iterable[int], models: Sequence[str] = STUDY_MODELS,
               augmentations: Sequence[str] = STUDY_AUGMENTATIONS, include_frozen_random: bool = False,
               overrides: Mapping[str, Any] | None = None, *, workspace: Workspace | None = None,
               weights: str = "auto", seed: int = 0, device: str = "auto", name: str | None = None,
               gpu_mem_gb: float | None | str = "detect") -> StudyPlan:
    """Every configuration per size, with the wizard's settings for that size and depth.

    Sizes larger than the training split are capped to it (and merged when they coincide). Without
    pretrained weights a frozen backbone is random and learns nothing, so frozen configurations are
    left out (the plan's notes say so) unless include_frozen_random. Raises StudyError for bad input.
    """
    workspace = workspace or Workspace.default()
    models = _check_choices("model", models, MODELS)
    augmentations = _check_choices("augmentation", augmentations, AUGMENTATIONS)
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    axes = sorted(set(overrides) & set(STUDY_AXES))
    if axes:
        raise StudyError(f"{', '.join(axes)} cannot be overridden in a study: the study varies them "
                         "itself (choose models, augmentations and sizes instead)")
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise StudyError(f"unknown study setting(s) {', '.join(unknown)}; a study can override "
                         f"{', '.join(OVERRIDABLE)}")
    if weights not in ("auto", "imagenet", "none") and not Path(weights).expanduser().is_file():
        raise StudyError(f"weights file {weights} not found: give a .pt/.pth file, or use weights "
                         "auto, imagenet or none")
    if weights not in ("auto", "imagenet", "none") and len(models) > 1:
        raise StudyError("a weights file fits one architecture: study a single model with it "
                         "(for example --models resnet50), or use weights auto, imagenet or none")
    if weights == "imagenet":
        _check_imagenet_weights(models)
    if gpu_mem_gb == "detect":
        hw = detect_hardware()
        gpu_mem_gb = hw.memory_gb if hw.device == "cuda" and device in ("auto", "cuda") else None

    try:
        handle = open_dataset(dataset, workspace)  # once: every size and depth below plans on it
        info, split = handle.info, handle.split
    except DatasetError as e:
        raise StudyError(str(e)) from e
    notes: list[str] = []
    sizes = _check_sizes(sizes, len(split.train), len(split.classes), notes)

    configs = study_configurations(models, augmentations)
    entries: list[StudyEntry] = []
    left_out: list[str] = []
    random_frozen = False  # frozen random backbones included on request
    wizard_picks: dict[int, dict[str, Any]] = {}
    for size in sizes:
        for model in models:
            try:
                base = plan_training(handle, workspace, overrides={**overrides, "model": model,
                                                                    "fine_tune": True},
                                     weights=weights, seed=seed, device=device, max_train_images=size,
                                     gpu_mem_gb=gpu_mem_gb)
            except ValueError as e:  # ConfigError, RecommendationError, DatasetError
                raise StudyError(f"cannot plan {describe_config(model, True, 'none')} at {size} "
                                 f"images: {e}") from e
            notes.extend(base.warnings)
            pretrained = base.recommendation.weights != "none"
            for m, fine_tune, aug in configs:
                if m != model:
                    continue
                # The study sets these itself; the rest of `recommended` still says what the wizard filled.
                recommended = tuple(r for r in base.config.recommended if r not in STUDY_AXES)
                config = base.config.replace(fine_tune=fine_tune, augmentation=aug, recommended=recommended)
                if not fine_tune and not pretrained:
                    if not include_frozen_random:
                        if config.describe() not in left_out:
                            left_out.append(config.describe())
                        continue
                    random_frozen = True
                entries.append(StudyEntry(size, config))
        wizard_picks[size] = _wizard_pick(handle, workspace, overrides, weights, seed, device, size,
                                          gpu_mem_gb, entries)
    if left_out:
        notes.append(f"Without pretrained weights a frozen backbone is random and learns nothing, so "
                     f"{_join(left_out)} {'is' if len(left_out) == 1 else 'are'} left out. Add ImageNet "
                     "weights to study them, or include them anyway to see the baseline.")
    elif random_frozen:
        notes.append("Frozen-backbone configurations start from random weights here: only their head "
                     "learns, on random features, so they are a baseline, not transfer learning.")
    if not entries:
        raise StudyError("nothing to study: every configuration was left out. Add fine-tuning "
                         "configurations, pretrained weights, or include frozen random backbones.")

    keys = [e.key for e in entries]
    digest = hashlib.sha1(json.dumps([info.name, keys]).encode("utf-8")).hexdigest()[:10]
    study_id = f"{_slug(info.name)}-{digest}"
    return StudyPlan(
        study_id=study_id,
        name=name or (f"{info.name}: {len(entries) // len(sizes)} configurations at "
                      f"{', '.join(map(str, sizes))} training images"),
        dataset=info.name, sizes=tuple(sizes), entries=tuple(entries), num_val=len(split.val),
        num_test=len(split.test), num_train_available=len(split.train), left_out=tuple(left_out),
        notes=tuple(_distinct(notes)), wizard_picks=wizard_picks, created=now_iso())


def _wizard_pick(dataset: DatasetHandle, workspace: Workspace, overrides: Mapping[str, Any], weights: str,
                 seed: int, device: str, size: int, gpu_mem_gb, entries: list[StudyEntry]) -> dict[str, Any]:
    """What the wizard alone would train at this size, and the study configuration closest to it.

    The wizard may pick light or heavy augmentation; the study's 'with augmentation' row stands in.
    """
    cfg = plan_training(dataset, workspace, overrides=dict(overrides), weights=weights, seed=seed,
                        device=device, max_train_images=size, gpu_mem_gb=gpu_mem_gb).config
    candidates = [e.config for e in entries if e.num_images == size and e.config.model == cfg.model
                  and e.config.fine_tune == cfg.fine_tune]
    exact = [c for c in candidates if c.augmentation == cfg.augmentation]
    similar = [c for c in candidates if (c.augmentation == "none") == (cfg.augmentation == "none")]
    match = (exact or similar or [None])[0]
    return {"wizard": cfg.describe(), "config": match.describe() if match else cfg.describe(),
            "in_study": match is not None, "model": cfg.model, "fine_tune": cfg.fine_tune,
            "augmentation": cfg.augmentation}


def _check_imagenet_weights(models: Sequence[str]) -> None:
    """Asked for ImageNet weights explicitly: fail now, not in every run of the study."""
    for model in models:
        try:
            resolve_weights("imagenet", model)
        except WeightsError as e:
            raise StudyError(str(e)) from e


def _check_choices(what: str, values: Sequence[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(str(v).strip().lower() for v in values if str(v).strip()))
    if not values:
        raise StudyError(f"choose at least one {what}: {', '.join(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise StudyError(f"unknown {what}(s) {', '.join(bad)}; choose from {', '.join(allowed)}")
    return values


def _check_sizes(sizes: Iterable[int], available: int, num_classes: int, notes: list[str]) -> list[int]:
    try:
        asked = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise StudyError(f"sizes must be whole numbers of training images, for example "
                         f"{','.join(map(str, STUDY_SIZES))}; got {sizes!r}") from None
    if not asked:
        raise StudyError("give at least one size (number of training images)")
    small = [s for s in asked if s < max(2, num_classes)]
    if small:
        raise StudyError(f"size(s) {', '.join(map(str, small))} are too small: each of the "
                         f"{num_classes} classes needs at least one training image, so use at least "
                         f"{max(2, num_classes)}")
    out: list[int] = []
    for s in sorted(set(asked)):
        if s > available:
            notes.append(f"The training split has {available} images, so size {s} trains on all "
                         f"{available} of them. Add images for a larger size.")
            s = available
        if s not in out:
            out.append(s)
    return out


def _distinct(notes: list[str]) -> list[str]:
    """Drop warnings that repeat an earlier one for another size ('N images ...' with N changed)."""
    seen, out = set(), []
    for note in notes:
        shape = re.sub(r"\b\d[\d,]*(?= (training )?images?\b)", "#", note)
        if shape not in seen:
            seen.add(shape)
            out.append(note)
    return out


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return slug[:40] or "dataset"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ----- recording ---------------------------------------------------------------------------------

def studies_dir(workspace: Workspace) -> Path:
    return workspace.root / "studies"


def save_study(plan: StudyPlan, workspace: Workspace) -> None:
    """Record the plan (kept as first planned when it already exists: ids name identical plans)."""
    path = studies_dir(workspace) / f"{plan.study_id}.json"
    if not path.exists():
        atomic_write_json(path, plan.to_dict())


def load_study(study_id: str, workspace: Workspace) -> StudyPlan:
    if not re.fullmatch(r"[a-z0-9-]+", study_id or ""):
        raise StudyError(f"{study_id!r} is not a study id; list the studies to see which exist")
    data = read_json(studies_dir(workspace) / f"{study_id}.json")
    if not isinstance(data, dict):
        raise StudyError(f"no study {study_id!r} in this workspace; list the studies to see which exist")
    try:
        return StudyPlan.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        raise StudyError(f"the record of study {study_id!r} is damaged ({e}); plan the study again") from e


def list_studies(workspace: Workspace, dataset: str | None = None) -> list[StudyPlan]:
    """Recorded studies, newest first (unreadable records are skipped)."""
    folder = studies_dir(workspace)
    plans = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            plan = load_study(path.stem, workspace)
        except StudyError:
            continue
        if dataset is None or plan.dataset == dataset:
            plans.append(plan)
    return sorted(plans, key=lambda p: p.created, reverse=True)


