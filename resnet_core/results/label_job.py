"""The label check of a workspace dataset, end to end: where its features come from, what it will
cost (measured on this machine before it starts), running it in the background with progress and
cancel, and keeping its findings beside the dataset so a reload still shows them.

The check scores the dataset as every run sees it (the user's label decisions applied); its report
is kept in the metadata folder (label-check.json) with the folder's fingerprint, and is dropped when
the files change.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from resnet_core.background import CANCELLED, DONE, FAILED, RUNNING, BackgroundJob, JobRegistry
from resnet_core.config import TrainConfig
from resnet_core.data.feature_cache import save_features
from resnet_core.data.handle import DatasetHandle
from resnet_core.data.prepare import prepare_data
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.results.label_check import (
    _FEATURE_BATCH,
    _HEAD_STEPS,
    DEFAULT_FOLDS,
    LabelCheckUnavailable,
    LabelReport,
    Suspect,
    check_labels,
    image_features,
)
from resnet_core.runs.job_errors import plain_error
from resnet_core.runs.store import RunStore
from resnet_core.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from resnet_core.training.models import build_model
from resnet_core.training.weights import imagenet_weights_available
from resnet_core.workspace import Workspace

# The label check's own problems: their text is the sentence a failed check shows.
SPEAKS_TO_USER = (CheckpointError, LabelCheckUnavailable)
REPORT_FILE = "label-check.json"
_IMAGENET_SIZE = 224
_TIMED_IMAGES = 8
_TIMED_STEPS = 10

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class LabelCheckCancelled(Exception):
    """The user cancelled the check."""


@dataclass(frozen=True)
class FeatureSource:
    """Where the features come from: ImageNet weights (checkpoint None) or a finished run's model."""

    arch: str
    image_size: int
    checkpoint: str | None = None
    run_id: int | None = None

    def describe(self) -> str:
        if self.checkpoint is None:
            return f"ImageNet {self.arch} features at {self.image_size} px"
        return f"the features of run #{self.run_id}'s model at {self.image_size} px"


def feature_source(workspace: Workspace, dataset: str, run_id: int | None = None,
                   arch: str = "resnet18") -> FeatureSource:
    """ImageNet weights when on this machine (and no run is named), else the model of the named run
    or of the dataset's newest run that kept one. LabelCheckUnavailable when there is neither."""
    if run_id is None and imagenet_weights_available(arch):
        return FeatureSource(arch, _IMAGENET_SIZE)
    store = RunStore(workspace)
    try:
        runs = [store.get_run(run_id)] if run_id is not None else store.list_runs(dataset=dataset)
    finally:
        store.close()
    for record in runs:
        path = workspace.run_dir(record.id) / CHECKPOINT_NAME if record is not None else None
        if path is not None and path.is_file():
            if record.config is not None:  # the run's own settings: no model file read on every page run
                arch, size = record.config.model, record.config.image_size
            else:
                _, meta = load_checkpoint(path)
                arch, size = str(meta["arch"]), int(meta["image_size"])
            return FeatureSource(arch, size, str(path), record.id)
    if run_id is not None:
        raise LabelCheckUnavailable(f"run {run_id} has no trained model to take features from: choose "
                                    "a finished run")
    raise LabelCheckUnavailable(
        f"no ImageNet weights on this machine and no run of '{dataset}' with a trained model: train one "
        "first (Train page, or `python -m resnet_core train ...`), then check the labels again")


