"""The cost-performance study on the user's own data: every configuration at every size, ranked.

As in the reference study, each size trains ResNet depth × fine-tuning or frozen backbone × with or
without augmentation, on nested stratified subsets of the dataset's training split, and every run is
scored on the same test split. Epochs, batch size and learning rate are the wizard's for each size
and depth unless the user overrides them; early stopping watches validation loss.

A study is recorded as a small JSON file (workspace/studies/<id>.json) so pages and commands can find
it again. Resuming needs nothing more: a configuration counts as done when the run store holds a
completed run on the same dataset with the same config, so finished configurations never run twice.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from resnet_core.callbacks import Callback
from resnet_core.config import AUGMENTATIONS, MODELS, TrainConfig, describe_config
from resnet_core.workspace import Workspace, atomic_write_json, read_json

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
    from resnet_core.datasets import DatasetError, dataset_report, get_split, now_iso, resolve_dataset
    from resnet_core.planning import plan_training

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
        from resnet_core.hardware import detect_hardware

        hw = detect_hardware()
        gpu_mem_gb = hw.memory_gb if hw.device == "cuda" and device in ("auto", "cuda") else None

    try:
        info = resolve_dataset(dataset, workspace)
        report = dataset_report(info)
        split = get_split(info, report)
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
                base = plan_training(info.name, workspace, overrides={**overrides, "model": model,
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
        wizard_picks[size] = _wizard_pick(info.name, workspace, overrides, weights, seed, device, size,
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


def _wizard_pick(dataset: str, workspace: Workspace, overrides: Mapping[str, Any], weights: str,
                 seed: int, device: str, size: int, gpu_mem_gb, entries: list[StudyEntry]) -> dict[str, Any]:
    """What the wizard alone would train at this size, and the study configuration closest to it.

    The wizard may pick light or heavy augmentation; the study's 'with augmentation' row stands in.
    """
    from resnet_core.planning import plan_training

    cfg = plan_training(dataset, workspace, overrides=dict(overrides), weights=weights, seed=seed,
                        device=device, max_train_images=size, gpu_mem_gb=gpu_mem_gb).config
    candidates = [e.config for e in entries if e.num_images == size and e.config.model == cfg.model
                  and e.config.fine_tune == cfg.fine_tune]
    exact = [c for c in candidates if c.augmentation == cfg.augmentation]
    similar = [c for c in candidates if (c.augmentation == "none") == (cfg.augmentation == "none")]
    match = (exact or similar or [None])[0]
    return {"wizard": cfg.describe(), "config": match.describe() if match else cfg.describe(),
            "in_study": match is not None}


def _check_imagenet_weights(models: Sequence[str]) -> None:
    """Asked for ImageNet weights explicitly: fail now, not in every run of the study."""
    from resnet_core.models import WeightsError, resolve_weights

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
        shape = re.sub(r"\b\d[\d,]*(?= images)", "#", note)
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


# ----- running -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyEvent:
    """Progress of a study: kind is 'skip' (already done), 'start' or 'finish' (with status)."""

    kind: str
    index: int  # 1-based position in the plan
    total: int
    entry: StudyEntry
    run_id: int | None = None
    status: str | None = None
    test_acc: float | None = None  # with 'finish' and 'skip'


@dataclass
class StudyResult:
    study_id: str
    ran: list[int] = field(default_factory=list)  # runs started (or queued) now
    skipped: list[int] = field(default_factory=list)  # completed runs found for their configuration
    failed: list[int] = field(default_factory=list)
    stopped: bool = False  # cancelled before every configuration was done


def matching_runs(plan: StudyPlan, store) -> dict[str, list]:
    """Stored runs of each plan configuration (by config key), newest first."""
    keys = {e.key for e in plan.entries}
    out: dict[str, list] = {}
    for record in store.list_runs(dataset=plan.dataset):
        if record.config is None:
            continue
        key = config_key(record.config)
        if key in keys:
            out.setdefault(key, []).append(record)
    return out


def _completed(records: list | None):
    return next((r for r in records or () if r.status == "completed"), None)


def run_study(plan: StudyPlan, workspace: Workspace, store, jobs=None,
              progress: Callable[[StudyEvent], None] | None = None,
              callbacks: list[Callback] | None = None,
              cancel_event: threading.Event | None = None) -> StudyResult:
    """Run the configurations not done yet.

    With a JobManager (the dashboard) they are queued and this returns at once; runs already queued
    or running in that manager are not queued twice. Without one they run here, in order; setting
    cancel_event cancels the current run cleanly (stored as cancelled) and stops the study. Either
    way, running the same plan again resumes it.
    """
    save_study(plan, workspace)
    done = matching_runs(plan, store)
    result = StudyResult(plan.study_id)
    total = len(plan.entries)
    active = jobs.active_run_ids() if jobs is not None else set()
    for index, entry in enumerate(plan.entries, start=1):
        records = done.get(entry.key)
        finished = _completed(records)
        if finished is not None:
            result.skipped.append(finished.id)
            if progress:
                progress(StudyEvent("skip", index, total, entry, finished.id, finished.status,
                                    finished.test_acc))
            continue
        if jobs is not None:
            if any(r.id in active for r in records or ()):
                continue
            run_id = jobs.submit(entry.config)
            result.ran.append(run_id)
            if progress:
                progress(StudyEvent("start", index, total, entry, run_id, "queued"))
            continue
        if cancel_event is not None and cancel_event.is_set():
            result.stopped = True
            break
        status = _run_one(entry, index, total, workspace, store, progress, callbacks, cancel_event, result)
        if status == "cancelled":
            result.stopped = True
            break
    return result


def _run_one(entry: StudyEntry, index: int, total: int, workspace: Workspace, store, progress,
             callbacks, cancel_event, result: StudyResult) -> str:
    from resnet_core.runner import create_run, execute_run
    from resnet_core.store import ACTIVE_STATUSES

    run_id = create_run(entry.config, workspace, store)
    result.ran.append(run_id)
    try:
        if progress:
            progress(StudyEvent("start", index, total, entry, run_id))
        status = execute_run(run_id, entry.config, workspace, store, callbacks=list(callbacks or []),
                             cancel_event=cancel_event)
    except BaseException:
        # Stopped from outside (an exception from progress, a second Ctrl-C): never leave it 'running'.
        record = store.get_run(run_id)
        if record is not None and record.status in ACTIVE_STATUSES:
            store.finish_run(run_id, "interrupted")
            store.add_note(run_id, "The study was stopped before this run finished.")
        raise
    if status == "failed":
        result.failed.append(run_id)
    if progress:
        record = store.get_run(run_id)
        progress(StudyEvent("finish", index, total, entry, run_id, status,
                            record.test_acc if record is not None else None))
    return status


def cancel_study(plan: StudyPlan, store, jobs) -> list[int]:
    """Cancel the study's queued and running runs in a JobManager; returns their ids."""
    cancelled = []
    for records in matching_runs(plan, store).values():
        for r in records:
            if r.id in jobs.active_run_ids() and jobs.cancel(r.id):
                cancelled.append(r.id)
    return cancelled


