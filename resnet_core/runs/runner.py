"""One run from start to stored result — shared by the command line and the background job manager.

`create_run` records a queued run with its dataset's split sizes; `execute_run` trains it and stores
whatever happens: completed, cancelled (with what it learned so far), or failed with a message a
person can act on. It never raises for a training problem.
"""
from __future__ import annotations

import errno
import json
import logging
import shutil
import threading
import traceback
from contextlib import suppress
from pathlib import Path

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.data.handle import DatasetHandle, open_dataset
from resnet_core.data.imageio import preprocess_spec
from resnet_core.data.prepare import DataError, check_classes, check_split, prepare_data
from resnet_core.data.scan import DatasetError
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.hardware import DeviceUnavailableError, resolve_device
from resnet_core.runs.predictions import save_predictions
from resnet_core.runs.store import clean_label
from resnet_core.status import RunStatus
from resnet_core.training.calibration import fit_temperature, write_calibration
from resnet_core.training.callbacks import (
    Callback,
    CallbackList,
    CancelOnEvent,
    CancelTraining,
    FitState,
    StopForExit,
    TrainingDiverged,
)
from resnet_core.training.distributed import DistContext, is_peer_failure
from resnet_core.training.engine import fit
from resnet_core.training.weights import WeightsError, resolve_weights
from resnet_core.workspace import Workspace

log = logging.getLogger("resnet_pilot.runs")

ERROR_LOG = "error.log"  # the full traceback of a failed run, in its folder

# Problems with the user's data, settings, files or machine: their message says what to do, and is
# shown as it is. Anything else that stops a run is a bug, and is called one.
USER_PROBLEMS = (DataError, DatasetError, ConfigError, WeightsError, DeviceUnavailableError,
                 TrainingDiverged)


class StoreRecorder(Callback):
    """Writes each finished epoch to the run store, so any process can draw the curves."""

    def __init__(self, store, run_id: int):
        self.store, self.run_id = store, run_id
        self._noted = 0

    def before_fit(self, state: FitState) -> None:
        # A resumed run brings its earlier epochs; the last of them may have been saved to last.pt
        # by a process killed before it reached the store. Rewriting an epoch replaces it.
        for row in state.history:
            self.store.add_epoch(self.run_id, row)
        self._flush_notes(state)

    def after_epoch(self, state: FitState) -> None:
        self.store.add_epoch(self.run_id, state.history[-1])
        self._flush_notes(state)

    def after_fit(self, state: FitState) -> None:
        self._flush_notes(state)

    def _flush_notes(self, state: FitState) -> None:
        existing = set(self.store.get_run(self.run_id).notes)
        for note in state.notes[self._noted:]:
            if note not in existing:
                self.store.add_note(self.run_id, note)
        self._noted = len(state.notes)


def create_run(config: TrainConfig, workspace: Workspace, store, dataset: DatasetHandle | None = None,
               repeat_of: int | None = None, name: str = "", note: str = "") -> int:
    """Record a queued run; the dataset must resolve and be splittable (errors say why).

    A dataset that cannot be trained on (fewer than 2 classes, no validation images), a weights file
    that is not there, ImageNet weights asked for but unavailable, or a device this machine lacks
    is refused here, before a run exists, rather than stored as a failed run. dataset: config.dataset
    already opened (by the plan), so it is not read again. repeat_of: the run whose configuration this
    one repeats with another seed (runs/repeats.py). name, note: the user's name for the run and note.
    """
    clean_label(name, note)  # a label too long is refused before the dataset is read
    check_startable(config)
    handle = dataset or open_dataset(config.dataset, workspace)
    info, report = handle.info, handle.report
    if config.dataset != info.name:
        config = config.replace(dataset=info.name)  # a folder path becomes its registered name
    check_classes(info.name, report)
    split = handle.split
    check_split(info.name, split)
    num_train = len(split.train)
    if config.max_train_images is not None:
        num_train = min(num_train, config.max_train_images)
    return store.create_run(config, str(info.root), report.num_images, num_train, len(split.val),
                            len(split.test), repeat_of=repeat_of, name=name, note=note)


def check_startable(config: TrainConfig) -> None:
    """Raise (DeviceUnavailableError, WeightsError: both ValueErrors) when the run could never start."""
    resolve_device(config.device)
    resolve_weights(config.weights, config.model, config.weights_path)


def mark_started(run_id: int, config: TrainConfig, workspace: Workspace, store) -> tuple[Path, TrainConfig]:
    """The run's folder (made) and its stored settings (they win over the caller's); marked running."""
    run_dir = workspace.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = store.get_run(run_id)
    store.mark_running(run_id)
    return run_dir, (record.config if record is not None else config)