def estimate_seconds(source: FeatureSource, num_images: int, num_classes: int,
                     folds: int = DEFAULT_FOLDS) -> float:
    """The check's time on this machine, measured: a batch of features and a few head steps are
    timed, then scaled to the dataset (decoding images not decoded yet comes on top)."""
    if source.checkpoint is None:
        model = build_model(source.arch, num_classes, weights="none")
    else:
        model, _ = load_checkpoint(source.checkpoint)
    model.eval()
    batch = torch.rand(min(_TIMED_IMAGES, _FEATURE_BATCH), 3, source.image_size, source.image_size)
    with torch.inference_mode():
        model.features(batch[:1])  # the first call pays one-off set-up
        started = time.perf_counter()
        dim = model.features(batch).shape[1]
        per_image = (time.perf_counter() - started) / len(batch)
    x = torch.randn(max(1, num_images * (folds - 1) // folds), dim)
    y = torch.randint(0, max(num_classes, 1), (len(x),))
    head = torch.nn.Linear(dim, max(num_classes, 1))
    optimizer = torch.optim.Adam(head.parameters())
    started = time.perf_counter()
    for _ in range(_TIMED_STEPS):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        optimizer.step()
    per_step = (time.perf_counter() - started) / _TIMED_STEPS
    return per_image * num_images + per_step * _HEAD_STEPS * folds


def run_label_check(handle: DatasetHandle, workspace: Workspace, source: FeatureSource,
                    folds: int = DEFAULT_FOLDS, progress: Progress | None = None) -> LabelReport:
    """Decode (cached), take features, cross-validate and rank the likely mislabels."""
    def stage(name: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    data = prepare_data(TrainConfig(dataset=handle.name, image_size=source.image_size), workspace,
                        progress=progress, dataset=handle)
    features, method = image_features(data, source.checkpoint, source.arch, progress=stage("features"))
    if source.checkpoint is None:  # ImageNet features: the duplicate check compares by them too
        save_features(handle.info.meta_dir, handle.report.fingerprint, data.paths, features)
    return check_labels(data, features, method, folds=folds, progress=stage("cross-validating"))


# ---- kept beside the dataset ------------------------------------------------------------------

def save_report(handle: DatasetHandle, report: LabelReport, seconds: float) -> None:
    try:
        atomic_write_json(Path(handle.info.meta_dir) / REPORT_FILE,
                          {"version": 1, "folder": handle.report.fingerprint, "seconds": seconds,
                           "report": report.to_dict()})
    except OSError:
        pass  # a read-only metadata folder: the findings last as long as the page


@dataclass(frozen=True)
class SavedCheck:
    report: LabelReport
    seconds: float


def load_report(handle: DatasetHandle) -> SavedCheck | None:
    """The dataset's last label check, while its files are unchanged."""
    data = read_json(Path(handle.info.meta_dir) / REPORT_FILE)
    if not isinstance(data, dict) or data.get("version") != 1 or data.get("folder") != handle.report.fingerprint:
        return None
    try:
        r = data["report"]
        report = LabelReport(method=str(r["method"]), folds=int(r["folds"]), num_images=int(r["num_images"]),
                             suspects=[Suspect(**s) for s in r["suspects"]])
        return SavedCheck(report, float(data.get("seconds", 0.0)))
    except (KeyError, TypeError, ValueError):
        return None


# ---- in the background ------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSnapshot:
    state: str  # "running", "done", "failed", "cancelled"
    stage: str = "starting"
    done: int = 0
    total: int = 0
    error: str = ""
    seconds: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class LabelCheckJob(BackgroundJob[JobSnapshot]):
    """One label check in a thread: immutable snapshots for any number of pages, cancel between steps."""

    thread_name = "label-check"

    def __init__(self, handle: DatasetHandle, workspace: Workspace, source: FeatureSource,
                 folds: int = DEFAULT_FOLDS) -> None:
        super().__init__(JobSnapshot(RUNNING))
        self._args = (handle, workspace, source, folds)

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise LabelCheckCancelled
        self._publish(stage=stage, done=done, total=total)

    def _run(self) -> None:
        handle, workspace, source, folds = self._args
        try:
            report = run_label_check(handle, workspace, source, folds, progress=self._progress)
            if self._cancel.is_set():
                raise LabelCheckCancelled
            save_report(handle, report, time.perf_counter() - self._started)
            self._publish(state=DONE)
        except LabelCheckCancelled:
            self._publish(state=CANCELLED)
        except Exception as e:  # noqa: BLE001 - shown to the user as a sentence, never raised in a page
            self._publish(state=FAILED, error=plain_error(e, workspace, "the label check", known=SPEAKS_TO_USER))


_JOBS: JobRegistry[LabelCheckJob] = JobRegistry()


def start_job(handle: DatasetHandle, workspace: Workspace, source: FeatureSource,
              folds: int = DEFAULT_FOLDS) -> LabelCheckJob:
    """Start the dataset's check unless one is running already (then that one is returned)."""
    return _JOBS.start(str(handle.info.meta_dir), lambda: LabelCheckJob(handle, workspace, source, folds))


def current_job(meta_dir: str | Path) -> LabelCheckJob | None:
    return _JOBS.current(str(meta_dir))


def forget_job(meta_dir: str | Path) -> None:
    _JOBS.forget(str(meta_dir))