def study_progress(plan: StudyPlan, store) -> dict[str, int]:
    """How many configurations are completed, active (queued or running) and still to run."""
    runs = matching_runs(plan, store)
    completed = sum(1 for e in plan.entries if _completed(runs.get(e.key)))
    active = sum(1 for e in plan.entries if not _completed(runs.get(e.key))
                 and any(r.is_active for r in runs.get(e.key, ())))
    return {"total": len(plan.entries), "completed": completed, "active": active,
            "remaining": len(plan.entries) - completed}


# ----- time --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyEstimate:
    seconds: float  # the configurations still to run, all epochs (early stopping usually ends sooner)
    per_entry: tuple[float, ...]  # plan order; 0 for configurations already done
    remaining: int

    def describe(self) -> str:
        from resnet_core.estimate import format_seconds

        return (f"at most {format_seconds(self.seconds)} for {self.remaining} configuration(s) on this "
                "machine; early stopping usually ends runs sooner")


Rate = Callable[[TrainConfig], float]


def estimate_study_time(plan: StudyPlan, images_per_s: Rate | float | None = None,
                        store=None) -> StudyEstimate:
    """Training time of the configurations not done yet (all of them without a store).

    images_per_s: training images per second for a config (a function of it, or one number for
    all); by default measured here with estimate.probe_throughput, which takes seconds per model.
    A frozen backbone without augmentation computes its features once, so it costs one forward pass.
    """
    from resnet_core.estimate import EVAL_SPEEDUP, estimate_training_time

    rate = _rate_function(images_per_s)
    runs = matching_runs(plan, store) if store is not None else {}
    per_entry = []
    for e in plan.entries:
        if _completed(runs.get(e.key)):
            per_entry.append(0.0)
            continue
        cfg = e.config
        ips = rate(cfg)
        if not cfg.fine_tune and cfg.augmentation == "none":
            seconds = (e.num_images + plan.num_val + plan.num_test) / (ips * EVAL_SPEEDUP)
        else:
            seconds = estimate_training_time(cfg, e.num_images, plan.num_val, ips,
                                             num_test=plan.num_test).seconds
        per_entry.append(seconds)
    remaining = sum(1 for s in per_entry if s > 0)
    return StudyEstimate(sum(per_entry), tuple(per_entry), remaining)