def execute_run(run_id: int, config: TrainConfig, workspace: Workspace, store,
                callbacks: list[Callback] | None = None, cancel_event: threading.Event | None = None,
                resume: bool = False, device: str | None = None, dist: DistContext | None = None) -> str:
    """Train run `run_id` and store the outcome. Returns the final status.

    The callbacks see the data being prepared (on_prepare) as well as the training; `cancel_event`
    is honoured in both. `device` ('cuda:1', 'cpu') pins the run to one device, as a study spread
    over several does; the stored settings keep the planned device, so the configuration stays the same.
    dist: this is rank 0 of a multi-device run (runs.ddp_worker); the decoded images are
    memory-mapped, and an error saying another rank is gone is raised rather than stored, so the
    launcher stores the run as interrupted (resumable) instead of failed.
    """
    run_dir, config = mark_started(run_id, config, workspace, store)
    cancel_event = cancel_event or threading.Event()
    cbs = [StoreRecorder(store, run_id), *(callbacks or []), CancelOnEvent(cancel_event)]
    try:
        # The dataset is read afresh: a queued run may start long after create_run saw it.
        data = prepare_data(config, workspace, progress=CallbackList(cbs).on_prepare, memory_map=dist is not None)
        if resume:
            check_same_classes(run_dir, data.classes)
        atomic_write_json(run_dir / "labels.json", list(data.classes))
        atomic_write_json(run_dir / "preprocess.json", preprocess_spec(config.image_size))
        result = fit(config, data, callbacks=cbs, checkpoint_dir=run_dir, resume=resume,
                     device=resolve_device(device) if device else None, dist=dist)
    except StopForExit:  # the server is stopping: no test pass, nothing more written but the status
        saved = (run_dir / "last.pt").is_file()
        store.add_note(run_id, "Stopped when the server stopped; " + (
            "Resume continues from the last saved epoch." if saved else "no epoch was saved yet: Re-run starts it again."))
        store.finish_run(run_id, RunStatus.INTERRUPTED)
        return RunStatus.INTERRUPTED
    except CancelTraining as e:  # while preparing the data (fit handles a cancel during training)
        store.add_note(run_id, f"{str(e)[:1].upper()}{str(e)[1:]}; nothing was trained.")
        store.finish_run(run_id, RunStatus.CANCELLED)
        return RunStatus.CANCELLED
    except Exception as e:
        if dist is not None and is_peer_failure(e):
            raise
        return fail_run(store, run_id, failure_message(e, workspace), run_dir)
    final = result.final_dict()
    final["final_metrics"]["prep_time_s"] = data.prep_time_s
    final["final_metrics"]["split_leaks"] = data.split_leaks
    if result.predictions is not None:
        # Calibrate after training, on the validation split: prediction and export apply it.
        temperature = fit_temperature(result.predictions.val_logits, result.predictions.val_true)
        final["final_metrics"]["temperature"] = temperature
        save_predictions(run_dir, result.predictions, temperature)
        write_calibration(run_dir, temperature, len(result.predictions.val_true))
    atomic_write_json(run_dir / "metrics.json", {"history": result.history, **final})
    if result.status == RunStatus.CANCELLED and result.test_acc is None:
        store.add_note(run_id, "Cancelled before the first evaluation; nothing to score.")
    store.finish_run(run_id, result.status, final)
    if result.status == RunStatus.COMPLETED:
        # Only a stopped run can be resumed; last.pt holds the weights twice plus the optimiser
        # state (about 4× best.pt), which a finished run would carry around for nothing.
        (run_dir / "last.pt").unlink(missing_ok=True)
    return result.status


def failure_message(e: BaseException, workspace: Workspace) -> str:
    """What a person reads about a failed run: the problem in their words, or plainly a bug."""
    if isinstance(e, USER_PROBLEMS):
        return str(e)
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full_message(workspace)
    if isinstance(e, OSError):  # the machine's files: a path and the system's reason
        return str(e)
    return (f"internal error ({type(e).__name__}: {e}); not caused by your data or settings: "
            "please report it with the run's error.log")


def disk_full_message(workspace: Workspace) -> str:
    try:
        free = f"{shutil.disk_usage(workspace.root).free / 1e6:,.0f}"
    except OSError:
        free = "an unknown number of"
    return (f"the disk is full: {free} MB free in {workspace.root}; free some space (old runs, "
            "datasets or the cache), then resume the run")


def error_log_path(workspace: Workspace, run_id: int) -> Path | None:
    """The failed run's full traceback, when it was kept."""
    path = workspace.run_dir(run_id) / ERROR_LOG
    return path if path.is_file() else None


def check_same_classes(run_dir, classes: list[str]) -> None:
    """A run resumes only on the classes it started with (its model has one output per class)."""
    before = read_json(run_dir / "labels.json")
    if isinstance(before, list) and before != list(classes):
        raise DataError(f"the dataset's classes changed since this run started (was {before}, now "
                         f"{list(classes)}), so it cannot be resumed; re-run it instead")


def fail_run(store, run_id: int, message: str, run_dir: Path, details: str | None = None) -> str:
    """Store the failure; its traceback (the exception being handled, unless `details` are given) goes to
    error.log and the log."""
    details = details or traceback.format_exc()
    log.error("run %s failed: %s", run_id, message, exc_info=True)
    with suppress(OSError):  # a full or read-only disk must not hide the failure itself
        (run_dir / ERROR_LOG).write_text(f"run {run_id} failed: {message}\n\n{details}", encoding="utf-8")
    store.finish_run(run_id, RunStatus.FAILED, error=message)
    return RunStatus.FAILED


def run_summary(store, run_id: int) -> dict:
    """The final JSON the command line prints for a run."""
    r = store.get_run(run_id)
    return {
        "run_id": r.id, "status": r.status, "model": r.config.model, "description": r.description,
        "dataset": r.dataset, "val_loss": r.val_loss, "val_acc": r.val_acc, "test_acc": r.test_acc,
        "train_time_s": r.train_time_s, "epoch_ended": r.epoch_ended, "best_epoch": r.best_epoch,
        "stopped_early": r.stopped_early, "num_images": r.num_images, "num_train": r.num_train,
        "peak_memory_mb": r.peak_memory_mb, "error": r.error, "warnings": list(r.notes),
        "config": json.loads(json.dumps(r.config.to_dict())), "seed": r.config.seed, "repeat_of": r.repeat_of,
        "name": r.name, "note": r.user_note,
    }