def _rate_function(images_per_s: Rate | float | None) -> Rate:
    if callable(images_per_s):
        return images_per_s
    if images_per_s is not None:
        value = float(images_per_s)
        if not value > 0 or not math.isfinite(value):
            raise StudyError(f"images per second must be a positive number, got {images_per_s!r}")
        return lambda cfg: value

    def probe(cfg: TrainConfig) -> float:
        from resnet_core.estimate import probe_throughput
        from resnet_core.hardware import resolve_device

        return probe_throughput(cfg.model, cfg.batch_size, cfg.image_size, cfg.fine_tune,
                                resolve_device(cfg.device))
    return probe


# ----- results -----------------------------------------------------------------------------------

ROW_KEYS = ("config", "val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended", "rank")


def study_tables(plan: StudyPlan | str, store) -> list[dict[str, Any]]:
    """One table per size: {"num_images": N, "rows": [...]} with a row per configuration in the
    study's order; finished rows are ranked like the study (test acc, then val loss, then time).

    Each row: config, val_loss, val_acc, test_acc, train_time_s, epoch_ended, rank (None while not
    completed), plus status, run_id, model, fine_tune, augmentation and pareto.
    """
    from resnet_core.compare import ranked_rows

    if isinstance(plan, str):
        plan = load_study(plan, store.workspace)
    runs = matching_runs(plan, store)
    tables = []
    for size in plan.sizes:
        entries = plan.entries_for(size)
        shown = {}
        for e in entries:
            records = runs.get(e.key, [])
            shown[e.key] = _completed(records) or (records[0] if records else None)
        ranked = {row["run_id"]: row for row in ranked_rows(
            r for r in shown.values() if r is not None and r.status == "completed")}
        rows = []
        for e in entries:
            record = shown[e.key]
            ranked_row = ranked.get(record.id) if record is not None else None
            rows.append({
                "config": e.description, "model": e.config.model, "fine_tune": e.config.fine_tune,
                "augmentation": e.config.augmentation,
                "val_loss": record.val_loss if ranked_row else None,
                "val_acc": record.val_acc if ranked_row else None,
                "test_acc": record.test_acc if ranked_row else None,
                "train_time_s": record.train_time_s if ranked_row else None,
                "epoch_ended": record.epoch_ended if ranked_row else None,
                "rank": ranked_row["Rank"] if ranked_row else None,
                "pareto": bool(ranked_row["Pareto"]) if ranked_row else False,
                "status": record.status if record is not None else "pending",
                "run_id": record.id if record is not None else None,
            })
        tables.append({"num_images": size, "rows": rows})
    return tables


def format_tables(tables: list[dict[str, Any]]) -> str:
    """The tables in the reference study's Markdown layout (compare.format_study_table)."""
    from resnet_core.compare import format_study_table

    blocks = []
    for table in tables:
        n = table["num_images"]
        rows = [{"num_images": n, "Model": r["config"] if r["rank"] is not None
                 else f"{r['config']} ({r['status']})", "Val Loss": r["val_loss"],
                 "Val Acc": r["val_acc"], "Test Acc": r["test_acc"], "Training Time": r["train_time_s"],
                 "Epoch Ended": r["epoch_ended"], "Rank": r["rank"]} for r in table["rows"]]
        blocks.append(format_study_table(rows, n))
    return "\n".join(blocks)


# Within this many points of the best test accuracy a configuration counts as "as good".
MATCH_POINTS = 1.0


def study_conclusion(tables: list[dict[str, Any]], wizard_pick: str | Mapping[int, str] | None = None) -> list[str]:
    """A short written conclusion from the numbers: the best configuration per size, the best value
    (test accuracy per minute of training among configurations within MATCH_POINTS of the best, so
    a fast run that learned nothing is no bargain), where the wizard's pick ranked, and whether more
    data still helps (the learning curve of the best test accuracy)."""
    out: list[str] = []
    best_by_size: list[tuple[int, dict[str, Any]]] = []
    for table in tables:
        n = table["num_images"]
        ranked = sorted((r for r in table["rows"] if r.get("rank") is not None), key=lambda r: r["rank"])
        if not ranked:
            out.append(f"{n:,} images: no configuration has finished yet.")
            continue
        best = ranked[0]
        best_by_size.append((n, best))
        sentence = (f"{n:,} images: best was {best['config']} with {_pct(best['test_acc'])} test "
                    f"accuracy in {_duration(best['train_time_s'])}")
        value = _best_value(ranked)
        if value is not None and value is not best:
            sentence += (f"; best value was {value['config']}, {_pct(value['test_acc'])} in "
                         f"{_duration(value['train_time_s'])} ({_per_minute(value)} points per minute "
                         f"against {_per_minute(best)})")
        elif value is best:
            sentence += "; it was also the best value (accuracy per minute of training)"
        unfinished = len(table["rows"]) - len(ranked)
        if unfinished:
            sentence += f" ({len(ranked)} of {len(table['rows'])} configurations finished)"
        out.append(sentence + ".")
        pick = wizard_pick.get(n) if isinstance(wizard_pick, Mapping) else wizard_pick
        if pick:
            out.append(_wizard_sentence(n, pick, ranked))
    if len(tables) < 2:
        out.append("Run the study at two or more sizes to see whether more data still helps.")
    out.extend(_learning_curve(best_by_size))
    return out


def _best_value(ranked: list[dict[str, Any]]) -> dict[str, Any] | None:
    top = ranked[0]["test_acc"]
    close = [r for r in ranked if (top - r["test_acc"]) * 100 <= MATCH_POINTS
             and r.get("train_time_s") and r["train_time_s"] > 0]
    if not close:
        return None
    return max(close, key=lambda r: (r["test_acc"] / r["train_time_s"], -r["rank"]))


def _wizard_sentence(n: int, pick: str, ranked: list[dict[str, Any]]) -> str:
    best = ranked[0]
    row = next((r for r in ranked if r["config"] == pick), None)
    if row is None:
        return f"{n:,} images: the wizard's pick, {pick}, was not measured in this study."
    if row is best:
        return f"{n:,} images: the wizard's pick, {pick}, was the winner."
    gap = (best["test_acc"] - row["test_acc"]) * 100
    if gap < 0.05:  # same accuracy: ranked lower on validation loss or time
        return (f"{n:,} images: the wizard's pick, {pick}, ranked {_ordinal(row['rank'])} of {len(ranked)}, "
                f"with the same test accuracy as {best['config']} (which won on validation loss or time).")
    return (f"{n:,} images: the wizard's pick, {pick}, ranked {_ordinal(row['rank'])} of {len(ranked)}; "
            f"{best['config']} was {gap:.1f} points better.")


def _learning_curve(best_by_size: list[tuple[int, dict[str, Any]]]) -> list[str]:
    if len(best_by_size) < 2:
        return []
    (n0, b0), (n1, b1) = best_by_size[-2], best_by_size[-1]
    gain = (b1["test_acc"] - b0["test_acc"]) * 100
    curve = ", ".join(f"{_pct(b['test_acc'])} at {n:,}" for n, b in best_by_size)
    if gain > MATCH_POINTS:
        verdict = (f"More data still helps: going from {n0:,} to {n1:,} training images added "
                   f"{gain:.1f} points, so collecting more images is likely to pay off.")
    elif gain >= -MATCH_POINTS:
        verdict = (f"The learning curve has flattened: {n0:,} to {n1:,} training images changed the best "
                   f"test accuracy by {gain:+.1f} points, so more images of the same kind will add "
                   "little; a larger model, pretrained weights or cleaner labels may help more.")
    else:
        verdict = (f"More data did not help here: the best test accuracy fell by {-gain:.1f} points from "
                   f"{n0:,} to {n1:,} training images (same test images), which points to training "
                   "settings (epochs, learning rate) rather than data.")
    return [f"Best test accuracy by size: {curve}.", verdict]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _per_minute(row: Mapping[str, Any]) -> str:
    return f"{row['test_acc'] * 100 / (row['train_time_s'] / 60):.1f}"


def _duration(seconds: float | None) -> str:
    from resnet_core.compare import format_duration

    return format_duration(seconds)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
